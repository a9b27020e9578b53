// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas | FileCheck %s
// The GPU pipeline's callee: the same rewrite, other names.
// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas="callee=attnres_cublas_sgemm_batched contiguous-operands=true" | FileCheck %s --check-prefix=CUBLAS
// CUBLAS-LABEL: func.func private @attnres_cublas_sgemm_batched(memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>
// CUBLAS-LABEL: func.func @bmm
// CUBLAS:         call @attnres_cublas_sgemm_batched(
// CUBLAS-NOT:     call @attnres_sgemm_batched
// CUBLAS-LABEL: func.func private @attnres_cublas_sgemm_batched_overwrite
// CUBLAS-LABEL: func.func @zero_filled
// CUBLAS:         call @attnres_cublas_sgemm_batched_overwrite(

// CHECK-LABEL: func.func private @attnres_sgemm_batched(memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @bmm
// CHECK-SAME:    (%[[A:.+]]: memref<2x3x4xf32>, %[[B:.+]]: memref<2x4x5xf32>, %[[C:.+]]: memref<2x3x5xf32>)
// CHECK:         %[[CA:.+]] = memref.cast %[[A]] : memref<2x3x4xf32> to memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>
// CHECK:         %[[CB:.+]] = memref.cast %[[B]]
// CHECK:         %[[CC:.+]] = memref.cast %[[C]]
// CHECK:         call @attnres_sgemm_batched(%[[CA]], %[[CB]], %[[CC]])
// CHECK-NOT:     linalg.batch_matmul
func.func @bmm(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>, %c: memref<2x3x5xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c : memref<2x3x5xf32>)
  return
}

// -----

// Tensors (not yet bufferized), other element types and explicit indexing
// maps stay as they are.

// CHECK-LABEL: func.func @unchanged
// CHECK-NOT:     attnres_sgemm_batched
// CHECK:         linalg.batch_matmul ins(%{{.+}}, %{{.+}} : tensor<2x3x4xf32>, tensor<2x4x5xf32>)
// CHECK:         linalg.batch_matmul ins(%{{.+}}, %{{.+}} : memref<2x3x4xf64>, memref<2x4x5xf64>)
func.func @unchanged(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>, %c: tensor<2x3x5xf32>,
                     %x: memref<2x3x4xf64>, %y: memref<2x4x5xf64>, %z: memref<2x3x5xf64>) -> tensor<2x3x5xf32> {
  %r = linalg.batch_matmul ins(%a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%c : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  linalg.batch_matmul ins(%x, %y : memref<2x3x4xf64>, memref<2x4x5xf64>) outs(%z : memref<2x3x5xf64>)
  return %r : tensor<2x3x5xf32>
}

// -----

// Operands that fail the checks only after others have passed (an f16 B
// after an f32 A; memrefs outside the default memory space) leave the op
// as it was, with no cast created: the pattern checks every operand before it
// rewrites anything.

// CHECK-LABEL: func.func @late_mismatch
// CHECK-NOT:     memref.cast
// CHECK-NOT:     call @attnres_sgemm_batched
// CHECK:         linalg.batch_matmul ins(%{{.+}}, %{{.+}} : memref<2x3x4xf32>, memref<2x4x5xf16>)
// CHECK:         linalg.batch_matmul ins(%{{.+}}, %{{.+}} : memref<2x3x4xf32, 1>, memref<2x4x5xf32, 1>)
// CHECK-NOT:     memref.cast
// CHECK:         return
func.func @late_mismatch(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf16>, %c: memref<2x3x5xf32>,
                         %x: memref<2x3x4xf32, 1>, %y: memref<2x4x5xf32, 1>, %z: memref<2x3x5xf32, 1>) {
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf16>) outs(%c : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%x, %y : memref<2x3x4xf32, 1>, memref<2x4x5xf32, 1>) outs(%z : memref<2x3x5xf32, 1>)
  return
}

// -----

// A fresh output filled with zeros just before the product: the fill goes,
// and BLAS overwrites the output (beta = 0).

