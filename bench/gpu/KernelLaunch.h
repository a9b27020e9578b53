//===- KernelLaunch.h - Launching attnres kernels by hand -------*- C++ -*-===//
//
// What the GPU test and the kernel benchmark share: the kernels' argument
// convention (gpu-to-llvm passes a memref as its descriptor's fields) and
// launches at the block size each kernel's PTX declares.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_BENCH_GPU_KERNELLAUNCH_H
#define ATTNRES_BENCH_GPU_KERNELLAUNCH_H

#include "attnres/Runtime/CUDA.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace attnres::gpu {

/// Kernel arguments: memrefs as (allocated, aligned, offset, sizes...,
/// strides...) of an identity layout, f32 scalars as themselves.
class KernelArguments {
public:
  /// A [rows, cols] buffer.
  void rows(void *data, int64_t rows, int64_t cols) {
    memref(data, {rows, cols});
  }
  /// A [n] buffer (a per-feature vector, or per-token scalars).
  void vector(void *data, int64_t n) { memref(data, {n}); }
  void f32(float v) {
    floats.push_back(v);
    params.push_back(&floats.back());
  }
  void **data() { return params.data(); }
  size_t size() const { return params.size(); }

private:
  void memref(void *p, const std::vector<int64_t> &sizes) {
    pointers.push_back(p);
    params.push_back(&pointers.back());
    params.push_back(&pointers.back());
    integer(0);
    for (int64_t s : sizes)
      integer(s);
    std::vector<int64_t> strides(sizes.size());
    int64_t stride = 1;
    for (size_t d = sizes.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= sizes[d];
    }
    for (int64_t s : strides)
      integer(s);
  }
  void integer(int64_t v) {
    ints.push_back(v);
    params.push_back(&ints.back());
  }
  // Deques: the params point into them, so elements must not move.
  std::deque<void *> pointers;
  std::deque<int64_t> ints;
  std::deque<float> floats;
  std::vector<void *> params;
};

/// The CTAs per row that --attnres-to-gpu's split launches give `rows` rows
/// of `dim` elements of `elementBytes` bytes at its default min-ctas (its
/// SplitChoice): 1 where it launches the unsplit kernel. Rows are split in
/// warp slices of 32 16-byte vectors, only rows of at least 8 slices, into
/// at most 16 CTAs (the most the finishing kernels combine).
inline int64_t splitCount(int64_t rows, int64_t dim, int64_t elementBytes,
                          int64_t minCTAs = 264) {
  int64_t width = 16 / elementBytes;
  while (dim % width != 0)
    width /= 2;
  int64_t slices = (dim / width + 31) / 32;
  if (slices < 8 || minCTAs < 2 || rows == 0 || rows >= minCTAs)
    return 1;
  int64_t wanted = (minCTAs + rows - 1) / rows;
  return std::min<int64_t>({16, slices, wanted});
}

/// The threads per block `name` was built for (its `.maxntid`), or 0 when
/// the PTX has no such kernel.
inline int64_t blockThreads(const std::string &ptx, const std::string &name) {
  size_t entry = ptx.find(".entry " + name + "(");
  if (entry == std::string::npos)
    return 0;
  size_t ntid = ptx.find(".maxntid ", entry);
  return ntid == std::string::npos ? 0 : std::stoll(ptx.substr(ntid + 9));
}

/// A loaded kernel module. Each kernel's function and block size are looked
/// up once: searching megabytes of PTX per launch cost more host time than
/// most of these kernels take on a GPU.
class Kernels {
public:
  /// `image` is what the driver loads (the PTX itself, or a cubin built
  /// from it); `ptx` says each kernel's block size. Both must outlive this.
  Kernels(const std::string &image, const std::string &ptx)
      : module(
            mgpuModuleLoad(const_cast<char *>(image.data()), image.size() + 1)),
        ptx(ptx) {}
  ~Kernels() { mgpuModuleUnload(module); }
  Kernels(const Kernels &) = delete;
  Kernels &operator=(const Kernels &) = delete;

  /// The threads per block of `name`, 0 when the module has no such kernel.
  int64_t threads(const std::string &name) { return lookup(name).threads; }

  /// Launches `name` over `rows` rows, `rowsPerBlock` to a block (1 unless
  /// the row is a single warp), without waiting.
  void launchRows(const std::string &name, int64_t rows, int64_t rowsPerBlock,
                  void *stream, KernelArguments &args) {
    const Kernel &k = lookup(name);
    int64_t grid = (rows + rowsPerBlock - 1) / rowsPerBlock;
    mgpuLaunchKernel(k.function, grid, 1, 1, k.threads, 1, 1, 0, stream,
                     args.data(), nullptr, args.size());
  }

  /// Launches `name` over a grid of `x` by `y` by `z` blocks, without
  /// waiting: a split launch's kernels take (rows, splits, 1), and phase 1's
  /// partial sums (rows, splits, sources).
  void launchGrid(const std::string &name, int64_t x, int64_t y, int64_t z,
                  void *stream, KernelArguments &args) {
    const Kernel &k = lookup(name);
    mgpuLaunchKernel(k.function, x, y, z, k.threads, 1, 1, 0, stream,
                     args.data(), nullptr, args.size());
  }

private:
  struct Kernel {
    void *function = nullptr;
    int64_t threads = 0;
  };
  const Kernel &lookup(const std::string &name) {
    auto [it, inserted] = cache.try_emplace(name);
    if (inserted) {
      it->second.threads = blockThreads(ptx, name);
      if (it->second.threads)
        it->second.function = mgpuModuleGetFunction(module, name.c_str());
    }
    return it->second;
  }
  void *module;
  const std::string &ptx;
  std::map<std::string, Kernel> cache;
};

} // namespace attnres::gpu

#endif // ATTNRES_BENCH_GPU_KERNELLAUNCH_H
