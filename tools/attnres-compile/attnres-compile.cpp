//===- attnres-compile.cpp - Compile a model into a shared library --------===//
//
// attnres-compile MODEL.{onnx,mlir} -o model.so: imports the model if
// needed, lowers it with the CPU pipeline and writes a shared library that
// libattnres_runtime loads (attnres-run model.so, or the C ABI of
// attnres/Runtime/Model.h). The output is written whole or not at all.
//
//===----------------------------------------------------------------------===//

#include "attnres/InitAttnRes.h"
#include "attnres/Target/Artifact/Artifact.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("attnres-compile options");
static cl::opt<std::string> modelPath(cl::Positional,
                                      cl::desc("<model.onnx | model.mlir>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputPath("o",
                                       cl::desc("The shared library to write"),
                                       cl::value_desc("model.so"), cl::Required,
                                       cl::cat(category));
static cl::opt<std::string>
    target("target",
           cl::desc("What to generate code for: cpu (the default), or cuda: "
                    "the model's kernels as cubins embedded in the library, "
                    "launched through the runtime on a CUDA device "
                    "(attnres-compile needs the CUDA toolkit's ptxas: "
                    "CUDA_HOME, else /usr/local/cuda)"),
           cl::init("cpu"), cl::cat(category));
static cl::opt<std::string>
    chip("chip",
         cl::desc("With --target=cuda: the GPU architecture of the cubins "
                  "(sm_80, sm_90, ...)"),
         cl::init("sm_90"), cl::cat(category));
static cl::opt<std::string> cudaPath(
    "cuda-path",
    cl::desc("With --target=cuda: the CUDA toolkit whose ptxas and libdevice "
             "compile the kernels; default $CUDA_ROOT, $CUDA_HOME or "
             "$CUDA_PATH, else the folder above the ptxas in PATH, else "
             "/usr/local/cuda"),
    cl::value_desc("dir"), cl::init(""), cl::cat(category));
static cl::opt<std::string>
    features("features",
             cl::desc("With --target=cuda: the PTX features, e.g. +ptx80 (the "
                      "default; sm_80 also takes +ptx70)"),
             cl::init("+ptx80"), cl::cat(category));
static cl::opt<std::string>
    cpu("cpu",
        cl::desc("The CPU to tune and select instructions for: native (this "
                 "machine's, the default) or an LLVM CPU name such as "
                 "x86-64-v3 for an artifact that runs on other machines"),
        cl::init("native"), cl::cat(category));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Specialise a dynamic input shape of a .onnx model "
             "(NAME=1x16; '?' keeps a dim dynamic). Without it the artifact "
             "takes every size its dynamic dims allow; fixing them lets the "
             "compiler fold shape arithmetic and size loops statically, "
             "worth it for a model that only ever sees one shape"),
    cl::value_desc("NAME=DIMS"), cl::cat(category));
static cl::list<std::string> maxDims("max-dims",
                                     cl::desc(attnres::kMaxDimsHelp),
                                     cl::value_desc("NAME=BOUND,..."),
                                     cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string> entryName("entry", cl::desc("Function to compile"),
                                      cl::init("main"), cl::cat(category));
static cl::opt<std::string> pipeline(
    "pipeline",
    cl::desc("Textual pass pipeline replacing the default lowering, e.g. "
             "'builtin.module(attnres-cpu-pipeline{blas=false})'; with "
             "--target=cuda it must end in attnres-gpu-pipeline (whose "
             "options then replace --chip and --features)"),
    cl::value_desc("pipeline"), cl::init(""), cl::cat(category));
static cl::opt<unsigned> optLevel(
    "opt-level",
    cl::desc("LLVM optimization and code generation level, 0 to 3; 2 by "
             "default: half the compile time of 3 on deep models for the "
             "same run time (bench/RESULTS.md)"),
    cl::init(2), cl::cat(category));
static cl::opt<std::string>
    linker("linker",
           cl::desc("The C compiler driver that links the shared library"),
           cl::init("cc"), cl::cat(category));
static cl::opt<bool>
    printTiming("print-timing",
                cl::desc("Report the time of each stage on stderr"),
                cl::init(false), cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attnres-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  attnres::registerAllPasses();
  attnres::registerAllPipelines();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attnres-compile: compile a model into a shared library that "
      "libattnres_runtime runs\n\n"
      "  attnres-compile model.onnx -o model.so\n"
      "  attnres-run model.so --inputs in.npz --outputs out.npz\n"
      "  attnres-compile model.onnx --target=cuda --chip=sm_80 "
      "--features=+ptx70 -o model.so\n");
  if (target != "cpu" && target != "cuda")
    return fail("unknown --target=" + target + " (cpu or cuda)");
  std::string lowering = pipeline;
  if (target == "cuda") {
    unsigned version = 0;
    StringRef arch = StringRef(chip).consume_front("sm_")
                         ? StringRef(chip).drop_front(3)
                         : StringRef();
    arch.consume_back("a");
    if (arch.getAsInteger(10, version) || version < 70)
      return fail("--chip=" + chip +
                  " is not a CUDA architecture that the kernels support "
                  "(sm_70 or newer, as sm_80 or sm_90)");
    if (llvm::Error error = attnres::useCUDAToolkit(cudaPath))
      return fail(llvm::toString(std::move(error)));
    if (lowering.empty())
      lowering = "builtin.module(attnres-gpu-pipeline{chip=" + chip +
                 " features=" + features + "})";
  }
  if (optLevel > 3)
    return fail("--opt-level must be 0 to 3, got " + llvm::Twine(optLevel));

  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  };

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  attnres::registerAllDialects(registry);
  MLIRContext context(registry);
  // A failing GPU serialization would print the whole kernel module.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  attnres::ONNXImportOptions options;
  options.entryName = entryName;
  for (const std::string &spec : inputShapes) {
    std::string error = attnres::parseInputShapeSpec(spec, options);
    if (!error.empty())
      return fail("--input-shape: " + error);
  }
  for (const std::string &spec : maxDims) {
    std::string error = attnres::parseMaxDimsSpec(spec, options);
    if (!error.empty())
      return fail("--max-dims: " + error);
  }
  auto start = Clock::now();
  OwningOpRef<ModuleOp> module =
      attnres::loadModel(modelPath, &context, sourceMgr, options);
  if (!module)
    return 1;
  double importSeconds = seconds(start);

  auto lowerStart = Clock::now();
  auto signature = attnres::lowerForExecution(*module, entryName, lowering);
  if (!signature)
    return fail(llvm::toString(signature.takeError()));
  if (signature->needsCUDA != (target == "cuda"))
    return fail(signature->needsCUDA
                    ? "the --pipeline made GPU code; compile it with "
                      "--target=cuda"
                    : "the --pipeline made no GPU code for --target=cuda; "
                      "end it with attnres-gpu-pipeline");
  double lowerSeconds = seconds(lowerStart);

  auto codegenStart = Clock::now();
  attnres::SharedLibraryOptions libraryOptions;
  libraryOptions.optLevel = optLevel;
  libraryOptions.cpu = cpu;
  libraryOptions.linker = linker;
  if (llvm::Error error =
          attnres::writeSharedLibrary(*module, outputPath, libraryOptions))
    return fail(llvm::toString(std::move(error)));
  if (printTiming)
    llvm::errs() << llvm::format("attnres-compile: import %.3f s, lowering "
                                 "%.3f s, codegen %.3f s, total %.3f s\n",
                                 importSeconds, lowerSeconds,
                                 seconds(codegenStart), seconds(start));
  return 0;
}
