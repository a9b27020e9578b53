//===- Memory.cpp - Allocation and copies for compiled code ---------------===//
//
// Compiled models allocate through MLIR's generic allocation functions
// (lib/Target/Artifact renames malloc/aligned_alloc/free to them), so the
// runtime sees every buffer a run makes and can free the results after
// copying them out. memrefCopy copies between strided buffers, the function
// finalize-memref-to-llvm calls for a memref.copy that is not contiguous.
//
//===----------------------------------------------------------------------===//

#include "Memory.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace mlir::attnres::runtime;

namespace {
thread_local std::unordered_set<void *> *liveAllocations = nullptr;

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

AllocationScope::AllocationScope() : outer(liveAllocations) {
  liveAllocations = &live;
}

AllocationScope::~AllocationScope() {
  liveAllocations = outer;
  for (void *p : live)
    std::free(p);
}

extern "C" void *_mlir_memref_to_llvm_alloc(size_t size) {
  void *p = std::malloc(size);
  if (p && liveAllocations)
    liveAllocations->insert(p);
  return p;
}

extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                    size_t size) {
  // C11 wants a size that is a multiple of the alignment.
  size = (size + alignment - 1) / alignment * alignment;
  void *p = std::aligned_alloc(alignment, size);
  if (p && liveAllocations)
    liveAllocations->insert(p);
  return p;
}

extern "C" void _mlir_memref_to_llvm_free(void *p) {
  if (liveAllocations)
    liveAllocations->erase(p);
  std::free(p);
}

/// memref.copy between buffers that are not both contiguous. Any write into
/// a non-contiguous slice makes one: rotary embeddings concatenating the
/// halves of the last axis, attention appending a key along the sequence
/// axis.
extern "C" void memrefCopy(int64_t elemSize, UnrankedMemref *srcArg,
                           UnrankedMemref *dstArg) {
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
