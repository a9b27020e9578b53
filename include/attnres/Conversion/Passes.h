//===- Passes.h - attnres conversion passes ---------------------*- C++ -*-===//
//
// Declares the lowerings out of the attnres dialect and their patterns.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_CONVERSION_PASSES_H
#define ATTNRES_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class DialectRegistry;
class RewritePatternSet;

namespace attnres {

#define GEN_PASS_DECL
#include "attnres/Conversion/Passes.h.inc"

/// Adds the patterns that lower attnres ops to linalg on tensors.
void populateAttnResToLinalgPatterns(RewritePatternSet &patterns);

/// Adds the patterns that lower the aggregations (block_attn_res, phase1,
/// phase2) to loops over token rows with vector arithmetic; `vectorBits` is
/// the width of the vectors of the compute type.
void populateAttnResToVectorPatterns(RewritePatternSet &patterns,
                                     int64_t vectorBits);

/// Declares that gpu.launch_func reads and writes its buffer operands. Upstream
/// leaves its effects unknown, which the ownership-based buffer deallocation
/// (run after the kernels are in place) rejects.
void registerLaunchFuncMemoryEffects(DialectRegistry &registry);

/// The gpu.module that --attnres-to-gpu puts its kernels in.
constexpr llvm::StringLiteral kGPUKernelModule = "attnres_kernels";

/// The runtime function that --attnres-linalg-to-blas calls on the GPU:
/// cuBLAS's batched sgemm (the CPU's is the pass's default callee).
constexpr llvm::StringLiteral kCublasSgemmBatchedFn =
    "attnres_cublas_sgemm_batched";

/// The prefix of the runtime functions that --attnres-linalg-to-blas calls
/// on the GPU for f16 and bf16 products (its half-callee): cuBLAS's
/// cublasGemmStridedBatchedEx, computing in f32. The pass appends A and B's
/// element type and C's (_f16_f16, _f16_f32, _bf16_bf16, _bf16_f32).
constexpr llvm::StringLiteral kCublasGemmBatchedExFn =
    "attnres_cublas_gemm_batched_ex";

/// What the cuBLAS functions of the runtime start with: they read and write
/// GPU buffers on the launches' stream, in program order with the kernels.
constexpr llvm::StringLiteral kCublasFnPrefix = "attnres_cublas_";

/// Whether `op` calls one of them.
inline bool isCublasCall(Operation *op) {
  auto call = dyn_cast<func::CallOp>(op);
  return call && call.getCallee().starts_with(kCublasFnPrefix);
}

/// The runtime function that --attnres-gpu-async calls to wait for all the
/// GPU work queued on the calling thread (its one stream), where no token
/// of the work is at hand.
constexpr llvm::StringLiteral kCudaSynchronizeFn = "attnres_cuda_synchronize";

/// The suffix of a constant global's copy that host code reads
/// (--attnres-alloc-to-gpu): a CUDA artifact keeps it in the library rather
/// than in the weights it copies to the device.
constexpr llvm::StringLiteral kHostGlobalSuffix = "__host";

/// The runtime function that --attnres-checks-to-runtime calls when a
/// run-time check fails: attnres_check_failed(const char *message).
constexpr llvm::StringLiteral kCheckFailedFn = "attnres_check_failed";

/// What the run-time checks of the lowerings say (operands whose dynamic
/// sizes disagree with the loops'); a failed one is the run's error.
constexpr llvm::StringLiteral kOperandSizesDiffer =
    "its tensor operands differ in size at run time";
constexpr llvm::StringLiteral kVectorSizeDiffers =
    "a per-feature vector's size differs from the feature size at run time";

/// Asserts `condition` at run time with the message
/// "file:line:col: op-name: what", `op` being the op the check guards.
void assertAtRunTime(OpBuilder &b, Location loc, Value condition, Operation *op,
                     const llvm::Twine &what);

/// Asserts at run time, where a size is dynamic, that every tensor of
/// `tensors` has the sizes of `like` ([..., D]) and every vector of `vectors`
/// its feature size D: loops sized by `like` would read the others out of
/// bounds. Pairs of static sizes are the verifiers' business.
void assertSameSizes(OpBuilder &b, Location loc, Operation *op, Value like,
                     ValueRange tensors, ValueRange vectors);

/// The runtime function that --attnres-parallel-to-runtime calls.
constexpr llvm::StringLiteral kParallelForFn = "attnres_parallel_for";

#define GEN_PASS_REGISTRATION
#include "attnres/Conversion/Passes.h.inc"

} // namespace attnres
} // namespace mlir

#endif // ATTNRES_CONVERSION_PASSES_H
