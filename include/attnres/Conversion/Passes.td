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

def ConvertLinalgToBLAS : Pass<"attnres-linalg-to-blas", "ModuleOp"> {
  let summary = "Call a BLAS sgemm for f32 batch matrix products on buffers";
  let description = [{
    Replaces every `linalg.batch_matmul` on f32 memrefs (what `tosa.matmul`
    becomes after `tosa-to-linalg-named` and bufferization) with a call to
    `attnres_sgemm_batched`, which the attnres runtime implements with
    OpenBLAS's `cblas_sgemm`. The product accumulates into the output, as
    `linalg.batch_matmul` does. Operands are cast to fully dynamic strided
    memrefs so that one C-interface function serves every shape.

    Before:
    ```mlir
    linalg.batch_matmul ins(%a, %b : memref<1x16x32xf32>, memref<1x32x96xf32>)
                        outs(%c : memref<1x16x96xf32>)
    ```
    After:
    ```mlir
    %0 = memref.cast %a : memref<1x16x32xf32> to memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>
    ...
    call @attnres_sgemm_batched(%0, %1, %2) : (...) -> ()
    ```
  }];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

#endif // ATTNRES_CONVERSION_PASSES_TD
