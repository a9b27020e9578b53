//===- Passes.td - attnres transformation passes -----------*- tablegen -*-===//
//
// Rewrites on tensors and linalg that the attnres pipelines use.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TRANSFORMS_PASSES_TD
#define ATTNRES_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def ApproximateMath : Pass<"attnres-approximate-math"> {
  let summary = "Replace f32 math functions by polynomial approximations "
                "that vectorize";
  let description = [{
    A call to libm's `expf` in a loop keeps LLVM from vectorizing it: the
    softmax of attention and the SiLU/GELU of the feed-forward layers ran
    one element at a time. This pass rewrites the math functions named in
    `ops`, on f32 scalars and vectors, into upstream MLIR's polynomial
    approximations (range reduction, a minimax polynomial, exponent
    arithmetic): plain arithmetic that the loop vectorizer handles. Other
    element types keep their libm or intrinsic lowering.

    By default: `exp`, `expm1`, `tanh`, `erf` and `log1p`, whose
    approximations stay within 5 ulps of libm on normal numbers (measured:
    exp 4.6, expm1 4.6, tanh 4.0, erf 3.6, log1p 1.9), keep infinities, NaN
    and signed zeros, and flush results below FLT_MIN to zero.
    `test/Integration/approximate-math/accuracy.test` measures each against
    libm in double precision over ranges that include underflow, overflow,
    subnormals, infinities and NaN. `log` and `log2` (0.8 and 1.4 ulps) are
    available through `ops` but not on by default: they read a subnormal
    argument as FLT_MIN. Without this pass, `expm1` and `log1p` lower to
    `exp(x) - 1` and `log(1 + x)`, which lose every digit for tiny x; the
    approximations do not.

    Before:
    ```mlir
    %e = math.exp %x : f32
    ```
    After (abridged):
    ```mlir
    %k = math.floor %t : f32           // x = k ln2 + r
    %p = math.fma %r, %c5, %c4 : f32    // polynomial in r
    ...
    %e = arith.bitcast %bits : i32 to f32  // 2^k * p(r)
    ```
  }];
  let options = [
    ListOption<"ops", "ops", "std::string",
               "Math functions to approximate, by mnemonic (exp, expm1, "
               "tanh, erf, log1p, log, log2, sin, cos, atan, ...); default: "
               "exp, expm1, tanh, erf, log1p">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def TileAttention : Pass<"attnres-tile-attention", "::mlir::func::FuncOp"> {
  let summary = "Run attention's scores a tile of rows at a time, in cache";
  let description = [{
    On buffers: between two `linalg.batch_matmul`s, the first writing the
    scores (heads x queries x keys) and the second reading them, every op
    (scale, mask, the softmax's max, exp, sum and division) is local to a
    row of the scores. When the buffers they write take more than
    `cache-bytes`, the pass runs the whole chain in one `scf.for` over
    tiles of rows: each op works on `memref.subview`s of the tile's rows,
    so the tile stays in cache from the first product to the second,
    instead of one round trip through memory per op. The tile is the
    largest divisor of the row count (of at least 8 rows) whose rows fit in
    `cache-bytes`. Ops between the products that do not touch the chain (a
    fill of the second product's output, a transpose of V) move before the
    loop; deallocations move after it.

    Left alone: chains whose buffers fit in `cache-bytes` (nothing to
    gain), dynamic shapes, and chains with an op that is not linalg or a
    view, a reduction over rows, an op that reads a buffer the chain writes
    other than row by row, or a write to a buffer the function did not
    allocate.

    Before (scores 8 x 1024 x 1024, 32 MiB):
    ```mlir
    linalg.fill ins(%zero : f32) outs(%s : memref<8x1024x1024xf32>)
    linalg.batch_matmul ins(%q, %k : ...) outs(%s : memref<8x1024x1024xf32>)
    linalg.generic ... ins(%s4, %mask : ...) outs(%s4 : memref<1x8x1024x1024xf32>)
    linalg.reduce ins(%s4 : ...) outs(%max : memref<1x8x1024xf32>) dimensions = [3]
    ...
    linalg.batch_matmul ins(%p, %v : ...) outs(%o : memref<8x1024x64xf32>)
    ```
    After (tiles of 32 rows, 1 MiB):
    ```mlir
    scf.for %r = %c0 to %c1024 step %c32 {
      %s_r = memref.subview %s[0, %r, 0] [8, 32, 1024] [1, 1, 1]
      linalg.fill ins(%zero : f32) outs(%s_r : ...)
      %q_r = memref.subview %q[0, %r, 0] [8, 32, 64] [1, 1, 1]
      linalg.batch_matmul ins(%q_r, %k : ...) outs(%s_r : ...)
      ...
    }
    ```
  }];
  let options = [
    Option<"cacheBytes", "cache-bytes", "int64_t", /*default=*/"1048576",
           "Bytes of the chain's buffers a tile of rows may take (about "
           "half of a core's L2 cache)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def TileLoopsForGPU : Pass<"attnres-tile-loops-for-gpu",
                            "::mlir::func::FuncOp"> {
  let summary = "Tile parallel loops so their inner dimensions become threads";
  let description = [{
    Before `gpu-map-parallel-loops`: each outermost `scf.parallel` (what
    `convert-linalg-to-parallel-loops` makes of a linalg op) is tiled over
    its last two dimensions into a tile of at most `threads` iterations,
    the innermost dimension first (a static trip count smaller than the
    budget is taken whole and leaves the rest to the dimension before it).
    Mapped innermost-first, the tile loop becomes the threads of a block
    and the loop of tiles the grid, with consecutive threads on
    consecutive elements. Without it every iteration is a block of one
    thread: a warp runs one lane, and an SM holds at most 32 of them.

    Left alone: loops inside a `gpu.launch`, and loops whose tile would be
    a single iteration.

    Before:
    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%c16, %c1024) step (%c1, %c1) {
      ...
    }
    ```
    After (`threads=256`):
    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%c16, %c1024) step (%c1, %c256) {
      scf.parallel (%ti, %tj) = (%c0, %c0) to (%c1, %c256) step (%c1, %c1) {
        ...
      }
    }
    ```
  }];
  let options = [
    Option<"threads", "threads", "int64_t", /*default=*/"256",
           "Iterations of a tile: the threads of a block (at most 1024)">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

def CopiesToLinalg : Pass<"attnres-copies-to-linalg",
                           "::mlir::func::FuncOp"> {
  let summary = "Copies between buffers as linalg.copy, so they become loops";
  let description = [{
    Bufferization copies buffers with `memref.copy` (a slice that a Split or
    a strided view hands to an op that needs its own buffer, a buffer
    cloned for deallocation). On the GPU pipeline that op lowers to the
    host's `memrefCopy`, which walks managed memory element by element from
    the CPU while the GPU waits and then faults every page back. As a
    `linalg.copy` it goes through `convert-linalg-to-parallel-loops` like
    every other op and runs as a kernel.

    Left alone: copies of `index` buffers (host-side shape operands of
    reshapes) and of rank-0 buffers (one element: a kernel launch would
    cost more than it moves).

    Before:
    ```mlir
    memref.copy %view, %buffer : memref<?x32xf32, strided<[96, 1]>> to memref<?x32xf32>
    ```
    After:
    ```mlir
    linalg.copy ins(%view : memref<?x32xf32, strided<[96, 1]>>) outs(%buffer : memref<?x32xf32>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def GPUAsync : Pass<"attnres-gpu-async", "::mlir::ModuleOp"> {
  let summary = "Queue the GPU work of host code on one stream, waiting only "
                "where the host needs its results";
  let description = [{
    Makes every synchronous `gpu.launch_func`, device `gpu.alloc`,
    `gpu.memcpy`, `gpu.memset` and `gpu.dealloc` of host code asynchronous,
    each depending on the one before, so that gpu-to-llvm queues them on one
    stream instead of synchronizing after each launch. The host waits only
    where it may see memory the queued work uses: before a load, store or
    copy of a buffer that is not host memory (`memref.alloc`/`alloca`, which
    `--attnres-alloc-to-gpu` leaves only to buffers the GPU never touches),
    before calls (but for the runtime's `attnres_cublas_*`, which queue
    their product on the same stream, and functions of the module that
    touch only the host buffers they are passed) and unknown ops, and before
    `func.return`.

    Host control flow must be blocks and branches (the GPU pipeline lowers
    scf to cf first): gpu-to-llvm takes a token that is a block argument for
    an event, so a token flows only into a block whose one predecessor comes
    before it, and any other block starts a chain of its own. Where such a
    block must wait with no token of its own at hand, it calls the runtime's
    `attnres_cuda_synchronize()` (declared here). Chains stay in order by
    the attnres runtime's contract: every stream the lowered code creates on
    a thread is that thread's one CUDA stream, which cuBLAS and the
    runtime's copies use too, so waiting for any token waits for all the
    work queued before it.

    Before:
    ```mlir
    gpu.launch_func @k::@a blocks in (%n, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    call @attnres_cublas_sgemm_batched(%a, %b, %c) : (...) -> ()
    gpu.launch_func @k::@b blocks in (%n, %c1, %c1) threads in (%c1, %c1, %c1) args(%y : memref<?xf32>)
    gpu.dealloc %x : memref<?xf32>
    return %y : memref<?xf32>
    ```
    After:
    ```mlir
    %t0 = gpu.wait async
    %t1 = gpu.launch_func async [%t0] @k::@a ...
    call @attnres_cublas_sgemm_batched(%a, %b, %c) : (...) -> ()
    %t2 = gpu.launch_func async [%t1] @k::@b ...
    %t3 = gpu.dealloc async [%t2] %x : memref<?xf32>
    gpu.wait [%t3]
    return %y : memref<?xf32>
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::func::FuncDialect"];
}

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

def RaiseAggregation : Pass<"attnres-raise-aggregation"> {
  let summary = "Raise AttnRes aggregations exported from PyTorch into "
                "attnres.block_attn_res";
  let description = [{
    Finds every Attention Residuals aggregation that an exported model spells
    out (the official pseudocode: `V = stack(sources)`, `K = RMSNorm(V)`,
    `logits = einsum('d, n b t d -> n b t', w, K)`,
    `h = einsum('n b t, n b t d -> b t d', softmax(logits, 0), V)`) and
    replaces it with one `attnres.block_attn_res` over the stacked sources,
    with the pseudo-query `w` and the key norm's weight and epsilon. Run
    `--attnres-raise-norms` first: the key norm must be an
    `attnres.rms_norm` of the stacked value.

    Matching starts at each softmax (as the importer writes ONNX Softmax)
    and is on structure, never on names. Accepted spellings: the scores as
    an Einsum (with or without spaces in the equation), a MatMul of the
    keys with a `Linear(D, 1)` weight `[D, 1]` (the query may be `[1, D]`
    or `[D]`), or Mul + ReduceSum over the feature axis; the weighted sum
    as an Einsum or Mul + ReduceSum over the source axis; casts around the
    softmax; sources stacked by Unsqueeze + Concat (each source becomes an
    operand; a stacked graph input becomes slices). A one-source
    aggregation raises too and folds away.

    Near misses are left alone with a remark saying why: a softmax over
    another axis than the sources', a pseudo-query computed from the
    function's arguments, a key norm that is a LayerNorm, a weighted sum
    over other sources than the scores. The remarks are emitted only for
    softmaxes whose scores read a norm of stacked values; attention
    softmaxes pass silently.

    Before (imported, norms raised):
    ```mlir
    %v = tosa.concat %e, %p {axis = 0 : i32} : (...) -> tensor<2x1x8x32xf32>
    %k = attnres.rms_norm %v, %g epsilon = 1.0e-06 : tensor<2x1x8x32xf32>, tensor<32xf32>
    %s = linalg.generic {...} ins(%w, %k : ...) outs(...)      // d, n b t d -> n b t
    %a = ... softmax over axis 0 of %s ...
    %h = linalg.generic {...} ins(%a, %v : ...) outs(...)      // n b t, n b t d -> b t d
    ```
    After:
    ```mlir
    %h = attnres.block_attn_res %e0, %p0 query %w key_norm %g epsilon = 1.0e-06
        : tensor<1x8x32xf32>, tensor<32xf32>
    ```
  }];
  let options = [
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Say in remarks what was done and why ops were left as they are">,
  ];
  let dependentDialects = [
    "::mlir::attnres::AttnResDialect",
    "::mlir::tosa::TosaDialect",
  ];
}

def DetectResiduals : Pass<"attnres-detect-residuals", "::mlir::ModuleOp"> {
  let summary = "Find and report the PreNorm residual streams of each function";
  let description = [{
    An analysis (`findResidualStreams`, lib/Analysis) that finds, in every
    function with raised norms, the residual streams: each a chain of adds
    `h_{l+1} = h_l + f_l(norm_l(h_l))` from the embedding `h_0` to a final
    norm. Each attention and each MLP sublayer is one layer; a parallel
    block whose branches read one norm is one layer however its adds
    associate (`h + (attn + mlp)`, `(h + attn) + mlp`). An encoder-decoder
    has two streams. A normalized embedding (BLOOM, CLIP) is `h_0`, and the
    final norm may read rows of `h_L` through slices and reshapes that keep
    the feature axis (a pooler's class token). This pass
    reports each layer as a remark at its residual add, naming the norm that
    reads its input; with `report=true` it also prints a table to stdout.
    It changes nothing.

    It fails, with an error at the op that breaks the pattern, when the
    stream cannot be rewritten into Block AttnRes without changing the
    function: a PostNorm layer (the sum is normalized after the add, as in
    BERT), norms after the sublayers (`h + norm(f(h))`, OLMo 2), a stream
    value read by anything but its norms and the next add
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
    (docs/design.md). The L layers are split into `num-blocks` blocks;
    the input of each layer's norm becomes an `attnres.block_attn_res` over
    the embedding, the completed block sums and the partial sum of the
    current block (absent for a block's first layer), and the final norm
    reads an aggregation of all blocks. The residual adds are removed.

    Block sizes: the first `L mod N` blocks get `ceil(L/N)` layers, the rest
    `floor(L/N)`, unless `block-sizes` lists them (they must sum to L).
    `num-blocks` equal to L is Full AttnRes; 0 (the default) means L. A
    function with several streams (an encoder's and a decoder's) has each
    rewritten with `num-blocks` blocks, the second stream's constants named
    `attnres.stream1.*`; `block-sizes` and `pseudo-queries` describe one
    stream and are refused there.

    Pseudo-queries come from `pseudo-queries`, an `.npz` with `queries`
    f32[L+1, D] and optionally `key_norm_weights` f32[L+1, D] (default ones):
    row l is layer l in stream order (attn0, mlp0, attn1, ...), row L the
    final aggregation. Without it the queries are zero: every aggregation is
    the mean h / c of its c sources, and since `norm(h / c; eps) =
    norm(h; c^2 eps)` for RMSNorm and LayerNorm, each reader's epsilon is
    divided by c^2 and the model computes exactly what it computed before.
    With a file the epsilons stay (a trained model's norms expect them).
    The queries become constants in the function.

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
    %n1 = attnres.rms_norm %a1, %g1 epsilon = 2.500000e-07 : ...
    ```
  }];
  let options = [
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Say in remarks what was done and why ops were left as they are">,
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

def TwoPhase : Pass<"attnres-two-phase", "::mlir::func::FuncOp"> {
  let summary = "Split Block AttnRes aggregations into a phase-1 op per block "
                "and a phase-2 op per layer";
  let description = [{
    The paper's two-phase inference (docs/design.md). The layers of a
    block attend over the same completed block representations; only the
    partial block sum differs between them. This pass groups the
    `attnres.block_attn_res` ops that share their completed blocks (see
    `groupAggregations`: a source read before another aggregation's last
    source is a completed block, a last source read nowhere else is a
    partial sum) and replaces each group by one `attnres.phase1` over the
    completed blocks, yielding every layer's online-softmax state, and one
    `attnres.phase2` per layer with a partial sum, which merges it in. A
    block's first layer (no partial) reads its phase-1 output directly. The
    final aggregation joins the last block's group.

    Exact up to fp32 rounding for any logits: phase 2's merge is the
    log-sum-exp form of the same softmax.

    An aggregation alone in its group and without a partial sum (every
    layer of Full AttnRes but the last) has nothing to share or merge; it
    stays an `attnres.block_attn_res`, with a remark. Rerunning the pass
    changes nothing.

    Before (a block of two layers over completed blocks %b0, %b1):
    ```mlir
    %h0 = attnres.block_attn_res %b0, %b1 query %q0 key_norm %k0 ...
    ...
    %h1 = attnres.block_attn_res %b0, %b1, %p query %q1 key_norm %k1 ...
    ```
    After:
    ```mlir
    %o:2, %lse:2 = attnres.phase1 %b0, %b1 queries(%q0, %q1)
        key_norms(%k0, %k1) epsilon = ... : tensor<1x16x64xf32>, tensor<64xf32>
    ... %o#0 ...
    %h1 = attnres.phase2 %o#1, %lse#1, %p query %q1 key_norm %k1 ...
    ```
  }];
  let options = [
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Say in remarks what was done and why ops were left as they are">,
  ];
  let dependentDialects = ["::mlir::attnres::AttnResDialect"];
}

def FuseNorm : Pass<"attnres-fuse-norm", "::mlir::func::FuncOp"> {
  let summary = "Fold the PreNorm RMSNorm that reads a phase-2 result into "
                "the phase-2 op";
  let description = [{
    In a PreNorm model the aggregated input of a layer is read by the layer's
    RMSNorm. This pass moves that norm into the `attnres.phase2` that
    produces the input, so that one op scores the partial sum, merges it and
    normalizes the result: the un-normalized input no longer makes a round
    trip through memory (2 rows of D per token and layer). The
    un-normalized result stays available; other readers keep reading it.

    Only `attnres.rms_norm` fuses. A phase-2 result read by a LayerNorm, and
    a block's first layer (read from phase 1 directly), keep their norm;
    the pass says how many in a remark.

    Before:
    ```mlir
    %h = attnres.phase2 %o, %lse, %p query %q key_norm %k epsilon = 1.0e-06 : ...
    %y = attnres.rms_norm %h, %g epsilon = 1.0e-05 : ...
    ```
    After:
    ```mlir
    %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %k epsilon = 1.0e-06
        norm %g epsilon = 1.0e-05 : ...
    ```
  }];
  let options = [
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Say in remarks what was done and why ops were left as they are">,
  ];
  let dependentDialects = ["::mlir::attnres::AttnResDialect"];
}

def ReportAggregation : Pass<"attnres-report-aggregation",
                             "::mlir::ModuleOp"> {
  let summary = "Print the depth aggregations of each function and the "
                "bytes and flops each layer's aggregation takes";
  let description = [{
    For every function in Block AttnRes form (`attnres.block_attn_res`, or
    its two-phase split), prints a table to stdout: per layer (in program
    order; the last row is the final aggregation) the completed blocks it
    attends over, whether it has a partial block sum, the size of its
    phase-1 group, the form it is in now, and the per-token I/O of the ops
    that produce its normalized input, in rows of D elements, in each of
    the three forms: unsplit, two-phase, two-phase with the norm fused.
    Next to them, the paper's budget for Block AttnRes, (N/S + 5) d, with N
    the completed blocks and S the group size, and the standard residual's
    3 d. Changes nothing. Part of the `--attnres-report` pipeline.

    What is counted: each [..., D] operand read once and each [..., D]
    result written once per op (a kernel that keeps a token's row on chip),
    for the partial-sum add that forms the layer's partial (3), the
    aggregation (unsplit: each source and the result; two-phase: the
    layer's share of phase 1, i.e. the completed blocks once per group plus
    its state, then phase 2's state and partial in and result out) and the
    PreNorm norm (2, or 0 once fused). One completed block is phase 1's
    output as it is and costs no write.

    The last column, `flops`, is the same ops' arithmetic per token in the
    form the layer is in, in units of D floating-point operations (a
    multiply-add counts two): the partial-sum add (1), per source and query
    a sum of squares and a query-weighted sum (4; phase 1 takes a completed
    block's squares once for its group's S layers: (2 + 2S)/S per block and
    layer), the softmax-weighted sum (2 per source, none for one completed
    block), phase 2's score and merge (4 + 3) and the norm (4). A standard
    residual layer does 5 (its add and its norm); set against a sublayer's
    matrix products (2 per weight and token), this is the share of
    arithmetic the aggregation adds. `bench/bench_block_overhead.py`
    measures the share of run time it takes.
  }];
}

def ExposeDepthWeights : Pass<"attnres-expose-depth-weights",
                              "::mlir::ModuleOp"> {
  let summary = "Return the softmax weights over depth of every aggregation "
                "as extra function results";
  let description = [{
    For every `attnres.block_attn_res` (in program order, index k) computes
    its weights over its sources, `softmax_i(query . rms_norm(v_i))`, as
    TOSA ops in f32 of shape `[n, tokens...]`, and appends them to the
    function's results, named `attnres.depth_weights.<k>` (result attribute
    `onnx.name`). `attnres-run --dump-depth-weights` runs it after raising
    and before the CPU pipeline. Functions with dynamic shapes are left
    alone, with a remark.
  }];
  let options = [
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Say in remarks what was done and why ops were left as they are">,
  ];
  let dependentDialects = [
    "::mlir::attnres::AttnResDialect",
    "::mlir::tosa::TosaDialect",
  ];
}

def OutlineLayers : Pass<"attnres-outline-layers", "::mlir::ModuleOp"> {
  let summary = "Move each layer into a function, one function per distinct "
                "layer";
  let description = [{
    A whole model in one function makes LLVM's cost grow faster than its
    depth (loop passes over one function of thousands of loops). This pass
    cuts each public function's body before every layer head, a norm or an
    aggregation (`attnres.rms_norm`, `attnres.layer_norm`,
    `attnres.block_attn_res`, `attnres.phase1`, `attnres.phase2`) that
    follows other work, and moves each piece into a private function that
    the original calls. Weights (constants of more than `max-inline-elements`
    elements) stay where they are and are passed as arguments; small
    constants are copied into the piece. Pieces whose bodies are identical
    (same ops, attributes and types, in the same order) share one function,
    so the compiler's work grows with the number of distinct layer shapes,
    not with depth. What comes before the first head (the embedding) stays
    in the caller, and so do pieces of fewer than `min-ops` ops. Outlined
    functions are marked `no_inline` so that LLVM does not undo this. The
    `tosa.add` that forms an `attnres.phase2`'s partial block sum goes into
    that phase 2's piece rather than the piece of its last summand (when
    nothing else there reads it), so that `--attnres-to-vector` can do the
    add in phase 2's own pass over the rows.

    Before:
    ```mlir
    func.func @main(%x: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
      %n0 = attnres.rms_norm %x, %g0 epsilon = 1.0e-05 : ...
      %m0 = tosa.matmul %n0, %w0 ...
      %h1 = tosa.add %x, %m0 ...
      %n1 = attnres.rms_norm %h1, %g1 epsilon = 1.0e-05 : ...
      %m1 = tosa.matmul %n1, %w1 ...
      %h2 = tosa.add %h1, %m1 ...
      return %h2
    }
    ```
    After:
    ```mlir
    func.func @main(%x: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
      %h1 = call @main_layer0(%x, %g0, %w0) : ...
      %h2 = call @main_layer0(%h1, %g1, %w1) : ...
      return %h2
    }
    func.func private @main_layer0(%x: ..., %g: ..., %w: ...) -> ...
        attributes {no_inline} { ... }
    ```
  }];
  let options = [
    Option<"minOps", "min-ops", "unsigned", /*default=*/"4",
           "Leave pieces of fewer ops in the caller">,
    Option<"maxInlineElements", "max-inline-elements", "int64_t",
           /*default=*/"16",
           "Copy constants of at most this many elements into the outlined "
           "functions; larger ones are passed as arguments">,
  ];
}

#endif // ATTNRES_TRANSFORMS_PASSES_TD
