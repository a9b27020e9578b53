// RUN: attnres-opt %s --split-input-file --attnres-reductions-to-gpu | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-reductions-to-gpu="warps-per-block=4" | FileCheck %s --check-prefix=FOUR

// A softmax's row maximum: one warp per row, eight rows per block of 256
// threads; lanes stride through the row by 32 from -inf, five butterfly
// shuffles combine them, lane 0 folds in the initial value and stores.
// CHECK-LABEL: func.func @row_max
// CHECK-DAG: %[[NEG_INF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[C32:.+]] = arith.constant 32 : index
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK-DAG: %[[C256:.+]] = arith.constant 256 : index
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK-DAG: %[[T:.+]] = memref.dim %arg0, %c0
// CHECK-DAG: %[[K:.+]] = memref.dim %arg0, %c2
// CHECK: %[[ROWS:.+]] = arith.muli %[[T]], %[[C4]]
// CHECK: %[[BLOCKS:.+]] = arith.ceildivui %[[ROWS]], %[[C8]]
// CHECK: scf.if
// CHECK: gpu.launch blocks(%[[BX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[BLOCKS]], {{.*}} threads(%[[TX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C256]]
// CHECK: %[[LANE:.+]] = arith.remui %[[TX]], %[[C32]]
// CHECK: %[[WARP:.+]] = arith.divui %[[TX]], %[[C32]]
// CHECK: %[[FIRST:.+]] = arith.muli %[[BX]], %[[C8]]
// CHECK: %[[ROW:.+]] = arith.addi %[[FIRST]], %[[WARP]]
// CHECK: %[[IN:.+]] = arith.cmpi ult, %[[ROW]], %[[ROWS]]
// CHECK: scf.if %[[IN]]
// CHECK: %[[HEAD:.+]] = arith.remui %[[ROW]], %[[C4]]
// CHECK: %[[TOKEN:.+]] = arith.divui %[[ROW]], %[[C4]]
// CHECK: %[[P:.+]] = scf.for %[[I:.+]] = %[[LANE]] to %[[K]] step %[[C32]] iter_args(%[[ACC:.+]] = %[[NEG_INF]]) -> (f32)
// CHECK: %[[X:.+]] = memref.load %arg0[%[[TOKEN]], %[[HEAD]], %[[I]]] : memref<?x4x?xf32>
// CHECK: %[[M:.+]] = arith.maximumf %[[X]], %[[ACC]]
// CHECK: scf.yield %[[M]]
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: arith.cmpi eq, %[[LANE]], %c0
// CHECK: %[[INIT:.+]] = memref.load %arg1[%[[TOKEN]], %[[HEAD]]] : memref<?x4xf32>
// CHECK: %[[OUT:.+]] = arith.maximumf %[[INIT]]
// CHECK: memref.store %[[OUT]], %arg1[%[[TOKEN]], %[[HEAD]]] : memref<?x4xf32>
// CHECK: gpu.terminator
// CHECK-NOT: linalg.reduce
// FOUR-LABEL: func.func @row_max
// FOUR: arith.constant 128 : index
func.func @row_max(%x: memref<?x4x?xf32>, %m: memref<?x4xf32>) {
  linalg.reduce ins(%x : memref<?x4x?xf32>) outs(%m : memref<?x4xf32>) dimensions = [2]
    (%in: f32, %acc: f32) {
      %r = arith.maximumf %in, %acc : f32
      linalg.yield %r : f32
    }
  return
}

// -----

