// RUN: attnres-opt %s --attnres-detect-residuals=report=true -o /dev/null 2>/dev/null | FileCheck %s
// RUN: attnres-opt %s --attnres-report -o /dev/null 2>/dev/null | FileCheck %s

// The table --attnres-detect-residuals=report=true prints: one row per
// layer with its residual add and the norm reading its input, named by
// their locations (ONNX node names after import).

// CHECK: residual stream of @prenorm: 2 layers, D = 8, embedding argument #0
// CHECK-NEXT: layer  residual add     norm
// CHECK-NEXT: 0      tosa.add 'add0'  attnres.rms_norm 'norm0'
// CHECK-NEXT: 1      tosa.add 'add1'  attnres.layer_norm 'norm1'
// CHECK-NEXT: final                   attnres.rms_norm 'final'
func.func @prenorm(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32> loc("norm0")
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32> loc("add0")
  %n1 = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32> loc("norm1")
  %f1 = tosa.sigmoid %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h2 = tosa.add %f1, %h1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32> loc("add1")
  %y = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32> loc("final")
  return %y : tensor<2x8xf32>
}
