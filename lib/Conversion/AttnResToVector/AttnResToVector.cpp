//===- AttnResToVector.cpp - Aggregations as loops over token rows --------===//
//
// Lowers attnres.block_attn_res, attnres.phase1 and attnres.phase2 to one
// scf.forall over token rows whose body does the row's whole aggregation
// with vector arithmetic along the feature axis. The linalg lowering streams
// whole tensors through one op per step (scores, softmax, sum), so a source
// is read from memory once per step; here every source row is read from
// memory once and comes back from L1 for the later steps.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTATTNRESTOVECTOR
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// The body of one step of a loop over a row's features: `k` is the first
/// feature of the vector, `inBounds` false for the masked tail. Returns the
/// loop-carried values for the next step.
using ChunkBody = function_ref<SmallVector<Value>(
    OpBuilder &, Location, Value k, bool inBounds, ValueRange carried)>;

/// The features [k, k + width) of a row in compute precision (zeros past
/// the end unless `inBounds`).
using RowReader =
    function_ref<Value(OpBuilder &, Location, Value k, bool inBounds)>;

/// An op's tensors of shape [..., D] as R rows of D features (R the product
/// of the token dims), each addressed by its token indices, and the vector
/// arithmetic on one row.
struct RowSpace {
  RowSpace(OpBuilder &b, Location loc, Value like, int64_t vectorBits)
      : loc(loc), likeType(cast<RankedTensorType>(like.getType())),
        storageType(likeType.getElementType()),
        fullSizes(tensor::getMixedSizes(b, loc, like)) {
    // Sums over thousands of half-precision values lose most of their bits;
    // accumulate in f32 and round once at the end.
    computeType = storageType.getIntOrFloatBitWidth() < 32
                      ? Type(b.getF32Type())
                      : storageType;
    width =
        std::max<int64_t>(1, vectorBits / computeType.getIntOrFloatBitWidth());
    computeVector = VectorType::get({width}, computeType);
    zero = arith::ConstantIndexOp::create(b, loc, 0);
    numRows = arith::ConstantIndexOp::create(b, loc, 1);
    for (OpFoldResult size : ArrayRef(fullSizes).drop_back()) {
      tokenSizes.push_back(getValueOrCreateConstantIndexOp(b, loc, size));
      numRows = b.createOrFold<arith::MulIOp>(loc, numRows, tokenSizes.back());
    }
    staticFeatures = likeType.getShape().back();
    numFeatures = getValueOrCreateConstantIndexOp(b, loc, fullSizes.back());
    Value asInt =
        arith::IndexCastUIOp::create(b, loc, b.getI64Type(), numFeatures);
    Value asFloat = arith::UIToFPOp::create(b, loc, computeType, asInt);
    inverseFeatures = arith::DivFOp::create(b, loc, scalar(b, loc, 1), asFloat);
  }

  /// The token indices of row `row` (row-major over the token dims).
  SmallVector<Value> tokenIndices(OpBuilder &b, Value row) const {
    SmallVector<Value> indices(tokenSizes.size());
    for (size_t d = tokenSizes.size(); d-- > 0;) {
      if (d == 0) {
        indices[d] = row;
        break;
      }
      indices[d] = b.createOrFold<arith::RemUIOp>(loc, row, tokenSizes[d]);
      row = b.createOrFold<arith::DivUIOp>(loc, row, tokenSizes[d]);
    }
    return indices;
  }

  /// A fresh tensor shaped like the op's [..., D] tensors, or like its
  /// per-token ones ([...], compute type) when `perToken`. Not a tensor.empty:
  /// CSE would merge it with the identical init of a later op (a matmul's
  /// zero fill), and bufferization would then copy that init for every
  /// other user.
  Value empty(OpBuilder &b, bool perToken) const {
    ArrayRef<OpFoldResult> sizes(fullSizes);
    if (perToken)
      sizes = sizes.drop_back();
    SmallVector<int64_t> shape;
    SmallVector<Value> dynamic;
    dispatchIndexOpFoldResults(sizes, dynamic, shape);
    return bufferization::AllocTensorOp::create(
        b, loc,
        RankedTensorType::get(shape, perToken ? computeType : storageType),
        dynamic);
  }

