//===- RaiseNorms.cpp - Decomposed RMSNorm and LayerNorm to attnres ops ---===//
//
// Exporters write RMSNorm as a handful of elementwise ops and the importer
// decomposes LayerNormalization the same way. The residual-to-block rewrite
// needs to know which ops read the residual stream through a scale-invariant
// norm, and the fused kernels need the norm as one op, so the patterns here
// recognize the decomposed forms structurally (never by name) and rebuild
// them as attnres.rms_norm and attnres.layer_norm.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::attnres {
#define GEN_PASS_DEF_RAISENORMS
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

RankedTensorType rankedType(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// A tosa.cast between two float types, the precision changes exporters wrap
/// around half-precision norms.
tosa::CastOp floatCast(Value v) {
  auto cast = v.getDefiningOp<tosa::CastOp>();
  if (cast && isa<FloatType>(getElementTypeOrSelf(cast.getInput())) &&
      isa<FloatType>(getElementTypeOrSelf(cast.getType())))
    return cast;
  return {};
}

/// A float splat constant: its value and the fewest significand bits it
/// passed through (the constant itself or a cast on the way).
struct Splat {
  double value;
  unsigned precision;
};

/// The splat a value is, looking through reshapes and casts (the importer
/// broadcasts scalars as [1, 1, 1] constants).
std::optional<Splat> splatOf(Value v) {
  unsigned precision = 53;
  auto narrow = [&](Type type) {
    if (auto f = dyn_cast<FloatType>(getElementTypeOrSelf(type)))
      precision = std::min(precision, f.getFPMantissaWidth());
  };
  while (true) {
    if (tosa::CastOp cast = floatCast(v)) {
      narrow(cast.getType());
      v = cast.getInput();
    } else if (auto reshape = v.getDefiningOp<tosa::ReshapeOp>()) {
      v = reshape.getInput1();
    } else {
      break;
    }
  }
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat() ||
      !isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  narrow(attr.getElementType());
  return Splat{attr.getSplatValue<APFloat>().convertToDouble(), precision};
}

std::optional<double> splatValue(Value v) {
  if (std::optional<Splat> splat = splatOf(v))
    return splat->value;
  return std::nullopt;
}

/// Whether `v` is `expected` rounded to its type: 1/D for D = 3072 is not
/// exact in f16 or bf16.
bool isSplat(Value v, double expected) {
  std::optional<Splat> splat = splatOf(v);
  return splat && std::abs(splat->value - expected) <=
                      std::ldexp(std::abs(expected), 1 - int(splat->precision));
}

/// Whether `a` and `b` compute the same thing: the same value, or the same
/// cast or subtraction of such values (exporters repeat `x - mean(x)` and
/// `x.float()` rather than reuse them).
bool equivalent(Value a, Value b) {
  if (a == b)
    return true;
  Operation *opA = a.getDefiningOp(), *opB = b.getDefiningOp();
  if (!opA || !opB || opA->getName() != opB->getName() ||
      a.getType() != b.getType() || !isa<tosa::CastOp, tosa::SubOp>(opA) ||
      opA->getNumOperands() != opB->getNumOperands())
    return false;
  return llvm::all_of(llvm::zip(opA->getOperands(), opB->getOperands()),
                      [](auto pair) {
                        return equivalent(std::get<0>(pair), std::get<1>(pair));
                      });
}

/// Calls `fn(lhs, rhs)` for both operand orders of a commutative op until it
/// returns true.
template <typename Fn> bool eitherOrder(Value lhs, Value rhs, Fn fn) {
  return fn(lhs, rhs) || fn(rhs, lhs);
}

/// `v` = `x * x`.
bool matchSquare(Value v, Value &x) {
  auto mul = v.getDefiningOp<tosa::MulOp>();
  if (!mul || !equivalent(mul.getInput1(), mul.getInput2()))
    return false;
  x = mul.getInput1();
  return true;
}

/// `v` = mean of `inner` over its last axis with the axis kept:
/// `reduce_sum(inner) * (1/D)` or `reduce_sum(inner) * reciprocal(D)`.
bool matchLastAxisMean(Value v, Value &inner) {
  auto mul = v.getDefiningOp<tosa::MulOp>();
  if (!mul)
    return false;
  return eitherOrder(mul.getInput1(), mul.getInput2(), [&](Value s, Value c) {
    // The importer sums half-precision tensors in f32: cast, sum, cast.
    if (tosa::CastOp cast = floatCast(s))
      s = cast.getInput();
    auto sum = s.getDefiningOp<tosa::ReduceSumOp>();
    if (!sum)
      return false;
    RankedTensorType type = rankedType(sum.getInput());
    if (!type || type.getRank() == 0 ||
        int64_t(sum.getAxis()) != type.getRank() - 1 ||
        type.isDynamicDim(type.getRank() - 1))
      return false;
    double count = double(type.getShape().back());
    bool isMean = isSplat(c, 1.0 / count);
    if (auto reciprocal = c.getDefiningOp<tosa::ReciprocalOp>())
      isMean |= isSplat(reciprocal.getInput1(), count);
    if (!isMean)
      return false;
    inner = sum.getInput();
    if (tosa::CastOp cast = floatCast(inner))
      inner = cast.getInput();
    return true;
  });
}

/// `v` = `ms + eps` with a constant, non-negative `eps`.
bool matchPlusEpsilon(Value v, Value &ms, float &epsilon) {
  auto add = v.getDefiningOp<tosa::AddOp>();
  if (!add)
    return false;
  return eitherOrder(add.getInput1(), add.getInput2(), [&](Value m, Value e) {
    std::optional<double> value = splatValue(e);
    if (!value || !std::isfinite(*value) || *value < 0)
      return false;
    ms = m;
    epsilon = float(*value);
    return true;
  });
}

/// A linalg.generic computing `math.sqrt` of its only input, which is how
/// the importer writes ONNX Sqrt (TOSA has none).
bool matchSqrt(Value v, Value &x) {
  auto generic = v.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic->getNumResults() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops())
    return false;
  // Elementwise only: a broadcasting or transposing map would take the
  // root of other elements than the ones it is matched with.
  if (!llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return false;
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() != 2)
    return false;
  auto sqrt = dyn_cast<math::SqrtOp>(body.front());
  if (!sqrt || sqrt.getOperand() != body.getArgument(0))
    return false;
  x = generic.getDpsInputs()[0];
  return true;
}

