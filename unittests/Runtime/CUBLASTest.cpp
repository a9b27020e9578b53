//===- CUBLASTest.cpp - The runtime's cuBLAS glue without a GPU -----------===//
//
// The compiled code hands attnres_cublas_sgemm_batched row-major strided
// views (transposed operands, padded rows, weights shared across the
// batch); cuBLAS is column-major. These products run on a host-side cuBLAS
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

using mlir::attnres::runtime::Memref3;

extern "C" void _mlir_ciface_attnres_cublas_sgemm_batched(Memref3 *, Memref3 *,
                                                          Memref3 *);
extern "C" void _mlir_ciface_attnres_cublas_sgemm_batched_overwrite(Memref3 *,
                                                                    Memref3 *,
                                                                    Memref3 *);

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
/// make (0 for layouts it must compute itself).
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

// A stride cuBLAS cannot express (a broadcast column): the host computes it.
TEST(CUBLASTest, InexpressibleLayoutsRunOnTheHost) {
  View a(2 * 3 * 4, 0, {2, 3, 4}, {12, 4, 1});
  View b(2 * 4, 0, {2, 4, 5}, {4, 1, 0});
  View c(2 * 3 * 5, 0, {2, 3, 5}, {15, 5, 1});
  expectProduct(a, b, c, /*accumulate=*/true, 0);
}

TEST(CUBLASTest, MissingLibrarySaysSo) {
  setenv("ATTNRES_CUBLAS", "/nonexistent/libcublas.so.12", 1);
  EXPECT_EQ(mlir::attnres::runtime::loadCUBLAS(),
            "ATTNRES_CUBLAS=/nonexistent/libcublas.so.12 is not a cuBLAS "
            "library with cublasSgemmStridedBatched");
}

} // namespace
