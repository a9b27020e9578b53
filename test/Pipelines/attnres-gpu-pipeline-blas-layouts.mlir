// The GPU pipeline computes every matrix product on the GPU: an operand in
// a layout cuBLAS cannot take (here a broadcast column, an output with
// overlapping rows, strides only known at run time) is copied by a kernel
// into a row-major buffer before the cuBLAS call, and an output back after
// it; the host neither loops over the product (the runtime has no such loop
// any more) nor copies a buffer (no memrefCopy).
//
// RUN: attnres-opt %s --attnres-gpu-pipeline="format=isa" \
// RUN:   | FileCheck %s --implicit-check-not=memrefCopy

// CHECK-LABEL: llvm.func @expressible(
// CHECK-NOT:     gpu.launch_func
// CHECK:         llvm.call @attnres_cublas_sgemm_batched(
// CHECK-NOT:     gpu.launch_func
// CHECK:         llvm.return
func.func @expressible(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32, strided<[20, 1, 4]>>, %c: memref<2x3x5xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32, strided<[20, 1, 4]>>) outs(%c : memref<2x3x5xf32>)
  return
}

// B's copy, C's copy in, the product, C's copy back.
// CHECK-LABEL: llvm.func @broadcast(
// CHECK:         gpu.launch_func {{.*}}@broadcast_kernel::@broadcast_kernel
// CHECK:         gpu.launch_func {{.*}}@broadcast_kernel_0::@broadcast_kernel
// CHECK:         llvm.call @attnres_cublas_sgemm_batched(
// CHECK:         gpu.launch_func {{.*}}@broadcast_kernel_1::@broadcast_kernel
// CHECK:         llvm.return
func.func @broadcast(%a: memref<2x3x4xf32>, %b: memref<2x4x5xf32, strided<[4, 1, 0]>>, %c: memref<2x3x5xf32, strided<[15, 1, 1]>>) {
  linalg.batch_matmul ins(%a, %b : memref<2x3x4xf32>, memref<2x4x5xf32, strided<[4, 1, 0]>>) outs(%c : memref<2x3x5xf32, strided<[15, 1, 1]>>)
  return
}

// The copy, a kernel too, only where the run-time test fails.
// CHECK-LABEL: llvm.func @dynamic(
// CHECK:         llvm.cond_br
// CHECK:         gpu.launch_func {{.*}}@dynamic_kernel::@dynamic_kernel
// CHECK:         llvm.call @attnres_cublas_sgemm_batched(
// CHECK:         llvm.return
func.func @dynamic(%a: memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, %b: memref<?x?x?xf32>, %c: memref<?x?x?xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32>) outs(%c : memref<?x?x?xf32>)
  return
}
