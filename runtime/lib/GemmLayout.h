//===- GemmLayout.h - Strided memrefs as BLAS operands ----------*- C++ -*-===//
//
// What attnres_sgemm_batched (OpenBLAS) and attnres_cublas_sgemm_batched
// (cuBLAS) share: the rank-3 memref descriptors the compiled code passes,
// and how a matrix's strides become a leading dimension and a transpose
// flag. The loops for the layouts no BLAS expresses are the CPU's only: on
// the GPU, --attnres-linalg-to-blas copies such operands first and the
// cuBLAS glue refuses them. The f16 and bf16 conversions read and write the
// half-precision operands of attnres_cublas_gemm_batched_ex_* on the host,
// as the tests of those products do.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_LIB_GEMMLAYOUT_H
#define ATTNRES_RUNTIME_LIB_GEMMLAYOUT_H

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace mlir::attnres::runtime {

/// StridedMemRefType<T, 3>, as the C interface passes it.
template <typename T> struct StridedMemref3 {
  T *allocated, *data;
  int64_t offset, sizes[3], strides[3];
};
using Memref3 = StridedMemref3<float>;
/// f16 and bf16 elements, as their bits.
using HalfMemref3 = StridedMemref3<uint16_t>;

/// IEEE binary16 to float (exact).
inline float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f,
           mant = h & 0x3ff;
  if (exp == 0) {
    float f = std::ldexp(float(mant), -24);
    return sign ? -f : f;
  }
  uint32_t bits = sign | (exp == 31 ? 0x7f800000 | (mant << 13)
                                    : ((exp + 112) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// float to binary16, rounding to nearest even as the GPU's conversion does.
inline uint16_t floatToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000, abs = x & 0x7fffffff;
  if (abs > 0x7f800000)
    return uint16_t(sign | 0x7e00);
  if (abs >= 0x47800000) // 2^16 and up, infinity included.
    return uint16_t(sign | 0x7c00);
  if (abs < 0x38800000) // Below 2^-14: a subnormal, in units of 2^-24.
    return uint16_t(sign | uint32_t(std::nearbyint(std::fabs(f) * 0x1p24f)));
  uint32_t h = ((((abs >> 23) - 112) << 10) | ((abs & 0x7fffff) >> 13)),
           rest = abs & 0x1fff;
  // A carry out of the mantissa steps the exponent, up to infinity.
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
    ++h;
  return uint16_t(sign | h);
}

/// bfloat16 to float (exact).
inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// float to bfloat16, rounding to nearest even.
inline uint16_t floatToBF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  if ((x & 0x7fffffff) > 0x7f800000)
    return uint16_t((x >> 16) | 0x40);
  return uint16_t((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

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
