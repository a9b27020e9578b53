//===- PackedProductsTest.cpp - Products by weights packed once -----------===//
//
// oneDNN's products on packed weights against a double-precision loop, the
// packing done once per weight matrix, and the sgemm glue sending only
// products whose B lies in the model's weights there.
//
//===----------------------------------------------------------------------===//

#include "PackedProducts.h"

#include "SgemmGlue.h"

#include "attnres/Runtime/Artifact.h"

#include "gtest/gtest.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

using mlir::attnres::runtime::PackedProducts;

namespace {

/// oneDNN must be in use wherever its library is installed (bootstrap
/// installs it); these tests then check its products. A machine without
/// it runs every product through BLAS, which BLASTest covers.
bool expectOneDNN() {
  const char *use = std::getenv("ATTNRES_ONEDNN");
  bool disabled = use && std::strcmp(use, "0") == 0;
  void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (lib)
    dlclose(lib);
  if (lib && !disabled) {
    EXPECT_TRUE(PackedProducts::available())
        << "libdnnl.so.2 loads, but the runtime does not use it";
  }
  return PackedProducts::available();
}

std::vector<float> values(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    v[i] = float((seed >> 8) % 2001) / 1000.0f - 1.0f;
  }
  return v;
}

struct Case {
  int64_t m, n, k;
  bool transposedB, accumulate;
  int64_t ldaPad, ldcPad;
  int threads;
};

/// C (+)= A B through PackedProducts, against a double loop, with B placed
/// inside a weights block.
void checkCase(const Case &t) {
  int64_t lda = t.k + t.ldaPad, ldc = t.n + t.ldcPad;
  std::vector<float> a = values(size_t(t.m * lda), 1);
  std::vector<float> weights = values(size_t(t.k * t.n + 64), 2);
  const float *b = weights.data() + 16;
  int64_t rowStride = t.transposedB ? 1 : t.n;
  int64_t colStride = t.transposedB ? t.k : 1;
  std::vector<float> c = values(size_t(t.m * ldc), 3), before = c;

  attnres_set_num_threads(t.threads);
  PackedProducts products(weights.data(), weights.size() * sizeof(float));
  ASSERT_TRUE(products.multiply(t.m, t.n, t.k, a.data(), lda, b, rowStride,
                                colStride, c.data(), ldc, t.accumulate));
  for (int64_t r = 0; r < t.m; ++r)
    for (int64_t j = 0; j < ldc; ++j) {
      float got = c[r * ldc + j];
      if (j >= t.n) { // padding between rows is not touched
        EXPECT_EQ(got, before[r * ldc + j]);
        continue;
      }
      double want = t.accumulate ? before[r * ldc + j] : 0.0, scale = 0;
      for (int64_t x = 0; x < t.k; ++x) {
        double p = double(a[r * lda + x]) * b[x * rowStride + j * colStride];
        want += p;
        scale += std::fabs(p);
      }
      // fp32 accumulation in any order: within k ulps of the magnitudes.
      double error = std::fabs(got - want);
      EXPECT_LE(error, 1e-6 * (scale + 1) * std::sqrt(double(t.k)))
          << "row " << r << " column " << j;
    }
  EXPECT_GT(products.packedBytes(), 0u);
}

TEST(PackedProductsTest, ProductsMatchDoubleLoops) {
  if (!expectOneDNN())
    GTEST_SKIP() << "oneDNN (libdnnl.so.2) is not installed";
  const Case cases[] = {
      {1, 2048, 160, false, false, 0, 0, 1},
      {7, 300, 130, false, true, 0, 0, 1},
      {128, 200, 96, false, false, 0, 0, 2}, // two pieces of 64 rows
      {130, 96, 64, false, true, 0, 0, 2},   // pieces of 72 and 58 rows
      {37, 96, 80, true, false, 0, 0, 3},    // B transposed in memory
      {64, 70, 72, false, false, 5, 3, 2},   // leading dimensions padded
      {200, 136, 120, true, true, 8, 0, 2},
  };
  for (const Case &t : cases) {
    SCOPED_TRACE(testing::Message()
                 << t.m << "x" << t.n << "x" << t.k << " transposedB "
                 << t.transposedB << " accumulate " << t.accumulate
                 << " threads " << t.threads);
    checkCase(t);
  }
  attnres_set_num_threads(1);
}

