//===- CUBLAS.cpp - The GPU's matrix products, on cuBLAS ------------------===//
//
// attnres_cublas_sgemm_batched (C += A x B) and its _overwrite variant
// (C = A x B): what --attnres-linalg-to-blas calls in the GPU pipeline, on
// the device buffers of a CUDA artifact, as one cublasSgemmStridedBatched
// queued on the launches' stream.
// attnres_cublas_gemm_batched_ex_<ab>_<c>[_overwrite] do the same for f16
// and bf16 operands (C of their type, or f32) as one
// cublasGemmStridedBatchedEx computing in f32: a half-precision model's
// products then read its half-precision weights as they are, where widening
// them to f32 first costs a pass over memory per product and run.
// cuBLAS is opened at run time, like the driver, so the runtime loads where
// it is not installed; a model that needs it says so when loaded.
//
// cuBLAS is column-major: the row-major C = A B is computed as the
// column-major C^T = B^T A^T, which reads the same memory with the operands
// and the sizes m and n swapped.
//
//===----------------------------------------------------------------------===//

#include "CUDADriver.h"
#include "CUDAProfile.h"
#include "GemmLayout.h"
#include "attnres/Runtime/Artifact.h"
#include "attnres/Runtime/CUDA.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

using namespace attnres::cuda;
using mlir::attnres::runtime::blasLayout;
using mlir::attnres::runtime::fitsBlasInt;
using mlir::attnres::runtime::HalfMemref3;
using mlir::attnres::runtime::Memref3;

namespace {

using cublasHandle_t = void *;
using cublasStatus_t = int;
// cublasOperation_t.
constexpr int kOpN = 0, kOpT = 1;
// cudaDataType (library_types.h), cublasComputeType_t and cublasGemmAlgo_t
// (cublas_api.h): the values of CUDA 11 to 13.
constexpr int kR32F = 0, kR16F = 2, kR16BF = 14;
constexpr int kCompute32F = 68;
constexpr int kGemmDefault = -1;

/// The element types of the glue's operands, as cudaDataType.
enum class Elem { F32 = kR32F, F16 = kR16F, BF16 = kR16BF };

/// A rank-3 operand of any element type: its first element and its sizes
/// and strides, in elements.
struct Operand {
  char *base;
  Elem type;
  const int64_t *sizes, *strides;

  template <typename T>
  Operand(const mlir::attnres::runtime::StridedMemref3<T> &m, Elem type)
      : base(reinterpret_cast<char *>(m.data + m.offset)), type(type),
        sizes(m.sizes), strides(m.strides) {}
  size_t elementSize() const { return type == Elem::F32 ? 4 : 2; }
  /// Element (p, i, j)'s address.
  char *at(int64_t p, int64_t i, int64_t j) const {
    return base +
           (p * strides[0] + i * strides[1] + j * strides[2]) * elementSize();
  }
};

struct CuBLAS {
  cublasStatus_t (*create)(cublasHandle_t *) = nullptr;
  cublasStatus_t (*setStream)(cublasHandle_t, CUstream) = nullptr;
  cublasStatus_t (*sgemmStridedBatched)(cublasHandle_t, int, int, int, int, int,
                                        const float *, const float *, int,
                                        long long, const float *, int,
                                        long long, const float *, float *, int,
                                        long long, int) = nullptr;
  /// Optional: only f16 and bf16 products need it.
  cublasStatus_t (*gemmStridedBatchedEx)(cublasHandle_t, int, int, int, int,
                                         int, const void *, const void *, int,
                                         int, long long, const void *, int, int,
                                         long long, const void *, void *, int,
                                         int, long long, int, int,
                                         int) = nullptr;
  const char *(*statusName)(cublasStatus_t) = nullptr;

