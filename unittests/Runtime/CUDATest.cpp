//===- CUDATest.cpp - The runtime's CUDA layer without a GPU --------------===//
//
// ctest runs each test in its own process, so each may give the runtime its
// own driver through ATTNRES_LIBCUDA before the first CUDA call.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/CUDA.h"
#include "BesideTest.h"
#include "CUDADriver.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using attnres::cuda::open;

/// The host-side driver, built next to this test.
const std::string kFakeDriver = besideTest(FAKE_CUDA_DRIVER_NAME);

/// What the fake driver takes for a cubin: it starts as an ELF file does.
char kFakeCubin[] = "\x7f"
                    "ELF, a fake cubin";

TEST(CUDATest, MissingDriverSaysSo) {
  std::string why;
  EXPECT_EQ(open("/nonexistent/libcuda.so.1", 0, why), nullptr);
  EXPECT_EQ(
      why.rfind("no NVIDIA driver: cannot open /nonexistent/libcuda.so.1", 0),
      0u)
      << why;
}

TEST(CUDATest, DriverWithoutDeviceSaysSo) {
  setenv("FAKE_CUDA_DEVICES", "0", 1);
  std::string why;
  EXPECT_EQ(open(kFakeDriver.c_str(), 0, why), nullptr);
  EXPECT_EQ(why, "no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE");
}

TEST(CUDATest, DeviceOrdinalOutOfRangeSaysSo) {
  setenv("FAKE_CUDA_DEVICES", "2", 1);
  std::string why;
  EXPECT_EQ(open(kFakeDriver.c_str(), 2, why), nullptr);
  EXPECT_EQ(why, "no CUDA device 2: the driver sees 2");
  std::unique_ptr<const attnres::cuda::Driver> d =
      open(kFakeDriver.c_str(), 1, why);
  ASSERT_NE(d, nullptr) << why;
  EXPECT_EQ(d->deviceName, "Fake GPU");
  EXPECT_EQ(d->computeCapability, 90);
}

