//===- attnres-translate.cpp - mlir-translate with the ONNX importer ------===//
//
// MLIR's translation driver with upstream's translations plus ours:
// `--import-onnx` reads a .onnx file into MLIR, the way
// `--import-llvm` reads LLVM IR.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/ONNX/ONNXImport.h"

#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::registerAllTranslations();
  mlir::attnres::registerFromONNXTranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "attnres translation driver"));
}
