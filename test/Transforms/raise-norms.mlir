// RUN: attnres-opt %s --attnres-raise-norms --split-input-file | FileCheck %s

// Every spelling of RMSNorm and LayerNorm that the exporters and the importer
// write becomes one attnres op; what only looks like a norm stays.

// Llama, dynamo exporter: x * rsqrt(mean(x * x) + eps) * w.
// CHECK-LABEL: func.func @rms_rsqrt
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x8xf32>, %[[W:.*]]: tensor<8xf32>)
// CHECK: %[[N:.*]] = attnres.rms_norm %[[X]], %[[W]] epsilon = 9.99999997E-7 : tensor<2x4x8xf32>, tensor<8xf32>
// CHECK-NEXT: return %[[N]]
func.func @rms_rsqrt(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-06> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<1xi8>) -> tensor<2x4x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 2 : i32} : (tensor<2x4x8xf32>) -> tensor<2x4x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<2x4x1xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<2x4x1xf32>
  %v = tosa.add %ms, %eps : (tensor<2x4x1xf32>, tensor<1x1x1xf32>) -> tensor<2x4x1xf32>
  %r = tosa.rsqrt %v : (tensor<2x4x1xf32>) -> tensor<2x4x1xf32>
  %n = tosa.mul %x, %r, %shift : (tensor<2x4x8xf32>, tensor<2x4x1xf32>, tensor<1xi8>) -> tensor<2x4x8xf32>
  %shape = tosa.const_shape {values = dense<[1, 1, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %w3 = tosa.reshape %w, %shape : (tensor<8xf32>, !tosa.shape<3>) -> tensor<1x1x8xf32>
  %y = tosa.mul %w3, %n, %shift : (tensor<1x1x8xf32>, tensor<2x4x8xf32>, tensor<1xi8>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// TorchScript exporter: Pow(x, 2) (imported as x * x), Sqrt (a linalg.generic:
// TOSA has none), Div(1, sqrt) imported as 1 * reciprocal, and the mean as
// reduce_sum * reciprocal(D). No weight: the op gets ones.
#map = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @rms_div_sqrt
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK: %[[ONES:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<8xf32>}>
// CHECK: %[[N:.*]] = attnres.rms_norm %[[X]], %[[ONES]] epsilon = 9.99999974E-6
// CHECK-NOT: linalg.generic
// CHECK: return %[[N]]
func.func @rms_div_sqrt(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %d = "tosa.const"() <{values = dense<8.000000e+00> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-05> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %one = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %inv_d = tosa.reciprocal %d : (tensor<1x1xf32>) -> tensor<1x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v = tosa.add %eps, %ms : (tensor<1x1xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %e = tensor.empty() : tensor<4x1xf32>
  %s = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%v : tensor<4x1xf32>) outs(%e : tensor<4x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.sqrt %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x1xf32>
  %rs = tosa.reciprocal %s : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %r = tosa.mul %one, %rs, %shift : (tensor<1x1xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %n = tosa.mul %r, %x, %shift : (tensor<4x1xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  return %n : tensor<4x8xf32>
}

// -----

// x / sqrt(v), imported as x * reciprocal(sqrt(v)); the inverse root also as
// pow(v, -0.5).
#map = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @rms_x_over_sqrt_and_pow
// CHECK-COUNT-2: attnres.rms_norm
// CHECK-NOT: tosa.reduce_sum
func.func @rms_x_over_sqrt_and_pow(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-05> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %half = "tosa.const"() <{values = dense<-5.000000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v = tosa.add %ms, %eps : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %e = tensor.empty() : tensor<4x1xf32>
  %s = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%v : tensor<4x1xf32>) outs(%e : tensor<4x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.sqrt %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x1xf32>
  %rs = tosa.reciprocal %s : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n1 = tosa.mul %x, %rs, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %p = tosa.pow %v, %half : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %n2 = tosa.mul %x, %p, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  return %n1, %n2 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Half precision, Llama-style: x.float(), normalized in f32, cast back to
// f16, then the f16 weight. The importer sums f16 in f32 (cast, sum, cast);
// here the model already widened. The op reads the f16 input.
// CHECK-LABEL: func.func @rms_f16_weight_after_cast
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf16>, %[[W:.*]]: tensor<8xf16>)
// CHECK: %[[N:.*]] = attnres.rms_norm %[[X]], %[[W]] epsilon = 9.99999997E-7 : tensor<4x8xf16>, tensor<8xf16>
// CHECK-NEXT: return %[[N]]
func.func @rms_f16_weight_after_cast(%x: tensor<4x8xf16>, %w: tensor<8xf16>) -> tensor<4x8xf16> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-06> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %xf = tosa.cast %x : (tensor<4x8xf16>) -> tensor<4x8xf32>
  %sq = tosa.mul %xf, %xf, %shift : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v = tosa.add %ms, %eps : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %r = tosa.rsqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = tosa.mul %xf, %r, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %nh = tosa.cast %n : (tensor<4x8xf32>) -> tensor<4x8xf16>
  %shape = tosa.const_shape {values = dense<[1, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %w2 = tosa.reshape %w, %shape : (tensor<8xf16>, !tosa.shape<2>) -> tensor<1x8xf16>
  %y = tosa.mul %w2, %nh, %shift : (tensor<1x8xf16>, tensor<4x8xf16>, tensor<1xi8>) -> tensor<4x8xf16>
  return %y : tensor<4x8xf16>
}

// -----

// Gemma: the weight (1 + w, folded to a constant by the importer) applied in
// f32 before the cast back; the f32 copy that follows belongs to the matmul
// reading the norm, not to the norm. The f32 weight is cast to f16.
// CHECK-LABEL: func.func @rms_f16_weight_before_cast
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf16>)
// CHECK: %[[W16:.*]] = tosa.cast %{{.*}} : (tensor<1x8xf32>) -> tensor<1x8xf16>
// CHECK: %[[W:.*]] = tosa.reshape %[[W16]]
// CHECK: %[[N:.*]] = attnres.rms_norm %[[X]], %[[W]] epsilon = 9.99999997E-7 : tensor<4x8xf16>, tensor<8xf16>
// CHECK: %[[WIDE:.*]] = tosa.cast %[[N]] : (tensor<4x8xf16>) -> tensor<4x8xf32>
// CHECK: return %[[WIDE]]
func.func @rms_f16_weight_before_cast(%x: tensor<4x8xf16>) -> tensor<4x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-06> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %w = "tosa.const"() <{values = dense<1.500000e+00> : tensor<1x8xf32>}> : () -> tensor<1x8xf32>
  %xf = tosa.cast %x : (tensor<4x8xf16>) -> tensor<4x8xf32>
  %sq = tosa.mul %xf, %xf, %shift : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v = tosa.add %ms, %eps : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %r = tosa.rsqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = tosa.mul %xf, %r, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %y = tosa.mul %n, %w, %shift : (tensor<4x8xf32>, tensor<1x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %yh = tosa.cast %y : (tensor<4x8xf32>) -> tensor<4x8xf16>
  %wide = tosa.cast %yh : (tensor<4x8xf16>) -> tensor<4x8xf32>
  return %wide : tensor<4x8xf32>
}

// -----

// A float32 stream normalized into an f16 result (TorchScript's fp16 export
// after its attention turns the stream f32): the op computes in f32 and its
// result is cast.
// CHECK-LABEL: func.func @rms_wide_input_narrow_result
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK: %[[N:.*]] = attnres.rms_norm %[[X]], %{{.*}} : tensor<4x8xf32>, tensor<8xf32>
// CHECK: %[[H:.*]] = tosa.cast %[[N]] : (tensor<4x8xf32>) -> tensor<4x8xf16>
// CHECK: return %[[H]]
func.func @rms_wide_input_narrow_result(%x: tensor<4x8xf32>) -> tensor<4x8xf16> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-06> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v = tosa.add %ms, %eps : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %r = tosa.rsqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = tosa.mul %x, %r, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  %nh = tosa.cast %n : (tensor<4x8xf32>) -> tensor<4x8xf16>
  return %nh : tensor<4x8xf16>
}

// -----

// LayerNormalization as the importer decomposes it (and as a hand-written
// torch layer norm exports): x - mean(x), its mean square, rsqrt, weight,
// bias.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x8xf32>, %[[W:.*]]: tensor<1x1x8xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[W1:.*]] = tosa.reshape %[[W]]
// CHECK: %[[N:.*]] = attnres.layer_norm %[[X]], %[[W1]], %[[B]] epsilon = 9.99999974E-6 : tensor<2x4x8xf32>, tensor<8xf32>
// CHECK-NEXT: return %[[N]]
func.func @layer_norm(%x: tensor<2x4x8xf32>, %w: tensor<1x1x8xf32>, %b: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-05> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %sum = tosa.reduce_sum %x {axis = 2 : i32} : (tensor<2x4x8xf32>) -> tensor<2x4x1xf32>
  %mean = tosa.mul %sum, %inv_d, %shift : (tensor<2x4x1xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<2x4x1xf32>
  %c = tosa.sub %x, %mean : (tensor<2x4x8xf32>, tensor<2x4x1xf32>) -> tensor<2x4x8xf32>
  %sq = tosa.mul %c, %c, %shift : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<1xi8>) -> tensor<2x4x8xf32>
  %ssum = tosa.reduce_sum %sq {axis = 2 : i32} : (tensor<2x4x8xf32>) -> tensor<2x4x1xf32>
  %var = tosa.mul %ssum, %inv_d, %shift : (tensor<2x4x1xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<2x4x1xf32>
  %v = tosa.add %var, %eps : (tensor<2x4x1xf32>, tensor<1x1x1xf32>) -> tensor<2x4x1xf32>
  %r = tosa.rsqrt %v : (tensor<2x4x1xf32>) -> tensor<2x4x1xf32>
  %n = tosa.mul %c, %r, %shift : (tensor<2x4x8xf32>, tensor<2x4x1xf32>, tensor<1xi8>) -> tensor<2x4x8xf32>
  %y = tosa.mul %n, %w, %shift : (tensor<2x4x8xf32>, tensor<1x1x8xf32>, tensor<1xi8>) -> tensor<2x4x8xf32>
  %shape = tosa.const_shape {values = dense<[1, 1, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b3 = tosa.reshape %b, %shape : (tensor<8xf32>, !tosa.shape<3>) -> tensor<1x1x8xf32>
  %z = tosa.add %y, %b3 : (tensor<2x4x8xf32>, tensor<1x1x8xf32>) -> tensor<2x4x8xf32>
  return %z : tensor<2x4x8xf32>
}

// -----

// Half-precision layer norm as the importer writes it: sums widened to f32
// (cast, reduce_sum, cast), the centered value written twice, no bias.
// CHECK-LABEL: func.func @layer_norm_f16_no_bias
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf16>)
// CHECK: %[[ZEROS:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<8xf16>}>
// CHECK: attnres.layer_norm %[[X]], %{{.*}}, %[[ZEROS]] epsilon = {{.*}} : tensor<4x8xf16>, tensor<8xf16>
// CHECK-NOT: tosa.reduce_sum
func.func @layer_norm_f16_no_bias(%x: tensor<4x8xf16>) -> tensor<4x8xf16> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf16>}> : () -> tensor<1x1xf16>
  %eps = "tosa.const"() <{values = dense<1.000000e-05> : tensor<1x1xf16>}> : () -> tensor<1x1xf16>
  %w = "tosa.const"() <{values = dense<2.000000e+00> : tensor<1x8xf16>}> : () -> tensor<1x8xf16>
  %xw = tosa.cast %x : (tensor<4x8xf16>) -> tensor<4x8xf32>
  %sumw = tosa.reduce_sum %xw {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %sum = tosa.cast %sumw : (tensor<4x1xf32>) -> tensor<4x1xf16>
  %mean = tosa.mul %sum, %inv_d, %shift : (tensor<4x1xf16>, tensor<1x1xf16>, tensor<1xi8>) -> tensor<4x1xf16>
  %c1 = tosa.sub %x, %mean : (tensor<4x8xf16>, tensor<4x1xf16>) -> tensor<4x8xf16>
  %c2 = tosa.sub %x, %mean : (tensor<4x8xf16>, tensor<4x1xf16>) -> tensor<4x8xf16>
  %sq = tosa.mul %c1, %c1, %shift : (tensor<4x8xf16>, tensor<4x8xf16>, tensor<1xi8>) -> tensor<4x8xf16>
  %sqw = tosa.cast %sq : (tensor<4x8xf16>) -> tensor<4x8xf32>
  %ssumw = tosa.reduce_sum %sqw {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %ssum = tosa.cast %ssumw : (tensor<4x1xf32>) -> tensor<4x1xf16>
  %var = tosa.mul %ssum, %inv_d, %shift : (tensor<4x1xf16>, tensor<1x1xf16>, tensor<1xi8>) -> tensor<4x1xf16>
  %v = tosa.add %var, %eps : (tensor<4x1xf16>, tensor<1x1xf16>) -> tensor<4x1xf16>
  %r = tosa.rsqrt %v : (tensor<4x1xf16>) -> tensor<4x1xf16>
  %n = tosa.mul %c2, %r, %shift : (tensor<4x8xf16>, tensor<4x1xf16>, tensor<1xi8>) -> tensor<4x8xf16>
  %y = tosa.mul %n, %w, %shift : (tensor<4x8xf16>, tensor<1x8xf16>, tensor<1xi8>) -> tensor<4x8xf16>
  return %y : tensor<4x8xf16>
}

// -----

// Not norms: a mean over another axis, a mean with the wrong count, a
// run-time epsilon, and a product with something other than the input.
// CHECK-LABEL: func.func @not_norms
// CHECK-NOT: attnres.
// CHECK: return
func.func @not_norms(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %e: tensor<1x1xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %inv_4 = "tosa.const"() <{values = dense<2.500000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-05> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  // Over axis 0.
  %s0 = tosa.reduce_sum %sq {axis = 0 : i32} : (tensor<4x8xf32>) -> tensor<1x8xf32>
  %m0 = tosa.mul %s0, %inv_4, %shift : (tensor<1x8xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<1x8xf32>
  %v0 = tosa.add %m0, %eps : (tensor<1x8xf32>, tensor<1x1xf32>) -> tensor<1x8xf32>
  %r0 = tosa.rsqrt %v0 : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %n0 = tosa.mul %x, %r0, %shift : (tensor<4x8xf32>, tensor<1x8xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  // 1/4 is not the mean over 8 features.
  %s1 = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %m1 = tosa.mul %s1, %inv_4, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v1 = tosa.add %m1, %eps : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %r1 = tosa.rsqrt %v1 : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n1 = tosa.mul %x, %r1, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  // Epsilon from an argument.
  %m2 = tosa.mul %s1, %inv_d, %shift : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<4x1xf32>
  %v2 = tosa.add %m2, %e : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %r2 = tosa.rsqrt %v2 : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n2 = tosa.mul %x, %r2, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  // The RMS of x applied to y.
  %v3 = tosa.add %m2, %eps : (tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<4x1xf32>
  %r3 = tosa.rsqrt %v3 : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n3 = tosa.mul %y, %r3, %shift : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1xi8>) -> tensor<4x8xf32>
  return %n0, %n1, %n2, %n3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// OPT flattens the stream to [B*T, D] around its MLP: the norm reads
// reshape(h) and the residual add happens on the flattened values. Both
// reshapes move off the stream: the norm reads h, the add produces h's type.
// CHECK-LABEL: func.func @flattened_sublayer
// CHECK-SAME: (%[[H:.*]]: tensor<1x4x8xf32>, %[[W:.*]]: tensor<8xf32>)
// CHECK: %[[N:.*]] = attnres.rms_norm %[[H]], %[[W]]
// CHECK: %[[NF:.*]] = tosa.reshape %[[N]], %{{.*}} : (tensor<1x4x8xf32>, !tosa.shape<2>) -> tensor<4x8xf32>
// CHECK: %[[F:.*]] = tosa.tanh %[[NF]]
// CHECK: %[[F3:.*]] = tosa.reshape %[[F]], %{{.*}} : (tensor<4x8xf32>, !tosa.shape<3>) -> tensor<1x4x8xf32>
// CHECK: %[[S:.*]] = tosa.add %[[H]], %[[F3]] : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
// CHECK: return %[[S]]
func.func @flattened_sublayer(%h: tensor<1x4x8xf32>, %w: tensor<8xf32>) -> tensor<1x4x8xf32> {
  %flat = tosa.const_shape {values = dense<[4, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %full = tosa.const_shape {values = dense<[1, 4, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %hf = tosa.reshape %h, %flat : (tensor<1x4x8xf32>, !tosa.shape<2>) -> tensor<4x8xf32>
  %n = attnres.rms_norm %hf, %w epsilon = 1.0e-6 : tensor<4x8xf32>, tensor<8xf32>
  %f = tosa.tanh %n : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = tosa.add %hf, %f : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %h1 = tosa.reshape %s, %full : (tensor<4x8xf32>, !tosa.shape<3>) -> tensor<1x4x8xf32>
  return %h1 : tensor<1x4x8xf32>
}

// -----

// A norm that reads an unflattened view keeps its reshape: moving it would
// take the norm off the stream.
// CHECK-LABEL: func.func @unflattening_reshape_stays
// CHECK: %[[R:.*]] = tosa.reshape
// CHECK: attnres.rms_norm %[[R]]
func.func @unflattening_reshape_stays(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<1x4x8xf32> {
  %full = tosa.const_shape {values = dense<[1, 4, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %r = tosa.reshape %x, %full : (tensor<4x8xf32>, !tosa.shape<3>) -> tensor<1x4x8xf32>
  %n = attnres.rms_norm %r, %w epsilon = 1.0e-6 : tensor<1x4x8xf32>, tensor<8xf32>
  return %n : tensor<1x4x8xf32>
}

// -----

// bf16 with D = 24: 1/24 is not exact in bf16, so the mean's scale is
// compared at bf16 precision (the importer sums in f32: cast, sum, cast).
// CHECK-LABEL: func.func @rms_bf16_inexact_mean
// CHECK: attnres.rms_norm %{{.*}} : tensor<2x24xbf16>, tensor<24xbf16>
// CHECK-NOT: tosa.reduce_sum
func.func @rms_bf16_inexact_mean(%x: tensor<2x24xbf16>) -> tensor<2x24xbf16> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<4.16666679E-2> : tensor<1x1xbf16>}> : () -> tensor<1x1xbf16>
  %eps = "tosa.const"() <{values = dense<1.000000e-06> : tensor<1x1xbf16>}> : () -> tensor<1x1xbf16>
  %sq = tosa.mul %x, %x, %shift : (tensor<2x24xbf16>, tensor<2x24xbf16>, tensor<1xi8>) -> tensor<2x24xbf16>
  %sqw = tosa.cast %sq : (tensor<2x24xbf16>) -> tensor<2x24xf32>
  %sumw = tosa.reduce_sum %sqw {axis = 1 : i32} : (tensor<2x24xf32>) -> tensor<2x1xf32>
  %sum = tosa.cast %sumw : (tensor<2x1xf32>) -> tensor<2x1xbf16>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<2x1xbf16>, tensor<1x1xbf16>, tensor<1xi8>) -> tensor<2x1xbf16>
  %v = tosa.add %ms, %eps : (tensor<2x1xbf16>, tensor<1x1xbf16>) -> tensor<2x1xbf16>
  %r = tosa.rsqrt %v : (tensor<2x1xbf16>) -> tensor<2x1xbf16>
  %n = tosa.mul %x, %r, %shift : (tensor<2x24xbf16>, tensor<2x1xbf16>, tensor<1xi8>) -> tensor<2x24xbf16>
  return %n : tensor<2x24xbf16>
}

// -----

// The first case with dynamic token dims (batch, sequence): the pass reads
// no sizes but D.
// Llama, dynamo exporter: x * rsqrt(mean(x * x) + eps) * w.
// CHECK-LABEL: func.func @rms_rsqrt_dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x8xf32>, %[[W:.*]]: tensor<8xf32>)
// CHECK: %[[N:.*]] = attnres.rms_norm %[[X]], %[[W]] epsilon = 9.99999997E-7 : tensor<?x?x8xf32>, tensor<8xf32>
// CHECK-NEXT: return %[[N]]
func.func @rms_rsqrt_dynamic(%x: tensor<?x?x8xf32>, %w: tensor<8xf32>) -> tensor<?x?x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-06> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<1xi8>) -> tensor<?x?x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 2 : i32} : (tensor<?x?x8xf32>) -> tensor<?x?x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<?x?x1xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<?x?x1xf32>
  %v = tosa.add %ms, %eps : (tensor<?x?x1xf32>, tensor<1x1x1xf32>) -> tensor<?x?x1xf32>
  %r = tosa.rsqrt %v : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %n = tosa.mul %x, %r, %shift : (tensor<?x?x8xf32>, tensor<?x?x1xf32>, tensor<1xi8>) -> tensor<?x?x8xf32>
  %shape = tosa.const_shape {values = dense<[1, 1, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %w3 = tosa.reshape %w, %shape : (tensor<8xf32>, !tosa.shape<3>) -> tensor<1x1x8xf32>
  %y = tosa.mul %w3, %n, %shift : (tensor<1x1x8xf32>, tensor<?x?x8xf32>, tensor<1xi8>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// A root taken through a transposing map divides each element by another
// row's RMS: not a norm.
#transpose = affine_map<(d0, d1) -> (d1, d0)>
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @rms_transposed_sqrt
// CHECK-NOT: attnres.rms_norm
// CHECK: linalg.generic
func.func @rms_transposed_sqrt(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %inv_d = "tosa.const"() <{values = dense<1.250000e-01> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %eps = "tosa.const"() <{values = dense<1.000000e-05> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %sq = tosa.mul %x, %x, %shift : (tensor<8x8xf32>, tensor<8x8xf32>, tensor<1xi8>) -> tensor<8x8xf32>
  %sum = tosa.reduce_sum %sq {axis = 1 : i32} : (tensor<8x8xf32>) -> tensor<8x1xf32>
  %ms = tosa.mul %sum, %inv_d, %shift : (tensor<8x1xf32>, tensor<1x1xf32>, tensor<1xi8>) -> tensor<8x1xf32>
  %v = tosa.add %ms, %eps : (tensor<8x1xf32>, tensor<1x1xf32>) -> tensor<8x1xf32>
  %e = tensor.empty() : tensor<1x8xf32>
  %s = linalg.generic {indexing_maps = [#transpose, #id], iterator_types = ["parallel", "parallel"]} ins(%v : tensor<8x1xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.sqrt %in : f32
    linalg.yield %0 : f32
  } -> tensor<1x8xf32>
  %rs = tosa.reciprocal %s : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %n = tosa.mul %rs, %x, %shift : (tensor<1x8xf32>, tensor<8x8xf32>, tensor<1xi8>) -> tensor<8x8xf32>
  return %n : tensor<8x8xf32>
}
