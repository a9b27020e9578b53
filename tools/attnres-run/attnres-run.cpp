//===- attnres-run.cpp - Compile and run a model on the CPU ---------------===//
//
// attnres-run MODEL.{onnx,mlir,so} --inputs in.npz --outputs out.npz: runs
// an artifact of attnres-compile, or compiles the model into one kept in a
// cache (or JIT-compiles it with --no-cache), runs it on the inputs and
// writes the outputs under the graph's output names.
//
//===----------------------------------------------------------------------===//

#include "attnres/InitAttnRes.h"
#include "attnres/Executor/CPUExecutor.h"
#include "attnres/Runtime/CUDA.h"
#include "attnres/Target/Artifact/Artifact.h"
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
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include "CompileCache.h"

#include <chrono>
#include <cstring>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("attnres-run options");
static cl::opt<std::string>
    modelPath(cl::Positional,
              cl::desc("<model.onnx | model.mlir | model.so from "
                       "attnres-compile>"),
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
    cl::desc("Specialise a .onnx model to one input shape (NAME=1x16). "
             "Without it the model is compiled once with its dynamic dims "
             "and serves every shape; fixing them lets the compiler fold "
             "shape arithmetic and pick static tile sizes, worth it for a "
             "model that always sees one shape"),
    cl::value_desc("NAME=DIMS"), cl::cat(category));
