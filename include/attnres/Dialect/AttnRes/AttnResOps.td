//===- AttnResOps.td - AttnRes operations ------------------*- tablegen -*-===//
//
// Operations of the attnres dialect: RMSNorm and the Block AttnRes depth
// aggregation.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_TD
#define ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_TD

include "attnres/Dialect/AttnRes/AttnResDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def AttnRes_FloatTensor : RankedTensorOf<[AnyFloat]>;
def AttnRes_FloatVector : 1DTensorOf<[AnyFloat]>;

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

def AttnRes_RMSNormOp : AttnRes_Op<"rms_norm", [
    Pure, AllTypesMatch<["input", "result"]>,
    AllElementTypesMatch<["input", "weight"]>]> {
  let summary = "RMS normalization over the last axis";
  let description = [{
    Normalizes `input` (shape `[..., D]`) by the root mean square of its last
    axis and scales by `weight` (shape `[D]`):

    ```
    result[..., d] = input[..., d] / sqrt(mean_d(input[..., :]^2) + epsilon)
                     * weight[d]
    ```

    This is the PreNorm reader of the residual stream in Llama-style models and
    the key norm inside `attnres.block_attn_res`. It is scale-invariant
    (`rms_norm(c * x) == rms_norm(x)` for `c > 0`, up to `epsilon`), which is
    what makes the residual to Block AttnRes rewrite function-preserving.

    `epsilon` must be finite and non-negative. When both are static, the size
    of `weight` must equal the last dimension of `input`.

    Example:

    ```mlir
    %y = attnres.rms_norm %x, %g epsilon = 1.000000e-05
        : tensor<2x16x64xf32>, tensor<64xf32>
    ```
  }];

  let arguments = (ins AttnRes_FloatTensor:$input,
                       AttnRes_FloatVector:$weight,
                       F32Attr:$epsilon);
  let results = (outs AttnRes_FloatTensor:$result);

  let assemblyFormat = [{
    $input `,` $weight `epsilon` `=` $epsilon attr-dict
    `:` type($input) `,` type($weight)
  }];

  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight,
                   "float":$epsilon), [{
      build($_builder, $_state, input.getType(), input, weight,
            $_builder.getF32FloatAttr(epsilon));
    }]>
  ];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

def AttnRes_LayerNormOp : AttnRes_Op<"layer_norm", [
    Pure, AllTypesMatch<["input", "result"]>,
    AllTypesMatch<["weight", "bias"]>,
    AllElementTypesMatch<["input", "weight"]>]> {
  let summary = "Layer normalization over the last axis";
  let description = [{
    Centers `input` (shape `[..., D]`) on the mean of its last axis, divides
    by the standard deviation and applies the per-feature `weight` and `bias`
    (shape `[D]`):

    ```
    mu             = mean_d(input[..., :])
    var            = mean_d((input[..., :] - mu)^2)
    result[..., d] = (input[..., d] - mu) / sqrt(var + epsilon) * weight[d]
                     + bias[d]
    ```

    The PreNorm reader of the residual stream in GPT-2-style models. Like
    `attnres.rms_norm` it is scale-invariant (`layer_norm(c * x) ==
    layer_norm(x)` for `c > 0`, up to `epsilon`), so a stream it reads can
    be rewritten into Block AttnRes. `--attnres-raise-norms` produces it from
    the decomposed form the ONNX importer and exporters write; a model
    without a bias uses a zero `bias`.

    `epsilon` must be finite and non-negative; static sizes of `weight` and
    `bias` must equal the last dimension of `input`.

    Example:

    ```mlir
    %y = attnres.layer_norm %x, %g, %b epsilon = 1.000000e-05
        : tensor<2x16x64xf32>, tensor<64xf32>
    ```
  }];

  let arguments = (ins AttnRes_FloatTensor:$input,
                       AttnRes_FloatVector:$weight,
                       AttnRes_FloatVector:$bias,
                       F32Attr:$epsilon);
  let results = (outs AttnRes_FloatTensor:$result);

  let assemblyFormat = [{
    $input `,` $weight `,` $bias `epsilon` `=` $epsilon attr-dict
    `:` type($input) `,` type($weight)
  }];

  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight,
                   "::mlir::Value":$bias, "float":$epsilon), [{
      build($_builder, $_state, input.getType(), input, weight, bias,
            $_builder.getF32FloatAttr(epsilon));
    }]>
  ];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// BlockAttnResOp
//===----------------------------------------------------------------------===//

