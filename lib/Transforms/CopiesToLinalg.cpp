//===- CopiesToLinalg.cpp - Buffer copies as linalg.copy ------------------===//
//
// memref.copy lowers to a call of the host's memrefCopy. On the GPU pipeline
// the buffers are device memory, which the host cannot read, and a host
// copy would hold the GPU idle besides. As a linalg.copy the copy becomes
// parallel loops and then a kernel, like the rest of the model.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_COPIESTOLINALG
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

struct CopyToLinalg : OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::CopyOp copy,
                                PatternRewriter &rewriter) const override {
    auto source = dyn_cast<MemRefType>(copy.getSource().getType());
    auto target = dyn_cast<MemRefType>(copy.getTarget().getType());
    if (!source || !target)
      return rewriter.notifyMatchFailure(copy, "unranked operand");
    // Shape operands are written and read by the host; a single element is
    // cheaper to copy there than to launch for.
    if (source.getElementType().isIndex() || source.getRank() == 0)
      return rewriter.notifyMatchFailure(copy, "host-side copy");
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                                copy.getTarget());
    return success();
  }
};

struct CopiesToLinalgPass
    : attnres::impl::CopiesToLinalgBase<CopiesToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<CopyToLinalg>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
