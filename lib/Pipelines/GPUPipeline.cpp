//===- GPUPipeline.cpp - From imported modules to CUDA binaries -----------===//
//
// The CUDA lowering behind --attnres-gpu-pipeline and
// attnres-compile --target=cuda.
//
//===----------------------------------------------------------------------===//

#include "PipelineStages.h"
#include "attnres/Pipelines/Pipelines.h"

#include "attnres/Conversion/Passes.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void attnres::buildGPUPipeline(OpPassManager &pm,
                               const GPUPipelineOptions &options) {
  addRaisingStages(pm, options.raise, options.twoPhase, options.fuseNorm);
  // What the kernels do not take (layer_norm, or everything with
  // kernels=false) goes through linalg with the rest.
  addLinalgOnTensors(pm, /*fuseElementwise=*/true,
                     /*kernelOps=*/!options.kernels);
  // The launches read their tensors through bufferization.to_buffer, which
  // is Pure: CSE would merge a later launch's to_buffer into an earlier
  // one's, and bufferization, no longer seeing the later read, would let an
  // op in between overwrite that buffer in place. So the kernels come last
  // before bufferization.
  if (options.kernels) {
    ConvertAttnResToGPUOptions toGPU;
    toGPU.maxVectorsPerThread = options.maxVectorsPerThread;
    toGPU.minCTAs = options.minCTAs;
    pm.addPass(createConvertAttnResToGPU(toGPU));
  }
  addBufferization(pm);
  if (options.cublas) {
    attnres::ConvertLinalgToBLASOptions blas;
    blas.callee = attnres::kCublasSgemmBatchedFn.str();
    // f16 and bf16 products too, computing in f32 as the importer's widened
    // products do, without the widened copies.
    blas.halfCallee = attnres::kCublasGemmBatchedExFn.str();
    // The cuBLAS glue computes nothing on the host: layouts cuBLAS cannot
    // take are copied by kernels first.
    blas.contiguousOperands = true;
    pm.addPass(attnres::createConvertLinalgToBLAS(blas));
  }

  // Everything else runs as GPU loops: the parallel dimensions of each
  // linalg op map to blocks and threads.
  OpPassManager &loops = pm.nest<func::FuncOp>();
  loops.addPass(attnres::createCopiesToLinalg());
  if (options.warpReductions)
    loops.addPass(createConvertReductionsToGPU());
  loops.addPass(createConvertLinalgToParallelLoopsPass());
  loops.addPass(attnres::createTileLoopsForGPU());
  // A tile's bound at a dynamic size is an affine.min of the tile size and
  // what is left; folding the constant into its map lets the GPU mapping
  // read the block size off it.
  loops.addPass(createCanonicalizerPass());
  GpuMapParallelLoopsPassOptions mapping;
  mapping.mappingPolicyStr = "innermost-first";
  loops.addPass(createGpuMapParallelLoopsPass(mapping));
  loops.addPass(createConvertParallelLoopToGpuPass());
  // Buffers go to device memory but for those host code touches, which
  // needs the launches still inline to tell kernel uses from host uses.
  ConvertAllocToGPUOptions placement;
  placement.managed = options.managedMemory;
  pm.addPass(createConvertAllocToGPU(placement));
  // Constants and dims used in a launch move into it, so that kernels fold
  // them (shuffle offsets, tile sizes) instead of taking each as a
  // parameter.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createCanonicalizerPass());
  // Host-side reshapes to run-time sizes (memref.reshape, from dynamic
  // shapes) become reinterpret_casts, which the NVVM pipeline's host
  // lowering handles; it has no pattern for memref.reshape itself.
  pm.addPass(memref::createExpandOpsPass());
  pm.addPass(attnres::createConvertChecksToRuntime());
  // Launches, copies and frees queue on one stream; the host waits where it
  // reads what they wrote. The chain crosses control flow as block
  // arguments: scf ops carrying tokens would not survive the NVVM
  // pipeline's structural type conversions, which know no token type.
  pm.addNestedPass<func::FuncOp>(createSCFToControlFlowPass());
  pm.addPass(attnres::createGPUAsync());

  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  nvvm.cubinFeatures = options.features;
  nvvm.cubinFormat = options.format;
  nvvm.optLevel = 3;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}
