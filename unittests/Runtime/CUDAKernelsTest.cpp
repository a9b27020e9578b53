//===- CUDAKernelsTest.cpp - The attnres kernels on a GPU, against C++ ----===//
//
// Runs the kernels of --attnres-to-gpu (built into PTX at build time from
// gpu-kernels.mlir) through the runtime's mgpu* functions and compares them
// with a double-precision reference of the formulas, on random data. Skips,
// saying why, where the runtime finds no CUDA device.
//
// Tolerances: f32 storage 1e-4 relative (the kernels' exp, log and rsqrt are
// the hardware's approximations, and their sums run in another order);
// bf16 2e-2 and f16 2e-3 (one rounding of the result to storage).
//
//===----------------------------------------------------------------------===//

#include "BesideTest.h"
#include "KernelLaunch.h"
#include "attnres/Runtime/CUDA.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

enum class Storage { F32, BF16, F16 };

size_t bytesOf(Storage s) { return s == Storage::F32 ? 4 : 2; }

uint16_t toBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7fff + ((bits >> 16) & 1); // round to nearest even
  return bits >> 16;
}
float fromBF16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// A managed buffer of `rows x cols` values in `storage`, with float views.
struct Buffer {
  Buffer(Storage storage, int64_t rows, int64_t cols)
      : storage(storage), rows(rows), cols(cols) {
    data = mgpuMemAlloc(rows * cols * bytesOf(storage), nullptr, true);
  }
  ~Buffer() { mgpuMemFree(data, nullptr); }
  float get(int64_t i) const {
    switch (storage) {
    case Storage::F32:
      return static_cast<float *>(data)[i];
    case Storage::BF16:
      return fromBF16(static_cast<uint16_t *>(data)[i]);
    case Storage::F16:
      return float(static_cast<_Float16 *>(data)[i]);
    }
    return 0;
  }
  void set(int64_t i, float v) {
    switch (storage) {
    case Storage::F32:
      static_cast<float *>(data)[i] = v;
      break;
    case Storage::BF16:
      static_cast<uint16_t *>(data)[i] = toBF16(v);
      break;
    case Storage::F16:
      static_cast<_Float16 *>(data)[i] = _Float16(v);
      break;
    }
  }
  std::vector<double> row(int64_t r) const {
    std::vector<double> out(cols);
    for (int64_t c = 0; c < cols; ++c)
      out[c] = get(r * cols + c);
    return out;
  }
  void fill(std::mt19937 &rng, float mean, float stddev) {
    std::normal_distribution<float> dist(mean, stddev);
    for (int64_t i = 0; i < rows * cols; ++i)
      set(i, dist(rng));
  }

  Storage storage;
  int64_t rows, cols;
  void *data;
};

/// Kernel arguments from test buffers.
class Arguments : public attnres::gpu::KernelArguments {
public:
  void rows(const Buffer &b) { KernelArguments::rows(b.data, b.rows, b.cols); }
  void vector(const Buffer &b) { KernelArguments::vector(b.data, b.cols); }
  void scalars(const Buffer &b) { KernelArguments::vector(b.data, b.rows); }
  /// Layer `layer` of a buffer stacking `rows`-row buffers, one per layer
  /// (phase 1's outputs and lse): its own [rows, cols] (or [rows]) buffer.
  void layerRows(const Buffer &b, int64_t layer, int64_t rows) {
    KernelArguments::rows(layerData(b, layer, rows), rows, b.cols);
  }
  void layerScalars(const Buffer &b, int64_t layer, int64_t rows) {
    KernelArguments::vector(layerData(b, layer, rows), rows);
  }

private:
  static void *layerData(const Buffer &b, int64_t layer, int64_t rows) {
    return static_cast<char *>(b.data) +
           layer * rows * b.cols * bytesOf(b.storage);
  }
};

double inverseRMS(const std::vector<double> &x, double eps) {
  double ss = 0;
  for (double v : x)
    ss += v * v;
  return 1.0 / std::sqrt(ss / x.size() + eps);
}

double logit(const std::vector<double> &x, const std::vector<double> &q,
             const std::vector<double> &k, double eps) {
  double dot = 0;
  for (size_t d = 0; d < x.size(); ++d)
    dot += q[d] * k[d] * x[d];
  return dot * inverseRMS(x, eps);
}

class CUDAKernelsTest : public ::testing::Test {
protected:
  void SetUp() override {
    char what[512];
    if (!attnres_cuda_available(what, sizeof(what)))
      GTEST_SKIP() << "needs a GPU: " << what;
    std::string path = besideTest(GPU_KERNELS_PTX_NAME);
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream text;
    text << in.rdbuf();
    ptx = text.str();
    kernels = std::make_unique<attnres::gpu::Kernels>(ptx, ptx);
    stream = mgpuStreamCreate();
  }
  void TearDown() override {
    if (stream)
      mgpuStreamDestroy(stream);
    kernels.reset();
  }

