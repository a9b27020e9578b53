//===- AttnResDialect.h - AttnRes dialect declaration -----------*- C++ -*-===//
//
// Declares the attnres dialect class generated from AttnResDialect.td.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_H
#define ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_H

#include "mlir/IR/Dialect.h"

#include "attnres/Dialect/AttnRes/AttnResOpsDialect.h.inc"

#endif // ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_H
