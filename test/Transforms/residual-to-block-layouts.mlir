// RUN: attnres-opt %s --split-input-file --attnres-residual-to-block=num-blocks=1 --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s

// The stream layouts beyond one chain of `h + f(norm(h))`.

// Cohere's parallel block, `(h + attn(n)) + mlp(n)`: one aggregation per
// block, and both branches join the partial sum in the order the model
// added them; both adds are gone.
// CHECK-LABEL: func.func @parallel_chain
// CHECK-SAME: (%[[H0:arg0]]: tensor<2x8xf32>
// CHECK: %[[A0:.*]] = attnres.block_attn_res %[[H0]] query
// CHECK: %[[N0:.*]] = attnres.layer_norm %[[A0]]
// CHECK: %[[ATTN0:.*]] = tosa.tanh %[[N0]]
// CHECK: %[[MLP0:.*]] = tosa.sigmoid %[[N0]]
// CHECK: %[[P0:.*]] = tosa.add %[[ATTN0]], %[[MLP0]]
// CHECK: %[[A1:.*]] = attnres.block_attn_res %[[H0]], %[[P0]] query
// CHECK: %[[N1:.*]] = attnres.layer_norm %[[A1]]
// CHECK: %[[ATTN1:.*]] = tosa.tanh %[[N1]]
// CHECK: %[[MLP1:.*]] = tosa.sigmoid %[[N1]]
// CHECK: %[[P1:.*]] = tosa.add %[[P0]], %[[ATTN1]]
// CHECK: %[[B1:.*]] = tosa.add %[[P1]], %[[MLP1]]
// CHECK: %[[AF:.*]] = attnres.block_attn_res %[[H0]], %[[B1]] query
// CHECK: attnres.layer_norm %[[AF]]
// CHECK-NOT: tosa.add
// CHECK: return
func.func @parallel_chain(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %attn0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %mlp0 = tosa.sigmoid %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %s0 = tosa.add %h0, %attn0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = tosa.add %s0, %mlp0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %attn1 = tosa.tanh %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %mlp1 = tosa.sigmoid %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %s1 = tosa.add %attn1, %h1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %h2 = tosa.add %mlp1, %s1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.layer_norm %h2, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// CLIP's pooler: the final aggregation takes h_L's place before the row
// selection, and the norm behind it gets the scaled epsilon (1e-5 / 2^2).
// CHECK-LABEL: func.func @final_norm_of_a_row
// CHECK: %[[AF:.*]] = attnres.block_attn_res %arg0, %{{.*}} query {{.*}} loc("attnres.aggregate.1"
// CHECK: %[[ROW:.*]] = tosa.slice %[[AF]]
// CHECK: %[[FLAT:.*]] = tosa.reshape %[[ROW]]
// CHECK: attnres.layer_norm %[[FLAT]], %arg1, %arg1 epsilon = 2.500000e-06
func.func @final_norm_of_a_row(%h0: tensor<1x5x8xf32>, %g: tensor<8xf32>) -> tensor<1x8xf32> {
  %n0 = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<1x5x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<1x5x8xf32>) -> tensor<1x5x8xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<1x5x8xf32>, tensor<1x5x8xf32>) -> tensor<1x5x8xf32>
  %start = tosa.const_shape {values = dense<0> : tensor<3xindex>} : () -> !tosa.shape<3>
  %size = tosa.const_shape {values = dense<[1, 1, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %row = tosa.slice %h1, %start, %size : (tensor<1x5x8xf32>, !tosa.shape<3>, !tosa.shape<3>) -> tensor<1x1x8xf32>
  %shape = tosa.const_shape {values = dense<[1, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %flat = tosa.reshape %row, %shape : (tensor<1x1x8xf32>, !tosa.shape<2>) -> tensor<1x8xf32>
  %y = attnres.layer_norm %flat, %g, %g epsilon = 1.0e-5 : tensor<1x8xf32>, tensor<8xf32>
  return %y : tensor<1x8xf32>
}

// -----

// An encoder and a decoder: each stream is rewritten with its own
// parameters, the second one's named attnres.stream1.*; the decoder's
// sublayer still reads the encoder's final norm.
// CHECK-LABEL: func.func @encoder_decoder
// CHECK-DAG: loc("attnres.query.0"
// CHECK-DAG: loc("attnres.stream1.query.0"
// CHECK-DAG: loc("attnres.stream1.key_norm.1"
// CHECK: %[[EA:.*]] = attnres.block_attn_res %arg0, %{{.*}} query {{.*}} loc("attnres.aggregate.1"
// CHECK: %[[ENC:.*]] = attnres.rms_norm %[[EA]]
// CHECK: attnres.block_attn_res %arg1 query {{.*}} loc("attnres.stream1.aggregate.0"
// CHECK: tosa.mul %{{.*}}, %[[ENC]]
// CHECK: attnres.block_attn_res %arg1, %{{.*}} query {{.*}} loc("attnres.stream1.aggregate.1"
// CHECK-NOT: tosa.add
// CHECK: return
func.func @encoder_decoder(%a0: tensor<2x8xf32>, %b0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %na = attnres.rms_norm %a0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %fa = tosa.tanh %na : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a1 = tosa.add %a0, %fa : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %enc = attnres.rms_norm %a1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %nb = attnres.rms_norm %b0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %cross = tosa.mul %nb, %enc, %shift : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<1xi8>) -> tensor<2x8xf32>
  %b1 = tosa.add %b0, %cross : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %yb = attnres.rms_norm %b1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %yb : tensor<2x8xf32>
}