TEST(CUDATest, AvailabilityReportsTheMissingDriver) {
  setenv("ATTNRES_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
  char what[256];
  EXPECT_EQ(attnres_cuda_available(what, sizeof(what)), 0);
  EXPECT_NE(std::strstr(what, "no NVIDIA driver"), nullptr) << what;
  EXPECT_EQ(attnres_cuda_compute_capability(), 0);
  // A short buffer gets a terminated prefix.
  char small[8];
  EXPECT_EQ(attnres_cuda_available(small, sizeof(small)), 0);
  EXPECT_STREQ(small, "no NVID");
}

TEST(CUDATest, WrappersDriveTheDriver) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  char what[256];
  ASSERT_EQ(attnres_cuda_available(what, sizeof(what)), 1) << what;
  EXPECT_STREQ(what, "CUDA device: Fake GPU");
  EXPECT_EQ(attnres_cuda_compute_capability(), 90);

  void *stream = mgpuStreamCreate();
  auto *data = static_cast<float *>(mgpuMemAlloc(16 * sizeof(float), nullptr,
                                                 /*isHostShared=*/true));
  ASSERT_NE(data, nullptr);
  float one = 1.5f;
  unsigned bits;
  std::memcpy(&bits, &one, sizeof(bits));
  mgpuMemset32(data, bits, 16, stream);
  float copy[16];
  mgpuMemcpy(copy, data, sizeof(copy), stream);
  EXPECT_EQ(copy[15], 1.5f);

  void *module = mgpuModuleLoad(kFakeCubin, sizeof(kFakeCubin));
  void *function = mgpuModuleGetFunction(module, "scale");
  int64_t n = 10;
  float factor = 4.0f;
  void *params[] = {&data, &n, &factor};
  mgpuLaunchKernel(function, 2, 3, 4, 128, 2, 1, 0, stream, params, nullptr, 3);
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(data[0], 6.0f);
  EXPECT_EQ(data[9], 6.0f);
  EXPECT_EQ(data[10], 1.5f);

  void *fake = dlopen(kFakeDriver.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(fake, nullptr);
  auto lastLaunch = reinterpret_cast<void (*)(unsigned *)>(
      dlsym(fake, "fake_cuda_last_launch"));
  auto depth =
      reinterpret_cast<int (*)()>(dlsym(fake, "fake_cuda_context_depth"));
  unsigned dims[6];
  lastLaunch(dims);
  EXPECT_EQ(std::vector<unsigned>(dims, dims + 6),
            (std::vector<unsigned>{2, 3, 4, 128, 2, 1}));
  // Every wrapper pops the context it pushed.
  EXPECT_EQ(depth(), 0);

  EXPECT_EQ(mgpuMemAlloc(0, nullptr, true), nullptr);
  mgpuMemFree(nullptr, nullptr);
  mgpuMemFree(data, nullptr);
  mgpuModuleUnload(module);
  mgpuStreamDestroy(stream);
}

// Runs of a model allocate the same sizes each time; freed buffers wait for
// them instead of going back to the driver (fresh managed memory faults
// onto the GPU page by page), until released.
TEST(CUDATest, FreedBuffersAreReusedUntilReleased) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  char what[256];
  ASSERT_EQ(attnres_cuda_available(what, sizeof(what)), 1) << what;
  void *fake = dlopen(kFakeDriver.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(fake, nullptr);
  auto live =
      reinterpret_cast<long (*)()>(dlsym(fake, "fake_cuda_live_buffers"));
  long before = live();
  void *a = mgpuMemAlloc(4096, nullptr, /*isHostShared=*/true);
  void *device = mgpuMemAlloc(4096, nullptr, /*isHostShared=*/false);
  mgpuMemFree(a, nullptr);
  mgpuMemFree(device, nullptr);
  EXPECT_EQ(live(), before + 2);
  // The same size and kind get the same buffer back; others a new one.
  EXPECT_EQ(mgpuMemAlloc(4096, nullptr, true), a);
  void *other = mgpuMemAlloc(8192, nullptr, true);
  EXPECT_NE(other, a);
  EXPECT_EQ(mgpuMemAlloc(4096, nullptr, false), device);
  mgpuMemFree(a, nullptr);
  mgpuMemFree(other, nullptr);
  mgpuMemFree(device, nullptr);
  attnres::cuda::releaseCachedMemory();
  EXPECT_EQ(live(), before);
}

// A thread's streams are one stream, which a buffer freed on it goes back
// to: another thread's allocation, which its own stream does not order
// after the work that used the buffer, gets a fresh one.
TEST(CUDATest, EachThreadHasOneStreamAndItsOwnFreedBuffers) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  void *stream = mgpuStreamCreate();
  EXPECT_EQ(mgpuStreamCreate(), stream);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(mgpuStreamCreate(), stream);
  void *buffer = mgpuMemAlloc(4096, stream, /*isHostShared=*/false);
  mgpuMemFree(buffer, stream);
  void *otherStream = nullptr, *otherBuffer = nullptr;
  std::thread([&] {
    otherStream = mgpuStreamCreate();
    otherBuffer = mgpuMemAlloc(4096, otherStream, false);
    mgpuMemFree(otherBuffer, otherStream);
  }).join();
  EXPECT_NE(otherStream, stream);
  EXPECT_NE(otherBuffer, buffer);
  EXPECT_EQ(mgpuMemAlloc(4096, stream, false), buffer);
  mgpuMemFree(buffer, stream);
  attnres_cuda_synchronize();
  attnres::cuda::releaseCachedMemory();
}

// Device memory is out of the host's reach on the fake driver as on a GPU,
// but for the driver's own copies; managed memory is the host's too.
TEST(CUDATest, DeviceMemoryIsNotTheHosts) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  auto *device = static_cast<float *>(mgpuMemAlloc(64, nullptr, false));
  auto *managed = static_cast<float *>(mgpuMemAlloc(64, nullptr, true));
  float values[16] = {1, 2, 3};
  attnres::cuda::copy(device, values, sizeof values);
  attnres::cuda::copy(managed, device, sizeof values);
  EXPECT_EQ(managed[2], 3.0f);
  EXPECT_DEATH(device[0] = 1.0f, "");
  mgpuMemFree(device, nullptr);
  mgpuMemFree(managed, nullptr);
  attnres::cuda::releaseCachedMemory();
}

// A kernel's fault surfaces at the next synchronization, far from its
// launch: the error names the last kernel the thread launched.
TEST(CUDATest, AsynchronousFaultNamesTheLastKernel) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  void *module = mgpuModuleLoad(kFakeCubin, sizeof(kFakeCubin));
  void *fault = mgpuModuleGetFunction(module, "fault");
  void *stream = mgpuStreamCreate();
  EXPECT_DEATH(
      {
        mgpuLaunchKernel(fault, 1, 1, 1, 32, 1, 1, 0, stream, nullptr, nullptr,
                         0);
        mgpuStreamSynchronize(stream);
      },
      "attnres: CUDA: cuStreamSynchronize failed: "
      "CUDA_ERROR_ILLEGAL_ADDRESS \\(it may come from a kernel: the last "
      "one this thread launched is fault \\(module [0-9]+\\)\\)");
  mgpuStreamDestroy(stream);
  mgpuModuleUnload(module);
}