// CHECK-LABEL: func.func private @attnres_sgemm_batched_overwrite
// CHECK-LABEL: func.func @zero_filled
// CHECK:         %[[C:.+]] = memref.alloc() : memref<2x3x5xf32>
// CHECK-NOT:     linalg.fill
// CHECK:         call @attnres_sgemm_batched_overwrite({{.*}})
// CHECK:         return %[[C]]
func.func @zero_filled(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>) -> memref<2x3x5xf32> {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<2x3x5xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c : memref<2x3x5xf32>)
  return %c : memref<2x3x5xf32>
}

// -----

// The copies of one zero buffer that bufferization makes for several
// outputs become fills of their own and the shared buffer goes; the fresh
// output's product overwrites it, the argument keeps its fill.

// CHECK-LABEL: func.func @shared_zeros
// CHECK-SAME:    %[[ARG:[a-z0-9]+]]: memref<2x3x5xf32>) -> memref<2x3x5xf32>
// CHECK:         %[[C2:.+]] = memref.alloc() : memref<2x3x5xf32>
// CHECK-NOT:     memref.alloc
// CHECK:         linalg.fill ins(%{{.*}} : f32) outs(%[[ARG]] : memref<2x3x5xf32>)
// CHECK-NOT:     linalg.fill
// CHECK:         %[[CC:.+]] = memref.cast %[[C2]]
// CHECK:         call @attnres_sgemm_batched_overwrite(%{{.*}}, %{{.*}}, %[[CC]])
// CHECK-NEXT:    memref.copy %[[C2]], %[[ARG]]
// CHECK-NOT:     memref.dealloc
func.func @shared_zeros(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>, %c1: memref<2x3x5xf32>) -> memref<2x3x5xf32> {
  %zero = arith.constant 0.0 : f32
  %z = memref.alloc() : memref<2x3x5xf32>
  linalg.fill ins(%zero : f32) outs(%z : memref<2x3x5xf32>)
  %c2 = memref.alloc() : memref<2x3x5xf32>
  memref.copy %z, %c1 : memref<2x3x5xf32> to memref<2x3x5xf32>
  memref.copy %z, %c2 : memref<2x3x5xf32> to memref<2x3x5xf32>
  memref.dealloc %z : memref<2x3x5xf32>
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c2 : memref<2x3x5xf32>)
  memref.copy %c2, %c1 : memref<2x3x5xf32> to memref<2x3x5xf32>
  return %c2 : memref<2x3x5xf32>
}

// -----

// Where the output is not a fresh buffer only zero-filled before the
// product, the product accumulates: a nonzero fill, a read between fill and
// product, a view made before the fill, an argument.

// CHECK-LABEL: func.func @accumulates
// CHECK:         linalg.fill ins(%{{.*}} : f32) outs(%[[C1:.+]] : memref<2x3x5xf32>)
// CHECK:         call @attnres_sgemm_batched(
// CHECK:         linalg.fill
// CHECK:         memref.load
// CHECK:         call @attnres_sgemm_batched(
// CHECK:         memref.subview
// CHECK:         linalg.fill
// CHECK:         call @attnres_sgemm_batched(
// CHECK:         return
func.func @accumulates(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>, %i: index) -> (memref<2x3x5xf32>, memref<2x3x5xf32>, f32, memref<1x3x5xf32, strided<[15, 5, 1]>>) {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  %c1 = memref.alloc() : memref<2x3x5xf32>
  linalg.fill ins(%one : f32) outs(%c1 : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c1 : memref<2x3x5xf32>)
  %c2 = memref.alloc() : memref<2x3x5xf32>
  linalg.fill ins(%zero : f32) outs(%c2 : memref<2x3x5xf32>)
  %x = memref.load %c2[%i, %i, %i] : memref<2x3x5xf32>
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c2 : memref<2x3x5xf32>)
  %c3 = memref.alloc() : memref<2x3x5xf32>
  %v = memref.subview %c3[0, 0, 0] [1, 3, 5] [1, 1, 1] : memref<2x3x5xf32> to memref<1x3x5xf32, strided<[15, 5, 1]>>
  linalg.fill ins(%zero : f32) outs(%c3 : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%c3 : memref<2x3x5xf32>)
  return %c1, %c2, %x, %v : memref<2x3x5xf32>, memref<2x3x5xf32>, f32, memref<1x3x5xf32, strided<[15, 5, 1]>>
}

