// RUN: attnres-opt %s --split-input-file --attnres-to-gpu | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-to-gpu=min-ctas=0 | FileCheck %s --check-prefix=NEVER
// RUN: attnres-opt %s --split-input-file --attnres-to-gpu=min-ctas=8 | FileCheck %s --check-prefix=EIGHT

// Decode-sized launches split each row across CTAs along grid y: a kernel
// of partial sums into an f32 workspace [rows, splits, ...], then a kernel
// that combines them and finishes its part of the row. min-ctas=0 never
// splits.
// NEVER-NOT: _split

// One token of phase 1 (N = 3, S = 2, bf16, D = 4096: 16 warp slices of 32
// vectors): below min-ctas = 264 rows, so 16 CTAs per row (the most), the
// sums also one per source along grid z, each writing S + 1 = 3 floats; the
// unsplit kernel is not built.
// CHECK-LABEL: func.func @one_token
// CHECK-NOT: gpu.launch_func
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0
// CHECK: scf.if
// CHECK: %[[ENTRIES:.*]] = arith.muli %[[ROWS]], %[[SPLITS:c16[_0-9]*]] : index
// CHECK: %[[FLOATS:.*]] = arith.muli %[[ENTRIES]], %c9{{.*}} : index
// CHECK: %[[WS:.*]] = memref.alloc(%[[FLOATS]]) : memref<?xf32>
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2_split_sums blocks in (%[[ROWS]], %[[SPLITS]], %c3{{.*}}) threads in (%c32,
// CHECK-SAME: args(%{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<2x4096xf32>, %[[WS]] : memref<?xf32>)
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2_split blocks in (%[[ROWS]], %[[SPLITS]], %{{.*}}) threads in (%c128
// CHECK-SAME: args(%{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x4096xbf16>, %{{.*}} : f32, %{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?xf32>, %[[WS]] : memref<?xf32>)
// CHECK-NOT: gpu.launch_func
// CHECK: return
// CHECK: gpu.module @attnres_kernels
// CHECK-NOT: gpu.func @phase1_4096xbf16_n3_s2(
//
// The sums: a warp per CTA, the source chosen by grid z, a loop over the
// CTA's warp slices (y, y + splits, ...) carrying the squares and the S
// products, the warp's shuffles, lane 0 storing S + 1 floats.
// CHECK: gpu.func @phase1_4096xbf16_n3_s2_split_sums(%{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<2x4096xf32>, %[[SWS:.*]]: memref<?xf32>) kernel attributes {known_block_size = array<i32: 32, 1, 1>}
// CHECK: %[[SY:.*]] = gpu.block_id y
// CHECK: %[[SN:.*]] = gpu.grid_dim y
// CHECK: gpu.block_id z
// CHECK: arith.select
// CHECK: scf.for %{{.*}} = %[[SY]] to %c16{{.*}} step %[[SN]] iter_args(
// CHECK: vector.load {{.*}} : memref<?x4096xbf16>, vector<8xbf16>
// CHECK: vector.load {{.*}} : memref<2x4096xf32>, vector<8xf32>
// CHECK: vector.load {{.*}} : memref<2x4096xf32>, vector<8xf32>
// CHECK: scf.yield
// CHECK-COUNT-15: gpu.shuffle xor
// CHECK-NOT: gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-3: memref.store {{.*}}, %[[SWS]]
// CHECK: gpu.return
//
// The finish: each (layer, source) pair's logit from the 16 splits' sums
// (the first unguarded, the others loaded only below the launch's count,
// added in order), the softmax as the unsplit kernel has it, lse stored by
// CTA 0 of the row, then the outputs over the CTA's slices, spread over its
// four warps.
// CHECK: gpu.func @phase1_4096xbf16_n3_s2_split(%{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: f32, %{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?xf32>, %[[FWS:.*]]: memref<?xf32>) workgroup(%[[LOGITS:.*]] : memref<6xf32, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: %[[FY:.*]] = gpu.block_id y
// CHECK: %[[FN:.*]] = gpu.grid_dim y
// CHECK: scf.for
// CHECK: memref.load %[[FWS]]
// CHECK: arith.cmpi ult, %c1{{.*}}, %[[FN]]
// CHECK-NEXT: scf.if
// CHECK-NEXT: memref.load %[[FWS]]
// CHECK-COUNT-15: arith.addf {{.*}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.ftz.f"
// CHECK: memref.store {{.*}}, %[[LOGITS]]
// CHECK: gpu.barrier
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[FY]], %c0
// CHECK: %[[LEADER:.*]] = arith.andi %{{.*}}, %[[FIRST]]
// CHECK: scf.if %[[LEADER]]
// CHECK: memref.store
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: %[[WARP:.*]] = arith.divui %{{.*}}, %c32
// CHECK: %[[LANE:.*]] = arith.remui %{{.*}}, %c32
// CHECK: %[[WFIRST:.*]] = arith.muli %[[WARP]], %[[FN]]
// CHECK: %[[START:.*]] = arith.addi %[[FY]], %[[WFIRST]]
// CHECK: %[[STEP:.*]] = arith.muli %[[FN]], %c4
// CHECK: scf.for %{{.*}} = %[[START]] to %c16{{.*}} step %[[STEP]]
// CHECK: vector.load
// CHECK: vector.load
// CHECK: vector.load
// CHECK: scf.for
// CHECK: vector.store {{.*}} : memref<?x4096xbf16>, vector<8xbf16>
// CHECK: gpu.return
//
// With min-ctas = 8, a token takes 8 CTAs per row.
// EIGHT-LABEL: func.func @one_token
// EIGHT: %[[ENTRIES:.*]] = arith.muli %{{.*}}, %[[SPLITS:c8[_0-9]*]] : index
// EIGHT: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2_split_sums blocks in (%{{.*}}, %[[SPLITS]], %c3
func.func @one_token(%b0: tensor<4096xbf16>, %b1: tensor<4096xbf16>, %b2: tensor<4096xbf16>, %q: tensor<4096xbf16>, %k: tensor<4096xbf16>) -> (tensor<4096xbf16>, tensor<f32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q, %k) key_norms(%k, %q) epsilon = 1.0e-06 : tensor<4096xbf16>, tensor<4096xbf16>
  return %o#1, %lse#1 : tensor<4096xbf16>, tensor<f32>
}

