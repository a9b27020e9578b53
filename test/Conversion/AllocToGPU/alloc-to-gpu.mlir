// RUN: attnres-opt %s --allow-unregistered-dialect --split-input-file --verify-diagnostics --attnres-alloc-to-gpu | FileCheck %s
// RUN: attnres-opt %s --allow-unregistered-dialect --split-input-file --verify-diagnostics --attnres-alloc-to-gpu="managed=true" | FileCheck %s --check-prefix=MANAGED

// A buffer only kernels and cuBLAS touch is device memory; host code may
// still take its sizes, return it or free it.
// CHECK-LABEL: func.func @device_only
// CHECK: %[[B:.*]] = gpu.alloc  (%{{.*}}) : memref<?x64xf32>
// CHECK: gpu.launch_func @k::@k
// CHECK: call @attnres_cublas_sgemm_batched
// CHECK: gpu.dealloc %[[B]] : memref<?x64xf32>
// CHECK-NOT: memref.alloc
// MANAGED-LABEL: func.func @device_only
// MANAGED: gpu.alloc  host_shared (%{{.*}}) : memref<?x64xf32>
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%b: memref<?x64xf32>) kernel { gpu.return }
  }
  func.func private @attnres_cublas_sgemm_batched(memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>)
  func.func @device_only(%n: index) -> index {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %b = memref.alloc(%n) : memref<?x64xf32>
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<?x64xf32>)
    %e = memref.expand_shape %b [[0, 1], [2]] output_shape [1, %n, 64] : memref<?x64xf32> into memref<1x?x64xf32>
    %c = memref.cast %e : memref<1x?x64xf32> to memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>
    call @attnres_cublas_sgemm_batched(%c) : (memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) -> ()
    %d = memref.dim %b, %c0 : memref<?x64xf32>
    memref.dealloc %b : memref<?x64xf32>
    return %d : index
  }
}

// -----

// Shape operands that only host code writes and reads stay host memory,
// as do stack buffers.
// CHECK-LABEL: func.func @host_only
// CHECK: %[[S:.*]] = memref.alloc() : memref<2xindex>
// CHECK: memref.store
// CHECK: memref.reshape
// CHECK: memref.dealloc %[[S]] : memref<2xindex>
// CHECK-NOT: gpu.
// MANAGED-LABEL: func.func @host_only
// MANAGED: memref.alloc() : memref<2xindex>
func.func @host_only(%x: memref<?xf32>, %n: index) -> memref<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %shape = memref.alloc() : memref<2xindex>
  memref.store %n, %shape[%c0] : memref<2xindex>
  memref.store %n, %shape[%c1] : memref<2xindex>
  %r = memref.reshape %x(%shape) : (memref<?xf32>, memref<2xindex>) -> memref<?x?xf32>
  memref.dealloc %shape : memref<2xindex>
  return %r : memref<?x?xf32>
}

// -----

// A host store into a buffer a kernel reads (a fill whose loops folded
// away) runs as a one-thread launch, and the buffer is device memory.
// CHECK-LABEL: func.func @host_store
// CHECK: %[[B:.*]] = gpu.alloc  () : memref<1x1xf32>
// CHECK: gpu.launch blocks
// CHECK-NEXT: memref.store %{{.*}}, %[[B]][%{{.*}}, %{{.*}}] : memref<1x1xf32>
// CHECK-NEXT: gpu.terminator
// CHECK: gpu.launch blocks
// CHECK: memref.load %[[B]]
// MANAGED-LABEL: func.func @host_store
// MANAGED: gpu.alloc  host_shared () : memref<1x1xf32>
// MANAGED-NEXT: memref.store
func.func @host_store(%v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = memref.alloc() : memref<1x1xf32>
  memref.store %v, %b[%c0, %c0] : memref<1x1xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %l = memref.load %b[%c0, %c0] : memref<1x1xf32>
    "test.use"(%l) : (f32) -> ()
    gpu.terminator
  }
  return
}

// -----

// A buffer that host code reads and kernels write is managed memory.
// CHECK-LABEL: func.func @host_load
// CHECK: gpu.alloc  host_shared () : memref<4xf32>
func.func @host_load() -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %z = arith.constant 0.0 : f32
    memref.store %z, %b[%c0] : memref<4xf32>
    gpu.terminator
  }
  %v = memref.load %b[%c0] : memref<4xf32>
  return %v : f32
}