// -----

// The zero buffer itself is written by a product after the copies out of
// it: the copies still read the fill, and that product overwrites too.

// CHECK-LABEL: func.func @zeros_reused
// CHECK-NOT:     memref.copy
// CHECK:         linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<2x3x5xf32>)
// CHECK-NOT:     linalg.fill
// CHECK:         call @attnres_sgemm_batched_overwrite
// CHECK:         call @attnres_sgemm_batched(
func.func @zeros_reused(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>, %arg: memref<2x3x5xf32>) -> memref<2x3x5xf32> {
  %zero = arith.constant 0.0 : f32
  %z = memref.alloc() : memref<2x3x5xf32>
  linalg.fill ins(%zero : f32) outs(%z : memref<2x3x5xf32>)
  memref.copy %z, %arg : memref<2x3x5xf32> to memref<2x3x5xf32>
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%z : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%arg : memref<2x3x5xf32>)
  return %z : memref<2x3x5xf32>
}

// -----

// A copy after a write that is not a fill copies what was written.

// CHECK-LABEL: func.func @copy_after_product
// CHECK:         call @attnres_sgemm_batched_overwrite
// CHECK:         memref.copy
func.func @copy_after_product(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32>, %arg: memref<2x3x5xf32>) -> memref<2x3x5xf32> {
  %zero = arith.constant 0.0 : f32
  %z = memref.alloc() : memref<2x3x5xf32>
  linalg.fill ins(%zero : f32) outs(%z : memref<2x3x5xf32>)
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32>) outs(%z : memref<2x3x5xf32>)
  memref.copy %z, %arg : memref<2x3x5xf32> to memref<2x3x5xf32>
  return %z : memref<2x3x5xf32>
}

// -----

// The head split of attention: transposes into fresh buffers that only a
// product reads become transposed views of their inputs, which BLAS takes
// as strides (a leading dimension of 512; K^T as a transposed operand).

// CHECK-LABEL: func.func @head_split
// CHECK-SAME:    (%[[Q:[a-z0-9]+]]: memref<1x128x8x64xf32>, %[[K:[a-z0-9]+]]: memref<1x128x8x64xf32>)
// CHECK-NOT:     linalg.transpose
// CHECK-DAG:     %[[KT:.+]] = memref.transpose %[[K]] (d0, d1, d2, d3) -> (d0, d2, d3, d1) : memref<1x128x8x64xf32> to memref<1x8x64x128xf32, strided<[65536, 64, 1, 512]>>
// CHECK-DAG:     %[[QT:.+]] = memref.transpose %[[Q]] (d0, d1, d2, d3) -> (d0, d2, d1, d3) : memref<1x128x8x64xf32> to memref<1x8x128x64xf32, strided<[65536, 64, 512, 1]>>
// CHECK-DAG:     memref.collapse_shape %[[QT]] {{\[}}[0, 1], [2], [3]] : memref<1x8x128x64xf32, strided<[65536, 64, 512, 1]>> into memref<8x128x64xf32, strided<[64, 512, 1]>>
// CHECK-DAG:     memref.collapse_shape %[[KT]] {{\[}}[0, 1], [2], [3]] : memref<1x8x64x128xf32, strided<[65536, 64, 1, 512]>> into memref<8x64x128xf32, strided<[64, 1, 512]>>
// CHECK:         call @attnres_sgemm_batched_overwrite
// CHECK-NOT:     memref.dealloc
func.func @head_split(%q: memref<1x128x8x64xf32>, %k: memref<1x128x8x64xf32>) -> memref<8x128x128xf32> {
  %zero = arith.constant 0.0 : f32
  %qt = memref.alloc() : memref<1x8x128x64xf32>
  linalg.transpose ins(%q : memref<1x128x8x64xf32>) outs(%qt : memref<1x8x128x64xf32>) permutation = [0, 2, 1, 3]
  %kt = memref.alloc() : memref<1x8x64x128xf32>
  linalg.transpose ins(%k : memref<1x128x8x64xf32>) outs(%kt : memref<1x8x64x128xf32>) permutation = [0, 2, 3, 1]
  %qc = memref.collapse_shape %qt [[0, 1], [2], [3]] : memref<1x8x128x64xf32> into memref<8x128x64xf32>
  %kc = memref.collapse_shape %kt [[0, 1], [2], [3]] : memref<1x8x64x128xf32> into memref<8x64x128xf32>
  %s = memref.alloc() : memref<8x128x128xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<8x128x128xf32>)
  linalg.batch_matmul ins(%qc, %kc : memref<8x128x64xf32>, memref<8x64x128xf32>) outs(%s : memref<8x128x128xf32>)
  memref.dealloc %qt : memref<1x8x128x64xf32>
  memref.dealloc %kt : memref<1x8x64x128xf32>
  return %s : memref<8x128x128xf32>
}

