// RUN: attnres-opt %s --attnres-detect-residuals --split-input-file -verify-diagnostics

// A PreNorm stream: h1 = h0 + f(norm(h0)), h2 = h1 + g(norm(h1)), final norm.
// (detect-residuals-report.mlir prints its table.)
func.func @prenorm(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 2: reads the stream through attnres.rms_norm}}
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %f1 = tosa.sigmoid %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 1 of 2: reads the stream through attnres.layer_norm}}
  %h2 = tosa.add %f1, %h1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (2 layers, D = 8)}}
  %y = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Nothing to find: no norm.
// expected-remark @below {{found no PreNorm residual stream}}
module {
  func.func @no_norm(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %y = tosa.tanh %x : (tensor<2x8xf32>) -> tensor<2x8xf32>
    return %y : tensor<2x8xf32>
  }
}

// -----

// PostNorm (BERT): the sum is normalized after the add.
func.func @postnorm(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %f0 = tosa.tanh %h0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-error @below {{PostNorm residual add: its sum is normalized after the add, by attnres.layer_norm 'ln'}}
  %s = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = attnres.layer_norm %s, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32> loc("ln")
  return %h1 : tensor<2x8xf32>
}

// -----

// The graph output reads the raw stream, not through a final norm.
func.func @raw_output(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-error @below {{the residual stream ends here without a final norm: it is read by func.return}}
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %h1 : tensor<2x8xf32>
}

// -----

// A final norm, but the last stream value is also a graph output.
func.func @stream_and_norm_outputs(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  // expected-error @below {{reads the residual stream (the input of layer 1) directly, not through a norm}}
  return %y, %h1 : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// A sublayer that reads the raw stream besides its norm (a classifier on
// the embedding, a skip into the MLP).
func.func @sublayer_reads_stream(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  // expected-error @below {{reads the residual stream (the input of layer 0) directly, not through a norm}}
  %f0 = tosa.mul %n0, %h0, %shift : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<1xi8>) -> tensor<2x8xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// GPT-NeoX / GPT-J parallel residual: h + attn(ln1(h)) + mlp(ln2(h)) with two
// different norms.
func.func @parallel(%h0: tensor<2x8xf32>, %g1: tensor<8xf32>, %g2: tensor<8xf32>) -> tensor<2x8xf32> {
  %a = attnres.layer_norm %h0, %g1, %g1 epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32> loc("ln1")
  %b = attnres.layer_norm %h0, %g2, %g2 epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32> loc("ln2")
  %fa = tosa.tanh %a : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %fb = tosa.sigmoid %b : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %f = tosa.add %fb, %fa : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-error @below {{parallel residual layer (GPT-NeoX, GPT-J, Falcon style): the stream value is read by two norms, attnres.layer_norm 'ln1' and attnres.layer_norm 'ln2'}}
  %h1 = tosa.add %f, %h0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.layer_norm %h1, %g1, %g1 epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// One norm feeding both branches is one layer with two branches (Falcon's
// single-norm parallel block): the rewrite preserves it.
func.func @parallel_one_norm(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %a = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %fa = tosa.tanh %a : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %fb = tosa.sigmoid %a : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %f = tosa.add %fb, %fa : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 1}}
  %h1 = tosa.add %f, %h0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (1 layers, D = 8)}}
  %y = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// (h + attn) + mlp where the second branch is computed from the first: one
// parallel block (both read the norm), reported as such.
func.func @chain_of_dependent_branches(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32> loc("n0")
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %m = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %c = tosa.sigmoid %f0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 2: reads the stream through attnres.rms_norm 'n0' (a parallel block whose branches are added one at a time)}}
  %h1 = tosa.add %m, %c : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f1 = tosa.tanh %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 1 of 2: reads the stream through attnres.rms_norm}}
  %h2 = tosa.add %h1, %f1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (2 layers, D = 8)}}
  %y = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Two streams in one function (an encoder's and a decoder's): each is
// found and reported on its own.
func.func @two_streams(%a0: tensor<2x8xf32>, %b0: tensor<2x8xf32>, %g: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %na = attnres.rms_norm %a0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %fa = tosa.tanh %na : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 1: reads the stream through attnres.rms_norm}}
  %a1 = tosa.add %a0, %fa : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (1 layers, D = 8)}}
  %ya = attnres.rms_norm %a1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %nb = attnres.rms_norm %b0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  // The second stream's sublayer reads the first one's final norm (a
  // decoder's cross-attention reading the encoder's output).
  %cross = tosa.mul %nb, %ya, %shift : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<1xi8>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 1: reads the stream through attnres.rms_norm}}
  %b1 = tosa.add %b0, %cross : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (1 layers, D = 8)}}
  %yb = attnres.rms_norm %b1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %ya, %yb : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// Cohere's parallel block: one norm feeds both branches and the stream adds
// them one at a time, `(h + attn(n)) + mlp(n)`, in either operand order.
func.func @parallel_chain(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %attn0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %mlp0 = tosa.sigmoid %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %s0 = tosa.add %h0, %attn0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 2: reads the stream through attnres.layer_norm}}
  %h1 = tosa.add %s0, %mlp0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %attn1 = tosa.tanh %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %mlp1 = tosa.sigmoid %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %s1 = tosa.add %attn1, %h1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 1 of 2: reads the stream through attnres.layer_norm}}
  %h2 = tosa.add %mlp1, %s1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (2 layers, D = 8)}}
  %y = attnres.layer_norm %h2, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// A first sum read by anything but the next add is not a parallel block's:
