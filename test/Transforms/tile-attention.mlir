// RUN: attnres-opt %s --split-input-file --attnres-tile-attention | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-tile-attention=cache-bytes=8388608 | FileCheck %s --check-prefix=FITS

// Attention as bufferization leaves it, 4 heads, 256 queries and keys. The
// chain writes the scores, the row maxima and the output: 5136 bytes per
// query row, 1.3 MB in all, more than 1 MiB. It runs in tiles of 128 rows,
// the largest divisor of 256 whose rows fit: every buffer the chain indexes
// by rows is a subview of the tile (Q, the mask, the scores, the maxima,
// the output), K and V are read whole, the fill of the second product's
// output and the allocations move before the loop, the deallocations after
// it. With cache-bytes=8 MiB everything fits: no loop.

// CHECK-LABEL: func.func @attention
// CHECK-SAME:    (%[[Q:.+]]: memref<4x256x64xf32>, %[[K:.+]]: memref<4x64x256xf32>, %[[V:.+]]: memref<4x256x64xf32>, %[[MASK:.+]]: memref<1x1x256x256xi1>)
// CHECK-DAG:     %[[S:.+]] = memref.alloc() {{.*}} : memref<4x256x256xf32>
// CHECK-DAG:     %[[MAX:.+]] = memref.alloc() {{.*}} : memref<1x4x256xf32>
// CHECK-DAG:     %[[O:.+]] = memref.alloc() {{.*}} : memref<4x256x64xf32>
// CHECK:         linalg.fill ins(%{{.*}} : f32) outs(%[[O]] : memref<4x256x64xf32>)
// CHECK:         scf.for %[[R:.+]] = %{{.*}} to %{{.*}} step %[[STEP:.+]] {
// CHECK:           %[[SR:.+]] = memref.subview %[[S]][0, %[[R]], 0] [4, 128, 256] [1, 1, 1]
// CHECK:           linalg.fill ins(%{{.*}} : f32) outs(%[[SR]] :
// CHECK:           %[[QR:.+]] = memref.subview %[[Q]][0, %[[R]], 0] [4, 128, 64] [1, 1, 1]
// CHECK:           linalg.batch_matmul ins(%[[QR]], %[[K]] : memref<4x128x64xf32, strided<[16384, 64, 1], offset: ?>>, memref<4x64x256xf32>)
// CHECK:           memref.subview %[[MASK]][0, 0, %[[R]], 0] [1, 1, 128, 256] [1, 1, 1, 1]
// CHECK:           linalg.generic
// CHECK:           %[[MR:.+]] = memref.subview %[[MAX]][0, 0, %[[R]]] [1, 4, 128] [1, 1, 1]
// CHECK:           linalg.reduce ins(%{{.*}} : memref<1x4x128x256xf32, {{.*}}>) outs(%[[MR]] :
// CHECK:           linalg.generic
// CHECK:           %[[OR:.+]] = memref.subview %[[O]][0, %[[R]], 0] [4, 128, 64] [1, 1, 1]
// CHECK:           linalg.batch_matmul ins(%{{.*}}, %[[V]] : memref<4x128x256xf32, {{.*}}>, memref<4x256x64xf32>) outs(%[[OR]] :
// CHECK:         }
// CHECK:         memref.dealloc %[[S]]
// CHECK:         memref.dealloc %[[MAX]]
// CHECK:         return %[[O]]