// -----

// Kept: the input is written between the transpose and the product, the
// transposed buffer has another reader, a collapse the strides cannot take.

// CHECK-LABEL: func.func @transposes_kept
// CHECK-COUNT-3: linalg.transpose
// CHECK-NOT:     memref.transpose
// CHECK:         return
func.func @transposes_kept(%a: memref<1x4x8xf32>, %b: memref<1x8x4xf32>, %w: memref<1x2x3x4xf32>, %y: memref<1x4x5xf32>)
    -> (memref<1x4x4xf32>, f32, memref<1x4x4xf32>, memref<1x6x5xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  // The input is written after the transpose.
  %t1 = memref.alloc() : memref<1x8x4xf32>
  linalg.transpose ins(%a : memref<1x4x8xf32>) outs(%t1 : memref<1x8x4xf32>) permutation = [0, 2, 1]
  linalg.fill ins(%zero : f32) outs(%a : memref<1x4x8xf32>)
  %c1 = memref.alloc() : memref<1x4x4xf32>
  linalg.batch_matmul ins(%a, %t1 : memref<1x4x8xf32>, memref<1x8x4xf32>) outs(%c1 : memref<1x4x4xf32>)
  // Read by something else too.
  %t2 = memref.alloc() : memref<1x4x8xf32>
  linalg.transpose ins(%b : memref<1x8x4xf32>) outs(%t2 : memref<1x4x8xf32>) permutation = [0, 2, 1]
  %r = memref.load %t2[%c0, %c0, %c0] : memref<1x4x8xf32>
  %c2 = memref.alloc() : memref<1x4x4xf32>
  linalg.batch_matmul ins(%t2, %b : memref<1x4x8xf32>, memref<1x8x4xf32>) outs(%c2 : memref<1x4x4xf32>)
  // [1, 3, 2, 4] as a view of [1, 2, 3, 4] cannot merge its middle dims.
  %t3 = memref.alloc() : memref<1x3x2x4xf32>
  linalg.transpose ins(%w : memref<1x2x3x4xf32>) outs(%t3 : memref<1x3x2x4xf32>) permutation = [0, 2, 1, 3]
  %t3c = memref.collapse_shape %t3 [[0], [1, 2], [3]] : memref<1x3x2x4xf32> into memref<1x6x4xf32>
  %c3 = memref.alloc() : memref<1x6x5xf32>
  linalg.batch_matmul ins(%t3c, %y : memref<1x6x4xf32>, memref<1x4x5xf32>) outs(%c3 : memref<1x6x5xf32>)
  return %c1, %r, %c2, %c3 : memref<1x4x4xf32>, f32, memref<1x4x4xf32>, memref<1x6x5xf32>
}

// -----

// Attention's merge of heads: the second product writes a transposed view
// of the transpose's target, and the zero fill it had still makes it
// overwrite.