  Value scalar(OpBuilder &b, Location l, double value) const {
    return arith::ConstantOp::create(b, l, b.getFloatAttr(computeType, value));
  }
  Value zeroVector(OpBuilder &b, Location l) const {
    return arith::ConstantOp::create(
        b, l,
        DenseElementsAttr::get(computeVector, b.getFloatAttr(computeType, 0)));
  }
  Value broadcast(OpBuilder &b, Location l, Value s) const {
    return vector::BroadcastOp::create(b, l, computeVector, s);
  }

  /// Steps through a row `width` features at a time: a loop over the whole
  /// vectors, then, when D is not a multiple of the width, one step whose
  /// reads are padded with zeros and whose writes are masked.
  SmallVector<Value> forEachChunk(OpBuilder &b, ValueRange init,
                                  ChunkBody body) const {
    Value step = arith::ConstantIndexOp::create(b, loc, width);
    int64_t staticD = staticFeatures;
    Value rem, mainEnd;
    if (!ShapedType::isDynamic(staticD)) {
      mainEnd =
          arith::ConstantIndexOp::create(b, loc, staticD - staticD % width);
    } else {
      rem = arith::RemUIOp::create(b, loc, numFeatures, step);
      mainEnd = arith::SubIOp::create(b, loc, numFeatures, rem);
    }
    auto loop = scf::ForOp::create(
        b, loc, zero, mainEnd, step, init,
        [&](OpBuilder &nb, Location l, Value k, ValueRange carried) {
          scf::YieldOp::create(nb, l, body(nb, l, k, true, carried));
        });
    SmallVector<Value> results(loop.getResults());
    if (!ShapedType::isDynamic(staticD)) {
      if (staticD % width)
        results = body(b, loc, mainEnd, false, results);
      return results;
    }
    Value hasTail =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, rem, zero);
    auto tail = scf::IfOp::create(
        b, loc, hasTail,
        [&](OpBuilder &nb, Location l) {
          scf::YieldOp::create(nb, l, body(nb, l, mainEnd, false, results));
        },
        [&](OpBuilder &nb, Location l) {
          scf::YieldOp::create(nb, l, results);
        });
    return SmallVector<Value>(tail.getResults());
  }

  /// `at` followed by `k`: the indices of feature k of the row at `at`.
  static SmallVector<Value> withFeature(ValueRange at, Value k) {
    SmallVector<Value> indices(at.begin(), at.end());
    indices.push_back(k);
    return indices;
  }

  /// The vector of features [k, k + width) of `t` at `indices` + k, in
  /// compute precision (zeros past the end unless `inBounds`).
  Value read(OpBuilder &b, Location l, Value t, ValueRange indices,
             bool inBounds) const {
    return extend(b, l, readStored(b, l, t, indices, inBounds));
  }
  /// The same vector in `t`'s element type.
  Value readStored(OpBuilder &b, Location l, Value t, ValueRange indices,
                   bool inBounds) const {
    Type element = cast<RankedTensorType>(t.getType()).getElementType();
    Value pad = arith::ConstantOp::create(b, l, b.getZeroAttr(element));
    return vector::TransferReadOp::create(
        b, l, VectorType::get({width}, element), t, indices, pad,
        ArrayRef<bool>{inBounds});
  }
  Value extend(OpBuilder &b, Location l, Value v) const {
    if (cast<VectorType>(v.getType()).getElementType() == computeType)
      return v;
    return arith::ExtFOp::create(b, l, computeVector, v);
  }
  /// Writes compute-precision `v` into `t` at `indices`, rounded to `t`'s
  /// element type; returns the new tensor.
  Value write(OpBuilder &b, Location l, Value v, Value t, ValueRange indices,
              bool inBounds) const {
    Type element = cast<RankedTensorType>(t.getType()).getElementType();
    if (element != computeType)
      v = arith::TruncFOp::create(b, l, VectorType::get({width}, element), v);
    return vector::TransferWriteOp::create(b, l, v, t, indices,
                                           ArrayRef<bool>{inBounds})
        .getResult();
  }

  Value sum(OpBuilder &b, Location l, Value v) const {
    // The vector lanes already reorder the sum; a tree is as good as a chain.
    return vector::ReductionOp::create(b, l, vector::CombiningKind::ADD, v,
                                       arith::FastMathFlags::reassoc);
  }
  /// rsqrt(sumOfSquares / D + eps): the reciprocal RMS of a row.
  Value reciprocalRms(OpBuilder &b, Location l, Value sumOfSquares,
                      Value eps) const {
    Value mean = arith::MulFOp::create(b, l, sumOfSquares, inverseFeatures);
    return math::RsqrtOp::create(b, l, arith::AddFOp::create(b, l, mean, eps));
  }
  Value epsilon(OpBuilder &b, const APFloat &eps) const {
    return scalar(b, loc, eps.convertToDouble());
  }

  /// query * key_norm_weight in compute precision: w . RMSNorm_g(v) =
  /// (sum_d w_d g_d v_d) * rsqrt(mean(v^2) + eps), so the key norm folds into
  /// one per-feature vector and is never materialized.
  Value scaledQuery(OpBuilder &b, Value query, Value keyNormWeight) const {
    Value init = tensor::EmptyOp::create(
        b, loc, ArrayRef<OpFoldResult>{fullSizes.back()}, computeType);
    return forEachChunk(b, init,
                        [&](OpBuilder &nb, Location l, Value k, bool inBounds,
                            ValueRange carried) -> SmallVector<Value> {
                          Value q = read(nb, l, query, k, inBounds);
                          Value g = read(nb, l, keyNormWeight, k, inBounds);
                          Value wg = arith::MulFOp::create(nb, l, q, g);
                          return {write(nb, l, wg, carried[0], k, inBounds)};
                        })
        .front();
  }

  /// One pass over a row, whose features [k, k + width) `readRow` gives in
  /// compute precision: its sum of squares and its dot product with each of
  /// `scaledQueries`. With `copy` (a row tensor), the row is also written
  /// into it, and `copy` becomes the written tensor.
  SmallVector<Value> scoreRow(OpBuilder &b, Location l, RowReader readRow,
                              ArrayRef<Value> scaledQueries,
                              Value *copy = nullptr) const {
    SmallVector<Value> init(scaledQueries.size() + 1, zeroVector(b, l));
    if (copy)
      init.push_back(*copy);
    SmallVector<Value> accs = forEachChunk(
        b, init,
        [&](OpBuilder &nb, Location nl, Value k, bool inBounds,
            ValueRange carried) -> SmallVector<Value> {
          Value v = readRow(nb, nl, k, inBounds);
          SmallVector<Value> next{
              vector::FMAOp::create(nb, nl, v, v, carried[0])};
          for (auto [i, wg] : llvm::enumerate(scaledQueries))
            next.push_back(vector::FMAOp::create(
                nb, nl, v, read(nb, nl, wg, k, inBounds), carried[i + 1]));
          if (copy)
            next.push_back(write(nb, nl, v, carried.back(), k, inBounds));
          return next;
        });
    if (copy)
      *copy = accs.pop_back_val();
    SmallVector<Value> sums;
    for (Value acc : accs)
      sums.push_back(sum(b, l, acc));
    return sums;
  }
  /// The same for the row at token indices `at` of `source`.
  SmallVector<Value> scoreRow(OpBuilder &b, Location l, Value source,
                              ValueRange at,
                              ArrayRef<Value> scaledQueries) const {
    return scoreRow(
        b, l,
        [&](OpBuilder &nb, Location nl, Value k, bool inBounds) {
          return read(nb, nl, source, withFeature(at, k), inBounds);
        },
        scaledQueries);
  }

  /// A row's logit against each query from its scoreRow sums: the
  /// query-weighted sum times the row's reciprocal RMS.
  SmallVector<Value> logits(OpBuilder &b, Location l, ArrayRef<Value> sums,
                            Value eps) const {
    Value scale = reciprocalRms(b, l, sums.front(), eps);
    SmallVector<Value> result;
    for (Value dot : sums.drop_front())
      result.push_back(arith::MulFOp::create(b, l, dot, scale));
    return result;
  }

  /// The softmax over depth of `logits`: the weights (when `weights`) and the
  /// log-sum-exp. The maximum is subtracted first so that large logits cannot
  /// overflow exp.
  Value softmax(OpBuilder &b, Location l, ArrayRef<Value> logits,
                SmallVectorImpl<Value> *weights) const {
    Value max = logits.front();
    for (Value s : logits.drop_front())
      max = arith::MaximumFOp::create(b, l, max, s);
    SmallVector<Value> exps;
    Value total;
    for (Value s : logits) {
      Value e = math::ExpOp::create(b, l, arith::SubFOp::create(b, l, s, max));
      exps.push_back(e);
      total = total ? arith::AddFOp::create(b, l, total, e).getResult() : e;
    }
    if (weights) {
      Value inverse = arith::DivFOp::create(b, l, scalar(b, l, 1), total);
      for (Value e : exps)
        weights->push_back(arith::MulFOp::create(b, l, e, inverse));
    }
    return arith::AddFOp::create(b, l, max, math::LogOp::create(b, l, total));
  }

  /// The row at `at` of every output: outputs[o] = sum_i weights[o][i] *
  /// sources[i], reading each source row once for all outputs.
  SmallVector<Value> mixRow(OpBuilder &b, Location l, ValueRange sources,
                            ValueRange at, ArrayRef<SmallVector<Value>> weights,
                            ValueRange outputRows) const {
    SmallVector<SmallVector<Value>> splat;
    for (const SmallVector<Value> &ws : weights) {
      splat.emplace_back();
      for (Value w : ws)
        splat.back().push_back(broadcast(b, l, w));
    }
    return forEachChunk(
        b, outputRows,
        [&](OpBuilder &nb, Location nl, Value k, bool inBounds,
            ValueRange carried) -> SmallVector<Value> {
          SmallVector<Value> values;
          for (Value source : sources)
            values.push_back(
                read(nb, nl, source, withFeature(at, k), inBounds));
          SmallVector<Value> next;
          for (auto [o, ws] : llvm::enumerate(splat)) {
            Value acc = arith::MulFOp::create(nb, nl, ws[0], values[0]);
            for (size_t i = 1; i < values.size(); ++i)
              acc = vector::FMAOp::create(nb, nl, ws[i], values[i], acc);
            next.push_back(write(nb, nl, acc, carried[o], k, inBounds));
          }
          return next;
        });
  }

  /// The row at token indices `at` of `t` ([..., D] or, per token, [...])
  /// as a tensor<1xD> (tensor<1x..>), to be written and inserted back.
  Value rowOf(OpBuilder &b, Value t, ValueRange at) const {
    auto type = cast<RankedTensorType>(t.getType());
    auto rowType = RankedTensorType::get(
        type.getRank() == rank() ? staticFeatures : 1, type.getElementType());
    return tensor::ExtractSliceOp::create(b, loc, rowType, t, offsets(b, t, at),
                                          sizes(b, t), strides(b, t));
  }
  void insertRow(OpBuilder &b, Value rowTensor, Value t, ValueRange at) const {
    tensor::ParallelInsertSliceOp::create(
        b, loc, rowTensor, t, offsets(b, t, at), sizes(b, t), strides(b, t));
  }

  Location loc;
  RankedTensorType likeType;
  Type storageType, computeType;
  VectorType computeVector;
  int64_t width;
  SmallVector<OpFoldResult> fullSizes;
  SmallVector<Value> tokenSizes;
  int64_t staticFeatures;
  Value zero, numRows, numFeatures, inverseFeatures;

