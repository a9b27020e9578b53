// Options that name one stream's layers are refused when a function has
// several streams (an encoder and a decoder); num-blocks applies to each.
// RUN: not attnres-opt %s --attnres-residual-to-block=block-sizes=1 2>&1 | FileCheck %s --check-prefix=SIZES
// RUN: %python -c "import numpy as np; np.savez('%t.npz', queries=np.zeros((2, 8), np.float32))"
// RUN: not attnres-opt %s --attnres-residual-to-block=pseudo-queries=%t.npz 2>&1 | FileCheck %s --check-prefix=NPZ
// RUN: attnres-opt %s --attnres-residual-to-block=num-blocks=1 | FileCheck %s --check-prefix=EACH
// SIZES: error: the model has 2 residual streams (ending at attnres.rms_norm 'enc', 1 layers, attnres.rms_norm 'dec', 1 layers); block-sizes describes one stream's layers: use num-blocks, which applies to each stream
// NPZ: error: the model has 2 residual streams ({{.*}}); a pseudo-queries file describes one stream's layers
// EACH-COUNT-4: attnres.block_attn_res
func.func @two_streams_block_sizes(%a0: tensor<2x8xf32>, %b0: tensor<2x8xf32>, %g: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %na = attnres.rms_norm %a0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %fa = tosa.tanh %na : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a1 = tosa.add %a0, %fa : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %enc = attnres.rms_norm %a1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32> loc("enc")
  %nb = attnres.rms_norm %b0, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32>
  %fb = tosa.tanh %nb : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %b1 = tosa.add %b0, %fb : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %dec = attnres.rms_norm %b1, %g epsilon = 1.0e-6 : tensor<2x8xf32>, tensor<8xf32> loc("dec")
  return %enc, %dec : tensor<2x8xf32>, tensor<2x8xf32>
}
