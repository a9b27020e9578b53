//===- CUDA.cpp - The mgpu* functions on the CUDA driver API --------------===//
//
// MLIR's gpu-to-llvm lowering calls mgpuModuleLoad, mgpuLaunchKernel,
// mgpuMemAlloc and friends; upstream implements them in
// libmlir_cuda_runtime, which links libcuda and which Debian does not ship.
// These open the driver at run time instead, so that the runtime loads on
// machines without one and says so when asked for a GPU.
//
// Compiled code has no way to receive an error from these calls: a driver
// error is reported on stderr with the call that failed, and the process
// aborts rather than run on with a null module or buffer.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/CUDA.h"
#include "CUDADriver.h"
#include "CUDAProfile.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

using namespace attnres::cuda;

namespace {

std::string errorName(const Driver &d, CUresult r) {
  const char *name = nullptr;
  if (d.cuGetErrorName && d.cuGetErrorName(r, &name) == kSuccess && name)
    return name;
  return "CUDA error " + std::to_string(r);
}

template <typename Fn>
bool resolve(void *lib, const char *symbol, Fn &fn, std::string &why) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!fn)
    why = std::string("the driver library has no ") + symbol +
          " (a driver older than CUDA 11?)";
  return fn != nullptr;
}

} // namespace

void attnres::cuda::fail(const char *call, const std::string &why) {
  std::fprintf(stderr, "attnres: CUDA: %s failed: %s\n", call, why.c_str());
  std::abort();
}

const Driver &attnres::cuda::driver() {
  std::string why;
  const Driver *d = processDriver(why);
  if (!d)
    fail("opening the driver", why);
  return *d;
}

ScopedContext::ScopedContext(const Driver &d) : d(d) {
  check(d.cuCtxPushCurrent(d.context), "cuCtxPushCurrent");
}

ScopedContext::~ScopedContext() {
  CUcontext popped;
  check(d.cuCtxPopCurrent(&popped), "cuCtxPopCurrent");
}

void ScopedContext::check(CUresult r, const char *call) const {
  if (r != kSuccess)
    fail(call, errorName(d, r));
}

std::unique_ptr<const Driver>
attnres::cuda::open(const char *library, int ordinal, std::string &why) {
  void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *err = dlerror();
    why = std::string("no NVIDIA driver: cannot open ") + library + " (" +
          (err ? err : "dlopen failed") + ")";
    return nullptr;
  }
  auto d = std::make_unique<Driver>();
  bool ok =
      resolve(lib, "cuInit", d->cuInit, why) &&
      resolve(lib, "cuGetErrorName", d->cuGetErrorName, why) &&
      resolve(lib, "cuDeviceGetCount", d->cuDeviceGetCount, why) &&
      resolve(lib, "cuDeviceGet", d->cuDeviceGet, why) &&
      resolve(lib, "cuDeviceGetName", d->cuDeviceGetName, why) &&
      resolve(lib, "cuDeviceGetAttribute", d->cuDeviceGetAttribute, why) &&
      resolve(lib, "cuDevicePrimaryCtxRetain", d->cuDevicePrimaryCtxRetain,
              why) &&
      resolve(lib, "cuCtxPushCurrent_v2", d->cuCtxPushCurrent, why) &&
      resolve(lib, "cuCtxPopCurrent_v2", d->cuCtxPopCurrent, why) &&
      resolve(lib, "cuModuleLoadData", d->cuModuleLoadData, why) &&
      resolve(lib, "cuModuleUnload", d->cuModuleUnload, why) &&
      resolve(lib, "cuModuleGetFunction", d->cuModuleGetFunction, why) &&
      resolve(lib, "cuLaunchKernel", d->cuLaunchKernel, why) &&
      resolve(lib, "cuStreamCreate", d->cuStreamCreate, why) &&
      resolve(lib, "cuStreamDestroy_v2", d->cuStreamDestroy, why) &&
      resolve(lib, "cuStreamSynchronize", d->cuStreamSynchronize, why) &&
      resolve(lib, "cuStreamWaitEvent", d->cuStreamWaitEvent, why) &&
      resolve(lib, "cuEventCreate", d->cuEventCreate, why) &&
      resolve(lib, "cuEventDestroy_v2", d->cuEventDestroy, why) &&
      resolve(lib, "cuEventSynchronize", d->cuEventSynchronize, why) &&
      resolve(lib, "cuEventRecord", d->cuEventRecord, why) &&
      resolve(lib, "cuMemAlloc_v2", d->cuMemAlloc, why) &&
      resolve(lib, "cuMemAllocManaged", d->cuMemAllocManaged, why) &&
      resolve(lib, "cuMemFree_v2", d->cuMemFree, why) &&
      resolve(lib, "cuMemcpyAsync", d->cuMemcpyAsync, why) &&
      resolve(lib, "cuMemsetD32Async", d->cuMemsetD32Async, why) &&
      resolve(lib, "cuMemsetD16Async", d->cuMemsetD16Async, why);
  auto give = [&](std::string reason) -> std::unique_ptr<const Driver> {
    why = std::move(reason);
    dlclose(lib);
    return nullptr;
  };
  if (!ok)
    return give(why);
  d->cuModuleLoadDataEx = reinterpret_cast<decltype(d->cuModuleLoadDataEx)>(
      dlsym(lib, "cuModuleLoadDataEx"));
  d->cuEventElapsedTime = reinterpret_cast<decltype(d->cuEventElapsedTime)>(
      dlsym(lib, "cuEventElapsedTime"));
  if (CUresult r = d->cuInit(0); r != kSuccess)
    return give("no CUDA device: cuInit: " + errorName(*d, r));
  int count = 0;
  if (CUresult r = d->cuDeviceGetCount(&count); r != kSuccess)
    return give("no CUDA device: cuDeviceGetCount: " + errorName(*d, r));
  if (ordinal < 0 || ordinal >= count)
    return give("no CUDA device " + std::to_string(ordinal) + ": the driver " +
                "sees " + std::to_string(count));
  CUdevice device;
  if (CUresult r = d->cuDeviceGet(&device, ordinal); r != kSuccess)
    return give("no CUDA device: cuDeviceGet: " + errorName(*d, r));
  char name[256] = {};
  if (d->cuDeviceGetName(name, sizeof(name) - 1, device) == kSuccess)
    d->deviceName = name;
  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR and _MINOR.
  int major = 0, minor = 0;
  if (d->cuDeviceGetAttribute(&major, 75, device) == kSuccess &&
      d->cuDeviceGetAttribute(&minor, 76, device) == kSuccess)
    d->computeCapability = 10 * major + minor;
  if (CUresult r = d->cuDevicePrimaryCtxRetain(&d->context, device);
      r != kSuccess)
    return give("CUDA device " + std::to_string(ordinal) +
                " has no usable context: " + errorName(*d, r));
  return std::move(d);
}

