//===- AttnResToLinalg.cpp - Lower attnres ops to linalg on tensors -------===//
//
// Lowers attnres.rms_norm, attnres.layer_norm, attnres.block_attn_res and
// the two-phase ops attnres.phase1 and attnres.phase2 to
// linalg.generic ops whose bodies use arith and math, keeping everything on
// tensors so that upstream fusion, tiling and bufferization apply afterwards.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
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
    assertSameSizes(rewriter, loc, op, adaptor.getInput(), {},
                    {adaptor.getWeight()});

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
    assertSameSizes(rewriter, loc, op, input, {},
                    {adaptor.getWeight(), adaptor.getBias()});
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

/// w . RMSNorm_g(v) = (sum_d w_d g_d v_d) * rsqrt(mean(v^2) + eps), so the
/// key norm folds into one per-feature vector w * g (in compute precision)
/// and is never materialized.
static Value scaledQuery(OpBuilder &b, const FeatureSpace &space, Value query,
                         Value keyNormWeight) {
  Location loc = space.loc;
  Value init = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, query), space.computeType);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{query, keyNormWeight}, init,
             SmallVector<AffineMap>(3, b.getMultiDimIdentityMap(1)),
             space.parallelIterators(1),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value wg =
                   arith::MulFOp::create(nb, l, space.extend(nb, l, args[0]),
                                         space.extend(nb, l, args[1]));
               linalg::YieldOp::create(nb, l, wg);
             })
      .getResult(0);
}

/// One pass over `source` computing its per-token sum of squares and its dot
/// product with each of `scaledQueries`: everything the logits of any
/// number of layers need from it. Returns {sumOfSquares, dot_0, dot_1, ..}.
static SmallVector<Value> scoreSource(OpBuilder &b, const FeatureSpace &space,
                                      Value source,
                                      ArrayRef<Value> scaledQueries) {
  Location loc = space.loc;
  size_t numQueries = scaledQueries.size();
  Value zeros = space.tokenZeros(b);
  SmallVector<Value> inputs{source};
  llvm::append_range(inputs, scaledQueries);
  SmallVector<AffineMap> maps{space.fullMap};
  maps.append(numQueries, space.featureMap);
  maps.append(numQueries + 1, space.tokenMap);
  SmallVector<Value> inits(numQueries + 1, zeros);
  auto reduction = linalg::GenericOp::create(
      b, loc, ValueRange(inits).getTypes(), inputs, inits, maps,
      space.reductionIterators(),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value v = space.extend(nb, l, args[0]);
        ValueRange accs = args.drop_front(numQueries + 1);
        SmallVector<Value> yields{arith::AddFOp::create(
            nb, l, accs[0], arith::MulFOp::create(nb, l, v, v))};
        for (size_t q = 0; q < numQueries; ++q)
          yields.push_back(arith::AddFOp::create(
              nb, l, accs[q + 1],
              arith::MulFOp::create(nb, l, v, args[q + 1])));
        linalg::YieldOp::create(nb, l, yields);
      });
  return SmallVector<Value>(reduction.getResults());
}

