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

    With `kernel-ops=false` the ops that `--attnres-to-gpu` turns into
    kernels (`rms_norm`, `phase1`, `phase2`, `block_attn_res`) are left for
    it, so that it can run last before bufferization (see there).
  }];
  let options = [
    Option<"kernelOps", "kernel-ops", "bool", /*default=*/"true",
           "Lower the ops the GPU kernels take too; false leaves them for "
           "--attnres-to-gpu">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ConvertAttnResToVector : Pass<"attnres-to-vector"> {
  let summary = "Lower Block AttnRes aggregations to loops over token rows "
                "with vector arithmetic";
  let description = [{
    Rewrites `attnres.block_attn_res`, `attnres.phase1` and `attnres.phase2`
    (with or without its fused RMSNorm) into one `scf.forall` over token
    rows each, on tensors: the loop runs over the product of the token
    dims, each row addressed by its token indices (no reshapes), and the
    body does one row's whole aggregation with `vector` arithmetic along
    `D`, so every source row is read from memory once and the later steps
    find it in L1. The results are `bufferization.alloc_tensor`s, which CSE
    does not merge with a later op's identical init.
    `--attnres-to-linalg` instead streams whole tensors through one
    `linalg.generic` per step (scores, softmax, weighted sum; phase 2 with
    its norm reads the partial sum three times and the state twice).

    Per row:

    - `block_attn_res`: one pass per source for its sum of squares and its
      dot product with `query * key_norm_weight` (the key norm folded in,
      never materialized), the softmax over depth in scalars, one pass that
      forms the weighted sum;
    - `phase1`: one pass per completed block scores it for all `S` layers
      of the group (its sum of squares computed once, not once per layer),
      then one pass forms every read output; `lse` is written per row;
    - `phase2`: one pass scores the partial sum, the merge weight
      `sigmoid(s_p - lse)`, then one pass writes the merged row; with the
      fused norm, one pass for the merged row's sum of squares and one that
      writes the normalized row (and the merged row, when it is read). When
      the partial sum is a `tosa.add` of two tensors of its type in the
      same block, read by nothing before the phase 2, the loop does the add
      (in the add's element type) from its operands and, if the sum is read
      later, writes it in the scoring pass: the add's own pass over memory
      is saved.

    Vectors hold `vector-bits` of the compute type (f32 for f16/bf16 storage,
    which is read widened and written rounded); a row whose `D` is not a
    multiple of the width ends with one masked step. Dynamic sizes are read
    at run time and checked as `--attnres-to-linalg` checks them. The loop
    over rows becomes the runtime's parallel loop (`scf-forall-to-parallel`,
    `--attnres-parallel-to-runtime`) in `--attnres-cpu-pipeline`.

    Before:
    ```mlir
    %h = attnres.phase2 %o, %lse, %p, %q, %k epsilon = 1.000000e-06
        : tensor<1x128x512xf32>, tensor<512xf32>
    ```
    After (abridged):
    ```mlir
    %e = bufferization.alloc_tensor() : tensor<1x128x512xf32>
    %h = scf.forall (%r) in (128) shared_outs(%out = %e) -> tensor<1x128x512xf32> {
      %t1 = arith.remui %r, %c128 : index
      %t0 = arith.divui %r, %c128 : index
      %acc:2 = scf.for %k = %c0 to %c512 step %c16 iter_args(...) {
        %v = vector.transfer_read %p[%t0, %t1, %k], %zero {in_bounds = [true]}
        ...  // vector.fma: squares and query-weighted sum
      }
      ...    // logit, merge weight
      %row = tensor.extract_slice %out[%t0, %t1, 0] [1, 1, 512] [1, 1, 1]
      %new = scf.for %k = ... { vector.fma ... vector.transfer_write ... }
      scf.forall.in_parallel {
        tensor.parallel_insert_slice %new into %out[%t0, %t1, 0] [1, 1, 512] [1, 1, 1]
      }
    }
    ```
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "Width in bits of the vectors of the compute type (a power of "
           "two from 32 to 4096; 512 is one AVX-512 register, two AVX2 "
           "ones)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def ConvertChecksToRuntime
    : Pass<"attnres-checks-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower host-side cf.assert to a call of the attnres runtime";
  let description = [{
    `cf.assert`'s own lowering prints its message and aborts the process,
    which takes the application running a model down with it. The checks
    `--attnres-to-linalg` emits (operands whose run-time sizes disagree, which
    would be read out of bounds) become a branch to a call of the runtime's
    `attnres_check_failed(message)`, which makes `attnres_model_run` return
    an error carrying the message. Asserts inside `gpu.module`s are left as
    they are. Run before `--convert-cf-to-llvm`.

    Before:
    ```mlir
    cf.assert %same, "model.mlir:3:8: attnres.block_attn_res: ..."
    ```
    After (abridged):
    ```mlir
      cf.cond_br %same, ^continue, ^failed
    ^failed:
      llvm.call @attnres_check_failed(%message) : (!llvm.ptr) -> ()
      llvm.unreachable
    ```
  }];
  let dependentDialects = [
    "::mlir::cf::ControlFlowDialect",
    "::mlir::LLVM::LLVMDialect",
  ];
}

def ConvertSameShapeToLinalg : Pass<"attnres-same-shape-to-linalg"> {
  let summary = "Lower elementwise TOSA ops of known-equal dynamic sizes to "
                "linalg without run-time broadcast checks";
  let description = [{
    With dynamic shapes, `tosa-to-linalg` checks every dynamic dim of every
    operand of an elementwise op for a broadcast from 1 at run time: an
    `scf.if` and, when the dim is 1, a copy. At batch 1 that copies every
    operand of every residual add and score mask, and keeps the loops from
    fusing. The ONNX importer knows when the operands' dynamic dims are one
    size (they trace back to the same graph input dims) and marks such
    `tosa.add`, `tosa.sub`, `tosa.mul` (shift 0) and `tosa.select` ops with
    `attnres.same_shape`; this pass lowers the marked ones to one
    `linalg.generic` each, broadcasting only static unit dims. It runs
    after the raising passes, which match TOSA, and before `tosa-to-linalg`,
    which lowers the rest.

    Before:
    ```mlir
    %y = tosa.add %a, %b {attnres.same_shape}
        : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
    ```
    After:
    ```mlir
    %e = tensor.empty(%d0, %d1) : tensor<?x?x64xf32>
    %y = linalg.generic {...} ins(%a, %b : ...) outs(%e : ...) {
      arith.addf
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ConvertAttnResToGPU : Pass<"attnres-to-gpu", "ModuleOp"> {
  let summary = "Lower attnres ops to hand-written GPU kernels";
  let description = [{
    Replaces `attnres.rms_norm`, `attnres.block_attn_res`, `attnres.phase1`
    and `attnres.phase2` (with or without its fused RMSNorm) by a
    `gpu.launch_func` of a kernel in the `gpu.module @attnres_kernels`, one
    kernel per op kind, feature size, element type and number of sources,
    shared by every op of that signature. The ops' tensors become buffers
    (`bufferization.to_buffer`, and fresh `memref.alloc`s for the results,
    read back with `bufferization.to_tensor restrict`), viewed as
    `[rows, D]`; the rest of the function stays on tensors for upstream
    bufferization. `attnres.layer_norm` is left to `--attnres-to-linalg`.

    The aggregation is memory-bound, so each kernel reads every source row
    once from memory and writes each result once:

    - a row of `D` elements is split over `threads-per-row` threads (a warp,
      or up to 1024 threads for large `D`), each holding a few 16-byte
      vectors in registers (`ld.global.v4`); tail vectors are predicated;
    - exp, log and rsqrt are the hardware's approximations (`ex2.approx`,
      `lg2.approx`, `rsqrt.approx`, about 2 ulp), so the kernels need no
      libdevice;
    - row sums (squares for the norms, query-weighted sums for the logits)
      accumulate in f32 and are reduced by warp shuffles (`shfl.sync.bfly`),
      then across warps through shared memory;
    - phase 2 keeps the partial sum, the state and the merged row in
      registers, so the layer's RMSNorm costs no second read, and writes the
      merged row only when something reads it;
    - phase 1 scores every completed block for all `S` layers while reading
      it once, keeps the `S x N` logits in shared memory, and then forms the
      `S` outputs a few layers at a time (the blocks come back from L2, not
      from memory); `lse` is written in f32.

    Storage may be f32, f16 or bf16; arithmetic is f32. Epsilons are kernel
    arguments, so ops differing only in them share a kernel.

    At decode a launch has a few rows, one CTA each, and most SMs idle while
    each CTA streams its row (phase 1 also the layers' `[S, D]` products).
    With fewer rows than `min-ctas`, phase 1, `block_attn_res` and phase 2
    split each row of at least 256 vectors (2048 bf16 or 1024 f32 elements)
    across `splits = min(16, ceil(min-ctas / rows))` CTAs along grid y,
    each covering slices of 32 vectors of the row, in two launches: a
    `<kernel>_split_sums` kernel (phase 2's two norm variants share one)
    writes each CTA's partial sums over its slices (phase 1: one CTA per
    source too, along grid z) to an f32
    workspace `[rows, splits, ...]`, and `<kernel>_split` adds a row's
    partial sums in a fixed order (every CTA of a row gets the same softmax
    weights and norm scale, and every run the same bits, which atomics
    would not give) and finishes its slices. Phase 2's norm takes the merged
    row's sum of squares from those of the state and the partial sum, so it
    needs no third kernel. A static row count is decided here; a dynamic one
    at run time, by an `scf.if` between the split launches and the unsplit
    one, so one artifact serves prefill and decode.

    Before:
    ```mlir
    %y = attnres.rms_norm %x, %g epsilon = 1.000000e-05
        : tensor<16x64xf32>, tensor<64xf32>
    ```
    After (abridged):
    ```mlir
    %xb = bufferization.to_buffer %x read_only : ... to memref<16x64xf32>
    %yb = memref.alloc() : memref<16x64xf32>
    gpu.launch_func @attnres_kernels::@rms_norm_64xf32
        blocks in (%c4, %c1, %c1) threads in (%c128, %c1, %c1)
        args(%xr : memref<?x64xf32>, %gb : memref<64xf32>,
             %yr : memref<?x64xf32>, %eps : f32)
    %y = bufferization.to_tensor %yb restrict writable : ...
    ```
  }];
  let options = [
    Option<"maxVectorsPerThread", "max-vectors-per-thread", "int64_t",
           /*default=*/"4",
           "Widen a row's thread group (from a warp up to 1024 threads) "
           "until each thread holds at most this many 16-byte vectors of a "
           "row">,
    Option<"minCTAs", "min-ctas", "int64_t", /*default=*/"264",
           "Split the rows of phase 1, phase 2 and block_attn_res across "
           "CTAs when a launch has fewer rows than this (264: two per SM of "
           "an H100 or H200), into as many CTAs per row as reach it, at most "
           "16; 0 never splits">,
  ];
  let dependentDialects = [
    "::mlir::cf::ControlFlowDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def ConvertAllocToGPU : Pass<"attnres-alloc-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Place each heap buffer where its users run: device, host or "
                "managed memory";
  let description = [{
    Decides, for every `memref.alloc` of a function whose kernels are still
    `gpu.launch` bodies, which memory serves it, from what reads and writes
    it. Buffers that reach each other through views, `scf.if`/`scf.for`
    results or block arguments (bufferization's run-time choices) are one
    buffer to this pass and get one kind of memory.

    - Used by the GPU only (inside a `gpu.launch`, an operand of a
      `gpu.launch_func` or of an `attnres_cublas_*` call): device memory,
      `gpu.alloc`. Host code may still pass it around, take its sizes,
      return it (the runtime copies results out) or free it.
    - Used by host code only (the shape buffers of `tensor.from_elements`,
      read by `memref.reshape`): stays `memref.alloc`, host memory.
    - Both: a host `memref.store` into it (a fill whose loop folded away)
      becomes a one-thread `gpu.launch` storing the same value, in the same
      place in program order; a buffer the host still reads or writes
      otherwise (a load, a `memref.copy`, an unknown op) is managed memory,
      `gpu.alloc host_shared`.

    A host load from a function argument (an input, which the runtime
    places in device memory) reads a managed copy made on entry; a host
    load from a constant global reads a host copy of the global
    (`<name>__host`, which the CUDA artifact keeps in the library instead of
    moving it to the device with the weights). `memref.dealloc` of a GPU
    buffer becomes a synchronous `gpu.dealloc`, which `--attnres-gpu-async`
    then orders after the work that uses the buffer. Stack buffers
    (`memref.alloca`) stay on the host.

    With `managed=true` every buffer the GPU uses is managed memory (and the
    stores stay on the host): the placement before device memory, kept to
    measure one against the other.

    Before:
    ```mlir
    %b = memref.alloc(%n) : memref<?x64xf32>
    gpu.launch_func @k::@k blocks in (%n, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%b : memref<?x64xf32>)
    memref.dealloc %b : memref<?x64xf32>
    ```
    After:
    ```mlir
    %b = gpu.alloc (%n) : memref<?x64xf32>
    gpu.launch_func @k::@k ... args(%b : memref<?x64xf32>)
    gpu.dealloc %b : memref<?x64xf32>
    ```
  }];
  let options = [
    Option<"managed", "managed", "bool", /*default=*/"false",
           "Every buffer the GPU uses in managed memory, host stores kept on "
           "the host">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def ConvertLinalgToBLAS : Pass<"attnres-linalg-to-blas", "ModuleOp"> {
  let summary = "Call a BLAS for batch matrix products on buffers";
  let description = [{
    Replaces every `linalg.batch_matmul` on f32 memrefs (what `tosa.matmul`
    becomes after `tosa-to-linalg-named` and bufferization) with a call to
    `attnres_sgemm_batched`, which the attnres runtime implements with
    OpenBLAS's `cblas_sgemm`. The product accumulates into the output, as
    `linalg.batch_matmul` does. Operands are cast to fully dynamic strided
    memrefs so that one C-interface function serves every shape.

    The output of a matrix product is nearly always a fresh buffer filled
    with zeros just before: that fill (a memset), and the copies of a shared
    zero buffer that bufferization makes once CSE has merged the fills of
    several products, are a pass over memory each. A `memref.copy` from a
    buffer whose only write is a fill becomes a fill of its target; a fill
    with 0 that nothing reads before the product is dropped, and the call
    becomes `attnres_sgemm_batched_overwrite` (C = A B, BLAS's beta = 0).

    A `linalg.transpose` into a fresh buffer that only a product reads
    (directly or through a `memref.collapse_shape`), with its input
    unchanged in between, becomes a `memref.transpose` view of that input:
    the runtime hands BLAS the strides as a leading dimension or a
    transposed operand instead of a copy. Attention's head split (Q, K^T
    and V of each layer) is the case. The other way round, a transpose of a
    product's fresh output into a fresh buffer (attention's merge of heads)
    becomes the product writing a transposed view of that buffer, when its
    rows stay contiguous.

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
    and with a zero-filled output:
    ```mlir
    %c = memref.alloc() : memref<1x16x96xf32>
    linalg.fill ins(%zero : f32) outs(%c : memref<1x16x96xf32>)
    linalg.batch_matmul ins(%a, %b : ...) outs(%c : memref<1x16x96xf32>)
    ```
    becomes
    ```mlir
    %c = memref.alloc() : memref<1x16x96xf32>
    ...
    call @attnres_sgemm_batched_overwrite(%0, %1, %2) : (...) -> ()
    ```

    With `half-callee` set (`attnres_cublas_gemm_batched_ex` on the GPU
    pipeline), f16 and bf16 products are calls too, of
    `<half-callee>_<A and B's type>_<C's type>` (`_f16_f16`, `_f16_f32`,
    `_bf16_bf16`, `_bf16_f32`, and their `_overwrite` variants), which
    compute in f32 and round C once, as cuBLAS's
    `cublasGemmStridedBatchedEx` with `CUBLAS_COMPUTE_32F` does. The
    importer writes a half-precision product as f32 arithmetic: its
    operands widened (`arith.extf`) into fresh buffers, an f32
    `linalg.batch_matmul`, the result narrowed (`arith.truncf`). The
    widening copies that only the product reads become the product reading
    the half-precision operands, and the narrowing of an overwritten f32
    result that nothing else reads becomes the call writing the narrowed
    buffer: no f32 copy of a weight or activation is left. A
    `linalg.batch_matmul` of half operands into a half result is a call as
    well, computing in f32 where the op's own arithmetic is the result's
    type. Without `half-callee` (the CPU, whose BLAS has no half-precision
    product) all of this is left alone.

    With `contiguous-operands` (which the GPU pipeline sets), every
    operand reaches the call in a layout cuBLAS takes: one of its
    matrices' two strides is 1 and the other a leading
    dimension from the matrix's extent (at least 1) to INT_MAX, the rule of
    the runtime's `blasLayout`; the runtime's cuBLAS glue computes nothing
    on the host and stops on any other layout. An operand whose static
    strides fail the rule (a broadcast stride of 0, a strided slice) is
    copied into a fresh row-major buffer first (`memref.alloc`,
    `memref.copy`, which the GPU pipeline makes a kernel), and freed after
    the call; an output is computed into the copy (its values copied in
    first unless the call overwrites it) and copied back. An operand whose
    strides are only known at run time gets the rule's test and an `scf.if`
    that passes it as it is or such a copy. Operands whose static strides
    pass (row-major buffers, the transposed views above) are untouched.
    ```mlir
    %ok = ... // blasLayout's rule on %b's strides and sizes
    %0 = scf.if %ok -> (memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) {
      %c = memref.cast %b : ...
      scf.yield %c
    } else {
      %copy = memref.alloc(...) : memref<?x?x?xf32>
      memref.copy %b, %copy : ...
      %c = memref.cast %copy : ...
      scf.yield %c
    }
    call @attnres_cublas_sgemm_batched(%a0, %0, %c0) : (...) -> ()
    scf.if %ok {
    } else {
      memref.dealloc %0 : ...
    }
    ```
  }];
  let options = [
    Option<"callee", "callee", "std::string",
           /*default=*/"\"attnres_sgemm_batched\"",
           "The runtime function called, and with `_overwrite` appended its "
           "beta = 0 variant: attnres_sgemm_batched (OpenBLAS), or "
           "attnres_cublas_sgemm_batched (cuBLAS, on managed buffers; what "
           "--attnres-gpu-pipeline uses)">,
    Option<"halfCallee", "half-callee", "std::string", /*default=*/"\"\"",
           "The prefix of the runtime functions called for f16 and bf16 "
           "products, computing in f32: attnres_cublas_gemm_batched_ex "
           "(cuBLAS's cublasGemmStridedBatchedEx; what "
           "--attnres-gpu-pipeline uses). Empty (the default): half-precision "
           "products are left alone">,
    Option<"contiguousOperands", "contiguous-operands", "bool",
           /*default=*/"false",
           "Copy operands whose strides cuBLAS cannot take into row-major "
           "buffers before the call (with a run-time test where the strides "
           "are dynamic), instead of passing them as they are: the cuBLAS "
           "glue computes nothing on the host">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def ConvertParallelToRuntime : Pass<"attnres-parallel-to-runtime",
                                    "ModuleOp"> {
  let summary = "Run the outer scf.parallel loops on the runtime's threads";
  let description = [{
    Outlines the body of each outermost `scf.parallel` loop nest on buffers
    (what `convert-linalg-to-parallel-loops` makes of every elementwise op,
    norm and softmax) into a function of a range of its outer iterations,
    and replaces the loop with a call to the runtime's
    `attnres_parallel_for(body, context, n)`, which splits the `n`
    iterations of the first dimension with more than one over its thread
    pool. Leading dims whose sizes only a run knows (a batch, a sequence)
    are first collapsed into one, with the next dim when only the first is
    dynamic, so that a batch of 1 still splits. Values the loop reads from outside travel in a stack-allocated
    context (memref descriptors, integers, floats); constants are copied
    into the body so that LLVM still sees static bounds and vectorizes the
    inner loops.

    Left alone: loops with reductions (`scf.reduce` with operands), loops
    whose body calls a function or allocates, loops that read values of
    other types, and loops of fewer than `min-work` iterations when their
    bounds are static (the iterations of the `scf.for` loops a body holds
    count too: a few rows each reduced by a long loop are enough work). The
    lowered code then needs the attnres runtime (the
    JIT and artifacts have it).

    Before:
    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%c128, %c512) step (%c1, %c1) {
      %x = memref.load %a[%i, %j] : memref<128x512xf32>
      ...
    }
    ```
    After:
    ```mlir
    %ctx = llvm.alloca %c1_i64 x !llvm.struct<(struct<(ptr, ptr, i64, ...)>, ...)>
    llvm.store ... // the captured values
    %body = func.constant @f_parallel0 : (!llvm.ptr, i64, i64) -> ()
    call @attnres_parallel_for(%body, %ctx, %c128_i64)
    ...
    func.func private @f_parallel0(%ctx: !llvm.ptr, %begin: i64, %end: i64) {
      ... // the captured values, loaded
      scf.parallel (%i, %j) = (%begin', %c0) to (%end', %c512) step (%c1, %c1) {
        ...
      }
    }
    ```
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", /*default=*/"16384",
           "Leave loop nests with static bounds of fewer iterations "
           "serial">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def ConvertReductionsToGPU : Pass<"attnres-reductions-to-gpu",
                                  "::mlir::func::FuncOp"> {
  let summary = "Reduce the rows of linalg reductions with a warp per row";
  let description = [{
    On buffers, before `convert-linalg-to-parallel-loops`: a linalg op with
    one reduction dimension whose body folds each element into the
    accumulator with an associative, commutative combiner (`arith.addf`,
    `mulf`, `maximumf`, `minimumf`, `maxnumf`, `minnumf`: softmax's maximum
    and sum, a norm's mean) becomes a `gpu.launch` in which each warp
    reduces one row: its lanes stride through the row 32 elements apart,
    each folding into a register that starts at the combiner's neutral
    element, five butterfly `gpu.shuffle`s combine the lanes, and lane 0
    folds in the output's initial value and stores it. The parallel loops
    would give each thread a row of its own, reading addresses a row apart
    and loading and storing the accumulator at every element.

    Reductions whose inputs do not have the reduced dimension innermost are
    left to a thread per output element (a warp would read down a column;
    neighbouring threads on neighbouring columns coalesce), but any such op
    whose reduction loops come before a parallel one is generalized and its
    loops interchanged, parallel ones first (the reduction order of each
    element kept): as it stood, `convert-linalg-to-parallel-loops` would
    make the reduction a host loop launching a kernel per step. Left alone:
    accumulators other than f32 (shuffles move 32-bit lanes), bodies that
    read the accumulator more than once, tensors, and ops already inside
    `scf.parallel` or `gpu.launch`. Partials are combined
    in another order than the sequential loop's, so float sums may differ
    in their last bits.

    Before:
    ```mlir
    linalg.reduce ins(%x : memref<?x4x?xf32>) outs(%m : memref<?x4xf32>) dimensions = [2]
      (%in: f32, %acc: f32) {
        %r = arith.maximumf %in, %acc : f32
        linalg.yield %r : f32
      }
    ```
    After (abridged):
    ```mlir
    gpu.launch blocks(%bx, ...) in (%g = ceildiv(rows, 8), ...) threads(%tx, ...) in (%t = 256, ...) {
      // row = bx * 8 + tx / 32, lane = tx % 32
      %p = scf.for %k = %lane to %n step %c32 iter_args(%a = -inf) -> (f32) {...}
      // 5 x gpu.shuffle xor, arith.maximumf; lane 0 stores max(%m[row], %p)
    }
    ```
  }];
  let options = [
    Option<"warpsPerBlock", "warps-per-block", "int64_t", /*default=*/"8",
           "Rows (one warp each) per block of threads, in [1, 32]">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

#endif // ATTNRES_CONVERSION_PASSES_TD
