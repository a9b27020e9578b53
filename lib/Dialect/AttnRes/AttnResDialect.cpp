//===- AttnResDialect.cpp - AttnRes dialect registration ------------------===//
//
// Registers the attnres operations with the dialect.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResDialect.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

using namespace mlir;
using namespace mlir::attnres;

#include "attnres/Dialect/AttnRes/AttnResOpsDialect.cpp.inc"

void AttnResDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attnres/Dialect/AttnRes/AttnResOps.cpp.inc"
      >();
}
