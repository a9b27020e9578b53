func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %y = tosa.tanh %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
