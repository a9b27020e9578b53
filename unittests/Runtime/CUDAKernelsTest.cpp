//===- CUDAKernelsTest.cpp - The attnres kernels on a GPU, against C++ ----===//
//
// Runs the kernels of --attnres-to-gpu (built into PTX at build time from
// gpu-kernels.mlir) through the runtime's mgpu* functions and compares them
// with a double-precision reference of the formulas, on random data. Skips,
// saying why, where the runtime finds no CUDA device.
//
// Tolerances: f32 storage 1e-4 relative (the kernels' exp, log and rsqrt are
// the hardware's approximations, and their sums run in another order);
// bf16 2e-2 and f16 2e-3 (one rounding of the result to storage). The split
// kernels of decode sizes (a row across several CTAs) are held to the same.
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

  /// Launches `name` over a grid of `rows` by `splits` by `z` blocks (a
  /// split launch's kernel) and waits for it.
  void launchSplit(const std::string &name, int64_t rows, int64_t splits,
                   int64_t z, Arguments &args) {
    ASSERT_NE(kernels->threads(name), 0) << name;
    kernels->launchGrid(name, rows, splits, z, stream, args);
    mgpuStreamSynchronize(stream);
  }

  /// Phase 2 of layer `layer` of phase 1's stacked `outputs` and `lses`
  /// through "phase2_<shape><variant>": `g` for the norm, `result` and
  /// `normalized` where written. With `splits` > 1 through its split
  /// kernels, `splits` CTAs per row and a workspace of partial sums.
  void runPhase2(const std::string &shape, const std::string &variant,
                 const Buffer &outputs, const Buffer &lses, int64_t layer,
                 int64_t rows, const Buffer &p, const Buffer &q,
                 const Buffer &k, const Buffer *g, Buffer *result,
                 Buffer *normalized, int64_t rowsPerBlock, int64_t splits) {
    Arguments args;
    args.layerRows(outputs, layer, rows);
    args.layerScalars(lses, layer, rows);
    args.rows(p);
    args.vector(q);
    args.vector(k);
    args.f32(1e-6f);
    if (g) {
      args.vector(*g);
      args.f32(1e-5f);
    }
    if (result)
      args.rows(*result);
    if (normalized)
      args.rows(*normalized);
    std::string name = "phase2_" + shape + variant;
    if (splits == 1)
      return launch(name, rows, rowsPerBlock, args);
    // Per row and split: the partial sum's squares and logit, and with the
    // norm the state's squares and its products with the partial sum.
    int64_t width = g ? 4 : 2;
    Buffer workspace(Storage::F32, rows * splits * width, 1);
    Arguments sums;
    if (g)
      sums.layerRows(outputs, layer, rows);
    sums.rows(p);
    sums.vector(q);
    sums.vector(k);
    sums.scalars(workspace);
    launchSplit("phase2_" + shape + (g ? "_norm" : "") + "_split_sums", rows,
                splits, 1, sums);
    args.scalars(workspace);
    launchSplit(name + "_split", rows, splits, 1, args);
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
                  int64_t rowsPerBlock, double tol, int64_t layers = 2,
                  int64_t rows = 37, int64_t splits = 1);

  std::string ptx;
  std::unique_ptr<attnres::gpu::Kernels> kernels;
  void *stream = nullptr;
};

