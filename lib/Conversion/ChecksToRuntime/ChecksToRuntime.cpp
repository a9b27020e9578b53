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
