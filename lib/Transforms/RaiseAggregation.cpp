//===- RaiseAggregation.cpp - Spelled-out AttnRes to block_attn_res -------===//
//
// Models trained with Attention Residuals reach us with every aggregation
// written out as PyTorch exports it: the sources stacked, a key RMSNorm, one
// logit per source (an einsum with the pseudo-query, a MatMul with a
// Linear(D, 1) weight, or Mul + ReduceSum), a softmax over the source axis
// and a weighted sum (an einsum, or Mul + ReduceSum). This pass finds them
// from the softmax, on structure, and replaces each with one
// attnres.block_attn_res, so raised models take the same two-phase path as
// rewritten ones. Anything that is almost an aggregation but would compute
// something else is left alone with a remark saying why.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_RAISEAGGREGATION
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

RankedTensorType typeOf(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// Whether a tosa.reshape to or from `type` determines its sizes.
bool atMostOneDynamic(RankedTensorType type) {
  return llvm::count_if(type.getShape(), ShapedType::isDynamic) <= 1;
}

/// `v` through casts between float types (the softmax computed in f32).
Value stripCasts(Value v) {
  while (auto cast = v.getDefiningOp<tosa::CastOp>())
    v = cast.getInput();
  return v;
}

/// `v` through reshapes that only add or remove unit dimensions, and casts.
Value stripUnitReshapes(Value v) {
  while (true) {
    v = stripCasts(v);
    auto reshape = v.getDefiningOp<tosa::ReshapeOp>();
    if (!reshape)
      return v;
    auto drop = [](ArrayRef<int64_t> shape) {
      SmallVector<int64_t> kept;
      for (int64_t d : shape)
        if (d != 1)
          kept.push_back(d);
      return kept;
    };
    RankedTensorType from = typeOf(reshape.getInput1()),
                     to = typeOf(reshape.getResult());
    // Unit dims added or removed; a single dynamic dim cannot move.
    if (!from || !to || !atMostOneDynamic(from) || !atMostOneDynamic(to) ||
        drop(from.getShape()) != drop(to.getShape()))
      return v;
    v = reshape.getInput1();
  }
}

/// Whether `generic` computes out[o] += a[...] * b[...] with one reduction
/// loop; returns its two inputs in the order given by `first`.
bool isMulAddContraction(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 2 || generic.getNumDpsInits() != 1 ||
      generic.getNumReductionLoops() != 1)
    return false;
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() != 3)
    return false;
  auto mul = dyn_cast<arith::MulFOp>(&body.front());
  auto add = dyn_cast<arith::AddFOp>(mul ? mul->getNextNode() : nullptr);
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!mul || !add || !yield || yield.getValues().size() != 1 ||
      yield.getValues()[0] != add.getResult())
    return false;
  Value acc = body.getArgument(2);
  Value product = mul.getResult();
  bool addsProduct = (add.getLhs() == acc && add.getRhs() == product) ||
                     (add.getRhs() == acc && add.getLhs() == product);
  bool multipliesInputs = (mul.getLhs() == body.getArgument(0) &&
                           mul.getRhs() == body.getArgument(1)) ||
                          (mul.getLhs() == body.getArgument(1) &&
                           mul.getRhs() == body.getArgument(0));
  return addsProduct && multipliesInputs;
}

/// The loop dimension of each result of `map`, or nothing if a result is
/// not a plain loop dimension.
std::optional<SmallVector<unsigned>> loopDims(AffineMap map) {
  SmallVector<unsigned> dims;
  for (AffineExpr e : map.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d)
      return std::nullopt;
    dims.push_back(d.getPosition());
  }
  return dims;
}

/// One spelled-out aggregation.
struct Aggregation {
  Value weighted; // the weighted sum, replaced
  Value stacked;  // [n, tokens..., D], the sources of scores and sum
  Value query;    // D elements
  attnres::RMSNormOp keyNorm;
};

/// Why a candidate is not raised; empty when it is not an aggregation at
/// all (an attention softmax, say), which deserves no remark.
struct NotRaised {
  std::string reason;
};

