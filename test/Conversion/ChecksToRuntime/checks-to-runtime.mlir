// RUN: attnres-opt %s --attnres-checks-to-runtime --split-input-file | FileCheck %s

// A host-side check becomes a branch to a call of the runtime, which ends
// the run with the message as its error.
// CHECK: llvm.mlir.global internal constant @attnres_check_0("sizes differ\00")
// CHECK: llvm.func @attnres_check_failed(!llvm.ptr)
// CHECK-LABEL: func.func @host
// CHECK-NOT: cf.assert
// CHECK: cf.cond_br %{{.*}}, ^[[OK:bb[0-9]+]], ^[[FAILED:bb[0-9]+]]
// CHECK: ^[[FAILED]]:
// CHECK: llvm.mlir.addressof @attnres_check_0
// CHECK: llvm.call @attnres_check_failed(%{{.*}}) : (!llvm.ptr) -> ()
// CHECK-NEXT: llvm.unreachable
// CHECK: ^[[OK]]:
// CHECK-NEXT: return %arg1
func.func @host(%same: i1, %x: f32) -> f32 {
  cf.assert %same, "sizes differ"
  return %x : f32
}

// -----

// Kernels have no runtime to call: their asserts stay.
// CHECK-LABEL: gpu.module @kernels
// CHECK: cf.assert %{{.*}}, "in a kernel"
// CHECK-NOT: attnres_check_failed
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%same: i1) kernel {
      cf.assert %same, "in a kernel"
      gpu.return
    }
  }
}
