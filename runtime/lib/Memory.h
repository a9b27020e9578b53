//===- Memory.h - The allocations of a run ----------------------*- C++ -*-===//

#ifndef ATTNRES_RUNTIME_LIB_MEMORY_H
#define ATTNRES_RUNTIME_LIB_MEMORY_H

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mlir::attnres::runtime {

/// The buffers a model's runs have released, kept for its next allocations of
/// the same size. A model allocates the same sizes in the same order on every
/// run, so from the second run on no intermediate tensor costs a malloc or
/// the page faults of fresh memory (glibc maps large blocks anew each time),
/// and within a run a freed intermediate serves a later one of its size.
/// Holds at most what one run had live at once; freed with the model.
class BufferPool {
public:
  /// Every block is aligned to this, enough for any vector load.
  static constexpr size_t kAlignment = 64;

  BufferPool() = default;
  /// Frees every block it made, idle or not: the runs that used them are
  /// over.
  ~BufferPool();
  BufferPool(const BufferPool &) = delete;
  BufferPool &operator=(const BufferPool &) = delete;

  /// A block of at least `size` bytes, or null when memory is exhausted.
  void *allocate(size_t size);
  /// Takes back a block `allocate` returned, for reuse; false (and nothing
  /// done) when the pool did not make `p`.
  bool release(void *p);
  /// Frees the blocks not in use.
  void trim();
  /// Bytes in blocks not in use.
  size_t idleBytes();

private:
  std::mutex mutex;
  /// Every block the pool made and has not freed, with its size.
  std::unordered_map<void *, size_t> sizes;
  std::unordered_map<size_t, std::vector<void *>> idle;
  size_t idleTotal = 0;
};

/// Tracks the buffers compiled code allocates on this thread while the scope
/// lives and frees those it has not freed when the scope ends. A result that
/// is an input, a constant, or the same buffer as another result was not
/// allocated by the run (or is one entry), so nothing is freed wrongly or
/// twice. With a pool, allocations come from it and go back to it.
class AllocationScope {
public:
  explicit AllocationScope(BufferPool *pool = nullptr);
  ~AllocationScope();
  AllocationScope(const AllocationScope &) = delete;
  AllocationScope &operator=(const AllocationScope &) = delete;

  void *allocate(size_t alignment, size_t size);
  void free(void *p);

private:
  BufferPool *pool;
  std::unordered_set<void *> live;
  AllocationScope *outer;
};

} // namespace mlir::attnres::runtime

#endif // ATTNRES_RUNTIME_LIB_MEMORY_H
