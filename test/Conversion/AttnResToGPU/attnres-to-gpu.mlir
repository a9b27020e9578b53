// The unsplit kernels, one CTA per row whatever the row count (min-ctas=0);
// split-d.mlir holds the split launches of decode sizes.
// RUN: attnres-opt %s --split-input-file --attnres-to-gpu=min-ctas=0 -verify-diagnostics | FileCheck %s
// RUN: not attnres-opt %s --split-input-file --attnres-to-gpu=max-vectors-per-thread=0 -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: error: max-vectors-per-thread must be at least 1
// RUN: not attnres-opt %s --split-input-file --attnres-to-gpu=min-ctas=-1 -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADCTAS
// BADCTAS: error: min-ctas must not be negative

// With one vector per thread, a row of 4096 bf16 takes 512 threads, but
// phase 1 at most 256 (two vectors each), which leaves its threads up to 255
// registers.
// RUN: attnres-opt %s --split-input-file --attnres-to-gpu="max-vectors-per-thread=1 min-ctas=0" -verify-diagnostics | FileCheck %s --check-prefix=ONE
// ONE: gpu.func @phase1_4096xbf16_n3_s2
// ONE-SAME: known_block_size = array<i32: 256, 1, 1>

// An RMSNorm over 64 f32 features: 16 vectors of 4, one per lane of a warp
// (the other half idle), four rows per block of 128 threads; the buffers
// are viewed as [rows, D].
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x64xf32>, %[[G:.*]]: tensor<64xf32>)
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only : tensor<2x8x64xf32> to memref<2x8x64xf32>
// CHECK: %[[XR:.*]] = memref.collapse_shape %[[XB]] {{\[}}[0, 1], [2]]
// CHECK: %[[XC:.*]] = memref.cast %[[XR]] : memref<16x64xf32> to memref<?x64xf32>
// CHECK: %[[Y:.*]] = memref.alloc() : memref<2x8x64xf32>
// CHECK: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK: %[[ROWS:.*]] = memref.dim %[[XC]]
// CHECK: %[[GRID:.*]] = arith.ceildivui %[[ROWS]], %c4
// CHECK: gpu.launch_func @attnres_kernels::@rms_norm_64xf32 blocks in (%[[GRID]], %{{.*}}, %{{.*}}) threads in (%c128,
// CHECK-SAME: args(%[[XC]] : memref<?x64xf32>, %{{.*}} : memref<64xf32>, %{{.*}} : memref<?x64xf32>, %[[EPS]] : f32)
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[Y]] restrict writable
// CHECK: return %[[T]]
// CHECK: gpu.module @attnres_kernels
// CHECK: gpu.func @rms_norm_64xf32(%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<64xf32>, %{{.*}}: memref<?x64xf32>, %{{.*}}: f32) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: vector.load {{.*}} {alignment = 16 : i64} : memref<?x64xf32>, vector<4xf32>
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.ftz.f"
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<?x64xf32>, vector<4xf32>
func.func @rms_norm(%x: tensor<2x8x64xf32>, %g: tensor<64xf32>) -> tensor<2x8x64xf32> {
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<2x8x64xf32>, tensor<64xf32>
  return %y : tensor<2x8x64xf32>
}

// -----

