//===- Passes.td - attnres conversion passes ---------------*- tablegen -*-===//
//
// Lowerings out of the attnres dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_CONVERSION_PASSES_TD
#define ATTNRES_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnResToLinalg : Pass<"attnres-to-linalg"> {
  let summary = "Lower attnres ops to linalg, tensor, arith and math";
  let description = [{
    Rewrites every `attnres` operation into `linalg.generic` ops on tensors,
    ready for upstream bufferization and CPU code generation.

    `attnres.rms_norm` becomes a reduction of the squares over the last axis
    followed by an elementwise scale. `attnres.block_attn_res` becomes, for each
    source, one reduction that computes both the sum of squares and the
    query-weighted sum (the key norm is never materialized), one elementwise op
    that turns the logits into softmax weights (subtracting the maximum over
    depth, so large logits do not overflow), and one elementwise op that sums
    the weighted sources. Reductions over f16/bf16 accumulate in f32.

    Before:
    ```mlir
    %y = attnres.rms_norm %x, %g epsilon = 1.000000e-05
        : tensor<4x64xf32>, tensor<64xf32>
    ```
    After (abridged):
    ```mlir
    %ss = linalg.generic {iterator_types = ["parallel", "reduction"]}
        ins(%x : tensor<4x64xf32>) outs(%zeros : tensor<4xf32>) { ... }
    %y = linalg.generic {iterator_types = ["parallel", "parallel"]}
        ins(%x, %ss, %g : ...) outs(%empty : tensor<4x64xf32>) {
      // x * rsqrt(ss / 64 + eps) * g
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // ATTNRES_CONVERSION_PASSES_TD
