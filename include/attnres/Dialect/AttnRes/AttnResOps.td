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

#endif // ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_TD
