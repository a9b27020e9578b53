// RUN: attnres-opt %s --attnres-residual-to-block=num-blocks=2 --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=N2
// RUN: attnres-opt %s --attnres-residual-to-block=block-sizes=1,3,1 | FileCheck %s --check-prefix=SIZES
// RUN: attnres-opt %s --attnres-residual-to-block | FileCheck %s --check-prefix=FULL
// RUN: attnres-opt %s --attnres-residual-to-block="num-blocks=1 verbose=true" 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: attnres-opt %s --attnres-residual-to-block=num-blocks=1 -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUIET --allow-empty
// QUIET-NOT: remark
// RUN: attnres-opt %s --attnres-residual-to-block=num-blocks=2 | FileCheck %s --check-prefix=EPS
// RUN: attnres-opt %s --attnres-residual-to-block="num-blocks=2 verbose=true" --attnres-residual-to-block="num-blocks=2 verbose=true" 2>&1 | FileCheck %s --check-prefix=AGAIN
// RUN: %python -c "import numpy as np; q = np.arange(48, dtype=np.float32).reshape(6, 8) / 64; np.savez('%t.npz', queries=q, key_norm_weights=1 + q)"
// RUN: attnres-opt %s --attnres-residual-to-block="num-blocks=2 pseudo-queries=%t.npz key-norm-epsilon=1e-5 verbose=true" --mlir-print-debuginfo --mlir-print-local-scope 2>&1 | FileCheck %s --check-prefix=NPZ

// Dynamic token dims: the same rewrite of the same stream with its rows
// known only at run time (the pass reads no size but D).
// RUN: sed 's/2x8xf32/?x8xf32/g' %s | attnres-opt --attnres-residual-to-block=num-blocks=2 2>/dev/null | FileCheck %s --check-prefix=DYN
// DYN-LABEL: func.func @stream(%arg0: tensor<?x8xf32>, %arg1: tensor<8xf32>) -> tensor<?x8xf32>
// DYN: attnres.block_attn_res %arg0 query %{{.*}} : tensor<?x8xf32>, tensor<8xf32>
// DYN: %[[P1:.*]] = tosa.add {{.*}} -> tensor<?x8xf32>
// DYN: %[[B1:.*]] = tosa.add %[[P1]]
// DYN: attnres.block_attn_res %arg0, %[[B1]] query
// DYN: %[[B2:.*]] = tosa.add
// DYN: attnres.block_attn_res %arg0, %[[B1]], %[[B2]] query

// Five layers h_{l+1} = h_l + tanh(rms_norm(h_l)) and a final norm.

// Two blocks: the first L mod N = 1 block gets ceil(5/2) = 3 layers, the
// other 2. Each norm reads the embedding, the completed blocks and the
// partial sum of its own block (none for a block's first layer); the block
// sum b1 = f0 + f1 + f2; the final norm reads b0, b1, b2; no residual add
// is left on the stream.
// N2-LABEL: func.func @stream
// N2-SAME: (%[[H0:arg0]]: tensor<2x8xf32>
// N2-SAME: %[[G:arg1]]: tensor<8xf32>
// N2-DAG: %[[Q0:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<8xf32>}> : () -> tensor<8xf32> loc("attnres.query.0"
// N2-DAG: %[[K0:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<8xf32>}> : () -> tensor<8xf32> loc("attnres.key_norm.0"
// N2: %[[A0:.*]] = attnres.block_attn_res %[[H0]] query %[[Q0]] key_norm %[[K0]] epsilon = 9.99999997E-7
// N2: %[[N0:.*]] = attnres.rms_norm %[[A0]], %[[G]]
// N2: %[[F0:.*]] = tosa.tanh %[[N0]]
// N2: %[[A1:.*]] = attnres.block_attn_res %[[H0]], %[[F0]] query
// N2: %[[F1:.*]] = tosa.tanh
// N2: %[[P1:.*]] = tosa.add %[[F0]], %[[F1]]
// N2: %[[A2:.*]] = attnres.block_attn_res %[[H0]], %[[P1]] query
// N2: %[[F2:.*]] = tosa.tanh
// N2: %[[B1:.*]] = tosa.add %[[P1]], %[[F2]]
// N2: %[[A3:.*]] = attnres.block_attn_res %[[H0]], %[[B1]] query
// N2: %[[F3:.*]] = tosa.tanh
// N2: %[[A4:.*]] = attnres.block_attn_res %[[H0]], %[[B1]], %[[F3]] query
// N2: %[[F4:.*]] = tosa.tanh
// N2: %[[B2:.*]] = tosa.add %[[F3]], %[[F4]]
// N2: %[[AF:.*]] = attnres.block_attn_res %[[H0]], %[[B1]], %[[B2]] query %{{.*}} key_norm %{{.*}} epsilon
// N2: %[[Y:.*]] = attnres.rms_norm %[[AF]], %[[G]]
// N2-NEXT: return %[[Y]]

