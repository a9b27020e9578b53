//===- PackedProducts.cpp - Products with weights packed once -------------===//
//
// oneDNN 2.x through its C API, opened at run time like OpenBLAS: the
// runtime loads, and every product still runs, where libdnnl.so.2 is
// missing. oneDNN picks the packed layout of a matmul's weights
// (format_tag_any; on AVX-512, 16 x 64 blocks that its brgemm kernels
// stream); a reorder makes that copy once per weight matrix.
//
//===----------------------------------------------------------------------===//

#include "PackedProducts.h"

#include "attnres/Runtime/Artifact.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#if ATTNRES_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

using namespace mlir::attnres::runtime;

namespace {
thread_local PackedProducts *currentProducts = nullptr;
} // namespace

PackedProducts *PackedProducts::current() { return currentProducts; }

PackedProducts::Scope::Scope(PackedProducts *products)
    : outer(currentProducts) {
  currentProducts = products;
}

PackedProducts::Scope::~Scope() { currentProducts = outer; }

bool PackedProducts::holds(const void *p, size_t bytes) const {
  auto *at = static_cast<const char *>(p);
  return at >= begin && at <= end && bytes <= size_t(end - at);
}

#if ATTNRES_HAVE_ONEDNN

namespace {
/// The oneDNN functions the runtime calls, found with dlsym.
struct OneDNN {
#define ATTNRES_DNNL_FUNCTIONS(X)                                              \
  X(dnnl_engine_create)                                                        \
  X(dnnl_stream_create)                                                        \
  X(dnnl_stream_destroy)                                                       \
  X(dnnl_memory_desc_init_by_strides)                                          \
  X(dnnl_memory_desc_init_by_tag)                                              \
  X(dnnl_memory_desc_equal)                                                    \
  X(dnnl_memory_desc_get_size)                                                 \
  X(dnnl_memory_create)                                                        \
  X(dnnl_memory_destroy)                                                       \
  X(dnnl_matmul_desc_init)                                                     \
  X(dnnl_primitive_attr_create)                                                \
  X(dnnl_primitive_attr_destroy)                                               \
  X(dnnl_primitive_attr_set_scratchpad_mode)                                   \
  X(dnnl_primitive_attr_set_post_ops)                                          \
  X(dnnl_post_ops_create)                                                      \
  X(dnnl_post_ops_destroy)                                                     \
  X(dnnl_post_ops_append_sum)                                                  \
  X(dnnl_primitive_desc_create)                                                \
  X(dnnl_primitive_desc_destroy)                                               \
  X(dnnl_primitive_desc_query_md)                                              \
  X(dnnl_reorder_primitive_desc_create)                                        \
  X(dnnl_primitive_create)                                                     \
  X(dnnl_primitive_destroy)                                                    \
  X(dnnl_primitive_execute)                                                    \
  X(dnnl_stream_wait)
#define ATTNRES_DNNL_MEMBER(name) decltype(&::name) name = nullptr;
  ATTNRES_DNNL_FUNCTIONS(ATTNRES_DNNL_MEMBER)
#undef ATTNRES_DNNL_MEMBER
  /// libgomp's, which oneDNN's Debian build threads with.
  int (*ompGetMaxThreads)() = nullptr;
  void (*ompSetNumThreads)(int) = nullptr;
  dnnl_engine_t engine = nullptr;
  bool loaded = false;

  OneDNN() {
    if (const char *use = std::getenv("ATTNRES_ONEDNN");
        use && std::strcmp(use, "0") == 0)
      return;
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      return;
#define ATTNRES_DNNL_LOOKUP(name)                                              \
  name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));               \
  if (!name)                                                                   \
    return;
    ATTNRES_DNNL_FUNCTIONS(ATTNRES_DNNL_LOOKUP)
#undef ATTNRES_DNNL_LOOKUP
    ompGetMaxThreads =
        reinterpret_cast<int (*)()>(dlsym(lib, "omp_get_max_threads"));
    ompSetNumThreads =
        reinterpret_cast<void (*)(int)>(dlsym(lib, "omp_set_num_threads"));
    loaded = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success;
  }
#undef ATTNRES_DNNL_FUNCTIONS
};

OneDNN &oneDNN() {
  static OneDNN *instance = new OneDNN(); // used until the process exits
  return *instance;
}

