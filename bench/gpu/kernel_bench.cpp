//===- kernel_bench.cpp - The attnres GPU kernels against copy and unfused ===//
//
// For a block of S layers over N = 8 completed blocks, times
//   fused:   one phase-1 kernel (every block read once for the S layers) and
//            S phase-2 kernels with the layer's RMSNorm (merged row unread);
//   unfused: per layer, the one-shot aggregation over the N blocks and the
//            partial sum, then a separate RMSNorm (what the pipeline emits
//            with two-phase=false fuse-norm=false);
//   copy:    a device-to-device copy, the bandwidth reference,
// all in this run. Each layer has its own partial sum, output and
// parameters, as in a model, so a shape's bytes are what a model moves;
// shapes whose bytes fit the L2 cache are marked so. Prints achieved GB/s
// (each byte read or written counted once), % of copy bandwidth, bytes per
// token and layer against the paper's (N/S + 5) D budget, the fused/unfused
// speed-up, and the decode latency (1 to 64 tokens): unsplit, with phase 1
// split across CTAs as --attnres-to-gpu does it below min-ctas rows (a row
// over up to 16 CTAs, a kernel of partial sums and one that finishes), and
// with phase 2 split too.
//
// Times come from CUDA events around many launches between two
// synchronizations, so host work does not count. Sections run quick-first,
// each within its own time budget, and a shape whose one run is slow is
// timed fewer times (a spilling kernel must not sink the whole slot); the
// output is line-buffered, so what was measured survives a timeout.
//
// Usage: attnres-gpu-bench KERNELS.ptx [--quick] [--budget SECONDS]
// Loads KERNELS.sm_XY.cubin beside the PTX when one matches the device
// (the driver's JIT takes seconds on megabytes of PTX), else the PTX.
//
//===----------------------------------------------------------------------===//

#include "KernelLaunch.h"
#include "attnres/Runtime/CUDA.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace attnres::gpu;

