//===- FakeCUBLAS.cpp - cuBLAS on the host, for tests ---------------------===//
//
// What the runtime's cuBLAS glue calls, computed on the host with cuBLAS's
// column-major semantics, so that the tests check how the glue maps the
// compiled code's row-major strided operands (transposes, leading
// dimensions, batch strides) without a GPU. With the fake driver, "device"
// memory is host memory. fake_cublas_calls() counts the products.
//
//===----------------------------------------------------------------------===//

#include <cstdint>

namespace {
constexpr int kSuccess = 0, kInvalidValue = 7; // CUBLAS_STATUS_INVALID_VALUE
int handle;
int calls = 0;

/// Element (i, j) of a column-major matrix stored with leading dimension ld,
/// after op (0: N, 1: T).
float at(const float *p, int op, int ld, long long i, long long j) {
  return op == 0 ? p[i + j * ld] : p[j + i * ld];
}
} // namespace

extern "C" {

int cublasCreate_v2(void **out) {
  *out = &handle;
  return kSuccess;
}
int cublasSetStream_v2(void *, void *) { return kSuccess; }
const char *cublasGetStatusName(int status) {
  return status == kInvalidValue ? "CUBLAS_STATUS_INVALID_VALUE"
                                 : "CUBLAS_STATUS_?";
}

/// C = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n, per batch.
int cublasSgemmStridedBatched(void *, int opA, int opB, int m, int n, int k,
                              const float *alpha, const float *a, int lda,
                              long long strideA, const float *b, int ldb,
                              long long strideB, const float *beta, float *c,
                              int ldc, long long strideC, int batch) {
  // cuBLAS's own argument checks.
  if (m < 0 || n < 0 || k < 0 || batch < 0 || ldc < (m > 1 ? m : 1) ||
      lda < ((opA == 0 ? m : k) > 1 ? (opA == 0 ? m : k) : 1) ||
      ldb < ((opB == 0 ? k : n) > 1 ? (opB == 0 ? k : n) : 1))
    return kInvalidValue;
  ++calls;
  for (int p = 0; p < batch; ++p)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        float sum = 0;
        for (int x = 0; x < k; ++x)
          sum += at(a + p * strideA, opA, lda, i, x) *
                 at(b + p * strideB, opB, ldb, x, j);
        float &out = c[p * strideC + i + j * (long long)ldc];
        out = *alpha * sum + (*beta == 0.0f ? 0.0f : *beta * out);
      }
  return kSuccess;
}

int fake_cublas_calls() { return calls; }
}
