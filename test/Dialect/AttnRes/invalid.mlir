// RUN: attnres-opt %s --split-input-file --verify-diagnostics

// Every verifier error of the attnres ops, each with its location.

func.func @rms_norm_weight_size(%x: tensor<2x64xf32>, %g: tensor<32xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op expects weight of size 64 (the last dimension of input), got 32}}
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x64xf32>, tensor<32xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_scalar(%x: tensor<f32>, %g: tensor<1xf32>) -> tensor<f32> {
  // expected-error@+1 {{'attnres.rms_norm' op requires input of rank >= 1 (the last axis is the feature axis), got 'tensor<f32>'}}
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<f32>, tensor<1xf32>
  return %y : tensor<f32>
}

// -----

func.func @rms_norm_negative_epsilon(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op requires a finite, non-negative epsilon, got -0.5}}
  %y = attnres.rms_norm %x, %g epsilon = -0.5 : tensor<2x64xf32>, tensor<64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_nan_epsilon(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op requires a finite, non-negative epsilon, got NaN}}
  %y = attnres.rms_norm %x, %g epsilon = 0x7FC00000 : tensor<2x64xf32>, tensor<64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_inf_epsilon(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op requires a finite, non-negative epsilon, got +Inf}}
  %y = attnres.rms_norm %x, %g epsilon = 0x7F800000 : tensor<2x64xf32>, tensor<64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_weight_element_type(%x: tensor<2x64xf32>, %g: tensor<64xf16>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op failed to verify that all of {input, weight} have same element type}}
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x64xf32>, tensor<64xf16>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_weight_rank(%x: tensor<2x64xf32>, %g: tensor<1x64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op operand #1 must be 1D tensor of floating-point values, but got 'tensor<1x64xf32>'}}
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x64xf32>, tensor<1x64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_integer(%x: tensor<2x64xi32>, %g: tensor<64xi32>) -> tensor<2x64xi32> {
  // expected-error@+1 {{'attnres.rms_norm' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<2x64xi32>'}}
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x64xi32>, tensor<64xi32>
  return %y : tensor<2x64xi32>
}

// -----

func.func @rms_norm_result_type(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op failed to verify that all of {input, result} have same type}}
  %y = "attnres.rms_norm"(%x, %g) {epsilon = 1.0e-05 : f32} : (tensor<2x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

func.func @rms_norm_epsilon_type(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.rms_norm' op attribute 'epsilon' failed to satisfy constraint: 32-bit float attribute}}
  %y = "attnres.rms_norm"(%x, %g) {epsilon = 1.0e-05 : f64} : (tensor<2x64xf32>, tensor<64xf32>) -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @block_no_sources(%w: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op requires at least one source}}
  %h = "attnres.block_attn_res"(%w, %w) {epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 0, 1, 1>} : (tensor<64xf32>, tensor<64xf32>) -> tensor<2x64xf32>
  return %h : tensor<2x64xf32>
}

// -----

func.func @block_source_type(%b0: tensor<2x64xf32>, %p: tensor<3x64xf32>, %w: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op expects every source to have the result type 'tensor<2x64xf32>', but source #1 has type 'tensor<3x64xf32>'}}
  %h = "attnres.block_attn_res"(%b0, %p, %w, %w) {epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 2, 1, 1>} : (tensor<2x64xf32>, tensor<3x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<2x64xf32>
  return %h : tensor<2x64xf32>
}

// -----

func.func @block_query_size(%b0: tensor<2x64xf32>, %w: tensor<32xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op expects query and key_norm_weight of size 64 (the last dimension of the sources), got 32}}
  %h = attnres.block_attn_res %b0, %b0 query %w key_norm %w epsilon = 1.0e-06 : tensor<2x64xf32>, tensor<32xf32>
  return %h : tensor<2x64xf32>
}

// -----

func.func @block_query_element_type(%b0: tensor<2x64xf32>, %w: tensor<64xbf16>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op expects query and key_norm_weight of element type 'f32' (that of the sources), got 'bf16'}}
  %h = attnres.block_attn_res %b0 query %w key_norm %w epsilon = 1.0e-06 : tensor<2x64xf32>, tensor<64xbf16>
  return %h : tensor<2x64xf32>
}

// -----

func.func @block_key_norm_type(%b0: tensor<2x64xf32>, %w: tensor<64xf32>, %g: tensor<?xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op failed to verify that all of {query, key_norm_weight} have same type}}
  %h = "attnres.block_attn_res"(%b0, %w, %g) {epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<2x64xf32>, tensor<64xf32>, tensor<?xf32>) -> tensor<2x64xf32>
  return %h : tensor<2x64xf32>
}

// -----

