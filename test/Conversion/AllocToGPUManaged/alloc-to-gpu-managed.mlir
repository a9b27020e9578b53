// RUN: attnres-opt %s --allow-unregistered-dialect --split-input-file --pass-pipeline="builtin.module(func.func(attnres-alloc-to-gpu-managed))" | FileCheck %s

// Heap buffers move to managed memory, freed in the async form gpu-to-llvm
// lowers and waited for at once; stack buffers and foreign buffers stay.
// CHECK-LABEL: func.func @buffers
// CHECK-SAME: (%[[N:.*]]: index, %[[ARG:.*]]: memref<8xf32>)
// CHECK: %[[B:.*]] = gpu.alloc  host_shared (%[[N]]) : memref<?x64xf32>
// CHECK: %[[S:.*]] = memref.alloca() : memref<4xf32>
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[T1:.*]] = gpu.dealloc async [%[[T0]]] %[[B]] : memref<?x64xf32>
// CHECK: gpu.wait [%[[T1]]]
// CHECK: memref.dealloc %[[ARG]] : memref<8xf32>
// CHECK-NOT: memref.alloc(
func.func @buffers(%n: index, %arg: memref<8xf32>) {
  %b = memref.alloc(%n) : memref<?x64xf32>
  %s = memref.alloca() : memref<4xf32>
  "test.use"(%b, %s) : (memref<?x64xf32>, memref<4xf32>) -> ()
  memref.dealloc %b : memref<?x64xf32>
  memref.dealloc %arg : memref<8xf32>
  return
}