static cl::list<std::string> maxDims("max-dims",
                                     cl::desc(attnres::kMaxDimsHelp),
                                     cl::value_desc("NAME=BOUND,..."),
                                     cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string> entryName("entry", cl::desc("Function to run"),
                                      cl::init("main"), cl::cat(category));
static cl::opt<std::string> pipeline(
    "pipeline",
    cl::desc("Textual pass pipeline replacing the default lowering, e.g. "
             "'builtin.module(attnres-cpu-pipeline{blas=false})'; compiled "
             "with the JIT, never cached, since passes may read files"),
    cl::value_desc("pipeline"), cl::init(""), cl::cat(category));
static cl::opt<bool>
    printTiming("print-timing",
                cl::desc("Report compile time, run time and the weights "
                         "packed for the matrix products on stderr"),
                cl::init(false), cl::cat(category));
static cl::opt<unsigned> repeat(
    "repeat",
    cl::desc("Run N times (after one warm-up run when N > 1) and report the "
             "mean and best run time with --print-timing"),
    cl::init(1), cl::cat(category));

/// --threads. LLVM's ThinLTO code generator registers a hidden option of
/// that name, which attnres-run never uses; it is unregistered before this
/// one is made, or `--threads 1` would silently set it instead.
static cl::opt<unsigned> &threadsOption() {
  static cl::opt<unsigned> *option = [] {
    if (cl::Option *llvmOption = cl::getRegisteredOptions().lookup("threads"))
      llvmOption->removeArgument();
    return new cl::opt<unsigned>(
        "threads",
        cl::desc("Threads of a run, for its parallel loops and its matrix "
                 "products alike; 0, the default, takes OPENBLAS_NUM_THREADS "
                 "if set, else all cores. 1 gives single-thread figures"),
        cl::init(0), cl::cat(category));
  }();
  return *option;
}

static cl::opt<bool> noCache(
    "no-cache",
    cl::desc("Compile in this process with the JIT and write nothing, "
             "instead of compiling into the cache (--cache-dir) and running "
             "the cached shared library"),
    cl::init(false), cl::cat(category));
static cl::opt<std::string> cacheDir(
    "cache-dir",
    cl::desc("Where compiled models are kept, named by a hash of the model "
             "file, its external data, the options that change the code, "
             "and attnres-run itself; default $XDG_CACHE_HOME/attnres, else "
             "~/.cache/attnres"),
    cl::value_desc("dir"), cl::init(""), cl::cat(category));
static cl::opt<unsigned> cacheLimit(
    "cache-limit",
    cl::desc("Keep at most this many MiB of compiled models in the cache, "
             "removing the least recently used after each compile"),
    cl::value_desc("MiB"), cl::init(2048), cl::cat(category));
static cl::opt<std::string>
    cpu("cpu",
        cl::desc("The CPU to compile for: native (the default) or an LLVM "
                 "CPU name, as attnres-compile --cpu"),
        cl::init("native"), cl::cat(category));
static cl::opt<unsigned> optLevel(
    "opt-level",
    cl::desc("LLVM optimization and code generation level, 0 to "
             "3; 2 by default: half the compile time of 3 on deep models "
             "for the same run time (bench/RESULTS.md)"),
    cl::init(2), cl::cat(category));
static cl::opt<std::string> device(
    "device",
    cl::desc("Where to run: cpu, or cuda (compiled as attnres-compile "
             "--target=cuda, through the cache or, with --no-cache or "
             "--pipeline, into a temporary file). A .so runs where it was "
             "compiled for; --device only checks that"),
    cl::init(""), cl::cat(category));
static cl::opt<std::string>
    chip("chip",
         cl::desc("With --device=cuda: the GPU architecture to compile for, "
                  "as attnres-compile --chip; by default the device's "
                  "(ATTNRES_CUDA_DEVICE), else sm_90"),
         cl::init(""), cl::cat(category));
static cl::opt<std::string>
    features("features",
             cl::desc("With --device=cuda: the PTX features, as "
                      "attnres-compile --features"),
             cl::init("+ptx80"), cl::cat(category));
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
  attnres::registerAllPasses();
  attnres::registerAllPipelines();
  threadsOption();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attnres-run: run a model on .npz inputs, on the CPU or a CUDA "
      "device: a .so from attnres-compile, or a .onnx/.mlir model compiled "
      "into a cache (--cache-dir) or with the JIT (--no-cache)\n\n"
      "Environment:\n"
      "  ATTNRES_BLAS=PATH     the BLAS library with cblas_sgemm (default: "
      "OpenBLAS's usual names)\n"
      "  ATTNRES_ONEDNN=0      products by the model's weights in BLAS too, "
      "not in oneDNN on copies packed once\n"
      "  OPENBLAS_NUM_THREADS  the default of --threads\n"
      "  OPENBLAS_CORETYPE     OpenBLAS's kernels (default: chosen from the "
      "CPU's instruction set)\n"
      "  ATTNRES_LIBCUDA=PATH  the CUDA driver (default libcuda.so.1)\n"
      "  ATTNRES_CUDA_DEVICE=N the CUDA device (default 0)\n"
      "  CUDA_HOME             the CUDA toolkit that compiles for "
      "--device=cuda\n");
  if (repeat == 0)
    return fail("--repeat must be at least 1");
  if (!device.empty() && device != "cpu" && device != "cuda")
    return fail("unknown --device=" + device + " (cpu or cuda)");
  bool cuda = device == "cuda";
  if (cuda && chip.empty()) {
    int capability = attnres_cuda_compute_capability();
    chip = "sm_" + std::to_string(capability ? capability : 90);
  }

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
  attnres::registerAllDialects(registry);
  MLIRContext context(registry);
  // A failing GPU serialization would print the whole kernel module.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  auto start = Clock::now();
  std::unique_ptr<attnres::CPUExecutor> executor;
  // How the model was compiled, for --print-timing.
  std::string how;
  if (StringRef(modelPath).ends_with(".so")) {
    if (!pipeline.empty() || !inputShapes.empty() || !maxDims.empty())
      return fail("a .so is already compiled: --pipeline, --input-shape and "
                  "--max-dims apply when it is made (attnres-compile)");
    auto loaded = attnres::CPUExecutor::load(modelPath);
    if (!loaded)
      return fail(llvm::toString(loaded.takeError()));
    executor = std::move(*loaded);
    how = "artifact";
  } else {
    attnres::ONNXImportOptions options;
    options.entryName = entryName;
    std::vector<std::string> keyOptions = {
        "entry=" + entryName, "opt-level=" + std::to_string(optLevel),
        // A cache shared by machines (a network home) must not hand one
        // machine's native code to another.
        "cpu=" + (cpu == "native" ? attnres::hostCPUDescription()
                                  : std::string(cpu)),
        "depth-weights=" + std::to_string(!dumpDepthWeights.empty()),
        "device=" +
            (cuda ? "cuda:" + chip + ":" + features : std::string("cpu"))};
    for (const std::string &spec : inputShapes) {
      std::string error = attnres::parseInputShapeSpec(spec, options);
      if (!error.empty())
        return fail("--input-shape: " + error);
      keyOptions.push_back("input-shape=" + spec);
    }
    for (const std::string &spec : maxDims) {
      std::string error = attnres::parseMaxDimsSpec(spec, options);
      if (!error.empty())
        return fail("--max-dims: " + error);
      keyOptions.push_back("max-dims=" + spec);
    }
    // The module to compile, and the pipeline to lower it with.
    std::string gpuOptions = "chip=" + chip + " features=" + features;
    std::string lowering = pipeline;
    if (cuda && pipeline.empty())
      lowering = "builtin.module(attnres-gpu-pipeline{" + gpuOptions + "})";
    auto prepare = [&]() -> OwningOpRef<ModuleOp> {
      // Only compiling needs the CUDA toolkit, not a cache hit.
      if (cuda)
        if (llvm::Error error = attnres::useCUDAToolkit("")) {
          fail(llvm::toString(std::move(error)));
          return nullptr;
        }
      OwningOpRef<ModuleOp> module =
          attnres::loadModel(modelPath, &context, sourceMgr, options);
      if (!module || dumpDepthWeights.empty() || !pipeline.empty())
        return module;
      // The runtime reads the entry's signature before lowering, so the
      // weights become results here.
      PassManager expose(&context);
      OpPassManager &fn = expose.nest<func::FuncOp>();
      fn.addPass(attnres::createRaiseNorms());
      fn.addPass(attnres::createRaiseAggregation());
      expose.addPass(attnres::createExposeDepthWeights());
      if (failed(expose.run(*module))) {
        llvm::errs() << "attnres-run: error: raising the model to expose its "
                        "depth weights failed\n";
        return nullptr;
      }
      lowering = cuda ? "builtin.module(attnres-gpu-pipeline{raise=false " +
                            gpuOptions + "})"
                      : "builtin.module(attnres-cpu-pipeline{raise=false})";
      return module;
    };

    // Compiles the model into a shared library at `path`; false once the
    // error is reported.
    auto writeArtifact = [&](StringRef path) {
      OwningOpRef<ModuleOp> module = prepare();
      if (!module)
        return false;
      auto signature = attnres::lowerForExecution(*module, entryName, lowering);
      if (!signature) {
        fail(llvm::toString(signature.takeError()));
        return false;
      }
      attnres::SharedLibraryOptions libraryOptions;
      libraryOptions.optLevel = optLevel;
      libraryOptions.cpu = cpu;
      if (llvm::Error error =
              attnres::writeSharedLibrary(*module, path, libraryOptions)) {
        fail(llvm::toString(std::move(error)));
        return false;
      }
      return true;
    };

    std::string dir =
        cacheDir.empty() ? attnres::defaultCacheDir() : std::string(cacheDir);
    if (!noCache && dir.empty())
      llvm::errs() << "attnres-run: warning: neither XDG_CACHE_HOME nor HOME "
                      "is set and no --cache-dir is given; compiling "
                      "without a cache\n";
    // A --pipeline may read files (pseudo-queries) that the key cannot
    // see, so it is compiled afresh every time.
    if ((noCache || dir.empty() || !pipeline.empty()) && cuda) {
      // CUDA code runs from an artifact only (its weights must be copied to
      // the device): one in a temporary file, removed once loaded.
      llvm::SmallString<256> temporary;
      if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
              "attnres-run", "so", temporary))
        return fail("cannot create a temporary file: " + ec.message());
      llvm::FileRemover remover(temporary);
      if (!writeArtifact(temporary))
        return 1;
      auto loaded = attnres::CPUExecutor::load(temporary);
      if (!loaded)
        return fail(llvm::toString(loaded.takeError()));
      executor = std::move(*loaded);
      how = "CUDA artifact, no cache";
    } else if (noCache || dir.empty() || !pipeline.empty()) {
      OwningOpRef<ModuleOp> module = prepare();
      if (!module)
        return 1;
      auto jit =
          attnres::CPUExecutor::create(*module, entryName, lowering, optLevel);
      if (!jit)
        return fail(llvm::toString(jit.takeError()));
      executor = std::move(*jit);
      how = pipeline.empty() ? "JIT, no cache" : "JIT, --pipeline: no cache";
    } else {
      auto key = attnres::cacheKey(modelPath, keyOptions);
      if (!key)
        return fail(llvm::toString(key.takeError()));
      if (std::error_code ec = llvm::sys::fs::create_directories(dir))
        return fail("cannot create the cache folder '" + dir +
                    "': " + ec.message() + " (see --cache-dir, --no-cache)");
      llvm::SmallString<256> entry(dir);
      llvm::sys::path::append(entry, *key + ".so");
      if (llvm::sys::fs::exists(entry)) {
        auto cached = attnres::CPUExecutor::load(entry);
        if (cached) {
          executor = std::move(*cached);
          attnres::touchCacheEntry(entry);
          how = "cache hit";
        } else {
          llvm::errs() << "attnres-run: warning: discarding the damaged cache "
                          "entry: "
                       << llvm::toString(cached.takeError()) << "\n";
          llvm::sys::fs::remove(entry);
        }
      }
      if (!executor) {
        if (!writeArtifact(entry))
          return 1;
        attnres::pruneCache(dir, uint64_t(cacheLimit) << 20, entry);
        auto compiled = attnres::CPUExecutor::load(entry);
        if (!compiled)
          return fail(llvm::toString(compiled.takeError()));
        executor = std::move(*compiled);
        how = "cache miss";
      }
    }
  }
  double compileSeconds = seconds(Clock::now() - start);
  if (!device.empty() && executor->device() != device)
    return fail("'" + modelPath + "' runs on " + executor->device() +
                ", not on --device=" + device +
                (executor->device() == "cuda"
                     ? " (it was compiled with --target=cuda)"
                     : " (compile it with attnres-compile --target=cuda)"));

  if (unsigned threads = threadsOption())
    attnres_set_num_threads(int(std::min<unsigned>(threads, 4096)));
  std::vector<attnres::HostArray> outputs;
  double total = 0, best = 1e30;
  unsigned runs = repeat > 1 ? repeat + 1 : 1;
  for (unsigned i = 0; i < runs; ++i) {
    auto begin = Clock::now();
    auto result = executor->run(*inputs);
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
        "attnres-run: compile %.3f s (%s), run %.3f ms (mean of %u), best "
        "%.3f ms\n",
        compileSeconds, how.c_str(), 1e3 * total / repeat, unsigned(repeat),
        1e3 * best);
  if (printTiming)
    llvm::errs() << llvm::format(
        "attnres-run: weights packed for the matrix products: %.2f MiB\n",
        double(executor->packedWeightBytes()) / (1 << 20));

  attnres::NamedArrays named, weights;
  for (auto [sig, array] : llvm::zip(executor->outputs(), outputs)) {
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