// -----

// 64 rows: ceil(264 / 64) = 5 CTAs per row. 264 rows fill the GPU unsplit:
// the unsplit kernel only, as before.
// CHECK-LABEL: func.func @static_rows
// CHECK: %[[W:.*]] = memref.alloc({{.*}}) : memref<?xf32>
// CHECK: gpu.launch_func @attnres_kernels::@block_attn_res_4096xf32_n2_split_sums blocks in (%{{.*}}, %[[SPLITS:c5[_0-9]*]], %c2{{.*}}) threads in (%c32
// CHECK: gpu.launch_func @attnres_kernels::@block_attn_res_4096xf32_n2_split blocks in (%{{.*}}, %[[SPLITS]], %{{.*}}) threads in (%c128
// CHECK-SAME: args(%{{.*}} : memref<?x4096xf32>, %{{.*}} : memref<?x4096xf32>, %{{.*}} : f32, %{{.*}} : memref<?x4096xf32>, %[[W]] : memref<?xf32>)
// CHECK-NOT: _split
// CHECK: gpu.launch_func @attnres_kernels::@block_attn_res_4096xf32_n2 blocks
// CHECK-NOT: _split
// CHECK: return
// With min-ctas = 8 neither splits.
// EIGHT-LABEL: func.func @static_rows
// EIGHT-NOT: _split
// EIGHT: return
func.func @static_rows(%a: tensor<64x4096xf32>, %b: tensor<64x4096xf32>, %c: tensor<264x4096xf32>, %d: tensor<264x4096xf32>, %q: tensor<4096xf32>) -> (tensor<64x4096xf32>, tensor<264x4096xf32>) {
  %h = attnres.block_attn_res %a, %b query %q key_norm %q epsilon = 1.0e-06 : tensor<64x4096xf32>, tensor<4096xf32>
  %g = attnres.block_attn_res %c, %d query %q key_norm %q epsilon = 1.0e-06 : tensor<264x4096xf32>, tensor<4096xf32>
  return %h, %g : tensor<64x4096xf32>, tensor<264x4096xf32>
}

// -----

