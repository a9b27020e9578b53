//===- CUBLASTest.cpp - The runtime's cuBLAS glue without a GPU -----------===//
//
// The compiled code hands attnres_cublas_sgemm_batched (and the f16/bf16
// attnres_cublas_gemm_batched_ex_*) row-major strided views (transposed
// operands, padded rows, weights shared across the batch); cuBLAS is
// column-major. These products run on a host-side cuBLAS
// that keeps cuBLAS's semantics and argument checks, against a double
// reference, so that a wrong operand order, transpose or leading dimension
// shows here. ctest runs each test in its own process (the runtime opens
// cuBLAS once per process).
//
//===----------------------------------------------------------------------===//

#include "BesideTest.h"
#include "GemmLayout.h"
#include "attnres/Runtime/Artifact.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <dlfcn.h>
#include <string>
#include <vector>

using mlir::attnres::runtime::HalfMemref3;
using mlir::attnres::runtime::Memref3;

extern "C" void _mlir_ciface_attnres_cublas_sgemm_batched(Memref3 *, Memref3 *,
                                                          Memref3 *);
extern "C" void _mlir_ciface_attnres_cublas_sgemm_batched_overwrite(Memref3 *,
                                                                    Memref3 *,
                                                                    Memref3 *);

#define ATTNRES_DECLARE_GEMM_EX(NAME, C)                                       \
  extern "C" void _mlir_ciface_attnres_cublas_gemm_batched_ex_##NAME(          \
      HalfMemref3 *, HalfMemref3 *, C *);                                      \
  extern "C" void                                                              \
      _mlir_ciface_attnres_cublas_gemm_batched_ex_##NAME##_overwrite(          \
          HalfMemref3 *, HalfMemref3 *, C *);
ATTNRES_DECLARE_GEMM_EX(f16_f16, HalfMemref3)
ATTNRES_DECLARE_GEMM_EX(f16_f32, Memref3)
ATTNRES_DECLARE_GEMM_EX(bf16_bf16, HalfMemref3)
ATTNRES_DECLARE_GEMM_EX(bf16_f32, Memref3)
#undef ATTNRES_DECLARE_GEMM_EX

namespace {

const std::string kFakeDriver = besideTest(FAKE_CUDA_DRIVER_NAME);
const std::string kFakeCUBLAS = besideTest(FAKE_CUBLAS_NAME);

/// A rank-3 view of `storage`: element (p, i, j) at offset + p * s0 + i * s1
/// + j * s2.
struct View {
  std::vector<float> storage;
  Memref3 ref;
  View(int64_t size, int64_t offset, std::vector<int64_t> sizes,
       std::vector<int64_t> strides)
      : storage(size) {
    for (int64_t i = 0; i < size; ++i)
      storage[i] = std::sin(0.7 * double(i) + double(size));
    ref = {storage.data(),
           storage.data(),
           offset,
           {sizes[0], sizes[1], sizes[2]},
           {strides[0], strides[1], strides[2]}};
  }
  float &operator()(int64_t p, int64_t i, int64_t j) {
    return ref.data[ref.offset + p * ref.strides[0] + i * ref.strides[1] +
                    j * ref.strides[2]];
  }
};

int cublasCalls() {
  void *fake = dlopen(kFakeCUBLAS.c_str(), RTLD_NOW | RTLD_NOLOAD);
  return fake ? reinterpret_cast<int (*)()>(dlsym(fake, "fake_cublas_calls"))()
              : -1;
}

/// Runs C = A B (+ C when `accumulate`) through the glue and compares it
/// with a double reference; `products` is how many cuBLAS calls it should
/// make (0 when there is nothing to sum).
void expectProduct(View &a, View &b, View &c, bool accumulate, int products) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  setenv("ATTNRES_CUBLAS", kFakeCUBLAS.c_str(), 1);
  int64_t batch = c.ref.sizes[0], m = c.ref.sizes[1], n = c.ref.sizes[2],
          k = a.ref.sizes[2];
  std::vector<double> want;
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = accumulate ? c(p, i, j) : 0.0;
        for (int64_t x = 0; x < k; ++x)
          sum += double(a(p, i, x)) * double(b(p, x, j));
        want.push_back(sum);
      }
  int before = std::max(cublasCalls(), 0);
  if (accumulate)
    _mlir_ciface_attnres_cublas_sgemm_batched(&a.ref, &b.ref, &c.ref);
  else
    _mlir_ciface_attnres_cublas_sgemm_batched_overwrite(&a.ref, &b.ref, &c.ref);
  EXPECT_EQ(std::max(cublasCalls(), 0) - before, products);
  size_t e = 0;
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j, ++e)
        ASSERT_NEAR(c(p, i, j), want[e], 1e-5 * (1 + std::fabs(want[e])))
            << "batch " << p << ", (" << i << ", " << j << ")";
}

