// Consistency test: the golden table below is this pass's own output for a
// known configuration, kept so that a change to it shows. The figures are
// checked against an independent model of the accounting in
// Integration/report-aggregation-vs-model.test.

// RUN: attnres-opt %s --attnres-report-aggregation -o /dev/null | FileCheck %s --check-prefixes=CHECK,UNSPLIT
// RUN: attnres-opt %s --attnres-two-phase --attnres-fuse-norm --attnres-report-aggregation -o /dev/null 2>/dev/null | FileCheck %s --check-prefixes=CHECK,FUSED
// RUN: attnres-opt %s --attnres-report -o /dev/null 2>&1 | FileCheck %s --check-prefixes=CHECK,UNSPLIT --implicit-check-not=remark

// Four layers in two blocks of two (N = 2) and the final aggregation, which
// joins the last block's group: groups of S = 2 over [h0] and S = 3 over
// [h0, b1]. Per layer, in rows of D per token (see the pass description):
// layer 0 (1 completed, no partial): unsplit 1 + 1 + norm 2 = 4; two-phase
// 1/2 (one block costs no write) + norm 2 = 2.5. Layer 3 (2 completed,
// partial f2): unsplit 3 + 1 + 2 = 6; two-phase 2/3 + 1 + phase 2 (3) + 2;
// fused 2 less. The final one's partial b2 is a sum: 3 more for its add.
// Budget (N/S + 5) with N the completed blocks and S the group size.
// Flops per token in units of D: unsplit 6 per source + norm 4 (+ 1 for a
// summed partial); split, each completed block scored once for its group
// ((2 + 2S)/S), weighted sums 2 per block when there are two or more,
// phase 2 7, norm 4: layer 3 = 16/3 + 4 + 7 + 4 = 20.33.

// CHECK: depth aggregation of @stream: 5 aggregations (the last is the final one), D = 8, up to 2 completed blocks
// CHECK-NEXT: memory per token: 3 rows of D kept for the aggregations (up to 2 completed blocks and a partial sum, O(N D)); Full AttnRes over these 4 layers keeps 5 (O(L D))
// CHECK-NEXT: I/O per token, in rows of D elements: partial-sum add + aggregation + PreNorm norm; a standard residual layer moves 5.00d (its add 3d, the paper's figure, and its norm 2d)
// CHECK-NEXT: flops: the same ops' arithmetic per token in the form each layer has, in units of D (a standard residual layer: 5.00d, its add 1d and its norm 4d; a sublayer's matrix products take 2 per weight)
// CHECK-NEXT:   layer  completed  partial  group  form       unsplit   two-phase  fused     budget   flops
// UNSPLIT-NEXT: 0      1          no       2      unsplit    4.00d     2.50d      2.50d     5.50d    10.00d
// UNSPLIT-NEXT: 1      1          yes      2      unsplit    5.00d     5.50d      3.50d     5.50d    16.00d
// UNSPLIT-NEXT: 2      2          no       3      unsplit    5.00d     3.67d      3.67d     5.67d    16.00d
// UNSPLIT-NEXT: 3      2          yes      3      unsplit    6.00d     6.67d      4.67d     5.67d    22.00d
// UNSPLIT-NEXT: final  2          yes      3      unsplit    9.00d     9.67d      7.67d     5.67d    23.00d
// FUSED-NEXT:   0      1          no       2      phase 1    4.00d     2.50d      2.50d     5.50d    7.00d
// FUSED-NEXT:   1      1          yes      2      fused      5.00d     5.50d      3.50d     5.50d    14.00d
// FUSED-NEXT:   2      2          no       3      phase 1    5.00d     3.67d      3.67d     5.67d    13.33d
// FUSED-NEXT:   3      2          yes      3      fused      6.00d     6.67d      4.67d     5.67d    20.33d
// FUSED-NEXT:   final  2          yes      3      fused      9.00d     9.67d      7.67d     5.67d    21.33d
// UNSPLIT-NEXT: mean                                       5.80d     5.60d      4.40d     5.60d    17.40d
// FUSED-NEXT:   mean                                         5.80d     5.60d      4.40d     5.60d    15.20d
func.func @stream(%h0: tensor<2x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %a0 = attnres.block_attn_res %h0 query %q key_norm %g epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %n0 = attnres.rms_norm %a0, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a1 = attnres.block_attn_res %h0, %f0 query %q key_norm %g epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %n1 = attnres.rms_norm %a1, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %f1 = tosa.tanh %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %b1 = tosa.add %f0, %f1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %a2 = attnres.block_attn_res %h0, %b1 query %q key_norm %g epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %n2 = attnres.rms_norm %a2, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %f2 = tosa.tanh %n2 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a3 = attnres.block_attn_res %h0, %b1, %f2 query %q key_norm %g epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %n3 = attnres.rms_norm %a3, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  %f3 = tosa.tanh %n3 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %b2 = tosa.add %f2, %f3 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %af = attnres.block_attn_res %h0, %b1, %b2 query %q key_norm %g epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<8xf32>
  %y = attnres.rms_norm %af, %g epsilon = 1.0e-05 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}