/// Per token: the logits of the sources from their sums of squares and dot
/// products, then the softmax weights over them and, if `withLse`, the
/// log-sum-exp. The maximum is subtracted first so that large logits cannot
/// overflow exp.
static SmallVector<Value>
softmaxOverDepth(OpBuilder &b, const FeatureSpace &space,
                 ArrayRef<Value> sumsOfSquares, ArrayRef<Value> dots,
                 const APFloat &epsilon, bool withLse) {
  Location loc = space.loc;
  size_t numSources = sumsOfSquares.size();
  Value invCount = space.inverseFeatureCount(b);
  Value eps = space.epsilon(b, epsilon);
  int64_t tokenRank = space.rank - 1;
  SmallVector<Value> inputs(sumsOfSquares);
  llvm::append_range(inputs, dots);
  SmallVector<Value> inits;
  for (size_t i = 0; i < numSources + (withLse ? 1 : 0); ++i)
    inits.push_back(space.tokenEmpty(b));
  auto softmax = linalg::GenericOp::create(
      b, loc, ValueRange(inits).getTypes(), inputs, inits,
      SmallVector<AffineMap>(inputs.size() + inits.size(),
                             b.getMultiDimIdentityMap(tokenRank)),
      space.parallelIterators(tokenRank),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto logit = [&](size_t i) -> Value {
          Value scale = reciprocalRms(nb, l, args[i], invCount, eps);
          return arith::MulFOp::create(nb, l, args[numSources + i], scale);
        };
        SmallVector<Value> logits{logit(0)};
        Value max = logits.front();
        for (size_t i = 1; i < numSources; ++i) {
          logits.push_back(logit(i));
          max = arith::MaximumFOp::create(nb, l, max, logits.back());
        }
        SmallVector<Value> exps;
        Value sum;
        for (Value logit : logits) {
          Value e = math::ExpOp::create(
              nb, l, arith::SubFOp::create(nb, l, logit, max));
          exps.push_back(e);
          sum = sum ? arith::AddFOp::create(nb, l, sum, e).getResult() : e;
        }
        SmallVector<Value> results;
        for (Value e : exps)
          results.push_back(arith::DivFOp::create(nb, l, e, sum));
        if (withLse)
          results.push_back(arith::AddFOp::create(
              nb, l, max, math::LogOp::create(nb, l, sum)));
        linalg::YieldOp::create(nb, l, results);
      });
  return SmallVector<Value>(softmax.getResults());
}

/// outputs[l] = sum_i weights[l][i] * sources[i], for every l in one pass
/// that reads each source once.
static SmallVector<Value> mixSources(OpBuilder &b, const FeatureSpace &space,
                                     ValueRange sources,
                                     ArrayRef<SmallVector<Value>> weights,
                                     Type resultType) {
  Location loc = space.loc;
  size_t numSources = sources.size();
  SmallVector<Value> inputs(sources.begin(), sources.end());
  for (const SmallVector<Value> &layer : weights)
    llvm::append_range(inputs, layer);
  SmallVector<AffineMap> maps(numSources, space.fullMap);
  maps.append(numSources * weights.size(), space.tokenMap);
  maps.append(weights.size(), space.fullMap);
  SmallVector<Value> inits;
  for (size_t l = 0; l < weights.size(); ++l)
    inits.push_back(space.fullEmpty(b));
  auto mix = linalg::GenericOp::create(
      b, loc, SmallVector<Type>(weights.size(), resultType), inputs, inits,
      maps, space.parallelIterators(space.rank),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        SmallVector<Value> values;
        for (size_t i = 0; i < numSources; ++i)
          values.push_back(space.extend(nb, l, args[i]));
        SmallVector<Value> results;
        for (size_t layer = 0; layer < weights.size(); ++layer) {
          Value acc;
          for (size_t i = 0; i < numSources; ++i) {
            Value term = arith::MulFOp::create(
                nb, l, args[numSources * (layer + 1) + i], values[i]);
            acc = acc ? arith::AddFOp::create(nb, l, acc, term).getResult()
                      : term;
          }
          results.push_back(space.truncate(nb, l, acc));
        }
        linalg::YieldOp::create(nb, l, results);
      });
  return SmallVector<Value>(mix.getResults());
}

struct BlockAttnResToLinalg : OpConversionPattern<BlockAttnResOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(BlockAttnResOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ValueRange sources = adaptor.getSources();
    FeatureSpace space(rewriter, op.getLoc(), sources.front());
    assertSameSizes(rewriter, op.getLoc(), op, sources.front(), sources,
                    {adaptor.getQuery(), adaptor.getKeyNormWeight()});
    Value wg = scaledQuery(rewriter, space, adaptor.getQuery(),
                           adaptor.getKeyNormWeight());
    SmallVector<Value> sumsOfSquares, dots;
    for (Value source : sources) {
      SmallVector<Value> sums = scoreSource(rewriter, space, source, wg);
      sumsOfSquares.push_back(sums[0]);
      dots.push_back(sums[1]);
    }
    SmallVector<Value> weights = softmaxOverDepth(
        rewriter, space, sumsOfSquares, dots, op.getEpsilon(), false);
    // Reads every source once more.
    rewriter.replaceOp(
        op, mixSources(rewriter, space, sources, {weights}, op.getType()));
    return success();
  }
};

