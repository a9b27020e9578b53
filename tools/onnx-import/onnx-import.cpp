//===- onnx-import.cpp - Translate an ONNX model to MLIR ------------------===//
//
// Command-line front end of the ONNX importer library: reads a .onnx file,
// writes the imported module (func + TOSA/linalg/attnres) as MLIR text.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/ONNX/ONNXImport.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("onnx-import options");

static cl::opt<std::string>
    inputFilename(cl::Positional, cl::desc("<model.onnx>"), cl::cat(category));

static cl::opt<bool> listOps(
    "list-ops",
    cl::desc("Print the table of supported ONNX ops and opsets (Markdown) "
             "and exit"),
    cl::init(false), cl::cat(category));

static cl::opt<std::string>
    outputFilename("o",
                   cl::desc("Output file (default: standard output); "
                            "written only when the import succeeds"),
                   cl::value_desc("file"), cl::init("-"), cl::cat(category));

static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix the shape of a graph input, e.g. input_ids=1x16 (use ? to "
             "keep a dimension dynamic, 'scalar' for rank 0); repeatable"),
    cl::value_desc("NAME=DIMS"), cl::cat(category));
static cl::list<std::string> maxDims("max-dims",
                                     cl::desc(attnres::kMaxDimsHelp),
                                     cl::value_desc("NAME=BOUND,..."),
                                     cl::CommaSeparated, cl::cat(category));

static cl::opt<std::string> entryName("entry",
                                      cl::desc("Name of the imported function"),
                                      cl::value_desc("name"), cl::init("main"),
                                      cl::cat(category));

static cl::opt<unsigned> resourceThreshold(
    "resource-threshold",
    cl::desc("Store initializers of at least this many bytes as "
             "dense_resource blobs instead of inline dense attributes"),
    cl::value_desc("bytes"), cl::init(64 * 1024), cl::cat(category));

static cl::opt<bool> printLocations(
    "print-locations",
    cl::desc("Print the ONNX node names as MLIR locations (loc(\"...\"))"),
    cl::init(true), cl::cat(category));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "onnx-import: translate an ONNX model into MLIR (func + TOSA, with "
      "linalg/tensor/arith where TOSA has no fitting op, and "
      "attnres.rms_norm)\n");

  if (listOps) {
    llvm::outs() << attnres::getONNXOpCoverageTable();
    return 0;
  }
  if (inputFilename.empty()) {
    llvm::errs() << "onnx-import: no input model (see --help)\n";
    return 1;
  }

  attnres::ONNXImportOptions options;
  options.entryName = entryName;
  options.resourceThresholdBytes = resourceThreshold;
  for (const std::string &spec : inputShapes) {
    std::string error = attnres::parseInputShapeSpec(spec, options);
    if (!error.empty()) {
      llvm::errs() << "onnx-import: --input-shape: " << error << "\n";
      return 1;
    }
  }
  for (const std::string &spec : maxDims) {
    std::string error = attnres::parseMaxDimsSpec(spec, options);
    if (!error.empty()) {
      llvm::errs() << "onnx-import: --max-dims: " << error << "\n";
      return 1;
    }
  }

  MLIRContext context;
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      attnres::importONNXFile(inputFilename, &context, options);
  if (!module)
    return 1;

  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << "onnx-import: " << error << "\n";
    return 1;
  }
  OpPrintingFlags flags;
  if (printLocations)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  module->print(output->os(), flags);
  output->os() << "\n";
  output->keep();
  return 0;
}