// Overwritten, then accumulated into.
TEST(CUBLASTest, RowMajorOperands) {
  View a(2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  View b(2 * 4 * 5, 0, {2, 4, 5}, {20, 5, 1});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectProduct(a, b, c, /*accumulate=*/false, 1);
  expectProduct(a, b, c, /*accumulate=*/true, 1);
}

// Attention's scores: K^T as a transposed view, Q as one too.
TEST(CUBLASTest, TransposedViews) {
  View a(2 * 4 * 3, 0, {2, 3, 4}, {12, 1, 3});
  View b(2 * 5 * 4, 0, {2, 4, 5}, {20, 1, 4});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectProduct(a, b, c, /*accumulate=*/false, 1);
}

// Rows longer than the matrix (a slice of a fused QKV projection), offsets,
// and one weight matrix for every batch (batch stride 0).
TEST(CUBLASTest, PaddedRowsOffsetsAndSharedWeights) {
  View a(3 * 3 * 10 + 2, 2, {3, 3, 4}, {30, 10, 1});
  View b(4 * 6 + 1, 1, {3, 4, 5}, {0, 6, 1});
  View c(3 * 3 * 7, 0, {3, 3, 5}, {21, 7, 1});
  expectProduct(a, b, c, /*accumulate=*/false, 1);
}

// C stored by columns (a product writing a transposed view): the
// column-major C = A B, with the operands as they are, no host loop.
TEST(CUBLASTest, TransposedOutput) {
  View a(2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  View b(2 * 5 * 4, 0, {2, 4, 5}, {20, 1, 4});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 1, 3});
  expectProduct(a, b, c, /*accumulate=*/false, 1);
  expectProduct(a, b, c, /*accumulate=*/true, 1);
  // Transposed A, row-major B, and columns longer than the matrix.
  View ta(2 * 4 * 3, 0, {2, 3, 4}, {12, 1, 3});
  View rb(2 * 4 * 5, 0, {2, 4, 5}, {20, 5, 1});
  View padded(2 * 5 * 4, 0, {2, 3, 5}, {20, 1, 4});
  expectProduct(ta, rb, padded, /*accumulate=*/false, 1);
}

/// Whether `view` left every element of its storage outside the view as
/// it was in `before`.
void expectOutsideUnchanged(View &view, const std::vector<float> &before) {
  std::vector<bool> inside(view.storage.size());
  for (int64_t p = 0; p < view.ref.sizes[0]; ++p)
    for (int64_t i = 0; i < view.ref.sizes[1]; ++i)
      for (int64_t j = 0; j < view.ref.sizes[2]; ++j)
        inside[&view(p, i, j) - view.storage.data()] = true;
  for (size_t e = 0; e < before.size(); ++e) {
    if (!inside[e])
      ASSERT_EQ(view.storage[e], before[e]) << "element " << e;
  }
}

// k = 0: no product to compute. Accumulating leaves C as it is; the
// overwriting form zeroes it with the driver's memsets (on the device, not
// by the host), by rows where they are padded, and leaves the padding.
TEST(CUBLASTest, EmptyReduction) {
  View a(1, 0, {2, 3, 0}, {0, 0, 1});
  View b(1, 0, {2, 0, 5}, {5, 5, 1});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectProduct(a, b, c, /*accumulate=*/true, 0);
  expectProduct(a, b, c, /*accumulate=*/false, 0);
  View padded(2 * 3 * 7, 0, {2, 3, 5}, {21, 7, 1});
  std::vector<float> before = padded.storage;
  expectProduct(a, b, padded, /*accumulate=*/false, 0);
  expectOutsideUnchanged(padded, before);
  View columns(2 * 5 * 4, 0, {2, 3, 5}, {20, 1, 4});
  before = columns.storage;
  expectProduct(a, b, columns, /*accumulate=*/false, 0);
  expectOutsideUnchanged(columns, before);
}

