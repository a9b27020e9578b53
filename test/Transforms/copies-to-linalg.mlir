// RUN: attnres-opt %s --split-input-file --attnres-copies-to-linalg | FileCheck %s

// A strided slice copied into its own buffer (what bufferization makes of a
// Split) becomes a linalg.copy, which the GPU pipeline runs as a kernel.
// CHECK-LABEL: func.func @slice
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%{{.+}} : memref<?x32xf32, strided<[96, 1], offset: 32>>) outs(%{{.+}} : memref<?x32xf32>)
func.func @slice(%qkv: memref<?x96xf32>, %out: memref<?x32xf32>) {
  %c0 = arith.constant 0 : index
  %t = memref.dim %qkv, %c0 : memref<?x96xf32>
  %k = memref.subview %qkv[0, 32] [%t, 32] [1, 1]
      : memref<?x96xf32> to memref<?x32xf32, strided<[96, 1], offset: 32>>
  memref.copy %k, %out : memref<?x32xf32, strided<[96, 1], offset: 32>> to memref<?x32xf32>
  return
}

// -----

// Integer and half buffers too.
// CHECK-LABEL: func.func @types
// CHECK: linalg.copy ins(%{{.+}} : memref<4x8xi64>) outs(%{{.+}} : memref<4x8xi64>)
// CHECK: linalg.copy ins(%{{.+}} : memref<16xbf16>) outs(%{{.+}} : memref<16xbf16>)
func.func @types(%a: memref<4x8xi64>, %b: memref<4x8xi64>,
                 %c: memref<16xbf16>, %d: memref<16xbf16>) {
  memref.copy %a, %b : memref<4x8xi64> to memref<4x8xi64>
  memref.copy %c, %d : memref<16xbf16> to memref<16xbf16>
  return
}

// -----

// Shape operands (index buffers the host writes and reads) and single
// elements stay host copies.
// CHECK-LABEL: func.func @host_side
// CHECK: memref.copy %{{.+}}, %{{.+}} : memref<3xindex> to memref<3xindex>
// CHECK: memref.copy %{{.+}}, %{{.+}} : memref<f32> to memref<f32>
// CHECK-NOT: linalg.copy
func.func @host_side(%a: memref<3xindex>, %b: memref<3xindex>,
                     %c: memref<f32>, %d: memref<f32>) {
  memref.copy %a, %b : memref<3xindex> to memref<3xindex>
  memref.copy %c, %d : memref<f32> to memref<f32>
  return
}