// Phase 1 of two layers over three bf16 blocks of 4096: a row per block of
// 128 threads, 8-element vectors, the warps' sums meeting in shared memory
// after the shuffles; lse comes out in f32. Ops of one signature share a
// kernel. The queries times the key norms (run-time values here) are one
// [S, D] f32 operand, formed on the host side by a linalg op; the outputs
// and lse are one [S * rows, D] and one [S * rows] buffer, each layer's
// result a view of them.
// CHECK-LABEL: func.func @phase1
// CHECK-SAME: (%[[B0:[^:]*]]: tensor<4x4096xbf16>, %[[B1:[^:]*]]: tensor<4x4096xbf16>, %[[B2:[^:]*]]: tensor<4x4096xbf16>, %[[Q:[^:]*]]: tensor<4096xbf16>, %[[K:[^:]*]]: tensor<4096xbf16>)
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<2x4096xf32>
// CHECK: %[[SLICE:.*]] = tensor.extract_slice %[[EMPTY]][0, 0] [2, 4096] [1, 1]
// CHECK: %[[PRODUCTS:.*]] = linalg.generic {{.*}} ins(%[[Q]], %[[K]], %[[K]], %[[Q]] : {{.*}}) outs(%[[SLICE]] : tensor<2x4096xf32>)
// CHECK: linalg.index 0
// CHECK: arith.select
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: arith.select
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: arith.mulf
// CHECK: %[[W:.*]] = tensor.insert_slice %[[PRODUCTS]] into %[[EMPTY]][0, 0] [2, 4096] [1, 1]
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only : tensor<2x4096xf32> to memref<2x4096xf32>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<?xi8>
// CHECK: %[[O0:.*]] = memref.view %[[OUT]][%{{.*}}][] : memref<?xi8> to memref<4x4096xbf16>
// CHECK: %[[O1:.*]] = memref.view %[[OUT]][%{{.*}}][] : memref<?xi8> to memref<4x4096xbf16>
// CHECK: %[[OS:.*]] = memref.view %[[OUT]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?x4096xbf16>
// CHECK: %[[LSE:.*]] = memref.alloc(%{{.*}}) : memref<?xi8>
// CHECK: %[[L0:.*]] = memref.view %[[LSE]][%{{.*}}][] : memref<?xi8> to memref<4xf32>
// CHECK: %[[L1:.*]] = memref.view %[[LSE]][%{{.*}}][] : memref<?xi8> to memref<4xf32>
// CHECK: %[[LS:.*]] = memref.view %[[LSE]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?xf32>
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2 blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%c128,
// CHECK-SAME: args(%{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x4096xbf16>, %[[WB]] : memref<2x4096xf32>, %{{.*}} : f32, %[[OS]] : memref<?x4096xbf16>, %[[LS]] : memref<?xf32>)
// CHECK: %[[T0:.*]] = bufferization.to_tensor %[[O0]] restrict writable
// CHECK: bufferization.to_tensor %[[O1]] restrict writable
// CHECK: bufferization.to_tensor %[[L0]] restrict writable
// CHECK: %[[TL1:.*]] = bufferization.to_tensor %[[L1]] restrict writable
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2
// CHECK: return %[[T0]], %[[TL1]],
// CHECK: gpu.module @attnres_kernels
// CHECK: gpu.func @phase1_4096xbf16_n3_s2(%{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<2x4096xf32>, %{{.*}}: f32, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?xf32>)
// CHECK-SAME: workgroup(%{{.*}} : memref<18xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// Pass 1 visits the blocks by a loop, choosing the block with selects, and
// loads one f32 vector per layer and chunk.
// CHECK: scf.for %[[I:.*]] = %c0{{.*}} to %c3{{.*}} step %c1
// CHECK: arith.select
// CHECK: vector.load {{.*}} : memref<?x4096xbf16>, vector<8xbf16>
// CHECK: arith.extf {{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: vector.load %{{.*}}[%c0{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<2x4096xf32>, vector<8xf32>
// CHECK: vector.load %{{.*}}[%c1{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<2x4096xf32>, vector<8xf32>
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK: memref.store {{.*}} : memref<?xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store {{.*}} : memref<?x4096xbf16>, vector<8xbf16>
// CHECK-NOT: gpu.func
func.func @phase1(%b0: tensor<4x4096xbf16>, %b1: tensor<4x4096xbf16>, %b2: tensor<4x4096xbf16>, %q: tensor<4096xbf16>, %k: tensor<4096xbf16>) -> (tensor<4x4096xbf16>, tensor<4xf32>, tensor<4x4096xbf16>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q, %k) key_norms(%k, %q) epsilon = 1.0e-06 : tensor<4x4096xbf16>, tensor<4096xbf16>
  %p:2, %plse:2 = attnres.phase1 %b2, %b1, %b0 queries(%q, %q) key_norms(%k, %k) epsilon = 1.0e-05 : tensor<4x4096xbf16>, tensor<4096xbf16>
  return %o#0, %lse#1, %p#1 : tensor<4x4096xbf16>, tensor<4xf32>, tensor<4x4096xbf16>
}

// -----

