//===- BLAS.cpp - The runtime side of --attnres-linalg-to-blas ------------===//
//
// attnres_sgemm_batched (C += A x B) and attnres_sgemm_batched_overwrite
// (C = A x B, C not read) per batch with cblas_sgemm, for the strided memrefs
// the compiled code passes through the C interface. OpenBLAS is opened at run
// time, so the runtime (and an artifact) loads on machines without it and says
// so only when a model needs it.
//
//===----------------------------------------------------------------------===//

#include "GemmLayout.h"
#include "PackedProducts.h"

#include "attnres/Runtime/Artifact.h"

#include <dlfcn.h>

#include <atomic>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace {
// CBLAS's enumerators, fixed by the reference interface.
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
using mlir::attnres::runtime::blasLayout;
using mlir::attnres::runtime::fitsBlasInt;
using mlir::attnres::runtime::loopProduct;
using mlir::attnres::runtime::Memref3;
using mlir::attnres::runtime::PackedProducts;
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float *,
                         int, const float *, int, float, float *, int);

SgemmFn sgemm = nullptr;
std::atomic<int> requestedThreads{0};
/// What OpenBLAS would have used (OPENBLAS_NUM_THREADS, else all cores):
/// the default of numThreads().
int blasDefaultThreads = 0;
std::string blasError;
std::once_flag blasOnce;

/// OpenBLAS picks its kernels from the CPU's family and model, and falls
/// back to its slowest generic ones (Prescott) on a CPU it does not know,
/// which is what virtual machines often report: 4.4x slower matrix
/// products on the machine of bench/RESULTS.md. It reads OPENBLAS_CORETYPE
/// once, when loaded; unless the user set it, name the kernels the
/// instruction set supports. (OpenBLAS's newer x86 cores reuse these
/// kernels for sgemm, so a CPU it does know loses nothing.)
void chooseOpenBLASCore() {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE"))
    return;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    setenv("OPENBLAS_CORETYPE", "SkylakeX", /*overwrite=*/0);
  else if (__builtin_cpu_supports("avx2"))
    setenv("OPENBLAS_CORETYPE", "Haswell", /*overwrite=*/0);
#endif
}

void openBLAS() {
  chooseOpenBLASCore();
  std::string tried;
  auto attempt = [&](const char *name) {
    if (void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL))
      if (void *fn = dlsym(lib, "cblas_sgemm")) {
        sgemm = reinterpret_cast<SgemmFn>(fn);
        // One pool for the whole run: the runtime's threads split the
        // matrix products too, each calling a single-threaded OpenBLAS.
        // Two pools on the same cores fight: OpenBLAS's threads spin for a
        // while after each product, when the runtime's want the cores.
        auto set = reinterpret_cast<void (*)(int)>(
            dlsym(lib, "openblas_set_num_threads"));
        auto get =
            reinterpret_cast<int (*)()>(dlsym(lib, "openblas_get_num_threads"));
        if (get)
          blasDefaultThreads = get();
        if (set)
          set(1);
        return true;
      }
    tried += std::string(tried.empty() ? "" : ", ") + name;
    return false;
  };
  if (const char *path = std::getenv("ATTNRES_BLAS"); path && *path) {
    if (!attempt(path))
      blasError = std::string("ATTNRES_BLAS=") + path +
                  " is not a library with cblas_sgemm";
    return;
  }
  for (const char *name :
       {"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"})
    if (attempt(name))
      return;
  blasError = "the model calls BLAS, and no library with cblas_sgemm was "
              "found (tried " +
              tried +
              "); install OpenBLAS (Debian: libopenblas0) or set "
              "ATTNRES_BLAS to its path";
}

} // namespace

std::string mlir::attnres::runtime::loadBLAS() {
  std::call_once(blasOnce, openBLAS);
  return blasError;
}

