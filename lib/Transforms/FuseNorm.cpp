//===- FuseNorm.cpp - Fold the PreNorm RMSNorm into phase 2 ---------------===//
//
// A phase-2 result is a layer's aggregated input, which the layer's PreNorm
// RMSNorm reads next. Computing both in one op saves writing the input and
// reading it back.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"
#include "attnres/Transforms/Utils.h"

#include "mlir/IR/Builders.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_FUSENORM
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// The RMSNorm that normalizes `value`, if any reads it.
RMSNormOp findNorm(Value value) {
  for (OpOperand &use : value.getUses())
    if (auto norm = dyn_cast<RMSNormOp>(use.getOwner()))
      if (use.getOperandNumber() == 0)
        return norm;
  return {};
}

struct FuseNormPass : attnres::impl::FuseNormBase<FuseNormPass> {
  using Base::Base;

  void runOnOperation() override {
    DominanceInfo &dominance = getAnalysis<DominanceInfo>();
    SmallVector<std::pair<Phase2Op, RMSNormOp>> candidates;
    unsigned layerNorms = 0;
    getOperation().walk([&](Phase2Op phase2) {
      if (phase2.getNormWeight())
        return;
      if (RMSNormOp norm = findNorm(phase2.getResult()))
        candidates.emplace_back(phase2, norm);
      else if (llvm::any_of(phase2.getResult().getUsers(),
                            llvm::IsaPred<LayerNormOp>))
        ++layerNorms;
    });

    for (auto [phase2, norm] : candidates) {
      // The fused op replaces phase 2 where it is, so the norm's weight
      // must be available there; other readers of the result keep
      // reading it from the same place.
      Operation *point = phase2;
      Value weight = norm.getWeight();
      if (!makeAvailableBefore(weight, point, dominance)) {
        if (verbose)
          emitRemark(norm.getLoc())
              << "not fused: the norm's weight is computed after the phase-2 "
                 "op it would join";
        continue;
      }
      OpBuilder b(point);
      auto fused = Phase2Op::create(
          b, phase2.getLoc(), phase2.getState(), phase2.getLse(),
          phase2.getPartial(), phase2.getQuery(), phase2.getKeyNormWeight(),
          phase2.getEpsilon().convertToFloat(), weight,
          norm.getEpsilon().convertToFloat());
      norm.getResult().replaceAllUsesWith(fused.getNormalized());
      norm.erase();
      phase2.getResult().replaceAllUsesWith(fused.getResult());
      phase2.erase();
    }
    if (layerNorms && verbose)
      emitRemark(getOperation().getLoc())
          << layerNorms
          << " phase-2 results are read by attnres.layer_norm, which does "
             "not fuse (only RMSNorm does); left unfused";
    if (candidates.empty())
      markAllAnalysesPreserved();
  }
};

} // namespace
