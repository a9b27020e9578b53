// RUN: attnres-opt %s --split-input-file --attnres-expose-depth-weights 2>/dev/null | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-expose-depth-weights=verbose=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// Quiet unless asked: no remark without verbose.
// RUN: attnres-opt %s --split-input-file --attnres-expose-depth-weights -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUIET --allow-empty
// QUIET-NOT: remark

// Each aggregation's weights over its sources, softmax(w . rms_norm(v_i))
// over axis 0 in f32, become extra results named for --dump-depth-weights.
// CHECK-LABEL: func.func @two
// CHECK-SAME: -> (tensor<1x2x4xf32>, tensor<2x1x2xf32> {onnx.name = "attnres.depth_weights.0"}, tensor<3x1x2xf32> {onnx.name = "attnres.depth_weights.1"})
// CHECK: %[[H:.*]] = attnres.block_attn_res %arg0, %arg1 query
// CHECK: attnres.rms_norm %arg0, %arg3
// CHECK: attnres.rms_norm %arg1, %arg3
// CHECK: %[[S:.*]] = tosa.concat {{.*}} {axis = 0 : i32} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<2x1x2xf32>
// CHECK: tosa.reduce_max %[[S]] {axis = 0 : i32}
// CHECK: %[[W0:.*]] = tosa.mul {{.*}} -> tensor<2x1x2xf32>
// CHECK: %[[G:.*]] = attnres.block_attn_res %arg0, %arg1, %arg2 query
// CHECK: %[[W1:.*]] = tosa.mul {{.*}} -> tensor<3x1x2xf32>
// CHECK: return %{{.*}}, %[[W0]], %[[W1]]
func.func @two(%a: tensor<1x2x4xf32>, %b: tensor<1x2x4xf32>, %c: tensor<1x2x4xf32>, %g: tensor<4xf32>) -> tensor<1x2x4xf32> {
  %h = attnres.block_attn_res %a, %b query %g key_norm %g epsilon = 1.0e-06 : tensor<1x2x4xf32>, tensor<4xf32>
  %h2 = attnres.block_attn_res %a, %b, %c query %g key_norm %g epsilon = 1.0e-06 : tensor<1x2x4xf32>, tensor<4xf32>
  %s = tosa.add %h, %h2 : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %s : tensor<1x2x4xf32>
}

// -----

// Dynamic shapes: left alone, with a remark.
// REMARK: remark: depth weights of @dynamic not exposed: they need static shapes and one block
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: -> tensor<?x4xf32>
func.func @dynamic(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>, %g: tensor<4xf32>) -> tensor<?x4xf32> {
  %h = attnres.block_attn_res %a, %b query %g key_norm %g epsilon = 1.0e-06 : tensor<?x4xf32>, tensor<4xf32>
  return %h : tensor<?x4xf32>
}
