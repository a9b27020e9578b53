//===- Memory.h - The allocations of a run ----------------------*- C++ -*-===//

#ifndef ATTNRES_RUNTIME_LIB_MEMORY_H
#define ATTNRES_RUNTIME_LIB_MEMORY_H

#include <unordered_set>

namespace mlir::attnres::runtime {

/// Tracks the buffers compiled code allocates on this thread while the scope
/// lives and frees those it has not freed when the scope ends. A result that
/// is an input, a constant, or the same buffer as another result was not
/// allocated by the run (or is one entry), so nothing is freed wrongly or
/// twice.
class AllocationScope {
public:
  AllocationScope();
  ~AllocationScope();
  AllocationScope(const AllocationScope &) = delete;
  AllocationScope &operator=(const AllocationScope &) = delete;

private:
  std::unordered_set<void *> live;
  std::unordered_set<void *> *outer;
};

} // namespace mlir::attnres::runtime

#endif // ATTNRES_RUNTIME_LIB_MEMORY_H