  /// One handle for the process, made on first use (it needs the device);
  /// calls take turns on it.
  std::mutex mutex;
  cublasHandle_t handle = nullptr;
};

CuBLAS cublas;
std::string cublasError;
std::once_flag cublasOnce;

/// The libcublas.so.* of Python installations: pip's nvidia-cublas wheels
/// (which PyTorch installs) keep it in site-packages/nvidia/cublas/lib, or
/// nvidia/cu13/lib for CUDA 13.
std::vector<std::string> pythonCandidates() {
  std::vector<std::string> prefixes;
  for (const char *variable : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char *value = std::getenv(variable); value && *value)
      prefixes.push_back(value);
  if (const char *home = std::getenv("HOME"); home && *home)
    prefixes.push_back(std::string(home) + "/.local");
  for (const char *prefix : {"/usr/local", "/usr", "/opt/conda"})
    prefixes.push_back(prefix);
  std::vector<std::string> found;
  for (const std::string &prefix : prefixes)
    for (const char *packages : {"site-packages", "dist-packages"})
      for (const char *folder : {"cublas", "cu1*"}) {
        std::string pattern = prefix + "/lib/python3*/" + packages +
                              "/nvidia/" + folder + "/lib/libcublas.so.*";
        glob_t matches;
        if (glob(pattern.c_str(), 0, nullptr, &matches) == 0)
          for (size_t i = 0; i < matches.gl_pathc; ++i)
            found.push_back(matches.gl_pathv[i]);
        globfree(&matches);
      }
  return found;
}

bool resolve(void *lib) {
  cublas.create =
      reinterpret_cast<decltype(cublas.create)>(dlsym(lib, "cublasCreate_v2"));
  cublas.setStream = reinterpret_cast<decltype(cublas.setStream)>(
      dlsym(lib, "cublasSetStream_v2"));
  cublas.sgemmStridedBatched =
      reinterpret_cast<decltype(cublas.sgemmStridedBatched)>(
          dlsym(lib, "cublasSgemmStridedBatched"));
  cublas.gemmStridedBatchedEx =
      reinterpret_cast<decltype(cublas.gemmStridedBatchedEx)>(
          dlsym(lib, "cublasGemmStridedBatchedEx"));
  cublas.statusName = reinterpret_cast<decltype(cublas.statusName)>(
      dlsym(lib, "cublasGetStatusName"));
  return cublas.create && cublas.setStream && cublas.sgemmStridedBatched;
}

void openCUBLAS() {
  std::string tried;
  auto attempt = [&](const std::string &name) {
    // A wheel's libcublas finds its libcublasLt beside it only if that is
    // loaded first.
    if (size_t slash = name.rfind('/'); slash != std::string::npos) {
      std::string lt = name.substr(0, slash) + "/libcublasLt" +
                       name.substr(name.find(".so", slash));
      dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL);
    }
    if (void *lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      if (resolve(lib))
        return true;
      dlclose(lib);
    }
    tried += (tried.empty() ? "" : ", ") + name;
    return false;
  };
  if (const char *path = std::getenv("ATTNRES_CUBLAS"); path && *path) {
    if (!attempt(path))
      cublasError = std::string("ATTNRES_CUBLAS=") + path +
                    " is not a cuBLAS library with cublasSgemmStridedBatched";
    return;
  }
  std::vector<std::string> candidates = {"libcublas.so.13", "libcublas.so.12",
                                         "libcublas.so.11", "libcublas.so"};
  for (std::string &path : pythonCandidates())
    candidates.push_back(std::move(path));
  for (const std::string &name : candidates)
    if (attempt(name))
      return;
  cublasError = "the model's matrix products need cuBLAS, and none was found "
                "(tried " +
                tried +
                "); install it (the CUDA toolkit, or pip's "
                "nvidia-cublas-cu12) or set ATTNRES_CUBLAS to its path";
}

void check(cublasStatus_t status, const char *call) {
  if (status == 0)
    return;
  const char *name = cublas.statusName ? cublas.statusName(status) : nullptr;
  fail(call, name ? name : "cuBLAS status " + std::to_string(status));
}

/// Why `m`'s matrices (`rows` x `cols`) are no layout cuBLAS takes.
std::string layoutError(const char *name, const Operand &m, int64_t rows,
                        int64_t cols) {
  return std::string(name) + "'s strides [" + std::to_string(m.strides[0]) +
         ", " + std::to_string(m.strides[1]) + ", " +
         std::to_string(m.strides[2]) + "] for " + std::to_string(rows) + "x" +
         std::to_string(cols) +
         " matrices are no layout cuBLAS takes (one matrix stride 1, the "
         "other a leading dimension from the extent to INT_MAX); "
         "--attnres-linalg-to-blas copies such an operand before the call, "
         "and nothing computes a product on the host";
}

