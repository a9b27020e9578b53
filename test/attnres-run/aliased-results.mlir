// Results that are not fresh buffers of their own: one value returned twice,
// an input, a constant. attnres-run frees only what the compiled code
// allocated, once (it used to free every result: a double free, or a free of
// memory it did not own).

// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; np.savez('%t/in.npz', arg0=np.arange(4, dtype=np.float32))"
// DEFINE: %{print} = %python -c "import numpy as np; d = np.load('%t/out.npz'); print(*(f'{k}={d[k].tolist()}' for k in d.files))"

// RUN: attnres-run %s --entry twice --inputs %t/in.npz --outputs %t/out.npz --repeat 3
// RUN: %{print} | FileCheck %s --check-prefix=TWICE
// TWICE: result0=[0.0, 2.0, 4.0, 6.0] result1=[0.0, 2.0, 4.0, 6.0]
func.func @twice(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %y = tosa.add %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y, %y : tensor<4xf32>, tensor<4xf32>
}

// The default lowering copies an input or a constant before returning it; a
// pipeline without buffer deallocation returns the input's own buffer and a
// pointer into the constant's global.
// DEFINE: %{nodealloc} = --pipeline "func.func(tosa-to-linalg-named,tosa-to-linalg,tosa-to-arith,tosa-to-tensor),one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},func.func(convert-linalg-to-loops),convert-scf-to-cf,expand-strided-metadata,lower-affine,finalize-memref-to-llvm,convert-arith-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,reconcile-unrealized-casts"

// RUN: attnres-run %s --entry input --inputs %t/in.npz --outputs %t/out.npz --repeat 3 %{nodealloc}
// RUN: %{print} | FileCheck %s --check-prefix=INPUT
// RUN: attnres-run %s --entry input --inputs %t/in.npz --outputs %t/out.npz
// RUN: %{print} | FileCheck %s --check-prefix=INPUT
// INPUT: result0=[0.0, 1.0, 2.0, 3.0] result1=[0.0, 2.0, 4.0, 6.0]
func.func @input(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %y = tosa.add %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %x, %y : tensor<4xf32>, tensor<4xf32>
}

// RUN: attnres-run %s --entry constant --inputs %t/in.npz --outputs %t/out.npz --repeat 3 %{nodealloc}
// RUN: %{print} | FileCheck %s --check-prefix=CONSTANT
// RUN: attnres-run %s --entry constant --inputs %t/in.npz --outputs %t/out.npz
// RUN: %{print} | FileCheck %s --check-prefix=CONSTANT
// CONSTANT: result0=[1.0, 2.0, 3.0, 4.0] result1=[1.0, 2.0, 3.0, 4.0]
func.func @constant(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %c = "tosa.const"() <{values = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
  return %c, %c : tensor<4xf32>, tensor<4xf32>
}