/// `v` = `1 / sqrt(inner)`: rsqrt, reciprocal of sqrt, `1 * reciprocal` (a
/// Div(1, Sqrt)), or pow(inner, -0.5).
bool matchInverseRoot(Value v, Value &inner) {
  if (auto rsqrt = v.getDefiningOp<tosa::RsqrtOp>()) {
    inner = rsqrt.getInput1();
    return true;
  }
  if (auto reciprocal = v.getDefiningOp<tosa::ReciprocalOp>())
    return matchSqrt(reciprocal.getInput1(), inner);
  if (auto pow = v.getDefiningOp<tosa::PowOp>()) {
    if (!isSplat(pow.getInput2(), -0.5))
      return false;
    inner = pow.getInput1();
    return true;
  }
  if (auto mul = v.getDefiningOp<tosa::MulOp>())
    return eitherOrder(
        mul.getInput1(), mul.getInput2(), [&](Value one, Value r) {
          return isSplat(one, 1.0) && r.getDefiningOp<tosa::ReciprocalOp>() &&
                 matchInverseRoot(r, inner);
        });
  return false;
}

/// What a match found: the normalized value (before weight and bias), its
/// input, epsilon and, for layer norm, that the input was centered.
struct NormCore {
  Value input;
  float epsilon = 0;
  bool centered = false;
};

/// Matches `xs * inv` with `inv = inverseRoot(mean(sq) + eps)`, where `sq`
/// is the square of `xs` (RMSNorm) or of `xs = x - mean(x)` (LayerNorm).
bool matchNormCore(Value xs, Value inv, NormCore &core) {
  Value plusEps, ms, squared, base;
  float epsilon;
  if (!matchInverseRoot(inv, plusEps) ||
      !matchPlusEpsilon(plusEps, ms, epsilon) ||
      !matchLastAxisMean(ms, squared) || !matchSquare(squared, base) ||
      !equivalent(base, xs))
    return false;
  core.epsilon = epsilon;
  core.input = xs;
  core.centered = false;
  // The mean square of x - mean(x) is the variance: a layer norm.
  if (auto sub = xs.getDefiningOp<tosa::SubOp>()) {
    Value meanInput;
    if (matchLastAxisMean(sub.getInput2(), meanInput) &&
        equivalent(meanInput, sub.getInput1())) {
      core.input = sub.getInput1();
      core.centered = true;
    }
  }
  return true;
}