/// Sets C to zero on `stream`: beta = 0 with nothing to sum (k = 0). One
/// memset where C is packed, else one per matrix or per line (a row, or a
/// column of a C stored by columns), all on the device.
void zeroOutput(const Driver &d, const ScopedContext &scope, const Operand &c,
                bool tc, int ldc, CUstream stream) {
  int64_t batch = c.sizes[0], lines = tc ? c.sizes[2] : c.sizes[1],
          length = tc ? c.sizes[1] : c.sizes[2];
  auto memset = [&](char *at, int64_t count) {
    auto p = reinterpret_cast<CUdeviceptr>(at);
    // Every type's zero is all bits clear.
    if (c.type == Elem::F32)
      scope.check(d.cuMemsetD32Async(p, 0, size_t(count), stream),
                  "cuMemsetD32Async");
    else
      scope.check(d.cuMemsetD16Async(p, 0, size_t(count), stream),
                  "cuMemsetD16Async");
  };
  bool packedMatrix = lines == 1 || ldc == length;
  if (packedMatrix && (batch == 1 || c.strides[0] == lines * length)) {
    memset(c.base, batch * lines * length);
    return;
  }
  for (int64_t p = 0; p < batch; ++p) {
    if (packedMatrix) {
      memset(c.at(p, 0, 0), lines * length);
      continue;
    }
    for (int64_t line = 0; line < lines; ++line)
      memset(tc ? c.at(p, 0, line) : c.at(p, line, 0), length);
  }
}

/// C = A B + beta C per batch; beta is 1 or 0 (C is then not read). A and
/// B have one type; f32 throughout is cublasSgemmStridedBatched, half
/// types are cublasGemmStridedBatchedEx with f32 compute (and alpha, beta).
/// Everything runs on the device: the buffers may be device memory, which
/// the host cannot read.
void gemmBatched(const Operand &a, const Operand &b, const Operand &c,
                 float beta) {
  int64_t batch = c.sizes[0], m = c.sizes[1], n = c.sizes[2], k = a.sizes[2];
  if (batch == 0 || m == 0 || n == 0)
    return;
  // Nothing to add to C.
  if (k == 0 && beta != 0.0f)
    return;
  bool single = a.type == Elem::F32 && c.type == Elem::F32;
  const char *call =
      single ? "cublasSgemmStridedBatched" : "cublasGemmStridedBatchedEx";
  if (!fitsBlasInt(batch) || !fitsBlasInt(m) || !fitsBlasInt(n) ||
      !fitsBlasInt(k))
    fail(call, "the product's sizes (batch " + std::to_string(batch) + ", m " +
                   std::to_string(m) + ", n " + std::to_string(n) + ", k " +
                   std::to_string(k) +
                   ") pass INT_MAX, the largest cuBLAS takes");
  // With k = 0, A and B hold no element and only C's layout matters.
  bool ta = false, tb = false, tc = false;
  int lda = 1, ldb = 1, ldc = 1;
  if (!blasLayout(c.strides[1], c.strides[2], m, n, tc, ldc))
    fail(call, layoutError("C", c, m, n));
  if (k > 0 && !blasLayout(a.strides[1], a.strides[2], m, k, ta, lda))
    fail(call, layoutError("A", a, m, k));
  if (k > 0 && !blasLayout(b.strides[1], b.strides[2], k, n, tb, ldb))
    fail(call, layoutError("B", b, k, n));
  if (std::string error = mlir::attnres::runtime::loadCUBLAS(); !error.empty())
    fail("loading cuBLAS", error);
  if (k > 0 && !single && !cublas.gemmStridedBatchedEx)
    fail("cublasGemmStridedBatchedEx",
         "the cuBLAS library loaded has no cublasGemmStridedBatchedEx, which "
         "the model's f16 and bf16 products need");
  attnres::cuda::profile::Scope timed(k > 0 ? call
                                            : "zeroing a product (k = 0)");
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(cublas.mutex);
  ScopedContext scope(d);
  if (!cublas.handle)
    check(cublas.create(&cublas.handle), "cublasCreate");
  // The launches' stream: the product runs after the kernels that wrote A
  // and B and before those that read C, with no synchronization between.
  void *stream = attnres::cuda::currentStream();
  check(cublas.setStream(cublas.handle, stream), "cublasSetStream");
  if (k == 0) {
    zeroOutput(d, scope, c, tc, ldc, stream);
  } else {
    // cuBLAS is column-major. A row-major C is the column-major C^T = B^T
    // A^T: the operands and m and n swap. A C stored by columns (a
    // transposed view) is the column-major C = A B itself, and a row-major
    // operand is then the transpose of what cuBLAS reads.
    const Operand &x = tc ? a : b, &y = tc ? b : a;
    bool tx = tc ? !ta : tb, ty = tc ? !tb : ta;
    int ldx = tc ? lda : ldb, ldy = tc ? ldb : lda;
    int rows = int(tc ? m : n), cols = int(tc ? n : m);
    const float one = 1.0f;
    if (single)
      check(cublas.sgemmStridedBatched(
                cublas.handle, tx ? kOpT : kOpN, ty ? kOpT : kOpN, rows, cols,
                int(k), &one, reinterpret_cast<const float *>(x.base), ldx,
                x.strides[0], reinterpret_cast<const float *>(y.base), ldy,
                y.strides[0], &beta, reinterpret_cast<float *>(c.base), ldc,
                c.strides[0], int(batch)),
            call);
    else
      check(cublas.gemmStridedBatchedEx(
                cublas.handle, tx ? kOpT : kOpN, ty ? kOpT : kOpN, rows, cols,
                int(k), &one, x.base, int(x.type), ldx, x.strides[0], y.base,
                int(y.type), ldy, y.strides[0], &beta, c.base, int(c.type), ldc,
                c.strides[0], int(batch), kCompute32F, kGemmDefault),
            call);
  }
}

} // namespace

