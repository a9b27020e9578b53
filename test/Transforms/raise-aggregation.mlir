// RUN: attnres-opt %s --split-input-file --attnres-raise-aggregation | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-raise-aggregation=verbose=true --verify-diagnostics -o /dev/null
// Quiet unless asked: no remark without verbose.
// RUN: sed '/expected-remark/d' %s | attnres-opt --split-input-file --attnres-raise-aggregation -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUIET --allow-empty
// QUIET-NOT: remark

// Every case has the structure of one aggregation (D = 4, tokens [1, 2],
// three sources), spelled as the importer writes what the PyTorch
// exporters produce; the near misses, below, stay with a remark each.
#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// The official pseudocode as imported: sources stacked by Unsqueeze +
// Concat, key RMSNorm, an Einsum with the query, softmax over axis 0, an
// Einsum for the weighted sum. Everything but the constants goes.
// CHECK-LABEL: func.func @einsum
// CHECK-SAME: (%[[X0:[^:]*]]: tensor<1x2x4xf32>, %[[X1:[^:]*]]: tensor<1x2x4xf32>, %[[X2:[^:]*]]: tensor<1x2x4xf32>)
// CHECK-DAG: %[[Q:.*]] = "tosa.const"() <{values = dense<[5.000000e-01, -1.000000e+00, 2.000000e+00, 2.500000e-01]>
// CHECK-DAG: %[[G:.*]] = "tosa.const"() <{values = dense<[1.000000e+00, 5.000000e-01, 1.500000e+00, 1.000000e+00]>
// CHECK: %[[H:.*]] = attnres.block_attn_res %[[X0]], %[[X1]], %[[X2]] query %[[Q]] key_norm %[[G]] epsilon = 9.99999997E-7 : tensor<1x2x4xf32>, tensor<4xf32>
// CHECK-NEXT: return %[[H]]
// CHECK-NOT: linalg.generic
func.func @einsum(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %se = tensor.empty() : tensor<3x1x2xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xf32>, tensor<3x1x2x4xf32>) outs(%sz : tensor<3x1x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x2xf32>
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// The scores as Mul + ReduceSum with a [1, D] query, the weighted sum as
// Mul + ReduceSum over the source axis.
// CHECK-LABEL: func.func @mul_reduce_sum
// CHECK: %[[Q:.*]] = tosa.reshape %{{.*}} : (tensor<1x1x1x4xf32>, !tosa.shape<1>) -> tensor<4xf32>
// CHECK: %[[H:.*]] = attnres.block_attn_res %arg0, %arg1, %arg2 query %[[Q]] key_norm
// CHECK: %[[R:.*]] = tosa.reshape %[[H]], %{{.*}} : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
// CHECK-NOT: tosa.exp
// CHECK: return %[[R]]
func.func @mul_reduce_sum(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %q2 = "tosa.const"() <{values = dense<[[0.5, -1.0, 2.0, 0.25]]> : tensor<1x4xf32>}> : () -> tensor<1x4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %ws = tosa.const_shape {values = dense<[1, 1, 1, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %wb = tosa.reshape %q2, %ws : (tensor<1x4xf32>, !tosa.shape<4>) -> tensor<1x1x1x4xf32>
  %kw = tosa.mul %k, %wb, %shift : (tensor<3x1x2x4xf32>, tensor<1x1x1x4xf32>, tensor<1xi8>) -> tensor<3x1x2x4xf32>
  %s1 = tosa.reduce_sum %kw {axis = 3 : i32} : (tensor<3x1x2x4xf32>) -> tensor<3x1x2x1xf32>
  %s3 = tosa.const_shape {values = dense<[3, 1, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s = tosa.reshape %s1, %s3 : (tensor<3x1x2x1xf32>, !tosa.shape<3>) -> tensor<3x1x2xf32>
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %a4s = tosa.const_shape {values = dense<[3, 1, 2, 1]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %a4 = tosa.reshape %a, %a4s : (tensor<3x1x2xf32>, !tosa.shape<4>) -> tensor<3x1x2x1xf32>
  %av = tosa.mul %a4, %v, %shift : (tensor<3x1x2x1xf32>, tensor<3x1x2x4xf32>, tensor<1xi8>) -> tensor<3x1x2x4xf32>
  %h = tosa.reduce_sum %av {axis = 0 : i32} : (tensor<3x1x2x4xf32>) -> tensor<1x1x2x4xf32>
  return %h : tensor<1x1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// The scores as a MatMul of the flattened keys with a Linear(D, 1) weight.
// CHECK-LABEL: func.func @matmul
// CHECK: %[[Q:.*]] = tosa.reshape %{{.*}} : (tensor<1x4x1xf32>, !tosa.shape<1>) -> tensor<4xf32>
// CHECK: attnres.block_attn_res %arg0, %arg1, %arg2 query %[[Q]] key_norm
// CHECK-NOT: tosa.matmul
func.func @matmul(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %w = "tosa.const"() <{values = dense<[[[0.5], [-1.0], [2.0], [0.25]]]> : tensor<1x4x1xf32>}> : () -> tensor<1x4x1xf32>
  %fzp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %fs = tosa.const_shape {values = dense<[1, 6, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %kf = tosa.reshape %k, %fs : (tensor<3x1x2x4xf32>, !tosa.shape<3>) -> tensor<1x6x4xf32>
  %mm = tosa.matmul %kf, %w, %fzp, %fzp : (tensor<1x6x4xf32>, tensor<1x4x1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x6x1xf32>
  %s3 = tosa.const_shape {values = dense<[3, 1, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s = tosa.reshape %mm, %s3 : (tensor<1x6x1xf32>, !tosa.shape<3>) -> tensor<3x1x2xf32>
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// A stacked graph input: the sources become slices of it.
// CHECK-LABEL: func.func @stacked_input
// CHECK-COUNT-3: tosa.slice %arg0
// CHECK: attnres.block_attn_res %{{.*}}, %{{.*}}, %{{.*}} query
func.func @stacked_input(%v: tensor<3x1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %se = tensor.empty() : tensor<3x1x2xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xf32>, tensor<3x1x2x4xf32>) outs(%sz : tensor<3x1x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x2xf32>
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// Near miss: not raised, a remark says why.
// CHECK-LABEL: func.func @near_axis
// CHECK: linalg.generic
// CHECK-NOT: attnres.block_attn_res
func.func @near_axis(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %se = tensor.empty() : tensor<3x1x2xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xf32>, tensor<3x1x2x4xf32>) outs(%sz : tensor<3x1x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x2xf32>
  // expected-remark@+6 {{softmax over stacked sources not raised to attnres.block_attn_res: the softmax is over axis 2 of its 3-d logits, not over the source axis 0}}
  %sm_mx = tosa.reduce_max %s {axis = 2 : i32} : (tensor<3x1x2xf32>) -> tensor<3x1x1xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<3x1x1xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 2 : i32} : (tensor<3x1x2xf32>) -> tensor<3x1x1xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<3x1x1xf32>) -> tensor<3x1x1xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<3x1x1xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// Near miss: not raised, a remark says why.
// CHECK-LABEL: func.func @near_query
// CHECK: linalg.generic
// CHECK-NOT: attnres.block_attn_res
func.func @near_query(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %s0 = tosa.const_shape {values = dense<0> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s1 = tosa.const_shape {values = dense<[1, 1, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %qs = tosa.const_shape {values = dense<[4]> : tensor<1xindex>} : () -> !tosa.shape<1>
  %xs = tosa.slice %x0, %s0, %s1 : (tensor<1x2x4xf32>, !tosa.shape<3>, !tosa.shape<3>) -> tensor<1x1x4xf32>
  %qx = tosa.reshape %xs, %qs : (tensor<1x1x4xf32>, !tosa.shape<1>) -> tensor<4xf32>
  %se = tensor.empty() : tensor<3x1x2xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%qx, %k : tensor<4xf32>, tensor<3x1x2x4xf32>) outs(%sz : tensor<3x1x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x2xf32>
  // expected-remark@+6 {{softmax over stacked sources not raised to attnres.block_attn_res: the pseudo-query is computed from the function's arguments, not a learned constant}}
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// Near miss: not raised, a remark says why.
// CHECK-LABEL: func.func @near_layer_norm
// CHECK: linalg.generic
// CHECK-NOT: attnres.block_attn_res
func.func @near_layer_norm(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.layer_norm %v, %g, %g epsilon = 1.0e-05 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %se = tensor.empty() : tensor<3x1x2xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xf32>, tensor<3x1x2x4xf32>) outs(%sz : tensor<3x1x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x2xf32>
  // expected-remark@+6 {{softmax over stacked sources not raised to attnres.block_attn_res: the key norm is a LayerNorm, not an RMSNorm}}
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// Near miss: not raised, a remark says why.
// CHECK-LABEL: func.func @near_other_sources
// CHECK: linalg.generic
// CHECK-NOT: attnres.block_attn_res
func.func @near_other_sources(%x0: tensor<1x2x4xf32>, %x1: tensor<1x2x4xf32>, %x2: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x2x4xf32>, !tosa.shape<4>) -> tensor<1x1x2x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %w2 = tosa.concat %u2, %u1, %u0 {axis = 0 : i32} : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<3x1x2x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x2x4xf32>, tensor<4xf32>
  %se = tensor.empty() : tensor<3x1x2xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xf32>, tensor<3x1x2x4xf32>) outs(%sz : tensor<3x1x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x2xf32>
  // expected-remark@+6 {{softmax over stacked sources not raised to attnres.block_attn_res: the weighted sum is over other sources than the scores}}
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x2xf32>, tensor<1x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x2xf32>) -> tensor<3x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<3x1x2xf32>
  %he = tensor.empty() : tensor<1x2x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %w2 : tensor<3x1x2xf32>, tensor<3x1x2x4xf32>) outs(%hz : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x2x4xf32>
  return %h : tensor<1x2x4xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// An attention-style softmax (over the last axis of a matrix product)
// has nothing to do with depth: no remark.
// CHECK-LABEL: func.func @attention
// CHECK: tosa.exp
func.func @attention(%qk: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %sm_mx = tosa.reduce_max %qk {axis = 2 : i32} : (tensor<1x2x2xf32>) -> tensor<1x2x1xf32>
  %sm_sub = tosa.sub %qk, %sm_mx : (tensor<1x2x2xf32>, tensor<1x2x1xf32>) -> tensor<1x2x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 2 : i32} : (tensor<1x2x2xf32>) -> tensor<1x2x1xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<1x2x2xf32>, tensor<1x2x1xf32>, tensor<1xi8>) -> tensor<1x2x2xf32>
  return %a : tensor<1x2x2xf32>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// bf16 sources with the softmax in f32 between two casts; the key norm's
// weight folded into ones.
// CHECK-LABEL: func.func @softmax_in_f32
// CHECK: %[[H:.*]] = attnres.block_attn_res %arg0, %arg1 query %{{.*}} key_norm %{{.*}} epsilon = 9.99999997E-7 : tensor<1x2x4xbf16>, tensor<4xbf16>
// CHECK-NOT: tosa.exp
// CHECK: return %[[H]]
func.func @softmax_in_f32(%x0: tensor<1x2x4xbf16>, %x1: tensor<1x2x4xbf16>) -> tensor<1x2x4xbf16> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : bf16
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xbf16>}> : () -> tensor<4xbf16>
  %ones = "tosa.const"() <{values = dense<1.0> : tensor<4xbf16>}> : () -> tensor<4xbf16>
  %s4 = tosa.const_shape {values = dense<[1, 1, 2, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x2x4xbf16>, !tosa.shape<4>) -> tensor<1x1x2x4xbf16>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x2x4xbf16>, !tosa.shape<4>) -> tensor<1x1x2x4xbf16>
  %v = tosa.concat %u0, %u1 {axis = 0 : i32} : (tensor<1x1x2x4xbf16>, tensor<1x1x2x4xbf16>) -> tensor<2x1x2x4xbf16>
  %k = attnres.rms_norm %v, %ones epsilon = 1.0e-06 : tensor<2x1x2x4xbf16>, tensor<4xbf16>
  %se = tensor.empty() : tensor<2x1x2xbf16>
  %sz = linalg.fill ins(%zero : bf16) outs(%se : tensor<2x1x2xbf16>) -> tensor<2x1x2xbf16>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xbf16>, tensor<2x1x2x4xbf16>) outs(%sz : tensor<2x1x2xbf16>) {
  ^bb0(%in: bf16, %in_0: bf16, %out: bf16):
    %m = arith.mulf %in, %in_0 : bf16
    %ad = arith.addf %out, %m : bf16
    linalg.yield %ad : bf16
  } -> tensor<2x1x2xbf16>
  %s32 = tosa.cast %s : (tensor<2x1x2xbf16>) -> tensor<2x1x2xf32>
  %sm_mx = tosa.reduce_max %s32 {axis = 0 : i32} : (tensor<2x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_sub = tosa.sub %s32, %sm_mx : (tensor<2x1x2xf32>, tensor<1x1x2xf32>) -> tensor<2x1x2xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<2x1x2xf32>) -> tensor<2x1x2xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<2x1x2xf32>) -> tensor<1x1x2xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  %a32 = tosa.mul %sm_e, %sm_r, %shift : (tensor<2x1x2xf32>, tensor<1x1x2xf32>, tensor<1xi8>) -> tensor<2x1x2xf32>
  %a = tosa.cast %a32 : (tensor<2x1x2xf32>) -> tensor<2x1x2xbf16>
  %he = tensor.empty() : tensor<1x2x4xbf16>
  %hz = linalg.fill ins(%zero : bf16) outs(%he : tensor<1x2x4xbf16>) -> tensor<1x2x4xbf16>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<2x1x2xbf16>, tensor<2x1x2x4xbf16>) outs(%hz : tensor<1x2x4xbf16>) {
  ^bb0(%in: bf16, %in_0: bf16, %out: bf16):
    %m = arith.mulf %in, %in_0 : bf16
    %ad = arith.addf %out, %m : bf16
    linalg.yield %ad : bf16
  } -> tensor<1x2x4xbf16>
  return %h : tensor<1x2x4xbf16>
}

// -----

#score = affine_map<(d0, d1, d2, d3) -> (d3)>
#full = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#token = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#alpha = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1)>
#stack = affine_map<(d0, d1, d2, d3) -> (d3, d0, d1, d2)>
// The first case with a dynamic sequence: raising reads no sizes but D and
// the number of sources.
// CHECK-LABEL: func.func @einsum_dynamic
// CHECK-SAME: (%[[X0:[^:]*]]: tensor<1x?x4xf32>, %[[X1:[^:]*]]: tensor<1x?x4xf32>, %[[X2:[^:]*]]: tensor<1x?x4xf32>)
// CHECK-DAG: %[[Q:.*]] = "tosa.const"() <{values = dense<[5.000000e-01, -1.000000e+00, 2.000000e+00, 2.500000e-01]>
// CHECK-DAG: %[[G:.*]] = "tosa.const"() <{values = dense<[1.000000e+00, 5.000000e-01, 1.500000e+00, 1.000000e+00]>
// CHECK: %[[H:.*]] = attnres.block_attn_res %[[X0]], %[[X1]], %[[X2]] query %[[Q]] key_norm %[[G]] epsilon = 9.99999997E-7 : tensor<1x?x4xf32>, tensor<4xf32>
// CHECK-NEXT: return %[[H]]
// CHECK-NOT: linalg.generic
func.func @einsum_dynamic(%x0: tensor<1x?x4xf32>, %x1: tensor<1x?x4xf32>, %x2: tensor<1x?x4xf32>) -> tensor<1x?x4xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %zero = arith.constant 0.0 : f32
  %q = "tosa.const"() <{values = dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %g = "tosa.const"() <{values = dense<[1.0, 0.5, 1.5, 1.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  %s4 = tosa.const_shape {values = dense<[1, 1, -1, 4]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %u0 = tosa.reshape %x0, %s4 : (tensor<1x?x4xf32>, !tosa.shape<4>) -> tensor<1x1x?x4xf32>
  %u1 = tosa.reshape %x1, %s4 : (tensor<1x?x4xf32>, !tosa.shape<4>) -> tensor<1x1x?x4xf32>
  %u2 = tosa.reshape %x2, %s4 : (tensor<1x?x4xf32>, !tosa.shape<4>) -> tensor<1x1x?x4xf32>
  %v = tosa.concat %u0, %u1, %u2 {axis = 0 : i32} : (tensor<1x1x?x4xf32>, tensor<1x1x?x4xf32>, tensor<1x1x?x4xf32>) -> tensor<3x1x?x4xf32>
  %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<3x1x?x4xf32>, tensor<4xf32>
  %c1 = arith.constant 1 : index
  %t = tensor.dim %x0, %c1 : tensor<1x?x4xf32>
  %se = tensor.empty(%t) : tensor<3x1x?xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<3x1x?xf32>) -> tensor<3x1x?xf32>
  %s = linalg.generic {indexing_maps = [#score, #full, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4xf32>, tensor<3x1x?x4xf32>) outs(%sz : tensor<3x1x?xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<3x1x?xf32>
  %sm_mx = tosa.reduce_max %s {axis = 0 : i32} : (tensor<3x1x?xf32>) -> tensor<1x1x?xf32>
  %sm_sub = tosa.sub %s, %sm_mx : (tensor<3x1x?xf32>, tensor<1x1x?xf32>) -> tensor<3x1x?xf32>
  %sm_e = tosa.exp %sm_sub : (tensor<3x1x?xf32>) -> tensor<3x1x?xf32>
  %sm_sum = tosa.reduce_sum %sm_e {axis = 0 : i32} : (tensor<3x1x?xf32>) -> tensor<1x1x?xf32>
  %sm_r = tosa.reciprocal %sm_sum : (tensor<1x1x?xf32>) -> tensor<1x1x?xf32>
  %a = tosa.mul %sm_e, %sm_r, %shift : (tensor<3x1x?xf32>, tensor<1x1x?xf32>, tensor<1xi8>) -> tensor<3x1x?xf32>
  %he = tensor.empty(%t) : tensor<1x?x4xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%he : tensor<1x?x4xf32>) -> tensor<1x?x4xf32>
  %h = linalg.generic {indexing_maps = [#alpha, #stack, #token], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %v : tensor<3x1x?xf32>, tensor<3x1x?x4xf32>) outs(%hz : tensor<1x?x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %ad = arith.addf %out, %m : f32
    linalg.yield %ad : f32
  } -> tensor<1x?x4xf32>
  return %h : tensor<1x?x4xf32>
}
