/*===- CUDA.h - The runtime's CUDA driver, opened at run time -----*- C -*-===*
 *
 * libattnres_runtime implements the mgpu* functions that MLIR's GPU lowering
 * calls (module load, launch, streams, events, allocation, copies) on the
 * CUDA driver API, which it opens with dlopen on first use: the runtime, and
 * artifacts built for the CPU, start on machines without a GPU. This header
 * tells a program whether kernels can run here before it asks for them.
 *
 * Environment: ATTNRES_LIBCUDA names the driver library (default
 * libcuda.so.1); ATTNRES_CUDA_DEVICE the device ordinal (default 0).
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTNRES_RUNTIME_CUDA_H
#define ATTNRES_RUNTIME_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the driver opens and a device is there, 0 otherwise; in both
/// cases `what` (of `capacity` bytes, may be NULL) receives a line saying
/// which device, or why there is none ("no NVIDIA driver: ...", "no CUDA
/// device: ...").
int attnres_cuda_available(char *what, size_t capacity);

/// The device's compute capability as 10 * major + minor (90 for an H100,
/// 80 for an A100), the number of the sm_XY its cubins are compiled for; 0
/// when there is no device.
int attnres_cuda_compute_capability(void);

/// Waits for all the GPU work queued on the calling thread: every stream the
/// mgpu* functions hand a thread is that thread's one CUDA stream, which
/// cuBLAS calls and the runtime's copies use too (compiled code calls this
/// where it must wait and holds no token of the work).
void attnres_cuda_synchronize(void);
/// An event that records time (mgpuEventCreate's events only order work):
/// for programs that time kernels, with mgpuEventRecord and
/// attnres_cuda_elapsed_ms; destroyed by mgpuEventDestroy.
void *attnres_cuda_timing_event_create(void);

/// Milliseconds between two recorded timing events, once `end` completed
/// (waits for it).
float attnres_cuda_elapsed_ms(void *start, void *end);

/* The entry points of MLIR's GPU lowering that the runtime implements (the
 * signatures of upstream's CudaRuntimeWrappers.cpp), for programs that load
 * and launch kernels themselves, like bench/gpu. Each aborts with the failing
 * driver call on stderr when the driver reports an error. */
void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void *mgpuStreamCreate(void);
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate(void);
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* ATTNRES_RUNTIME_CUDA_H */
