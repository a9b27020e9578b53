//===- consumer-opt.cpp - An opt tool of another project, with attnres ----===//
//
// Upstream's dialects and passes, plus attnres's through its one
// registration entry point: the whole of what a compiler needs to run our
// rewrites and pipelines as one of its stages.
//
//===----------------------------------------------------------------------===//

#include "attnres/InitAttnRes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::attnres::registerAllPasses();
  mlir::attnres::registerAllPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::attnres::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "consumer-opt: upstream MLIR with attnres\n", registry));
}
