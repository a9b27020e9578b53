// f16 and bf16 products with the GPU's half-precision callee: the calls of
// cublasGemmStridedBatchedEx (f32 compute). The CPU's default (no
// half-callee) leaves them as they were: the importer's widened f32
// products are sgemm calls, products on half buffers linalg ops.
// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas="callee=attnres_cublas_sgemm_batched half-callee=attnres_cublas_gemm_batched_ex contiguous-operands=true" | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-linalg-to-blas | FileCheck %s --check-prefix=CPU --implicit-check-not=gemm_batched_ex

// What the importer makes of a half-precision MatMul: operands widened into
// fresh buffers, an f32 product, the result narrowed. The product reads the
// half operands and writes the narrowed buffer; no f32 copy is left.

// CHECK-LABEL: func.func @importer_f16
// CHECK-SAME:    (%[[A:.*]]: memref<2x16x32xf16>, %[[B:.*]]: memref<2x32x8xf16>)
// CHECK-NOT:     memref<{{.*}}xf32>
// CHECK-DAG:     %[[C:.*]] = memref.alloc() : memref<2x16x8xf16>
// CHECK-DAG:     %[[CA:.*]] = memref.cast %[[A]] : memref<2x16x32xf16> to memref<?x?x?xf16, strided<[?, ?, ?], offset: ?>>
// CHECK-DAG:     %[[CB:.*]] = memref.cast %[[B]]
// CHECK-DAG:     %[[CC:.*]] = memref.cast %[[C]]
// CHECK:         call @attnres_cublas_gemm_batched_ex_f16_f16_overwrite(%[[CA]], %[[CB]], %[[CC]]) : (memref<?x?x?xf16, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf16, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf16, strided<[?, ?, ?], offset: ?>>) -> ()
// CHECK-NOT:     linalg.
// CHECK-NOT:     memref<{{.*}}xf32>
// CHECK:         return %[[C]]
// CPU-LABEL: func.func @importer_f16
// CPU-COUNT-2: arith.extf
// CPU:         call @attnres_sgemm_batched_overwrite(
// CPU:         arith.truncf
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @importer_f16(%a: memref<2x16x32xf16>, %b: memref<2x32x8xf16>) -> memref<2x16x8xf16> {
  %zero = arith.constant 0.0 : f32
  %wa = memref.alloc() : memref<2x16x32xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%a : memref<2x16x32xf16>) outs(%wa : memref<2x16x32xf32>) {
  ^bb0(%in: f16, %out: f32):
    %e = arith.extf %in : f16 to f32
    linalg.yield %e : f32
  }
  %wb = memref.alloc() : memref<2x32x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%b : memref<2x32x8xf16>) outs(%wb : memref<2x32x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %e = arith.extf %in : f16 to f32
    linalg.yield %e : f32
  }
  %p = memref.alloc() : memref<2x16x8xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<2x16x8xf32>)
  linalg.batch_matmul ins(%wa, %wb : memref<2x16x32xf32>, memref<2x32x8xf32>) outs(%p : memref<2x16x8xf32>)
  memref.dealloc %wa : memref<2x16x32xf32>
  memref.dealloc %wb : memref<2x32x8xf32>
  %c = memref.alloc() : memref<2x16x8xf16>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%p : memref<2x16x8xf32>) outs(%c : memref<2x16x8xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  }
  memref.dealloc %p : memref<2x16x8xf32>
  return %c : memref<2x16x8xf16>
}

// -----

// bf16, with the result read in f32 (not only narrowed): C stays f32. One
// operand is widened by the op computing it (elementwise fusion merged the
// widening into it), which writes a bf16 buffer instead.

