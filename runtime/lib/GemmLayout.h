//===- GemmLayout.h - Strided memrefs as BLAS operands ----------*- C++ -*-===//
//
// What attnres_sgemm_batched (OpenBLAS) and attnres_cublas_sgemm_batched
// (cuBLAS) share: the rank-3 f32 memref descriptors the compiled code
// passes, how a matrix's strides become a leading dimension and a transpose
// flag, and the loops for the layouts no BLAS expresses.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_LIB_GEMMLAYOUT_H
#define ATTNRES_RUNTIME_LIB_GEMMLAYOUT_H

#include <algorithm>
#include <climits>
#include <cstdint>

namespace mlir::attnres::runtime {

/// StridedMemRefType<float, 3>, as the C interface passes it.
struct Memref3 {
  float *allocated, *data;
  int64_t offset, sizes[3], strides[3];
};

/// BLAS takes sizes and leading dimensions as int; a value past INT_MAX
/// would wrap into a wrong (or negative) one.
inline bool fitsBlasInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

/// A row-major `rows x cols` matrix whose element (i, j) is at i * s0 + j *
/// s1: as stored (transposed = false, leading dimension s0), or as the
/// transpose of a stored matrix (true, s1). False when neither fits.
inline bool blasLayout(int64_t s0, int64_t s1, int64_t rows, int64_t cols,
                       bool &transposed, int &ld) {
  if (s1 == 1 && s0 >= std::max<int64_t>(cols, 1) && fitsBlasInt(s0)) {
    transposed = false;
    ld = int(s0);
    return true;
  }
  if (s0 == 1 && s1 >= std::max<int64_t>(rows, 1) && fitsBlasInt(s1)) {
    transposed = true;
    ld = int(s1);
    return true;
  }
  return false;
}

/// C[i] = A[i] B[i] + beta C[i] for batch `i` and columns [col, col +
/// cols), by loops: the layouts BLAS cannot express (broadcast strides of
/// 0). beta is 1 or 0 (C is then not read).
inline void loopProduct(const Memref3 &a, const Memref3 &b, const Memref3 &c,
                        float beta, int64_t i, int64_t col, int64_t cols) {
  int64_t m = c.sizes[1], k = a.sizes[2];
  const float *ai = a.data + a.offset + i * a.strides[0];
  const float *bi = b.data + b.offset + i * b.strides[0] + col * b.strides[2];
  float *ci = c.data + c.offset + i * c.strides[0] + col * c.strides[2];
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float &out = ci[r * c.strides[1] + j * c.strides[2]];
      float acc = beta == 0.0f ? 0.0f : out;
      for (int64_t x = 0; x < k; ++x)
        acc += ai[r * a.strides[1] + x * a.strides[2]] *
               bi[x * b.strides[1] + j * b.strides[2]];
      out = acc;
    }
}

} // namespace mlir::attnres::runtime

#endif // ATTNRES_RUNTIME_LIB_GEMMLAYOUT_H
