//===- AttnResToLinalg.cpp - Lower attnres ops to linalg on tensors -------===//
//
// Lowers attnres.rms_norm, attnres.layer_norm and attnres.block_attn_res to
// linalg.generic ops whose bodies use arith and math, keeping everything on
// tensors so that upstream fusion, tiling and bufferization apply afterwards.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTATTNRESTOLINALG
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Shapes and indexing maps shared by both lowerings. Every op here works on a
/// tensor of shape [..., D] (the "full" space, one loop per dimension) and
/// produces per-token values of shape [...] (the "token" space: the full space
/// without the feature axis) or reads per-feature parameters of shape [D].
struct FeatureSpace {
  FeatureSpace(OpBuilder &b, Location loc, Value like)
      : loc(loc), rank(cast<RankedTensorType>(like.getType()).getRank()),
        storageType(cast<RankedTensorType>(like.getType()).getElementType()),
        fullSizes(tensor::getMixedSizes(b, loc, like)) {
    // Sums over thousands of half-precision values lose most of their bits;
    // accumulate in f32 and round once at the end.
    computeType = storageType.getIntOrFloatBitWidth() < 32
                      ? Type(b.getF32Type())
                      : storageType;
    MLIRContext *ctx = b.getContext();
    fullMap = b.getMultiDimIdentityMap(rank);
    tokenMap = AffineMap::get(rank, 0, fullMap.getResults().drop_back(), ctx);
    featureMap = AffineMap::get(rank, 0, fullMap.getResults().back(), ctx);
  }

  ArrayRef<OpFoldResult> tokenSizes() const {
    return ArrayRef(fullSizes).drop_back();
  }

  /// The loops of a reduction over the feature axis.
  SmallVector<utils::IteratorType> reductionIterators() const {
    SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
    its.back() = utils::IteratorType::reduction;
    return its;
  }
  SmallVector<utils::IteratorType> parallelIterators(int64_t loops) const {
    return SmallVector<utils::IteratorType>(loops,
                                            utils::IteratorType::parallel);
  }

  /// A per-token accumulator of compute type initialized to zero.
  Value tokenZeros(OpBuilder &b) const {
    Value empty = tensor::EmptyOp::create(b, loc, tokenSizes(), computeType);
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(computeType));
    return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  }
  /// The per-token sum over the feature axis of `term`, which sees the
  /// elements of `inputs` (read through `inputMaps`) in compute precision.
  Value sumOverFeatures(
      OpBuilder &b, ValueRange inputs, ArrayRef<AffineMap> inputMaps,
      function_ref<Value(OpBuilder &, Location, ValueRange)> term) const {
    Value zeros = tokenZeros(b);
    SmallVector<AffineMap> maps(inputMaps);
    maps.push_back(tokenMap);
    return linalg::GenericOp::create(
               b, loc, zeros.getType(), inputs, zeros, maps,
               reductionIterators(),
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value t = term(nb, l, args.drop_back());
                 linalg::YieldOp::create(
                     nb, l,
                     arith::AddFOp::create(nb, l, args.back(), t).getResult());
               })
        .getResult(0);
  }
  Value tokenEmpty(OpBuilder &b) const {
    return tensor::EmptyOp::create(b, loc, tokenSizes(), computeType);
  }
  Value fullEmpty(OpBuilder &b) const {
    return tensor::EmptyOp::create(b, loc, fullSizes, storageType);
  }

  /// 1 / D as a compute-type scalar, read from the shape when D is dynamic.
  Value inverseFeatureCount(OpBuilder &b) const {
    Value count = getValueOrCreateConstantIndexOp(b, loc, fullSizes.back());
    Value asInt = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), count);
    Value asFloat = arith::UIToFPOp::create(b, loc, computeType, asInt);
    Value one =
        arith::ConstantOp::create(b, loc, b.getFloatAttr(computeType, 1));
    return arith::DivFOp::create(b, loc, one, asFloat);
  }

  Value epsilon(OpBuilder &b, const APFloat &eps) const {
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(computeType, eps.convertToDouble()));
  }

  /// Converts a loaded scalar from storage to compute precision and back.
  Value extend(OpBuilder &b, Location l, Value v) const {
    if (v.getType() == computeType)
      return v;
    return arith::ExtFOp::create(b, l, computeType, v);
  }
  Value truncate(OpBuilder &b, Location l, Value v) const {
    if (v.getType() == storageType)
      return v;
    return arith::TruncFOp::create(b, l, storageType, v);
  }

  Location loc;
  int64_t rank;
  Type storageType;
  Type computeType;
  SmallVector<OpFoldResult> fullSizes;
  AffineMap fullMap, tokenMap, featureMap;
};

