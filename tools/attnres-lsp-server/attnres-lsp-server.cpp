//===- attnres-lsp-server.cpp - MLIR's language server with attnres -------===//
//
// mlir-lsp-server with the attnres dialect registered besides upstream's,
// so that editors understand .mlir files with our ops: diagnostics from our
// verifiers, hovers, go-to-definition.
//
//===----------------------------------------------------------------------===//

#include "attnres/InitAttnRes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Tools/mlir-lsp-server/MlirLspServerMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::attnres::registerAllDialects(registry);
  return mlir::failed(mlir::MlirLspServerMain(argc, argv, registry));
}
