// RUN: attnres-opt %s --split-input-file --canonicalize | FileCheck %s

// An aggregation whose sources are all one value is that value.

// CHECK-LABEL: func.func @single_source
// CHECK-SAME:    (%[[V:[^:]+]]: tensor<1x16x64xf32>
// CHECK-NOT:     attnres.block_attn_res
// CHECK:         return %[[V]]
func.func @single_source(%v: tensor<1x16x64xf32>, %w: tensor<64xf32>) -> tensor<1x16x64xf32> {
  %h = attnres.block_attn_res %v query %w key_norm %w epsilon = 1.0e-06 : tensor<1x16x64xf32>, tensor<64xf32>
  return %h : tensor<1x16x64xf32>
}

// -----

// CHECK-LABEL: func.func @repeated_source
// CHECK-SAME:    (%[[V:[^:]+]]: tensor<?x64xf32>
// CHECK-NOT:     attnres.block_attn_res
// CHECK:         return %[[V]]
func.func @repeated_source(%v: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  %h = attnres.block_attn_res %v, %v, %v query %w key_norm %w epsilon = 1.0e-06 : tensor<?x64xf32>, tensor<64xf32>
  return %h : tensor<?x64xf32>
}

// -----

// Distinct sources are a real softmax over depth and stay.

// CHECK-LABEL: func.func @distinct_sources
// CHECK-SAME:    (%[[A:[^:]+]]: tensor<4x64xf32>, %[[B:[^:]+]]: tensor<4x64xf32>
// CHECK:         %[[H:.+]] = attnres.block_attn_res %[[A]], %[[B]], %[[A]] query
// CHECK:         return %[[H]]
func.func @distinct_sources(%a: tensor<4x64xf32>, %b: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  %h = attnres.block_attn_res %a, %b, %a query %w key_norm %w epsilon = 1.0e-06 : tensor<4x64xf32>, tensor<64xf32>
  return %h : tensor<4x64xf32>
}

// -----

// Unused aggregations and norms are pure and disappear.

// CHECK-LABEL: func.func @dead_ops
// CHECK-NOT:     attnres.
// CHECK:         return
func.func @dead_ops(%a: tensor<4x64xf32>, %b: tensor<4x64xf32>, %w: tensor<64xf32>) {
  %h = attnres.block_attn_res %a, %b query %w key_norm %w epsilon = 1.0e-06 : tensor<4x64xf32>, tensor<64xf32>
  %n = attnres.rms_norm %h, %w epsilon = 1.0e-05 : tensor<4x64xf32>, tensor<64xf32>
  return
}
