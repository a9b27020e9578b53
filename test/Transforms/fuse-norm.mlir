// RUN: attnres-opt %s --split-input-file --attnres-fuse-norm 2>/dev/null | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-fuse-norm=verbose=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// Quiet unless asked: no remark without verbose.
// RUN: attnres-opt %s --split-input-file --attnres-fuse-norm -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUIET --allow-empty
// QUIET-NOT: remark

// A layer's RMSNorm joins its phase 2; the un-normalized result, unread,
// goes. A block's first layer reads phase 1 directly and keeps its norm.
// CHECK-LABEL: func.func @fuse
// CHECK-SAME: (%[[B0:[^:]*]]: tensor<2x8xf32>, %[[P:[^:]*]]: tensor<2x8xf32>, %[[Q:[^:]*]]: tensor<8xf32>, %[[K:[^:]*]]: tensor<8xf32>, %[[G0:[^:]*]]: tensor<8xf32>, %[[G1:[^:]*]]: tensor<8xf32>)
// CHECK: %[[O:.*]]:2, %[[L:.*]]:2 = attnres.phase1
// CHECK: %[[Y0:.*]] = attnres.rms_norm %[[O]]#0, %[[G0]]
// CHECK: %{{.*}}, %[[Y1:.*]] = attnres.phase2 %[[O]]#1, %[[L]]#1, %[[P]] query %[[Q]] key_norm %[[K]] epsilon = 9.99999997E-7 norm %[[G1]] epsilon = 9.99999974E-6 : tensor<2x8xf32>, tensor<8xf32>
// CHECK-NOT: attnres.rms_norm
// CHECK: return %[[Y0]], %[[Y1]]
func.func @fuse(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>, %g0: tensor<8xf32>, %g1: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0 queries(%q, %q) key_norms(%k, %k) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %y0 = attnres.rms_norm %o#0, %g0 epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %h1 = attnres.phase2 %o#1, %lse#1, %p query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %y1 = attnres.rms_norm %h1, %g1 epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y0, %y1 : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// Another reader of the aggregated input keeps reading the un-normalized
// result of the fused op.
// CHECK-LABEL: func.func @other_reader
// CHECK: %[[H:.*]], %[[Y:.*]] = attnres.phase2 {{.*}} norm
// CHECK-NEXT: %[[T:.*]] = tosa.tanh %[[H]]
// CHECK-NEXT: return %[[Y]], %[[T]]
func.func @other_reader(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %o, %lse = attnres.phase1 %b0 queries(%q) key_norms(%q) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %h = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %y = attnres.rms_norm %h, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %t = tosa.tanh %h : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y, %t : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// A norm weight defined after phase 2 as a constant moves before it; one
// computed after it cannot, and that norm stays, with a remark.
// REMARK: remark: not fused: the norm's weight is computed after the phase-2 op it would join
// CHECK-LABEL: func.func @late_weight
// CHECK: %[[C:.*]] = "tosa.const"
// CHECK-NEXT: %{{.*}}, %[[Y:.*]] = attnres.phase2 {{.*}} norm %[[C]]
// CHECK: %[[W:.*]] = tosa.tanh
// CHECK: attnres.rms_norm %{{.*}}, %[[W]]
func.func @late_weight(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0 queries(%q, %q) key_norms(%q, %q) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %h0 = attnres.phase2 %o#0, %lse#0, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %c = "tosa.const"() <{values = dense<2.0> : tensor<8xf32>}> : () -> tensor<8xf32>
  %y0 = attnres.rms_norm %h0, %c epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %h1 = attnres.phase2 %o#1, %lse#1, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %w = tosa.tanh %q : (tensor<8xf32>) -> tensor<8xf32>
  %y1 = attnres.rms_norm %h1, %w epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y0, %y1 : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// Only RMSNorm fuses: a LayerNorm reader (GPT-2 style) stays, with a remark.
// REMARK: remark: 1 phase-2 results are read by attnres.layer_norm, which does not fuse (only RMSNorm does); left unfused
// CHECK-LABEL: func.func @layer_norm
// CHECK: %[[H:.*]] = attnres.phase2 {{.*}} epsilon = 9.99999997E-7 : tensor<2x8xf32>, tensor<8xf32>
// CHECK-NEXT: attnres.layer_norm %[[H]]
func.func @layer_norm(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  %o, %lse = attnres.phase1 %b0 queries(%q) key_norms(%q) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %h = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %y = attnres.layer_norm %h, %q, %q epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Already fused: nothing changes.
// CHECK-LABEL: func.func @fused
// CHECK: %{{.*}}, %[[Y:.*]] = attnres.phase2 {{.*}} norm
// CHECK-NEXT: return %[[Y]]
func.func @fused(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  %o, %lse = attnres.phase1 %b0 queries(%q) key_norms(%q) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// The first case with dynamic token dims (batch, sequence): the pass reads
// no sizes but D.
// CHECK-LABEL: func.func @fuse_dynamic
// CHECK-SAME: (%[[B0:[^:]*]]: tensor<?x8xf32>, %[[P:[^:]*]]: tensor<?x8xf32>, %[[Q:[^:]*]]: tensor<8xf32>, %[[K:[^:]*]]: tensor<8xf32>, %[[G0:[^:]*]]: tensor<8xf32>, %[[G1:[^:]*]]: tensor<8xf32>)
// CHECK: %[[O:.*]]:2, %[[L:.*]]:2 = attnres.phase1
// CHECK: %[[Y0:.*]] = attnres.rms_norm %[[O]]#0, %[[G0]]
// CHECK: %{{.*}}, %[[Y1:.*]] = attnres.phase2 %[[O]]#1, %[[L]]#1, %[[P]] query %[[Q]] key_norm %[[K]] epsilon = 9.99999997E-7 norm %[[G1]] epsilon = 9.99999974E-6 : tensor<?x8xf32>, tensor<8xf32>
// CHECK-NOT: attnres.rms_norm
// CHECK: return %[[Y0]], %[[Y1]]
func.func @fuse_dynamic(%b0: tensor<?x8xf32>, %p: tensor<?x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>, %g0: tensor<8xf32>, %g1: tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0 queries(%q, %q) key_norms(%k, %k) epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %y0 = attnres.rms_norm %o#0, %g0 epsilon = 1.0e-05 : tensor<?x8xf32>, tensor<8xf32>
  %h1 = attnres.phase2 %o#1, %lse#1, %p query %q key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %y1 = attnres.rms_norm %h1, %g1 epsilon = 1.0e-05 : tensor<?x8xf32>, tensor<8xf32>
  return %y0, %y1 : tensor<?x8xf32>, tensor<?x8xf32>
}
