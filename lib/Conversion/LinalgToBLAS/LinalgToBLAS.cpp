//===- LinalgToBLAS.cpp - Batch matmuls on buffers to BLAS calls ----------===//
//
// Replaces f32 linalg.batch_matmul on memrefs with calls to the runtime's
// attnres_sgemm_batched, which wraps cblas_sgemm: the GEMMs of a transformer
// are where nearly all CPU time goes, and a tuned BLAS beats loops we emit.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTLINALGTOBLAS
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>: one C interface for all
/// shapes and layouts.
MemRefType dynamicStridedType(MLIRContext *ctx) {
  int64_t d = ShapedType::kDynamic;
  return MemRefType::get(
      {d, d, d}, Float32Type::get(ctx),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {d, d, d}));
}

struct BatchMatmulToBLAS : OpRewritePattern<linalg::BatchMatmulOp> {
  BatchMatmulToBLAS(MLIRContext *ctx, SymbolRefAttr callee)
      : OpRewritePattern(ctx), callee(callee) {}

  LogicalResult matchAndRewrite(linalg::BatchMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expects memref operands");
    // Broadcast or transposed variants carry explicit indexing maps.
    if (op.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(op, "non-default indexing maps");
    // Every operand is checked before the first cast is created: a pattern
    // that fails after changing the IR makes the greedy driver see a change
    // on every iteration, so it never converges and the pass fails.
    for (Value v : op->getOperands()) {
      auto type = dyn_cast<MemRefType>(v.getType());
      if (!type || !type.getElementType().isF32() || type.getRank() != 3)
        return rewriter.notifyMatchFailure(op, "expects rank-3 f32 memrefs");
      // The cast to the callee's type cannot change the memory space, and
      // the BLAS reads host memory only.
      if (type.getMemorySpace())
        return rewriter.notifyMatchFailure(
            op, "expects memrefs in the default memory space");
    }
    SmallVector<Value> operands;
    for (Value v : op->getOperands())
      operands.push_back(memref::CastOp::create(
          rewriter, op.getLoc(), dynamicStridedType(getContext()), v));
    rewriter.replaceOpWithNewOp<func::CallOp>(op, callee, TypeRange(),
                                              operands);
    return success();
  }

  SymbolRefAttr callee;
};

struct ConvertLinalgToBLASPass
    : attnres::impl::ConvertLinalgToBLASBase<ConvertLinalgToBLASPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    bool any = false;
    module.walk([&](linalg::BatchMatmulOp) { any = true; });
    if (!any)
      return;
    // Declare the runtime function once, with the C interface so that the
    // runtime receives plain StridedMemRefType pointers.
    if (!SymbolTable::lookupSymbolIn(module, kSgemmBatchedFn)) {
      OpBuilder b(module.getBodyRegion());
      MemRefType t = dynamicStridedType(ctx);
      auto decl = func::FuncOp::create(b, module.getLoc(), kSgemmBatchedFn,
                                       b.getFunctionType({t, t, t}, {}));
      decl.setPrivate();
      decl->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    }
    RewritePatternSet patterns(ctx);
    patterns.add<BatchMatmulToBLAS>(ctx,
                                    SymbolRefAttr::get(ctx, kSgemmBatchedFn));
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