// A dynamic row count decides at run time: below min-ctas rows, a row takes
// min(16, ceil(264 / rows)) CTAs; otherwise the unsplit launch, unchanged.
// One artifact serves prefill and decode.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0
// CHECK: %[[ANY:.*]] = arith.cmpi ne, %[[ROWS]], %c0
// CHECK: scf.if %[[ANY]] {
// CHECK: %[[FEW:.*]] = arith.cmpi ult, %[[ROWS]], %[[MIN:c264[_0-9]*]] : index
// CHECK: scf.if %[[FEW]] {
// CHECK: %[[WANTED:.*]] = arith.ceildivui %[[MIN]], %[[ROWS]] : index
// CHECK: %[[SPLITS:.*]] = arith.minui %[[WANTED]], %c16
// CHECK: %[[ENTRIES:.*]] = arith.muli %[[ROWS]], %[[SPLITS]] : index
// CHECK: %[[FLOATS:.*]] = arith.muli %[[ENTRIES]], %c9
// CHECK: memref.alloc(%[[FLOATS]]) : memref<?xf32>
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2_split_sums blocks in (%[[ROWS]], %[[SPLITS]], %c3
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2_split blocks in (%[[ROWS]], %[[SPLITS]],
// CHECK: } else {
// CHECK: gpu.launch_func @attnres_kernels::@phase1_4096xbf16_n3_s2 blocks in (%[[ROWS]],
// CHECK: }
// CHECK: }
// CHECK-DAG: gpu.func @phase1_4096xbf16_n3_s2(
// CHECK-DAG: gpu.func @phase1_4096xbf16_n3_s2_split_sums(
// CHECK-DAG: gpu.func @phase1_4096xbf16_n3_s2_split(
// EIGHT-LABEL: func.func @dynamic_rows
// EIGHT: arith.cmpi ult, %{{.*}}, %[[MIN:c8[_0-9]*]] : index
// EIGHT: arith.ceildivui %[[MIN]]
func.func @dynamic_rows(%b0: tensor<?x4096xbf16>, %b1: tensor<?x4096xbf16>, %b2: tensor<?x4096xbf16>, %q: tensor<4096xbf16>, %k: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q, %k) key_norms(%k, %q) epsilon = 1.0e-06 : tensor<?x4096xbf16>, tensor<4096xbf16>
  return %o#1, %lse#1 : tensor<?x4096xbf16>, tensor<?xf32>
}

// -----

// Rows of fewer than 8 warp slices (1024 bf16 elements are 4) are never
// split: one CTA reads them in about the time a second launch costs.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: _split
// CHECK: gpu.launch_func @attnres_kernels::@phase1_1024xbf16_n2_s1 blocks
// CHECK-NOT: _split
func.func @narrow(%b0: tensor<1x1024xbf16>, %b1: tensor<1x1024xbf16>, %q: tensor<1024xbf16>) -> tensor<1x1024xbf16> {
  %o, %lse = attnres.phase1 %b0, %b1 queries(%q) key_norms(%q) epsilon = 1.0e-06 : tensor<1x1024xbf16>, tensor<1024xbf16>
  return %o : tensor<1x1024xbf16>
}

// -----

// Phase 2 (f32, D = 2048: 16 warp slices), a warp per CTA in both kernels.
// Its sums: the partial sum's squares and logit, and with the norm the
// state's squares and its products with the partial sum (4 floats per row
// and split; 2 without the norm), from which the finishing kernel gets the
// merged row's squares. The norm's two variants share their sums kernel;
// the finishing kernels take the unsplit kernel's arguments and the
// workspace.
// CHECK-LABEL: func.func @phase2
// CHECK: arith.muli %{{.*}}, %c4{{.*}} : index
// CHECK: %[[W1:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: gpu.launch_func @attnres_kernels::@phase2_2048xf32_norm_split_sums blocks in (%{{.*}}, %c16{{.*}}, %c1{{.*}}) threads in (%c32
// CHECK-SAME: args(%{{.*}} : memref<?x2048xf32>, %{{.*}} : memref<?x2048xf32>, %{{.*}} : memref<2048xf32>, %{{.*}} : memref<2048xf32>, %[[W1]] : memref<?xf32>)
// CHECK: gpu.launch_func @attnres_kernels::@phase2_2048xf32_norm_split blocks in (%{{.*}}, %c16{{.*}}, %c1{{.*}}) threads in (%c32
// CHECK-SAME: args(%{{.*}} : memref<?x2048xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?x2048xf32>, %{{.*}} : memref<2048xf32>, %{{.*}} : memref<2048xf32>, %{{.*}} : f32, %{{.*}} : memref<2048xf32>, %{{.*}} : f32, %{{.*}} : memref<?x2048xf32>, %{{.*}} : memref<?x2048xf32>, %[[W1]] : memref<?xf32>)
// CHECK: gpu.launch_func @attnres_kernels::@phase2_2048xf32_norm_split_sums
// CHECK: gpu.launch_func @attnres_kernels::@phase2_2048xf32_norm_only_split
// CHECK: arith.muli %{{.*}}, %c2{{.*}} : index
// CHECK: gpu.launch_func @attnres_kernels::@phase2_2048xf32_split_sums
// CHECK-SAME: args(%{{.*}} : memref<?x2048xf32>, %{{.*}} : memref<2048xf32>, %{{.*}} : memref<2048xf32>, %{{.*}} : memref<?xf32>)
// CHECK: gpu.launch_func @attnres_kernels::@phase2_2048xf32_split blocks
// CHECK-NOT: gpu.launch_func
// CHECK: return
// CHECK: gpu.module @attnres_kernels
// CHECK-NOT: gpu.func @phase2_2048xf32_norm(
// CHECK: gpu.func @phase2_2048xf32_split_sums(
// CHECK: gpu.func @phase2_2048xf32_split(
// CHECK: gpu.func @phase2_2048xf32_norm_split_sums(%{{.*}}: memref<?x2048xf32>, %{{.*}}: memref<?x2048xf32>, %{{.*}}: memref<2048xf32>, %{{.*}}: memref<2048xf32>, %{{.*}}: memref<?xf32>) kernel attributes {known_block_size = array<i32: 32, 1, 1>}
// CHECK: scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-4: vector.fma
// CHECK: scf.yield
// CHECK-COUNT-4: vector.reduction <add>
// CHECK-COUNT-20: gpu.shuffle xor
// CHECK-NOT: gpu.barrier
// CHECK-COUNT-4: memref.store
// CHECK: gpu.return
// The merged row's squares: (1 - a)^2 |s|^2 + 2 a (1 - a) s.p + a^2 |p|^2,
// kept from going negative.
// CHECK: gpu.func @phase2_2048xf32_norm_only_split(
// CHECK: gpu.func @phase2_2048xf32_norm_split(
// CHECK-NOT: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: %[[A:.*]] = arith.divf
// CHECK: %[[KEEP:.*]] = arith.subf %{{.*}}, %[[A]] : f32
// CHECK: %[[KEEP2:.*]] = arith.mulf %[[KEEP]], %[[KEEP]] : f32
// CHECK: %[[CROSS:.*]] = arith.mulf %[[KEEP]], %[[A]] : f32
// CHECK: %[[TWICE:.*]] = arith.addf %[[CROSS]], %[[CROSS]] : f32
// CHECK: %[[A2:.*]] = arith.mulf %[[A]], %[[A]] : f32
// CHECK: %[[T0:.*]] = arith.mulf %[[KEEP2]]
// CHECK: %[[T1:.*]] = arith.mulf %[[TWICE]]
// CHECK: %[[T2:.*]] = arith.mulf %[[A2]]
// CHECK: %[[S01:.*]] = arith.addf %[[T0]], %[[T1]] : f32
// CHECK: %[[S:.*]] = arith.addf %[[S01]], %[[T2]] : f32
// CHECK: arith.maximumf %[[S]]
// CHECK: llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.ftz.f"
// CHECK: scf.for
// CHECK: vector.fma
// CHECK: vector.store
// CHECK: vector.store
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return
func.func @phase2(%o: tensor<1x2048xf32>, %lse: tensor<1xf32>, %p: tensor<1x2048xf32>, %q: tensor<2048xf32>) -> (tensor<1x2048xf32>, tensor<1x2048xf32>, tensor<1x2048xf32>, tensor<1x2048xf32>) {
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 1.0e-05 : tensor<1x2048xf32>, tensor<2048xf32>
  %h2, %y2 = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 1.0e-05 : tensor<1x2048xf32>, tensor<2048xf32>
  %z = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<1x2048xf32>, tensor<2048xf32>
  return %h, %y, %y2, %z : tensor<1x2048xf32>, tensor<1x2048xf32>, tensor<1x2048xf32>, tensor<1x2048xf32>
}
