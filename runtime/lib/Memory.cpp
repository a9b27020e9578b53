//===- Memory.cpp - Allocation and copies for compiled code ---------------===//
//
// Compiled models allocate through MLIR's generic allocation functions
// (lib/Target/Artifact renames malloc/aligned_alloc/free to them), so the
// runtime sees every buffer a run makes, can free the results after copying
// them out, and serves them from the model's BufferPool. memrefCopy copies
// between strided buffers, the function finalize-memref-to-llvm calls for a
// memref.copy that is not contiguous.
//
//===----------------------------------------------------------------------===//

#include "Memory.h"
#include "CUDAProfile.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace mlir::attnres::runtime;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATTNRES_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ATTNRES_ASAN 1
#endif
#ifdef ATTNRES_ASAN
#include <sanitizer/asan_interface.h>
// An idle block is poisoned, so that a read through a stale pointer into a
// reused buffer is still reported, as it would be after free().
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace {
thread_local AllocationScope *currentScope = nullptr;

/// MLIR's unranked memref: a rank and a pointer to a ranked descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct UnrankedMemref {
  int64_t rank;
  void *descriptor;
};

struct StridedView {
  char *data;
  int64_t offset;
  const int64_t *sizes;
  const int64_t *strides;

  explicit StridedView(const UnrankedMemref &m) {
    auto *fields = static_cast<int64_t *>(m.descriptor);
    data = reinterpret_cast<char *>(fields[1]);
    offset = fields[2];
    sizes = fields + 3;
    strides = fields + 3 + m.rank;
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// BufferPool
//===----------------------------------------------------------------------===//

void *BufferPool::allocate(size_t size) {
  // Whole cache lines: sizes that differ by a few bytes share blocks.
  size = (std::max<size_t>(size, 1) + kAlignment - 1) / kAlignment * kAlignment;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = idle.find(size);
    if (it != idle.end() && !it->second.empty()) {
      void *p = it->second.back();
      it->second.pop_back();
      idleTotal -= size;
      UNPOISON(p, size);
      return p;
    }
  }
  void *p = std::aligned_alloc(kAlignment, size);
  if (!p)
    return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  sizes.emplace(p, size);
  return p;
}

bool BufferPool::release(void *p) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = sizes.find(p);
  if (it == sizes.end())
    return false;
  POISON(p, it->second);
  idle[it->second].push_back(p);
  idleTotal += it->second;
  return true;
}

void BufferPool::trim() {
  std::lock_guard<std::mutex> lock(mutex);
  for (auto &[size, blocks] : idle)
    for (void *p : blocks) {
      UNPOISON(p, size);
      sizes.erase(p);
      std::free(p);
    }
  idle.clear();
  idleTotal = 0;
}

BufferPool::~BufferPool() {
  trim();
  for (auto &[p, size] : sizes)
    std::free(p);
}

size_t BufferPool::idleBytes() {
  std::lock_guard<std::mutex> lock(mutex);
  return idleTotal;
}

//===----------------------------------------------------------------------===//
// AllocationScope
//===----------------------------------------------------------------------===//

AllocationScope::AllocationScope(BufferPool *pool)
    : pool(pool), outer(currentScope) {
  currentScope = this;
}

AllocationScope::~AllocationScope() {
  currentScope = outer;
  for (void *p : live)
    if (!pool || !pool->release(p))
      std::free(p);
}

void *AllocationScope::allocate(size_t alignment, size_t size) {
  void *p;
  if (pool && alignment <= BufferPool::kAlignment) {
    p = pool->allocate(size);
  } else {
    // C11 wants a size that is a multiple of the alignment.
    size = (std::max<size_t>(size, 1) + alignment - 1) / alignment * alignment;
    p = std::aligned_alloc(alignment, size);
  }
  if (p)
    live.insert(p);
  return p;
}

void AllocationScope::free(void *p) {
  live.erase(p);
  if (!pool || !pool->release(p))
    std::free(p);
}

//===----------------------------------------------------------------------===//
// What compiled code calls
//===----------------------------------------------------------------------===//

extern "C" void *_mlir_memref_to_llvm_alloc(size_t size) {
  if (currentScope)
    return currentScope->allocate(alignof(std::max_align_t), size);
  return std::malloc(size);
}

extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                    size_t size) {
  if (currentScope)
    return currentScope->allocate(alignment, size);
  size = (size + alignment - 1) / alignment * alignment;
  return std::aligned_alloc(alignment, size);
}

extern "C" void _mlir_memref_to_llvm_free(void *p) {
  if (!p)
    return;
  if (currentScope)
    currentScope->free(p);
  else
    std::free(p);
}

/// memref.copy between buffers that are not both contiguous. Any write into
/// a non-contiguous slice makes one: rotary embeddings concatenating the
/// halves of the last axis, attention appending a key along the sequence
/// axis.
extern "C" void memrefCopy(int64_t elemSize, UnrankedMemref *srcArg,
                           UnrankedMemref *dstArg) {
  // Compiled CUDA models copy on the host too: that shows in their profile.
  attnres::cuda::profile::Scope timed("memrefCopy (host)");
  StridedView src(*srcArg), dst(*dstArg);
  int64_t rank = srcArg->rank;
  for (int64_t i = 0; i < rank; ++i)
    if (src.sizes[i] == 0)
      return;
  char *srcBase = src.data + src.offset * elemSize;
  char *dstBase = dst.data + dst.offset * elemSize;
  if (rank == 0) {
    std::memcpy(dstBase, srcBase, elemSize);
    return;
  }
  // Whole rows take one memcpy when the innermost axis is contiguous on both
  // sides, as it is in a slice along the last axis; an element at a time
  // would make the copy the slowest op of a rotary embedding.
  int64_t inner = rank - 1;
  bool contiguousRows = src.strides[inner] == 1 && dst.strides[inner] == 1;
  int64_t rowBytes = contiguousRows ? src.sizes[inner] * elemSize : elemSize;
  int64_t outerRank = contiguousRows ? inner : rank;
  std::vector<int64_t> index(outerRank, 0);
  for (;;) {
    int64_t srcOffset = 0, dstOffset = 0;
    for (int64_t i = 0; i < outerRank; ++i) {
      srcOffset += index[i] * src.strides[i];
      dstOffset += index[i] * dst.strides[i];
    }
    std::memcpy(dstBase + dstOffset * elemSize, srcBase + srcOffset * elemSize,
                rowBytes);
    int64_t axis = outerRank - 1;
    for (; axis >= 0; --axis) {
      if (++index[axis] < src.sizes[axis])
        break;
      index[axis] = 0;
    }
    if (axis < 0)
      return;
  }
}
