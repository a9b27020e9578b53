//===- PipelineStages.h - Stages both pipelines share -----------*- C++ -*-===//
//
// Both pipelines raise and split the aggregations the same way, lower to linalg
// the same way and bufferize the same way; they differ in what they do with
// the attnres ops and the loops.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_LIB_PIPELINES_PIPELINESTAGES_H
#define ATTNRES_LIB_PIPELINES_PIPELINESTAGES_H

namespace mlir {
class OpPassManager;

namespace attnres {

/// Raising of norms and aggregations, and the two-phase split with its norm
/// fusion, on every function.
void addRaisingStages(OpPassManager &pm, bool raise, bool twoPhase,
                      bool fuseNorm);

/// TOSA and the remaining attnres ops to linalg (plus arith and tensor) on
/// tensors, canonicalized, elementwise-fused if asked, CSE'd. Without
/// `kernelOps` the ops --attnres-to-gpu takes stay.
void addLinalgOnTensors(OpPassManager &pm, bool fuseElementwise,
                        bool kernelOps = true);

/// One-shot bufferization across function boundaries (results in fresh
/// identity-layout buffers), deallocation, bufferization ops to memref.
void addBufferization(OpPassManager &pm);

} // namespace attnres
} // namespace mlir

#endif // ATTNRES_LIB_PIPELINES_PIPELINESTAGES_H