/// Phase 1 (three blocks, `layers` layers over `rows` rows), phase 2 with
/// its norm, and an RMSNorm, each against the formulas on the inputs as
/// stored. With `splits` > 1 phase 1 and every phase-2 variant run through
/// their split kernels, `splits` CTAs per row.
void CUDAKernelsTest::checkBlock(Storage storage, const std::string &suffix,
                                 int64_t dim, int64_t rowsPerBlock, double tol,
                                 int64_t layers, int64_t rows, int64_t splits) {
  const int64_t n = 3, s = layers;
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
  std::string phase1 = "phase1_" + shape + "_n3_s" + std::to_string(s);
  if (splits == 1) {
    Arguments a1;
    for (auto &b : blocks)
      a1.rows(*b);
    a1.rows(products);
    a1.f32(eps);
    a1.rows(outputs);
    a1.scalars(lses);
    launch(phase1, rows, 1, a1);
  } else {
    // Per row, split and source: the squares and the s layers' products.
    Buffer workspace(Storage::F32, rows * splits * n * (s + 1), 1);
    Arguments sums;
    for (auto &b : blocks)
      sums.rows(*b);
    sums.rows(products);
    sums.scalars(workspace);
    launchSplit(phase1 + "_split_sums", rows, splits, n, sums);
    Arguments finish;
    for (auto &b : blocks)
      finish.rows(*b);
    finish.f32(eps);
    finish.rows(outputs);
    finish.scalars(lses);
    finish.scalars(workspace);
    launchSplit(phase1 + "_split", rows, splits, 1, finish);
  }
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
  runPhase2(shape, "_norm", outputs, lses, 1, rows, p, *queries[1], *keys[1],
            &g, &h, &y, rowsPerBlock, splits);
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
  if (dim != 16 && splits == 1)
    return;

  // The variants small models use: the norm alone (merged row unread) and
  // no norm, each from layer 0's state; and an RMSNorm.
  Buffer y0(storage, rows, dim), h0(storage, rows, dim);
  runPhase2(shape, "_norm_only", outputs, lses, 0, rows, p, *queries[0],
            *keys[0], &g, nullptr, &y0, rowsPerBlock, splits);
  runPhase2(shape, "", outputs, lses, 0, rows, p, *queries[0], *keys[0],
            nullptr, &h0, nullptr, rowsPerBlock, splits);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> want = merged(0, r);
    expectNear(y0, r, normed(want), tol, "phase2 norm only");
    expectNear(h0, r, want, tol, "phase2 without norm");
  }
  if (dim != 16)
    return;
  Buffer normalized(storage, rows, dim);
  Arguments norm;
  norm.rows(*blocks[2]);
  norm.vector(g);
  norm.rows(normalized);
  norm.f32(normEps);
  launch("rms_norm_" + shape, rows, rowsPerBlock, norm);
  for (int64_t r = 0; r < rows; ++r)
    expectNear(normalized, r, normed(blocks[2]->row(r)), tol, "rms_norm");
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

/// Decode sizes, each row across several CTAs: one token and three (16 CTAs
/// a row, what the lowering picks below 17 rows), 37 rows (8, what it picks
/// there), and three rows at 5 CTAs, whose 16 (bf16) or 32 (f32) warp slices
/// fall unevenly to the CTAs. Every phase-2 variant too.
TEST_F(CUDAKernelsTest, SplitRowsBF16) {
  for (int64_t rows : {1, 3, 37})
    checkBlock(Storage::BF16, "bf16", 4096, 1, 2e-2, 2, rows,
               attnres::gpu::splitCount(rows, 4096, 2));
  checkBlock(Storage::BF16, "bf16", 4096, 1, 2e-2, 2, 3, 5);
}

TEST_F(CUDAKernelsTest, SplitRowsF32) {
  for (int64_t rows : {1, 3, 37})
    checkBlock(Storage::F32, "f32", 4096, 1, 1e-4, 2, rows,
               attnres::gpu::splitCount(rows, 4096, 4));
  checkBlock(Storage::F32, "f32", 4096, 1, 1e-4, 2, 3, 5);
}

/// Twenty layers split: S + 1 = 21 partial sums per source and CTA.
TEST_F(CUDAKernelsTest, SplitRowsManyLayers) {
  checkBlock(Storage::BF16, "bf16", 4096, 1, 2e-2, 20, 3,
             attnres::gpu::splitCount(3, 4096, 2));
}

/// The split counts of the lowering (min-ctas = 264), which the tests above
/// use; the lowering's own tests check its launches.
TEST(SplitCount, MatchesTheLowering) {
  using attnres::gpu::splitCount;
  EXPECT_EQ(splitCount(1, 4096, 2), 16);
  EXPECT_EQ(splitCount(37, 4096, 2), 8);
  EXPECT_EQ(splitCount(64, 4096, 2), 5);
  EXPECT_EQ(splitCount(263, 4096, 4), 2);
  EXPECT_EQ(splitCount(264, 4096, 2), 1);
  // Fewer than 8 warp slices: never split.
  EXPECT_EQ(splitCount(1, 1024, 2), 1);
  EXPECT_EQ(splitCount(1, 1024, 4), 8);
  EXPECT_EQ(splitCount(1, 2048, 2), 8);
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