/// Each thread executes on its own stream: the runtime's threads run pieces
/// of one product at once.
struct ThreadStream {
  dnnl_stream_t stream = nullptr;
  std::vector<char> scratchpad;
  ~ThreadStream() {
    if (stream)
      oneDNN().dnnl_stream_destroy(stream);
  }
};
thread_local ThreadStream threadStream;

/// oneDNN runs an OpenMP team inside each call, as wide as the calling
/// thread's OpenMP setting (all cores), whose threads then spin waiting for
/// the next region while the runtime's want the cores. The runtime's
/// threads already split the product: each piece runs on its thread alone,
/// and the caller's setting is restored for its own OpenMP code.
class SingleOpenMPThread {
public:
  SingleOpenMPThread() {
    OneDNN &d = oneDNN();
    if (d.ompGetMaxThreads && d.ompSetNumThreads) {
      saved = d.ompGetMaxThreads();
      if (saved != 1)
        d.ompSetNumThreads(1);
    }
  }
  ~SingleOpenMPThread() {
    if (saved > 1)
      oneDNN().ompSetNumThreads(saved);
  }

private:
  int saved = 0;
};
} // namespace

struct PackedProducts::Impl {
  struct Product {
    dnnl_primitive_t primitive = nullptr;
    dnnl_memory_desc_t src, weights, dst;
    size_t scratchpad = 0;
  };
  struct Packed {
    dnnl_memory_desc_t desc;
    void *data;
  };
  using ProductKey =
      std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
  using WeightKey =
      std::tuple<const float *, int64_t, int64_t, int64_t, int64_t>;

  std::mutex mutex;
  /// A null primitive: oneDNN refused that shape.
  std::map<ProductKey, Product> products;
  std::map<WeightKey, std::vector<Packed>> packs;
  size_t packedBytes = 0;

  ~Impl() {
    OneDNN &d = oneDNN();
    for (auto &[key, product] : products)
      if (product.primitive)
        d.dnnl_primitive_destroy(product.primitive);
    for (auto &[key, list] : packs)
      for (Packed &p : list)
        std::free(p.data);
  }

