//===- CPUPipeline.cpp - From imported modules to the LLVM dialect --------===//
//
// The CPU lowering behind --attnres-cpu-pipeline and attnres-run.
//
//===----------------------------------------------------------------------===//

#include "PipelineStages.h"
#include "attnres/Pipelines/Pipelines.h"

#include "attnres/Conversion/Passes.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void attnres::addRaisingStages(OpPassManager &pm, bool raise, bool twoPhase,
                               bool fuseNorm) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  if (raise) {
    fn.addPass(attnres::createRaiseNorms());
    fn.addPass(attnres::createRaiseAggregation());
  }
  if (twoPhase) {
    fn.addPass(attnres::createTwoPhase());
    if (fuseNorm)
      fn.addPass(attnres::createFuseNorm());
  }
}

void attnres::addLinalgOnTensors(OpPassManager &pm, bool fuseElementwise,
                                 bool kernelOps) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(createConvertSameShapeToLinalg());
  fn.addPass(tosa::createTosaToLinalgNamed());
  fn.addPass(tosa::createTosaToLinalg());
  fn.addPass(createTosaToArithPass());
  fn.addPass(createTosaToTensorPass());
  ConvertAttnResToLinalgOptions toLinalg;
  toLinalg.kernelOps = kernelOps;
  pm.addPass(createConvertAttnResToLinalg(toLinalg));
  pm.addPass(createCanonicalizerPass());
  if (fuseElementwise)
    pm.addPass(attnres::createFuseElementwise());
  pm.addPass(createCSEPass());
}

void attnres::addBufferization(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
}

void attnres::buildCPUPipeline(OpPassManager &pm,
                               const CPUPipelineOptions &options) {
  // Tensors: norms and aggregations raised, the aggregations in their
  // two-phase form, each distinct layer in a function, everything to linalg,
  // then fuse what can share a loop nest.
  addRaisingStages(pm, options.raise, options.twoPhase, options.fuseNorm);
  if (options.outline)
    pm.addPass(attnres::createOutlineLayers());
  if (options.rowLoops) {
    ConvertAttnResToVectorOptions toVector;
    toVector.vectorBits = options.vectorBits;
    pm.addPass(createConvertAttnResToVector(toVector));
  }
  addLinalgOnTensors(pm, options.fuseElementwise);

  // Buffers: results are returned in fresh buffers the caller owns.
  addBufferization(pm);
  if (options.tileAttention)
    pm.addNestedPass<func::FuncOp>(attnres::createTileAttention());
  if (options.blas)
    pm.addPass(attnres::createConvertLinalgToBLAS());

  // Loops and the LLVM dialect; the outer parallel loops run on the
  // runtime's threads.
  if (options.parallel) {
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
    pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
    pm.addPass(attnres::createConvertParallelToRuntime());
  } else {
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
    pm.addNestedPass<func::FuncOp>(createForallToForLoopPass());
  }
  if (options.approximateMath)
    pm.addNestedPass<func::FuncOp>(attnres::createApproximateMath());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(attnres::createConvertChecksToRuntime());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  // erf has no LLVM intrinsic; libm provides it.
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void attnres::registerAttnResPipelines() {
  PassPipelineRegistration<>(
      "attnres-report",
      "Print the residual stream of each function as a table "
      "(--attnres-detect-residuals=report=true) and, for functions in Block "
      "AttnRes form, their aggregations and the bytes and flops of each "
      "layer's aggregation "
      "(--attnres-report-aggregation)",
      [](OpPassManager &pm) {
        attnres::DetectResidualsOptions options;
        options.report = true;
        pm.addPass(attnres::createDetectResiduals(options));
        pm.addPass(attnres::createReportAggregation());
      });
  PassPipelineRegistration<CPUPipelineOptions>(
      "attnres-cpu-pipeline",
      "Lower an imported module (TOSA, linalg, attnres) to the LLVM dialect "
      "for the CPU: linalg on tensors, elementwise fusion, bufferization with "
      "deallocation, BLAS calls for GEMMs, loops, LLVM",
      buildCPUPipeline);
  PassPipelineRegistration<GPUPipelineOptions>(
      "attnres-gpu-pipeline",
      "Lower an imported module (TOSA, linalg, attnres) to the LLVM dialect "
      "with CUDA kernels: attnres ops as hand-written kernels "
      "(--attnres-to-gpu), the rest as GPU loops over device buffers, the "
      "kernels serialized by gpu-module-to-binary (ptxas for cubins)",
      buildGPUPipeline);
}