func.func @block_scalar_sources(%b0: tensor<f32>, %w: tensor<1xf32>) -> tensor<f32> {
  // expected-error@+1 {{'attnres.block_attn_res' op requires the sources of rank >= 1 (the last axis is the feature axis), got 'tensor<f32>'}}
  %h = attnres.block_attn_res %b0 query %w key_norm %w epsilon = 1.0e-06 : tensor<f32>, tensor<1xf32>
  return %h : tensor<f32>
}

// -----

func.func @block_negative_epsilon(%b0: tensor<2x64xf32>, %w: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op requires a finite, non-negative epsilon, got -0.5}}
  %h = attnres.block_attn_res %b0 query %w key_norm %w epsilon = -0.5 : tensor<2x64xf32>, tensor<64xf32>
  return %h : tensor<2x64xf32>
}

// -----

func.func @block_unranked_source(%b0: tensor<*xf32>, %w: tensor<64xf32>) -> tensor<*xf32> {
  // expected-error@+1 {{'attnres.block_attn_res' op operand #0 must be variadic of ranked tensor of floating-point values, but got 'tensor<*xf32>'}}
  %h = "attnres.block_attn_res"(%b0, %w, %w) {epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<*xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<*xf32>
  return %h : tensor<*xf32>
}

// -----

func.func @block_missing_type(%b0: tensor<2x64xf32>, %w: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{expected non-function type}}
  %h = attnres.block_attn_res %b0 query %w key_norm %w epsilon = 1.0e-06 : , tensor<64xf32>
  return %h : tensor<2x64xf32>
}

// -----

func.func @layer_norm_weight_size(%x: tensor<2x64xf32>, %g: tensor<32xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.layer_norm' op expects weight and bias of size 64 (the last dimension of input), got 32}}
  %y = attnres.layer_norm %x, %g, %g epsilon = 1.0e-05 : tensor<2x64xf32>, tensor<32xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @layer_norm_negative_epsilon(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.layer_norm' op requires a finite, non-negative epsilon, got -1}}
  %y = attnres.layer_norm %x, %g, %g epsilon = -1.0 : tensor<2x64xf32>, tensor<64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @layer_norm_scalar(%x: tensor<f32>, %g: tensor<1xf32>) -> tensor<f32> {
  // expected-error@+1 {{'attnres.layer_norm' op requires input of rank >= 1 (the last axis is the feature axis), got 'tensor<f32>'}}
  %y = attnres.layer_norm %x, %g, %g epsilon = 1.0e-05 : tensor<f32>, tensor<1xf32>
  return %y : tensor<f32>
}

// -----

func.func @layer_norm_bias_type(%x: tensor<2x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf16>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'attnres.layer_norm' op failed to verify that all of {weight, bias} have same type}}
  %y = "attnres.layer_norm"(%x, %g, %b) <{epsilon = 1.0e-05 : f32}> : (tensor<2x64xf32>, tensor<64xf32>, tensor<64xf16>) -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @phase1_key_norm_count(%b: tensor<2x8xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase1' op expects one key_norm_weight per query, got 1 for 2 queries}}
  %o:2, %l:2 = "attnres.phase1"(%b, %q, %q, %q) <{epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 1, 2, 1>}> : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xf32>, tensor<2xf32>)
  return %o#0 : tensor<2x8xf32>
}

// -----

func.func @phase1_no_block(%q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase1' op requires at least one completed block}}
  %o, %l = "attnres.phase1"(%q, %q) <{epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 0, 1, 1>}> : (tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>)
  return %o : tensor<2x8xf32>
}

// -----

func.func @phase1_block_types(%b0: tensor<2x8xf32>, %b1: tensor<3x8xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase1' op expects every block to have type 'tensor<2x8xf32>', but block #1 has type 'tensor<3x8xf32>'}}
  %o, %l = "attnres.phase1"(%b0, %b1, %q, %q) <{epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 2, 1, 1>}> : (tensor<2x8xf32>, tensor<3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>)
  return %o : tensor<2x8xf32>
}

// -----

func.func @phase1_lse_type(%b: tensor<2x8xf16>, %q: tensor<8xf16>) -> tensor<2x8xf16> {
  // expected-error@+1 {{'attnres.phase1' op expects every lse to have type 'tensor<2xf32>' (the blocks' type without the feature axis, in f32 or wider), got 'tensor<2xf16>'}}
  %o, %l = "attnres.phase1"(%b, %q, %q) <{epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 1, 1, 1>}> : (tensor<2x8xf16>, tensor<8xf16>, tensor<8xf16>) -> (tensor<2x8xf16>, tensor<2xf16>)
  return %o : tensor<2x8xf16>
}

// -----