  /// The matmul for an m x k by k x n product with those leading
  /// dimensions, made on first use; null when oneDNN cannot make it.
  const Product *product(int64_t m, int64_t n, int64_t k, int64_t lda,
                         int64_t ldc, bool accumulate) {
    ProductKey key{m, n, k, lda, ldc, accumulate};
    auto [it, inserted] = products.try_emplace(key);
    Product &p = it->second;
    if (!inserted)
      return p.primitive ? &p : nullptr;
    OneDNN &d = oneDNN();
    dnnl_dims_t srcDims = {m, k}, srcStrides = {lda, 1};
    dnnl_dims_t weightDims = {k, n};
    dnnl_dims_t dstDims = {m, n}, dstStrides = {ldc, 1};
    dnnl_memory_desc_t anyWeights;
    if (d.dnnl_memory_desc_init_by_strides(&p.src, 2, srcDims, dnnl_f32,
                                           srcStrides) != dnnl_success ||
        d.dnnl_memory_desc_init_by_tag(&anyWeights, 2, weightDims, dnnl_f32,
                                       dnnl_format_tag_any) != dnnl_success ||
        d.dnnl_memory_desc_init_by_strides(&p.dst, 2, dstDims, dnnl_f32,
                                           dstStrides) != dnnl_success)
      return nullptr;
    dnnl_matmul_desc_t desc;
    if (d.dnnl_matmul_desc_init(&desc, &p.src, &anyWeights, nullptr, &p.dst) !=
        dnnl_success)
      return nullptr;
    dnnl_primitive_attr_t attr = nullptr;
    dnnl_post_ops_t postOps = nullptr;
    bool ok = d.dnnl_primitive_attr_create(&attr) == dnnl_success &&
              d.dnnl_primitive_attr_set_scratchpad_mode(
                  attr, dnnl_scratchpad_mode_user) == dnnl_success;
    // C += A B: oneDNN adds the destination's old value after the product.
    if (ok && accumulate)
      ok = d.dnnl_post_ops_create(&postOps) == dnnl_success &&
           d.dnnl_post_ops_append_sum(postOps, 1.0f) == dnnl_success &&
           d.dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success;
    dnnl_primitive_desc_t pd = nullptr;
    ok = ok && d.dnnl_primitive_desc_create(&pd, &desc, attr, d.engine,
                                            nullptr) == dnnl_success;
    if (postOps)
      d.dnnl_post_ops_destroy(postOps);
    if (attr)
      d.dnnl_primitive_attr_destroy(attr);
    if (!ok)
      return nullptr;
    p.weights = *d.dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    p.scratchpad = d.dnnl_memory_desc_get_size(
        d.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
    if (d.dnnl_primitive_create(&p.primitive, pd) != dnnl_success)
      p.primitive = nullptr;
    d.dnnl_primitive_desc_destroy(pd);
    return p.primitive ? &p : nullptr;
  }

  /// B in the layout `layout`, packed on first use.
  void *packed(const float *b, int64_t k, int64_t n, int64_t rowStride,
               int64_t colStride, const dnnl_memory_desc_t &layout) {
    OneDNN &d = oneDNN();
    std::vector<Packed> &list = packs[{b, k, n, rowStride, colStride}];
    for (Packed &p : list)
      if (d.dnnl_memory_desc_equal(&p.desc, &layout))
        return p.data;
    dnnl_dims_t dims = {k, n}, strides = {rowStride, colStride};
    dnnl_memory_desc_t plain;
    if (d.dnnl_memory_desc_init_by_strides(&plain, 2, dims, dnnl_f32,
                                           strides) != dnnl_success)
      return nullptr;
    size_t size = d.dnnl_memory_desc_get_size(&layout);
    void *data =
        std::aligned_alloc(64, (std::max<size_t>(size, 1) + 63) / 64 * 64);
    if (!data)
      return nullptr;
    dnnl_primitive_desc_t pd = nullptr;
    dnnl_primitive_t reorder = nullptr;
    dnnl_memory_t from = nullptr, to = nullptr;
    dnnl_stream_t stream = nullptr;
    bool ok =
        d.dnnl_reorder_primitive_desc_create(&pd, &plain, d.engine, &layout,
                                             d.engine,
                                             nullptr) == dnnl_success &&
        d.dnnl_primitive_create(&reorder, pd) == dnnl_success &&
        d.dnnl_memory_create(&from, &plain, d.engine, const_cast<float *>(b)) ==
            dnnl_success &&
        d.dnnl_memory_create(&to, &layout, d.engine, data) == dnnl_success &&
        d.dnnl_stream_create(&stream, d.engine, dnnl_stream_default_flags) ==
            dnnl_success;
    if (ok) {
      dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
      ok = d.dnnl_primitive_execute(reorder, stream, 2, args) == dnnl_success &&
           d.dnnl_stream_wait(stream) == dnnl_success;
    }
    if (stream)
      d.dnnl_stream_destroy(stream);
    if (to)
      d.dnnl_memory_destroy(to);
    if (from)
      d.dnnl_memory_destroy(from);
    if (reorder)
      d.dnnl_primitive_destroy(reorder);
    if (pd)
      d.dnnl_primitive_desc_destroy(pd);
    if (!ok) {
      std::free(data);
      return nullptr;
    }
    list.push_back({layout, data});
    packedBytes += size;
    return data;
  }

  /// Runs `product` on this thread's stream.
  static bool run(const Product &product, const float *a, void *weights,
                  float *c) {
    OneDNN &d = oneDNN();
    ThreadStream &ts = threadStream;
    if (!ts.stream &&
        d.dnnl_stream_create(&ts.stream, d.engine, dnnl_stream_default_flags) !=
            dnnl_success) {
      ts.stream = nullptr;
      return false;
    }
    if (ts.scratchpad.size() < product.scratchpad)
      ts.scratchpad.resize(product.scratchpad);
    dnnl_memory_desc_t scratchpadDesc;
    dnnl_dims_t scratchpadDims = {int64_t(product.scratchpad)};
    dnnl_memory_t src = nullptr, wei = nullptr, dst = nullptr, pad = nullptr;
    bool ok =
        d.dnnl_memory_desc_init_by_tag(&scratchpadDesc, 1, scratchpadDims,
                                       dnnl_u8, dnnl_a) == dnnl_success &&
        d.dnnl_memory_create(&src, &product.src, d.engine,
                             const_cast<float *>(a)) == dnnl_success &&
        d.dnnl_memory_create(&wei, &product.weights, d.engine, weights) ==
            dnnl_success &&
        d.dnnl_memory_create(&dst, &product.dst, d.engine, c) == dnnl_success &&
        d.dnnl_memory_create(&pad, &scratchpadDesc, d.engine,
                             ts.scratchpad.data()) == dnnl_success;
    if (ok) {
      dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, src},
                                {DNNL_ARG_WEIGHTS, wei},
                                {DNNL_ARG_DST, dst},
                                {DNNL_ARG_SCRATCHPAD, pad}};
      SingleOpenMPThread single;
      ok = d.dnnl_primitive_execute(product.primitive, ts.stream, 4, args) ==
               dnnl_success &&
           d.dnnl_stream_wait(ts.stream) == dnnl_success;
    }
    for (dnnl_memory_t m : {src, wei, dst, pad})
      if (m)
        d.dnnl_memory_destroy(m);
    return ok;
  }
};