// the stream is read directly.
func.func @parallel_chain_leak(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %n0 = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %attn0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %mlp0 = tosa.sigmoid %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-error @below {{the residual stream ends here without a final norm: it is read by}}
  %s0 = tosa.add %h0, %attn0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = tosa.add %s0, %mlp0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %y, %s0 : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// CLIP's pooler: the final norm reads a row of h_L (the class token) through
// a slice and a reshape that keep the feature axis.
func.func @final_norm_of_a_row(%h0: tensor<1x5x8xf32>, %g: tensor<8xf32>) -> tensor<1x8xf32> {
  %n0 = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<1x5x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<1x5x8xf32>) -> tensor<1x5x8xf32>
  // expected-remark @below {{residual layer 0 of 1: reads the stream through attnres.layer_norm}}
  %h1 = tosa.add %h0, %f0 : (tensor<1x5x8xf32>, tensor<1x5x8xf32>) -> tensor<1x5x8xf32>
  %start = tosa.const_shape {values = dense<0> : tensor<3xindex>} : () -> !tosa.shape<3>
  %size = tosa.const_shape {values = dense<[1, 1, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %row = tosa.slice %h1, %start, %size : (tensor<1x5x8xf32>, !tosa.shape<3>, !tosa.shape<3>) -> tensor<1x1x8xf32>
  %shape = tosa.const_shape {values = dense<[1, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %flat = tosa.reshape %row, %shape : (tensor<1x1x8xf32>, !tosa.shape<2>) -> tensor<1x8xf32>
  // expected-remark @below {{final norm of the residual stream (1 layers, D = 8)}}
  %y = attnres.layer_norm %flat, %g, %g epsilon = 1.0e-5 : tensor<1x8xf32>, tensor<8xf32>
  return %y : tensor<1x8xf32>
}

// -----

// A slice that cuts the feature axis is not a row: the stream ends
// unnormalized.
func.func @final_slice_of_features(%h0: tensor<5x8xf32>, %g: tensor<4xf32>, %g8: tensor<8xf32>) -> tensor<5x4xf32> {
  %n0 = attnres.layer_norm %h0, %g8, %g8 epsilon = 1.0e-5 : tensor<5x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<5x8xf32>) -> tensor<5x8xf32>
  // expected-error @below {{the residual stream ends here without a final norm: it is read by tosa.slice}}
  %h1 = tosa.add %h0, %f0 : (tensor<5x8xf32>, tensor<5x8xf32>) -> tensor<5x8xf32>
  %start = tosa.const_shape {values = dense<0> : tensor<2xindex>} : () -> !tosa.shape<2>
  %size = tosa.const_shape {values = dense<[5, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %half = tosa.slice %h1, %start, %size : (tensor<5x8xf32>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<5x4xf32>
  %y = attnres.layer_norm %half, %g, %g epsilon = 1.0e-5 : tensor<5x4xf32>, tensor<4xf32>
  return %y : tensor<5x4xf32>
}

// -----

// The first case with dynamic token dims: detection reads no sizes but D.
func.func @prenorm_dynamic(%h0: tensor<?x8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<?x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  // expected-remark @below {{residual layer 0 of 2: reads the stream through attnres.rms_norm}}
  %h1 = tosa.add %h0, %f0 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %n1 = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<?x8xf32>, tensor<8xf32>
  %f1 = tosa.sigmoid %n1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  // expected-remark @below {{residual layer 1 of 2: reads the stream through attnres.layer_norm}}
  %h2 = tosa.add %f1, %h1 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  // expected-remark @below {{final norm of the residual stream (2 layers, D = 8)}}
  %y = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<?x8xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// An add-then-norm inside a sublayer (x + g(x), normalized, within the
// MLP) is the sublayer's business: the stream around it is PreNorm.
func.func @sublayer_add_then_norm(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %x = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %gx = tosa.sigmoid %x : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %s = tosa.add %x, %gx : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %f0 = attnres.layer_norm %s, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  // expected-remark @below {{residual layer 0 of 1: reads the stream through attnres.rms_norm}}
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (1 layers, D = 8)}}
  %y = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// A normalized embedding (BLOOM's word_embeddings_layernorm, CLIP's
// pre_layrnorm) is b_0: the stream starts at the norm's result.
func.func @normalized_embedding(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %h0 = attnres.layer_norm %x, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %n0 = attnres.layer_norm %h0, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{residual layer 0 of 1: reads the stream through attnres.layer_norm}}
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{final norm of the residual stream (1 layers, D = 8)}}
  %y = attnres.layer_norm %h1, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// OLMo 2 normalizes each sublayer's output instead of its input: the
// sublayers read the stream itself. Refused, and not as PostNorm.
func.func @olmo2(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %f0 = tosa.tanh %h0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %n0 = attnres.rms_norm %f0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32> loc("post_attention_layernorm")
  // expected-error @below {{residual add of a normalized sublayer output `h + norm(f(h))` (OLMo 2 style): the sublayers read the residual stream directly, not through a norm (attnres.rms_norm 'post_attention_layernorm' follows its sublayer)}}
  %h1 = tosa.add %h0, %n0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %f1 = tosa.sigmoid %h1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.rms_norm %f1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %h2 = tosa.add %h1, %n1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}
