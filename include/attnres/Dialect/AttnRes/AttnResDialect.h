//===- AttnResDialect.h - AttnRes dialect declaration -----------*- C++ -*-===//
//
// Declares the attnres dialect class generated from AttnResDialect.td.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_H
#define ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_H

#include "mlir/IR/Dialect.h"

#include "attnres/Dialect/AttnRes/AttnResOpsDialect.h.inc"

namespace mlir::attnres {
/// Marks an elementwise TOSA op whose operands' dynamic dims the ONNX
/// importer knows to be one size; attnres-same-shape-to-linalg lowers it
/// without run-time broadcast checks.
constexpr llvm::StringLiteral kSameShapeAttrName = "attnres.same_shape";
} // namespace mlir::attnres

#endif // ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_H
