// RUN: attnres-opt %s --split-input-file | attnres-opt --split-input-file | FileCheck %s
// RUN: attnres-opt %s --split-input-file --mlir-print-op-generic | attnres-opt --split-input-file | FileCheck %s

// Round trip of the attnres ops through the custom and the generic forms.

// CHECK-LABEL: func.func @rms_norm_static
// CHECK-SAME:    (%[[X:.+]]: tensor<2x16x64xf32>, %[[G:.+]]: tensor<64xf32>)
// CHECK:         %[[Y:.+]] = attnres.rms_norm %[[X]], %[[G]] epsilon = 9.99999974E-6 : tensor<2x16x64xf32>, tensor<64xf32>
// CHECK:         return %[[Y]]
func.func @rms_norm_static(%x: tensor<2x16x64xf32>, %g: tensor<64xf32>) -> tensor<2x16x64xf32> {
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x16x64xf32>, tensor<64xf32>
  return %y : tensor<2x16x64xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm_dynamic_bf16
// CHECK:         attnres.rms_norm %{{.+}}, %{{.+}} epsilon = 0.000000e+00 : tensor<?x?x128xbf16>, tensor<?xbf16>
func.func @rms_norm_dynamic_bf16(%x: tensor<?x?x128xbf16>, %g: tensor<?xbf16>) -> tensor<?x?x128xbf16> {
  %y = attnres.rms_norm %x, %g epsilon = 0.0 : tensor<?x?x128xbf16>, tensor<?xbf16>
  return %y : tensor<?x?x128xbf16>
}

// -----

// CHECK-LABEL: func.func @rms_norm_vector
// CHECK:         attnres.rms_norm %{{.+}}, %{{.+}} epsilon = 9.99999997E-7 : tensor<8xf16>, tensor<8xf16>
func.func @rms_norm_vector(%x: tensor<8xf16>, %g: tensor<8xf16>) -> tensor<8xf16> {
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-06 : tensor<8xf16>, tensor<8xf16>
  return %y : tensor<8xf16>
}

// -----

// CHECK-LABEL: func.func @block_attn_res_three_sources
// CHECK-SAME:    (%[[B0:[^:]+]]: tensor<1x16x64xf32>, %[[B1:[^:]+]]: tensor<1x16x64xf32>, %[[P:[^:]+]]: tensor<1x16x64xf32>, %[[W:[^:]+]]: tensor<64xf32>, %[[G:[^:]+]]: tensor<64xf32>)
// CHECK:         %[[H:.+]] = attnres.block_attn_res %[[B0]], %[[B1]], %[[P]] query %[[W]] key_norm %[[G]] epsilon = 9.99999997E-7 : tensor<1x16x64xf32>, tensor<64xf32>
// CHECK:         return %[[H]]
func.func @block_attn_res_three_sources(%b0: tensor<1x16x64xf32>, %b1: tensor<1x16x64xf32>,
                                        %p: tensor<1x16x64xf32>, %w: tensor<64xf32>,
                                        %g: tensor<64xf32>) -> tensor<1x16x64xf32> {
  %h = attnres.block_attn_res %b0, %b1, %p query %w key_norm %g epsilon = 1.0e-06
      : tensor<1x16x64xf32>, tensor<64xf32>
  return %h : tensor<1x16x64xf32>
}

// -----

// CHECK-LABEL: func.func @block_attn_res_dynamic
// CHECK:         attnres.block_attn_res %{{.+}}, %{{.+}} query %{{.+}} key_norm %{{.+}} epsilon = 9.99999997E-7 {note = "kept"} : tensor<?x?x?xf32>, tensor<?xf32>
func.func @block_attn_res_dynamic(%b0: tensor<?x?x?xf32>, %p: tensor<?x?x?xf32>,
                                  %w: tensor<?xf32>, %g: tensor<?xf32>) -> tensor<?x?x?xf32> {
  %h = attnres.block_attn_res %b0, %p query %w key_norm %g epsilon = 1.0e-06 {note = "kept"}
      : tensor<?x?x?xf32>, tensor<?xf32>
  return %h : tensor<?x?x?xf32>
}

// -----

// Nine sources: eight completed blocks plus the partial sum.
// CHECK-LABEL: func.func @block_attn_res_nine_sources
// CHECK:         attnres.block_attn_res %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} query
func.func @block_attn_res_nine_sources(%v: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %h = attnres.block_attn_res %v, %v, %v, %v, %v, %v, %v, %v, %v query %w key_norm %w epsilon = 1.0e-06
      : tensor<4x8xf32>, tensor<8xf32>
  return %h : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm
// CHECK:         attnres.layer_norm %{{.+}}, %{{.+}}, %{{.+}} epsilon = 9.99999974E-6 : tensor<2x16x64xf32>, tensor<64xf32>
func.func @layer_norm(%x: tensor<2x16x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<2x16x64xf32> {
  %y = attnres.layer_norm %x, %g, %b epsilon = 1.0e-05 : tensor<2x16x64xf32>, tensor<64xf32>
  return %y : tensor<2x16x64xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm_f16_dynamic
// CHECK:         attnres.layer_norm %{{.+}}, %{{.+}}, %{{.+}} epsilon = 0.000000e+00 : tensor<?x?xf16>, tensor<?xf16>
func.func @layer_norm_f16_dynamic(%x: tensor<?x?xf16>, %g: tensor<?xf16>, %b: tensor<?xf16>) -> tensor<?x?xf16> {
  %y = attnres.layer_norm %x, %g, %b epsilon = 0.0 : tensor<?x?xf16>, tensor<?xf16>
  return %y : tensor<?x?xf16>
}

// -----

// Phase 1 for a block of two layers over three completed blocks; its lse is
// kept in f32 for 16-bit sources.
// CHECK-LABEL: func.func @phase1
// CHECK:         %[[O:.+]]:2, %[[L:.+]]:2 = attnres.phase1 %{{.+}}, %{{.+}}, %{{.+}} queries(%{{.+}}, %{{.+}}) key_norms(%{{.+}}, %{{.+}}) epsilon = 9.99999997E-7 : tensor<1x16x64xbf16>, tensor<64xbf16>
// CHECK:         return %[[O]]#0, %[[O]]#1, %[[L]]#1 : tensor<1x16x64xbf16>, tensor<1x16x64xbf16>, tensor<1x16xf32>
func.func @phase1(%b0: tensor<1x16x64xbf16>, %b1: tensor<1x16x64xbf16>, %b2: tensor<1x16x64xbf16>,
                  %q0: tensor<64xbf16>, %q1: tensor<64xbf16>, %k: tensor<64xbf16>)
    -> (tensor<1x16x64xbf16>, tensor<1x16x64xbf16>, tensor<1x16xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1) key_norms(%k, %k)
      epsilon = 1.0e-06 : tensor<1x16x64xbf16>, tensor<64xbf16>
  return %o#0, %o#1, %lse#1 : tensor<1x16x64xbf16>, tensor<1x16x64xbf16>, tensor<1x16xf32>
}

// -----

// Phase 2 alone and with the fused norm; dynamic shapes.
// CHECK-LABEL: func.func @phase2
// CHECK:         %[[H:.+]] = attnres.phase2 %{{.+}}, %{{.+}}, %{{.+}} query %{{.+}} key_norm %{{.+}} epsilon = 9.99999997E-7 : tensor<?x?x?xf32>, tensor<?xf32>
// CHECK:         %{{.+}}, %[[Y:.+]] = attnres.phase2 %{{.+}}, %{{.+}}, %[[H]] query %{{.+}} key_norm %{{.+}} epsilon = 9.99999997E-7 norm %{{.+}} epsilon = 9.99999974E-6 : tensor<?x?x?xf32>, tensor<?xf32>
func.func @phase2(%o: tensor<?x?x?xf32>, %lse: tensor<?x?xf32>, %p: tensor<?x?x?xf32>,
                  %q: tensor<?xf32>, %k: tensor<?xf32>, %g: tensor<?xf32>) -> tensor<?x?x?xf32> {
  %h = attnres.phase2 %o, %lse, %p query %q key_norm %k epsilon = 1.0e-06
      : tensor<?x?x?xf32>, tensor<?xf32>
  %h2, %y = attnres.phase2 %o, %lse, %h query %q key_norm %k epsilon = 1.0e-06
      norm %g epsilon = 1.0e-05 : tensor<?x?x?xf32>, tensor<?xf32>
  return %y : tensor<?x?x?xf32>
}
