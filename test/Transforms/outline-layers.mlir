// RUN: attnres-opt %s --split-input-file --attnres-outline-layers | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-outline-layers --attnres-outline-layers | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-outline-layers=min-ops=10 | FileCheck %s --check-prefix=MIN

// Two layers that differ only in their weights share one function; the
// weights (a large constant, an argument) are passed, the small constant is
// copied in, the embedding stays in the caller. A second run changes
// nothing.
// CHECK-LABEL: func.func @same
// CHECK-SAME: (%[[X:[^:]*]]: tensor<4x8xf32>, %[[G0:[^:]*]]: tensor<8xf32>, %[[G1:[^:]*]]: tensor<8xf32>)
// CHECK-DAG: %[[W0:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<4x8xf32>}>
// CHECK-DAG: %[[W1:.*]] = "tosa.const"() <{values = dense<2.000000e+00> : tensor<4x8xf32>}>
// CHECK: %[[E:.*]] = tosa.exp %[[X]]
// CHECK: %[[H1:.*]] = call @same_layer0(%[[E]], %[[G0]], %[[W0]])
// CHECK: %[[H2:.*]] = call @same_layer0(%[[H1]], %[[G1]], %[[W1]])
// CHECK: return %[[H2]]
// CHECK-NOT: func.func private @same_layer1
// CHECK-LABEL: func.func private @same_layer0
// CHECK-SAME: (%[[A:[^:]*]]: tensor<4x8xf32>, %[[G:[^:]*]]: tensor<8xf32>, %[[W:[^:]*]]: tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-SAME: attributes {attnres.layer, no_inline}
// CHECK: %[[S:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<1x1xf32>}>
// CHECK: %[[N:.*]] = attnres.rms_norm %[[A]], %[[G]]
// CHECK: %[[T:.*]] = tosa.sub %[[N]], %[[W]]
// CHECK: %[[U:.*]] = tosa.sub %[[T]], %[[S]]
// CHECK: %[[Y:.*]] = tosa.add %[[A]], %[[U]]
// CHECK: return %[[Y]]
// MIN-LABEL: func.func @same
// MIN-NOT: call
func.func @same(%x: tensor<4x8xf32>, %g0: tensor<8xf32>, %g1: tensor<8xf32>) -> tensor<4x8xf32> {
  %w0 = "tosa.const"() <{values = dense<1.0> : tensor<4x8xf32>}> : () -> tensor<4x8xf32>
  %w1 = "tosa.const"() <{values = dense<2.0> : tensor<4x8xf32>}> : () -> tensor<4x8xf32>
  %e = tosa.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %n0 = attnres.rms_norm %e, %g0 epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  %t0 = tosa.sub %n0, %w0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %s0 = "tosa.const"() <{values = dense<0.5> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %u0 = tosa.sub %t0, %s0 : (tensor<4x8xf32>, tensor<1x1xf32>) -> tensor<4x8xf32>
  %h1 = tosa.add %e, %u0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %n1 = attnres.rms_norm %h1, %g1 epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  %t1 = tosa.sub %n1, %w1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %s1 = "tosa.const"() <{values = dense<0.5> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %u1 = tosa.sub %t1, %s1 : (tensor<4x8xf32>, tensor<1x1xf32>) -> tensor<4x8xf32>
  %h2 = tosa.add %h1, %u1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %h2 : tensor<4x8xf32>
}

// -----

// Layers that compute different things get a function each. A value every
// layer reads that the first layer computes without its norm (a rotary
// table, a mask) stays in the caller, so the first layer is like the rest.
// CHECK-LABEL: func.func @different
// CHECK-SAME: (%[[X:[^:]*]]: tensor<4x8xf32>, %[[P:[^:]*]]: tensor<4x8xf32>, %[[G:[^:]*]]: tensor<8xf32>)
// CHECK-NOT: call
// CHECK: %[[R:.*]] = tosa.tanh %[[P]]
// CHECK: %[[H1:.*]] = call @different_layer0(%[[X]], %[[G]], %[[R]])
// CHECK: %[[H2:.*]] = call @different_layer1(%[[H1]], %[[G]], %[[R]])
// CHECK: %[[H3:.*]] = call @different_layer0(%[[H2]], %[[G]], %[[R]])
// CHECK: return %[[H3]]
// CHECK: func.func private @different_layer1
// CHECK: tosa.exp
// CHECK: func.func private @different_layer0
// CHECK-NOT: tosa.exp
// CHECK: tosa.tanh %{{.*}} : (tensor<4x8xf32>)
// CHECK-NOT: tosa.tanh
// CHECK: return
func.func @different(%x: tensor<4x8xf32>, %p: tensor<4x8xf32>, %g: tensor<8xf32>) -> tensor<4x8xf32> {
  %n0 = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  %r = tosa.tanh %p : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %a0 = tosa.sub %n0, %r : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %b0 = tosa.tanh %a0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h1 = tosa.add %x, %b0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %n1 = attnres.rms_norm %h1, %g epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  %e1 = tosa.exp %n1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %a1 = tosa.sub %e1, %r : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %h2 = tosa.add %h1, %a1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %n2 = attnres.rms_norm %h2, %g epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  %a2 = tosa.sub %n2, %r : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %b2 = tosa.tanh %a2 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h3 = tosa.add %h2, %b2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %h3 : tensor<4x8xf32>
}

// -----

// One layer is left alone: there is nothing to share or split.
// CHECK-LABEL: func.func @single
// CHECK-NOT: call
// CHECK: attnres.rms_norm
func.func @single(%x: tensor<4x8xf32>, %g: tensor<8xf32>) -> tensor<4x8xf32> {
  %n0 = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  %t0 = tosa.tanh %n0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h1 = tosa.add %x, %t0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %h1 : tensor<4x8xf32>
}

// -----

// The first case with dynamic token dims (batch, sequence): the pass reads
// no sizes but D.
// CHECK-LABEL: func.func @same_dynamic
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x8xf32>, %[[G0:[^:]*]]: tensor<8xf32>, %[[G1:[^:]*]]: tensor<8xf32>)
// CHECK-DAG: %[[W0:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<4x8xf32>}>
// CHECK-DAG: %[[W1:.*]] = "tosa.const"() <{values = dense<2.000000e+00> : tensor<4x8xf32>}>
// CHECK: %[[E:.*]] = tosa.exp %[[X]]
// CHECK: %[[H1:.*]] = call @same_dynamic_layer0(%[[E]], %[[G0]], %[[W0]])
// CHECK: %[[H2:.*]] = call @same_dynamic_layer0(%[[H1]], %[[G1]], %[[W1]])
// CHECK: return %[[H2]]
// CHECK-NOT: func.func private @same_dynamic_layer1
// CHECK-LABEL: func.func private @same_dynamic_layer0
// CHECK-SAME: (%[[A:[^:]*]]: tensor<?x8xf32>, %[[G:[^:]*]]: tensor<8xf32>, %[[W:[^:]*]]: tensor<4x8xf32>) -> tensor<?x8xf32>
// CHECK-SAME: attributes {attnres.layer, no_inline}
// CHECK: %[[S:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<1x1xf32>}>
// CHECK: %[[N:.*]] = attnres.rms_norm %[[A]], %[[G]]
// CHECK: %[[T:.*]] = tosa.sub %[[N]], %[[W]]
// CHECK: %[[U:.*]] = tosa.sub %[[T]], %[[S]]
// CHECK: %[[Y:.*]] = tosa.add %[[A]], %[[U]]
// CHECK: return %[[Y]]
// MIN-LABEL: func.func @same_dynamic
// MIN-NOT: call
func.func @same_dynamic(%x: tensor<?x8xf32>, %g0: tensor<8xf32>, %g1: tensor<8xf32>) -> tensor<?x8xf32> {
  %w0 = "tosa.const"() <{values = dense<1.0> : tensor<4x8xf32>}> : () -> tensor<4x8xf32>
  %w1 = "tosa.const"() <{values = dense<2.0> : tensor<4x8xf32>}> : () -> tensor<4x8xf32>
  %e = tosa.exp %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %n0 = attnres.rms_norm %e, %g0 epsilon = 1.0e-05 : tensor<?x8xf32>, tensor<8xf32>
  %t0 = tosa.sub %n0, %w0 : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %s0 = "tosa.const"() <{values = dense<0.5> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %u0 = tosa.sub %t0, %s0 : (tensor<?x8xf32>, tensor<1x1xf32>) -> tensor<?x8xf32>
  %h1 = tosa.add %e, %u0 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %n1 = attnres.rms_norm %h1, %g1 epsilon = 1.0e-05 : tensor<?x8xf32>, tensor<8xf32>
  %t1 = tosa.sub %n1, %w1 : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %s1 = "tosa.const"() <{values = dense<0.5> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %u1 = tosa.sub %t1, %s1 : (tensor<?x8xf32>, tensor<1x1xf32>) -> tensor<?x8xf32>
  %h2 = tosa.add %h1, %u1 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %h2 : tensor<?x8xf32>
}

// -----

// The add that forms a phase 2's partial sum goes into that phase 2's
// layer, not the one that computed its last summand, so that the row loops
// can do it in phase 2's pass (--attnres-to-vector).
// CHECK-LABEL: func.func @partial_sum
// CHECK: %[[F0:.*]] = call @partial_sum_layer0(
// CHECK: call @partial_sum_layer1({{.*}}%[[F0]]
// CHECK-LABEL: func.func private @partial_sum_layer1
// CHECK: %[[P:.*]] = tosa.add
// CHECK: attnres.phase2 %{{.*}}, %{{.*}}, %[[P]]
// CHECK-LABEL: func.func private @partial_sum_layer0
// CHECK-NOT: tosa.add
// CHECK: return
func.func @partial_sum(%o: tensor<4x8xf32>, %lse: tensor<4xf32>, %p0: tensor<4x8xf32>, %q: tensor<8xf32>) -> tensor<4x8xf32> {
  %h0 = attnres.phase2 %o, %lse, %p0 query %q key_norm %q epsilon = 1.0e-06 : tensor<4x8xf32>, tensor<8xf32>
  %e0 = tosa.exp %h0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %t0 = tosa.tanh %e0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %f0 = tosa.sigmoid %t0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %p1 = tosa.add %p0, %f0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %h1 = attnres.phase2 %o, %lse, %p1 query %q key_norm %q epsilon = 1.0e-06 : tensor<4x8xf32>, tensor<8xf32>
  %e1 = tosa.exp %h1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %t1 = tosa.tanh %e1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %f1 = tosa.sigmoid %t1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %f1 : tensor<4x8xf32>
}
