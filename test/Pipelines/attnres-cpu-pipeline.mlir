// RUN: attnres-opt %s --attnres-cpu-pipeline | FileCheck %s
// RUN: attnres-opt %s --attnres-cpu-pipeline=blas=false | FileCheck %s --check-prefix=LOOPS
// RUN: attnres-opt %s --attnres-cpu-pipeline=two-phase=false | FileCheck %s
// RUN: attnres-opt %s --mlir-print-ir-after=attnres-fuse-norm --attnres-cpu-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: attnres-opt %s --mlir-print-ir-after=attnres-two-phase --attnres-cpu-pipeline=two-phase=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNSPLIT --allow-empty

// The CPU pipeline takes TOSA and attnres down to the LLVM dialect: GEMMs
// become BLAS calls (the product writes its fresh output: no zero fill),
// buffers are freed, nothing else survives.

// CHECK:     llvm.func private @attnres_sgemm_batched_overwrite(
// CHECK:       llvm.call @_mlir_ciface_attnres_sgemm_batched_overwrite({{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK:     llvm.func @_mlir_ciface_attnres_sgemm_batched_overwrite(!llvm.ptr, !llvm.ptr, !llvm.ptr)
// CHECK:     llvm.func @main
// CHECK:       llvm.call @malloc
// CHECK:       llvm.call @attnres_sgemm_batched_overwrite
// CHECK:       llvm.call @free
// CHECK-NOT: tosa.
// CHECK-NOT: attnres.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.

// By default the aggregation is split in two phases and the norm that reads
// it fused (here the aggregation is the function's result: nothing fuses).
// SPLIT: attnres.phase1 %{{.*}} queries
// SPLIT: attnres.phase2
// UNSPLIT-NOT: attnres-two-phase

// LOOPS-NOT: attnres_sgemm_batched
// LOOPS:     llvm.func @main
// LOOPS-NOT: linalg.

func.func @main(%x: tensor<1x4x8xf32>, %w: tensor<1x8x8xf32>, %g: tensor<8xf32>) -> tensor<1x4x8xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %n = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<1x4x8xf32>, tensor<8xf32>
  %y = tosa.matmul %n, %w, %zp, %zp : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %h = attnres.block_attn_res %x, %y query %g key_norm %g epsilon = 1.0e-06 : tensor<1x4x8xf32>, tensor<8xf32>
  return %h : tensor<1x4x8xf32>
}
