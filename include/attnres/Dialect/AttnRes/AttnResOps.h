//===- AttnResOps.h - AttnRes operations ------------------------*- C++ -*-===//
//
// Declares the operations of the attnres dialect generated from AttnResOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_H
#define ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_H

#include "attnres/Dialect/AttnRes/AttnResDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::attnres {
/// The type of the log-sum-exp `attnres.phase1` yields for sources of type
/// `sourceType` ([..., D]): [...] in f32, or f64 for f64 sources.
RankedTensorType getLogSumExpType(RankedTensorType sourceType);
} // namespace mlir::attnres

#define GET_OP_CLASSES
#include "attnres/Dialect/AttnRes/AttnResOps.h.inc"

#endif // ATTNRES_DIALECT_ATTNRES_ATTNRESOPS_H