// A stride cuBLAS cannot express (a broadcast column): the compiler copies
// such an operand first, so reaching the glue is an error that says why,
// not a product computed on the host.
TEST(CUBLASTest, InexpressibleLayoutsFail) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  setenv("ATTNRES_CUBLAS", kFakeCUBLAS.c_str(), 1);
  View a(2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  View b(2 * 4, 0, {2, 4, 5}, {4, 1, 0});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  EXPECT_DEATH(
      _mlir_ciface_attnres_cublas_sgemm_batched(&a.ref, &b.ref, &c.ref),
      "attnres: CUDA: cublasSgemmStridedBatched failed: B's strides "
      "\\[4, 1, 0\\] for 4x5 matrices are no layout cuBLAS takes");
  // An output whose rows overlap.
  View overlapping(2 * 3 * 5, 0, {2, 3, 5}, {15, 1, 1});
  EXPECT_DEATH(_mlir_ciface_attnres_cublas_sgemm_batched_overwrite(
                   &a.ref, &a.ref, &overlapping.ref),
               "C's strides \\[15, 1, 1\\] for 3x5 matrices are no layout");
}

// Sizes past cuBLAS's int: an error, before anything is read.
TEST(CUBLASTest, SizesPastIntFail) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  setenv("ATTNRES_CUBLAS", kFakeCUBLAS.c_str(), 1);
  int64_t huge = int64_t(1) << 31;
  View a(1, 0, {1, 1, huge}, {huge, huge, 1});
  View b(1, 0, {1, huge, 1}, {huge, 1, 1});
  View c(1, 0, {1, 1, 1}, {1, 1, 1});
  EXPECT_DEATH(
      _mlir_ciface_attnres_cublas_sgemm_batched(&a.ref, &b.ref, &c.ref),
      "cublasSgemmStridedBatched failed: the product's sizes \\(batch "
      "1, m 1, n 1, k 2147483648\\) pass INT_MAX");
}

TEST(CUBLASTest, MissingLibrarySaysSo) {
  setenv("ATTNRES_CUBLAS", "/nonexistent/libcublas.so.12", 1);
  EXPECT_EQ(mlir::attnres::runtime::loadCUBLAS(),
            "ATTNRES_CUBLAS=/nonexistent/libcublas.so.12 is not a cuBLAS "
            "library with cublasSgemmStridedBatched");
}

// f16 and bf16 products: cublasGemmStridedBatchedEx, computing in f32 and
// rounding C once, over the layouts above.

enum class Half { F16, BF16 };

float toFloat(Half type, uint16_t h) {
  return type == Half::F16 ? mlir::attnres::runtime::f16ToFloat(h)
                           : mlir::attnres::runtime::bf16ToFloat(h);
}

uint16_t fromFloat(Half type, float f) {
  return type == Half::F16 ? mlir::attnres::runtime::floatToF16(f)
                           : mlir::attnres::runtime::floatToBF16(f);
}

/// A View of half-precision elements (the same values, rounded).
struct HalfView {
  Half type;
  std::vector<uint16_t> storage;
  HalfMemref3 ref;
  HalfView(Half type, int64_t size, int64_t offset, std::vector<int64_t> sizes,
           std::vector<int64_t> strides)
      : type(type), storage(size) {
    for (int64_t i = 0; i < size; ++i)
      storage[i] = fromFloat(type, std::sin(0.7 * double(i) + double(size)));
    ref = {storage.data(),
           storage.data(),
           offset,
           {sizes[0], sizes[1], sizes[2]},
           {strides[0], strides[1], strides[2]}};
  }
  uint16_t &bits(int64_t p, int64_t i, int64_t j) {
    return ref.data[ref.offset + p * ref.strides[0] + i * ref.strides[1] +
                    j * ref.strides[2]];
  }
  float operator()(int64_t p, int64_t i, int64_t j) {
    return toFloat(type, bits(p, i, j));
  }
};

using GemmEx = void (*)(HalfMemref3 *, HalfMemref3 *, HalfMemref3 *);
using GemmExF32 = void (*)(HalfMemref3 *, HalfMemref3 *, Memref3 *);

GemmEx halfEntry(Half type, bool accumulate) {
  if (type == Half::F16)
    return accumulate
               ? _mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f16
               : _mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f16_overwrite;
  return accumulate
             ? _mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_bf16
             : _mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_bf16_overwrite;
}