/// rsqrt(sumOfSquares * invCount + eps): the reciprocal RMS of one token.
static Value reciprocalRms(OpBuilder &b, Location loc, Value sumOfSquares,
                           Value invCount, Value eps) {
  Value mean = arith::MulFOp::create(b, loc, sumOfSquares, invCount);
  return math::RsqrtOp::create(b, loc,
                               arith::AddFOp::create(b, loc, mean, eps));
}

struct RMSNormToLinalg : OpConversionPattern<RMSNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RMSNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    FeatureSpace space(rewriter, loc, adaptor.getInput());

    Value sumOfSquares = space.sumOverFeatures(
        rewriter, adaptor.getInput(), space.fullMap,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value x = space.extend(b, l, args[0]);
          return arith::MulFOp::create(b, l, x, x);
        });

    Value invCount = space.inverseFeatureCount(rewriter);
    Value eps = space.epsilon(rewriter, op.getEpsilon());
    Value normalized =
        linalg::GenericOp::create(
            rewriter, loc, op.getType(),
            ValueRange{adaptor.getInput(), sumOfSquares, adaptor.getWeight()},
            space.fullEmpty(rewriter),
            ArrayRef<AffineMap>{space.fullMap, space.tokenMap, space.featureMap,
                                space.fullMap},
            space.parallelIterators(space.rank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value scale = reciprocalRms(b, l, args[1], invCount, eps);
              Value x = arith::MulFOp::create(b, l, space.extend(b, l, args[0]),
                                              scale);
              Value y =
                  arith::MulFOp::create(b, l, x, space.extend(b, l, args[2]));
              linalg::YieldOp::create(b, l, space.truncate(b, l, y));
            })
            .getResult(0);
    rewriter.replaceOp(op, normalized);
    return success();
  }
};

/// Two reductions (the mean, then the squared deviations from it: the
/// one-pass E[x^2] - E[x]^2 cancels catastrophically when |mean| >> std) and
/// one elementwise pass.
struct LayerNormToLinalg : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    FeatureSpace space(rewriter, loc, input);
    Value invCount = space.inverseFeatureCount(rewriter);

    Value sum =
        space.sumOverFeatures(rewriter, input, space.fullMap,
                              [&](OpBuilder &b, Location l, ValueRange args) {
                                return space.extend(b, l, args[0]);
                              });
    Value squares = space.sumOverFeatures(
        rewriter, ValueRange{input, sum}, {space.fullMap, space.tokenMap},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value mean = arith::MulFOp::create(b, l, args[1], invCount);
          Value centered =
              arith::SubFOp::create(b, l, space.extend(b, l, args[0]), mean);
          return arith::MulFOp::create(b, l, centered, centered);
        });

    Value eps = space.epsilon(rewriter, op.getEpsilon());
    Value normalized =
        linalg::GenericOp::create(
            rewriter, loc, op.getType(),
            ValueRange{input, sum, squares, adaptor.getWeight(),
                       adaptor.getBias()},
            space.fullEmpty(rewriter),
            ArrayRef<AffineMap>{space.fullMap, space.tokenMap, space.tokenMap,
                                space.featureMap, space.featureMap,
                                space.fullMap},
            space.parallelIterators(space.rank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value mean = arith::MulFOp::create(b, l, args[1], invCount);
              Value centered = arith::SubFOp::create(
                  b, l, space.extend(b, l, args[0]), mean);
              Value scale = reciprocalRms(b, l, args[2], invCount, eps);
              Value y = arith::MulFOp::create(b, l, centered, scale);
              y = arith::MulFOp::create(b, l, y, space.extend(b, l, args[3]));
              y = arith::AddFOp::create(b, l, y, space.extend(b, l, args[4]));
              linalg::YieldOp::create(b, l, space.truncate(b, l, y));
            })
            .getResult(0);
    rewriter.replaceOp(op, normalized);
    return success();
  }
};

