// RUN: attnres-opt %s --split-input-file --attnres-to-linalg | FileCheck %s

// CHECK-DAG:   #[[FULL:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG:   #[[TOKEN:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG:   #[[FEATURE:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME:    (%[[X:.+]]: tensor<2x4x8xf32>, %[[G:.+]]: tensor<8xf32>)
// CHECK:         %[[ZERO:.+]] = linalg.fill
// CHECK:         %[[SS:.+]] = linalg.generic
// CHECK-SAME:      indexing_maps = [#[[FULL]], #[[TOKEN]]]
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[X]] : tensor<2x4x8xf32>) outs(%[[ZERO]] : tensor<2x4xf32>)
// CHECK:           %[[SQ:.+]] = arith.mulf %[[IN:.+]], %[[IN]] : f32
// CHECK:           arith.addf %{{.+}}, %[[SQ]] : f32
// CHECK:         %[[EPS:.+]] = arith.constant 9.99999974E-6 : f32
// CHECK:         %[[Y:.+]] = linalg.generic
// CHECK-SAME:      indexing_maps = [#[[FULL]], #[[TOKEN]], #[[FEATURE]], #[[FULL]]]
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[X]], %[[SS]], %[[G]] :
// CHECK:           arith.addf %{{.+}}, %[[EPS]] : f32
// CHECK:           math.rsqrt
// CHECK:         return %[[Y]]
// CHECK-NOT:     attnres.
func.func @rms_norm(%x: tensor<2x4x8xf32>, %g: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x4x8xf32>, tensor<8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Half-precision inputs accumulate in f32 and round once.

// CHECK-LABEL: func.func @rms_norm_bf16_dynamic
// CHECK-SAME:    (%[[X:.+]]: tensor<?x?xbf16>, %[[G:.+]]: tensor<?xbf16>)
// CHECK-DAG:     %[[ROWS:.+]] = tensor.dim %[[X]], %c0
// CHECK-DAG:     %[[COLS:.+]] = tensor.dim %[[X]], %c1
// CHECK:         tensor.empty(%[[ROWS]]) : tensor<?xf32>
// CHECK:         linalg.generic
// CHECK:           arith.extf %{{.+}} : bf16 to f32
// CHECK:         arith.index_castui %[[COLS]] : index to i64
// CHECK:         tensor.empty(%[[ROWS]], %[[COLS]]) : tensor<?x?xbf16>
// CHECK:         linalg.generic
// CHECK:           arith.truncf %{{.+}} : f32 to bf16
// CHECK-NEXT:      linalg.yield %{{.+}} : bf16
func.func @rms_norm_bf16_dynamic(%x: tensor<?x?xbf16>, %g: tensor<?xbf16>) -> tensor<?x?xbf16> {
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<?x?xbf16>, tensor<?xbf16>
  return %y : tensor<?x?xbf16>
}

// -----

// CHECK-DAG:   #[[VEC:.+]] = affine_map<(d0) -> (d0)>
// CHECK-DAG:   #[[FULL:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[FEATURE:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG:   #[[TOKEN:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @block_attn_res
// CHECK-SAME:    (%[[A:[^:]+]]: tensor<4x8xf32>, %[[B:[^:]+]]: tensor<4x8xf32>, %[[W:[^:]+]]: tensor<8xf32>, %[[G:[^:]+]]: tensor<8xf32>)
// The key norm weight folds into the query once.
// CHECK:         %[[WG:.+]] = linalg.generic {{{.*}}iterator_types = ["parallel"]} ins(%[[W]], %[[G]] :
// One pass per source yields its sum of squares and its query dot product.
// CHECK:         %[[RA:.+]]:2 = linalg.generic
// CHECK-SAME:      indexing_maps = [#[[FULL]], #[[FEATURE]], #[[TOKEN]], #[[TOKEN]]]
// CHECK-SAME:      iterator_types = ["parallel", "reduction"]
// CHECK-SAME:      ins(%[[A]], %[[WG]] :
// CHECK:         %[[RB:.+]]:2 = linalg.generic
// CHECK-SAME:      ins(%[[B]], %[[WG]] :
// The softmax over depth subtracts the maximum logit before exp.
// CHECK:         %[[ALPHA:.+]]:2 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel"]
// CHECK-SAME:      ins(%[[RA]]#0, %[[RB]]#0, %[[RA]]#1, %[[RB]]#1 :
// CHECK:           %[[SA:.+]] = math.rsqrt
// CHECK:           %[[LA:.+]] = arith.mulf %{{.+}}, %[[SA]] : f32
// CHECK:           %[[SB:.+]] = math.rsqrt
// CHECK:           %[[LB:.+]] = arith.mulf %{{.+}}, %[[SB]] : f32
// CHECK:           %[[MAX:.+]] = arith.maximumf %[[LA]], %[[LB]] : f32
// CHECK:           arith.subf %[[LA]], %[[MAX]] : f32
// CHECK:           math.exp
// CHECK:           arith.subf %[[LB]], %[[MAX]] : f32
// CHECK:           math.exp
// CHECK:           arith.divf
// CHECK:           arith.divf
// CHECK:         %[[H:.+]] = linalg.generic
// CHECK-SAME:      indexing_maps = [#[[FULL]], #[[FULL]], #[[TOKEN]], #[[TOKEN]], #[[FULL]]]
// CHECK-SAME:      ins(%[[A]], %[[B]], %[[ALPHA]]#0, %[[ALPHA]]#1 :
// CHECK:         return %[[H]]
func.func @block_attn_res(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %w: tensor<8xf32>,
                          %g: tensor<8xf32>) -> tensor<4x8xf32> {
  %h = attnres.block_attn_res %a, %b query %w key_norm %g epsilon = 1.0e-06 : tensor<4x8xf32>, tensor<8xf32>
  return %h : tensor<4x8xf32>
}

// -----

// A rank-1 source is a single token: the per-token values are 0-d tensors.

// CHECK-LABEL: func.func @block_attn_res_single_token
// CHECK:         linalg.generic {{{.*}}iterator_types = ["reduction"]}
// CHECK-SAME:      outs(%{{.+}}, %{{.+}} : tensor<f32>, tensor<f32>)
// CHECK:         linalg.generic {{{.*}}iterator_types = []}
// CHECK-NOT:     attnres.block_attn_res
func.func @block_attn_res_single_token(%a: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<8xf32>) -> tensor<8xf32> {
  %h = attnres.block_attn_res %a, %b query %w key_norm %w epsilon = 1.0e-06 : tensor<8xf32>, tensor<8xf32>
  return %h : tensor<8xf32>
}

// -----

// Layer norm: the sum, then the squared deviations from the mean (two
// passes, so a large mean cannot cancel the variance), then one elementwise
// op with weight and bias.
// CHECK-DAG:   #[[FULL:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[TOKEN:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG:   #[[FEATURE:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME:    (%[[X:.+]]: tensor<4x8xf32>, %[[G:.+]]: tensor<8xf32>, %[[B:.+]]: tensor<8xf32>)
// CHECK:         %[[SUM:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "reduction"]
// CHECK-SAME:      ins(%[[X]] : tensor<4x8xf32>)
// CHECK:         %[[SQ:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "reduction"]
// CHECK-SAME:      ins(%[[X]], %[[SUM]] : tensor<4x8xf32>, tensor<4xf32>)
// CHECK:           arith.subf
// CHECK:         %[[Y:.+]] = linalg.generic
// CHECK-SAME:      indexing_maps = [#[[FULL]], #[[TOKEN]], #[[TOKEN]], #[[FEATURE]], #[[FEATURE]], #[[FULL]]]
// CHECK-SAME:      ins(%[[X]], %[[SUM]], %[[SQ]], %[[G]], %[[B]] :
// CHECK:           math.rsqrt
// CHECK:         return %[[Y]]
// CHECK-NOT:     attnres.
func.func @layer_norm(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = attnres.layer_norm %x, %g, %b epsilon = 1.0e-05 : tensor<4x8xf32>, tensor<8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Phase 1 for two layers over two blocks: one pass over each block yields
// its sum of squares and its dot with both layers' w * g; per layer a
// softmax over the blocks that also yields the log-sum-exp; one pass mixes
// both layers' outputs, reading each block once.
// CHECK-LABEL: func.func @phase1
// CHECK-SAME:    (%[[B0:[^:]+]]: tensor<2x8xf32>, %[[B1:[^:]+]]: tensor<2x8xf32>
// CHECK:         %[[S0:.+]]:3 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "reduction"]
// CHECK-SAME:      ins(%[[B0]], %{{.+}}, %{{.+}} : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK:         %[[S1:.+]]:3 = linalg.generic
// CHECK-SAME:      ins(%[[B1]], %{{.+}}, %{{.+}} : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK:         %[[W0:.+]]:3 = linalg.generic
// CHECK-SAME:      ins(%[[S0]]#0, %[[S1]]#0, %[[S0]]#1, %[[S1]]#1 :
// CHECK:         %[[W1:.+]]:3 = linalg.generic
// CHECK-SAME:      ins(%[[S0]]#0, %[[S1]]#0, %[[S0]]#2, %[[S1]]#2 :
// CHECK:           math.exp
// CHECK:           math.log
// CHECK:         %[[MIX:.+]]:2 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK-SAME:      ins(%[[B0]], %[[B1]], %[[W0]]#0, %[[W0]]#1, %[[W1]]#0, %[[W1]]#1 :
// CHECK:         return %[[MIX]]#0, %[[MIX]]#1, %[[W1]]#2
func.func @phase1(%b0: tensor<2x8xf32>, %b1: tensor<2x8xf32>, %q0: tensor<8xf32>, %q1: tensor<8xf32>, %k: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1 queries(%q0, %q1) key_norms(%k, %k) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %o#0, %o#1, %lse#1 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xf32>
}

// -----

// One completed block is its own phase-1 output: only its logit is computed.
// CHECK-LABEL: func.func @phase1_single_block
// CHECK-SAME:    (%[[B0:[^:]+]]: tensor<2x8xf32>
// CHECK:         %[[S:.+]]:2 = linalg.generic
// CHECK-SAME:      ins(%[[B0]], %{{[^ ]+}} :
// CHECK:         %[[W:.+]]:2 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel"]
// CHECK-SAME:      ins(%[[S]]#0, %[[S]]#1 :
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[B0]], %[[W]]#1
func.func @phase1_single_block(%b0: tensor<2x8xf32>, %q: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>) {
  %o, %lse = attnres.phase1 %b0 queries(%q) key_norms(%q) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  return %o, %lse : tensor<2x8xf32>, tensor<2xf32>
}

// -----

// Phase 2 with its norm, the un-normalized result unread: one pass scores
// the partial, a per-token sigmoid gives its weight, one pass sums the
// squares of the merged row and one writes it normalized, and only that.
// CHECK-LABEL: func.func @phase2_fused
// CHECK-SAME:    (%[[O:[^:]+]]: tensor<2x8xf32>, %[[L:[^:]+]]: tensor<2xf32>, %[[P:[^:]+]]: tensor<2x8xf32>
// CHECK:         %[[S:.+]]:2 = linalg.generic
// CHECK-SAME:      ins(%[[P]], %{{.+}} : tensor<2x8xf32>, tensor<8xf32>)
// CHECK:         %[[A:.+]] = linalg.generic
// CHECK-SAME:      ins(%[[S]]#0, %[[S]]#1, %[[L]] :
// CHECK:           math.exp
// CHECK:         %[[SS:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "reduction"]
// CHECK-SAME:      ins(%[[O]], %[[P]], %[[A]] :
// CHECK:         %[[Y:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK-SAME:      ins(%[[O]], %[[P]], %[[A]], %[[SS]], %{{[^ ]+}} :
// CHECK-SAME:      outs(%{{[^ ]+}} : tensor<2x8xf32>) {
// CHECK:         return %[[Y]]
func.func @phase2_fused(%o: tensor<2x8xf32>, %lse: tensor<2xf32>, %p: tensor<2x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// With dynamic sizes the loops follow the first source: every other
// operand's run-time sizes are checked against it (static pairs were
// verified), the vectors against the feature size.
// CHECK-LABEL: func.func @dynamic_sizes_checked
// CHECK-DAG: %[[R1:.*]] = tensor.dim %arg1, %c0
// CHECK-DAG: %[[R0:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[R1]], %[[R0]]
// CHECK: cf.assert %[[SAME]], "{{.*}}attnres.block_attn_res: its tensor operands differ in size at run time (dim 0)"
// CHECK: tensor.dim %arg2, %c0
// CHECK: cf.assert %{{.*}}, "{{.*}}attnres.block_attn_res: a per-feature vector's size differs from the feature size at run time"
// CHECK-NOT: cf.assert %{{.*}}, "{{.*}}(dim 1)"
func.func @dynamic_sizes_checked(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>, %q: tensor<?xf32>) -> tensor<?x8xf32> {
  %y = attnres.block_attn_res %a, %b query %q key_norm %q epsilon = 1.0e-06 : tensor<?x8xf32>, tensor<?xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Static sizes are the verifier's: no check is left for run time.
// CHECK-LABEL: func.func @static_sizes_unchecked
// CHECK-NOT: cf.assert
func.func @static_sizes_unchecked(%a: tensor<3x8xf32>, %b: tensor<3x8xf32>, %q: tensor<8xf32>) -> tensor<3x8xf32> {
  %y = attnres.block_attn_res %a, %b query %q key_norm %q epsilon = 1.0e-06 : tensor<3x8xf32>, tensor<8xf32>
  return %y : tensor<3x8xf32>
}