const Driver *attnres::cuda::processDriver(std::string &why) {
  static std::once_flag once;
  static const Driver *d = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    const char *library = std::getenv("ATTNRES_LIBCUDA");
    const char *ordinal = std::getenv("ATTNRES_CUDA_DEVICE");
    d = open(library && *library ? library : "libcuda.so.1",
             ordinal ? std::atoi(ordinal) : 0, failure)
            .release();
  });
  if (!d)
    why = failure;
  return d;
}

namespace {
thread_local RunAllocations *currentRun = nullptr;
} // namespace

RunAllocations::RunAllocations() : outer(currentRun) { currentRun = this; }

RunAllocations::~RunAllocations() {
  currentRun = outer;
  for (void *ptr : live)
    mgpuMemFree(ptr, nullptr);
}

RunAllocations *RunAllocations::current() { return currentRun; }

extern "C" int attnres_cuda_available(char *what, size_t capacity) {
  std::string why;
  const Driver *d = processDriver(why);
  std::string line = d ? "CUDA device: " + d->deviceName : why;
  if (what && capacity) {
    std::strncpy(what, line.c_str(), capacity - 1);
    what[capacity - 1] = '\0';
  }
  return d != nullptr;
}

extern "C" int attnres_cuda_compute_capability(void) {
  std::string why;
  const Driver *d = processDriver(why);
  return d ? d->computeCapability : 0;
}

//===----------------------------------------------------------------------===//
// The entry points of MLIR's GPU lowering (signatures as in upstream's
// CudaRuntimeWrappers.cpp).
//===----------------------------------------------------------------------===//

