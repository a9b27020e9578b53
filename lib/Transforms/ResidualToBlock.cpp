//===- ResidualToBlock.cpp - PreNorm residual streams to Block AttnRes ----===//
//
// Rewrites the residual streams findResidualStreams finds into Block
// Attention Residuals: each layer's norm reads a
// softmax-over-depth aggregation of the embedding, the completed block sums
// and the current block's partial sum instead of the running sum h_l.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/BlockAttnResPlan.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

namespace mlir::attnres {
#define GEN_PASS_DEF_RESIDUALTOBLOCK
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Rows of at least this many bytes become dense resources rather than
/// inline hex in the printed IR.
constexpr size_t kResourceThresholdBytes = 1024;

/// Multiplies the epsilon of a stream norm (attnres.rms_norm or
/// attnres.layer_norm) by `factor`.
void scaleEpsilon(Operation *norm, double factor) {
  APFloat epsilon(float(streamNormEpsilon(norm) * factor));
  if (auto rms = dyn_cast<RMSNormOp>(norm))
    rms.setEpsilon(epsilon);
  else
    cast<LayerNormOp>(norm).setEpsilon(epsilon);
}

struct ResidualToBlockPass
    : attnres::impl::ResidualToBlockBase<ResidualToBlockPass> {
  using ResidualToBlockBase::ResidualToBlockBase;

  void runOnOperation() override {
    if (!std::isfinite(keyNormEpsilon) || keyNormEpsilon < 0) {
      getOperation().emitError("key-norm-epsilon must be finite and "
                               "non-negative, got ")
          << keyNormEpsilon.getValue();
      return signalPassFailure();
    }
    bool rewroteOrSkipped = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (func.walk([](BlockAttnResOp) { return WalkResult::interrupt(); })
              .wasInterrupted()) {
        if (verbose)
          emitRemark(func.getLoc(), "already in Block AttnRes form (it holds "
                                    "attnres.block_attn_res); left unchanged");
        rewroteOrSkipped = true;
        continue;
      }
      FailureOr<SmallVector<ResidualStream>> streams =
          findResidualStreams(func);
      if (failed(streams) ||
          failed(checkOptionsForStreams(func, *streams, options())))
        return signalPassFailure();
      for (auto [index, stream] : llvm::enumerate(*streams)) {
        if (failed(rewrite(func, stream, index)))
          return signalPassFailure();
        rewroteOrSkipped = true;
      }
    }
    if (!rewroteOrSkipped) {
      getOperation().emitError(
          "found no PreNorm residual stream to rewrite: no attnres.rms_norm "
          "or attnres.layer_norm reads a residual add (run "
          "--attnres-raise-norms first)");
      signalPassFailure();
    }
  }

  BlockAttnResOptions options() {
    BlockAttnResOptions options;
    options.numBlocks = numBlocks;
    options.blockSizes.assign(blockSizes.begin(), blockSizes.end());
    options.pseudoQueries = pseudoQueries;
    return options;
  }