  /// Launches `name` over `rows` rows and waits for it.
  void launch(const std::string &name, int64_t rows, int64_t rowsPerBlock,
              Arguments &args) {
    ASSERT_NE(kernels->threads(name), 0) << name;
    kernels->launchRows(name, rows, rowsPerBlock, stream, args);
    mgpuStreamSynchronize(stream);
  }

  void expectNear(const Buffer &got, int64_t row,
                  const std::vector<double> &want, double tol,
                  const char *what) {
    for (size_t c = 0; c < want.size(); ++c) {
      double g = got.get(row * got.cols + c);
      ASSERT_LE(std::abs(g - want[c]), tol * std::max(1.0, std::abs(want[c])))
          << what << " row " << row << " column " << c;
    }
  }

  void checkBlock(Storage storage, const std::string &suffix, int64_t dim,
                  int64_t rowsPerBlock, double tol, int64_t layers = 2);

  std::string ptx;
  std::unique_ptr<attnres::gpu::Kernels> kernels;
  void *stream = nullptr;
};

/// Phase 1 (three blocks, `layers` layers), phase 2 with its norm, and an
/// RMSNorm, each against the formulas on the inputs as stored.
void CUDAKernelsTest::checkBlock(Storage storage, const std::string &suffix,
                                 int64_t dim, int64_t rowsPerBlock, double tol,
                                 int64_t layers) {
  const int64_t rows = 37, n = 3, s = layers;
  const std::string shape = std::to_string(dim) + "x" + suffix;
  const double eps = 1e-6, normEps = 1e-5;
  std::mt19937 rng(7);
  std::vector<std::unique_ptr<Buffer>> blocks, queries, keys;
  for (int i = 0; i < n; ++i) {
    blocks.push_back(std::make_unique<Buffer>(storage, rows, dim));
    // Different scales, so the softmax over depth is far from uniform.
    blocks.back()->fill(rng, 0.1f * i, 1.0f + i);
  }
  for (int j = 0; j < s; ++j) {
    queries.push_back(std::make_unique<Buffer>(storage, 1, dim));
    keys.push_back(std::make_unique<Buffer>(storage, 1, dim));
    queries.back()->fill(rng, 0.0f, 0.05f);
    keys.back()->fill(rng, 1.0f, 0.1f);
  }
  Buffer p(storage, rows, dim), g(storage, 1, dim);
  p.fill(rng, 0.0f, 2.0f);
  g.fill(rng, 1.0f, 0.2f);

  // Phase 1. The kernel takes each layer's query times its key norm in f32,
  // [s, dim], which the lowering forms on the host side (a constant, or a
  // linalg op); the reference below uses q and k themselves. The outputs
  // and lse are one buffer each, layer j's rows from j * rows on.
  Buffer products(Storage::F32, s, dim);
  for (int j = 0; j < s; ++j)
    for (int64_t d = 0; d < dim; ++d)
      products.set(j * dim + d, queries[j]->get(d) * keys[j]->get(d));
  Buffer outputs(storage, s * rows, dim), lses(Storage::F32, s * rows, 1);
  Arguments a1;
  for (auto &b : blocks)
    a1.rows(*b);
  a1.rows(products);
  a1.f32(eps);
  a1.rows(outputs);
  a1.scalars(lses);
  launch("phase1_" + shape + "_n3_s" + std::to_string(s), rows, 1, a1);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<std::vector<double>> b;
    for (auto &block : blocks)
      b.push_back(block->row(r));
    for (int j = 0; j < s; ++j) {
      std::vector<double> q = queries[j]->row(0), k = keys[j]->row(0);
      std::vector<double> l;
      double max = -INFINITY;
      for (auto &bi : b) {
        l.push_back(logit(bi, q, k, eps));
        max = std::max(max, l.back());
      }
      double total = 0;
      for (double li : l)
        total += std::exp(li - max);
      double lse = max + std::log(total);
      std::vector<double> out(dim, 0.0);
      for (int i = 0; i < n; ++i)
        for (int64_t d = 0; d < dim; ++d)
          out[d] += std::exp(l[i] - lse) * b[i][d];
      expectNear(outputs, j * rows + r, out, tol, "phase1 output");
      expectNear(lses, j * rows + r, {lse}, 1e-4, "phase1 lse");
    }
  }

  // Phase 2 of layer 1 with its norm, from the kernel's own phase-1 state.
  Buffer h(storage, rows, dim), y(storage, rows, dim);
  Arguments a2;
  a2.layerRows(outputs, 1, rows);
  a2.layerScalars(lses, 1, rows);
  a2.rows(p);
  a2.vector(*queries[1]);
  a2.vector(*keys[1]);
  a2.f32(eps);
  a2.vector(g);
  a2.f32(normEps);
  a2.rows(h);
  a2.rows(y);
  launch("phase2_" + shape + "_norm", rows, rowsPerBlock, a2);
  // The merged row and its norm, from the kernel's own phase-1 state.
  auto merged = [&](int j, int64_t r) {
    std::vector<double> state = outputs.row(j * rows + r), pr = p.row(r);
    double sp = logit(pr, queries[j]->row(0), keys[j]->row(0), eps);
    double weight = 1.0 / (1.0 + std::exp(lses.get(j * rows + r) - sp));
    std::vector<double> h(dim);
    for (int64_t d = 0; d < dim; ++d)
      h[d] = state[d] + weight * (pr[d] - state[d]);
    return h;
  };
  auto normed = [&](const std::vector<double> &x) {
    double scale = inverseRMS(x, normEps);
    std::vector<double> gr = g.row(0), y(dim);
    for (int64_t d = 0; d < dim; ++d)
      y[d] = x[d] * scale * gr[d];
    return y;
  };
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> want = merged(1, r);
    expectNear(h, r, want, tol, "phase2 merged");
    expectNear(y, r, normed(want), tol, "phase2 normalized");
  }
  if (dim != 16)
    return;

  // The variants small models use: the norm alone (merged row unread) and
  // no norm, each from layer 0's state; and an RMSNorm.
  Buffer y0(storage, rows, dim), h0(storage, rows, dim);
  Arguments normOnly;
  normOnly.layerRows(outputs, 0, rows);
  normOnly.layerScalars(lses, 0, rows);
  normOnly.rows(p);
  normOnly.vector(*queries[0]);
  normOnly.vector(*keys[0]);
  normOnly.f32(eps);
  normOnly.vector(g);
  normOnly.f32(normEps);
  normOnly.rows(y0);
  launch("phase2_" + shape + "_norm_only", rows, rowsPerBlock, normOnly);
  Arguments plain;
  plain.layerRows(outputs, 0, rows);
  plain.layerScalars(lses, 0, rows);
  plain.rows(p);
  plain.vector(*queries[0]);
  plain.vector(*keys[0]);
  plain.f32(eps);
  plain.rows(h0);
  launch("phase2_" + shape, rows, rowsPerBlock, plain);
  Buffer normalized(storage, rows, dim);
  Arguments norm;
  norm.rows(*blocks[2]);
  norm.vector(g);
  norm.rows(normalized);
  norm.f32(normEps);
  launch("rms_norm_" + shape, rows, rowsPerBlock, norm);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> want = merged(0, r);
    expectNear(y0, r, normed(want), tol, "phase2 norm only");
    expectNear(h0, r, want, tol, "phase2 without norm");
    expectNear(normalized, r, normed(blocks[2]->row(r)), tol, "rms_norm");
  }
}

