//===- Pipelines.h - Named attnres pass pipelines ---------------*- C++ -*-===//
//
// The pipelines that take an imported module (TOSA + linalg + attnres) down
// to a target, registered as --attnres-cpu-pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_PIPELINES_PIPELINES_H
#define ATTNRES_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;

namespace attnres {

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> raise{
      *this, "raise",
      llvm::cl::desc("Raise decomposed norms and spelled-out AttnRes "
                     "aggregations into attnres ops first "
                     "(--attnres-raise-norms, --attnres-raise-aggregation), "
                     "so exported AttnRes models take the fused path"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> twoPhase{
      *this, "two-phase",
      llvm::cl::desc("Split Block AttnRes aggregations into one phase-1 op "
                     "per block and one phase-2 op per layer "
                     "(--attnres-two-phase), so each completed block is read "
                     "once per block instead of once per layer"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseNorm{
      *this, "fuse-norm",
      llvm::cl::desc("Fold each layer's PreNorm RMSNorm into its phase-2 op "
                     "(--attnres-fuse-norm; needs two-phase)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> outline{
      *this, "outline",
      llvm::cl::desc("Move each layer into a function and share it between "
                     "identical layers (--attnres-outline-layers), so that "
                     "compile time grows with the number of distinct layer "
                     "shapes rather than with depth"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> blas{
      *this, "blas",
      llvm::cl::desc("Call cblas_sgemm (through the attnres runtime) for f32 "
                     "matrix products instead of emitting loops"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("Run the outer loops of elementwise ops, norms and "
                     "softmaxes on the runtime's threads "
                     "(--attnres-parallel-to-runtime); needs the attnres "
                     "runtime, so off for mlir-runner"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> approximateMath{
      *this, "approximate-math",
      llvm::cl::desc("Replace f32 exp, tanh, log and friends by polynomial "
                     "approximations within a few ulps of libm "
                     "(--attnres-approximate-math), so that loops calling "
                     "them vectorize; off, they call libm"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> tileAttention{
      *this, "tile-attention",
      llvm::cl::desc("Run attention's scores a tile of query rows at a time "
                     "when they outgrow the cache "
                     "(--attnres-tile-attention); off by default: no faster "
                     "on the machine of bench/RESULTS.md, where the passes "
                     "over the scores are bound by compute, not memory"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> fuseElementwise{
      *this, "fuse-elementwise",
      llvm::cl::desc("Fuse producer/consumer elementwise linalg ops before "
                     "bufferization, saving a buffer and a pass over memory "
                     "per fused op"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> rowLoops{
      *this, "row-loops",
      llvm::cl::desc("Lower the Block AttnRes aggregations (block_attn_res, "
                     "phase1, phase2) to loops over token rows with vector "
                     "arithmetic (--attnres-to-vector), reading each source "
                     "row from memory once; off, they become linalg ops "
                     "with the rest (--attnres-to-linalg)"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("Width of the row loops' vectors in bits "
                     "(--attnres-to-vector's vector-bits)"),
      llvm::cl::init(512)};
};

/// Appends the CPU lowering: raising of norms and aggregations, the two-phase
/// split of Block AttnRes and its norm fusion (where the module has
/// aggregations), one function per distinct layer, TOSA and attnres to linalg,
/// elementwise fusion, one-shot bufferization across function boundaries with
/// deallocation, BLAS calls for GEMMs, loops, and the LLVM dialect.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("GPU architecture the kernels are compiled for (sm_80 "
                     "for A100, sm_90 for H100/H200)"),
      llvm::cl::init("sm_90")};
  PassOptions::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features: the PTX ISA version ptxas is given; "
                     "sm_90 needs +ptx80 or newer"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("What gpu-module-to-binary embeds: 'bin' (a cubin, "
                     "through ptxas), 'isa' (PTX text), 'fatbin', or "
                     "'offload' (LLVM IR)"),
      llvm::cl::init("bin")};
  PassOptions::Option<bool> raise{
      *this, "raise",
      llvm::cl::desc("Raise decomposed norms and spelled-out aggregations "
                     "into attnres ops first"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> twoPhase{
      *this, "two-phase",
      llvm::cl::desc("Split Block AttnRes aggregations into phase-1 and "
                     "phase-2 kernels"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseNorm{
      *this, "fuse-norm",
      llvm::cl::desc("Fold each layer's RMSNorm into its phase-2 kernel"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> kernels{
      *this, "kernels",
      llvm::cl::desc("Lower attnres ops to the hand-written kernels of "
                     "--attnres-to-gpu; off, they go through linalg and the "
                     "generic loop mapping like the rest of the model (the "
                     "unfused baseline of bench/gpu)"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> maxVectorsPerThread{
      *this, "max-vectors-per-thread",
      llvm::cl::desc("--attnres-to-gpu's max-vectors-per-thread"),
      llvm::cl::init(4)};
  PassOptions::Option<bool> cublas{
      *this, "cublas",
      llvm::cl::desc("Matrix products (f32, and f16 and bf16 computing in "
                     "f32) as calls to cuBLAS (which the runtime loads), not "
                     "mapped loops"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> warpReductions{
      *this, "warp-reductions",
      llvm::cl::desc("Row reductions (softmax, norms) with a warp per row "
                     "(--attnres-reductions-to-gpu), not a thread per row"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> minCTAs{
      *this, "min-ctas",
      llvm::cl::desc("Split the rows of the attnres kernels across CTAs while "
                     "a launch has fewer rows than this (decode; "
                     "--attnres-to-gpu's min-ctas); 0 never splits"),
      llvm::cl::init(264)};
  PassOptions::Option<bool> managedMemory{
      *this, "managed-memory",
      llvm::cl::desc("Every buffer the GPU uses in managed memory, not device "
                     "memory (--attnres-alloc-to-gpu's managed option)"),
      llvm::cl::init(false)};
};

/// Appends the CUDA lowering: the same raising and two-phase split as the CPU
/// pipeline, attnres ops as hand-written kernels, the rest of the model as
/// linalg loops mapped to GPU blocks and threads, buffers in device memory,
/// the work queued on one stream with one wait per run, and upstream's NVVM
/// lowering down to a gpu.binary.
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options);

/// Registers --attnres-cpu-pipeline and --attnres-gpu-pipeline.
void registerAttnResPipelines();

} // namespace attnres
} // namespace mlir

#endif // ATTNRES_PIPELINES_PIPELINES_H