TEST(PackedProductsTest, EachWeightIsPackedOnce) {
  if (!expectOneDNN())
    GTEST_SKIP() << "oneDNN (libdnnl.so.2) is not installed";
  attnres_set_num_threads(2);
  const int64_t m = 96, n = 128, k = 64;
  std::vector<float> weights = values(size_t(2 * k * n), 4);
  std::vector<float> a = values(size_t(m * k), 5), c(size_t(m * n));
  PackedProducts products(weights.data(), weights.size() * sizeof(float));
  ASSERT_TRUE(products.multiply(m, n, k, a.data(), k, weights.data(), n, 1,
                                c.data(), n, false));
  size_t once = products.packedBytes();
  EXPECT_GE(once, size_t(k * n) * sizeof(float));
  // Again, with another row count and accumulating: the same packed copy.
  ASSERT_TRUE(products.multiply(m / 2, n, k, a.data(), k, weights.data(), n, 1,
                                c.data(), n, true));
  EXPECT_EQ(products.packedBytes(), once);
  // The second matrix of the block is another weight.
  ASSERT_TRUE(products.multiply(m, n, k, a.data(), k, weights.data() + k * n, n,
                                1, c.data(), n, false));
  EXPECT_EQ(products.packedBytes(), 2 * once);
  attnres_set_num_threads(1);
}

// A product this small costs less in BLAS than a oneDNN call's overhead.
TEST(PackedProductsTest, SmallProductsAreLeftToBLAS) {
  std::vector<float> weights = values(16 * 16, 8), a = values(16 * 16, 9);
  std::vector<float> c(16 * 16, 7.0f);
  PackedProducts products(weights.data(), weights.size() * sizeof(float));
  EXPECT_FALSE(products.multiply(16, 16, 16, a.data(), 16, weights.data(), 16,
                                 1, c.data(), 16, false));
  EXPECT_EQ(products.packedBytes(), 0u);
  for (float x : c)
    EXPECT_EQ(x, 7.0f);
}

TEST(PackedProductsTest, HoldsOnlyRangesInsideTheWeights) {
  std::vector<char> block(256);
  PackedProducts products(block.data(), block.size());
  EXPECT_TRUE(products.holds(block.data(), 256));
  EXPECT_TRUE(products.holds(block.data() + 255, 1));
  EXPECT_TRUE(products.holds(block.data() + 256, 0));
  EXPECT_FALSE(products.holds(block.data() + 1, 256));
  EXPECT_FALSE(products.holds(block.data() - 1, 2));
  EXPECT_FALSE(products.holds(block.data() + 200, size_t(-1)));
}

Memref3 view(float *data, int64_t batch, int64_t rows, int64_t cols,
             int64_t batchStride) {
  Memref3 v;
  v.basePtr = v.data = data;
  v.offset = 0;
  v.sizes[0] = batch;
  v.sizes[1] = rows;
  v.sizes[2] = cols;
  v.strides[0] = batchStride;
  v.strides[1] = cols;
  v.strides[2] = 1;
  return v;
}

// The glue packs a B inside the current model's weights, batch by batch
// (a shared B has batch stride 0), and leaves other products to BLAS.
TEST(PackedProductsTest, GlueSendsProductsByWeightsToOneDNN) {
  if (!expectOneDNN())
    GTEST_SKIP() << "oneDNN (libdnnl.so.2) is not installed";
  attnres_set_num_threads(1);
  const int64_t batch = 2, m = 64, n = 128, k = 48;
  std::vector<float> weights = values(size_t(k * n), 6);
  std::vector<float> a = values(size_t(batch * m * k), 7);
  std::vector<float> activations = weights; // the same values, not weights
  std::vector<float> viaWeights(size_t(batch * m * n), 1.0f),
      viaBLAS = viaWeights;
  PackedProducts products(weights.data(), weights.size() * sizeof(float));
  {
    PackedProducts::Scope scope(&products);
    Memref3 ma = view(a.data(), batch, m, k, m * k);
    Memref3 mb = view(activations.data(), batch, k, n, 0);
    Memref3 mc = view(viaBLAS.data(), batch, m, n, m * n);
    _mlir_ciface_attnres_sgemm_batched(&ma, &mb, &mc);
    EXPECT_EQ(products.packedBytes(), 0u);
    mb = view(weights.data(), batch, k, n, 0);
    mc = view(viaWeights.data(), batch, m, n, m * n);
    _mlir_ciface_attnres_sgemm_batched(&ma, &mb, &mc);
    EXPECT_GT(products.packedBytes(), 0u);
  }
  for (size_t i = 0; i < viaBLAS.size(); ++i)
    EXPECT_NEAR(viaWeights[i], viaBLAS[i], 1e-5f * (1 + std::fabs(viaBLAS[i])))
        << "element " << i;
  // Outside the scope no model is current: every product goes to BLAS.
  EXPECT_EQ(PackedProducts::current(), nullptr);
}

} // namespace