struct BlockAttnResToLinalg : OpConversionPattern<BlockAttnResOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(BlockAttnResOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ValueRange sources = adaptor.getSources();
    size_t numSources = sources.size();
    FeatureSpace space(rewriter, loc, sources.front());

    // w . RMSNorm_g(v) = (sum_d w_d g_d v_d) * rsqrt(mean(v^2) + eps), so the
    // key norm folds into one per-feature vector and is never materialized.
    Value query = adaptor.getQuery();
    Value scaledQueryInit = tensor::EmptyOp::create(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, query),
        space.computeType);
    Value scaledQuery =
        linalg::GenericOp::create(
            rewriter, loc, scaledQueryInit.getType(),
            ValueRange{query, adaptor.getKeyNormWeight()}, scaledQueryInit,
            SmallVector<AffineMap>(3, rewriter.getMultiDimIdentityMap(1)),
            space.parallelIterators(1),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value wg =
                  arith::MulFOp::create(b, l, space.extend(b, l, args[0]),
                                        space.extend(b, l, args[1]));
              linalg::YieldOp::create(b, l, wg);
            })
            .getResult(0);

    // Per source: one pass over v_i computing sum(v^2) and sum(w g v).
    SmallVector<Value> sumsOfSquares, dots;
    for (Value source : sources) {
      Value zeros = space.tokenZeros(rewriter);
      auto reduction = linalg::GenericOp::create(
          rewriter, loc, TypeRange{zeros.getType(), zeros.getType()},
          ValueRange{source, scaledQuery}, ValueRange{zeros, zeros},
          ArrayRef<AffineMap>{space.fullMap, space.featureMap, space.tokenMap,
                              space.tokenMap},
          space.reductionIterators(),
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value v = space.extend(b, l, args[0]);
            Value sq = arith::MulFOp::create(b, l, v, v);
            Value wv = arith::MulFOp::create(b, l, v, args[1]);
            linalg::YieldOp::create(
                b, l,
                ValueRange{arith::AddFOp::create(b, l, args[2], sq),
                           arith::AddFOp::create(b, l, args[3], wv)});
          });
      sumsOfSquares.push_back(reduction.getResult(0));
      dots.push_back(reduction.getResult(1));
    }

    // Softmax over depth, per token. The maximum is subtracted first so that
    // large logits cannot overflow exp.
    Value invCount = space.inverseFeatureCount(rewriter);
    Value eps = space.epsilon(rewriter, op.getEpsilon());
    int64_t tokenRank = space.rank - 1;
    AffineMap tokenIdentity = rewriter.getMultiDimIdentityMap(tokenRank);
    SmallVector<Value> softmaxInputs(sumsOfSquares);
    llvm::append_range(softmaxInputs, dots);
    SmallVector<Value> softmaxInits;
    for (size_t i = 0; i < numSources; ++i)
      softmaxInits.push_back(space.tokenEmpty(rewriter));
    auto softmax = linalg::GenericOp::create(
        rewriter, loc, ValueRange(softmaxInits).getTypes(), softmaxInputs,
        softmaxInits, SmallVector<AffineMap>(3 * numSources, tokenIdentity),
        space.parallelIterators(tokenRank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          auto logit = [&](size_t i) -> Value {
            Value scale = reciprocalRms(b, l, args[i], invCount, eps);
            return arith::MulFOp::create(b, l, args[numSources + i], scale);
          };
          SmallVector<Value> logits{logit(0)};
          Value max = logits.front();
          for (size_t i = 1; i < numSources; ++i) {
            logits.push_back(logit(i));
            max = arith::MaximumFOp::create(b, l, max, logits.back());
          }
          SmallVector<Value> exps;
          Value sum;
          for (Value logit : logits) {
            Value e = math::ExpOp::create(
                b, l, arith::SubFOp::create(b, l, logit, max));
            exps.push_back(e);
            sum = sum ? arith::AddFOp::create(b, l, sum, e).getResult() : e;
          }
          SmallVector<Value> weights;
          for (Value e : exps)
            weights.push_back(arith::DivFOp::create(b, l, e, sum));
          linalg::YieldOp::create(b, l, weights);
        });

    // result = sum_i alpha_i * v_i, reading every source once more.
    SmallVector<Value> mixInputs(sources.begin(), sources.end());
    llvm::append_range(mixInputs, softmax.getResults());
    SmallVector<AffineMap> mixMaps(numSources, space.fullMap);
    mixMaps.append(numSources, space.tokenMap);
    mixMaps.push_back(space.fullMap);
    Value mixed =
        linalg::GenericOp::create(
            rewriter, loc, op.getType(), mixInputs, space.fullEmpty(rewriter),
            mixMaps, space.parallelIterators(space.rank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value acc;
              for (size_t i = 0; i < numSources; ++i) {
                Value term = arith::MulFOp::create(b, l, args[numSources + i],
                                                   space.extend(b, l, args[i]));
                acc = acc ? arith::AddFOp::create(b, l, acc, term).getResult()
                          : term;
              }
              linalg::YieldOp::create(b, l, space.truncate(b, l, acc));
            })
            .getResult(0);
    rewriter.replaceOp(op, mixed);
    return success();
  }
};

struct ConvertAttnResToLinalgPass
    : attnres::impl::ConvertAttnResToLinalgBase<ConvertAttnResToLinalgPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalDialect<AttnResDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateAttnResToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attnres::populateAttnResToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RMSNormToLinalg, LayerNormToLinalg, BlockAttnResToLinalg>(
      patterns.getContext());
}
