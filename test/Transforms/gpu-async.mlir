// RUN: attnres-opt %s --split-input-file --attnres-gpu-async | FileCheck %s

// Launches, device allocations and frees queue on one chain; cuBLAS calls
// run on the same stream, in order, without a wait; the host waits once,
// before returning.
// CHECK-LABEL: func.func @straight_line
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[B:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<8xf32>
// CHECK: %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @k::@k
// CHECK: call @attnres_cublas_sgemm_batched(
// CHECK-NOT: gpu.wait
// CHECK: %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @k::@k
// CHECK: %[[T4:.*]] = gpu.dealloc async [%[[T3]]] %[[B]]
// CHECK-NEXT: gpu.wait [%[[T4]]]
// CHECK-NEXT: return
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%b: memref<8xf32>) kernel { gpu.return }
  }
  func.func private @attnres_cublas_sgemm_batched(memref<8xf32>)
  func.func @straight_line() {
    %c1 = arith.constant 1 : index
    %b = gpu.alloc () : memref<8xf32>
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<8xf32>)
    call @attnres_cublas_sgemm_batched(%b) : (memref<8xf32>) -> ()
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<8xf32>)
    gpu.dealloc %b : memref<8xf32>
    return
  }
}

// -----

// Host code that reads GPU memory (managed here) waits for the work before
// it; host buffers need no wait; other calls do.
// CHECK-LABEL: func.func @host_reads
// CHECK: %[[T1:.*]] = gpu.launch_func async
// CHECK-NEXT: memref.store %{{.*}}, %[[HOST:.*]][
// CHECK-NEXT: memref.load %[[HOST]]
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NEXT: memref.load %[[M:.*]][
// CHECK: %[[T2:.*]] = gpu.wait async
// CHECK-NEXT: %[[T3:.*]] = gpu.launch_func async [%[[T2]]]
// CHECK-NEXT: gpu.wait [%[[T3]]]
// CHECK-NEXT: call @log
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%b: memref<8xf32>) kernel { gpu.return }
  }
  func.func private @log(f32)
  func.func @host_reads(%i: index, %v: f32) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %m = gpu.alloc host_shared () : memref<8xf32>
    %host = memref.alloc() : memref<2xindex>
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<8xf32>)
    memref.store %i, %host[%c0] : memref<2xindex>
    %j = memref.load %host[%c0] : memref<2xindex>
    %x = memref.load %m[%j] : memref<8xf32>
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<8xf32>)
    call @log(%x) : (f32) -> ()
    memref.dealloc %host : memref<2xindex>
    return
  }
}

// -----

// A block with one predecessor before it continues its chain; a block that
// several reach starts its own, and where it must wait with no token of
// its own at hand it asks the runtime to wait for the thread's stream. A
// failing check waits before it reports.
// CHECK-LABEL: func.func @branches
// CHECK: %[[T1:.*]] = gpu.launch_func async
// CHECK: cf.cond_br %{{.*}}, ^[[OK:.*]], ^[[FAIL:.*]]
// CHECK: ^[[FAIL]]:
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NEXT: call @fail()
// CHECK: ^[[OK]]:
// CHECK-NEXT: %[[T2:.*]] = gpu.launch_func async [%[[T1]]]
// CHECK-NEXT: cf.br ^[[JOIN:.*]]
// CHECK: ^[[JOIN]]:
// CHECK-NEXT: call @attnres_cuda_synchronize() : () -> ()
// CHECK-NEXT: return
// CHECK: func.func private @attnres_cuda_synchronize()
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%b: memref<8xf32>) kernel { gpu.return }
  }
  func.func private @fail()
  func.func @branches(%ok: i1, %b: memref<8xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<8xf32>)
    cf.cond_br %ok, ^ok, ^fail
  ^fail:
    call @fail() : () -> ()
    cf.br ^join
  ^ok:
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<8xf32>)
    cf.br ^join
  ^join:
    return
  }
}

// -----

// Functions without GPU work are left alone.
// CHECK-LABEL: func.func @host_function
// CHECK-NOT: gpu.
// CHECK-NOT: attnres_cuda_synchronize
func.func @host_function(%b: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %x = memref.load %b[%c0] : memref<8xf32>
  return %x : f32
}
