//===- FakeCUBLAS.cpp - cuBLAS on the host, for tests ---------------------===//
//
// What the runtime's cuBLAS glue calls, computed on the host with cuBLAS's
// column-major semantics, so that the tests check how the glue maps the
// compiled code's row-major strided operands (transposes, leading
// dimensions, batch strides) without a GPU. The fake driver's device memory
// is host pages that only its "GPU work" may touch; a product is such work.
// fake_cublas_calls() counts the products.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

namespace {
constexpr int kSuccess = 0, kInvalidValue = 7; // CUBLAS_STATUS_INVALID_VALUE
constexpr int kNotSupported = 15;              // CUBLAS_STATUS_NOT_SUPPORTED
// cudaDataType and cublasComputeType_t.
constexpr int kR32F = 0, kR16F = 2, kR16BF = 14, kCompute32F = 68;
int handle;
int calls = 0;

/// Opens the fake driver's device memory to the host for one product (when
/// the fake driver is the one loaded).
struct DeviceAccess {
  using Fn = void (*)(int);
  Fn fn = nullptr;
  DeviceAccess() {
    const char *driver = std::getenv("ATTNRES_LIBCUDA");
    if (void *lib = driver ? dlopen(driver, RTLD_NOW | RTLD_NOLOAD) : nullptr) {
      fn = reinterpret_cast<Fn>(dlsym(lib, "fake_cuda_device_access"));
      dlclose(lib);
    }
    if (fn)
      fn(1);
  }
  ~DeviceAccess() {
    if (fn)
      fn(0);
  }
};

/// Element (i, j) of a column-major matrix stored with leading dimension ld,
/// after op (0: N, 1: T).
float at(const float *p, int op, int ld, long long i, long long j) {
  return op == 0 ? p[i + j * ld] : p[j + i * ld];
}

// f16 and bf16 by their own conversions (not the runtime's): what the GPU
// does, so that a conversion the runtime got wrong shows in its tests.
float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
float load(const void *p, int type, long long e) {
  if (type == kR32F)
    return static_cast<const float *>(p)[e];
  uint16_t h = static_cast<const uint16_t *>(p)[e];
  if (type == kR16BF)
    return fromBits(uint32_t(h) << 16);
  float mant = float(h & 0x3ff);
  int exp = (h >> 10) & 0x1f;
  float v = exp == 0    ? std::ldexp(mant, -24)
            : exp == 31 ? (mant != 0 ? NAN : INFINITY)
                        : std::ldexp(1024.0f + mant, exp - 25);
  return h & 0x8000 ? -v : v;
}
void store(void *p, int type, long long e, float v) {
  if (type == kR32F) {
    static_cast<float *>(p)[e] = v;
    return;
  }
  // Round to the nearest representable value, ties to even, by rounding
  // the scaled value in the default rounding mode.
  uint16_t h;
  if (type == kR16BF) {
    int exp;
    std::frexp(v, &exp);
    float unit = std::ldexp(1.0f, exp - 8); // 8 significant bits.
    float r = std::nearbyint(v / unit) * unit;
    uint32_t bits;
    std::memcpy(&bits, &r, sizeof bits);
    h = uint16_t(bits >> 16);
  } else {
    float a = std::fabs(v);
    int exp;
    std::frexp(a, &exp);
    // 11 significant bits, fewer below 2^-14.
    float unit = std::ldexp(1.0f, (exp < -13 ? -13 : exp) - 11);
    float r = std::nearbyint(a / unit) * unit;
    uint16_t bits;
    if (r >= 65520.0f)
      bits = 0x7c00;
    else if (r < 0x1p-14f)
      bits = uint16_t(r * 0x1p24f);
    else {
      int e2;
      float m = std::frexp(r, &e2); // r = m 2^e2, m in [0.5, 1).
      bits = uint16_t(((e2 + 14) << 10) | (uint32_t(m * 2048.0f) & 0x3ff));
    }
    h = uint16_t((v < 0 ? 0x8000 : 0) | bits);
  }
  static_cast<uint16_t *>(p)[e] = h;
}
} // namespace

extern "C" {

int cublasCreate_v2(void **out) {
  *out = &handle;
  return kSuccess;
}
int cublasSetStream_v2(void *, void *) { return kSuccess; }
const char *cublasGetStatusName(int status) {
  return status == kInvalidValue   ? "CUBLAS_STATUS_INVALID_VALUE"
         : status == kNotSupported ? "CUBLAS_STATUS_NOT_SUPPORTED"
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
  DeviceAccess access;
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

/// The mixed-precision GEMM, for the f16 and bf16 products: A and B of one
/// type, C of that type or f32, computed in f32 (the only compute type the
/// glue asks for); alpha and beta are floats.
int cublasGemmStridedBatchedEx(void *, int opA, int opB, int m, int n, int k,
                               const void *alpha, const void *a, int aType,
                               int lda, long long strideA, const void *b,
                               int bType, int ldb, long long strideB,
                               const void *beta, void *c, int cType, int ldc,
                               long long strideC, int batch, int computeType,
                               int algo) {
  if (m < 0 || n < 0 || k < 0 || batch < 0 || ldc < (m > 1 ? m : 1) ||
      lda < ((opA == 0 ? m : k) > 1 ? (opA == 0 ? m : k) : 1) ||
      ldb < ((opB == 0 ? k : n) > 1 ? (opB == 0 ? k : n) : 1))
    return kInvalidValue;
  if (computeType != kCompute32F || algo != -1 || aType != bType ||
      (aType != kR16F && aType != kR16BF) || (cType != aType && cType != kR32F))
    return kNotSupported;
  ++calls;
  DeviceAccess access;
  float al = *static_cast<const float *>(alpha),
        be = *static_cast<const float *>(beta);
  auto elem = [](int op, int ld, long long i, long long j) {
    return op == 0 ? i + j * ld : j + i * ld;
  };
  for (int p = 0; p < batch; ++p)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        float sum = 0;
        for (int x = 0; x < k; ++x)
          sum += load(a, aType, p * strideA + elem(opA, lda, i, x)) *
                 load(b, bType, p * strideB + elem(opB, ldb, x, j));
        long long e = p * strideC + i + j * (long long)ldc;
        store(c, cType, e,
              al * sum + (be == 0.0f ? 0.0f : be * load(c, cType, e)));
      }
  return kSuccess;
}

int fake_cublas_calls() { return calls; }
}