private:
  int64_t rank() const { return likeType.getRank(); }
  SmallVector<OpFoldResult> offsets(OpBuilder &b, Value t,
                                    ValueRange at) const {
    SmallVector<OpFoldResult> result(at.begin(), at.end());
    if (cast<RankedTensorType>(t.getType()).getRank() == rank())
      result.push_back(b.getIndexAttr(0));
    return result;
  }
  SmallVector<OpFoldResult> sizes(OpBuilder &b, Value t) const {
    SmallVector<OpFoldResult> result(tokenSizes.size(), b.getIndexAttr(1));
    if (cast<RankedTensorType>(t.getType()).getRank() == rank())
      result.push_back(fullSizes.back());
    return result;
  }
  SmallVector<OpFoldResult> strides(OpBuilder &b, Value t) const {
    return SmallVector<OpFoldResult>(
        cast<RankedTensorType>(t.getType()).getRank(), b.getIndexAttr(1));
  }
};

/// An scf.forall over the rows with `outputs` as its shared outputs; `body`
/// builds one row's work from the row's token indices and the outputs' block
/// arguments and returns, for each output, the row tensor to insert.
SmallVector<Value>
forEachRow(OpBuilder &b, const RowSpace &space, ValueRange outputs,
           function_ref<SmallVector<Value>(OpBuilder &, ValueRange at,
                                           ValueRange outputs)>
               body) {
  auto forall =
      scf::ForallOp::create(b, space.loc, ArrayRef<OpFoldResult>{space.numRows},
                            outputs, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> at =
      space.tokenIndices(b, forall.getInductionVars().front());
  ValueRange shared = forall.getRegionIterArgs();
  SmallVector<Value> rowTensors = body(b, at, shared);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  for (auto [rowTensor, t] : llvm::zip(rowTensors, shared))
    space.insertRow(b, rowTensor, t, at);
  return SmallVector<Value>(forall.getResults());
}

/// The row loops need a token axis; a single row ([D]) is left to
/// --attnres-to-linalg.
bool hasTokenAxis(Value t) {
  return cast<RankedTensorType>(t.getType()).getRank() >= 2;
}

/// The patterns' shared state: the vector width.
template <typename OpTy> struct RowLoopPattern : OpConversionPattern<OpTy> {
  RowLoopPattern(MLIRContext *ctx, int64_t vectorBits)
      : OpConversionPattern<OpTy>(ctx), vectorBits(vectorBits) {}

  int64_t vectorBits;
};

struct BlockAttnResToVector : RowLoopPattern<BlockAttnResOp> {
  using RowLoopPattern::RowLoopPattern;

  LogicalResult
  matchAndRewrite(BlockAttnResOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ValueRange sources = adaptor.getSources();
    assertSameSizes(rewriter, loc, op, sources.front(), sources,
                    {adaptor.getQuery(), adaptor.getKeyNormWeight()});
    RowSpace space(rewriter, loc, sources.front(), vectorBits);
    Value wg = space.scaledQuery(rewriter, adaptor.getQuery(),
                                 adaptor.getKeyNormWeight());
    Value eps = space.epsilon(rewriter, op.getEpsilon());

    SmallVector<Value> results = forEachRow(
        rewriter, space, space.empty(rewriter, /*perToken=*/false),
        [&](OpBuilder &b, ValueRange at, ValueRange outputs) {
          SmallVector<Value> logits;
          for (Value source : sources)
            logits.push_back(space.logits(
                b, loc, space.scoreRow(b, loc, source, at, wg), eps)[0]);
          SmallVector<SmallVector<Value>> weights(1);
          space.softmax(b, loc, logits, &weights.front());
          return space.mixRow(b, loc, sources, at, weights,
                              space.rowOf(b, outputs.front(), at));
        });
    rewriter.replaceOp(op, results.front());
    return success();
  }
};

/// Each completed block's row is scored for all the group's layers in one
/// pass, then every read output is formed in one more pass over the rows,
/// which are in L1 by then.
struct Phase1ToVector : RowLoopPattern<Phase1Op> {
  using RowLoopPattern::RowLoopPattern;

  LogicalResult
  matchAndRewrite(Phase1Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ValueRange blocks = adaptor.getBlocks();
    size_t numLayers = op.getNumLayers();
    SmallVector<Value> vectors(adaptor.getQueries());
    llvm::append_range(vectors, adaptor.getKeyNormWeights());
    assertSameSizes(rewriter, loc, op, blocks.front(), blocks, vectors);
    RowSpace space(rewriter, loc, blocks.front(), vectorBits);
    SmallVector<Value> wgs;
    for (auto [query, keyNorm] :
         llvm::zip(adaptor.getQueries(), adaptor.getKeyNormWeights()))
      wgs.push_back(space.scaledQuery(rewriter, query, keyNorm));
    Value eps = space.epsilon(rewriter, op.getEpsilon());

    // A single block is its own softmax-weighted mean; outputs nothing reads
    // are not formed.
    SmallVector<size_t> mixed;
    if (blocks.size() > 1)
      for (size_t l = 0; l < numLayers; ++l)
        if (!op.getOutputs()[l].use_empty())
          mixed.push_back(l);
    SmallVector<Value> inits;
    for (size_t l = 0; l < numLayers; ++l)
      inits.push_back(space.empty(rewriter, /*perToken=*/true));
    for (size_t i = 0; i < mixed.size(); ++i)
      inits.push_back(space.empty(rewriter, /*perToken=*/false));

    SmallVector<Value> results = forEachRow(
        rewriter, space, inits,
        [&](OpBuilder &b, ValueRange at, ValueRange outputs) {
          // logits[l][i]: layer l's logit of block i.
          SmallVector<SmallVector<Value>> logits(numLayers);
          for (Value block : blocks) {
            SmallVector<Value> blockLogits = space.logits(
                b, loc, space.scoreRow(b, loc, block, at, wgs), eps);
            for (size_t l = 0; l < numLayers; ++l)
              logits[l].push_back(blockLogits[l]);
          }
          SmallVector<Value> rowTensors;
          SmallVector<SmallVector<Value>> weights;
          for (size_t l = 0; l < numLayers; ++l) {
            bool isMixed = llvm::is_contained(mixed, l);
            if (isMixed)
              weights.emplace_back();
            Value lse = space.softmax(b, loc, logits[l],
                                      isMixed ? &weights.back() : nullptr);
            rowTensors.push_back(tensor::InsertOp::create(
                b, loc, lse, space.rowOf(b, outputs[l], at), space.zero));
          }
          if (!mixed.empty()) {
            SmallVector<Value> outputRows;
            for (Value t : outputs.drop_front(numLayers))
              outputRows.push_back(space.rowOf(b, t, at));
            llvm::append_range(rowTensors, space.mixRow(b, loc, blocks, at,
                                                        weights, outputRows));
          }
          return rowTensors;
        });

    // Unread outputs are replaced by the first block: any value of the
    // right type will do, and it costs nothing.
    SmallVector<Value> replacements(numLayers, blocks.front());
    for (auto [i, l] : llvm::enumerate(mixed))
      replacements[l] = results[numLayers + i];
    llvm::append_range(replacements, ArrayRef(results).take_front(numLayers));
    rewriter.replaceOp(op, replacements);
    return success();
  }
};

/// The tosa.add that forms phase 2's partial sum, when the row loop can do
/// it instead: an add of two tensors of the partial's type (no broadcast:
/// static, or marked same-shape by the importer) in the same block, whose
/// other users all come after the phase 2 op, so that the loop's written
/// sum can replace it.
tosa::AddOp foldablePartialSum(Phase2Op op, Value partial) {
  auto add = partial.getDefiningOp<tosa::AddOp>();
  if (!add || add->getBlock() != op->getBlock())
    return {};
  auto type = cast<RankedTensorType>(partial.getType());
  if (add.getInput1().getType() != type || add.getInput2().getType() != type)
    return {};
  if (!type.hasStaticShape() && !add->hasAttr(kSameShapeAttrName))
    return {};
  for (Operation *user : add->getUsers()) {
    if (user == op)
      continue;
    Operation *top = op->getBlock()->findAncestorOpInBlock(*user);
    if (!top || !op->isBeforeInBlock(top))
      return {};
  }
  return add;
}

/// Per row: the partial sum scored in one pass, its merge weight, then the
/// merged row written (without the fused norm) or its sum of squares taken
/// and the normalized row written (with it); the state and partial rows come
/// from memory once.
struct Phase2ToVector : RowLoopPattern<Phase2Op> {
  using RowLoopPattern::RowLoopPattern;

  LogicalResult
  matchAndRewrite(Phase2Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value state = adaptor.getState(), partial = adaptor.getPartial();
    Value lse = adaptor.getLse(), normWeight = adaptor.getNormWeight();
    SmallVector<Value> vectors = {adaptor.getQuery(),
                                  adaptor.getKeyNormWeight()};
    if (normWeight)
      vectors.push_back(normWeight);
    assertSameSizes(rewriter, loc, op, partial, {state}, vectors);
    RowSpace space(rewriter, loc, partial, vectorBits);
    Value wg = space.scaledQuery(rewriter, adaptor.getQuery(),
                                 adaptor.getKeyNormWeight());
    Value eps = space.epsilon(rewriter, op.getEpsilon());
    Value normEps =
        normWeight ? space.epsilon(rewriter, *op.getNormEpsilon()) : Value();
    bool writeResult = !normWeight || !op.getResult().use_empty();
    // The partial sum's add done in the loop: its operands are read instead
    // of the partial, which saves the add's own pass over memory; the sum is
    // written while it is scored when something else reads it.
    tosa::AddOp add = foldablePartialSum(op, partial);
    bool writeSum = add && !add->hasOneUse();

    SmallVector<Value> inits;
    if (writeResult)
      inits.push_back(space.empty(rewriter, /*perToken=*/false));
    if (normWeight)
      inits.push_back(space.empty(rewriter, /*perToken=*/false));
    if (writeSum)
      inits.push_back(space.empty(rewriter, /*perToken=*/false));
    // Added in the add's element type, as tosa.add rounds.
    auto readPartial = [&](OpBuilder &b, Location l, ValueRange indices,
                           bool inBounds) -> Value {
      if (!add)
        return space.read(b, l, partial, indices, inBounds);
      // One statement each: the IR's order must not follow the compiler's
      // order of evaluating arguments.
      Value x = space.readStored(b, l, add.getInput1(), indices, inBounds);
      Value y = space.readStored(b, l, add.getInput2(), indices, inBounds);
      return space.extend(b, l, arith::AddFOp::create(b, l, x, y));
    };

    SmallVector<Value> results = forEachRow(
        rewriter, space, inits,
        [&](OpBuilder &b, ValueRange at, ValueRange outputs) {
          Value sumRow =
              writeSum ? space.rowOf(b, outputs.back(), at) : Value();
          auto readRow = [&](OpBuilder &nb, Location l, Value k,
                             bool inBounds) {
            return readPartial(nb, l, RowSpace::withFeature(at, k), inBounds);
          };
          SmallVector<Value> sums =
              space.scoreRow(b, loc, readRow, wg, sumRow ? &sumRow : nullptr);
          Value logit = space.logits(b, loc, sums, eps).front();
          // a = sigmoid(s_p - lse) = 1 / (1 + exp(lse - s_p)): exp
          // overflowing to inf gives 0, underflowing to 0 gives 1, never NaN.
          Value rowLse = tensor::ExtractOp::create(b, loc, lse, at);
          Value e = math::ExpOp::create(
              b, loc, arith::SubFOp::create(b, loc, rowLse, logit));
          Value one = space.scalar(b, loc, 1);
          Value a = space.broadcast(
              b, loc,
              arith::DivFOp::create(b, loc, one,
                                    arith::AddFOp::create(b, loc, one, e)));
          auto merge = [&](OpBuilder &nb, Location l, Value k, bool inBounds) {
            SmallVector<Value> indices = RowSpace::withFeature(at, k);
            Value o = space.read(nb, l, state, indices, inBounds);
            Value p = readPartial(nb, l, indices, inBounds);
            return vector::FMAOp::create(nb, l, a,
                                         arith::SubFOp::create(nb, l, p, o), o);
          };

          SmallVector<Value> rowTensors;
          for (Value t : outputs.drop_back(writeSum ? 1 : 0))
            rowTensors.push_back(space.rowOf(b, t, at));
          auto withSum = [&](SmallVector<Value> rows) {
            if (sumRow)
              rows.push_back(sumRow);
            return rows;
          };
          if (!normWeight)
            return withSum(space.forEachChunk(
                b, rowTensors,
                [&](OpBuilder &nb, Location l, Value k, bool inBounds,
                    ValueRange carried) -> SmallVector<Value> {
                  Value h = merge(nb, l, k, inBounds);
                  return {space.write(nb, l, h, carried[0], k, inBounds)};
                }));

          Value squares =
              space
                  .forEachChunk(
                      b, space.zeroVector(b, loc),
                      [&](OpBuilder &nb, Location l, Value k, bool inBounds,
                          ValueRange carried) -> SmallVector<Value> {
                        Value h = merge(nb, l, k, inBounds);
                        return {vector::FMAOp::create(nb, l, h, h, carried[0])};
                      })
                  .front();
          Value scale = space.broadcast(
              b, loc,
              space.reciprocalRms(b, loc, space.sum(b, loc, squares), normEps));
          return withSum(space.forEachChunk(
              b, rowTensors,
              [&](OpBuilder &nb, Location l, Value k, bool inBounds,
                  ValueRange carried) -> SmallVector<Value> {
                Value h = merge(nb, l, k, inBounds);
                Value g = space.read(nb, l, normWeight, k, inBounds);
                Value y = arith::MulFOp::create(
                    nb, l, arith::MulFOp::create(nb, l, h, scale), g);
                SmallVector<Value> next;
                if (writeResult)
                  next.push_back(
                      space.write(nb, l, h, carried[0], k, inBounds));
                next.push_back(
                    space.write(nb, l, y, carried.back(), k, inBounds));
                return next;
              }));
        });

    // An unread result still needs a value of its type.
    Value sum = writeSum ? results.pop_back_val() : Value();
    Value result = writeResult ? results.front() : state;
    if (!normWeight)
      rewriter.replaceOp(op, result);
    else
      rewriter.replaceOp(op, ValueRange{result, results.back()});
    if (sum)
      rewriter.replaceOp(add, sum);
    else if (add)
      rewriter.eraseOp(add);
    return success();
  }
};

struct ConvertAttnResToVectorPass
    : attnres::impl::ConvertAttnResToVectorBase<ConvertAttnResToVectorPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorBits < 32 || vectorBits > 4096 ||
        !llvm::isPowerOf2_64(vectorBits)) {
      emitError(getOperation()->getLoc())
          << "--attnres-to-vector: vector-bits must be a power of two from "
             "32 to 4096, not "
          << static_cast<int64_t>(vectorBits);
      return signalPassFailure();
    }
    ConversionTarget target(getContext());
    target.addDynamicallyLegalOp<BlockAttnResOp, Phase1Op, Phase2Op>(
        [](Operation *op) { return !hasTokenAxis(op->getOperand(0)); });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateAttnResToVectorPatterns(patterns, vectorBits);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attnres::populateAttnResToVectorPatterns(RewritePatternSet &patterns,
                                                    int64_t vectorBits) {
  patterns.add<BlockAttnResToVector, Phase1ToVector, Phase2ToVector>(
      patterns.getContext(), vectorBits);
}
