//===- attnres-run.cpp - Compile and run a model on the CPU ---------------===//
//
// attnres-run MODEL.{onnx,mlir} --inputs in.npz --outputs out.npz: imports
// the model if needed, lowers it with the CPU pipeline, JIT-compiles it, runs
// it on the inputs and writes the outputs under the graph's output names.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResDialect.h"
#include "attnres/Pipelines/Pipelines.h"
#include "attnres/Runtime/CPUExecutor.h"
#include "attnres/Target/ONNX/ONNXImport.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>
#include <cstring>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("attnres-run options");
static cl::opt<std::string> modelPath(cl::Positional,
                                      cl::desc("<model.onnx | model.mlir>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string>
    inputsPath("inputs",
               cl::desc("Inputs as a .npz archive, one array per graph input "
                        "name (np.savez(path, input_ids=...))"),
               cl::value_desc("file.npz"), cl::Required, cl::cat(category));
static cl::opt<std::string>
    outputsPath("outputs",
                cl::desc("Where to write the outputs (.npz, named as the "
                         "graph's outputs); nothing is written on failure"),
                cl::value_desc("file.npz"), cl::cat(category));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix a dynamic input shape of a .onnx model (NAME=1x16); "
             "without it, dynamic dims take the shapes of the given inputs"),
    cl::value_desc("NAME=DIMS"), cl::cat(category));
static cl::opt<std::string> entryName("entry", cl::desc("Function to run"),
                                      cl::init("main"), cl::cat(category));
static cl::opt<std::string> pipeline(
    "pipeline",
    cl::desc("Textual pass pipeline replacing the default lowering, e.g. "
             "'builtin.module(attnres-cpu-pipeline{blas=false})'"),
    cl::value_desc("pipeline"), cl::init(""), cl::cat(category));
static cl::opt<bool>
    printTiming("print-timing",
                cl::desc("Report compile time and run time on stderr"),
                cl::init(false), cl::cat(category));
static cl::opt<unsigned> repeat(
    "repeat",
    cl::desc("Run N times (after one warm-up run when N > 1) and report the "
             "mean and best run time with --print-timing"),
    cl::init(1), cl::cat(category));

static cl::opt<unsigned> optLevel(
    "opt-level",
    cl::desc("LLVM optimization and code generation level of the JIT, 0 to "
             "3; 2 by default: half the compile time of 3 on deep models "
             "for the same run time (bench/RESULTS.md)"),
    cl::init(2), cl::cat(category));
static cl::opt<std::string> dumpDepthWeights(
    "dump-depth-weights",
    cl::desc("Also write the softmax weights over depth of every "
             "aggregation (attnres.block_attn_res, after raising) to this "
             ".npz: 'aggregation_<k>' float32[n] over its n sources, "
             "averaged over tokens (see --per-token). Without --pipeline the "
             "model is raised and its weights exposed "
             "(--attnres-expose-depth-weights) before the CPU pipeline; "
             "with --pipeline the input must already return them (run "
             "attnres-opt --attnres-expose-depth-weights first)"),
    cl::value_desc("npz"), cl::init(""), cl::cat(category));
static cl::opt<bool>
    perToken("per-token",
             cl::desc("With --dump-depth-weights: keep every token's "
                      "weights, float32[n, tokens...]"),
             cl::init(false), cl::cat(category));

/// The prefix of the results --attnres-expose-depth-weights adds.
static constexpr llvm::StringLiteral kDepthWeightsPrefix =
    "attnres.depth_weights.";