func.func @phase1_query_size(%b: tensor<2x8xf32>, %q: tensor<4xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase1' op expects queries of size 8 (the last dimension of the sources), got 4}}
  %o, %l = attnres.phase1 %b queries(%q) key_norms(%q) epsilon = 1.0e-06 : tensor<2x8xf32>, tensor<4xf32>
  return %o : tensor<2x8xf32>
}

// -----

func.func @phase1_epsilon(%b: tensor<2x8xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase1' op requires a finite, non-negative epsilon, got -1}}
  %o, %l = attnres.phase1 %b queries(%q) key_norms(%q) epsilon = -1.0 : tensor<2x8xf32>, tensor<8xf32>
  return %o : tensor<2x8xf32>
}

// -----

func.func @phase2_partial_type(%o: tensor<2x8xf32>, %l: tensor<2xf32>, %p: tensor<3x8xf32>, %q: tensor<8xf32>) -> tensor<3x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op expects state, partial and result of one type, got 'tensor<2x8xf32>', 'tensor<3x8xf32>' and 'tensor<3x8xf32>'}}
  %h = "attnres.phase2"(%o, %l, %p, %q, %q) <{epsilon = 1.0e-06 : f32}> : (tensor<2x8xf32>, tensor<2xf32>, tensor<3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<3x8xf32>
  return %h : tensor<3x8xf32>
}

// -----

func.func @phase2_lse_type(%o: tensor<2x8xf32>, %l: tensor<8xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op expects lse of type 'tensor<2xf32>' (the partial's type without the feature axis, in f32 or wider), got 'tensor<8xf32>'}}
  %h = "attnres.phase2"(%o, %l, %o, %q, %q) <{epsilon = 1.0e-06 : f32}> : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %h : tensor<2x8xf32>
}

// -----

func.func @phase2_norm_without_epsilon(%o: tensor<2x8xf32>, %l: tensor<2xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op expects norm_weight, norm_epsilon and the normalized result together or not at all}}
  %h, %y = "attnres.phase2"(%o, %l, %o, %q, %q, %q) <{epsilon = 1.0e-06 : f32}> : (tensor<2x8xf32>, tensor<2xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @phase2_norm_epsilon(%o: tensor<2x8xf32>, %l: tensor<2xf32>, %q: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op requires a finite, non-negative epsilon, got NaN}}
  %h, %y = attnres.phase2 %o, %l, %o query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 0x7FC00000 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

func.func @phase2_norm_weight_type(%o: tensor<2x8xf32>, %l: tensor<2xf32>, %q: tensor<8xf32>, %g: tensor<8xf16>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op expects norm_weight of element type 'f32' (that of the sources), got 'f16'}}
  %h, %y = "attnres.phase2"(%o, %l, %o, %q, %q, %g) <{epsilon = 1.0e-06 : f32, norm_epsilon = 1.0e-05 : f32}> : (tensor<2x8xf32>, tensor<2xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf16>) -> (tensor<2x8xf32>, tensor<2x8xf32>)
  return %y : tensor<2x8xf32>
}

// -----

// The assembly prints one type for the vectors: a static and a dynamic one
// would print IR that does not parse.
func.func @phase2_vector_types(%o: tensor<2x8xf32>, %l: tensor<2xf32>, %q: tensor<8xf32>, %g: tensor<?xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op expects query, key_norm_weight and norm_weight of one type, got 'tensor<8xf32>' and 'tensor<?xf32>'}}
  %h, %y = "attnres.phase2"(%o, %l, %o, %q, %q, %g) <{epsilon = 1.0e-06 : f32, norm_epsilon = 1.0e-05 : f32}> : (tensor<2x8xf32>, tensor<2xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<?xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @phase2_plain_vector_types(%o: tensor<2x8xf32>, %l: tensor<2xf32>, %q: tensor<8xf32>, %k: tensor<?xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase2' op expects query and key_norm_weight of one type, got 'tensor<8xf32>' and 'tensor<?xf32>'}}
  %h = "attnres.phase2"(%o, %l, %o, %q, %k) <{epsilon = 1.0e-06 : f32}> : (tensor<2x8xf32>, tensor<2xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<?xf32>) -> tensor<2x8xf32>
  return %h : tensor<2x8xf32>
}

// -----

func.func @phase1_vector_types(%b: tensor<2x8xf32>, %q: tensor<8xf32>, %k: tensor<?xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{'attnres.phase1' op expects queries and key_norm_weights of one type, got 'tensor<8xf32>' and 'tensor<?xf32>'}}
  %o:2, %l:2 = "attnres.phase1"(%b, %q, %q, %q, %k) <{epsilon = 1.0e-06 : f32, operandSegmentSizes = array<i32: 1, 2, 2>}> : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<?xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xf32>, tensor<2xf32>)
  return %o#0 : tensor<2x8xf32>
}
