// Every way --attnres-residual-to-block refuses, with the module left as it
// was (the driver prints nothing on failure).
// RUN: attnres-opt %s --split-input-file --attnres-residual-to-block=num-blocks=4 -verify-diagnostics
// RUN: not attnres-opt %s --split-input-file --attnres-residual-to-block=block-sizes=2,2 2>&1 | FileCheck %s --check-prefix=SUM
// RUN: not attnres-opt %s --split-input-file --attnres-residual-to-block="num-blocks=3 block-sizes=2,1" 2>&1 | FileCheck %s --check-prefix=DISAGREE
// RUN: not attnres-opt %s --split-input-file --attnres-residual-to-block=block-sizes=3,0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not attnres-opt %s --split-input-file --attnres-residual-to-block=key-norm-epsilon=-1 2>&1 | FileCheck %s --check-prefix=EPS
// RUN: not attnres-opt %s --attnres-residual-to-block=pseudo-queries=%t.missing.npz 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: %python -c "import numpy as np; np.savez('%t.shape.npz', queries=np.zeros((3, 8), np.float32))"
// RUN: not attnres-opt %s --attnres-residual-to-block=pseudo-queries=%t.shape.npz 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: %python -c "import numpy as np; np.savez('%t.name.npz', query=np.zeros((4, 8), np.float32))"
// RUN: not attnres-opt %s --attnres-residual-to-block=pseudo-queries=%t.name.npz 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: %python -c "import numpy as np; np.savez('%t.int.npz', queries=np.zeros((4, 8), np.int32))"
// RUN: not attnres-opt %s --attnres-residual-to-block=pseudo-queries=%t.int.npz 2>&1 | FileCheck %s --check-prefix=INT
// RUN: %python -c "import numpy as np; q = np.zeros((4, 8), np.float32); q[1, 2] = np.nan; np.savez('%t.nan.npz', queries=q)"
// RUN: not attnres-opt %s --attnres-residual-to-block=pseudo-queries=%t.nan.npz 2>&1 | FileCheck %s --check-prefix=NAN
// A finite f32 query past f16's largest value (65504) on an f16 stream,
// and a key-norm weight past bf16's on a bf16 one: infinite once stored in
// the stream's type. 65504 itself still fits.
// RUN: %python -c "import numpy as np; q = np.zeros((4, 8), np.float32); q[2, 5] = 70000; np.savez('%t.big.npz', queries=q); k = np.ones((4, 8), np.float32); k[3, 1] = 3.4e38; np.savez('%t.bigk.npz', queries=np.zeros((4, 8), np.float32), key_norm_weights=k); q[2, 5] = 65504; np.savez('%t.max.npz', queries=q)"
// RUN: sed -n '/^func.func @three_layers/,/^}/p' %s | sed 's/xf32>/xf16>/g' | not attnres-opt --attnres-residual-to-block=pseudo-queries=%t.big.npz 2>&1 | FileCheck %s --check-prefix=F16
// RUN: sed -n '/^func.func @three_layers/,/^}/p' %s | sed 's/xf32>/xbf16>/g' | not attnres-opt --attnres-residual-to-block=pseudo-queries=%t.bigk.npz 2>&1 | FileCheck %s --check-prefix=BF16
// RUN: sed -n '/^func.func @three_layers/,/^}/p' %s | sed 's/xf32>/xf16>/g' | attnres-opt --attnres-residual-to-block="pseudo-queries=%t.max.npz verbose=true" 2>&1 | FileCheck %s --check-prefix=F16MAX

// SUM: error: block-sizes add up to 4 layers but the residual stream has 3
// DISAGREE: error: num-blocks=3 disagrees with the 2 block-sizes
// ZERO: error: block-sizes must be positive
// EPS: error: key-norm-epsilon must be finite and non-negative, got -1
// MISSING: error: cannot read pseudo-queries: {{.*}}missing.npz
// SHAPE: error: pseudo-queries file '{{.*}}shape.npz': 'queries' is float32[3, 8] but the model needs float32[4, 8] (3 layers and the final aggregation, D = 8)
// NAME: error: pseudo-queries file '{{.*}}name.npz' has no array 'queries'
// INT: error: pseudo-queries file '{{.*}}int.npz': 'queries' is int32[4, 8]; float32 (or float64) is needed
// NAN: error: pseudo-queries file '{{.*}}nan.npz': 'queries' holds a NaN or infinity
// F16: error: pseudo-queries: 'queries'[2, 5] = 7.000000e+04 is not finite in the model's 'f16' (the parameters take the stream's type)
// BF16: error: pseudo-queries: 'key_norm_weights'[3, 1] = 3.400000e+38 is not finite in the model's 'bf16' (the parameters take the stream's type)
// F16MAX: remark: rewrote the residual stream of @three_layers
// F16MAX: 6.550400e+04

// expected-error @below {{num-blocks=4 exceeds the 3 layers of the residual stream}}
func.func @three_layers(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %n0 = attnres.rms_norm %h0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f0 = tosa.tanh %n0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n1 = attnres.rms_norm %h1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f1 = tosa.tanh %n1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h2 = tosa.add %h1, %f1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %n2 = attnres.rms_norm %h2, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %f2 = tosa.tanh %n2 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %h3 = tosa.add %h2, %f2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = attnres.rms_norm %h3, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// No stream: nothing to rewrite is an error, not a silent no-op.
// expected-error @below {{found no PreNorm residual stream to rewrite}}
module {
  func.func @no_stream(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %y = tosa.tanh %x : (tensor<2x8xf32>) -> tensor<2x8xf32>
    return %y : tensor<2x8xf32>
  }
}

// -----

// A stream the analysis refuses fails the rewrite with the analysis' error.
func.func @postnorm(%h0: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  %f0 = tosa.tanh %h0 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-error @below {{PostNorm residual add}}
  %s = tosa.add %h0, %f0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = attnres.layer_norm %s, %g, %g epsilon = 1.0e-5 : tensor<2x8xf32>, tensor<8xf32>
  return %h1 : tensor<2x8xf32>
}
