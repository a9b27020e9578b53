//===- PackedProducts.h - Products with weights packed once -----*- C++ -*-===//
//
// A BLAS called as cblas_sgemm repacks its right operand into its kernel's
// layout on every call: for a transformer's projections (a weight matrix
// times a few hundred token rows), a fifth of the run. A loaded artifact's
// weights never change, so the runtime packs each weight matrix once, the
// first time a product reads it, and multiplies with oneDNN's matmul on the
// packed copy from then on.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_LIB_PACKEDPRODUCTS_H
#define ATTNRES_RUNTIME_LIB_PACKEDPRODUCTS_H

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mlir::attnres::runtime {

/// Matrix products of fewer multiply-adds run on the calling thread:
/// splitting them costs more than it saves (BLAS's and oneDNN's alike).
inline constexpr double kMinParallelProductWork = 1 << 20;

/// The packed weights of one model and the products that read them. Made
/// with the model, over the bytes it maps read-only; freed with it.
class PackedProducts {
public:
  PackedProducts(const void *weights, size_t size);
  ~PackedProducts();
  PackedProducts(const PackedProducts &) = delete;
  PackedProducts &operator=(const PackedProducts &) = delete;

  /// Whether oneDNN (libdnnl.so.2) was found and ATTNRES_ONEDNN is not 0.
  static bool available();

  /// Whether [p, p + bytes) lies inside the weights.
  bool holds(const void *p, size_t bytes) const;

  /// C (+)= A B for one m x k times k x n product: A and C row-major with
  /// leading dimensions lda and ldc, B's element (i, j) at
  /// b[i * bRowStride + j * bColStride] inside the weights. Splits the rows
  /// over the runtime's threads. False, with nothing written, when oneDNN
  /// is not available or refuses the shape: the caller multiplies instead.
  bool multiply(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t bRowStride, int64_t bColStride,
                float *c, int64_t ldc, bool accumulate);

  /// Bytes of packed weights made so far (tests check that a weight is
  /// packed once).
  size_t packedBytes() const;

  /// The products of the model running on this thread, if it has weights.
  static PackedProducts *current();

  /// Makes `products` current on this thread while it lives.
  class Scope {
  public:
    explicit Scope(PackedProducts *products);
    ~Scope();
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;

  private:
    PackedProducts *outer;
  };

private:
  struct Impl;
  const char *begin, *end;
  std::unique_ptr<Impl> impl;
};

} // namespace mlir::attnres::runtime

#endif // ATTNRES_RUNTIME_LIB_PACKEDPRODUCTS_H