// A program that never destroys its model unloads the model's modules from
// static destructors, possibly after the driver shut down: a warning, not
// an abort. Other calls still stop with the driver's error.
TEST(CUDATest, UnloadingAfterTheDriverShutDownWarns) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  void *module = mgpuModuleLoad(kFakeCubin, sizeof(kFakeCubin));
  ASSERT_NE(mgpuModuleGetFunction(module, "scale"), nullptr);
  void *stream = mgpuStreamCreate();
  void *fake = dlopen(kFakeDriver.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(fake, nullptr);
  auto shutDown =
      reinterpret_cast<void (*)()>(dlsym(fake, "fake_cuda_shut_down"));
  EXPECT_DEATH(
      {
        shutDown();
        mgpuModuleUnload(module);
        std::fprintf(stderr, "unloaded\n");
        mgpuStreamSynchronize(stream);
      },
      "attnres: CUDA: warning: the driver shut down before the runtime "
      "released its modules and streams \\(a model not destroyed before "
      "exit\\)\nunloaded\nattnres: CUDA: cuCtxPushCurrent failed: "
      "CUDA_ERROR_DEINITIALIZED");
  mgpuStreamDestroy(stream);
  mgpuModuleUnload(module);
}

TEST(CUDATest, DriverErrorsNameTheCall) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  void *module = mgpuModuleLoad(kFakeCubin, sizeof(kFakeCubin));
  EXPECT_DEATH(mgpuModuleGetFunction(module, "missing"),
               "attnres: CUDA: cuModuleGetFunction failed: "
               "CUDA_ERROR_NOT_FOUND");
  mgpuModuleUnload(module);
}

// Artifacts load their modules from global constructors, while dlopen runs:
// that must not need a driver, or a CUDA artifact could not even say that
// there is no GPU.
TEST(CUDATest, ModulesLoadOnFirstUse) {
  setenv("ATTNRES_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
  void *module = mgpuModuleLoad(kFakeCubin, sizeof(kFakeCubin));
  ASSERT_NE(module, nullptr);
  mgpuModuleUnload(module);
  EXPECT_DEATH(mgpuModuleGetFunction(
                   mgpuModuleLoad(kFakeCubin, sizeof(kFakeCubin)), "scale"),
               "attnres: CUDA: opening the driver failed: no NVIDIA driver");
}

TEST(CUDATest, ImagesThatAreNotCubinsAreRefused) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  static const char image[] = "not a cubin";
  void *module = mgpuModuleLoad(const_cast<char *>(image), sizeof(image));
  // With the JIT's log, which says where and why.
  EXPECT_DEATH(mgpuModuleGetFunction(module, "scale"),
               "attnres: CUDA: cuModuleLoadDataEx failed: "
               "CUDA_ERROR_INVALID_IMAGE\nfake ptxas: line 1: not PTX or a "
               "cubin");
  mgpuModuleUnload(module);
}

TEST(CUDATest, TimingEventsMeasureWhatRanBetweenThem) {
  setenv("ATTNRES_LIBCUDA", kFakeDriver.c_str(), 1);
  void *stream = mgpuStreamCreate();
  void *start = attnres_cuda_timing_event_create();
  void *stop = attnres_cuda_timing_event_create();
  mgpuEventRecord(start, stream);
  std::vector<float> work(1 << 22, 1.0f);
  volatile float sum = 0;
  for (int r = 0; r < 20; ++r)
    for (float v : work)
      sum = sum + v;
  mgpuEventRecord(stop, stream);
  float ms = attnres_cuda_elapsed_ms(start, stop);
  EXPECT_GT(ms, 0.0f);
  EXPECT_LT(ms, 60e3f);
  // An event never recorded is the driver's error, with the call named.
  void *unrecorded = attnres_cuda_timing_event_create();
  EXPECT_DEATH(attnres_cuda_elapsed_ms(start, unrecorded),
               "attnres: CUDA: cuEventElapsedTime failed: "
               "CUDA_ERROR_INVALID_HANDLE");
  mgpuEventDestroy(unrecorded);
  mgpuEventDestroy(start);
  mgpuEventDestroy(stop);
  mgpuStreamDestroy(stream);
}

TEST(CUDATest, NoDriverStopsCompiledCodeWithTheReason) {
  setenv("ATTNRES_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
  EXPECT_DEATH(mgpuStreamCreate(),
               "attnres: CUDA: opening the driver failed: no NVIDIA driver");
}

} // namespace