// A generic whose body computes before it sums (softmax's denominator,
// exp(x - max) with the max broadcast along the row): the body is cloned
// into the lanes' loop, the broadcast operand read at the row's index.
// CHECK-LABEL: func.func @exp_sum
// CHECK: gpu.launch
// CHECK: scf.for %[[K:.+]] = %{{.+}} to %{{.+}} step %c32 iter_args(%{{.+}} = %{{.+}}) -> (f32)
// CHECK-DAG: memref.load %arg0[%{{.+}}, %[[K]]] : memref<16x?xf32>
// CHECK-DAG: memref.load %arg1[%{{.+}}, %c0] : memref<16x1xf32>
// CHECK: arith.subf
// CHECK: math.exp
// CHECK: arith.addf
// CHECK-COUNT-5: gpu.shuffle  xor
func.func @exp_sum(%x: memref<16x?xf32>, %max: memref<16x1xf32>, %s: memref<16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                   affine_map<(d0, d1) -> (d0, 0)>,
                                   affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x, %max : memref<16x?xf32>, memref<16x1xf32>) outs(%s : memref<16xf32>) {
  ^bb0(%in: f32, %mx: f32, %acc: f32):
    %d = arith.subf %in, %mx : f32
    %e = math.exp %d : f32
    %r = arith.addf %e, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// A reduction over the outer dimension is left to a thread per column (a
// warp would read down a column; neighbouring threads on neighbouring
// columns coalesce), but with its loops interchanged so that the parallel
// one is outermost: converted as it stands, the reduction loop would be a
// host loop launching a kernel per row.
// CHECK: #[[$IN:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK: #[[$OUT:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @column
// CHECK-NOT: gpu.launch
// CHECK: linalg.generic {indexing_maps = [#[[$IN]], #[[$OUT]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME: ins(%{{.*}} : memref<64x16xf32>) outs(%{{.*}} : memref<16xf32>)
func.func @column(%x: memref<64x16xf32>, %col: memref<16xf32>) {
  linalg.reduce ins(%x : memref<64x16xf32>) outs(%col : memref<16xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  return
}

// -----

// Left alone: an f16 accumulator (the shuffles move 32-bit lanes), a body
// that reads its accumulator twice, a tensor op, and ops inside loops
// already mapped.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: gpu.launch
// CHECK-COUNT-2: linalg.reduce
// CHECK: linalg.generic
// CHECK: linalg.reduce
func.func @left_alone(%h: memref<8x64xf16>, %hs: memref<8xf16>,
                      %y: memref<8x64xf32>, %ys: memref<8xf32>,
                      %t: tensor<8x64xf32>, %ts: tensor<8xf32>) -> tensor<8xf32> {
  linalg.reduce ins(%h : memref<8x64xf16>) outs(%hs : memref<8xf16>) dimensions = [1]
    (%in: f16, %acc: f16) {
      %r = arith.addf %in, %acc : f16
      linalg.yield %r : f16
    }
  linalg.reduce ins(%y : memref<8x64xf32>) outs(%ys : memref<8xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %a = arith.mulf %acc, %acc : f32
      %r = arith.addf %in, %a : f32
      linalg.yield %r : f32
    }
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    %row = memref.subview %y[%i, 0] [1, 64] [1, 1] : memref<8x64xf32> to memref<64xf32, strided<[1], offset: ?>>
    %out = memref.subview %ys[%i] [1] [1] : memref<8xf32> to memref<f32, strided<[], offset: ?>>
    linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                    iterator_types = ["reduction"]}
        ins(%row : memref<64xf32, strided<[1], offset: ?>>) outs(%out : memref<f32, strided<[], offset: ?>>) {
    ^bb0(%in: f32, %acc: f32):
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
    scf.reduce
  }
  %r = linalg.reduce ins(%t : tensor<8x64xf32>) outs(%ts : tensor<8xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<8xf32>
}

// -----

// A whole-tensor sum (no row dimension): one row, one warp.
// CHECK-LABEL: func.func @total
// CHECK: gpu.launch
// CHECK: scf.for
// CHECK: memref.load %arg0[%{{.+}}] : memref<?xf32>
// CHECK: memref.store %{{.+}}, %arg1[] : memref<f32>
func.func @total(%x: memref<?xf32>, %s: memref<f32>) {
  linalg.reduce ins(%x : memref<?xf32>) outs(%s : memref<f32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  return
}
