// The cuBLAS callees take only the layouts cuBLAS expresses (one matrix
// stride 1, the other a leading dimension from the extent to INT_MAX), and
// the runtime computes nothing on the host: an operand in another layout is
// copied into a row-major buffer first, with a run-time test where the
// strides are dynamic. The CPU's OpenBLAS glue computes such layouts itself:
// nothing changes there unless contiguous-operands asks for it.
// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas="callee=attnres_cublas_sgemm_batched half-callee=attnres_cublas_gemm_batched_ex contiguous-operands=true" | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas | FileCheck %s --check-prefix=CPU --implicit-check-not=memref.copy --implicit-check-not=scf.if --implicit-check-not=memref.alloc
// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas="contiguous-operands=true" | FileCheck %s --check-prefix=FORCED

// Row-major operands, a transposed view, padded rows, weights shared across
// the batch and a C stored by columns are what cuBLAS takes: no copy, no
// test.

// CHECK-LABEL: func.func @expressible
// CHECK-NOT:     memref.alloc
// CHECK-NOT:     memref.copy
// CHECK-NOT:     scf.if
// CHECK:         call @attnres_cublas_sgemm_batched(
// CHECK-NOT:     memref.copy
// CHECK-NOT:     memref.dealloc
// CHECK:         call @attnres_cublas_sgemm_batched(
// CHECK-NOT:     memref.copy
// CHECK-NOT:     memref.dealloc
// CHECK:         return
func.func @expressible(%a: memref<2x3x4xf32>, %bt: memref<2x4x5xf32, strided<[20, 1, 4]>>,
                       %c: memref<2x3x5xf32>, %padded: memref<2x3x4xf32, strided<[30, 10, 1], offset: 2>>,
                       %shared: memref<2x4x5xf32, strided<[0, 5, 1]>>,
                       %ct: memref<2x3x5xf32, strided<[15, 1, 3]>>) {
  linalg.batch_matmul ins(%a, %bt : memref<2x3x4xf32>, memref<2x4x5xf32, strided<[20, 1, 4]>>) outs(%c : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%padded, %shared : memref<2x3x4xf32, strided<[30, 10, 1], offset: 2>>, memref<2x4x5xf32, strided<[0, 5, 1]>>) outs(%ct : memref<2x3x5xf32, strided<[15, 1, 3]>>)
  return
}

// -----

// A broadcast column (stride 0) and a strided slice (stride 2): copied into
// fresh row-major buffers, freed after the call.

// CHECK-LABEL: func.func @static_copies
// CHECK-SAME:    (%[[A:.+]]: memref<2x3x8xf32>, %[[B:.+]]: memref<2x4x5xf32, strided<[4, 1, 0]>>, %[[C:.+]]: memref<2x3x5xf32>)
// CHECK:         %[[S:.+]] = memref.subview %[[A]]
// CHECK:         %[[CA:.+]] = memref.alloc() : memref<2x3x4xf32>
// CHECK:         memref.copy %[[S]], %[[CA]] : memref<2x3x4xf32, strided<[24, 8, 2]>> to memref<2x3x4xf32>
// CHECK:         %[[A0:.+]] = memref.cast %[[CA]] : memref<2x3x4xf32> to memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>
// CHECK:         %[[CB:.+]] = memref.alloc() : memref<2x4x5xf32>
// CHECK:         memref.copy %[[B]], %[[CB]] : memref<2x4x5xf32, strided<[4, 1, 0]>> to memref<2x4x5xf32>
// CHECK:         %[[B0:.+]] = memref.cast %[[CB]]
// CHECK:         %[[C0:.+]] = memref.cast %[[C]]
// CHECK:         call @attnres_cublas_sgemm_batched(%[[A0]], %[[B0]], %[[C0]])
// CHECK-DAG:     memref.dealloc %[[CA]]
// CHECK-DAG:     memref.dealloc %[[CB]]
// CHECK-NOT:     memref.copy
// CHECK:         return

// CPU-LABEL: func.func @static_copies
// CPU:         call @attnres_sgemm_batched(

// FORCED-LABEL: func.func @static_copies
// FORCED:         memref.copy
// FORCED:         memref.copy
// FORCED:         call @attnres_sgemm_batched(
// FORCED:         memref.dealloc
// FORCED:         memref.dealloc
func.func @static_copies(%a: memref<2x3x8xf32>, %b: memref<2x4x5xf32, strided<[4, 1, 0]>>, %c: memref<2x3x5xf32>) {
  %s = memref.subview %a[0, 0, 0] [2, 3, 4] [1, 1, 2] : memref<2x3x8xf32> to memref<2x3x4xf32, strided<[24, 8, 2]>>
  linalg.batch_matmul ins(%s, %b : memref<2x3x4xf32, strided<[24, 8, 2]>>, memref<2x4x5xf32, strided<[4, 1, 0]>>) outs(%c : memref<2x3x5xf32>)
  return
}

// -----

// An output cuBLAS cannot write in place (overlapping rows): the product
// goes to a row-major buffer, then back. Accumulating, C's values go in
// first; overwriting, they are not read.