// CHECK-LABEL: func.func @head_merge
// CHECK:         %[[T:.+]] = memref.alloc() : memref<1x128x8x64xf32>
// CHECK:         %[[V:.+]] = memref.transpose %[[T]] (d0, d1, d2, d3) -> (d0, d2, d1, d3) : memref<1x128x8x64xf32> to memref<1x8x128x64xf32, strided<[65536, 64, 512, 1]>>
// CHECK:         %[[C:.+]] = memref.collapse_shape %[[V]] {{\[}}[0, 1], [2], [3]] : {{.*}} into memref<8x128x64xf32, strided<[64, 512, 1]>>
// CHECK-NOT:     linalg.fill
// CHECK:         %[[CC:.+]] = memref.cast %[[C]]
// CHECK:         call @attnres_sgemm_batched_overwrite(%{{.*}}, %{{.*}}, %[[CC]])
// CHECK-NOT:     linalg.transpose
// CHECK:         memref.collapse_shape %[[T]] {{\[}}[0], [1], [2, 3]]
// CHECK:         return
func.func @head_merge(%p: memref<8x128x128xf32>, %v: memref<8x128x64xf32>) -> memref<1x128x512xf32> {
  %zero = arith.constant 0.0 : f32
  %o = memref.alloc() : memref<8x128x64xf32>
  linalg.fill ins(%zero : f32) outs(%o : memref<8x128x64xf32>)
  linalg.batch_matmul ins(%p, %v : memref<8x128x128xf32>, memref<8x128x64xf32>) outs(%o : memref<8x128x64xf32>)
  %e = memref.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 8, 128, 64] : memref<8x128x64xf32> into memref<1x8x128x64xf32>
  %t = memref.alloc() : memref<1x128x8x64xf32>
  linalg.transpose ins(%e : memref<1x8x128x64xf32>) outs(%t : memref<1x128x8x64xf32>) permutation = [0, 2, 1, 3]
  %c = memref.collapse_shape %t [[0], [1], [2, 3]] : memref<1x128x8x64xf32> into memref<1x128x512xf32>
  memref.dealloc %o : memref<8x128x64xf32>
  return %c : memref<1x128x512xf32>
}

// -----

// Kept: the product's output is read by something else too; the target is
// written before the transpose; the transposed rows would not be contiguous.

// CHECK-LABEL: func.func @merges_kept
// CHECK-COUNT-3: linalg.transpose
// CHECK:         return
func.func @merges_kept(%p: memref<2x4x4xf32>, %v: memref<2x4x8xf32>, %i: index)
    -> (f32, memref<4x2x8xf32>, memref<2x8x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %o1 = memref.alloc() : memref<2x4x8xf32>
  linalg.batch_matmul ins(%p, %v : memref<2x4x4xf32>, memref<2x4x8xf32>) outs(%o1 : memref<2x4x8xf32>)
  %x = memref.load %o1[%i, %i, %i] : memref<2x4x8xf32>
  %t1 = memref.alloc() : memref<4x2x8xf32>
  linalg.transpose ins(%o1 : memref<2x4x8xf32>) outs(%t1 : memref<4x2x8xf32>) permutation = [1, 0, 2]
  %o2 = memref.alloc() : memref<2x4x8xf32>
  linalg.batch_matmul ins(%p, %v : memref<2x4x4xf32>, memref<2x4x8xf32>) outs(%o2 : memref<2x4x8xf32>)
  %t2 = memref.alloc() : memref<4x2x8xf32>
  linalg.fill ins(%zero : f32) outs(%t2 : memref<4x2x8xf32>)
  linalg.transpose ins(%o2 : memref<2x4x8xf32>) outs(%t2 : memref<4x2x8xf32>) permutation = [1, 0, 2]
  %o3 = memref.alloc() : memref<2x4x8xf32>
  linalg.batch_matmul ins(%p, %v : memref<2x4x4xf32>, memref<2x4x8xf32>) outs(%o3 : memref<2x4x8xf32>)
  %t3 = memref.alloc() : memref<2x8x4xf32>
  linalg.transpose ins(%o3 : memref<2x4x8xf32>) outs(%t3 : memref<2x8x4xf32>) permutation = [0, 2, 1]
  return %x, %t2, %t3 : f32, memref<4x2x8xf32>, memref<2x8x4xf32>
}
