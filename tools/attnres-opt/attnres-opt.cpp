//===- attnres-opt.cpp - attnres optimizer driver -------------------------===//
//
// An mlir-opt-style driver with every upstream dialect, pass and extension
// plus the attnres dialect and passes. The upstream extensions include the
// LLVM IR translations and the NVVM target attribute, without which
// gpu-module-to-binary cannot serialize kernels.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResDialect.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::attnres::registerAttnResConversionPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registry.insert<mlir::attnres::AttnResDialect>();

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "attnres optimizer driver\n", registry));
}
