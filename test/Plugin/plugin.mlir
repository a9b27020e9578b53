// Debian's own mlir-opt-22 loads libAttnResPlugin.so as a dialect and a pass
// plugin, parses our ops and runs our passes and pipelines.
// REQUIRES: uninstrumented
// RUN: %mlir_opt %s --load-dialect-plugin=%attnres_plugin --load-pass-plugin=%attnres_plugin --pass-pipeline="builtin.module(func.func(attnres-two-phase,attnres-fuse-norm))" | FileCheck %s
// RUN: %mlir_opt %s --load-dialect-plugin=%attnres_plugin --load-pass-plugin=%attnres_plugin --pass-pipeline="builtin.module(attnres-cpu-pipeline{blas=false})" | FileCheck %s --check-prefix=LLVM
// RUN: not %mlir_opt %s 2>&1 | FileCheck %s --check-prefix=WITHOUT

// CHECK-LABEL: func.func @layer
// CHECK: attnres.phase1
// CHECK: attnres.phase2 {{.*}} norm
// LLVM: llvm.func @layer
// LLVM-NOT: attnres.
// WITHOUT: Dialect `attnres' not found for custom op 'attnres.phase1'
func.func @layer(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %o, %lse = attnres.phase1 %b0 queries(%q) key_norms(%k) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %h = attnres.phase2 %o, %lse, %p query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %y = attnres.rms_norm %h, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}
