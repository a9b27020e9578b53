//===- attnres-opt.cpp - attnres optimizer driver -------------------------===//
//
// An mlir-opt-style driver with every upstream dialect, pass and extension
// plus the attnres dialect and passes. The upstream extensions include the
// LLVM IR translations and the NVVM target attribute, without which
// gpu-module-to-binary cannot serialize kernels. A `.onnx` input is imported
// first, so passes run on a model directly.
//
//===----------------------------------------------------------------------===//

#include "attnres/InitAttnRes.h"
#include "attnres/Target/ONNX/ONNXImport.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory onnxCategory("ONNX input (for .onnx files)");
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix the shape of a graph input of a .onnx model, e.g. "
             "input_ids=1x16; repeatable"),
    cl::value_desc("NAME=DIMS"), cl::cat(onnxCategory));
static cl::opt<std::string>
    entryName("entry", cl::desc("Function name for an imported .onnx model"),
              cl::value_desc("name"), cl::init("main"), cl::cat(onnxCategory));

/// Imports the model and hands its text, locations included, to the regular
/// driver, so every mlir-opt option behaves as on a .mlir file.
static LogicalResult runOnONNX(StringRef inputFilename,
                               StringRef outputFilename,
                               DialectRegistry &registry) {
  attnres::ONNXImportOptions options;
  options.entryName = entryName;
  for (const std::string &spec : inputShapes) {
    std::string error = attnres::parseInputShapeSpec(spec, options);
    if (!error.empty()) {
      llvm::errs() << "attnres-opt: --input-shape: " << error << "\n";
      return failure();
    }
  }
  std::string text;
  {
    MLIRContext context(registry);
    llvm::SourceMgr sourceMgr;
    SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
    OwningOpRef<ModuleOp> module =
        attnres::importONNXFile(inputFilename, &context, options);
    if (!module)
      return failure();
    llvm::raw_string_ostream os(text);
    module->print(os, OpPrintingFlags().enableDebugInfo(true, false));
  }
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << "attnres-opt: " << error << "\n";
    return failure();
  }
  auto config = MlirOptMainConfig::createFromCLOptions();
  if (failed(
          MlirOptMain(output->os(),
                      llvm::MemoryBuffer::getMemBufferCopy(text, inputFilename),
                      registry, config)))
    return failure();
  output->keep();
  return success();
}

int main(int argc, char **argv) {
  registerAllPasses();
  attnres::registerAllPasses();
  attnres::registerAllPipelines();

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  attnres::registerAllDialects(registry);

  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv,
      "attnres optimizer driver: runs passes on .mlir files, and on .onnx "
      "models after importing them\n",
      registry);
  if (StringRef(inputFilename).ends_with(".onnx"))
    return asMainReturnCode(runOnONNX(inputFilename, outputFilename, registry));
  return asMainReturnCode(
      MlirOptMain(argc, argv, inputFilename, outputFilename, registry));
}