TEST_F(CUDAKernelsTest, BlockF32) {
  checkBlock(Storage::F32, "f32", 4096, 1, 1e-4);
}

TEST_F(CUDAKernelsTest, BlockBF16) {
  checkBlock(Storage::BF16, "bf16", 4096, 1, 2e-2);
}

/// D = 16: a warp per row, most lanes past the row's end, four rows to a
/// block for phase 2 and the norm.
TEST_F(CUDAKernelsTest, SmallRows) {
  checkBlock(Storage::F32, "f32", 16, 4, 1e-4);
}

/// Twenty layers, past the 16 that one host-side op of query-key products
/// takes, and the depth at which per-layer kernel arguments overflowed: each
/// layer's output and lse at its place in the stacked buffers.
TEST_F(CUDAKernelsTest, ManyLayers) {
  checkBlock(Storage::F32, "f32", 16, 4, 1e-4, 20);
  checkBlock(Storage::BF16, "bf16", 4096, 1, 2e-2, 20);
}

/// A warp per row, four rows to a block, the last rows and the last vector
/// of each lane predicated.
TEST_F(CUDAKernelsTest, NormF16WithTails) {
  const int64_t rows = 37, dim = 1000;
  std::mt19937 rng(11);
  Buffer x(Storage::F16, rows, dim), g(Storage::F16, 1, dim),
      y(Storage::F16, rows, dim);
  x.fill(rng, 0.5f, 3.0f);
  g.fill(rng, 1.0f, 0.2f);
  Arguments args;
  args.rows(x);
  args.vector(g);
  args.rows(y);
  args.f32(1e-5f);
  launch("rms_norm_1000xf16", rows, 4, args);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> xr = x.row(r), gr = g.row(0), want(dim);
    double scale = inverseRMS(xr, 1e-5);
    for (int64_t d = 0; d < dim; ++d)
      want[d] = xr[d] * scale * gr[d];
    expectNear(y, r, want, 2e-3, "rms_norm");
  }
}

} // namespace
