//===- CUDADriver.h - The CUDA driver API, opened with dlopen ---*- C++ -*-===//
//
// The part of the driver API the mgpu* functions use, declared here instead
// of taken from cuda.h: the runtime builds and starts where no CUDA is
// installed. Only the types' sizes matter to the ABI.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_LIB_CUDADRIVER_H
#define ATTNRES_RUNTIME_LIB_CUDADRIVER_H

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>

namespace attnres::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;

constexpr CUresult kSuccess = 0;
/// CUDA_ERROR_DEINITIALIZED: the driver is shutting down (process exit).
constexpr CUresult kDeinitialized = 4;

/// Entry points of libcuda.so.1, by their versioned symbol names.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxPushCurrent)(CUcontext);
  CUresult (*cuCtxPopCurrent)(CUcontext *);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  // Optional (null where the library lacks them): the JIT's error log on a
  // failed PTX load, and event timing for programs that measure kernels.
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **) = nullptr;
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent) = nullptr;

  /// The device's primary context, current on the calling thread while a
  /// wrapper runs.
  CUcontext context = nullptr;
  std::string deviceName;
  /// 10 * major + minor: 90 for an H100.
  int computeCapability = 0;
};

/// Opens `library`, initializes the driver and retains device `ordinal`'s
/// primary context. Null with `why` set when any step fails.
std::unique_ptr<const Driver> open(const char *library, int ordinal,
                                   std::string &why);

/// The process's driver: opened once, from ATTNRES_LIBCUDA (default
/// libcuda.so.1) and ATTNRES_CUDA_DEVICE (default 0), and never closed
/// (models unload their GPU modules from static destructors). Null with
/// `why` set when there is none.
const Driver *processDriver(std::string &why);

/// Reports a failed driver call (or a missing driver) on stderr and aborts:
/// compiled code has no way to receive an error.
[[noreturn]] void fail(const char *call, const std::string &why);

/// The process's driver, or fail() saying why there is none.
const Driver &driver();

/// Makes the device's primary context current for one wrapper call, as
/// MLIR's own wrappers do: compiled code may call from any thread.
class ScopedContext {
public:
  explicit ScopedContext(const Driver &d);
  ~ScopedContext();
  ScopedContext(const ScopedContext &) = delete;
  ScopedContext &operator=(const ScopedContext &) = delete;
  /// fail()s with the driver's name of `r` unless it is success.
  void check(CUresult r, const char *call) const;

private:
  const Driver &d;
};

/// This thread's stream, created on first use: mgpuStreamCreate's, cuBLAS's
/// and the runtime's copies, so that all of a thread's GPU work runs in the
/// order it was issued.
void *currentStream();

/// Copies `bytes` between any two of host, device and managed memory (the
/// driver tells them apart by address) once the work queued on this
/// thread's stream has finished, and waits for the copy.
void copy(void *dst, const void *src, size_t bytes);

/// Frees the buffers that mgpuMemFree kept for reuse.
void releaseCachedMemory();

/// The GPU buffers compiled code allocates (mgpuMemAlloc) on this thread
/// while the scope lives: those it does not free itself, a model's results,
/// are freed with the scope, after the runtime has copied them out.
class RunAllocations {
public:
  RunAllocations();
  ~RunAllocations();
  RunAllocations(const RunAllocations &) = delete;
  RunAllocations &operator=(const RunAllocations &) = delete;

  /// The innermost live scope of this thread, if any.
  static RunAllocations *current();
  std::unordered_set<void *> live;

private:
  RunAllocations *outer;
};

} // namespace attnres::cuda

#endif // ATTNRES_RUNTIME_LIB_CUDADRIVER_H