// CHECK-LABEL: func.func @output_copies
// CHECK-SAME:    (%[[A:[^:]+]]: memref<2x3x4xf32>, %[[B:[^:]+]]: memref<2x4x5xf32>, %[[C:[^:]+]]: memref<2x3x5xf32, strided<[15, 1, 1]>>)
// CHECK:         %[[T:.+]] = memref.alloc() : memref<2x3x5xf32>
// CHECK:         memref.copy %[[C]], %[[T]]
// CHECK:         %[[T0:.+]] = memref.cast %[[T]]
// CHECK:         call @attnres_cublas_sgemm_batched(%{{.+}}, %{{.+}}, %[[T0]])
// CHECK:         memref.copy %[[T]], %[[C]]
// CHECK:         memref.dealloc %[[T]]
// CHECK:         %[[U:.+]] = memref.alloc() : memref<2x3x5xf32>
// CHECK-NOT:     memref.copy %[[C]]
// CHECK:         %[[U0:.+]] = memref.cast %[[U]]
// CHECK:         call @attnres_cublas_sgemm_batched_overwrite(%{{.+}}, %{{.+}}, %[[U0]])
// CHECK:         memref.copy %[[U]], %[[C]]
// CHECK:         memref.dealloc %[[U]]
// CHECK:         return

// CPU-LABEL: func.func @output_copies
// CPU:         call @attnres_sgemm_batched(
// CPU:         call @attnres_sgemm_batched_overwrite(
func.func @output_copies(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>, %c: memref<2x3x5xf32, strided<[15, 1, 1]>>) {
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c : memref<2x3x5xf32, strided<[15, 1, 1]>>)
  linalg.batch_matmul {attnres.overwrite} ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c : memref<2x3x5xf32, strided<[15, 1, 1]>>)
  return
}

// -----

// Dynamic strides: the run-time test of the rule picks the operand itself
// or a copy, and the copy alone is freed (an output copied back first).

// CHECK-LABEL: func.func @dynamic_strides
// CHECK-SAME:    (%[[A:[^:]+]]: memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, %[[B:[^:]+]]: memref<?x?x?xf32>, %[[C:[^:]+]]: memref<2x3x5xf32, strided<[?, ?, 1], offset: ?>>)
// CHECK:         %[[BASE:.+]], %{{.+}}, %[[SIZES:.+]]:3, %[[STRIDES:.+]]:3 = memref.extract_strided_metadata %[[A]]
// CHECK-DAG:     arith.cmpi eq, %[[STRIDES]]#2, %{{.+}} : index
// CHECK-DAG:     arith.cmpi eq, %[[STRIDES]]#1, %{{.+}} : index
// CHECK:         %[[OK:.+]] = arith.ori
// CHECK:         %[[A0:.+]] = scf.if %[[OK]] -> (memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) {
// CHECK:           scf.yield %[[A]]
// CHECK:         } else {
// CHECK:           %[[COPY:.+]] = memref.alloc(%{{.+}}, %{{.+}}, %{{.+}}) : memref<?x?x?xf32>
// CHECK:           memref.copy %[[A]], %[[COPY]]
// CHECK:           %[[CAST:.+]] = memref.cast %[[COPY]]
// CHECK:           scf.yield %[[CAST]]
// CHECK:         }
// A row-major B, dynamic sizes and all: no test.
// CHECK-NOT:     extract_strided_metadata %[[B]]
// CHECK:         %[[B0:.+]] = memref.cast %[[B]]
// Only C's row stride is unknown.
// CHECK:         memref.extract_strided_metadata %[[C]]
// CHECK:         %[[COK:.+]] = arith.andi
// CHECK:         %[[C0:.+]] = scf.if %[[COK]]
// CHECK:         } else {
// CHECK:           memref.alloc() : memref<2x3x5xf32>
// CHECK:           memref.copy %[[C]]
// CHECK:         }
// CHECK:         call @attnres_cublas_sgemm_batched(%[[A0]], %[[B0]], %[[C0]])
// CHECK:         scf.if %[[OK]] {
// CHECK-NEXT:    } else {
// CHECK-NEXT:      memref.dealloc %[[A0]]
// CHECK-NEXT:    }
// CHECK:         scf.if %[[COK]] {
// CHECK-NEXT:    } else {
// CHECK-NEXT:      memref.copy %[[C0]], %[[C]]
// CHECK-NEXT:      memref.dealloc %[[C0]]
// CHECK-NEXT:    }
// CHECK:         return

// CPU-LABEL: func.func @dynamic_strides
// CPU:         call @attnres_sgemm_batched(
func.func @dynamic_strides(%a: memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, %b: memref<?x?x?xf32>,
                           %c: memref<2x3x5xf32, strided<[?, ?, 1], offset: ?>>) {
  linalg.batch_matmul ins(%a, %b : memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32>) outs(%c : memref<2x3x5xf32, strided<[?, ?, 1], offset: ?>>)
  return
}

// -----

// Half-precision products too: a broadcast f16 B is copied in its type.

// CHECK-LABEL: func.func @half_broadcast
// CHECK:         %[[CB:.+]] = memref.alloc() : memref<2x4x5xf16>
// CHECK:         memref.copy %{{.+}}, %[[CB]] : memref<2x4x5xf16, strided<[20, 0, 1]>> to memref<2x4x5xf16>
// CHECK:         call @attnres_cublas_gemm_batched_ex_f16_f32(
// CHECK:         memref.dealloc %[[CB]]

// CPU-LABEL: func.func @half_broadcast
// CPU:         linalg.batch_matmul
func.func @half_broadcast(%a: memref<2x3x4xf16>, %b: memref<2x4x5xf16, strided<[20, 0, 1]>>, %c: memref<2x3x5xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf16>, memref<2x4x5xf16, strided<[20, 0, 1]>>) outs(%c : memref<2x3x5xf32>)
  return
}
