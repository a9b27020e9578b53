//===- AllocToGPUManaged.cpp - Buffers the host and the GPU share ---------===//
//
// The GPU pipeline leaves some work on the host (copies, loops it does not
// map), and the attnres kernels read buffers the host produced; managed
// memory lets both sides touch every buffer without transfers.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTALLOCTOGPUMANAGED
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {

struct AllocToManaged : OpRewritePattern<memref::AllocOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::AllocOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getSymbolOperands().empty())
      return rewriter.notifyMatchFailure(op, "symbolic layout operands");
    auto alloc = gpu::AllocOp::create(
        rewriter, op.getLoc(), op.getType(), /*asyncToken=*/Type(),
        /*asyncDependencies=*/ValueRange(), op.getDynamicSizes(),
        /*symbolOperands=*/ValueRange(), /*hostShared=*/true);
    rewriter.replaceOp(op, alloc.getMemref());
    return success();
  }
};

/// Whether `buffer` is memory that AllocToManaged allocates. Every
/// allocation but one with symbol operands becomes GPU memory, and compiled
/// code frees nothing it did not allocate: a base buffer of a view, or a
/// buffer chosen at run time (an scf.if over a dynamic broadcast), is one of
/// them. A function's argument came from its caller and may be anything.
bool isGPUBuffer(Value buffer) {
  while (Operation *def = buffer.getDefiningOp()) {
    if (auto alloc = dyn_cast<memref::AllocOp>(def))
      return alloc.getSymbolOperands().empty();
    if (auto metadata = dyn_cast<memref::ExtractStridedMetadataOp>(def))
      buffer = metadata.getSource();
    else if (auto view = dyn_cast<ViewLikeOpInterface>(def))
      buffer = view.getViewSource();
    else
      break;
  }
  auto arg = dyn_cast<BlockArgument>(buffer);
  return !arg || !arg.getOwner()->isEntryBlock() ||
         !isa<FunctionOpInterface>(arg.getOwner()->getParentOp());
}

struct DeallocToManaged : OpRewritePattern<memref::DeallocOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::DeallocOp op,
                                PatternRewriter &rewriter) const override {
    if (!isGPUBuffer(op.getMemref()))
      return rewriter.notifyMatchFailure(op, "not a GPU buffer");
    // gpu-to-llvm lowers gpu.dealloc only in its async form: free on a
    // fresh stream and wait for it, which keeps the free synchronous.
    Location loc = op.getLoc();
    Type token = rewriter.getType<gpu::AsyncTokenType>();
    Value stream =
        gpu::WaitOp::create(rewriter, loc, token, ValueRange()).getAsyncToken();
    Value freed = gpu::DeallocOp::create(rewriter, loc, token,
                                         ValueRange{stream}, op.getMemref())
                      .getAsyncToken();
    rewriter.replaceOpWithNewOp<gpu::WaitOp>(op, Type(), ValueRange{freed});
    return success();
  }
};

struct ConvertAllocToGPUManagedPass
    : attnres::impl::ConvertAllocToGPUManagedBase<
          ConvertAllocToGPUManagedPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<AllocToManaged, DeallocToManaged>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
