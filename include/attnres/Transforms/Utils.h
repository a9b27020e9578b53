//===- Utils.h - Helpers shared by the attnres transforms -------*- C++ -*-===//
//
// Small IR utilities more than one attnres pass needs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TRANSFORMS_UTILS_H
#define ATTNRES_TRANSFORMS_UTILS_H

#include "mlir/IR/Dominance.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"

namespace mlir::attnres {

/// Makes `value` usable by an op inserted before `point`: true if it already
/// dominates `point`, or if it is made by an operand-free, region-free
/// constant in `point`'s block, which is moved before `point`; false
/// otherwise (nothing moves).
bool makeAvailableBefore(Value value, Operation *point,
                         DominanceInfo &dominance);

} // namespace mlir::attnres

#endif // ATTNRES_TRANSFORMS_UTILS_H
