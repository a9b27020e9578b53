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

// -----

// With dynamic shapes, deallocation frees the base buffer of a buffer that
// scf.if chose at run time (a broadcast of a dim that may be 1): it is
// managed memory like the rest, so it is freed as such, not with free().
// CHECK-LABEL: func.func @chosen_at_run_time
// CHECK: %[[B:.*]], %{{.*}}, %{{.*}}, %{{.*}} = memref.extract_strided_metadata
// CHECK: scf.if
// CHECK-NEXT: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[T1:.*]] = gpu.dealloc async [%[[T0]]] %[[B]] : memref<f32>
// CHECK-NOT: memref.dealloc
func.func @chosen_at_run_time(%n: index, %one: i1, %free: i1) {
  %c = scf.if %one -> memref<?xf32> {
    %a = memref.alloc(%n) : memref<?xf32>
    scf.yield %a : memref<?xf32>
  } else {
    %b = memref.alloc(%n) : memref<?xf32>
    scf.yield %b : memref<?xf32>
  }
  "test.use"(%c) : (memref<?xf32>) -> ()
  %base, %offset, %size, %stride = memref.extract_strided_metadata %c : memref<?xf32> -> memref<f32>, index, index, index
  scf.if %free {
    memref.dealloc %base : memref<f32>
  }
  return
}
