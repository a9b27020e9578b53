// A module that calls a function nobody defines fails with one message that
// names it, before JIT compilation (not the JIT's own report followed by a
// second error about the entry point it could not materialize).

// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; np.savez('%t/in.npz', arg0=np.ones(4, np.float32))"
// RUN: not attnres-run %s --inputs %t/in.npz --outputs %t/out.npz 2>&1 | FileCheck %s --implicit-check-not=error --implicit-check-not="JIT session"
// RUN: test ! -e %t/out.npz
// CHECK: attnres-run: error: the compiled code calls attnres_no_such_function, which neither the attnres runtime nor the C library provides
func.func private @attnres_no_such_function(f32) -> f32

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %e = tensor.extract %x[%c0] : tensor<4xf32>
  %y = func.call @attnres_no_such_function(%e) : (f32) -> f32
  %r = tensor.splat %y : tensor<4xf32>
  return %r : tensor<4xf32>
}
