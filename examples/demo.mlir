// A three-source Block AttnRes aggregation feeding a PreNorm RMSNorm, and a
// single-source aggregation that canonicalizes to its source.
func.func @demo(%emb: tensor<1x16x64xf32>, %b1: tensor<1x16x64xf32>,
                %partial: tensor<1x16x64xf32>, %w: tensor<64xf32>,
                %g: tensor<64xf32>) -> (tensor<1x16x64xf32>, tensor<1x16x64xf32>) {
  %h = attnres.block_attn_res %emb, %b1, %partial query %w key_norm %g
      epsilon = 1.000000e-06 : tensor<1x16x64xf32>, tensor<64xf32>
  %x = attnres.rms_norm %h, %g epsilon = 1.000000e-05
      : tensor<1x16x64xf32>, tensor<64xf32>
  %first = attnres.block_attn_res %emb query %w key_norm %g
      epsilon = 1.000000e-06 : tensor<1x16x64xf32>, tensor<64xf32>
  return %x, %first : tensor<1x16x64xf32>, tensor<1x16x64xf32>
}
