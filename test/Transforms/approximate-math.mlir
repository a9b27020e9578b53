// RUN: attnres-opt %s --split-input-file --attnres-approximate-math | FileCheck %s
// RUN: attnres-opt %s --split-input-file \
// RUN:   --attnres-approximate-math=ops=log,tanh | FileCheck %s --check-prefix=OPS

// The default set: exp, expm1, tanh, erf, log1p become arithmetic; log
// stays a call to the math library.
// CHECK-LABEL: func.func @defaults
// CHECK-NOT: math.exp
// CHECK-NOT: math.tanh
// CHECK-NOT: math.erf
// CHECK: math.fma
// CHECK: arith.bitcast
// CHECK: math.log %
// CHECK-NOT: math.log1p
// OPS-LABEL: func.func @defaults
// OPS: math.exp
// OPS-NOT: math.tanh
// OPS: math.expm1
// OPS: math.erf
// OPS-NOT: math.log %
// OPS: math.log1p
func.func @defaults(%x: f32) -> (f32, f32, f32, f32, f32, f32) {
  %0 = math.exp %x : f32
  %1 = math.tanh %x : f32
  %2 = math.expm1 %x : f32
  %3 = math.erf %x : f32
  %4 = math.log %x : f32
  %5 = math.log1p %x : f32
  return %0, %1, %2, %3, %4, %5 : f32, f32, f32, f32, f32, f32
}

// -----

// Vectors too, so that code already vectorized keeps its width.
// CHECK-LABEL: func.func @vector
// CHECK-NOT: math.exp
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: arith.bitcast {{.*}} : vector<16xi32> to vector<16xf32>
func.func @vector(%x: vector<16xf32>) -> vector<16xf32> {
  %0 = math.exp %x : vector<16xf32>
  return %0 : vector<16xf32>
}

// -----

// Only f32 has approximations: f64 and f16 keep their lowering.
// CHECK-LABEL: func.func @other_types
// CHECK: math.exp %{{.*}} : f64
// CHECK: math.exp %{{.*}} : f16
func.func @other_types(%x: f64, %y: f16) -> (f64, f16) {
  %0 = math.exp %x : f64
  %1 = math.exp %y : f16
  return %0, %1 : f64, f16
}

// -----

// Inside linalg bodies, where the CPU pipeline's loops come from.
// CHECK-LABEL: func.func @in_linalg
// CHECK: linalg.generic
// CHECK-NOT: math.exp
// CHECK: linalg.yield
func.func @in_linalg(%x: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>,
                                        affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %y = math.exp %a : f32
    linalg.yield %y : f32
  } -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