// CHECK-LABEL: func.func @f32_result_bf16
// CHECK:         %[[H:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x8xbf16>
// CHECK:         linalg.generic
// CHECK-SAME:      outs(%[[H]] : memref<1x4x8xbf16>)
// CHECK:           arith.addf {{.*}} : bf16
// CHECK-NOT:       arith.extf
// CHECK:         call @attnres_cublas_gemm_batched_ex_bf16_f32_overwrite({{.*}}) : (memref<?x?x?xbf16, {{.*}}>, memref<?x?x?xbf16, {{.*}}>, memref<?x?x?xf32, {{.*}}>) -> ()
// CHECK-NOT:     f32>
// CHECK:         memref.dealloc %[[H]]
// CHECK-NOT:     f32>
// CHECK:         return
// CPU-LABEL: func.func @f32_result_bf16
// CPU-COUNT-2: arith.extf
// CPU:         call @attnres_sgemm_batched_overwrite(
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @f32_result_bf16(%x: memref<1x4x8xbf16>, %y: memref<1x4x8xbf16>, %w: memref<1x8x2xbf16>) -> memref<1x4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %wa = memref.alloc() {alignment = 64 : i64} : memref<1x4x8xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %y : memref<1x4x8xbf16>, memref<1x4x8xbf16>) outs(%wa : memref<1x4x8xf32>) {
  ^bb0(%in: bf16, %in2: bf16, %out: f32):
    %s = arith.addf %in, %in2 : bf16
    %e = arith.extf %s : bf16 to f32
    linalg.yield %e : f32
  }
  %wb = memref.alloc() : memref<1x8x2xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%w : memref<1x8x2xbf16>) outs(%wb : memref<1x8x2xf32>) {
  ^bb0(%in: bf16, %out: f32):
    %e = arith.extf %in : bf16 to f32
    linalg.yield %e : f32
  }
  %p = memref.alloc() : memref<1x4x2xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<1x4x2xf32>)
  linalg.batch_matmul ins(%wa, %wb : memref<1x4x8xf32>, memref<1x8x2xf32>) outs(%p : memref<1x4x2xf32>)
  memref.dealloc %wa : memref<1x4x8xf32>
  memref.dealloc %wb : memref<1x8x2xf32>
  return %p : memref<1x4x2xf32>
}

// -----

// Products on half buffers throughout: a call that accumulates into C (the
// op adds to its output), and one that overwrites a zero-filled C.

// CHECK-LABEL: func.func @half_products
// CHECK:         call @attnres_cublas_gemm_batched_ex_bf16_bf16({{.*}}) : (memref<?x?x?xbf16, {{.*}}>, memref<?x?x?xbf16, {{.*}}>, memref<?x?x?xbf16, {{.*}}>) -> ()
// CHECK:         call @attnres_cublas_gemm_batched_ex_f16_f16_overwrite(
// CHECK-NOT:     linalg.
// CPU-LABEL: func.func @half_products
// CPU-COUNT-2: linalg.batch_matmul
func.func @half_products(%a: memref<1x4x8xbf16>, %b: memref<1x8x2xbf16>, %c: memref<1x4x2xbf16>,
                         %d: memref<3x4x8xf16>, %e: memref<3x8x2xf16>) -> memref<3x4x2xf16> {
  linalg.batch_matmul ins(%a, %b : memref<1x4x8xbf16>, memref<1x8x2xbf16>) outs(%c : memref<1x4x2xbf16>)
  %zero = arith.constant 0.0 : f16
  %f = memref.alloc() : memref<3x4x2xf16>
  linalg.fill ins(%zero : f16) outs(%f : memref<3x4x2xf16>)
  linalg.batch_matmul ins(%d, %e : memref<3x4x8xf16>, memref<3x8x2xf16>) outs(%f : memref<3x4x2xf16>)
  return %f : memref<3x4x2xf16>
}

// -----

// Left as they are: one operand is f32 (cuBLAS's A and B have one type).

// CHECK-LABEL: func.func @kept
// CHECK:         linalg.generic
// CHECK:         arith.extf
// CHECK:         call @attnres_cublas_sgemm_batched(
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @kept(%x: memref<1x4x8xf16>, %w: memref<1x8x2xf32>, %o: memref<1x4x2xf32>) {
  %wa = memref.alloc() : memref<1x4x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : memref<1x4x8xf16>) outs(%wa : memref<1x4x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %e = arith.extf %in : f16 to f32
    linalg.yield %e : f32
  }
  linalg.batch_matmul ins(%wa, %w : memref<1x4x8xf32>, memref<1x8x2xf32>) outs(%o : memref<1x4x2xf32>)
  memref.dealloc %wa : memref<1x4x8xf32>
  return
}