struct Softmax {
  Value logits; // through casts
  int64_t axis;
};

/// alpha = exp(s - max(s)) * reciprocal(sum(exp(s - max(s)))) over `axis`,
/// as the importer writes ONNX Softmax (and dynamo's decomposed softmax).
std::optional<Softmax> matchSoftmax(tosa::MulOp mul) {
  for (int i = 0; i < 2; ++i) {
    Value e = mul->getOperand(i), r = mul->getOperand(1 - i);
    auto exp = e.getDefiningOp<tosa::ExpOp>();
    auto recip = r.getDefiningOp<tosa::ReciprocalOp>();
    if (!exp || !recip)
      continue;
    auto sum = recip.getInput1().getDefiningOp<tosa::ReduceSumOp>();
    auto sub = exp.getInput1().getDefiningOp<tosa::SubOp>();
    if (!sum || sum.getInput() != e || !sub)
      continue;
    auto max = sub.getInput2().getDefiningOp<tosa::ReduceMaxOp>();
    if (!max || max.getInput() != sub.getInput1() ||
        max.getAxis() != sum.getAxis())
      continue;
    return Softmax{sub.getInput1(), int64_t(sum.getAxis())};
  }
  return std::nullopt;
}

struct Scores {
  Value keys;  // K: [n, tokens..., D]
  Value query; // D elements
};

/// logits[n, tokens...] = sum_d keys[n, tokens..., d] * query[d], spelled
/// as an einsum (a linalg.generic after import), Mul + ReduceSum over the
/// last axis, or a MatMul of the flattened keys with a [D, 1] weight.
std::optional<Scores> matchScores(Value logits) {
  Value v = stripUnitReshapes(logits);
  Operation *def = v.getDefiningOp();
  // The MatMul's [1, M, 1] result comes back to [n, tokens...] in one
  // reshape, which keeps the row-major order of the flattened keys.
  if (auto reshape = dyn_cast_if_present<tosa::ReshapeOp>(def))
    if (auto matmul = reshape.getInput1().getDefiningOp<tosa::MatMulOp>())
      def = matmul;
  if (!def)
    return std::nullopt;
  if (auto generic = dyn_cast<linalg::GenericOp>(def)) {
    if (!isMulAddContraction(generic))
      return std::nullopt;
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    for (int i = 0; i < 2; ++i) {
      Value keys = generic.getDpsInputs()[i],
            query = generic.getDpsInputs()[1 - i];
      auto kd = loopDims(maps[i]), qd = loopDims(maps[1 - i]),
           od = loopDims(maps[2]);
      if (!kd || !qd || !od || qd->size() != 1 || kd->empty() ||
          kd->back() != qd->front() ||
          ArrayRef<unsigned>(*kd).drop_back() != ArrayRef<unsigned>(*od) ||
          generic.getIteratorTypesArray()[qd->front()] !=
              utils::IteratorType::reduction)
        continue;
      return Scores{keys, query};
    }
    return std::nullopt;
  }
  if (auto sum = dyn_cast<tosa::ReduceSumOp>(def)) {
    auto mul = sum.getInput().getDefiningOp<tosa::MulOp>();
    RankedTensorType type = typeOf(sum.getInput());
    if (!mul || !type || int64_t(sum.getAxis()) != type.getRank() - 1)
      return std::nullopt;
    for (int i = 0; i < 2; ++i) {
      Value keys = mul->getOperand(i), query = mul->getOperand(1 - i);
      RankedTensorType kt = typeOf(keys), qt = typeOf(query);
      if (!kt || !qt || kt != type || !qt.hasStaticShape() ||
          qt.getNumElements() != kt.getShape().back() ||
          qt.getShape().back() != kt.getShape().back())
        continue;
      return Scores{keys, query};
    }
    return std::nullopt;
  }
  if (auto matmul = dyn_cast<tosa::MatMulOp>(def)) {
    // [1, M, D] x [1, D, 1]: the keys flattened to rows, the query a column.
    auto flat = matmul.getA().getDefiningOp<tosa::ReshapeOp>();
    RankedTensorType bt = typeOf(matmul.getB());
    if (!flat || !bt || !bt.hasStaticShape() || bt.getShape()[0] != 1 ||
        bt.getShape()[2] != 1)
      return std::nullopt;
    Value keys = flat.getInput1();
    RankedTensorType kt = typeOf(keys);
    if (!kt || kt.getRank() == 0 || kt.isDynamicDim(kt.getRank() - 1) ||
        kt.getShape().back() != bt.getShape()[1] ||
        typeOf(flat.getResult()).getShape().back() != kt.getShape().back())
      return std::nullopt;
    return Scores{keys, matmul.getB()};
  }
  return std::nullopt;
}

