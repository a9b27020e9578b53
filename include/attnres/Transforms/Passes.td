//===- Passes.td - attnres transformation passes -----------*- tablegen -*-===//
//
// Rewrites on tensors and linalg that the attnres pipelines use.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TRANSFORMS_PASSES_TD
#define ATTNRES_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseElementwise : Pass<"attnres-fuse-elementwise"> {
  let summary = "Fuse elementwise linalg producers into their consumers";
  let description = [{
    Fuses an elementwise `linalg.generic` into the `linalg.generic` that
    consumes it when the producer has no other use, so that the value never
    lives in a buffer of its own. Unlike upstream's
    `--linalg-fuse-elementwise-ops`, reshapes are not propagated through
    linalg ops: that propagation turns `linalg.batch_matmul` into a generic
    contraction, which `--attnres-linalg-to-blas` can no longer hand to BLAS.

    Before:
    ```mlir
    %e = linalg.generic {...} ins(%x : tensor<4xf32>) outs(%i : tensor<4xf32>) {
      math.exp
    }
    %y = linalg.generic {...} ins(%e, %s : ...) outs(%j : tensor<4xf32>) {
      arith.mulf
    }
    ```
    After:
    ```mlir
    %y = linalg.generic {...} ins(%x, %s : ...) outs(%j : tensor<4xf32>) {
      math.exp
      arith.mulf
    }
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // ATTNRES_TRANSFORMS_PASSES_TD
