//===- ChecksToRuntime.cpp - Failed run-time checks as runtime errors -----===//
//
// cf.assert's own lowering prints the message and aborts the process: an
// application running a model would die with it. The checks the lowering
// emits (operands whose run-time sizes disagree) call the runtime instead,
// which turns the failure into attnres_model_run's error return.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTCHECKSTORUNTIME
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

struct ConvertChecksToRuntimePass
    : attnres::impl::ConvertChecksToRuntimeBase<ConvertChecksToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<cf::AssertOp> checks;
    module.walk([&](cf::AssertOp check) {
      // Kernels have no runtime to call.
      if (!check->getParentOfType<gpu::GPUModuleOp>())
        checks.push_back(check);
    });
    if (checks.empty())
      return;
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    auto ptr = LLVM::LLVMPointerType::get(module.getContext());
    FailureOr<LLVM::LLVMFuncOp> fail =
        LLVM::lookupOrCreateFn(b, module, kCheckFailedFn, {ptr},
                               LLVM::LLVMVoidType::get(module.getContext()));
    if (failed(fail))
      return signalPassFailure();
    unsigned counter = 0;
    for (cf::AssertOp check : checks) {
      Location loc = check.getLoc();
      Block *before = check->getBlock();
      Block *after = before->splitBlock(std::next(check->getIterator()));
      Block *failed = b.createBlock(after);
      b.setInsertionPointToStart(failed);
      // The runtime reads a C string.
      std::string text = check.getMsg().str();
      text.push_back('\0');
      Value message = LLVM::createGlobalString(
          loc, b, ("attnres_check_" + Twine(counter++)).str(), text,
          LLVM::Linkage::Internal);
      LLVM::CallOp::create(b, loc, *fail, ValueRange{message});
      LLVM::UnreachableOp::create(b, loc);
      b.setInsertionPoint(check);
      cf::CondBranchOp::create(b, loc, check.getArg(), after, ValueRange(),
                               failed, ValueRange());
      check.erase();
    }
  }
};

} // namespace

void mlir::attnres::assertAtRunTime(OpBuilder &b, Location loc, Value condition,
                                    Operation *op, const llvm::Twine &what) {
  std::string message;
  llvm::raw_string_ostream os(message);
  if (auto file = op->getLoc()->findInstanceOf<FileLineColLoc>())
    os << file.getFilename().strref() << ":" << file.getLine() << ":"
       << file.getColumn() << ": ";
  os << op->getName() << ": " << what;
  cf::AssertOp::create(b, loc, condition, message);
}

void mlir::attnres::assertSameSizes(OpBuilder &b, Location loc, Operation *op,
                                    Value like, ValueRange tensors,
                                    ValueRange vectors) {
  auto likeType = cast<RankedTensorType>(like.getType());
  int64_t rank = likeType.getRank();
  auto check = [&](Value v, int64_t dim, int64_t likeDim,
                   const llvm::Twine &what) {
    auto type = cast<RankedTensorType>(v.getType());
    if (!type.isDynamicDim(dim) && !likeType.isDynamicDim(likeDim))
      return;
    Value size = b.createOrFold<tensor::DimOp>(loc, v, dim);
    Value want = b.createOrFold<tensor::DimOp>(loc, like, likeDim);
    Value same = b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::eq,
                                               size, want);
    assertAtRunTime(b, loc, same, op, what);
  };
  for (Value t : tensors)
    if (t != like)
      for (int64_t d = 0; d < rank; ++d)
        check(t, d, d, kOperandSizesDiffer + " (dim " + llvm::Twine(d) + ")");
  for (Value v : vectors)
    check(v, 0, rank - 1, kVectorSizeDiffers);
}
