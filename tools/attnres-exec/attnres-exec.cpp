//===- attnres-exec.cpp - Run an artifact with nothing but the runtime ----===//
//
// attnres-run compiles as well as runs, so it needs MLIR and LLVM; a GPU
// machine or a deployment has neither. This runs what attnres-compile made,
// linking only libattnres_runtime: .npz in, .npz out, repeated runs and
// their timing.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Model.h"
#include "attnres/Runtime/Npz.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace mlir::attnres::npz;

namespace {

const char *const kUsage =
    R"(attnres-exec: run a model compiled by attnres-compile, with only the
attnres runtime (no MLIR or LLVM: what a GPU machine or a deployment has)

USAGE: attnres-exec MODEL.so --inputs IN.npz [options]

OPTIONS:
  --inputs=FILE.npz   the inputs, one array per graph input name
                      (np.savez(path, input_ids=...)); required
  --outputs=FILE.npz  where to write the outputs, named as the graph's
                      outputs; nothing is written on failure
  --repeat=N          run N times, after one warm-up run when N > 1
                      (default 1)
  --threads=N         threads of a CPU model's parallel loops and matrix
                      products; 0 (the default) leaves the runtime's choice
                      (OPENBLAS_NUM_THREADS, else all cores)
  --device=cpu|cuda   check that the model runs there (a model runs where
                      it was compiled for)
  --print-timing      report load time and the mean and best run time on
                      stderr
  --help              this text

Environment: as attnres-run (ATTNRES_LIBCUDA, ATTNRES_CUDA_DEVICE,
ATTNRES_CUBLAS, ATTNRES_BLAS, OPENBLAS_NUM_THREADS).
)";

int fail(const std::string &message) {
  std::fprintf(stderr, "attnres-exec: error: %s\n", message.c_str());
  return 1;
}

struct ModelDeleter {
  void operator()(attnres_model *m) const { attnres_model_destroy(m); }
};

/// Parses a count option's value; false on anything but digits.
bool parseCount(const std::string &text, long long &value) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), ::isdigit))
    return false;
  value = std::atoll(text.c_str());
  return true;
}

} // namespace

int main(int argc, char **argv) {
  std::string modelPath, inputsPath, outputsPath, device;
  long long repeat = 1, threads = 0;
  bool printTiming = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // --name=value or --name value.
    auto value = [&](const char *name, std::string &out) {
      std::string prefix = std::string(name) + "=";
      if (arg.rfind(prefix, 0) == 0) {
        out = arg.substr(prefix.size());
        return true;
      }
      if (arg == name && i + 1 < argc) {
        out = argv[++i];
        return true;
      }
      return false;
    };
    std::string text;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--print-timing") {
      printTiming = true;
    } else if (value("--inputs", inputsPath) ||
               value("--outputs", outputsPath) || value("--device", device)) {
    } else if (value("--repeat", text)) {
      if (!parseCount(text, repeat) || repeat < 1)
        return fail("--repeat must be a count of at least 1, got '" + text +
                    "'");
    } else if (value("--threads", text)) {
      if (!parseCount(text, threads) || threads > 4096)
        return fail("--threads must be a count up to 4096, got '" + text + "'");
    } else if (arg.rfind("-", 0) == 0) {
      return fail("unknown option '" + arg + "' (see --help)");
    } else if (modelPath.empty()) {
      modelPath = arg;
    } else {
      return fail("more than one model: '" + modelPath + "' and '" + arg + "'");
    }
  }
  if (modelPath.empty())
    return fail("no model given (see --help)");
  if (inputsPath.empty())
    return fail("no --inputs given: the model's inputs as a .npz");
  if (!device.empty() && device != "cpu" && device != "cuda")
    return fail("unknown --device=" + device + " (cpu or cuda)");

  std::string bytes;
  NamedArrays inputs;
  if (std::string error = readFile(inputsPath, bytes); !error.empty())
    return fail(error);
  if (std::string error = parseNpz(bytes, inputsPath, inputs); !error.empty())
    return fail(error);

  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  auto loadStart = Clock::now();
  std::unique_ptr<attnres_model, ModelDeleter> model(
      attnres_model_load(modelPath.c_str()));
  if (!model)
    return fail(attnres_last_error());
  double loadSeconds = seconds(Clock::now() - loadStart);
  std::string where = attnres_model_device(model.get());
  if (!device.empty() && device != where)
    return fail(
        "'" + modelPath + "' runs on " + where + ", not on --device=" + device +
        (where == "cuda" ? " (it was compiled with --target=cuda)"
                         : " (compile it with attnres-compile --target=cuda)"));

  std::vector<attnres_tensor> ordered;
  if (std::string error = orderInputs(model.get(), inputs, ordered);
      !error.empty())
    return fail(inputsPath + ": " + error);

  if (threads)
    attnres_set_num_threads(int(threads));
  int numOutputs = attnres_model_num_outputs(model.get());
  std::vector<attnres_tensor> results(numOutputs);
  double total = 0, best = 1e30;
  long long runs = repeat > 1 ? repeat + 1 : 1;
  for (long long r = 0; r < runs; ++r) {
    for (attnres_tensor &t : results)
      attnres_tensor_free(&t);
    auto begin = Clock::now();
    int status = attnres_model_run(model.get(), ordered.data(), results.data());
    double elapsed = seconds(Clock::now() - begin);
    if (status)
      return fail(attnres_last_error());
    if (runs > 1 && r == 0)
      continue; // warm-up
    total += elapsed;
    best = std::min(best, elapsed);
  }
  if (printTiming)
    std::fprintf(stderr,
                 "attnres-exec: load %.3f s (%s), run %.3f ms (mean of %lld), "
                 "best %.3f ms\n",
                 loadSeconds, where.c_str(), 1e3 * total / double(repeat),
                 repeat, 1e3 * best);

  NamedArrays named;
  for (int i = 0; i < numOutputs; ++i)
    named.emplace_back(attnres_model_output(model.get(), i)->name,
                       takeTensor(results[i]));
  if (outputsPath.empty())
    return 0;
  std::string archive;
  if (std::string error = serializeNpz(named, archive); !error.empty())
    return fail(error);
  // Written beside, then renamed: a failed write leaves no partial file.
  std::string partial = outputsPath + ".partial";
  if (std::string error = writeFile(partial, archive); !error.empty()) {
    std::remove(partial.c_str());
    return fail(error);
  }
  if (std::rename(partial.c_str(), outputsPath.c_str()) != 0) {
    std::remove(partial.c_str());
    return fail("cannot write '" + outputsPath + "': " + std::strerror(errno));
  }
  return 0;
}
