//===- SgemmGlue.h - The runtime's GEMM entry points, for tests -*- C++ -*-===//
//
// What compiled code calls after --attnres-linalg-to-blas, declared as the
// C interface passes them: descriptors of rank-3 f32 memrefs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_UNITTESTS_RUNTIME_SGEMMGLUE_H
#define ATTNRES_UNITTESTS_RUNTIME_SGEMMGLUE_H

#include "mlir/ExecutionEngine/CRunnerUtils.h"

using Memref3 = StridedMemRefType<float, 3>;

extern "C" void _mlir_ciface_attnres_sgemm_batched(Memref3 *a, Memref3 *b,
                                                   Memref3 *c);
extern "C" void _mlir_ciface_attnres_sgemm_batched_overwrite(Memref3 *a,
                                                             Memref3 *b,
                                                             Memref3 *c);

#endif // ATTNRES_UNITTESTS_RUNTIME_SGEMMGLUE_H