/// h[tokens..., d] = sum_n alpha[n, tokens...] * stacked[n, tokens..., d],
/// as an einsum or as Mul + ReduceSum over axis 0 (alpha with a unit
/// feature axis). Returns the stacked operand and the sum.
std::optional<std::pair<Value, Value>> matchWeightedSum(Operation *user,
                                                        Value alpha) {
  if (auto generic = dyn_cast<linalg::GenericOp>(user)) {
    if (!isMulAddContraction(generic))
      return std::nullopt;
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    for (int i = 0; i < 2; ++i) {
      if (generic.getDpsInputs()[i] != alpha)
        continue;
      auto ad = loopDims(maps[i]), vd = loopDims(maps[1 - i]),
           od = loopDims(maps[2]);
      if (!ad || !vd || !od || ad->empty() || vd->size() != ad->size() + 1 ||
          ArrayRef<unsigned>(*vd).drop_back() != ArrayRef<unsigned>(*ad) ||
          generic.getIteratorTypesArray()[ad->front()] !=
              utils::IteratorType::reduction)
        return std::nullopt;
      SmallVector<unsigned> expected(ArrayRef<unsigned>(*vd).drop_front());
      if (expected != *od)
        return std::nullopt;
      return std::make_pair(generic.getDpsInputs()[1 - i],
                            generic.getResult(0));
    }
    return std::nullopt;
  }
  if (auto mul = dyn_cast<tosa::MulOp>(user)) {
    if (!mul->hasOneUse())
      return std::nullopt;
    auto sum = dyn_cast<tosa::ReduceSumOp>(*mul->getUsers().begin());
    if (!sum || sum.getAxis() != 0)
      return std::nullopt;
    Value stacked =
        mul->getOperand(0) == alpha ? mul->getOperand(1) : mul->getOperand(0);
    RankedTensorType at = typeOf(alpha), st = typeOf(stacked);
    if (!at || !st || at.getRank() != st.getRank() ||
        at.getShape().back() != 1 || stacked == alpha)
      return std::nullopt;
    return std::make_pair(stacked, sum.getResult());
  }
  return std::nullopt;
}

