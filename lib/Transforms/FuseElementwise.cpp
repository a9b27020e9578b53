//===- FuseElementwise.cpp - Producer/consumer fusion of elementwise ops --===//
//
// Upstream's elementwise fusion patterns without its reshape propagation,
// which would generalize the batch matmuls the BLAS path relies on.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct FuseElementwisePass
    : attnres::impl::FuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // A producer with several consumers would be recomputed in each.
    linalg::populateElementwiseOpsFusionPatterns(
        patterns, [](OpOperand *fused) {
          Operation *producer = fused->get().getDefiningOp();
          return producer && producer->hasOneUse();
        });
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
