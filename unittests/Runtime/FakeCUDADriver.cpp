//===- FakeCUDADriver.cpp - A CUDA driver on the host, for tests ----------===//
//
// The runtime's mgpu* functions open libcuda.so.1 at run time; the tests give
// them this library instead (ATTNRES_LIBCUDA), so that the no-device paths
// and the wrappers' plumbing (arguments, contexts, streams, managed memory)
// are tested on machines without a GPU. Memory is host memory; "kernels" are
// host functions looked up by name. FAKE_CUDA_DEVICES sets the device count
// (default 1; 0 makes cuInit fail as the real driver does without a GPU).
//
// Whole CUDA artifacts run on it too, to test the host side of compiled
// models (module loading, buffers, launches) without a GPU: with
// FAKE_CUDA_ANY_KERNEL=1 every other kernel name is a kernel that does
// nothing, and FAKE_CUDA_REPORT=1 prints at exit what the process did:
// modules loaded and unloaded, launches, buffers allocated and still live,
// streams created and destroyed.
// Device memory (cuMemAlloc) is pages the host cannot read or write but
// while the fake runs a kernel, a copy, a memset or (fake_cuda_device_access,
// which the fake cuBLAS calls) a product: host code of a compiled model that
// touches a device buffer crashes here as it would on a GPU. Managed memory
// (cuMemAllocManaged) is plain host memory.
// The kernel "fault" makes the next synchronization fail as a kernel's
// illegal address does on a GPU. Images must be cubins (ELF) or PTX, and
// launches fit a real GPU's limits, or the call fails as the driver would.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {

using CUresult = int;
constexpr CUresult kSuccess = 0, kInvalidValue = 1, kNoDevice = 100,
                   kInvalidImage = 200, kNotFound = 500;

int devices() {
  const char *n = std::getenv("FAKE_CUDA_DEVICES");
  return n ? std::atoi(n) : 1;
}

int contextDepth = 0;
/// Set by fake_cuda_shut_down: every later call fails as the real driver's
/// do once it has shut down at process exit.
bool shutDown = false;
unsigned lastDims[6] = {};

struct Report {
  long loads = 0, unloads = 0, launches = 0, allocations = 0, managed = 0,
       live = 0, streams = 0, streamsDestroyed = 0, synchronizations = 0;
  std::set<std::string> kernels;
  ~Report() {
    if (!std::getenv("FAKE_CUDA_REPORT"))
      return;
    std::fprintf(stderr,
                 "fake-cuda: %ld modules loaded, %ld unloaded, %ld "
                 "launches, %ld buffers allocated (%ld managed), %ld live, "
                 "%ld streams created, %ld destroyed, %ld synchronizations\n",
                 loads, unloads, launches, allocations, managed, live, streams,
                 streamsDestroyed, synchronizations);
    for (const std::string &name : kernels)
      std::fprintf(stderr, "fake-cuda: kernel %s\n", name.c_str());
  }
} report;

void noop(void **) {}

/// Device buffers: their pages and page-rounded sizes.
std::map<void *, size_t> &deviceBuffers() {
  static auto *buffers = new std::map<void *, size_t>;
  return *buffers;
}
int deviceAccess = 0;

/// Lets the host touch device memory while the fake does GPU work.
void setDeviceAccess(bool on) {
  if (on ? deviceAccess++ : --deviceAccess)
    return;
  for (auto [base, size] : deviceBuffers())
    mprotect(base, size, on ? PROT_READ | PROT_WRITE : PROT_NONE);
}
struct DeviceAccess {
  DeviceAccess() { setDeviceAccess(true); }
  ~DeviceAccess() { setDeviceAccess(false); }
};

/// Set by the "fault" kernel: the next synchronization fails as after a
/// kernel's illegal address, which CUDA reports asynchronously.
bool pendingFault = false;
constexpr CUresult kIllegalAddress = 700;
void fault(void **) { pendingFault = true; }
/// What a synchronization returns: the pending fault, once.
CUresult reportFault() {
  CUresult r = pendingFault ? kIllegalAddress : kSuccess;
  pendingFault = false;
  return r;
}

