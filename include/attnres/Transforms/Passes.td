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

def RaiseNorms : Pass<"attnres-raise-norms"> {
  let summary = "Raise decomposed RMSNorm and LayerNorm into attnres ops";
  let description = [{
    Recognizes RMS normalization and layer normalization over the last axis
    in the elementwise form the ONNX importer produces from real exports and
    replaces each with `attnres.rms_norm` or `attnres.layer_norm`. The
    residual-to-block rewrite and the fused kernels read only these ops.

    Matching is structural and accepts the spellings of both PyTorch
    exporters: the square as `x * x` or `pow(x, 2)`; the mean as
    `reduce_sum` times `1/D` or divided by `D`; the inverse root as `rsqrt`,
    `reciprocal(sqrt)` or `1 / sqrt`, or the normalization as `x / sqrt`;
    casts to f32 and back around the normalization (the weight applied before
    or after the cast back); the weight on either side of the product, or
    absent (a weight of ones); Gemma's `(1 + w)` once folded; and for layer
    norm the centered value `x - mean(x)`, the variance as the mean of its
    square, and an optional bias. The epsilon must be a constant; a norm over
    more than the last axis is left alone.

    It also moves reshapes that keep the feature axis off the residual
    stream, which some exporters flatten to [B*T, D] around a sublayer (OPT):
    `norm(reshape(x))` becomes `reshape(norm(x))` when the reshape flattens
    leading axes, and
    `reshape(reshape(x) + y)` becomes `x + reshape(y)`. Both are exact.

    Before:
    ```mlir
    %sq = tosa.mul %x, %x, %shift : (...) -> tensor<1x16x64xf32>
    %ss = tosa.reduce_sum %sq {axis = 2 : i32} : (...) -> tensor<1x16x1xf32>
    %ms = tosa.mul %ss, %invD, %shift : (...) -> tensor<1x16x1xf32>
    %v = tosa.add %ms, %eps : (...) -> tensor<1x16x1xf32>
    %r = tosa.rsqrt %v : (...) -> tensor<1x16x1xf32>
    %n = tosa.mul %x, %r, %shift : (...) -> tensor<1x16x64xf32>
    %y = tosa.mul %n, %w, %shift : (...) -> tensor<1x16x64xf32>
    ```
    After:
    ```mlir
    %y = attnres.rms_norm %x, %w1d epsilon = 1.000000e-06
        : tensor<1x16x64xf32>, tensor<64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::attnres::AttnResDialect",
    "::mlir::tosa::TosaDialect",
  ];
}

def DetectResiduals : Pass<"attnres-detect-residuals", "::mlir::ModuleOp"> {
  let summary = "Find and report the PreNorm residual stream of each function";
  let description = [{
    An analysis (`findResidualStream`, lib/Analysis) that finds, in every function
    with raised norms, the residual stream: the chain of adds
    `h_{l+1} = h_l + f_l(norm_l(h_l))` from the embedding `h_0` to the final
    norm. Each attention and each MLP sublayer is one layer. This pass
    reports each layer as a remark at its residual add, naming the norm that
    reads its input; with `report=true` it also prints a table to stdout.
    It changes nothing.

    It fails, with an error at the op that breaks the pattern, when the
    stream cannot be rewritten into Block AttnRes without changing the
    function: a PostNorm layer (the sum is normalized after the add, as in
    BERT), a stream value read by anything but its norms and the next add
    (for example a graph output or a head reading the raw stream), a
    parallel residual layer (GPT-NeoX, GPT-J, Falcon:
    `h + attn(ln1(h)) + mlp(ln2(h))`), a residual add that broadcasts, or a
    stream that ends in no norm.

    Example remark:
    ```
    model.onnx:0:0: remark: residual layer 0 of 4: add 'x.add' reads the
      stream through attnres.rms_norm 'norm.mul_1'
    ```
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print a table of the layers of each stream to stdout (the "
           "--attnres-report pipeline)">,
  ];
}

def ResidualToBlock : Pass<"attnres-residual-to-block", "::mlir::ModuleOp"> {
  let summary = "Rewrite PreNorm residual streams into Block AttnRes";
  let description = [{
    Replaces the residual sum of every stream that
    `--attnres-detect-residuals` accepts by Block Attention Residuals
    (../shared/DESIGN.md). The L layers are split into `num-blocks` blocks;
    the input of each layer's norm becomes an `attnres.block_attn_res` over
    the embedding, the completed block sums and the partial sum of the
    current block (absent for a block's first layer), and the final norm
    reads an aggregation of all blocks. The residual adds are removed.

    Block sizes: the first `L mod N` blocks get `ceil(L/N)` layers, the rest
    `floor(L/N)`, unless `block-sizes` lists them (they must sum to L).
    `num-blocks` equal to L is Full AttnRes; 0 (the default) means L.

    Pseudo-queries come from `pseudo-queries`, an `.npz` with `queries`
    f32[L+1, D] and optionally `key_norm_weights` f32[L+1, D] (default ones):
    row l is layer l in stream order (attn0, mlp0, attn1, ...), row L the
    final aggregation. Without it the queries are zero: every aggregation is
    the mean of its sources, and since each reader is a scale-invariant norm
    the model computes what it computed before, up to the norms' epsilon.
    They become constants in the function.

    A function that already holds `attnres.block_attn_res` is left alone,
    with a remark, so the pass is idempotent.

    Before (one layer):
    ```mlir
    %n = attnres.rms_norm %h0, %g0 epsilon = 1.000000e-06 : ...
    %f = ... %n ...
    %h1 = tosa.add %h0, %f : (...) -> tensor<1x16x64xf32>
    ```
    After:
    ```mlir
    %a = attnres.block_attn_res %h0 query %q0 key_norm %k0 epsilon = 1.000000e-06 : ...
    %n = attnres.rms_norm %a, %g0 epsilon = 1.000000e-06 : ...
    %f = ... %n ...
    %a1 = attnres.block_attn_res %h0, %f query %q1 key_norm %k1 ...
    ```
  }];
  let options = [
    Option<"numBlocks", "num-blocks", "unsigned", /*default=*/"0",
           "Number of blocks N (0: one block per layer, Full AttnRes)">,
    ListOption<"blockSizes", "block-sizes", "unsigned",
               "Layers per block, overriding the even split">,
    Option<"pseudoQueries", "pseudo-queries", "std::string",
           /*default=*/"\"\"",
           "An .npz with queries f32[L+1, D] (and optionally "
           "key_norm_weights f32[L+1, D]); zero queries without it">,
    Option<"keyNormEpsilon", "key-norm-epsilon", "float", /*default=*/"1e-6f",
           "Epsilon of the key RMSNorm in every aggregation">,
  ];
  let dependentDialects = [
    "::mlir::attnres::AttnResDialect",
    "::mlir::tosa::TosaDialect",
  ];
}

#endif // ATTNRES_TRANSFORMS_PASSES_TD