GemmExF32 f32Entry(Half type, bool accumulate) {
  if (type == Half::F16)
    return accumulate
               ? _mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f32
               : _mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f32_overwrite;
  return accumulate
             ? _mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_f32
             : _mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_f32_overwrite;
}

/// The sums of products of A and B's (rounded) values, in double, plus C's
/// when `accumulate`; `cAt(p, i, j)` reads C as a float.
template <typename CAt>
std::vector<double> reference(HalfView &a, HalfView &b, const int64_t *sizes,
                              bool accumulate, CAt cAt) {
  std::vector<double> want;
  int64_t k = a.ref.sizes[2];
  for (int64_t p = 0; p < sizes[0]; ++p)
    for (int64_t i = 0; i < sizes[1]; ++i)
      for (int64_t j = 0; j < sizes[2]; ++j) {
        double sum = accumulate ? cAt(p, i, j) : 0.0;
        for (int64_t x = 0; x < k; ++x)
          sum += double(a(p, i, x)) * double(b(p, x, j));
        want.push_back(sum);
      }
  return want;
}

/// Within one rounding to C's type (half an ulp: 2^-11 of f16, 2^-8 of
/// bf16, relative) and f32's error on the sum of the k products.
double tolerance(Half type, double want, int64_t k) {
  double ulp = type == Half::F16 ? 0x1p-10 : 0x1p-7;
  return ulp * std::fabs(want) + 1e-6 * double(k);
}

/// C = A B (+ C when `accumulate`) through `entry`, the glue of C's type,
/// checked against the double-precision reference within `tolerance(want)`.
template <typename CView, typename Entry, typename Tolerance>
void expectProduct(HalfView &a, HalfView &b, CView &c, bool accumulate,
                   int products, Entry entry, Tolerance tolerance) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  setenv("ATTNRES_CUBLAS", kFakeCUBLAS.c_str(), 1);
  std::vector<double> want =
      reference(a, b, c.ref.sizes, accumulate,
                [&](int64_t p, int64_t i, int64_t j) { return c(p, i, j); });
  int before = std::max(cublasCalls(), 0);
  entry(&a.ref, &b.ref, &c.ref);
  EXPECT_EQ(std::max(cublasCalls(), 0) - before, products);
  size_t e = 0;
  for (int64_t p = 0; p < c.ref.sizes[0]; ++p)
    for (int64_t i = 0; i < c.ref.sizes[1]; ++i)
      for (int64_t j = 0; j < c.ref.sizes[2]; ++j, ++e)
        ASSERT_NEAR(c(p, i, j), want[e], tolerance(want[e]))
            << "batch " << p << ", (" << i << ", " << j << ")";
}

/// A, B and C of `a`'s type: the reference rounded to that type.
void expectHalfProduct(HalfView &a, HalfView &b, HalfView &c, bool accumulate,
                       int products) {
  expectProduct(
      a, b, c, accumulate, products, halfEntry(a.type, accumulate),
      [&](double want) { return tolerance(a.type, want, a.ref.sizes[2]); });
}

/// The same with an f32 C: no rounding but f32's.
void expectHalfProductF32(HalfView &a, HalfView &b, View &c, bool accumulate,
                          int products) {
  expectProduct(a, b, c, accumulate, products, f32Entry(a.type, accumulate),
                [](double want) { return 1e-5 * (1 + std::fabs(want)); });
}

class CUBLASHalfTest : public testing::TestWithParam<Half> {};