// FITS-LABEL: func.func @attention
// FITS-NOT:     scf.for
// FITS:         return
func.func @attention(%q: memref<4x256x64xf32>, %k: memref<4x64x256xf32>,
                     %v: memref<4x256x64xf32>, %mask: memref<1x1x256x256xi1>)
    -> memref<4x256x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant -3.40282347E+38 : f32
  %scale = arith.constant 0.125 : f32
  %s = memref.alloc() {alignment = 64 : i64} : memref<4x256x256xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<4x256x256xf32>)
  linalg.batch_matmul ins(%q, %k : memref<4x256x64xf32>, memref<4x64x256xf32>) outs(%s : memref<4x256x256xf32>)
  %s4 = memref.expand_shape %s [[0, 1], [2], [3]] output_shape [1, 4, 256, 256] : memref<4x256x256xf32> into memref<1x4x256x256xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%mask : memref<1x1x256x256xi1>) outs(%s4 : memref<1x4x256x256xf32>) {
  ^bb0(%m: i1, %x: f32):
    %y = arith.mulf %x, %scale : f32
    %z = arith.select %m, %ninf, %y : f32
    linalg.yield %z : f32
  }
  %max = memref.alloc() {alignment = 64 : i64} : memref<1x4x256xf32>
  linalg.fill ins(%ninf : f32) outs(%max : memref<1x4x256xf32>)
  linalg.reduce ins(%s4 : memref<1x4x256x256xf32>) outs(%max : memref<1x4x256xf32>) dimensions = [3]
    (%in: f32, %init: f32) {
      %m = arith.maximumf %in, %init : f32
      linalg.yield %m : f32
    }
  %max4 = memref.expand_shape %max [[0], [1], [2, 3]] output_shape [1, 4, 256, 1] : memref<1x4x256xf32> into memref<1x4x256x1xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%max4 : memref<1x4x256x1xf32>) outs(%s4 : memref<1x4x256x256xf32>) {
  ^bb0(%m: f32, %x: f32):
    %d = arith.subf %x, %m : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  }
  %o = memref.alloc() {alignment = 64 : i64} : memref<4x256x64xf32>
  linalg.fill ins(%zero : f32) outs(%o : memref<4x256x64xf32>)
  linalg.batch_matmul ins(%s, %v : memref<4x256x256xf32>, memref<4x256x64xf32>) outs(%o : memref<4x256x64xf32>)
  memref.dealloc %s : memref<4x256x256xf32>
  memref.dealloc %max : memref<1x4x256xf32>
  return %o : memref<4x256x64xf32>
}

// -----

// Left alone: an op reads the scores whole (a reduction over the query
// rows) before the second product.

// CHECK-LABEL: func.func @column_sums
// CHECK-NOT:     scf.for
// CHECK:         return
func.func @column_sums(%q: memref<4x256x64xf32>, %k: memref<4x64x256xf32>,
                       %v: memref<4x256x64xf32>) -> memref<4x256x64xf32> {
  %zero = arith.constant 0.0 : f32
  %s = memref.alloc() : memref<4x256x256xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<4x256x256xf32>)
  linalg.batch_matmul ins(%q, %k : memref<4x256x64xf32>, memref<4x64x256xf32>) outs(%s : memref<4x256x256xf32>)
  %c = memref.alloc() : memref<4x256xf32>
  linalg.reduce ins(%s : memref<4x256x256xf32>) outs(%c : memref<4x256xf32>) dimensions = [1]
    (%in: f32, %init: f32) {
      %a = arith.addf %in, %init : f32
      linalg.yield %a : f32
    }
  %o = memref.alloc() : memref<4x256x64xf32>
  linalg.batch_matmul ins(%s, %v : memref<4x256x256xf32>, memref<4x256x64xf32>) outs(%o : memref<4x256x64xf32>)
  return %o : memref<4x256x64xf32>
}

// -----

// Left alone: the chain writes a buffer it did not allocate (an argument,
// which may be seen elsewhere).

// CHECK-LABEL: func.func @writes_argument
// CHECK-NOT:     scf.for
// CHECK:         return
func.func @writes_argument(%q: memref<4x256x64xf32>, %k: memref<4x64x256xf32>,
                           %v: memref<4x256x64xf32>, %s: memref<4x256x256xf32>)
    -> memref<4x256x64xf32> {
  linalg.batch_matmul ins(%q, %k : memref<4x256x64xf32>, memref<4x64x256xf32>) outs(%s : memref<4x256x256xf32>)
  %o = memref.alloc() : memref<4x256x64xf32>
  linalg.batch_matmul ins(%s, %v : memref<4x256x256xf32>, memref<4x256x64xf32>) outs(%o : memref<4x256x64xf32>)
  return %o : memref<4x256x64xf32>
}