/// The sources stacked along axis 0 into `stacked` ([n, tokens..., D]): the
/// inputs of a Concat of Unsqueezes, or of one Unsqueeze. Graph inputs
/// stacked beforehand come back as slices.
std::optional<SmallVector<Value>> unstack(OpBuilder &b, Value stacked,
                                          bool build) {
  // The source count and the features are static; the tokens need not be.
  RankedTensorType type = typeOf(stacked);
  if (!type || type.getRank() < 2 || type.isDynamicDim(0) ||
      type.isDynamicDim(type.getRank() - 1))
    return std::nullopt;
  SmallVector<Value> parts;
  if (auto concat = stacked.getDefiningOp<tosa::ConcatOp>()) {
    if (concat.getAxis() != 0)
      return std::nullopt;
    llvm::append_range(parts, concat.getInput1());
  } else {
    parts.push_back(stacked);
  }
  ArrayRef<int64_t> sourceShape = type.getShape().drop_front();
  auto sourceType = RankedTensorType::get(sourceShape, type.getElementType());
  SmallVector<Value> sources;
  for (Value part : parts) {
    RankedTensorType pt = typeOf(part);
    if (!pt || pt.isDynamicDim(0))
      return std::nullopt;
    auto reshape = part.getDefiningOp<tosa::ReshapeOp>();
    if (pt.getShape()[0] == 1 && reshape &&
        typeOf(reshape.getInput1()) == sourceType) {
      sources.push_back(reshape.getInput1());
      continue;
    }
    // A stacked value whose sources have no SSA name of their own: slice
    // (static shapes only: tosa.slice takes constant sizes).
    if (!pt.hasStaticShape())
      return std::nullopt;
    if (!build) {
      for (int64_t i = 0; i < pt.getShape()[0]; ++i)
        sources.push_back(Value());
      continue;
    }
    for (int64_t i = 0; i < pt.getShape()[0]; ++i) {
      Location loc = part.getLoc();
      ImplicitLocOpBuilder ib(loc, b);
      SmallVector<int64_t> start(pt.getRank(), 0), size(pt.getShape());
      start[0] = i;
      size[0] = 1;
      Value slice = tosa::SliceOp::create(
          b, loc, RankedTensorType::get(size, pt.getElementType()), part,
          tosa::getTosaConstShape(ib, start),
          tosa::getTosaConstShape(ib, size));
      sources.push_back(tosa::ReshapeOp::create(
          b, loc, sourceType, slice, tosa::getTosaConstShape(ib, sourceShape)));
    }
  }
  return sources;
}

/// Whether `v` is computed from constants only.
bool isConstantExpression(Value v) {
  SmallVector<Value> worklist{v};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!worklist.empty()) {
    Value cur = worklist.pop_back_val();
    Operation *def = cur.getDefiningOp();
    if (!def)
      return false;
    if (!seen.insert(def).second)
      continue;
    if (def->getNumRegions() && !isa<linalg::GenericOp>(def))
      return false;
    llvm::append_range(worklist, def->getOperands());
  }
  return true;
}

/// Same sources in the same order: the same stacked value, or stacks of
/// the same values.
bool sameSources(OpBuilder &b, Value a, Value c) {
  if (a == c)
    return true;
  auto sa = unstack(b, a, false), sc = unstack(b, c, false);
  return sa && sc && *sa == *sc &&
         llvm::none_of(*sa, [](Value v) { return !v; });
}