TEST_P(CUBLASHalfTest, RowMajorOperands) {
  HalfView a(GetParam(), 2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  HalfView b(GetParam(), 2 * 4 * 5, 0, {2, 4, 5}, {20, 5, 1});
  HalfView c(GetParam(), 2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectHalfProduct(a, b, c, /*accumulate=*/false, 1);
  expectHalfProduct(a, b, c, /*accumulate=*/true, 1);
}

TEST_P(CUBLASHalfTest, TransposedViews) {
  HalfView a(GetParam(), 2 * 4 * 3, 0, {2, 3, 4}, {12, 1, 3});
  HalfView b(GetParam(), 2 * 5 * 4, 0, {2, 4, 5}, {20, 1, 4});
  HalfView c(GetParam(), 2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectHalfProduct(a, b, c, /*accumulate=*/false, 1);
}

TEST_P(CUBLASHalfTest, PaddedRowsOffsetsAndSharedWeights) {
  HalfView a(GetParam(), 3 * 3 * 10 + 2, 2, {3, 3, 4}, {30, 10, 1});
  HalfView b(GetParam(), 4 * 6 + 1, 1, {3, 4, 5}, {0, 6, 1});
  HalfView c(GetParam(), 3 * 3 * 7, 0, {3, 3, 5}, {21, 7, 1});
  expectHalfProduct(a, b, c, /*accumulate=*/false, 1);
}

TEST_P(CUBLASHalfTest, TransposedOutput) {
  HalfView a(GetParam(), 2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  HalfView b(GetParam(), 2 * 5 * 4, 0, {2, 4, 5}, {20, 1, 4});
  HalfView c(GetParam(), 2 * 3 * 5, 0, {2, 3, 5}, {15, 1, 3});
  expectHalfProduct(a, b, c, /*accumulate=*/false, 1);
  expectHalfProduct(a, b, c, /*accumulate=*/true, 1);
  View f(2 * 5 * 4, 0, {2, 3, 5}, {20, 1, 4});
  expectHalfProductF32(a, b, f, /*accumulate=*/false, 1);
}

TEST_P(CUBLASHalfTest, EmptyReduction) {
  HalfView a(GetParam(), 1, 0, {2, 3, 0}, {0, 0, 1});
  HalfView b(GetParam(), 1, 0, {2, 0, 5}, {5, 5, 1});
  HalfView c(GetParam(), 2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectHalfProduct(a, b, c, /*accumulate=*/true, 0);
  expectHalfProduct(a, b, c, /*accumulate=*/false, 0);
  View f(2 * 3 * 7, 0, {2, 3, 5}, {21, 7, 1});
  expectHalfProductF32(a, b, f, /*accumulate=*/false, 0);
}

TEST_P(CUBLASHalfTest, InexpressibleLayoutsFail) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  setenv("ATTNRES_CUBLAS", kFakeCUBLAS.c_str(), 1);
  HalfView a(GetParam(), 2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  HalfView b(GetParam(), 2 * 4, 0, {2, 4, 5}, {4, 1, 0});
  HalfView c(GetParam(), 2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  View f(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  const char *message = "attnres: CUDA: cublasGemmStridedBatchedEx failed: "
                        "B's strides \\[4, 1, 0\\] for 4x5 matrices are no "
                        "layout cuBLAS takes";
  EXPECT_DEATH(halfEntry(GetParam(), true)(&a.ref, &b.ref, &c.ref), message);
  EXPECT_DEATH(f32Entry(GetParam(), false)(&a.ref, &b.ref, &f.ref), message);
}

// Half operands into an f32 C (a product whose result is not only
// narrowed), transposed and accumulated into.
TEST_P(CUBLASHalfTest, FloatResult) {
  HalfView a(GetParam(), 2 * 4 * 3, 0, {2, 3, 4}, {12, 1, 3});
  HalfView b(GetParam(), 2 * 4 * 5, 0, {2, 4, 5}, {20, 5, 1});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectHalfProductF32(a, b, c, /*accumulate=*/false, 1);
  expectHalfProductF32(a, b, c, /*accumulate=*/true, 1);
}

INSTANTIATE_TEST_SUITE_P(Types, CUBLASHalfTest,
                         testing::Values(Half::F16, Half::BF16),
                         [](const testing::TestParamInfo<Half> &info) {
                           return info.param == Half::F16 ? "F16" : "BF16";
                         });

// The runtime's conversions round to nearest even, as the GPU's do.
TEST(CUBLASTest, HalfConversionsRoundToNearestEven) {
  using namespace mlir::attnres::runtime;
  EXPECT_EQ(floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(floatToF16(1.0f + 0x1p-11f), 0x3c00); // A tie, to even.
  EXPECT_EQ(floatToF16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00);
  EXPECT_EQ(floatToF16(-0x1p-24f), 0x8001);
  EXPECT_EQ(floatToF16(0x1p-25f), 0x0000); // A tie, to even.
  EXPECT_EQ(f16ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(f16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(bf16ToFloat(0xbf80), -1.0f);
  for (uint32_t h = 0; h < 0x7c00; ++h)
    ASSERT_EQ(floatToF16(f16ToFloat(uint16_t(h))), h);
}

} // namespace
