//===- kernel_bench.cpp - The attnres GPU kernels against copy and unfused ===//
//
// For a block of S layers over N = 8 completed blocks, times
//   fused:   one phase-1 kernel (every block read once for the S layers) and
//            S phase-2 kernels with the layer's RMSNorm (merged row unread);
//   unfused: per layer, the one-shot aggregation over the N blocks and the
//            partial sum, then a separate RMSNorm (what the pipeline emits
//            with two-phase=false fuse-norm=false);
//   copy:    a device-to-device copy, the bandwidth reference,
// all in this run, on buffers far larger than L2. Prints achieved GB/s
// (each byte read or written counted once), % of copy bandwidth, bytes per
// token and layer against the paper's (N/S + 5) D budget, the fused/unfused
// speed-up, and the decode latency (1 to 64 tokens).
//
// Usage: attnres-gpu-bench KERNELS.ptx [--quick]
//
//===----------------------------------------------------------------------===//

#include "KernelLaunch.h"
#include "attnres/Runtime/CUDA.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace attnres::gpu;

namespace {

constexpr int64_t kBlocks = 8;

struct Device {
  void *module;
  std::string ptx;
  void *stream;
};

/// A device buffer filled with a constant (the kernels' speed does not depend
/// on the values; the constant keeps the softmax finite).
struct Tensor {
  Tensor(int64_t elements, int64_t elementBytes)
      : bytes(elements * elementBytes) {
    data = mgpuMemAlloc(bytes, nullptr, /*isHostShared=*/false);
    if (elementBytes == 4) {
      float half = 0.5f;
      unsigned bits;
      std::memcpy(&bits, &half, 4);
      mgpuMemset32(data, bits, elements, nullptr);
    } else {
      mgpuMemset16(data, 0x3f00, elements, nullptr); // bf16 0.5
    }
  }
  ~Tensor() { mgpuMemFree(data, nullptr); }
  Tensor(const Tensor &) = delete;
  int64_t bytes;
  void *data;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Median wall time of `run` (seconds) over `reps` runs after one warm-up.
template <typename Fn> double timeIt(Device &dev, int reps, Fn run) {
  run();
  mgpuStreamSynchronize(dev.stream);
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    auto start = std::chrono::steady_clock::now();
    run();
    mgpuStreamSynchronize(dev.stream);
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  return median(times);
}

double copyBandwidth(Device &dev) {
  const int64_t bytes = int64_t(4) << 30;
  Tensor a(bytes / 4, 4), b(bytes / 4, 4);
  double t =
      timeIt(dev, 5, [&] { mgpuMemcpy(b.data, a.data, bytes, dev.stream); });
  return 2.0 * bytes / t / 1e9;
}

struct Result {
  double fused, unfused;
};

/// Times one block of `layers` layers over `tokens` tokens.
Result timeBlock(Device &dev, const std::string &dtype, int64_t dim,
                 int64_t layers, int64_t tokens, int reps) {
  int64_t elt = dtype == "f32" ? 4 : 2;
  int64_t rowElems = tokens * dim;
  std::vector<std::unique_ptr<Tensor>> blocks, outputs, lses;
  for (int64_t i = 0; i < kBlocks; ++i)
    blocks.push_back(std::make_unique<Tensor>(rowElems, elt));
  for (int64_t j = 0; j < layers; ++j) {
    outputs.push_back(std::make_unique<Tensor>(rowElems, elt));
    lses.push_back(std::make_unique<Tensor>(tokens, 4));
  }
  Tensor partial(rowElems, elt), normalized(rowElems, elt),
      aggregated(rowElems, elt), vec(dim, elt);
  std::string suffix = std::to_string(dim) + "x" + dtype;

  KernelArguments phase1;
  for (auto &b : blocks)
    phase1.rows(b->data, tokens, dim);
  for (int64_t j = 0; j < 2 * layers; ++j)
    phase1.vector(vec.data, dim);
  phase1.f32(1e-6f);
  for (auto &o : outputs)
    phase1.rows(o->data, tokens, dim);
  for (auto &l : lses)
    phase1.vector(l->data, tokens);
  std::vector<KernelArguments> phase2(layers);
  for (int64_t j = 0; j < layers; ++j) {
    KernelArguments &a = phase2[j];
    a.rows(outputs[j]->data, tokens, dim);
    a.vector(lses[j]->data, tokens);
    a.rows(partial.data, tokens, dim);
    a.vector(vec.data, dim);
    a.vector(vec.data, dim);
    a.f32(1e-6f);
    a.vector(vec.data, dim);
    a.f32(1e-5f);
    a.rows(normalized.data, tokens, dim);
  }
  std::string p1 = "phase1_" + suffix + "_n8_s" + std::to_string(layers);
  std::string p2 = "phase2_" + suffix + "_norm_only";
  double fused = timeIt(dev, reps, [&] {
    launchRows(dev.module, dev.ptx, p1, tokens, 1, dev.stream, phase1);
    for (auto &a : phase2)
      launchRows(dev.module, dev.ptx, p2, tokens, 1, dev.stream, a);
  });

  KernelArguments aggregate, norm;
  for (auto &b : blocks)
    aggregate.rows(b->data, tokens, dim);
  aggregate.rows(partial.data, tokens, dim);
  aggregate.vector(vec.data, dim);
  aggregate.vector(vec.data, dim);
  aggregate.f32(1e-6f);
  aggregate.rows(aggregated.data, tokens, dim);
  norm.rows(aggregated.data, tokens, dim);
  norm.vector(vec.data, dim);
  norm.rows(normalized.data, tokens, dim);
  norm.f32(1e-5f);
  std::string agg = "block_attn_res_" + suffix + "_n9";
  std::string rms = "rms_norm_" + suffix;
  double unfused = timeIt(dev, reps, [&] {
    for (int64_t j = 0; j < layers; ++j) {
      launchRows(dev.module, dev.ptx, agg, tokens, 1, dev.stream, aggregate);
      launchRows(dev.module, dev.ptx, rms, tokens, 1, dev.stream, norm);
    }
  });
  return {fused, unfused};
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s KERNELS.ptx [--quick]\n", argv[0]);
    return 2;
  }
  bool quick = argc > 2 && std::string(argv[2]) == "--quick";
  char what[512];
  if (!attnres_cuda_available(what, sizeof(what))) {
    std::fprintf(stderr, "attnres-gpu-bench: %s\n", what);
    return 1;
  }
  std::printf("%s\n", what);
  Device dev;
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "attnres-gpu-bench: cannot read %s\n", argv[1]);
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  dev.ptx = text.str();
  dev.module = mgpuModuleLoad(dev.ptx.data(), dev.ptx.size() + 1);
  dev.stream = mgpuStreamCreate();