namespace {

constexpr int64_t kBlocks = 8;
/// Bytes under which a shape's working set may stay in an H100/H200's L2.
constexpr double kL2Bytes = 40e6;

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Device {
  std::unique_ptr<Kernels> kernels;
  void *stream;
  void *start, *stop;
};

/// A device buffer filled with a constant on the kernels' stream (the
/// kernels' speed does not depend on the values; the constant keeps the
/// softmax finite).
struct Tensor {
  Tensor(Device &dev, int64_t elements, int64_t elementBytes)
      : bytes(elements * elementBytes) {
    data = mgpuMemAlloc(bytes, dev.stream, /*isHostShared=*/false);
    if (elementBytes == 4) {
      float half = 0.5f;
      unsigned bits;
      std::memcpy(&bits, &half, 4);
      mgpuMemset32(data, bits, elements, dev.stream);
    } else {
      mgpuMemset16(data, 0x3f00, elements, dev.stream); // bf16 0.5
    }
  }
  ~Tensor() { mgpuMemFree(data, nullptr); }
  Tensor(const Tensor &) = delete;
  int64_t bytes;
  void *data;
};

/// Seconds per run of `run`: after a warm-up, `reps` runs between two
/// events, reps chosen so the timing takes about `seconds` (at least 3
/// runs, at most 200). Returns the warm-up's time too, for budgets.
template <typename Fn>
double timeIt(Device &dev, double seconds, Fn run, double *warmup = nullptr) {
  mgpuEventRecord(dev.start, dev.stream);
  run();
  mgpuEventRecord(dev.stop, dev.stream);
  double once = attnres_cuda_elapsed_ms(dev.start, dev.stop) / 1e3;
  if (warmup)
    *warmup = once;
  int reps = std::clamp(int(seconds / std::max(once, 1e-6)), 3, 200);
  mgpuEventRecord(dev.start, dev.stream);
  for (int r = 0; r < reps; ++r)
    run();
  mgpuEventRecord(dev.stop, dev.stream);
  return attnres_cuda_elapsed_ms(dev.start, dev.stop) / 1e3 / reps;
}

double copyBandwidth(Device &dev) {
  const int64_t bytes = int64_t(2) << 30;
  Tensor a(dev, bytes / 4, 4), b(dev, bytes / 4, 4);
  double t =
      timeIt(dev, 0.3, [&] { mgpuMemcpy(b.data, a.data, bytes, dev.stream); });
  return 2.0 * bytes / t / 1e9;
}

struct Result {
  double fused, unfused;
  /// The slower warm-up of the two, seconds.
  double warmup;
};

/// CTAs per row of the fused block's split launches (see KernelLaunch.h's
/// splitCount); 1 launches the unsplit kernel.
struct Splits {
  int64_t phase1 = 1, phase2 = 1;
};

/// Times one block of `layers` layers over `tokens` tokens.
Result timeBlock(Device &dev, const std::string &dtype, int64_t dim,
                 int64_t layers, int64_t tokens, double seconds,
                 Splits splits = {}) {
  int64_t elt = dtype == "f32" ? 4 : 2;
  int64_t rowElems = tokens * dim;
  auto tensor = [&](int64_t elements, int64_t bytes) {
    return std::make_unique<Tensor>(dev, elements, bytes);
  };
  std::vector<std::unique_ptr<Tensor>> blocks, partials, normalized, queries,
      keys, gains;
  for (int64_t i = 0; i < kBlocks; ++i)
    blocks.push_back(tensor(rowElems, elt));
  // Phase 1 writes every layer's output and lse into one buffer each (layer
  // j's rows from j * tokens on), and takes each layer's query times key norm
  // in f32, which the lowering forms on the host side (a constant for a
  // model's weights): not timed here.
  auto outputs = tensor(layers * rowElems, elt);
  auto lses = tensor(layers * tokens, 4);
  auto products = tensor(layers * dim, 4);
  auto at = [](const std::unique_ptr<Tensor> &t, int64_t bytes) {
    return static_cast<void *>(static_cast<char *>(t->data) + bytes);
  };
  auto output = [&](int64_t j) { return at(outputs, j * rowElems * elt); };
  auto lse = [&](int64_t j) { return at(lses, j * tokens * 4); };
  for (int64_t j = 0; j < layers; ++j) {
    partials.push_back(tensor(rowElems, elt));
    normalized.push_back(tensor(rowElems, elt));
    queries.push_back(tensor(dim, elt));
    keys.push_back(tensor(dim, elt));
    gains.push_back(tensor(dim, elt));
  }
  std::string suffix = std::to_string(dim) + "x" + dtype;

  KernelArguments phase1;
  for (auto &b : blocks)
    phase1.rows(b->data, tokens, dim);
  phase1.rows(products->data, layers, dim);
  phase1.f32(1e-6f);
  phase1.rows(outputs->data, layers * tokens, dim);
  phase1.vector(lses->data, layers * tokens);
  auto phase2Arguments = [&](KernelArguments &a, int64_t j) {
    a.rows(output(j), tokens, dim);
    a.vector(lse(j), tokens);
    a.rows(partials[j]->data, tokens, dim);
    a.vector(queries[j]->data, dim);
    a.vector(keys[j]->data, dim);
    a.f32(1e-6f);
    a.vector(gains[j]->data, dim);
    a.f32(1e-5f);
    a.rows(normalized[j]->data, tokens, dim);
  };
  std::vector<KernelArguments> phase2(layers);
  for (int64_t j = 0; j < layers; ++j)
    phase2Arguments(phase2[j], j);
  std::string p1 = "phase1_" + suffix + "_n8_s" + std::to_string(layers);
  std::string p2 = "phase2_" + suffix + "_norm_only";

  // The split launches' workspaces of partial sums: phase 1's per row,
  // split and block (the squares and the layers' products), phase 2's per
  // row and split (four sums with the norm), one for every layer in turn.
  std::unique_ptr<Tensor> sums1, sums2;
  KernelArguments phase1Sums, phase1Finish;
  if (splits.phase1 > 1) {
    int64_t floats = tokens * splits.phase1 * kBlocks * (layers + 1);
    sums1 = tensor(floats, 4);
    for (auto &b : blocks) {
      phase1Sums.rows(b->data, tokens, dim);
      phase1Finish.rows(b->data, tokens, dim);
    }
    phase1Sums.rows(products->data, layers, dim);
    phase1Sums.vector(sums1->data, floats);
    phase1Finish.f32(1e-6f);
    phase1Finish.rows(outputs->data, layers * tokens, dim);
    phase1Finish.vector(lses->data, layers * tokens);
    phase1Finish.vector(sums1->data, floats);
  }
  std::vector<KernelArguments> phase2Sums(layers), phase2Finish(layers);
  if (splits.phase2 > 1) {
    int64_t floats = tokens * splits.phase2 * 4;
    sums2 = tensor(floats, 4);
    for (int64_t j = 0; j < layers; ++j) {
      KernelArguments &a = phase2Sums[j];
      a.rows(output(j), tokens, dim);
      a.rows(partials[j]->data, tokens, dim);
      a.vector(queries[j]->data, dim);
      a.vector(keys[j]->data, dim);
      a.vector(sums2->data, floats);
      phase2Arguments(phase2Finish[j], j);
      phase2Finish[j].vector(sums2->data, floats);
    }
  }
  std::string p1Sums = p1 + "_split_sums", p1Split = p1 + "_split";
  std::string p2Sums = "phase2_" + suffix + "_norm_split_sums";
  std::string p2Split = p2 + "_split";

  Result r;
  double warmFused, warmUnfused;
  r.fused = timeIt(
      dev, seconds,
      [&] {
        if (splits.phase1 == 1) {
          dev.kernels->launchRows(p1, tokens, 1, dev.stream, phase1);
        } else {
          dev.kernels->launchGrid(p1Sums, tokens, splits.phase1, kBlocks,
                                  dev.stream, phase1Sums);
          dev.kernels->launchGrid(p1Split, tokens, splits.phase1, 1, dev.stream,
                                  phase1Finish);
        }
        for (int64_t j = 0; j < layers; ++j) {
          if (splits.phase2 == 1) {
            dev.kernels->launchRows(p2, tokens, 1, dev.stream, phase2[j]);
            continue;
          }
          dev.kernels->launchGrid(p2Sums, tokens, splits.phase2, 1, dev.stream,
                                  phase2Sums[j]);
          dev.kernels->launchGrid(p2Split, tokens, splits.phase2, 1, dev.stream,
                                  phase2Finish[j]);
        }
      },
      &warmFused);

  // The unfused layer writes the aggregate into the output buffer phase 1
  // used: the same bytes, no more memory.
  std::vector<KernelArguments> aggregate(layers), norm(layers);
  for (int64_t j = 0; j < layers; ++j) {
    for (auto &b : blocks)
      aggregate[j].rows(b->data, tokens, dim);
    aggregate[j].rows(partials[j]->data, tokens, dim);
    aggregate[j].rows(at(products, j * dim * 4), 1, dim);
    aggregate[j].f32(1e-6f);
    aggregate[j].rows(output(j), tokens, dim);
    norm[j].rows(output(j), tokens, dim);
    norm[j].vector(gains[j]->data, dim);
    norm[j].rows(normalized[j]->data, tokens, dim);
    norm[j].f32(1e-5f);
  }
  std::string agg = "block_attn_res_" + suffix + "_n9";
  std::string rms = "rms_norm_" + suffix;
  r.unfused = timeIt(
      dev, seconds,
      [&] {
        for (int64_t j = 0; j < layers; ++j) {
          dev.kernels->launchRows(agg, tokens, 1, dev.stream, aggregate[j]);
          dev.kernels->launchRows(rms, tokens, 1, dev.stream, norm[j]);
        }
      },
      &warmUnfused);
  r.warmup = std::max(warmFused, warmUnfused);
  mgpuStreamSynchronize(dev.stream);
  return r;
}

/// Bytes a fused block moves: phase 1 reads N blocks and writes S outputs
/// and S lse; each phase 2 reads its state, lse and partial sum and writes
/// the normalized row.
double fusedBytes(int64_t elt, int64_t dim, int64_t layers, int64_t tokens) {
  return double(kBlocks + layers) * tokens * dim * elt + layers * tokens * 4.0 +
         layers * (3.0 * tokens * dim * elt + tokens * 4.0);
}

struct Shape {
  std::string dtype;
  int64_t dim, layers, tokens;
};

/// Times `shapes` in order until `budget` seconds are spent. A shape whose
/// warm-up alone took over `slow` seconds skips the larger token counts of
/// its (dtype, D, S).
void sweep(Device &dev, double copy, const char *title,
           const std::vector<Shape> &shapes, double budget, double slow) {
  std::printf("\n%s (budget %.0f s)\n", title, budget);
  std::printf("%-5s %5s %2s %6s %4s | %9s %7s %6s | %9s %7s | %9s %7s\n",
              "dtype", "D", "S", "tokens", "mem", "fused ms", "GB/s", "%copy",
              "unfus ms", "speedup", "B/tok/lay", "budget");
  auto start = Clock::now();
  std::vector<std::string> tooSlow;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape &s = shapes[i];
    std::string family =
        s.dtype + std::to_string(s.dim) + "s" + std::to_string(s.layers);
    if (std::find(tooSlow.begin(), tooSlow.end(), family) != tooSlow.end()) {
      std::printf("%-5s %5lld %2lld %6lld      | skipped: a smaller token "
                  "count was too slow\n",
                  s.dtype.c_str(), (long long)s.dim, (long long)s.layers,
                  (long long)s.tokens);
      continue;
    }
    if (secondsSince(start) > budget) {
      std::printf("(budget spent: %zu shapes not timed)\n", shapes.size() - i);
      return;
    }
    int64_t elt = s.dtype == "f32" ? 4 : 2;
    Result r = timeBlock(dev, s.dtype, s.dim, s.layers, s.tokens, 0.2);
    double bytes = fusedBytes(elt, s.dim, s.layers, s.tokens);
    double gbps = bytes / r.fused / 1e9;
    double perTokenLayer = bytes / s.tokens / s.layers / elt / s.dim;
    double paper = double(kBlocks) / s.layers + 5;
    std::printf("%-5s %5lld %2lld %6lld %4s | %9.3f %7.0f %5.1f%% | %9.3f "
                "%6.2fx | %7.2f D %5.2f D\n",
                s.dtype.c_str(), (long long)s.dim, (long long)s.layers,
                (long long)s.tokens, bytes <= kL2Bytes ? "L2" : "DRAM",
                r.fused * 1e3, gbps, 100 * gbps / copy, r.unfused * 1e3,
                r.unfused / r.fused, perTokenLayer, paper);
    if (r.warmup > slow)
      tooSlow.push_back(family);
  }
  std::printf("(section took %.0f s)\n", secondsSince(start));
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "";
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

int main(int argc, char **argv) {
  // Line-buffered even into a pipe: a timeout must not lose what was timed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const char *ptxPath = nullptr;
  bool quick = false;
  double budget = 150;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick")
      quick = true;
    else if (arg == "--budget" && i + 1 < argc)
      budget = std::atof(argv[++i]);
    else if (!ptxPath && arg[0] != '-')
      ptxPath = argv[i];
    else {
      std::fprintf(stderr, "attnres-gpu-bench: unknown argument '%s'\n",
                   arg.c_str());
      ptxPath = nullptr;
      break;
    }
  }
  if (!ptxPath) {
    std::fprintf(stderr, "usage: %s KERNELS.ptx [--quick] [--budget SECONDS]\n",
                 argv[0]);
    return 2;
  }
  char what[512];
  if (!attnres_cuda_available(what, sizeof(what))) {
    std::fprintf(stderr, "attnres-gpu-bench: %s\n", what);
    return 1;
  }
  std::printf("%s (sm_%d)\n", what, attnres_cuda_compute_capability());
  std::string ptx = readFile(ptxPath);
  if (ptx.empty()) {
    std::fprintf(stderr, "attnres-gpu-bench: cannot read %s\n", ptxPath);
    return 1;
  }
  std::string base(ptxPath);
  if (base.size() > 4 && base.substr(base.size() - 4) == ".ptx")
    base.resize(base.size() - 4);
  std::string cubinPath = base + ".sm_" +
                          std::to_string(attnres_cuda_compute_capability()) +
                          ".cubin";
  std::string cubin = readFile(cubinPath);
  std::printf("kernels: %s\n", cubin.empty() ? ptxPath : cubinPath.c_str());