/// float32[n, tokens...] to float32[n], the mean over tokens.
static attnres::HostArray averageOverTokens(const attnres::HostArray &in) {
  attnres::HostArray out;
  out.dtype = attnres::DType::F32;
  int64_t sources = in.shape.empty() ? 1 : in.shape.front();
  int64_t tokens = sources ? in.numElements() / sources : 0;
  out.shape = {sources};
  out.data.resize(sources * sizeof(float));
  for (int64_t i = 0; i < sources; ++i) {
    double sum = 0;
    for (int64_t t = 0; t < tokens; ++t) {
      float v;
      std::memcpy(&v, in.data.data() + (i * tokens + t) * sizeof(float),
                  sizeof(float));
      sum += v;
    }
    float mean = tokens ? float(sum / double(tokens)) : 0.0f;
    std::memcpy(out.data.data() + i * sizeof(float), &mean, sizeof(float));
  }
  return out;
}

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attnres-run: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  attnres::registerAttnResConversionPasses();
  attnres::registerAttnResPipelines();
  attnres::registerAttnResTransformsPasses();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attnres-run: compile a model for the CPU and run it on .npz inputs\n");
  if (repeat == 0)
    return fail("--repeat must be at least 1");

  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };

  llvm::Expected<attnres::NamedArrays> inputs = attnres::readNpz(inputsPath);
  if (!inputs)
    return fail(llvm::toString(inputs.takeError()));

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<attnres::AttnResDialect>();
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  auto start = Clock::now();
  OwningOpRef<ModuleOp> module;
  if (StringRef(modelPath).ends_with(".onnx")) {
    attnres::ONNXImportOptions options;
    options.entryName = entryName;
    for (const std::string &spec : inputShapes) {
      std::string error = attnres::parseInputShapeSpec(spec, options);
      if (!error.empty())
        return fail("--input-shape: " + error);
    }
    // Dynamic dims take the shapes of the arrays the user passed.
    for (const auto &[name, array] : *inputs)
      options.inputShapeHints[name] =
          llvm::SmallVector<int64_t>(array.shape.begin(), array.shape.end());
    module = attnres::importONNXFile(modelPath, &context, options);
  } else {
    module = parseSourceFile<ModuleOp>(modelPath, sourceMgr, &context);
  }
  if (!module)
    return 1;
  std::string lowering = pipeline;
  if (!dumpDepthWeights.empty() && lowering.empty()) {
    // The executor reads the entry's signature before lowering, so the
    // weights become results here, before it is created.
    PassManager expose(&context);
    OpPassManager &fn = expose.nest<func::FuncOp>();
    fn.addPass(attnres::createRaiseNorms());
    fn.addPass(attnres::createRaiseAggregation());
    expose.addPass(attnres::createExposeDepthWeights());
    if (failed(expose.run(*module)))
      return fail("raising the model to expose its depth weights failed");
    lowering = "builtin.module(attnres-cpu-pipeline{raise=false})";
  }
  auto executor =
      attnres::CPUExecutor::create(*module, entryName, lowering, optLevel);
  if (!executor)
    return fail(llvm::toString(executor.takeError()));
  double compileSeconds = seconds(Clock::now() - start);

  std::vector<attnres::HostArray> outputs;
  double total = 0, best = 1e30;
  unsigned runs = repeat > 1 ? repeat + 1 : 1;
  for (unsigned i = 0; i < runs; ++i) {
    auto begin = Clock::now();
    auto result = (*executor)->run(*inputs);
    double elapsed = seconds(Clock::now() - begin);
    if (!result)
      return fail(llvm::toString(result.takeError()));
    outputs = std::move(*result);
    if (runs > 1 && i == 0)
      continue; // warm-up
    total += elapsed;
    best = std::min(best, elapsed);
  }
  if (printTiming)
    llvm::errs() << llvm::format(
        "attnres-run: compile %.3f s, run %.3f ms (mean of %u), best %.3f ms\n",
        compileSeconds, 1e3 * total / repeat, unsigned(repeat), 1e3 * best);

  attnres::NamedArrays named, weights;
  for (auto [sig, array] : llvm::zip((*executor)->outputs(), outputs)) {
    StringRef name(sig.name);
    if (name.starts_with(kDepthWeightsPrefix)) {
      std::string key =
          ("aggregation_" + name.drop_front(kDepthWeightsPrefix.size())).str();
      weights.emplace_back(key, perToken ? std::move(array)
                                         : averageOverTokens(array));
      continue;
    }
    named.emplace_back(sig.name, std::move(array));
  }
  if (!dumpDepthWeights.empty()) {
    if (weights.empty())
      return fail("--dump-depth-weights: the model has no depth aggregation "
                  "(attnres.block_attn_res) after raising; a standard model "
                  "needs --attnres-residual-to-block in a --pipeline");
    if (llvm::Error error = attnres::writeNpz(dumpDepthWeights, weights))
      return fail(llvm::toString(std::move(error)));
  }
  if (!outputsPath.empty()) {
    if (llvm::Error error = attnres::writeNpz(outputsPath, named))
      return fail(llvm::toString(std::move(error)));
  }
  return 0;
}
