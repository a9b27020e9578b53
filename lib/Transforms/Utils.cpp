//===- Utils.cpp - Helpers shared by the attnres transforms ---------------===//

#include "attnres/Transforms/Utils.h"

#include "mlir/IR/OpDefinition.h"

using namespace mlir;

bool mlir::attnres::makeAvailableBefore(Value value, Operation *point,
                                        DominanceInfo &dominance) {
  if (dominance.properlyDominates(value, point))
    return true;
  Operation *def = value.getDefiningOp();
  if (!def || def->getNumOperands() != 0 || def->getNumRegions() != 0 ||
      !def->hasTrait<OpTrait::ConstantLike>() ||
      def->getBlock() != point->getBlock())
    return false;
  def->moveBefore(point);
  return true;
}