std::string mlir::attnres::runtime::loadCUBLAS() {
  std::call_once(cublasOnce, openCUBLAS);
  return cublasError;
}

extern "C" void
_mlir_ciface_attnres_cublas_sgemm_batched(Memref3 *a, Memref3 *b, Memref3 *c) {
  gemmBatched({*a, Elem::F32}, {*b, Elem::F32}, {*c, Elem::F32}, 1.0f);
}

extern "C" void
_mlir_ciface_attnres_cublas_sgemm_batched_overwrite(Memref3 *a, Memref3 *b,
                                                    Memref3 *c) {
  gemmBatched({*a, Elem::F32}, {*b, Elem::F32}, {*c, Elem::F32}, 0.0f);
}

// attnres_cublas_gemm_batched_ex_<A and B's type>_<C's type>, and its
// _overwrite variant; the names are --attnres-linalg-to-blas's.
#define ATTNRES_GEMM_EX(SUFFIX, AB, CMEMREF, C)                                \
  extern "C" void _mlir_ciface_attnres_cublas_gemm_batched_ex_##SUFFIX(        \
      HalfMemref3 *a, HalfMemref3 *b, CMEMREF *c) {                            \
    gemmBatched({*a, Elem::AB}, {*b, Elem::AB}, {*c, Elem::C}, 1.0f);          \
  }                                                                            \
  extern "C" void                                                              \
      _mlir_ciface_attnres_cublas_gemm_batched_ex_##SUFFIX##_overwrite(        \
          HalfMemref3 *a, HalfMemref3 *b, CMEMREF *c) {                        \
    gemmBatched({*a, Elem::AB}, {*b, Elem::AB}, {*c, Elem::C}, 0.0f);          \
  }
ATTNRES_GEMM_EX(f16_f16, F16, HalfMemref3, F16)
ATTNRES_GEMM_EX(f16_f32, F16, Memref3, F32)
ATTNRES_GEMM_EX(bf16_bf16, BF16, HalfMemref3, BF16)
ATTNRES_GEMM_EX(bf16_f32, BF16, Memref3, F32)
#undef ATTNRES_GEMM_EX