bool matchNormCore(tosa::MulOp mul, NormCore &core) {
  return eitherOrder(
      mul.getInput1(), mul.getInput2(),
      [&](Value xs, Value inv) { return matchNormCore(xs, inv, core); });
}

/// Whether `v` broadcasts along every axis of `like` but the last, which it
/// matches: a per-feature weight or bias of any rank, e.g. [1, 1, D].
bool isPerFeature(Value v, RankedTensorType like) {
  RankedTensorType type = rankedType(v);
  if (!type || !type.hasStaticShape() || type.getRank() == 0 ||
      type.getRank() > like.getRank() || like.isDynamicDim(like.getRank() - 1))
    return false;
  ArrayRef<int64_t> shape = type.getShape();
  return shape.back() == like.getShape().back() &&
         llvm::all_of(shape.drop_back(), [](int64_t d) { return d == 1; });
}

/// Matches the decomposed norm whose core is `root` (the product of the
/// input and the inverse root) and replaces it, with the weight, bias and
/// casts that follow it, by one attnres op.
struct RaiseNormPattern : OpRewritePattern<tosa::MulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tosa::MulOp root,
                                PatternRewriter &rewriter) const override {
    NormCore core;
    if (!matchNormCore(root, core))
      return rewriter.notifyMatchFailure(root, "not a normalization");
    RankedTensorType coreType = rankedType(root.getResult());
    if (!coreType || coreType.getRank() == 0)
      return failure();

    // Walk forward over what belongs to the norm: a per-feature weight, then
    // for layer norm a bias, with casts anywhere between (exporters apply
    // the weight before or after casting back to the model's precision).
    struct Step {
      Value result, weight, bias;
    };
    SmallVector<Step> steps{{root.getResult(), Value(), Value()}};
    while (steps.back().result.hasOneUse()) {
      Step step = steps.back();
      Operation *user = *step.result.getUsers().begin();
      if (user->getNumResults() != 1)
        break;
      Value next = user->getResult(0);
      Value other;
      if (isa<tosa::MulOp, tosa::AddOp>(user))
        other = user->getOperand(0) == step.result ? user->getOperand(1)
                                                   : user->getOperand(0);
      bool keepsType = rankedType(next) == rankedType(step.result);
      if (floatCast(next)) {
        step.result = next;
      } else if (isa<tosa::MulOp>(user) && !step.weight && !step.bias &&
                 keepsType && isPerFeature(other, coreType)) {
        step.result = next;
        step.weight = other;
      } else if (isa<tosa::AddOp>(user) && core.centered && !step.bias &&
                 keepsType && isPerFeature(other, coreType)) {
        step.result = next;
        step.bias = other;
      } else {
        break;
      }
      steps.push_back(step);
    }
    // End where the value is back in the stream's own precision: a cast to
    // f32 after that belongs to whatever reads the norm (a matmul that
    // accumulates in f32), not to the norm.
    Value streamValue = core.input;
    while (tosa::CastOp cast = floatCast(streamValue))
      streamValue = cast.getInput();
    const Step *end = &steps.back();
    for (const Step &step : llvm::reverse(steps)) {
      if (step.result.getType() == streamValue.getType()) {
        end = &step;
        break;
      }
    }
    Value result = end->result, weight = end->weight, bias = end->bias;

    // The op computes in its input's type: pick the version of the input
    // (before or after the widening casts) whose type the result has. When
    // there is none (a wide stream normalized into a narrow result), the op
    // computes in the core's type and its result is cast.
    RankedTensorType resultType = rankedType(result);
    Value input = core.input;
    while (input.getType() != resultType) {
      tosa::CastOp cast = floatCast(input);
      if (!cast)
        break;
      input = cast.getInput();
    }
    if (input.getType() != resultType)
      input = core.input;
    RankedTensorType opType = rankedType(input);
    if (opType.getShape() != resultType.getShape())
      return rewriter.notifyMatchFailure(root, "the norm changes the shape");

    // The weight and bias may be defined after the core: build at the end.
    Operation *last = result.getDefiningOp();
    rewriter.setInsertionPoint(last);
    Location loc = rewriter.getFusedLoc({root.getLoc(), last->getLoc()});
    int64_t features = opType.getShape().back();
    Type elementType = opType.getElementType();
    auto vectorType = RankedTensorType::get({features}, elementType);
    auto toVector = [&](Value v, double fill) -> Value {
      if (!v) {
        auto attr = DenseElementsAttr::get(
            vectorType, rewriter.getFloatAttr(elementType, fill));
        return tosa::ConstOp::create(rewriter, loc, vectorType, attr);
      }
      RankedTensorType type = rankedType(v);
      if (type.getElementType() != elementType)
        v = tosa::CastOp::create(rewriter, loc, type.clone(elementType), v);
      // The importer reshapes [D] parameters to the input's rank.
      if (auto reshape = v.getDefiningOp<tosa::ReshapeOp>();
          reshape && reshape.getInput1().getType() == vectorType)
        return reshape.getInput1();
      if (rankedType(v) != vectorType)
        v = tosa::ReshapeOp::create(
            rewriter, loc, vectorType, v,
            tosa::getTosaConstShape(rewriter, loc, {features}));
      return v;
    };

    Value raised;
    if (core.centered)
      raised = LayerNormOp::create(rewriter, loc, input, toVector(weight, 1.0),
                                   toVector(bias, 0.0), core.epsilon);
    else
      raised = RMSNormOp::create(rewriter, loc, input, toVector(weight, 1.0),
                                 core.epsilon);
    if (raised.getType() != resultType)
      raised = tosa::CastOp::create(rewriter, loc, resultType, raised);
    rewriter.replaceAllUsesWith(result, raised);
    return success();
  }
};