// -----

// Buffers that bufferization chose between at run time are one buffer: a
// kernel uses one of them, so both are device memory, and the free of the
// chosen one's base buffer frees device memory.
// CHECK-LABEL: func.func @chosen_at_run_time
// CHECK-COUNT-2: gpu.alloc  (%{{.*}}) : memref<?xf32>
// CHECK: %[[BASE:.*]], %{{.*}}, %{{.*}}, %{{.*}} = memref.extract_strided_metadata
// CHECK: scf.if
// CHECK-NEXT: gpu.dealloc %[[BASE]] : memref<f32>
// CHECK-NOT: memref.dealloc
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%b: memref<?xf32>) kernel { gpu.return }
  }
  func.func @chosen_at_run_time(%n: index, %one: i1, %free: i1) {
    %c1 = arith.constant 1 : index
    %c = scf.if %one -> memref<?xf32> {
      %a = memref.alloc(%n) : memref<?xf32>
      scf.yield %a : memref<?xf32>
    } else {
      %b = memref.alloc(%n) : memref<?xf32>
      scf.yield %b : memref<?xf32>
    }
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%c : memref<?xf32>)
    %base, %offset, %size, %stride = memref.extract_strided_metadata %c : memref<?xf32> -> memref<f32>, index, index, index
    scf.if %free {
      memref.dealloc %base : memref<f32>
    }
    return
  }
}

// -----

// Inputs are device memory: host code that reads one reads a managed copy
// made on entry. A private function's arguments are its callers' buffers.
// CHECK-LABEL: func.func @reads_input
// CHECK-SAME: (%[[X:.*]]: memref<?xindex>)
// CHECK: %[[N:.*]] = memref.dim %[[X]]
// CHECK: %[[COPY:.*]] = gpu.alloc  host_shared (%[[N]]) : memref<?xindex>
// CHECK: gpu.memcpy  %[[COPY]], %[[X]]
// CHECK: memref.load %[[COPY]]
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: gpu.
func.func @reads_input(%x: memref<?xindex>) -> index {
  %c0 = arith.constant 0 : index
  %v = memref.load %x[%c0] : memref<?xindex>
  return %v : index
}
func.func private @helper(%x: memref<?xindex>) -> index {
  %c0 = arith.constant 0 : index
  %v = memref.load %x[%c0] : memref<?xindex>
  return %v : index
}

// -----

// A constant that only host code reads is read from a copy that the CUDA
// artifact keeps on the host; kernels read the original, in the weights.
// CHECK: memref.global "private" constant @sizes : memref<2xindex>
// CHECK: memref.global "private" constant @sizes__host : memref<2xindex>
// CHECK-LABEL: func.func @reads_constant
// CHECK: memref.get_global @sizes__host
memref.global "private" constant @sizes : memref<2xindex> = dense<[2, 3]>
func.func @reads_constant() -> index {
  %c0 = arith.constant 0 : index
  %g = memref.get_global @sizes : memref<2xindex>
  %v = memref.load %g[%c0] : memref<2xindex>
  return %v : index
}

// -----

// Host copies between contiguous buffers (rank 0 included, which
// --attnres-copies-to-linalg leaves) are the driver's.
// CHECK-LABEL: func.func @copies
// CHECK: gpu.memcpy  %{{.*}}, %{{.*}} : memref<f32>, memref<f32>
// CHECK-NOT: memref.copy
func.func @copies(%x: memref<f32>) -> memref<f32> {
  %b = memref.alloc() : memref<f32>
  memref.copy %x, %b : memref<f32> to memref<f32>
  return %b : memref<f32>
}

// -----

// An input that host code reads and kernels use, in a layout the driver
// cannot copy.
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%b: memref<4xf32, strided<[2]>>) kernel { gpu.return }
  }
  // expected-error @below {{host code reads an argument that kernels read too, and its layout is not the identity}}
  func.func @strided_input(%x: memref<4xf32, strided<[2]>>) -> f32 {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32, strided<[2]>>)
    %v = memref.load %x[%c0] : memref<4xf32, strided<[2]>>
    return %v : f32
  }
}