  LogicalResult rewrite(func::FuncOp func, ResidualStream &stream,
                        size_t streamIndex) {
    size_t numLayers = stream.layers.size();
    int64_t features = stream.featureSize();
    FailureOr<BlockAttnResPlan> plan =
        planBlockAttnRes(func, stream, options(), streamIndex);
    if (failed(plan))
      return failure();

    auto streamType = cast<RankedTensorType>(stream.embedding.getType());
    Type elementType = streamType.getElementType();
    auto vectorType = RankedTensorType::get({features}, elementType);
    OpBuilder b(func.getContext());
    // Parameters go first in the function, in the order they are made.
    OpBuilder constants = OpBuilder::atBlockBegin(&func.getBody().front());
    auto row = [&](ArrayRef<float> slice, size_t index,
                   StringRef kind) -> Value {
      const llvm::fltSemantics &semantics =
          cast<FloatType>(elementType).getFloatSemantics();
      SmallVector<APFloat> converted;
      for (float v : slice) {
        APFloat value(v);
        bool lost;
        value.convert(semantics, APFloat::rmNearestTiesToEven, &lost);
        converted.push_back(value);
      }
      std::string name = plan->name(kind, index);
      auto dense = DenseElementsAttr::get(vectorType, converted);
      ElementsAttr attr = dense;
      if (!dense.isSplat() &&
          dense.getRawData().size() >= kResourceThresholdBytes) {
        ArrayRef<char> raw = dense.getRawData();
        attr = DenseResourceElementsAttr::get(
            vectorType, name,
            HeapAsmResourceBlob::allocateAndCopyWithAlign(raw,
                                                          alignof(uint64_t)));
      }
      Location loc = NameLoc::get(constants.getStringAttr(name), func.getLoc());
      return tosa::ConstOp::create(constants, loc, vectorType, attr);
    };
    SmallVector<Value> queries, keyNorms;
    for (size_t index = 0; index <= numLayers; ++index) {
      queries.push_back(row(plan->query(index), index, "query"));
      keyNorms.push_back(row(plan->keyNorm(index), index, "key_norm"));
    }
    // `reader` reads the stream value; `norm` is itself or behind it.
    auto aggregate = [&](ArrayRef<Value> sources, size_t index,
                         Operation *reader, Operation *norm) {
      Value query = queries[index], keyNorm = keyNorms[index];
      b.setInsertionPoint(reader);
      Location loc = NameLoc::get(
          b.getStringAttr(plan->name("aggregate", index)), reader->getLoc());
      Value result = BlockAttnResOp::create(b, loc, sources, query, keyNorm,
                                            keyNormEpsilon.getValue());
      reader->setOperand(0, result);
      // Zero queries make the aggregation the mean h / c of its c sources,
      // and norm(h / c; eps) = norm(h; c^2 eps) for RMSNorm and LayerNorm:
      // dividing the epsilon by c^2 keeps the original function exactly.
      // Trained queries come with norms trained on their own epsilons.
      if (!plan->fromFile)
        scaleEpsilon(norm, plan->epsilonScale(sources.size()));
    };

    // blocks: b_0 (the embedding) and the sums of the completed blocks.
    SmallVector<Value> blocks{stream.embedding};
    Value partial;
    size_t index = 0;
    for (unsigned size : plan->blockSizes) {
      for (unsigned i = 0; i < size; ++i, ++index) {
        ResidualLayer &layer = stream.layers[index];
        SmallVector<Value> sources(blocks);
        if (partial)
          sources.push_back(partial);
        aggregate(sources, index, layer.norm, layer.norm);
        // The partial sum takes the residual adds' places in the graph.
        for (auto [add, branch] : llvm::zip(layer.adds, layer.branches)) {
          if (!partial) {
            partial = branch;
            continue;
          }
          b.setInsertionPoint(add);
          partial = tosa::AddOp::create(b, add->getLoc(), streamType, partial,
                                        branch);
        }
      }
      blocks.push_back(partial);
      partial = Value();
    }
    aggregate(blocks, numLayers, stream.finalReader, stream.finalNorm);

    for (ResidualLayer &layer : llvm::reverse(stream.layers)) {
      for (Operation *add : llvm::reverse(layer.adds)) {
        if (!add->use_empty())
          return add->emitError("internal error: the residual add still has "
                                "uses after the rewrite");
        add->erase();
      }
    }

    if (!verbose)
      return success();
    std::string blockList;
    llvm::raw_string_ostream os(blockList);
    llvm::interleaveComma(plan->blockSizes, os);
    // At the function's location, without printing the function.
    InFlightDiagnostic remark = emitRemark(func.getLoc())
                                << "rewrote the residual stream of @"
                                << func.getSymName()
                                << " into Block AttnRes: " << numLayers
                                << " layers in " << plan->blockSizes.size()
                                << " blocks of [" << blockList << "] layers; ";
    if (plan->fromFile)
      remark << "pseudo-queries from '" << pseudoQueries
             << "' (the norms keep their epsilons)";
    else
      remark << "zero pseudo-queries (no pseudo-queries file): every "
                "aggregation is the mean of its c sources, which the norms "
                "undo, and each norm's epsilon is divided by c^2, so the "
                "function is preserved exactly";
    return success();
  }
};

} // namespace