/// norm(reshape(x)) -> reshape(norm(x)) when the reshape flattens leading
/// axes and keeps the feature axis: the norm works token by token, so
/// regrouping the tokens commutes with it. Exporters flatten [B, T, D] to
/// [B*T, D] around an MLP (OPT); moving the reshape off the stream lets the
/// norm read the stream itself. (Only flattening: the other direction would
/// move norms off the stream.)
template <typename NormOp>
struct HoistReshapeAboveNorm : OpRewritePattern<NormOp> {
  using OpRewritePattern<NormOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(NormOp op,
                                PatternRewriter &rewriter) const override {
    auto reshape = op.getInput().template getDefiningOp<tosa::ReshapeOp>();
    if (!reshape)
      return failure();
    RankedTensorType from = rankedType(reshape.getInput1());
    RankedTensorType to = rankedType(reshape.getResult());
    if (!from || !to || !from.hasStaticShape() || !to.hasStaticShape() ||
        to.getRank() == 0 || from.getRank() <= to.getRank() ||
        from.getShape().back() != to.getShape().back())
      return failure();
    Operation *norm = rewriter.clone(*op);
    norm->setOperand(0, reshape.getInput1());
    norm->getResult(0).setType(from);
    rewriter.replaceOpWithNewOp<tosa::ReshapeOp>(
        op, to, norm->getResult(0),
        tosa::getTosaConstShape(rewriter, op.getLoc(), to.getShape()));
    return success();
  }
};

/// reshape(reshape(x) + y) -> x + reshape(y) when the outer reshape restores
/// x's type: the residual add of a flattened sublayer, moved back onto the
/// stream's own shape.
struct SinkReshapeBelowAdd : OpRewritePattern<tosa::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tosa::ReshapeOp outer,
                                PatternRewriter &rewriter) const override {
    auto add = outer.getInput1().getDefiningOp<tosa::AddOp>();
    RankedTensorType type = rankedType(outer.getResult());
    if (!add || !add->hasOneUse() || !type || !type.hasStaticShape())
      return failure();
    for (unsigned i = 0; i < 2; ++i) {
      auto inner = add->getOperand(i).getDefiningOp<tosa::ReshapeOp>();
      Value other = add->getOperand(1 - i);
      if (!inner || inner.getInput1().getType() != type ||
          other.getType() != add.getType())
        continue;
      Value reshaped = tosa::ReshapeOp::create(
          rewriter, outer.getLoc(), type, other,
          tosa::getTosaConstShape(rewriter, outer.getLoc(), type.getShape()));
      Value x = inner.getInput1();
      rewriter.replaceOpWithNewOp<tosa::AddOp>(
          outer, type, i == 0 ? x : reshaped, i == 0 ? reshaped : x);
      return success();
    }
    return failure();
  }
};

struct RaiseNormsPass : attnres::impl::RaiseNormsBase<RaiseNormsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseNormPattern, HoistReshapeAboveNorm<RMSNormOp>,
                 HoistReshapeAboveNorm<LayerNormOp>, SinkReshapeBelowAdd>(
        &getContext());
    // Only the matched ops change; folding would rewrite the rest of the
    // imported graph as a side effect.
    GreedyRewriteConfig config;
    config.enableFolding(false);
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    if (failed(
            applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      signalPassFailure();
  }
};

} // namespace
