//===- BLAS.cpp - The runtime side of --attnres-linalg-to-blas ------------===//
//
// attnres_sgemm_batched: C += A x B per batch with cblas_sgemm, for the
// strided memrefs the compiled code passes through the C interface.
//
//===----------------------------------------------------------------------===//

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <cblas.h>

#include <climits>

namespace {
using Memref3 = StridedMemRefType<float, 3>;

/// CBLAS takes sizes and leading dimensions as int; a value past INT_MAX
/// would wrap into a wrong (or negative) one.
bool fitsBlasInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

/// The leading dimension and transpose flag for a matrix whose element (i, j)
/// is at i * s0 + j * s1, or false when neither layout is BLAS-compatible.
bool blasLayout(int64_t s0, int64_t s1, int64_t rows, int64_t cols,
                CBLAS_TRANSPOSE &trans, int &ld) {
  if (s1 == 1 && s0 >= std::max<int64_t>(cols, 1) && fitsBlasInt(s0)) {
    trans = CblasNoTrans;
    ld = s0;
    return true;
  }
  if (s0 == 1 && s1 >= std::max<int64_t>(rows, 1) && fitsBlasInt(s1)) {
    trans = CblasTrans;
    ld = s1;
    return true;
  }
  return false;
}
} // namespace

extern "C" void _mlir_ciface_attnres_sgemm_batched(Memref3 *a, Memref3 *b,
                                                   Memref3 *c) {
  int64_t batch = c->sizes[0], m = c->sizes[1], n = c->sizes[2],
          k = a->sizes[2];
  const float *pa = a->data + a->offset;
  const float *pb = b->data + b->offset;
  float *pc = c->data + c->offset;
  CBLAS_TRANSPOSE ta, tb, tc;
  int lda, ldb, ldc;
  // Sizes or strides past int are a layout BLAS cannot express either: the
  // loops below handle them exactly. The glue has no error channel (the
  // compiled code calls it as void), and a slow correct result beats
  // stopping the process.
  bool blas = fitsBlasInt(m) && fitsBlasInt(n) && fitsBlasInt(k) &&
              blasLayout(a->strides[1], a->strides[2], m, k, ta, lda) &&
              blasLayout(b->strides[1], b->strides[2], k, n, tb, ldb) &&
              blasLayout(c->strides[1], c->strides[2], m, n, tc, ldc) &&
              tc == CblasNoTrans;
  for (int64_t i = 0; i < batch; ++i) {
    const float *ai = pa + i * a->strides[0];
    const float *bi = pb + i * b->strides[0];
    float *ci = pc + i * c->strides[0];
    if (blas) {
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, ai, lda, bi, ldb, 1.0f,
                  ci, ldc);
      continue;
    }
    // Layouts BLAS cannot express (e.g. broadcast strides of 0).
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) {
        float acc = ci[r * c->strides[1] + col * c->strides[2]];
        for (int64_t x = 0; x < k; ++x)
          acc += ai[r * a->strides[1] + x * a->strides[2]] *
                 bi[x * b->strides[1] + col * b->strides[2]];
        ci[r * c->strides[1] + col * c->strides[2]] = acc;
      }
  }
}
