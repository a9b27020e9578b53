//===- CUDAProfile.h - Where a CUDA model's run spends its time -*- C++ -*-===//
//
// With ATTNRES_CUDA_PROFILE=1 the runtime's CUDA layer times what compiled
// code asks of it and prints a table on stderr at exit: each kernel (host
// time from its launch to its stream's synchronization, which a profiled
// run does after every launch instead of once at its end), allocations and
// frees of device and managed memory, the runtime's copies, and cuBLAS
// products. A run's time not in the table is host code.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_LIB_CUDAPROFILE_H
#define ATTNRES_RUNTIME_LIB_CUDAPROFILE_H

#include <chrono>
#include <cstdint>

namespace attnres::cuda::profile {

/// Whether ATTNRES_CUDA_PROFILE is set to something other than 0.
bool enabled();

/// Remembers the kernel name of a function handle.
void nameFunction(void *function, const char *name);
/// A launch of `function` on `stream` starts now.
void launched(void *function, void *stream);
/// `stream` finished its work: the launch pending on it ends now.
void synchronized(void *stream);
/// Adds `seconds` (and `bytes`) to the entry `what`.
void add(const char *what, double seconds, uint64_t bytes = 0);

/// Times a scope into the entry `what` when profiling.
class Scope {
public:
  explicit Scope(const char *what, uint64_t bytes = 0)
      : what(enabled() ? what : nullptr), bytes(bytes),
        start(std::chrono::steady_clock::now()) {}
  ~Scope() {
    if (what)
      add(what,
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        start)
              .count(),
          bytes);
  }

private:
  const char *what;
  uint64_t bytes;
  std::chrono::steady_clock::time_point start;
};

} // namespace attnres::cuda::profile

#endif // ATTNRES_RUNTIME_LIB_CUDAPROFILE_H