namespace {
/// What mgpuModuleLoad hands out. The GPU lowering loads an artifact's
/// modules from a global constructor, that is while it is being dlopen'ed,
/// before anyone could ask whether a GPU is there; the image goes to the
/// driver at the first function lookup instead, so that an artifact for
/// CUDA loads on a machine without one and the runtime can say why it
/// cannot run.
struct LazyModule {
  const void *image;
  std::once_flag once;
  CUmodule module = nullptr;
  /// The order of its load, which names its kernels in profiles (the
  /// outlined kernels of a model share one function name).
  int ordinal = 0;
};
std::atomic<int> modulesLoaded{0};

/// Hands the image to the driver. A PTX image that the driver's JIT
/// rejects is reported with the JIT's own log (the line and the reason),
/// not only the error's name.
void loadModule(const Driver &d, const ScopedContext &scope, LazyModule &lazy) {
  if (!d.cuModuleLoadDataEx) {
    scope.check(d.cuModuleLoadData(&lazy.module, lazy.image),
                "cuModuleLoadData");
    return;
  }
  // CU_JIT_ERROR_LOG_BUFFER and CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES.
  char log[8192] = {};
  int options[] = {5, 6};
  void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof(log)))};
  CUresult r =
      d.cuModuleLoadDataEx(&lazy.module, lazy.image, 2, options, values);
  if (r != kSuccess)
    fail("cuModuleLoadDataEx",
         errorName(d, r) + (log[0] ? std::string("\n") + log : ""));
}
} // namespace

extern "C" void *mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  return new LazyModule{data, {}, nullptr, modulesLoaded++};
}

/// PTX (`format=isa`): the driver compiles it on load.
extern "C" void *mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  return mgpuModuleLoad(data, 0);
}

/// Runs `release` in the device's context, unless the driver has shut
/// down: a program that never destroys its model unloads the model's
/// modules and streams from static destructors, which may run after the
/// driver's own teardown. There is nothing left to release then; a warning
/// says so once instead of the abort a driver error is elsewhere.
template <typename Fn>
void releaseUnlessShutDown(const char *call, Fn release) {
  const Driver &d = driver();
  CUresult pushed = d.cuCtxPushCurrent(d.context);
  CUresult released = pushed == kSuccess ? release(d) : pushed;
  if (pushed == kSuccess) {
    CUcontext popped;
    d.cuCtxPopCurrent(&popped);
  }
  if (released == kDeinitialized) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      std::fprintf(stderr, "attnres: CUDA: warning: the driver shut down "
                           "before the runtime released its modules and "
                           "streams (a model not destroyed before exit)\n");
    });
    return;
  }
  if (released != kSuccess)
    fail(pushed == kSuccess ? call : "cuCtxPushCurrent",
         errorName(d, released));
}

extern "C" void mgpuModuleUnload(void *handle) {
  auto *lazy = static_cast<LazyModule *>(handle);
  if (lazy->module)
    releaseUnlessShutDown("cuModuleUnload", [&](const Driver &d) {
      return d.cuModuleUnload(lazy->module);
    });
  delete lazy;
}

namespace {
/// Kernel names by function. A kernel's fault (an illegal address, a trap)
/// is reported by the next synchronization, which would otherwise say
/// nothing of which of a model's hundred launches caused it.
struct KernelNames {
  std::mutex mutex;
  std::unordered_map<void *, std::string> names;
};
KernelNames &kernelNames() {
  static KernelNames *names = new KernelNames; // outlives static destructors
  return *names;
}
thread_local void *lastLaunched = nullptr;

/// check() for calls that wait for launched work: their errors may be a
/// kernel's, so the last kernel this thread launched is named.
void checkWait(const Driver &d, const ScopedContext &scope, CUresult r,
               const char *call) {
  if (r == kSuccess)
    return;
  if (!lastLaunched)
    scope.check(r, call);
  std::string name = "?";
  {
    KernelNames &names = kernelNames();
    std::lock_guard<std::mutex> lock(names.mutex);
    auto it = names.names.find(lastLaunched);
    if (it != names.names.end())
      name = it->second;
  }
  fail(call, errorName(d, r) + " (it may come from a kernel: the last one " +
                 "this thread launched is " + name + ")");
}
} // namespace

extern "C" void *mgpuModuleGetFunction(void *handle, const char *name) {
  auto *lazy = static_cast<LazyModule *>(handle);
  const Driver &d = driver();
  ScopedContext scope(d);
  std::call_once(lazy->once, [&] { loadModule(d, scope, *lazy); });
  CUfunction function = nullptr;
  scope.check(d.cuModuleGetFunction(&function, lazy->module, name),
              "cuModuleGetFunction");
  {
    KernelNames &names = kernelNames();
    std::lock_guard<std::mutex> lock(names.mutex);
    names.names[function] =
        std::string(name) + " (module " + std::to_string(lazy->ordinal) + ")";
  }
  if (profile::enabled())
    profile::nameFunction(function, (std::string(name) + " (module " +
                                     std::to_string(lazy->ordinal) + ")")
                                        .c_str());
  return function;
}