def AttnRes_BlockAttnResOp : AttnRes_Op<"block_attn_res", [
    Pure, AllTypesMatch<["query", "key_norm_weight"]>]> {
  let summary = "Softmax-over-depth aggregation of Block Attention Residuals";
  let description = [{
    Aggregates the depth sources `v_0 .. v_n` (each `[..., D]`, typically
    `[B, T, D]`: the embedding, the completed block summaries and the current
    partial block sum) into the input of one layer:

    ```
    k_i    = rms_norm(v_i, key_norm_weight, epsilon)      // [..., D]
    s_i    = sum_d query[d] * k_i[..., d]                  // [...]
    alpha  = softmax_i(s_0 .. s_n)                         // per token
    result = sum_i alpha_i * v_i                           // [..., D]
    ```

    The sources are **variadic operands** of one shared type rather than one
    stacked `[n+1, ..., D]` tensor. In a model the block summaries are
    distinct SSA values produced far apart; stacking them would materialize a
    copy of every source for every layer, which is exactly the traffic the
    Block AttnRes I/O budget ((N/S + 5)·D per token and layer) rules out.
    Variadic sources let a lowering read each summary in place, let the
    two-phase split hand the completed blocks and the partial sum to
    different kernels by slicing the operand list, and keep the
    residual-to-block rewrite a matter of appending an operand.

    With a zero `query`, every source gets the same weight and the result is
    the mean of the sources.

    Example:

    ```mlir
    %h = attnres.block_attn_res %b0, %b1, %p query %w key_norm %g
        epsilon = 1.000000e-06 : tensor<1x16x64xf32>, tensor<64xf32>
    ```
    The first type is the type of every source and of the result, the second
    the type of `query` and `key_norm_weight`.
  }];

  let arguments = (ins Variadic<AttnRes_FloatTensor>:$sources,
                       AttnRes_FloatVector:$query,
                       AttnRes_FloatVector:$key_norm_weight,
                       F32Attr:$epsilon);
  let results = (outs AttnRes_FloatTensor:$result);

  let assemblyFormat = [{
    $sources `query` $query `key_norm` $key_norm_weight
    `epsilon` `=` $epsilon attr-dict
    `:` custom<SourceTypes>(ref($sources), type($sources), type($result))
    `,` type($query)
  }];

  let builders = [
    OpBuilder<(ins "::mlir::ValueRange":$sources, "::mlir::Value":$query,
                   "::mlir::Value":$keyNormWeight, "float":$epsilon)>
  ];

  let extraClassDeclaration = [{
    /// Number of depth sources `n + 1`.
    unsigned getNumSources() { return getSources().size(); }
  }];

  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Phase1Op
//===----------------------------------------------------------------------===//

def AttnRes_Phase1Op : AttnRes_Op<"phase1", [
    Pure, AttrSizedOperandSegments, SameVariadicResultSize]> {
  let summary = "Two-phase Block AttnRes, phase 1: every layer of a block "
                "against the completed blocks, in one pass";
  let description = [{
    The part of each aggregation of a block that does not depend on anything
    computed inside the block. For the `S` layers `l` of the block (one
    `query` and one `key_norm_weight` each) and the completed block
    representations `b_0 .. b_{n-1}` (each `[..., D]`):

    ```
    s_{l,i}   = sum_d query_l[d] * rms_norm(b_i, key_norm_l, epsilon)[..., d]
    lse_l     = log(sum_i exp(s_{l,i}))                           // [...]
    output_l  = sum_i exp(s_{l,i} - lse_l) * b_i                  // [..., D]
    ```

    `(output_l, lse_l)` is the online-softmax state of layer `l`: the
    softmax-weighted mean over the completed blocks and the log of its
    normalizer. `attnres.phase2` merges it with the layer's partial block sum;
    a block's first layer has no partial, and `output_l` is its aggregation.
    Lowerings read each `b_i` once for all `S` layers, which is where the
    `N/S` of the Block AttnRes I/O budget comes from.

    `lse` has the feature axis dropped and is kept in f32 (f64 for f64
    sources): rounded to a 16-bit type it would shift the merge weight
    `exp(s_p - lse)` by up to 0.4% per unit of logit.

    Example (a block of two layers over three completed blocks):

    ```mlir
    %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1)
        key_norms(%k0, %k1) epsilon = 1.000000e-06
        : tensor<1x16x64xf32>, tensor<64xf32>
    ```
    The first type is that of every block and output, the second that of
    every query and key-norm weight; `lse` is `tensor<1x16xf32>`.
  }];

  let arguments = (ins Variadic<AttnRes_FloatTensor>:$blocks,
                       Variadic<AttnRes_FloatVector>:$queries,
                       Variadic<AttnRes_FloatVector>:$key_norm_weights,
                       F32Attr:$epsilon);
  let results = (outs Variadic<AttnRes_FloatTensor>:$outputs,
                      Variadic<AttnRes_FloatTensor>:$lse);

  let assemblyFormat = [{
    $blocks `queries` `(` $queries `)` `key_norms` `(` $key_norm_weights `)`
    `epsilon` `=` $epsilon attr-dict
    `:` custom<Phase1Types>(ref($blocks), type($blocks), ref($queries),
                            type($queries), ref($key_norm_weights),
                            type($key_norm_weights), type($outputs),
                            type($lse))
  }];

  let builders = [
    OpBuilder<(ins "::mlir::ValueRange":$blocks, "::mlir::ValueRange":$queries,
                   "::mlir::ValueRange":$keyNormWeights, "float":$epsilon)>
  ];

  let extraClassDeclaration = [{
    /// Number of layers S that share the completed blocks.
    unsigned getNumLayers() { return getQueries().size(); }
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Phase2Op
//===----------------------------------------------------------------------===//

def AttnRes_Phase2Op : AttnRes_Op<"phase2", [Pure]> {
  let summary = "Two-phase Block AttnRes, phase 2: merge the partial block "
                "sum into a layer's phase-1 state, optionally with the "
                "layer's RMSNorm";
  let description = [{
    Completes the aggregation of one layer: scores the current partial block
    sum `p` with the layer's `query` and `key_norm_weight` and merges it with
    the layer's phase-1 state `(state, lse)` (from `attnres.phase1`) by the
    online-softmax rule:

    ```
    s_p    = sum_d query[d] * rms_norm(p, key_norm_weight, epsilon)[..., d]
    a      = exp(s_p) / (exp(lse) + exp(s_p)) = sigmoid(s_p - lse)  // [...]
    result = state + a * (p - state)                                // [..., D]
    ```

    which equals `attnres.block_attn_res` over the completed blocks and `p`
    for any magnitude of the logits: the sigmoid saturates to 0 or 1 where a
    naive softmax would overflow.

    With `norm` (what `--attnres-fuse-norm` produces) it also applies the
    layer's PreNorm RMSNorm to the result in the same op:

    ```
    normalized = rms_norm(result, norm_weight, norm_epsilon)
    ```

    so that the aggregated input and its normalized form come out of one
    pass; `result` stays available for other readers, and a lowering does
    not write it when nothing reads it.

    Example:

    ```mlir
    %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %k
        epsilon = 1.000000e-06 norm %g epsilon = 1.000000e-05
        : tensor<1x16x64xf32>, tensor<64xf32>
    ```
    The first type is that of `state`, `p` and the results, the second that
    of the per-feature vectors; `lse` has the phase-1 type.
  }];

  let arguments = (ins AttnRes_FloatTensor:$state,
                       AttnRes_FloatTensor:$lse,
                       AttnRes_FloatTensor:$partial,
                       AttnRes_FloatVector:$query,
                       AttnRes_FloatVector:$key_norm_weight,
                       F32Attr:$epsilon,
                       Optional<AttnRes_FloatVector>:$norm_weight,
                       OptionalAttr<F32Attr>:$norm_epsilon);
  let results = (outs AttnRes_FloatTensor:$result,
                      Optional<AttnRes_FloatTensor>:$normalized);

  let assemblyFormat = [{
    $state `,` $lse `,` $partial `query` $query `key_norm` $key_norm_weight
    `epsilon` `=` $epsilon (`norm` $norm_weight^ `epsilon` `=` $norm_epsilon)?
    attr-dict
    `:` custom<Phase2Types>(type($state), type($lse), type($partial),
                            type($query), type($key_norm_weight),
                            ref($norm_weight), type($norm_weight),
                            type($result), type($normalized))
  }];

  let builders = [
    OpBuilder<(ins "::mlir::Value":$state, "::mlir::Value":$lse,
                   "::mlir::Value":$partial, "::mlir::Value":$query,
                   "::mlir::Value":$keyNormWeight, "float":$epsilon,
                   CArg<"::mlir::Value", "{}">:$normWeight,
                   CArg<"float", "0.0f">:$normEpsilon)>
  ];

  let hasVerifier = 1;
}

#endif // ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_TD
