// The kernels' PTX and ptxas's account of their resources, for sm_90 and
// sm_80: 128-bit vector loads and stores, warp shuffles for the row sums, a
// barrier only where a row spans several warps, and nothing in local memory
// (no stack frame, no spills). The token count is dynamic, so each op also
// has the split kernels of decode sizes (see split-d.mlir).
// phase1-bench-ptx.test holds phase 1 at the benchmark's shapes,
// phase1-deep-ptx.test at 32 and 64 layers, split-d-ptx.test the split
// kernels at decode shapes.
//
// RUN: attnres-opt %s --attnres-gpu-pipeline="chip=sm_90 features=+ptx80 format=isa" -o %t.sm90.mlir
// RUN: %python %attnres_src_root/scripts/extract_ptx.py %t.sm90.mlir %t.sm90
// RUN: FileCheck %s --input-file=%t.sm90/attnres_kernels.ptx --check-prefixes=PTX,SM90
// RUN: FileCheck %s --input-file=%t.sm90/attnres_kernels.ptx --check-prefix=NOLOCAL
// RUN: ptxas -arch=sm_90 -v %t.sm90/attnres_kernels.ptx -o %t.sm90.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
//
// RUN: attnres-opt %s --attnres-gpu-pipeline="chip=sm_80 features=+ptx70 format=isa" -o %t.sm80.mlir
// RUN: %python %attnres_src_root/scripts/extract_ptx.py %t.sm80.mlir %t.sm80
// RUN: FileCheck %s --input-file=%t.sm80/attnres_kernels.ptx --check-prefixes=PTX,SM80
// RUN: ptxas -arch=sm_80 -v %t.sm80/attnres_kernels.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// REQUIRES: ptxas

// SM90: .target sm_90
// SM80: .target sm_80

// The kernels appear in the PTX in this order.
// A warp per row of 256 f16: 32 lanes of one 8-element vector, no barrier.
// PTX-LABEL: .entry rms_norm_256xf16(
// PTX-NOT: bar.sync
// PTX: ld.global.v4.b32
// PTX-NOT: bar.sync
// PTX: shfl.sync.bfly.b32
// PTX-NOT: bar.sync
// PTX: ret;

// PTX-LABEL: .entry rms_norm_2048xf32(
// PTX: .maxntid 128, 1, 1
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32
// PTX: st.global.v4.b32

// Phase 2 loads the partial sum, the state, q and k (4 chunks of each) and
// lse before the first reduction; after it, only the norm's gain.
// PTX-LABEL: .entry phase2_4096xbf16_norm_only(
// PTX-COUNT-16: ld.global.v4.b32
// PTX-NOT: {{shfl|bar}}
// PTX: ld.global.b32
// PTX-NOT: {{ld.global|bar.sync}}
// PTX: shfl.sync.bfly.b32
// PTX-NOT: ld.global
// PTX: bar.sync 0;
// PTX-COUNT-4: ld.global.v4.b32
// PTX-NOT: ld.global
// PTX: ret;

// Split at decode: a warp's partial sums of the partial sum and the state,
// stored by lane 0, then the merge and the norm from every split's sums
// (scalar loads of the workspace), with no barrier in either.
// PTX-LABEL: .entry phase2_4096xbf16_norm_split_sums(
// PTX-NOT: bar.sync
// PTX: ld.global.v4.b32
// PTX-NOT: bar.sync
// PTX: shfl.sync.bfly.b32
// PTX-NOT: bar.sync
// PTX: st.global.b32
// PTX-NOT: bar.sync
// PTX: ret;
// PTX-LABEL: .entry phase2_4096xbf16_norm_only_split(
// PTX-NOT: bar.sync
// PTX: ld.global.b32
// PTX-NOT: bar.sync
// PTX: ex2.approx.ftz.f32
// PTX-NOT: bar.sync
// PTX: rsqrt.approx.ftz.f32
// PTX-NOT: bar.sync
// PTX: ld.global.v4.b32
// PTX-NOT: bar.sync
// PTX: st.global.v4.b32
// PTX-NOT: bar.sync
// PTX: ret;