/// One pass over each completed block scores it for every layer of the
/// group; one more pass mixes every layer's output. Outputs nothing reads
/// are not computed.
struct Phase1ToLinalg : OpConversionPattern<Phase1Op> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Phase1Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ValueRange blocks = adaptor.getBlocks();
    size_t numLayers = op.getNumLayers();
    SmallVector<Value> vectors(adaptor.getQueries());
    llvm::append_range(vectors, adaptor.getKeyNormWeights());
    FeatureSpace space(rewriter, op.getLoc(), blocks.front());
    assertSameSizes(rewriter, op.getLoc(), op, blocks.front(), blocks, vectors);
    SmallVector<Value> wgs;
    for (auto [query, keyNorm] :
         llvm::zip(adaptor.getQueries(), adaptor.getKeyNormWeights()))
      wgs.push_back(scaledQuery(rewriter, space, query, keyNorm));

    SmallVector<Value> sumsOfSquares;
    SmallVector<SmallVector<Value>> dots(numLayers);
    for (Value block : blocks) {
      SmallVector<Value> sums = scoreSource(rewriter, space, block, wgs);
      sumsOfSquares.push_back(sums[0]);
      for (size_t l = 0; l < numLayers; ++l)
        dots[l].push_back(sums[l + 1]);
    }

    SmallVector<Value> outputs(numLayers), lses(numLayers);
    SmallVector<SmallVector<Value>> weights;
    SmallVector<size_t> mixed;
    for (size_t l = 0; l < numLayers; ++l) {
      SmallVector<Value> softmax = softmaxOverDepth(
          rewriter, space, sumsOfSquares, dots[l], op.getEpsilon(), true);
      lses[l] = softmax.pop_back_val();
      // A single block is its own softmax-weighted mean.
      if (blocks.size() == 1) {
        outputs[l] = blocks.front();
      } else if (!op.getOutputs()[l].use_empty()) {
        weights.push_back(std::move(softmax));
        mixed.push_back(l);
      }
    }
    if (!weights.empty()) {
      SmallVector<Value> results = mixSources(rewriter, space, blocks, weights,
                                              blocks.front().getType());
      for (auto [l, result] : llvm::zip(mixed, results))
        outputs[l] = result;
    }
    // Unread outputs are replaced by the first block: any value of the
    // right type will do, and it costs nothing.
    for (Value &output : outputs)
      if (!output)
        output = blocks.front();
    SmallVector<Value> replacements(outputs);
    llvm::append_range(replacements, lses);
    rewriter.replaceOp(op, replacements);
    return success();
  }
};

