// attnres-opt registers the LLVM IR translations and the NVVM target, so the
// upstream NVVM pipeline serializes kernels to PTX, and through ptxas from the
// CUDA toolkit to a cubin. No GPU is needed.
//
// RUN: attnres-opt %s --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90 cubin-features=+ptx80 cubin-format=isa" \
// RUN:   | FileCheck %s --check-prefix=PTX
// RUN: attnres-opt %s --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90 cubin-features=+ptx80 cubin-format=bin" \
// RUN:   | FileCheck %s --check-prefix=CUBIN
// REQUIRES: ptxas

// PTX:      gpu.binary @kernels [#gpu.object<#nvvm.target<chip = "sm_90", features = "+ptx80">
// PTX-SAME:   assembly = "
// PTX-SAME:   .target sm_90
// PTX-SAME:   .visible .entry scale(
// PTX-SAME:   mul.rn.f32

// CUBIN:      gpu.binary @kernels [#gpu.object<#nvvm.target<chip = "sm_90", features = "+ptx80">
// CUBIN-SAME:   bin = "\7FELF

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%buf: memref<16xf32>) kernel {
      %tid = gpu.thread_id x
      %v = memref.load %buf[%tid] : memref<16xf32>
      %c = arith.constant 3.0 : f32
      %r = arith.mulf %v, %c : f32
      memref.store %r, %buf[%tid] : memref<16xf32>
      gpu.return
    }
  }
}