extern "C" void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                                 intptr_t gridZ, intptr_t blockX,
                                 intptr_t blockY, intptr_t blockZ, int32_t smem,
                                 void *stream, void **params, void **extra,
                                 size_t /*paramsCount*/) {
  const Driver &d = driver();
  ScopedContext scope(d);
  profile::launched(function, stream);
  lastLaunched = function;
  scope.check(d.cuLaunchKernel(function, gridX, gridY, gridZ, blockX, blockY,
                               blockZ, smem, stream, params, extra),
              "cuLaunchKernel");
  // A profile charges each kernel the time to its synchronization: launches
  // that ran ahead would charge one kernel the time of those queued before.
  if (profile::enabled())
    mgpuStreamSynchronize(stream);
}

namespace {
/// Every wrapper call on a thread works on that thread's one stream. The
/// compiled code chains its launches, cuBLAS calls, copies and frees
/// asynchronously and synchronizes only where the host reads what the GPU
/// wrote (--attnres-gpu-async): one stream keeps all of that in program
/// order without events, and lets a freed buffer go to the next allocation
/// on the thread before the work that used it has finished. A stream costs
/// the driver about what a small kernel does, so it lives as long as the
/// thread.
struct ThreadStream {
  CUstream stream = nullptr;
  ~ThreadStream() {
    if (stream)
      releaseUnlessShutDown("cuStreamDestroy", [&](const Driver &d) {
        // Work still queued may free buffers another thread reuses next.
        CUresult r = d.cuStreamSynchronize(stream);
        return r == kSuccess ? d.cuStreamDestroy(stream) : r;
      });
  }
};
thread_local ThreadStream threadStream;
} // namespace

void *attnres::cuda::currentStream() {
  if (!threadStream.stream) {
    const Driver &d = driver();
    ScopedContext scope(d);
    // CU_STREAM_NON_BLOCKING: no implicit sync with the legacy stream.
    scope.check(d.cuStreamCreate(&threadStream.stream, 1), "cuStreamCreate");
  }
  return threadStream.stream;
}

void attnres::cuda::copy(void *dst, const void *src, size_t bytes) {
  void *stream = currentStream();
  profile::Scope timed("cuMemcpy (runtime)", bytes);
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                              reinterpret_cast<CUdeviceptr>(src), bytes,
                              stream),
              "cuMemcpyAsync");
  checkWait(d, scope, d.cuStreamSynchronize(stream), "cuStreamSynchronize");
}

extern "C" void attnres_cuda_synchronize(void) {
  mgpuStreamSynchronize(currentStream());
}

extern "C" void *mgpuStreamCreate() { return currentStream(); }

extern "C" void mgpuStreamDestroy(void *stream) {
  // The thread's stream outlives its users; nothing else is handed out.
  (void)stream;
}

extern "C" void mgpuStreamSynchronize(void *stream) {
  const Driver &d = driver();
  ScopedContext scope(d);
  checkWait(d, scope, d.cuStreamSynchronize(stream), "cuStreamSynchronize");
  profile::synchronized(stream);
}

extern "C" void mgpuStreamWaitEvent(void *stream, void *event) {
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent");
}

extern "C" void *mgpuEventCreate() {
  const Driver &d = driver();
  ScopedContext scope(d);
  CUevent event = nullptr;
  // CU_EVENT_DISABLE_TIMING: these events only order work.
  scope.check(d.cuEventCreate(&event, 2), "cuEventCreate");
  return event;
}

extern "C" void mgpuEventDestroy(void *event) {
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuEventDestroy(event), "cuEventDestroy");
}

extern "C" void mgpuEventSynchronize(void *event) {
  const Driver &d = driver();
  ScopedContext scope(d);
  checkWait(d, scope, d.cuEventSynchronize(event), "cuEventSynchronize");
}

extern "C" void mgpuEventRecord(void *event, void *stream) {
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuEventRecord(event, stream), "cuEventRecord");
}

extern "C" void *attnres_cuda_timing_event_create(void) {
  const Driver &d = driver();
  ScopedContext scope(d);
  CUevent event = nullptr;
  // CU_EVENT_DEFAULT: timing enabled.
  scope.check(d.cuEventCreate(&event, 0), "cuEventCreate");
  return event;
}