// block-sizes=1,3,1: b1 = f0, b2 = f1 + f2 + f3, b3 = f4.
// SIZES-LABEL: func.func @stream
// SIZES: attnres.block_attn_res %[[H0:[^ ,]*]] query
// SIZES: %[[F0:.*]] = tosa.tanh
// SIZES: attnres.block_attn_res %[[H0]], %[[F0]] query
// SIZES: %[[F1:.*]] = tosa.tanh
// SIZES: attnres.block_attn_res %[[H0]], %[[F0]], %[[F1]] query
// SIZES: %[[F2:.*]] = tosa.tanh
// SIZES: %[[P:.*]] = tosa.add %[[F1]], %[[F2]]
// SIZES: attnres.block_attn_res %[[H0]], %[[F0]], %[[P]] query
// SIZES: %[[F3:.*]] = tosa.tanh
// SIZES: %[[B2:.*]] = tosa.add %[[P]], %[[F3]]
// SIZES: attnres.block_attn_res %[[H0]], %[[F0]], %[[B2]] query
// SIZES: %[[F4:.*]] = tosa.tanh
// SIZES: attnres.block_attn_res %[[H0]], %[[F0]], %[[B2]], %[[F4]] query

// Full AttnRes (the default, num-blocks = L): every layer output is a source.
// FULL-LABEL: func.func @stream
// FULL-NOT: tosa.add
// FULL: attnres.block_attn_res %{{[^ ,]*}}, %{{[^ ,]*}}, %{{[^ ,]*}}, %{{[^ ,]*}}, %{{[^ ,]*}}, %{{[^ ,]*}} query
// FULL-NOT: attnres.block_attn_res

// REMARK: remark: rewrote the residual stream of @stream into Block AttnRes: 5 layers in 1 blocks of [5] layers; zero pseudo-queries (no pseudo-queries file): every aggregation is the mean of its c sources, which the norms undo, and each norm's epsilon is divided by c^2, so the function is preserved exactly

// Zero queries: each reader's epsilon (1e-6) is divided by c^2, c its
// aggregation's sources: 1 for the first layer, 2 for the next three
// (embedding and partial sum, or embedding and b1), 3 for the last layer
// and the final norm. Trained queries keep the epsilons (NPZ below).
// EPS-LABEL: func.func @stream
// EPS: attnres.rms_norm {{.*}} epsilon = 9.99999997E-7
// EPS: attnres.rms_norm {{.*}} epsilon = 2.500000e-07
// EPS: attnres.rms_norm {{.*}} epsilon = 2.500000e-07
// EPS: attnres.rms_norm {{.*}} epsilon = 2.500000e-07
// EPS: attnres.rms_norm {{.*}} epsilon = 1.11111113E-7
// EPS: attnres.rms_norm {{.*}} epsilon = 1.11111113E-7

// Idempotent: the second run finds the aggregations and changes nothing.
// AGAIN: remark: rewrote the residual stream of @stream
// AGAIN: remark: already in Block AttnRes form (it holds attnres.block_attn_res); left unchanged
// AGAIN-COUNT-6: attnres.block_attn_res
// AGAIN-NOT: attnres.block_attn_res

// Parameters from the .npz: row l of `queries` and `key_norm_weights` for
// layer l, row 5 for the final aggregation.
// NPZ: remark: rewrote {{.*}} pseudo-queries from '{{.*}}.npz'
// NPZ-DAG: "tosa.const"() <{values = dense<[0.000000e+00, 1.562500e-02, {{.*}}]> : tensor<8xf32>}> : () -> tensor<8xf32> loc("attnres.query.0"
// NPZ-DAG: "tosa.const"() <{values = dense<[1.000000e+00, 1.015625, {{.*}}]> : tensor<8xf32>}> : () -> tensor<8xf32> loc("attnres.key_norm.0"
// NPZ-DAG: "tosa.const"() <{values = dense<[6.250000e-01, {{.*}}, 7.343750e-01]> : tensor<8xf32>}> : () -> tensor<8xf32> loc("attnres.query.5"
// NPZ: attnres.block_attn_res {{.*}} epsilon = 9.99999974E-6
// NPZ-NOT: epsilon = 2.5
// NPZ: attnres.rms_norm {{.*}} epsilon = 9.99999997E-7
func.func @stream(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f1 = tosa.tanh %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h2 = tosa.add %h1, %f1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n2 = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f2 = tosa.tanh %n2 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h3 = tosa.add %h2, %f2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n3 = attnres.rms_norm %h3, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f3 = tosa.tanh %n3 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h4 = tosa.add %h3, %f3 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n4 = attnres.rms_norm %h4, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f4 = tosa.tanh %n4 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h5 = tosa.add %h4, %f4 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.rms_norm %h5, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}
