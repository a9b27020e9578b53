// Rows of pseudo-queries from 1 KiB (D >= 256 in f32) become dense resources
// rather than inline hex; the module still round-trips and lowers.
// RUN: %python -c "import numpy as np; q = np.linspace(-1, 1, 2 * 256, dtype=np.float32).reshape(2, 256); np.savez('%t.npz', queries=q)"
// RUN: attnres-opt %s --attnres-residual-to-block="pseudo-queries=%t.npz" -o %t.mlir
// RUN: FileCheck %s < %t.mlir
// RUN: attnres-opt %t.mlir | attnres-opt --attnres-cpu-pipeline -o /dev/null

// CHECK-DAG: "tosa.const"() <{values = dense_resource<attnres.query.0> : tensor<256xf32>}>
// CHECK-DAG: "tosa.const"() <{values = dense_resource<attnres.query.1> : tensor<256xf32>}>
// Splat rows (the default key-norm weights of ones) stay inline.
// CHECK-DAG: "tosa.const"() <{values = dense<1.000000e+00> : tensor<256xf32>}>
// CHECK: dialect_resources: {
// CHECK: attnres.query.0: "0x
func.func @wide(%h0: tensor<2x256xf32>, %g: tensor<256xf32>) -> tensor<2x256xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x256xf32>, tensor<256xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x256xf32>) -> tensor<2x256xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<2x256xf32>, tensor<2x256xf32>) -> tensor<2x256xf32>
  %y = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x256xf32>, tensor<256xf32>
  return %y : tensor<2x256xf32>
}
