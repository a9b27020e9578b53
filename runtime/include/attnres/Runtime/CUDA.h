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

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the driver opens and a device is there, 0 otherwise; in both
/// cases `what` (of `capacity` bytes, may be NULL) receives a line saying
/// which device, or why there is none ("no NVIDIA driver: ...", "no CUDA
/// device: ...").
int attnres_cuda_available(char *what, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* ATTNRES_RUNTIME_CUDA_H */