// PTX-LABEL: .entry phase1_4096xbf16_n8_s4(
// PTX: .maxntid 128, 1, 1
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32 {{.*}}, 16, 31, -1;
// PTX: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// PTX: bar.sync 0;
// PTX: ex2.approx.ftz.f32
// PTX: lg2.approx.ftz.f32
// PTX: st.global.b32
// PTX: st.global.v4.b32
// PTX: ret;

// Split at decode: the partial sums a warp per source, no barrier; the
// finishing kernel's logits from the workspace, then the softmax as above.
// PTX-LABEL: .entry phase1_4096xbf16_n8_s4_split_sums(
// PTX: .maxntid 32, 1, 1
// PTX-NOT: bar.sync
// PTX: ld.global.v4.b32
// PTX-NOT: bar.sync
// PTX: shfl.sync.bfly.b32
// PTX-NOT: bar.sync
// PTX: st.global.b32
// PTX-NOT: bar.sync
// PTX: ret;
// PTX-LABEL: .entry phase1_4096xbf16_n8_s4_split(
// PTX: .maxntid 128, 1, 1
// PTX: ld.global.b32
// PTX: rsqrt.approx.ftz.f32
// PTX: bar.sync 0;
// PTX: lg2.approx.ftz.f32
// PTX: st.global.b32
// PTX: ld.global.v4.b32
// PTX: st.global.v4.b32
// PTX: ret;

// NOLOCAL-NOT: .local
// NOLOCAL-NOT: ld.local
// NOLOCAL-NOT: st.local

// ptxas reports the kernels in this order.
// PTXAS: Compiling entry function 'phase1_4096xbf16_n8_s4_split'
// PTXAS-NEXT: Function properties for phase1_4096xbf16_n8_s4_split
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 1 barriers
// PTXAS: Compiling entry function 'phase1_4096xbf16_n8_s4_split_sums'
// PTXAS-NEXT: Function properties for phase1_4096xbf16_n8_s4_split_sums
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 0 barriers
// PTXAS: Compiling entry function 'phase1_4096xbf16_n8_s4'
// PTXAS-NEXT: Function properties for phase1_4096xbf16_n8_s4
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 1 barriers
// PTXAS: Compiling entry function 'phase2_4096xbf16_norm_only_split'
// PTXAS-NEXT: Function properties for phase2_4096xbf16_norm_only_split
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 0 barriers
// PTXAS: Compiling entry function 'phase2_4096xbf16_norm_split_sums'
// PTXAS-NEXT: Function properties for phase2_4096xbf16_norm_split_sums
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 0 barriers
// PTXAS: Compiling entry function 'phase2_4096xbf16_norm_only'
// PTXAS-NEXT: Function properties for phase2_4096xbf16_norm_only
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 1 barriers
// PTXAS: Compiling entry function 'rms_norm_2048xf32'
// PTXAS-NEXT: Function properties for rms_norm_2048xf32
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 1 barriers
// PTXAS: Compiling entry function 'rms_norm_256xf16'
// PTXAS-NEXT: Function properties for rms_norm_256xf16
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NEXT: Used {{[0-9]+}} registers, used 0 barriers

!row = tensor<?x4096xbf16>
!vec = tensor<4096xbf16>
func.func @block(%b0: !row, %b1: !row, %b2: !row, %b3: !row, %b4: !row, %b5: !row, %b6: !row, %b7: !row, %p: !row, %q: !vec, %g: !vec) -> (!row, !row) {
  %o:4, %lse:4 = attnres.phase1 %b0, %b1, %b2, %b3, %b4, %b5, %b6, %b7 queries(%q, %g, %q, %g) key_norms(%g, %q, %g, %q) epsilon = 1.0e-06 : !row, !vec
  %h, %y = attnres.phase2 %o#1, %lse#1, %p query %q key_norm %g epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : !row, !vec
  return %o#0, %y : !row, !row
}

func.func @norms(%x: tensor<8x2048xf32>, %g: tensor<2048xf32>, %h: tensor<3x256xf16>, %gh: tensor<256xf16>) -> (tensor<8x2048xf32>, tensor<3x256xf16>) {
  %y = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<8x2048xf32>, tensor<2048xf32>
  %z = attnres.rms_norm %h, %gh epsilon = 1.0e-05 : tensor<3x256xf16>, tensor<256xf16>
  return %y, %z : tensor<8x2048xf32>, tensor<3x256xf16>
}
