// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas | FileCheck %s

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