/// C = A B + beta C per batch; beta is 1 or 0 (C is then not read). Split
/// over the runtime's threads by batch, or by blocks of columns of each
/// product, each piece a single-threaded cblas_sgemm.
static void sgemmBatched(Memref3 *a, Memref3 *b, Memref3 *c, float beta) {
  mlir::attnres::runtime::loadBLAS();
  int64_t batch = c->sizes[0], m = c->sizes[1], n = c->sizes[2],
          k = a->sizes[2];
  const float *pa = a->data + a->offset;
  const float *pb = b->data + b->offset;
  float *pc = c->data + c->offset;
  bool ta, tb, tc;
  int lda, ldb, ldc;
  // Sizes or strides past int are a layout BLAS cannot express either: the
  // loops below handle them exactly. The glue has no error channel (the
  // compiled code calls it as void), and a slow correct result beats
  // stopping the process; a model that needs BLAS does not load without it.
  bool blas = sgemm && fitsBlasInt(m) && fitsBlasInt(n) && fitsBlasInt(k) &&
              blasLayout(a->strides[1], a->strides[2], m, k, ta, lda) &&
              blasLayout(b->strides[1], b->strides[2], k, n, tb, ldb) &&
              blasLayout(c->strides[1], c->strides[2], m, n, tc, ldc) && !tc;
  // Products by a model's weights: oneDNN on a copy packed once, while it
  // takes them; what remains goes on below.
  int64_t done = 0;
  if (PackedProducts *packed = PackedProducts::current();
      packed && PackedProducts::available() && a->strides[2] == 1 &&
      c->strides[2] == 1 && a->strides[1] >= k && c->strides[1] >= n &&
      b->strides[0] >= 0 && b->strides[1] >= 0 && b->strides[2] >= 0 && m > 0 &&
      n > 0 && k > 0) {
    int64_t span = (batch - 1) * b->strides[0] + (k - 1) * b->strides[1] +
                   (n - 1) * b->strides[2] + 1;
    if (packed->holds(pb, size_t(span) * sizeof(float)))
      while (done < batch &&
             packed->multiply(m, n, k, pa + done * a->strides[0], a->strides[1],
                              pb + done * b->strides[0], b->strides[1],
                              b->strides[2], pc + done * c->strides[0],
                              c->strides[1], beta != 0.0f))
        ++done;
  }
  // Batch i, columns [col, col + cols).
  auto piece = [&](int64_t i, int64_t col, int64_t cols) {
    const float *ai = pa + i * a->strides[0];
    const float *bi = pb + i * b->strides[0] + col * b->strides[2];
    float *ci = pc + i * c->strides[0] + col * c->strides[2];
    if (blas)
      sgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, int(m),
            int(cols), int(k), 1.0f, ai, lda, bi, ldb, beta, ci, ldc);
    else
      loopProduct(*a, *b, *c, beta, i, col, cols);
  };
  int threads = mlir::attnres::runtime::numThreads();
  if (threads <= 1 || double(batch - done) * m * n * k <
                          mlir::attnres::runtime::kMinParallelProductWork) {
    for (int64_t i = done; i < batch; ++i)
      piece(i, 0, n);
    return;
  }
  if (batch - done >= threads) {
    mlir::attnres::runtime::parallelFor(batch - done,
                                        [&](int64_t lo, int64_t hi) {
                                          for (int64_t i = lo; i < hi; ++i)
                                            piece(done + i, 0, n);
                                        });
    return;
  }
  // Blocks of whole 16-column vectors, one or more per thread.
  int64_t per = (n + threads - 1) / threads;
  per = std::max<int64_t>(16, (per + 15) / 16 * 16);
  int64_t blocks = (n + per - 1) / per;
  for (int64_t i = done; i < batch; ++i)
    mlir::attnres::runtime::parallelFor(blocks, [&](int64_t lo, int64_t hi) {
      for (int64_t blk = lo; blk < hi; ++blk)
        piece(i, blk * per, std::min(per, n - blk * per));
    });
}

int mlir::attnres::runtime::numThreads() {
  if (int n = requestedThreads.load(); n > 0)
    return n;
  static const int fallback = [] {
    loadBLAS();
    if (blasDefaultThreads > 0)
      return blasDefaultThreads;
    return std::max(int(std::thread::hardware_concurrency()), 1);
  }();
  return fallback;
}

extern "C" int attnres_set_num_threads(int n) {
  if (n > 0)
    requestedThreads = n;
  return mlir::attnres::runtime::numThreads();
}

extern "C" void _mlir_ciface_attnres_sgemm_batched(Memref3 *a, Memref3 *b,
                                                   Memref3 *c) {
  sgemmBatched(a, b, c, 1.0f);
}

extern "C" void _mlir_ciface_attnres_sgemm_batched_overwrite(Memref3 *a,
                                                             Memref3 *b,
                                                             Memref3 *c) {
  sgemmBatched(a, b, c, 0.0f);
}