struct RaiseAggregationPass
    : attnres::impl::RaiseAggregationBase<RaiseAggregationPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<tosa::MulOp> candidates;
    getOperation()->walk([&](tosa::MulOp mul) { candidates.push_back(mul); });
    IRRewriter rewriter(&getContext());
    unsigned raised = 0;
    for (tosa::MulOp mul : candidates) {
      if (!mul->getBlock())
        continue;
      FailureOr<Aggregation> match = matchAggregation(rewriter, mul);
      if (failed(match))
        continue;
      if (failed(raise(rewriter, *match)))
        return signalPassFailure();
      ++raised;
    }
    if (!raised)
      return markAllAnalysesPreserved();
    // The spelled-out ops are dead now; nothing else is folded.
    GreedyRewriteConfig config;
    config.enableFolding(false);
    (void)applyPatternsGreedily(getOperation(), FrozenRewritePatternSet(),
                                config);
  }

  /// Matches the aggregation whose softmax ends in `mul`; a near miss gets
  /// a remark and failure, as does anything that is no aggregation.
  FailureOr<Aggregation> matchAggregation(OpBuilder &b, tosa::MulOp mul) {
    std::optional<Softmax> softmax = matchSoftmax(mul);
    if (!softmax)
      return failure();
    std::optional<Scores> scores = matchScores(stripCasts(softmax->logits));
    if (!scores)
      return failure();
    Operation *norm = scores->keys.getDefiningOp();
    if (!isa_and_nonnull<attnres::RMSNormOp, attnres::LayerNormOp>(norm))
      return failure();
    Value stacked = norm->getOperand(0);
    if (!unstack(b, stacked, false))
      return failure();
    // From here on it reads like an aggregation over stacked sources.
    auto nearMiss = [&](const Twine &why) {
      if (verbose)
        emitRemark(mul.getLoc())
            << "softmax over stacked sources not raised to "
               "attnres.block_attn_res: "
            << why;
      return failure();
    };
    if (isa<attnres::LayerNormOp>(norm))
      return nearMiss("the key norm is a LayerNorm, not an RMSNorm");
    RankedTensorType logitsType = typeOf(softmax->logits);
    if (softmax->axis != 0)
      return nearMiss("the softmax is over axis " + Twine(softmax->axis) +
                      " of its " + Twine(logitsType.getRank()) +
                      "-d logits, not over the source axis 0");
    RankedTensorType queryType = typeOf(scores->query);
    int64_t features = typeOf(stacked).getShape().back();
    if (!queryType || !queryType.hasStaticShape() ||
        queryType.getNumElements() != features)
      return failure();
    if (!isConstantExpression(scores->query))
      return nearMiss("the pseudo-query is computed from the function's "
                      "arguments, not a learned constant");
    // The weighted sum reads the softmax, through casts and unit reshapes.
    SmallVector<Value> alphas{mul.getResult()};
    std::optional<std::pair<Value, Value>> sum;
    for (size_t i = 0; i < alphas.size() && !sum; ++i) {
      for (Operation *user : alphas[i].getUsers()) {
        if (isa<tosa::CastOp, tosa::ReshapeOp>(user) &&
            stripUnitReshapes(user->getResult(0)) == mul.getResult()) {
          alphas.push_back(user->getResult(0));
          continue;
        }
        if ((sum = matchWeightedSum(user, alphas[i])))
          break;
      }
    }
    if (!sum)
      return nearMiss("its weights are not used in a weighted sum of the "
                      "stacked sources over the source axis");
    if (!sameSources(b, sum->first, stacked))
      return nearMiss("the weighted sum is over other sources than the "
                      "scores");
    return Aggregation{sum->second, stacked, scores->query,
                       cast<attnres::RMSNormOp>(norm)};
  }

  LogicalResult raise(IRRewriter &rewriter, Aggregation match) {
    Operation *weightedOp = match.weighted.getDefiningOp();
    rewriter.setInsertionPoint(weightedOp);
    Location loc = weightedOp->getLoc();
    ImplicitLocOpBuilder ib(loc, rewriter);
    std::optional<SmallVector<Value>> sources =
        unstack(rewriter, match.stacked, true);
    RankedTensorType sourceType = typeOf(sources->front());
    int64_t features = sourceType.getShape().back();
    auto vectorType =
        RankedTensorType::get({features}, sourceType.getElementType());
    auto asVector = [&](Value v) -> Value {
      if (typeOf(v) == vectorType)
        return v;
      return tosa::ReshapeOp::create(rewriter, loc, vectorType, v,
                                     tosa::getTosaConstShape(ib, {features}));
    };
    Value query = asVector(match.query);
    Value keyNorm = asVector(match.keyNorm.getWeight());
    Value result =
        BlockAttnResOp::create(rewriter, loc, *sources, query, keyNorm,
                               match.keyNorm.getEpsilon().convertToFloat());
    RankedTensorType weightedType = typeOf(match.weighted);
    if (weightedType != sourceType) {
      if (!atMostOneDynamic(weightedType) ||
          weightedType.getElementType() != sourceType.getElementType() ||
          (weightedType.hasStaticShape() && sourceType.hasStaticShape() &&
           weightedType.getNumElements() != sourceType.getNumElements()))
        return weightedOp->emitError("internal error: the weighted sum has "
                                     "type ")
               << weightedType << ", the sources " << sourceType;
      SmallVector<int64_t> shape(weightedType.getShape());
      for (int64_t &d : shape)
        if (ShapedType::isDynamic(d))
          d = -1;
      result = tosa::ReshapeOp::create(rewriter, loc, weightedType, result,
                                       tosa::getTosaConstShape(ib, shape));
    }
    rewriter.replaceAllUsesWith(match.weighted, result);
    return success();
  }
};

} // namespace