// Constant queries and key norms (a model's weights) fold into one constant
// of their f32 products, rounded as the kernel would (bf16 1.5 * 3.0 = 4.5,
// 0 * -1 = -0); zero pseudo-queries times non-negative key norms stay a
// splat. Token axes of run-time size multiply
// into the packed buffers' rows.
// CHECK-LABEL: func.func @phase1_constants
// CHECK-NOT: linalg.generic
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[4.500000e+00, -1.000000e+00, 0.000000e+00, 2.500000e-01, 4.500000e+00, -1.000000e+00, 0.000000e+00, 2.500000e-01], [0.000000e+00, -0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, -0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<2x8xf32>
// CHECK: bufferization.to_buffer %[[W]] read_only : tensor<2x8xf32> to memref<2x8xf32>
// CHECK: %[[D1:.*]] = tensor.dim %{{.*}}, %c1
// CHECK: %[[ROWS:.*]] = arith.muli %[[D1]], %c2
// CHECK: %[[BYTES:.*]] = arith.muli %[[D1]], %c32
// CHECK: %[[TOTAL:.*]] = arith.muli %[[BYTES]], %c2
// CHECK: memref.alloc(%[[TOTAL]]) : memref<?xi8>
// CHECK: memref.view %{{.*}}[%{{.*}}][%[[D1]]] : memref<?xi8> to memref<2x?x8xbf16>
// CHECK: memref.view %{{.*}}[%{{.*}}][%[[D1]]] : memref<?xi8> to memref<2x?x8xbf16>
// CHECK: %[[STACKED:.*]] = arith.muli %[[ROWS]], %c2
// CHECK: memref.view %{{.*}}[%{{.*}}][%[[STACKED]]] : memref<?xi8> to memref<?x8xbf16>
// CHECK: gpu.launch_func @attnres_kernels::@phase1_8xbf16_n2_s2
// CHECK: %[[ZW:.*]] = arith.constant dense<0.000000e+00> : tensor<1x8xf32>
// CHECK: gpu.launch_func @attnres_kernels::@block_attn_res_8xbf16_n2 {{.*}} args({{.*}}, %{{.*}} : memref<1x8xf32>,
func.func @phase1_constants(%b0: tensor<2x?x8xbf16>, %b1: tensor<2x?x8xbf16>) -> (tensor<2x?x8xbf16>, tensor<2x?x8xbf16>) {
  %q = arith.constant dense<[1.5, 1.0, 0.0, 0.5, 1.5, 1.0, 0.0, 0.5]> : tensor<8xbf16>
  %k = arith.constant dense<[3.0, -1.0, 7.0, 0.5, 3.0, -1.0, 7.0, 0.5]> : tensor<8xbf16>
  %z = arith.constant dense<0.0> : tensor<8xbf16>
  %o:2, %lse:2 = attnres.phase1 %b0, %b1 queries(%q, %z) key_norms(%k, %k) epsilon = 1.0e-06 : tensor<2x?x8xbf16>, tensor<8xbf16>
  %a = attnres.block_attn_res %b0, %b1 query %z key_norm %q epsilon = 1.0e-06 : tensor<2x?x8xbf16>, tensor<8xbf16>
  return %o#1, %a : tensor<2x?x8xbf16>, tensor<2x?x8xbf16>
}

// -----

// Phase 2 with its fused norm, the merged row unread: only the normalized
// row is written.
// CHECK-LABEL: func.func @phase2_norm_only
// CHECK: gpu.launch_func @attnres_kernels::@phase2_96xf16_norm_only
// CHECK-SAME: args(%{{.*}} : memref<?x96xf16>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?x96xf16>, %{{.*}} : memref<96xf16>, %{{.*}} : memref<96xf16>, %{{.*}} : f32, %{{.*}} : memref<96xf16>, %{{.*}} : f32, %{{.*}} : memref<?x96xf16>)
// CHECK: gpu.func @phase2_96xf16_norm_only
// 96 f16 = 12 vectors of 8: the lanes past 12 load zeros and store nothing.
// The state and lse are loaded with the partial sum, before its reduction.
// CHECK: scf.if
// CHECK: vector.load
// CHECK: } else {
// CHECK: arith.constant dense<0.000000e+00> : vector<8xf32>
// CHECK: vector.load %arg0
// CHECK: memref.load %arg1
// CHECK: gpu.shuffle xor
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK-NOT: %arg0
// CHECK: gpu.return
func.func @phase2_norm_only(%o: tensor<1x3x96xf16>, %lse: tensor<1x3xf32>, %p: tensor<1x3x96xf16>, %q: tensor<96xf16>) -> tensor<1x3x96xf16> {
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 1.0e-05 : tensor<1x3x96xf16>, tensor<96xf16>
  return %y : tensor<1x3x96xf16>
}

// -----

// A phase 2 whose merged row is read writes it too; without the norm it is
// the only output. Dynamic batch sizes come from the buffers.
// CHECK-LABEL: func.func @phase2_dynamic
// CHECK: gpu.launch_func @attnres_kernels::@phase2_64xf32_norm
// CHECK: gpu.launch_func @attnres_kernels::@phase2_64xf32 blocks
// CHECK-DAG: gpu.func @phase2_64xf32_norm(
// CHECK-DAG: gpu.func @phase2_64xf32(
func.func @phase2_dynamic(%o: tensor<?x64xf32>, %lse: tensor<?xf32>, %p: tensor<?x64xf32>, %q: tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 1.0e-05 : tensor<?x64xf32>, tensor<64xf32>
  %z = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<?x64xf32>, tensor<64xf32>
  return %h, %y, %z : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// The one-shot aggregation is phase 1's kernel for one layer, without lse.
// A single token (rank-1 sources) is one row.
// CHECK-LABEL: func.func @block_attn_res
// CHECK: memref.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [1, 64] : memref<64xf32> into memref<1x64xf32>
// CHECK: gpu.launch_func @attnres_kernels::@block_attn_res_64xf32_n2
// CHECK: gpu.func @block_attn_res_64xf32_n2(%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<?x64xf32>, %{{.*}}: memref<1x64xf32>, %{{.*}}: f32, %{{.*}}: memref<?x64xf32>) workgroup
func.func @block_attn_res(%a: tensor<64xf32>, %b: tensor<64xf32>, %q: tensor<64xf32>) -> tensor<64xf32> {
  %h = attnres.block_attn_res %a, %b query %q key_norm %q epsilon = 1.0e-06 : tensor<64xf32>, tensor<64xf32>
  return %h : tensor<64xf32>
}

// -----

// f64 has no kernel: an error on a GPU target, not a silent CPU fallback.
func.func @f64(%x: tensor<4x64xf64>, %g: tensor<64xf64>) -> tensor<4x64xf64> {
  // expected-error @+1 {{cannot lower to a GPU kernel: the kernels take f32, f16 or bf16 tensors with a static last dimension}}
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<4x64xf64>, tensor<64xf64>
  return %y : tensor<4x64xf64>
}