  double copy = copyBandwidth(dev);
  std::printf("device-to-device copy: %.0f GB/s\n\n", copy);
  std::printf("%-5s %5s %2s %6s | %9s %7s %6s | %9s %7s | %10s %8s\n", "dtype",
              "D", "S", "tokens", "fused ms", "GB/s", "%copy", "unfus ms",
              "speedup", "B/tok/lay", "budget");
  std::vector<int64_t> tokenCounts = {4096, 16384, 65536};
  std::vector<int64_t> layerCounts = {2, 4, 8, 16};
  if (quick) {
    tokenCounts = {16384};
    layerCounts = {2, 8};
  }
  for (std::string dtype : {"bf16", "f32"}) {
    int64_t elt = dtype == "f32" ? 4 : 2;
    for (int64_t dim : {2048, 4096, 7168}) {
      for (int64_t layers : layerCounts) {
        for (int64_t tokens : tokenCounts) {
          Result r = timeBlock(dev, dtype, dim, layers, tokens, 5);
          // Fused traffic: phase 1 reads N blocks and writes S outputs and
          // S lse; each phase 2 reads its state, lse and the partial sum
          // and writes the normalized row.
          double bytes = double(kBlocks + layers) * tokens * dim * elt +
                         layers * tokens * 4.0 +
                         layers * (3.0 * tokens * dim * elt + tokens * 4.0);
          double gbps = bytes / r.fused / 1e9;
          double perTokenLayer = bytes / tokens / layers / elt / dim;
          double budget = double(kBlocks) / layers + 5;
          std::printf("%-5s %5lld %2lld %6lld | %9.3f %7.0f %5.1f%% | %9.3f "
                      "%6.2fx | %8.2f D %6.2f D\n",
                      dtype.c_str(), (long long)dim, (long long)layers,
                      (long long)tokens, r.fused * 1e3, gbps, 100 * gbps / copy,
                      r.unfused * 1e3, r.unfused / r.fused, perTokenLayer,
                      budget);
        }
      }
    }
  }

  std::printf("\ndecode (fused block of S = 8 layers, bf16, D = 4096):\n");
  for (int64_t tokens : {1, 16, 64}) {
    Result r = timeBlock(dev, "bf16", 4096, 8, tokens, 20);
    std::printf("  %2lld tokens: %.1f us per block, %.1f us per layer\n",
                (long long)tokens, r.fused * 1e6, r.fused * 1e6 / 8);
  }
  mgpuStreamDestroy(dev.stream);
  mgpuModuleUnload(dev.module);
  return 0;
}