/// A host "kernel": scale(float *data, int64_t n, float factor).
void scale(void **params) {
  float *data = *static_cast<float **>(params[0]);
  int64_t n = *static_cast<int64_t *>(params[1]);
  float factor = *static_cast<float *>(params[2]);
  for (int64_t i = 0; i < n; ++i)
    data[i] *= factor;
}

} // namespace

extern "C" {

CUresult cuInit(unsigned) { return devices() > 0 ? kSuccess : kNoDevice; }
CUresult cuGetErrorName(CUresult r, const char **name) {
  switch (r) {
  case kNoDevice:
    *name = "CUDA_ERROR_NO_DEVICE";
    return kSuccess;
  case kNotFound:
    *name = "CUDA_ERROR_NOT_FOUND";
    return kSuccess;
  case kInvalidValue:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return kSuccess;
  case kInvalidImage:
    *name = "CUDA_ERROR_INVALID_IMAGE";
    return kSuccess;
  case 400:
    *name = "CUDA_ERROR_INVALID_HANDLE";
    return kSuccess;
  case 4:
    *name = "CUDA_ERROR_DEINITIALIZED";
    return kSuccess;
  case kIllegalAddress:
    *name = "CUDA_ERROR_ILLEGAL_ADDRESS";
    return kSuccess;
  }
  return kInvalidValue;
}
CUresult cuDeviceGetCount(int *count) {
  *count = devices();
  return kSuccess;
}
CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return kSuccess;
}
CUresult cuDeviceGetName(char *name, int len, int) {
  std::strncpy(name, "Fake GPU", len);
  return kSuccess;
}
/// Reports compute capability 9.0, an H100's.
CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
  if (attribute != 75 && attribute != 76)
    return kInvalidValue;
  *value = attribute == 75 ? 9 : 0;
  return kSuccess;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) {
  static int context;
  *ctx = &context;
  return kSuccess;
}
CUresult cuCtxPushCurrent_v2(void *) {
  if (shutDown)
    return 4; // CUDA_ERROR_DEINITIALIZED
  ++contextDepth;
  return kSuccess;
}
CUresult cuCtxPopCurrent_v2(void **) {
  --contextDepth;
  return kSuccess;
}
CUresult cuModuleLoadData(void **module, const void *image) {
  auto *bytes = static_cast<const char *>(image);
  if (std::memcmp(bytes,
                  "\x7f"
                  "ELF",
                  4) != 0 &&
      !std::strstr(bytes, ".version"))
    return kInvalidImage;
  ++report.loads;
  *module = const_cast<void *>(image);
  return kSuccess;
}
/// Writes a JIT log for images it refuses, as the driver does for PTX that
/// does not compile (options 5 and 6: the log buffer and its size).
CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned count,
                            int *options, void **values) {
  CUresult r = cuModuleLoadData(module, image);
  char *log = nullptr;
  size_t size = 0;
  for (unsigned i = 0; i < count; ++i) {
    if (options[i] == 5)
      log = static_cast<char *>(values[i]);
    else if (options[i] == 6)
      size = reinterpret_cast<uintptr_t>(values[i]);
  }
  if (r != kSuccess && log && size)
    std::snprintf(log, size, "fake ptxas: line 1: not PTX or a cubin");
  return r;
}
CUresult cuModuleUnload(void *) {
  ++report.unloads;
  return kSuccess;
}
CUresult cuModuleGetFunction(void **function, void *, const char *name) {
  if (std::string(name) == "scale")
    *function = reinterpret_cast<void *>(&scale);
  else if (std::string(name) == "fault")
    *function = reinterpret_cast<void *>(&fault);
  else if (std::getenv("FAKE_CUDA_ANY_KERNEL"))
    *function = reinterpret_cast<void *>(&noop);
  else
    return kNotFound;
  report.kernels.insert(name);
  return kSuccess;
}
CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        void *, void **params, void **) {
  // The limits of every GPU since sm_70.
  if (!gx || !gy || !gz || !bx || !by || !bz || gy > 65535 || gz > 65535 ||
      bz > 64 || uint64_t(bx) * by * bz > 1024 || smem > 227 * 1024)
    return kInvalidValue;
  unsigned dims[6] = {gx, gy, gz, bx, by, bz};
  std::memcpy(lastDims, dims, sizeof(dims));
  ++report.launches;
  DeviceAccess access;
  reinterpret_cast<void (*)(void **)>(function)(params);
  return kSuccess;
}
CUresult cuStreamCreate(void **stream, unsigned) {
  *stream = new int;
  ++report.streams;
  return kSuccess;
}
CUresult cuStreamDestroy_v2(void *stream) {
  delete static_cast<int *>(stream);
  ++report.streamsDestroyed;
  return kSuccess;
}
CUresult cuStreamSynchronize(void *) {
  ++report.synchronizations;
  return reportFault();
}
CUresult cuStreamWaitEvent(void *, void *, unsigned) { return kSuccess; }
/// An event holds the host time it was recorded at, in milliseconds (work
/// here is done when its call returns).
CUresult cuEventCreate(void **event, unsigned) {
  *event = new double(-1);
  return kSuccess;
}
CUresult cuEventDestroy_v2(void *event) {
  delete static_cast<double *>(event);
  return kSuccess;
}
CUresult cuEventSynchronize(void *) { return reportFault(); }
CUresult cuEventRecord(void *event, void *) {
  *static_cast<double *>(event) =
      std::chrono::duration<double, std::milli>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count();
  return kSuccess;
}
/// CUDA_ERROR_INVALID_HANDLE where an event was never recorded.
CUresult cuEventElapsedTime(float *ms, void *start, void *end) {
  double a = *static_cast<double *>(start), b = *static_cast<double *>(end);
  if (a < 0 || b < 0)
    return 400;
  *ms = float(b - a);
  return kSuccess;
}
CUresult cuMemAlloc_v2(unsigned long long *ptr, size_t size) {
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t rounded = (std::max<size_t>(size, 1) + page - 1) / page * page;
  void *base =
      mmap(nullptr, rounded, deviceAccess ? PROT_READ | PROT_WRITE : PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return 2; // CUDA_ERROR_OUT_OF_MEMORY
  deviceBuffers()[base] = rounded;
  *ptr = reinterpret_cast<uintptr_t>(base);
  ++report.allocations;
  ++report.live;
  return kSuccess;
}
CUresult cuMemAllocManaged(unsigned long long *ptr, size_t size, unsigned) {
  *ptr = reinterpret_cast<uintptr_t>(std::malloc(size));
  ++report.allocations;
  ++report.managed;
  ++report.live;
  return kSuccess;
}
CUresult cuMemFree_v2(unsigned long long ptr) {
  void *base = reinterpret_cast<void *>(ptr);
  auto it = deviceBuffers().find(base);
  if (it != deviceBuffers().end()) {
    munmap(base, it->second);
    deviceBuffers().erase(it);
  } else {
    std::free(base);
  }
  --report.live;
  return kSuccess;
}
CUresult cuMemcpyAsync(unsigned long long dst, unsigned long long src,
                       size_t size, void *) {
  DeviceAccess access;
  std::memcpy(reinterpret_cast<void *>(dst), reinterpret_cast<void *>(src),
              size);
  return kSuccess;
}
CUresult cuMemsetD32Async(unsigned long long dst, unsigned value, size_t n,
                          void *) {
  DeviceAccess access;
  auto *p = reinterpret_cast<uint32_t *>(dst);
  for (size_t i = 0; i < n; ++i)
    p[i] = value;
  return kSuccess;
}
CUresult cuMemsetD16Async(unsigned long long dst, unsigned short value,
                          size_t n, void *) {
  DeviceAccess access;
  auto *p = reinterpret_cast<uint16_t *>(dst);
  for (size_t i = 0; i < n; ++i)
    p[i] = value;
  return kSuccess;
}

/// For the tests: the last launch's grid and block, and how many contexts
/// are pushed now.
void fake_cuda_last_launch(unsigned *dims) {
  std::memcpy(dims, lastDims, sizeof(lastDims));
}
int fake_cuda_context_depth() { return contextDepth; }
long fake_cuda_live_buffers() { return report.live; }
void fake_cuda_shut_down() { shutDown = true; }
/// For the fake cuBLAS: lets the host touch device memory while on.
void fake_cuda_device_access(int on) { setDeviceAccess(on != 0); }
}