  auto begin = Clock::now();
  Device dev;
  dev.kernels = std::make_unique<Kernels>(cubin.empty() ? ptx : cubin, ptx);
  dev.stream = mgpuStreamCreate();
  dev.start = attnres_cuda_timing_event_create();
  dev.stop = attnres_cuda_timing_event_create();

  double copy = copyBandwidth(dev);
  std::printf("device-to-device copy: %.0f GB/s\n", copy);

  // Quick first: one token count far larger than L2 at D = 4096, both
  // storage types; then decode; then the sweep, if asked and in budget.
  std::vector<Shape> first;
  for (std::string dtype : {"bf16", "f32"})
    for (int64_t layers : {2, 8})
      first.push_back({dtype, 4096, layers, 16384});
  sweep(dev, copy, "quick: D = 4096, 16384 tokens", first, budget / 3, 2.0);

  // Decode: the fused block unsplit, with phase 1 split across CTAs, and
  // with phase 2 split too, at the counts --attnres-to-gpu picks.
  std::printf("\ndecode (fused block of S = 8 layers; L2-resident), us per "
              "layer:\n");
  std::printf("%-5s %5s %6s %6s | %8s %9s %9s | %8s\n", "dtype", "D", "tokens",
              "splits", "unsplit", "split p1", "split all", "unfused");
  struct DecodeShape {
    const char *dtype;
    int64_t dim;
  };
  for (DecodeShape shape :
       {DecodeShape{"bf16", 4096}, {"bf16", 7168}, {"f32", 4096}}) {
    int64_t elt = std::string(shape.dtype) == "f32" ? 4 : 2;
    for (int64_t tokens : {1, 8, 64}) {
      int64_t count = splitCount(tokens, shape.dim, elt);
      Result plain = timeBlock(dev, shape.dtype, shape.dim, 8, tokens, 0.1);
      Result p1 = timeBlock(dev, shape.dtype, shape.dim, 8, tokens, 0.1,
                            Splits{count, 1});
      Result all = timeBlock(dev, shape.dtype, shape.dim, 8, tokens, 0.1,
                             Splits{count, count});
      std::printf("%-5s %5lld %6lld %6lld | %8.1f %9.1f %9.1f | %8.1f\n",
                  shape.dtype, (long long)shape.dim, (long long)tokens,
                  (long long)count, plain.fused * 1e6 / 8, p1.fused * 1e6 / 8,
                  all.fused * 1e6 / 8, plain.unfused * 1e6 / 8);
    }
  }

  if (!quick) {
    std::vector<Shape> shapes;
    for (std::string dtype : {"bf16", "f32"})
      for (int64_t dim : {2048, 4096, 7168})
        for (int64_t layers : {2, 4, 8, 16})
          for (int64_t tokens : {1024, 4096, 16384})
            shapes.push_back({dtype, dim, layers, tokens});
    double left = budget - secondsSince(begin);
    sweep(dev, copy, "sweep", shapes, std::max(left, 0.0), 1.0);
  }
  std::printf("\ntotal %.0f s\n", secondsSince(begin));
  mgpuEventDestroy(dev.start);
  mgpuEventDestroy(dev.stop);
  mgpuStreamDestroy(dev.stream);
  dev.kernels.reset();
  return 0;
}
