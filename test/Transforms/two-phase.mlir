// RUN: attnres-opt %s --split-input-file --attnres-two-phase 2>/dev/null | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-two-phase=verbose=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// Quiet unless asked: no remark without verbose.
// RUN: attnres-opt %s --split-input-file --attnres-two-phase -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUIET --allow-empty
// QUIET-NOT: remark
// RUN: attnres-opt %s --split-input-file --attnres-two-phase -o %t.once.mlir 2>/dev/null
// RUN: attnres-opt %t.once.mlir --split-input-file --attnres-two-phase -o %t.twice.mlir 2>/dev/null
// RUN: diff %t.once.mlir %t.twice.mlir

// Block sizes 1, 3, 1 as the rewrite produces them: block 0 is one layer over
// the embedding, block 1 three layers over [h0, f0] (the first without a
// partial sum, then f1, then the sum p), block 2 one layer over [h0, f0, b2]
// which the final aggregation (partial f4) joins.
// REMARK: remark: attnres.block_attn_res not split: the only aggregation over its 1 completed blocks, without a partial block sum
// CHECK-LABEL: func.func @blocks
// CHECK-SAME: (%[[H0:[^:]*]]: tensor<2x8xf32>, %[[F0:[^:]*]]: tensor<2x8xf32>, %[[F1:[^:]*]]: tensor<2x8xf32>, %[[F2:[^:]*]]: tensor<2x8xf32>, %[[F4:[^:]*]]: tensor<2x8xf32>, %[[Q0:[^:]*]]: tensor<8xf32>, %[[Q1:[^:]*]]: tensor<8xf32>, %[[Q2:[^:]*]]: tensor<8xf32>, %[[Q3:[^:]*]]: tensor<8xf32>, %[[Q4:[^:]*]]: tensor<8xf32>, %[[QF:[^:]*]]: tensor<8xf32>, %[[K:[^:]*]]: tensor<8xf32>)
// CHECK: %[[A0:.*]] = attnres.block_attn_res %[[H0]] query %[[Q0]]
// CHECK: %[[O1:.*]]:3, %[[L1:.*]]:3 = attnres.phase1 %[[H0]], %[[F0]] queries(%[[Q1]], %[[Q2]], %[[Q3]]) key_norms(%[[K]], %[[K]], %[[K]]) epsilon = 9.99999997E-7 : tensor<2x8xf32>, tensor<8xf32>
// CHECK: %[[A2:.*]] = attnres.phase2 %[[O1]]#1, %[[L1]]#1, %[[F1]] query %[[Q2]] key_norm %[[K]] epsilon = 9.99999997E-7
// CHECK: %[[P:.*]] = tosa.add %[[F1]], %[[F2]]
// CHECK: %[[A3:.*]] = attnres.phase2 %[[O1]]#2, %[[L1]]#2, %[[P]] query %[[Q3]]
// CHECK: %[[B2:.*]] = tosa.add %[[P]], %[[F2]]
// CHECK: %[[O2:.*]]:2, %[[L2:.*]]:2 = attnres.phase1 %[[H0]], %[[F0]], %[[B2]] queries(%[[Q4]], %[[QF]])
// CHECK: %[[AF:.*]] = attnres.phase2 %[[O2]]#1, %[[L2]]#1, %[[F4]] query %[[QF]]
// CHECK-NOT: attnres.block_attn_res
// CHECK: return %[[A0]], %[[O1]]#0, %[[A2]], %[[A3]], %[[O2]]#0, %[[AF]]
func.func @blocks(%h0: tensor<2x8xf32>, %f0: tensor<2x8xf32>, %f1: tensor<2x8xf32>, %f2: tensor<2x8xf32>, %f4: tensor<2x8xf32>, %q0: tensor<8xf32>, %q1: tensor<8xf32>, %q2: tensor<8xf32>, %q3: tensor<8xf32>, %q4: tensor<8xf32>, %qf: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %a0 = attnres.block_attn_res %h0 query %q0 key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %a1 = attnres.block_attn_res %h0, %f0 query %q1 key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %a2 = attnres.block_attn_res %h0, %f0, %f1 query %q2 key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %p = tosa.add %f1, %f2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %a3 = attnres.block_attn_res %h0, %f0, %p query %q3 key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %b2 = tosa.add %p, %f2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %a4 = attnres.block_attn_res %h0, %f0, %b2 query %q4 key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %af = attnres.block_attn_res %h0, %f0, %b2, %f4 query %qf key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %a0, %a1, %a2, %a3, %a4, %af : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// One block (N = 1): every layer attends over the embedding alone plus its
// partial sum; one phase 1 over the embedding serves them all.
// CHECK-LABEL: func.func @one_block
// CHECK-SAME: (%[[H0:[^:]*]]: tensor<2x8xf32>, %[[F0:[^:]*]]: tensor<2x8xf32>, %[[F1:[^:]*]]: tensor<2x8xf32>
// CHECK: %[[O:.*]]:3, %[[L:.*]]:3 = attnres.phase1 %[[H0]] queries
// CHECK: attnres.phase2 %[[O]]#1, %[[L]]#1, %[[F0]]
// CHECK: %[[B1:.*]] = tosa.add %[[F0]], %[[F1]]
// CHECK: attnres.phase2 %[[O]]#2, %[[L]]#2, %[[B1]]
// CHECK-NOT: attnres.phase1
func.func @one_block(%h0: tensor<2x8xf32>, %f0: tensor<2x8xf32>, %f1: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %a0 = attnres.block_attn_res %h0 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %a1 = attnres.block_attn_res %h0, %f0 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %b1 = tosa.add %f0, %f1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %af = attnres.block_attn_res %h0, %b1 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %a0, %a1, %af : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// Full AttnRes (S = 1): every layer output is a completed block, read by
// every later layer, so no two layers share their completed blocks and none
// has a partial sum; the layers stay unsplit. Only the final aggregation,
// whose last source nothing else reads, merges into the last layer's
// phase 1.
// REMARK: remark: attnres.block_attn_res not split: the only aggregation over its 1 completed blocks
// REMARK: remark: attnres.block_attn_res not split: the only aggregation over its 2 completed blocks
// CHECK-LABEL: func.func @full
// CHECK-SAME: (%[[V0:[^:]*]]: tensor<2x8xf32>, %[[V1:[^:]*]]: tensor<2x8xf32>, %[[V2:[^:]*]]: tensor<2x8xf32>, %[[V3:[^:]*]]: tensor<2x8xf32>
// CHECK: attnres.block_attn_res %[[V0]] query
// CHECK: attnres.block_attn_res %[[V0]], %[[V1]] query
// CHECK: %[[O:.*]]:2, %[[L:.*]]:2 = attnres.phase1 %[[V0]], %[[V1]], %[[V2]] queries
// CHECK: attnres.phase2 %[[O]]#1, %[[L]]#1, %[[V3]]
func.func @full(%v0: tensor<2x8xf32>, %v1: tensor<2x8xf32>, %v2: tensor<2x8xf32>, %v3: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %a0 = attnres.block_attn_res %v0 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %a1 = attnres.block_attn_res %v0, %v1 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %a2 = attnres.block_attn_res %v0, %v1, %v2 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %af = attnres.block_attn_res %v0, %v1, %v2, %v3 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %a0, %a1, %a2, %af : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// Groups that must not be merged: the same completed blocks in another
// order, another epsilon, other completed blocks. Each pair below shares
// exactly what makes one group.
// CHECK-LABEL: func.func @mixed
// CHECK-SAME: (%[[B0:[^:]*]]: tensor<2x8xf32>, %[[B1:[^:]*]]: tensor<2x8xf32>, %[[B2:[^:]*]]: tensor<2x8xf32>
// CHECK: attnres.phase1 %[[B0]], %[[B1]] queries(%{{.*}}, %{{.*}}) key_norms({{.*}}) epsilon = 9.99999997E-7
// CHECK-NEXT: attnres.phase2
// CHECK-NEXT: attnres.phase1 %[[B1]], %[[B0]] queries(%{{.*}}, %{{.*}}) key_norms({{.*}}) epsilon = 9.99999997E-7
// CHECK-NEXT: attnres.phase2
// CHECK-NEXT: attnres.phase1 %[[B0]], %[[B1]] queries(%{{.*}}, %{{.*}}) key_norms({{.*}}) epsilon = 9.99999974E-6
// CHECK-NEXT: attnres.phase2
// CHECK-NEXT: attnres.phase1 %[[B0]], %[[B2]] queries(%{{.*}}, %{{.*}}) key_norms
// CHECK-NEXT: attnres.phase2
// CHECK-NEXT: return
func.func @mixed(%b0: tensor<2x8xf32>, %b1: tensor<2x8xf32>, %b2: tensor<2x8xf32>, %p0: tensor<2x8xf32>, %p1: tensor<2x8xf32>, %p2: tensor<2x8xf32>, %p3: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %a0 = attnres.block_attn_res %b0, %b1 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %a1 = attnres.block_attn_res %b0, %b1, %p0 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %c0 = attnres.block_attn_res %b1, %b0 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %c1 = attnres.block_attn_res %b1, %b0, %p1 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %d0 = attnres.block_attn_res %b0, %b1 query %q key_norm %k epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %d1 = attnres.block_attn_res %b0, %b1, %p2 query %q key_norm %k epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %e0 = attnres.block_attn_res %b0, %b2 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %e1 = attnres.block_attn_res %b0, %b2, %p3 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %a0, %a1, %c0, %c1, %d0, %d1, %e0, %e1 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// A later layer's query that is a constant defined after the block's first
// aggregation moves up to phase 1; one computed later cannot, and that
// layer gets a phase 1 of its own, with a remark.
// REMARK: remark: attnres.block_attn_res split on its own: its query or key-norm weight is computed after the first aggregation of its block (attnres.block_attn_res), so it cannot share that phase 1
// CHECK-LABEL: func.func @late_query
// CHECK: %[[C:.*]] = "tosa.const"
// CHECK-NEXT: %[[O:.*]]:2, %{{.*}} = attnres.phase1 %{{.*}} queries(%{{.*}}, %[[C]])
// CHECK: %[[A1:.*]] = attnres.phase2 %[[O]]#1
// CHECK: %[[T:.*]] = tosa.tanh
// CHECK: %[[O2:[^ ,]*]], %[[L2:[^ ,]*]] = attnres.phase1 %{{.*}} queries(%[[T]])
// CHECK: attnres.phase2 %[[O2]], %[[L2]], %[[A1]] query %[[T]]
func.func @late_query(%b0: tensor<2x8xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %a0 = attnres.block_attn_res %b0 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %c = "tosa.const"() <{values = dense<0.5> : tensor<8xf32>}> : () -> tensor<8xf32>
  %a1 = attnres.block_attn_res %b0, %p query %c key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %t = tosa.tanh %q : (tensor<8xf32>) -> tensor<8xf32>
  %a2 = attnres.block_attn_res %b0, %a1 query %t key_norm %k epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %a0, %a1, %a2 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// The first case with dynamic token dims (batch, sequence): the pass reads
// no sizes but D.
// CHECK-LABEL: func.func @blocks_dynamic
// CHECK-SAME: (%[[H0:[^:]*]]: tensor<?x8xf32>, %[[F0:[^:]*]]: tensor<?x8xf32>, %[[F1:[^:]*]]: tensor<?x8xf32>, %[[F2:[^:]*]]: tensor<?x8xf32>, %[[F4:[^:]*]]: tensor<?x8xf32>, %[[Q0:[^:]*]]: tensor<8xf32>, %[[Q1:[^:]*]]: tensor<8xf32>, %[[Q2:[^:]*]]: tensor<8xf32>, %[[Q3:[^:]*]]: tensor<8xf32>, %[[Q4:[^:]*]]: tensor<8xf32>, %[[QF:[^:]*]]: tensor<8xf32>, %[[K:[^:]*]]: tensor<8xf32>)
// CHECK: %[[A0:.*]] = attnres.block_attn_res %[[H0]] query %[[Q0]]
// CHECK: %[[O1:.*]]:3, %[[L1:.*]]:3 = attnres.phase1 %[[H0]], %[[F0]] queries(%[[Q1]], %[[Q2]], %[[Q3]]) key_norms(%[[K]], %[[K]], %[[K]]) epsilon = 9.99999997E-7 : tensor<?x8xf32>, tensor<8xf32>
// CHECK: %[[A2:.*]] = attnres.phase2 %[[O1]]#1, %[[L1]]#1, %[[F1]] query %[[Q2]] key_norm %[[K]] epsilon = 9.99999997E-7
// CHECK: %[[P:.*]] = tosa.add %[[F1]], %[[F2]]
// CHECK: %[[A3:.*]] = attnres.phase2 %[[O1]]#2, %[[L1]]#2, %[[P]] query %[[Q3]]
// CHECK: %[[B2:.*]] = tosa.add %[[P]], %[[F2]]
// CHECK: %[[O2:.*]]:2, %[[L2:.*]]:2 = attnres.phase1 %[[H0]], %[[F0]], %[[B2]] queries(%[[Q4]], %[[QF]])
// CHECK: %[[AF:.*]] = attnres.phase2 %[[O2]]#1, %[[L2]]#1, %[[F4]] query %[[QF]]
// CHECK-NOT: attnres.block_attn_res
// CHECK: return %[[A0]], %[[O1]]#0, %[[A2]], %[[A3]], %[[O2]]#0, %[[AF]]
func.func @blocks_dynamic(%h0: tensor<?x8xf32>, %f0: tensor<?x8xf32>, %f1: tensor<?x8xf32>, %f2: tensor<?x8xf32>, %f4: tensor<?x8xf32>, %q0: tensor<8xf32>, %q1: tensor<8xf32>, %q2: tensor<8xf32>, %q3: tensor<8xf32>, %q4: tensor<8xf32>, %qf: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %a0 = attnres.block_attn_res %h0 query %q0 key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %a1 = attnres.block_attn_res %h0, %f0 query %q1 key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %a2 = attnres.block_attn_res %h0, %f0, %f1 query %q2 key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %p = tosa.add %f1, %f2 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %a3 = attnres.block_attn_res %h0, %f0, %p query %q3 key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %b2 = tosa.add %p, %f2 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %a4 = attnres.block_attn_res %h0, %f0, %b2 query %q4 key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  %af = attnres.block_attn_res %h0, %f0, %b2, %f4 query %qf key_norm %k epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<8xf32>
  return %a0, %a1, %a2, %a3, %a4, %af : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}
