//===- InitAttnRes.cpp - Register attnres with an MLIR tool ---------------===//

#include "attnres/InitAttnRes.h"

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResDialect.h"
#include "attnres/Pipelines/Pipelines.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"

void mlir::attnres::registerAllDialects(DialectRegistry &registry) {
  registry.insert<AttnResDialect>();
  registerLaunchFuncMemoryEffects(registry);
}

void mlir::attnres::registerAllPasses() {
  registerAttnResTransformsPasses();
  registerAttnResConversionPasses();
}

void mlir::attnres::registerAllPipelines() { registerAttnResPipelines(); }