extern "C" float attnres_cuda_elapsed_ms(void *start, void *end) {
  const Driver &d = driver();
  if (!d.cuEventElapsedTime)
    fail("cuEventElapsedTime", "the driver library has no such function");
  ScopedContext scope(d);
  checkWait(d, scope, d.cuEventSynchronize(end), "cuEventSynchronize");
  float ms = 0;
  scope.check(d.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime");
  return ms;
}

namespace {
/// Freed buffers kept for the next allocation of the same size and kind. A
/// model's runs allocate the same sizes every time, and cuMemAlloc and
/// cuMemFree cost more than most of a small model's kernels (a fresh
/// managed buffer's pages also fault onto the GPU at first touch:
/// bench/RESULTS.md). A buffer is freed asynchronously, while work queued
/// on its thread's stream may still use it, so it goes back only to an
/// allocation on that stream, which orders the new use after the old. Up
/// to ATTNRES_CUDA_CACHE_MIB (default 8192) are kept; releaseCachedMemory()
/// frees them, which destroying a CUDA model does.
struct BufferCache {
  std::mutex mutex;
  struct Key {
    uint64_t size;
    bool managed;
    void *stream;
    bool operator<(const Key &o) const {
      return std::tie(size, managed, stream) <
             std::tie(o.size, o.managed, o.stream);
    }
  };
  std::map<Key, std::vector<void *>> idle;
  /// Every buffer handed out: its size and kind.
  std::unordered_map<void *, std::pair<uint64_t, bool>> live;
  uint64_t idleBytes = 0;
  uint64_t limit = [] {
    const char *v = std::getenv("ATTNRES_CUDA_CACHE_MIB");
    return (v && *v ? std::strtoull(v, nullptr, 10) : 8192ull) << 20;
  }();
};
BufferCache &bufferCache() {
  static BufferCache *cache = new BufferCache; // outlives static destructors
  return *cache;
}
} // namespace

void attnres::cuda::releaseCachedMemory() {
  BufferCache &cache = bufferCache();
  std::vector<void *> idle;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    for (auto &[key, buffers] : cache.idle)
      for (void *ptr : buffers) {
        idle.push_back(ptr);
        cache.live.erase(ptr);
      }
    cache.idle.clear();
    cache.idleBytes = 0;
  }
  if (idle.empty())
    return;
  const Driver &d = driver();
  ScopedContext scope(d);
  // cuMemFree waits for the work queued on the buffers.
  for (void *ptr : idle)
    scope.check(d.cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

/// `isHostShared` (gpu.alloc host_shared: the buffers that host code reads
/// or writes as well) is managed memory; the others are device memory.
extern "C" void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/,
                              bool isHostShared) {
  if (sizeBytes == 0)
    return nullptr;
  BufferCache &cache = bufferCache();
  void *stream = currentStream();
  void *buffer = nullptr;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.idle.find({sizeBytes, isHostShared, stream});
    if (it != cache.idle.end() && !it->second.empty()) {
      buffer = it->second.back();
      it->second.pop_back();
      cache.idleBytes -= sizeBytes;
    }
  }
  if (!buffer) {
    profile::Scope timed(isHostShared ? "cuMemAllocManaged" : "cuMemAlloc",
                         sizeBytes);
    const Driver &d = driver();
    ScopedContext scope(d);
    CUdeviceptr ptr = 0;
    if (isHostShared)
      // CU_MEM_ATTACH_GLOBAL: any stream may touch it.
      scope.check(d.cuMemAllocManaged(&ptr, sizeBytes, 1), "cuMemAllocManaged");
    else
      scope.check(d.cuMemAlloc(&ptr, sizeBytes), "cuMemAlloc");
    buffer = reinterpret_cast<void *>(ptr);
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.live[buffer] = {sizeBytes, isHostShared};
  }
  if (RunAllocations *run = RunAllocations::current())
    run->live.insert(buffer);
  return buffer;
}

extern "C" void mgpuMemFree(void *ptr, void * /*stream*/) {
  if (!ptr)
    return;
  if (RunAllocations *run = RunAllocations::current())
    run->live.erase(ptr);
  BufferCache &cache = bufferCache();
  void *stream = currentStream();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.live.find(ptr);
    if (it != cache.live.end() &&
        cache.idleBytes + it->second.first <= cache.limit) {
      auto [size, managed] = it->second;
      cache.idle[{size, managed, stream}].push_back(ptr);
      cache.idleBytes += size;
      return;
    }
    if (it != cache.live.end())
      cache.live.erase(it);
  }
  profile::Scope timed("cuMemFree");
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

extern "C" void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                           void *stream) {
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                              reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                              stream),
              "cuMemcpyAsync");
}

extern "C" void mgpuMemset32(void *dst, unsigned value, size_t count,
                             void *stream) {
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                 count, stream),
              "cuMemsetD32Async");
}

extern "C" void mgpuMemset16(void *dst, unsigned short value, size_t count,
                             void *stream) {
  const Driver &d = driver();
  ScopedContext scope(d);
  scope.check(d.cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                 count, stream),
              "cuMemsetD16Async");
}