bool PackedProducts::available() { return oneDNN().loaded; }

PackedProducts::PackedProducts(const void *weights, size_t size)
    : begin(static_cast<const char *>(weights)), end(begin + size),
      impl(std::make_unique<Impl>()) {}

PackedProducts::~PackedProducts() = default;

size_t PackedProducts::packedBytes() const {
  std::lock_guard<std::mutex> lock(impl->mutex);
  return impl->packedBytes;
}

/// Products of fewer go to BLAS: a oneDNN call costs about 2 us more than a
/// cblas_sgemm, which is what a product this small takes in all (16 x 128
/// x 128 breaks even here), and packing its few weights saves nothing.
constexpr double kMinWork = 1 << 18;

bool PackedProducts::multiply(int64_t m, int64_t n, int64_t k, const float *a,
                              int64_t lda, const float *b, int64_t bRowStride,
                              int64_t bColStride, float *c, int64_t ldc,
                              bool accumulate) {
  if (!available() || m <= 0 || n <= 0 || k <= 0 ||
      double(m) * n * k < kMinWork)
    return false;
  // Rows in equal pieces, one per thread, of whole 8-row groups (the
  // kernels' row blocking): every piece but the last shares one matmul.
  int threads = double(m) * n * k < kMinParallelProductWork ? 1 : numThreads();
  int64_t per = (m + threads - 1) / threads;
  if (threads > 1)
    per = std::min(m, (per + 7) / 8 * 8);
  int64_t pieces = (m + per - 1) / per, last = m - (pieces - 1) * per;
  const Impl::Product *full, *tail;
  void *weights;
  {
    // Making a primitive or a packed copy may run OpenMP loops too.
    SingleOpenMPThread single;
    std::lock_guard<std::mutex> lock(impl->mutex);
    full = impl->product(per, n, k, lda, ldc, accumulate);
    tail = last == per ? full : impl->product(last, n, k, lda, ldc, accumulate);
    if (!full || !tail)
      return false;
    weights = impl->packed(b, k, n, bRowStride, bColStride, full->weights);
    // The two shapes share the packed copy when oneDNN lays it out alike
    // (it does: the layout depends on k and n only); else the product goes
    // to BLAS rather than keep two copies.
    if (!weights ||
        !oneDNN().dnnl_memory_desc_equal(&full->weights, &tail->weights))
      return false;
  }
  auto piece = [&](int64_t i) {
    const Impl::Product &product = i + 1 == pieces ? *tail : *full;
    const float *ai = a + i * per * lda;
    float *ci = c + i * per * ldc;
    if (Impl::run(product, ai, weights, ci))
      return;
    // Out of memory for a stream or a descriptor, after other pieces ran:
    // the rows are still owed, and exact loops still compute them.
    for (int64_t r = 0; r < (i + 1 == pieces ? last : per); ++r)
      for (int64_t j = 0; j < n; ++j) {
        float acc = accumulate ? ci[r * ldc + j] : 0.0f;
        for (int64_t x = 0; x < k; ++x)
          acc += ai[r * lda + x] * b[x * bRowStride + j * bColStride];
        ci[r * ldc + j] = acc;
      }
  };
  if (pieces == 1) {
    piece(0);
    return true;
  }
  parallelFor(pieces, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      piece(i);
  });
  return true;
}

#else // !ATTNRES_HAVE_ONEDNN

struct PackedProducts::Impl {};

bool PackedProducts::available() { return false; }

PackedProducts::PackedProducts(const void *weights, size_t size)
    : begin(static_cast<const char *>(weights)), end(begin + size) {}

PackedProducts::~PackedProducts() = default;

size_t PackedProducts::packedBytes() const { return 0; }

bool PackedProducts::multiply(int64_t, int64_t, int64_t, const float *, int64_t,
                              const float *, int64_t, int64_t, float *, int64_t,
                              bool) {
  return false;
}

#endif // ATTNRES_HAVE_ONEDNN
