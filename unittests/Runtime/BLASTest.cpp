//===- BLASTest.cpp - attnres_sgemm_batched on layouts BLAS cannot take ---===//
//
// Checks the runtime's GEMM entry point against a plain loop, including
// strides that do not fit CBLAS's int arguments.
//
//===----------------------------------------------------------------------===//

#include "SgemmGlue.h"

#include "attnres/Runtime/Artifact.h"

#include "gtest/gtest.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include <array>
#include <vector>

namespace {

Memref3 view(std::vector<float> &data, std::array<int64_t, 3> sizes,
             std::array<int64_t, 3> strides) {
  Memref3 m;
  m.basePtr = m.data = data.data();
  m.offset = 0;
  for (int i = 0; i < 3; ++i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = strides[i];
  }
  return m;
}

float at(const Memref3 &m, int64_t i, int64_t j, int64_t k) {
  return m
      .data[m.offset + i * m.strides[0] + j * m.strides[1] + k * m.strides[2]];
}

TEST(BLASTest, RowMajorAndTransposedOperandsMatchLoops) {
  const int64_t batch = 2, m = 3, n = 4, k = 5;
  std::vector<float> a(batch * m * k), b(batch * k * n), c(batch * m * n, 1);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = float(i % 7) - 3;
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = float(i % 5) * 0.5f;
  Memref3 ma = view(a, {batch, m, k}, {m * k, k, 1});
  // B transposed in memory: element (x, col) at col * k + x.
  Memref3 mb = view(b, {batch, k, n}, {k * n, 1, k});
  Memref3 mc = view(c, {batch, m, n}, {m * n, n, 1});
  _mlir_ciface_attnres_sgemm_batched(&ma, &mb, &mc);
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) {
        float expected = 1;
        for (int64_t x = 0; x < k; ++x)
          expected += at(ma, i, r, x) * at(mb, i, x, col);
        EXPECT_FLOAT_EQ(at(mc, i, r, col), expected);
      }
}

// A leading dimension of 2^32 was narrowed to int 0: OpenBLAS rejected the
// call (printing an xerbla message) and C was left unchanged.
TEST(BLASTest, LeadingDimensionPastIntRangeIsNotNarrowed) {
  const int64_t k = 4, n = 3, huge = int64_t(1) << 32;
  std::vector<float> a = {1, 2, 3, 4}, b(k * n), c(n, 0);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = float(i);
  // One row, so the row stride is never stepped: valid with k floats.
  Memref3 ma = view(a, {1, 1, k}, {k, huge, 1});
  Memref3 mb = view(b, {1, k, n}, {k * n, n, 1});
  // C transposed in memory with a huge column stride, never stepped either.
  Memref3 mc = view(c, {1, 1, n}, {n, huge, 1});
  _mlir_ciface_attnres_sgemm_batched(&ma, &mb, &mc);
  for (int64_t col = 0; col < n; ++col) {
    float expected = 0;
    for (int64_t x = 0; x < k; ++x)
      expected += a[x] * b[x * n + col];
    EXPECT_FLOAT_EQ(c[col], expected) << "column " << col;
  }
}

} // namespace

// OpenBLAS falls back to generic kernels on a CPU it does not recognize (a
// virtual machine's, often); the runtime names the kernels the instruction
// set supports before loading it, unless the user did.
TEST(BLASTest, NamesTheKernelsTheCPUSupports) {
  const char *preset = std::getenv("OPENBLAS_CORETYPE");
  std::string before = preset ? preset : "";
  ASSERT_EQ(mlir::attnres::runtime::loadBLAS(), "");
  const char *after = std::getenv("OPENBLAS_CORETYPE");
  std::string expected = before;
  __builtin_cpu_init();
  if (expected.empty() && __builtin_cpu_supports("avx512f"))
    expected = "SkylakeX";
  else if (expected.empty() && __builtin_cpu_supports("avx2"))
    expected = "Haswell";
  EXPECT_EQ(after ? std::string(after) : "", expected);
  // And OpenBLAS, loaded by the runtime, took them.
  void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
  auto corename =
      lib ? reinterpret_cast<char *(*)()>(dlsym(lib, "openblas_get_corename"))
          : nullptr;
  if (corename && !expected.empty()) {
    EXPECT_EQ(std::string(corename()), expected);
  }
}

namespace {
TEST(BLASTest, OnePoolOwnsTheThreads) {
  ASSERT_EQ(mlir::attnres::runtime::loadBLAS(), "");
  // OpenBLAS itself runs on the calling thread: the runtime's pool splits
  // the products.
  void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr);
  auto get =
      reinterpret_cast<int (*)()>(dlsym(lib, "openblas_get_num_threads"));
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get(), 1);
  EXPECT_EQ(attnres_set_num_threads(2), 2);
  EXPECT_EQ(mlir::attnres::runtime::numThreads(), 2);
  // 0 leaves the count as it is.
  EXPECT_EQ(attnres_set_num_threads(0), 2);
  EXPECT_EQ(get(), 1);
}

TEST(BLASTest, SplitProductsMatchOneThread) {
  ASSERT_EQ(mlir::attnres::runtime::loadBLAS(), "");
  // 2 x (96 x 512) x (512 x 300): past the splitting threshold, 300 columns
  // in blocks of 16 with a ragged last one; batch 2 < threads 3 splits
  // columns, threads 2 splits the batch.
  const int64_t batch = 2, m = 96, k = 512, n = 300;
  std::vector<float> a(batch * m * k), b(batch * k * n);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = float((i * 7919) % 13) - 6.0f;
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = float((i * 104729) % 11) - 5.0f;
  std::vector<float> want(batch * m * n, 0.0f);
  for (int64_t x = 0; x < batch; ++x)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p)
          acc += double(a[(x * m + i) * k + p]) * b[(x * k + p) * n + j];
        want[(x * m + i) * n + j] = float(acc);
      }
  for (int threads : {3, 2, 1}) {
    attnres_set_num_threads(threads);
    std::vector<float> c(batch * m * n, 1.0f);
    Memref3 ma = view(a, {batch, m, k}, {m * k, k, 1});
    Memref3 mb = view(b, {batch, k, n}, {k * n, n, 1});
    Memref3 mc = view(c, {batch, m, n}, {m * n, n, 1});
    // Integers: exact in f32 whatever the order of the sums.
    _mlir_ciface_attnres_sgemm_batched_overwrite(&ma, &mb, &mc);
    EXPECT_EQ(c, want) << threads << " threads";
    _mlir_ciface_attnres_sgemm_batched(&ma, &mb, &mc);
    for (float &x : want)
      x *= 2;
    EXPECT_EQ(c, want) << threads << " threads, accumulating";
    for (float &x : want)
      x /= 2;
  }
}
} // namespace