/// Scores the partial sum in one pass over it, computes its merge weight per
/// token, then merges (and normalizes, with the fused norm: one pass for the
/// sum of squares of the merged row, one to write it normalized).
struct Phase2ToLinalg : OpConversionPattern<Phase2Op> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Phase2Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value state = adaptor.getState(), partial = adaptor.getPartial();
    SmallVector<Value> vectors = {adaptor.getQuery(),
                                  adaptor.getKeyNormWeight()};
    if (adaptor.getNormWeight())
      vectors.push_back(adaptor.getNormWeight());
    FeatureSpace space(rewriter, loc, partial);
    assertSameSizes(rewriter, loc, op, partial, {state}, vectors);
    Value wg = scaledQuery(rewriter, space, adaptor.getQuery(),
                           adaptor.getKeyNormWeight());
    SmallVector<Value> sums = scoreSource(rewriter, space, partial, wg);

    // a = sigmoid(s_p - lse) = 1 / (1 + exp(lse - s_p)): exp overflowing to
    // inf gives 0, underflowing to 0 gives 1, never NaN.
    Value invCount = space.inverseFeatureCount(rewriter);
    Value eps = space.epsilon(rewriter, op.getEpsilon());
    int64_t tokenRank = space.rank - 1;
    Value weight =
        linalg::GenericOp::create(
            rewriter, loc, space.tokenEmpty(rewriter).getType(),
            ValueRange{sums[0], sums[1], adaptor.getLse()},
            space.tokenEmpty(rewriter),
            SmallVector<AffineMap>(4,
                                   rewriter.getMultiDimIdentityMap(tokenRank)),
            space.parallelIterators(tokenRank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value scale = reciprocalRms(b, l, args[0], invCount, eps);
              Value logit = arith::MulFOp::create(b, l, args[1], scale);
              Value e = math::ExpOp::create(
                  b, l, arith::SubFOp::create(b, l, args[2], logit));
              Value one = arith::ConstantOp::create(
                  b, l, b.getFloatAttr(e.getType(), 1));
              linalg::YieldOp::create(
                  b, l,
                  arith::DivFOp::create(b, l, one,
                                        arith::AddFOp::create(b, l, one, e))
                      .getResult());
            })
            .getResult(0);

    auto merge = [&](OpBuilder &b, Location l, Value o, Value p, Value a) {
      o = space.extend(b, l, o);
      p = space.extend(b, l, p);
      return arith::AddFOp::create(
          b, l, o,
          arith::MulFOp::create(b, l, a, arith::SubFOp::create(b, l, p, o)));
    };
    SmallVector<Value> inputs{state, partial, weight};
    SmallVector<AffineMap> maps{space.fullMap, space.fullMap, space.tokenMap};

    if (!op.getNormWeight()) {
      maps.push_back(space.fullMap);
      Value result =
          linalg::GenericOp::create(
              rewriter, loc, op.getResult().getType(), inputs,
              space.fullEmpty(rewriter), maps,
              space.parallelIterators(space.rank),
              [&](OpBuilder &b, Location l, ValueRange args) {
                Value h = merge(b, l, args[0], args[1], args[2]);
                linalg::YieldOp::create(b, l, space.truncate(b, l, h));
              })
              .getResult(0);
      rewriter.replaceOp(op, result);
      return success();
    }

    Value sumOfSquares = space.sumOverFeatures(
        rewriter, inputs, maps,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value h = merge(b, l, args[0], args[1], args[2]);
          return arith::MulFOp::create(b, l, h, h);
        });
    Value normEps = space.epsilon(rewriter, *op.getNormEpsilon());
    bool writeResult = !op.getResult().use_empty();
    SmallVector<Value> normInputs(inputs);
    normInputs.append({sumOfSquares, adaptor.getNormWeight()});
    SmallVector<AffineMap> normMaps(maps);
    normMaps.append({space.tokenMap, space.featureMap});
    SmallVector<Value> inits{space.fullEmpty(rewriter)};
    if (writeResult)
      inits.push_back(space.fullEmpty(rewriter));
    normMaps.append(inits.size(), space.fullMap);
    auto normalize = linalg::GenericOp::create(
        rewriter, loc, ValueRange(inits).getTypes(), normInputs, inits,
        normMaps, space.parallelIterators(space.rank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value h = merge(b, l, args[0], args[1], args[2]);
          Value scale = reciprocalRms(b, l, args[3], invCount, normEps);
          Value y =
              arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, h, scale),
                                    space.extend(b, l, args[4]));
          SmallVector<Value> results{space.truncate(b, l, y)};
          if (writeResult)
            results.push_back(space.truncate(b, l, h));
          linalg::YieldOp::create(b, l, results);
        });
    Value normalized = normalize.getResult(0);
    // An unread result still needs a value of its type.
    Value result = writeResult ? normalize.getResult(1) : partial;
    rewriter.replaceOp(op, ValueRange{result, normalized});
    return success();
  }
};

struct ConvertAttnResToLinalgPass
    : attnres::impl::ConvertAttnResToLinalgBase<ConvertAttnResToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalDialect<AttnResDialect>();
    if (!kernelOps)
      target.addLegalOp<RMSNormOp, Phase1Op, Phase2Op, BlockAttnResOp>();
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
  patterns.add<RMSNormToLinalg, LayerNormToLinalg, BlockAttnResToLinalg,
               Phase1ToLinalg, Phase2ToLinalg>(patterns.getContext());
}
