// RUN: attnres-opt %s --split-input-file --attnres-fuse-elementwise | FileCheck %s

#id = affine_map<(d0) -> (d0)>

// An elementwise producer with one use is fused into its consumer.
// CHECK-LABEL: func.func @fuse_chain
// CHECK:         %[[R:.+]] = linalg.generic
// CHECK:           math.exp
// CHECK-NEXT:      arith.mulf
// CHECK:         return %[[R]]
// CHECK-NOT:     linalg.generic
func.func @fuse_chain(%x: tensor<4xf32>, %s: tensor<4xf32>) -> tensor<4xf32> {
  %i = tensor.empty() : tensor<4xf32>
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%i : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%e, %s : tensor<4xf32>, tensor<4xf32>) outs(%i : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %v = arith.mulf %a, %b : f32
    linalg.yield %v : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

#id = affine_map<(d0) -> (d0)>

// A producer with two consumers stays: fusing would compute exp twice.
// CHECK-LABEL: func.func @keep_shared
// CHECK-COUNT-3: linalg.generic
func.func @keep_shared(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %i = tensor.empty() : tensor<4xf32>
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%i : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%e : tensor<4xf32>) outs(%i : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %a : f32
    linalg.yield %v : f32
  } -> tensor<4xf32>
  %z = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%e : tensor<4xf32>) outs(%i : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.mulf %a, %a : f32
    linalg.yield %v : f32
  } -> tensor<4xf32>
  return %y, %z : tensor<4xf32>, tensor<4xf32>
}

// -----

// Reshapes are not propagated into a batch matmul: it stays a named op for
// the BLAS rewrite (upstream's --linalg-fuse-elementwise-ops would turn it
// into a generic contraction).
// CHECK-LABEL: func.func @keep_batch_matmul
// CHECK:         linalg.batch_matmul
// CHECK:         tensor.expand_shape
func.func @keep_batch_matmul(%a: tensor<1x16x32xf32>, %w: tensor<32x64xf32>) -> tensor<1x16x8x8xf32> {
  %b = tensor.expand_shape %w [[0, 1], [2]] output_shape [1, 32, 64] : tensor<32x64xf32> into tensor<1x32x64xf32>
  %zero = arith.constant 0.0 : f32
  %i = tensor.empty() : tensor<1x16x64xf32>
  %c = linalg.fill ins(%zero : f32) outs(%i : tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  %r = linalg.batch_matmul ins(%a, %b : tensor<1x16x32xf32>, tensor<1x32x64xf32>) outs(%c : tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  %h = tensor.expand_shape %r [[0], [1], [2, 3]] output_shape [1, 16, 8, 8] : tensor<1x16x64xf32> into tensor<1x16x8x8xf32>
  return %h : tensor<1x16x8x8xf32>
}
