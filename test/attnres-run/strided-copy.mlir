// Copies between non-contiguous buffers lower to calls to memrefCopy, which
// attnres-run provides (the JIT used to stop at "Symbols not found:
// [ memrefCopy ]"). One copy moves single elements (the innermost axis is
// strided), the other whole rows (a slice of the last axis into the middle of
// a wider row).

// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; np.savez('%t/in.npz', arg0=np.arange(24, dtype=np.float32).reshape(2, 3, 4))"
// RUN: attnres-opt %s --attnres-cpu-pipeline | FileCheck %s --check-prefix=LOWERED
// LOWERED-COUNT-2: llvm.call @memrefCopy
// RUN: attnres-run %s --inputs %t/in.npz --outputs %t/out.npz
// RUN: %python -c "import numpy as np; d = np.load('%t/out.npz'); x = np.arange(24, dtype=np.float32).reshape(2, 3, 4); w = np.zeros((2, 3, 8), np.float32); w[:, :, 3:5] = x[:, :, 1:3]; print(np.array_equal(d['result0'], x.transpose(2, 1, 0)), np.array_equal(d['result1'], w))" | FileCheck %s
// CHECK: True True
func.func @main(%x: tensor<2x3x4xf32>) -> (tensor<4x3x2xf32>, tensor<2x3x8xf32>) {
  %m = bufferization.to_buffer %x : tensor<2x3x4xf32> to memref<2x3x4xf32>
  %t = memref.transpose %m (i, j, k) -> (k, j, i) : memref<2x3x4xf32> to memref<4x3x2xf32, strided<[1, 4, 12]>>
  %a = memref.alloc() : memref<4x3x2xf32>
  memref.copy %t, %a : memref<4x3x2xf32, strided<[1, 4, 12]>> to memref<4x3x2xf32>
  %ra = bufferization.to_tensor %a restrict : memref<4x3x2xf32> to tensor<4x3x2xf32>

  %zero = arith.constant 0.0 : f32
  %w = memref.alloc() : memref<2x3x8xf32>
  linalg.fill ins(%zero : f32) outs(%w : memref<2x3x8xf32>)
  %src = memref.subview %m[0, 0, 1] [2, 3, 2] [1, 1, 1] : memref<2x3x4xf32> to memref<2x3x2xf32, strided<[12, 4, 1], offset: 1>>
  %dst = memref.subview %w[0, 0, 3] [2, 3, 2] [1, 1, 1] : memref<2x3x8xf32> to memref<2x3x2xf32, strided<[24, 8, 1], offset: 3>>
  memref.copy %src, %dst : memref<2x3x2xf32, strided<[12, 4, 1], offset: 1>> to memref<2x3x2xf32, strided<[24, 8, 1], offset: 3>>
  %rw = bufferization.to_tensor %w restrict : memref<2x3x8xf32> to tensor<2x3x8xf32>
  return %ra, %rw : tensor<4x3x2xf32>, tensor<2x3x8xf32>
}
