//===- Compiler.cpp - The compiler entry points of the Python package -----===//
//
// attnres-compile and attnres-convert as functions: one context each call,
// diagnostics collected into the returned message.
//
//===----------------------------------------------------------------------===//

#include "Compiler.h"

#include "attnres/InitAttnRes.h"
#include "attnres/Target/Artifact/Artifact.h"
#include "attnres/Target/ONNXConvert/ONNXConvert.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

using namespace mlir;

namespace {

/// Registers the passes and pipelines a textual pipeline may name, once per
/// process.
void registerEverything() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerAllPasses();
    mlir::attnres::registerAllPasses();
    mlir::attnres::registerAllPipelines();
  });
}

/// Collects a context's diagnostics as "file:line:col: error: message".
class Collector {
public:
  explicit Collector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          llvm::raw_string_ostream os(text);
          if (!text.empty())
            os << "\n";
          if (auto loc = dyn_cast<FileLineColLoc>(diag.getLocation()))
            os << loc.getFilename().getValue() << ": ";
          else if (auto name = dyn_cast<NameLoc>(diag.getLocation()))
            os << "'" << name.getName().getValue() << "': ";
          os << diag.str();
          for (const Diagnostic &note : diag.getNotes())
            os << "\n  note: " << note.str();
          return success();
        }) {}
  std::string take(const std::string &fallback) {
    return text.empty() ? fallback : text;
  }

private:
  std::string text;
  ScopedDiagnosticHandler handler;
};

} // namespace

std::string attnres_python::compileModel(
    const std::string &model, const std::string &output,
    const std::vector<std::string> &inputShapes, const std::string &rewrite) {
  registerEverything();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  mlir::attnres::registerAllDialects(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  Collector diagnostics(context);
  mlir::attnres::ONNXImportOptions options;
  for (const std::string &spec : inputShapes) {
    std::string error = mlir::attnres::parseInputShapeSpec(spec, options);
    if (!error.empty())
      return "input_shapes: " + error;
  }
  llvm::SourceMgr sourceMgr;
  OwningOpRef<ModuleOp> module =
      mlir::attnres::loadModel(model, &context, sourceMgr, options);
  if (!module)
    return diagnostics.take("cannot load '" + model + "'");
  if (!rewrite.empty()) {
    PassManager pm(&context);
    std::string error;
    llvm::raw_string_ostream os(error);
    if (failed(parsePassPipeline(rewrite, pm, os)))
      return "pipeline '" + rewrite + "': " + error;
    if (failed(pm.run(*module)))
      return diagnostics.take("the pipeline '" + rewrite + "' failed");
  }
  auto signature =
      mlir::attnres::lowerForExecution(*module, options.entryName, "");
  if (!signature)
    return diagnostics.take(llvm::toString(signature.takeError()));
  if (llvm::Error error = mlir::attnres::writeSharedLibrary(
          *module, output, mlir::attnres::SharedLibraryOptions()))
    return llvm::toString(std::move(error));
  return "";
}

std::string attnres_python::convertModel(
    const std::string &input, const std::string &output, unsigned numBlocks,
    const std::vector<unsigned> &blockSizes, const std::string &pseudoQueries,
    bool canonicalize, std::string &report) {
  DialectRegistry registry;
  mlir::attnres::registerONNXImportDialects(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  Collector diagnostics(context);
  mlir::attnres::ONNXConvertOptions options;
  options.blocks.numBlocks = numBlocks;
  options.blocks.blockSizes.assign(blockSizes.begin(), blockSizes.end());
  options.blocks.pseudoQueries = pseudoQueries;
  options.canonicalize = canonicalize;
  llvm::raw_string_ostream os(report);
  if (failed(mlir::attnres::convertONNXModel(input, output, &context, options,
                                             &os)))
    return diagnostics.take("cannot convert '" + input + "'");
  return "";
}
