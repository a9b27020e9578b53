//===- OpBuilders.h - Shared pieces of the ONNX op handlers ------*- C++
//-*-===//
//
// The emission helpers every op family uses: operand checks, numpy
// broadcasting by rank-expanding reshapes, and small TOSA/linalg builders.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_LIB_TARGET_ONNX_OPBUILDERS_H
#define ATTNRES_LIB_TARGET_ONNX_OPBUILDERS_H

#include "ImporterInternal.h"

#include "attnres/Dialect/AttnRes/AttnResDialect.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"

namespace mlir::attnres::onnx_import {

RankedTensorType typeOf(Value v);

Type elementTypeOf(Value v);

int64_t product(ArrayRef<int64_t> dims);

/// A constant of `shape` filled with `value`.
Value splat(ImplicitLocOpBuilder &b, Type elementType, ArrayRef<int64_t> shape,
            double value);

/// A scalar broadcastable against a tensor of `rank` (shape [1, ..., 1]).
Value scalarLike(ImplicitLocOpBuilder &b, Value like, double value);

Value zeroPoint(ImplicitLocOpBuilder &b, Type elementType);

/// tosa.reshape to `shape`; a dynamic dim is passed as -1 (at most one).
Value reshape(ImplicitLocOpBuilder &b, Value v, ArrayRef<int64_t> shape);

/// Whether `shape` can be the target of one tosa.reshape.
bool reshapeable(ArrayRef<int64_t> shape);

/// `v` reshaped to `sizes`, known or computed at run time: reshape() where at
/// most one is dynamic, else tensor.reshape (a view, no copy).
Value reshapeTo(ImplicitLocOpBuilder &b, Value v, ArrayRef<OpFoldResult> sizes);

/// [B, M, K] x [B, K, N] with tosa.matmul (operands are 3-D); f16 and bf16
/// products accumulate in f32 and are rounded once.
Value batchMatmul(ImplicitLocOpBuilder &b, Value a, Value c);

/// The static shape of `sizes`: constants stay, run-time sizes are dynamic.
SmallVector<int64_t> staticShapeOf(ArrayRef<OpFoldResult> sizes);

/// The product of `sizes`, folded where they are known.
OpFoldResult productOf(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes);

/// Folds of int64 arithmetic. ONNX integer arithmetic wraps (two's
/// complement) on every backend; a signed overflow in C++ is undefined, so
/// these compute in unsigned arithmetic.
inline int64_t wrappingAdd(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) + uint64_t(b));
}
inline int64_t wrappingSub(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) - uint64_t(b));
}
inline int64_t wrappingMul(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) * uint64_t(b));
}

/// numerator / denominator (products of sizes), with equal run-time sizes
/// cancelled first, so that what is static folds.
OpFoldResult quotientOf(ImplicitLocOpBuilder &b,
                        ArrayRef<OpFoldResult> numerator,
                        ArrayRef<OpFoldResult> denominator);

/// The sizes of `v`'s dims: attributes where static, else run-time values
/// traced back to the graph inputs' dims, so that sizes equal by
/// construction are one value (graph inputs' dims of one onnx.dims name
/// too).
SmallVector<OpFoldResult> mixedSizes(ImplicitLocOpBuilder &b, Value v);

/// The size of dim `d` of `v`, as mixedSizes gives it.
OpFoldResult mixedSize(ImplicitLocOpBuilder &b, Value v, int64_t d);

/// Prepends unit dims so that `v` has `rank` dims (numpy broadcasting).
FailureOr<Value> expandRank(NodeImporter &n, Value v, int64_t rank);

/// Equalizes ranks and returns the broadcast result shape.
FailureOr<SmallVector<int64_t>> broadcastOperands(NodeImporter &n,
                                                  MutableArrayRef<Value> vs);

// Shorthands for decompositions whose operands are known to broadcast.
Value add(NodeImporter &n, Value x, Value y);

Value sub(NodeImporter &n, Value x, Value y);

Value mul(NodeImporter &n, Value x, Value y);

Value mulScalar(NodeImporter &n, Value x, double c);

/// An elementwise linalg.generic for ops TOSA lacks (e.g. sqrt).
/// A tensor of `sizes` whose element (i_0, ..., i_r-1) is `x` at
/// `inputExprs` of those indices, as one linalg.generic: broadcasts (an
/// index 0), tiles (i mod size) and windows (im2col) are all such copies.
Value copyThroughMap(ImplicitLocOpBuilder &b, Value x,
                     ArrayRef<OpFoldResult> sizes,
                     ArrayRef<AffineExpr> inputExprs);

Value mapElementwise(ImplicitLocOpBuilder &b, Value x,
                     function_ref<Value(OpBuilder &, Location, Value)> fn);

Value sqrt(NodeImporter &n, Value x);

/// mean over `axes` with unit dims kept; fails on dynamic reduced dims.
FailureOr<Value> reduceMean(NodeImporter &n, Value x, ArrayRef<int64_t> axes);

SmallVector<int64_t> dropAxes(ArrayRef<int64_t> shape, ArrayRef<int64_t> axes);

/// Normalizes and sorts a list of axes; reports duplicates and range errors.
FailureOr<SmallVector<int64_t>>
normalizeAxes(NodeImporter &n, ArrayRef<int64_t> axes, int64_t rank);

/// The checks every float-only op shares.
LogicalResult requireFloat(NodeImporter &n, Value v);

LogicalResult requireSameElementType(NodeImporter &n, Value x, Value y);

/// Fetches all inputs, reporting a missing required one.
FailureOr<SmallVector<Value>> requiredInputs(NodeImporter &n, unsigned count);

/// Reads constant integer input `i`, or reports that it must be constant.
FailureOr<SmallVector<int64_t>> requireConstantInts(NodeImporter &n, unsigned i,
                                                    StringRef what);

/// [begin, begin + size) of a Slice along a static dim of `dim` elements,
/// its bounds clamped as ONNX clamps them (negative ones count from the
/// end); size is 0 for an empty slice.
std::pair<int64_t, int64_t> clampSliceRange(int64_t start, int64_t end,
                                            int64_t step, int64_t dim);

/// Row-major element offsets of a shape.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape);

/// tosa.slice of [start, start + size) along each axis.
Value slice(NodeImporter &n, Value x, ArrayRef<int64_t> start,
            ArrayRef<int64_t> size);

/// Whether the operands' dynamic dims are known to be one size for each dim
/// of `type` (traced to the same values): then the op is marked
/// kSameShapeAttrName, which attnres-same-shape-to-linalg lowers without
/// TOSA's run-time broadcast checks.
bool knownSameShape(ImplicitLocOpBuilder &b, ArrayRef<Value> operands,
                    RankedTensorType type);

/// Emits an elementwise TOSA op over broadcast operands.
template <typename OpTy>
FailureOr<Value> elementwise(NodeImporter &n, SmallVector<Value> operands,
                             Type resultElementType = {}) {
  FailureOr<SmallVector<int64_t>> shape = broadcastOperands(n, operands);
  if (failed(shape))
    return failure();
  auto type = RankedTensorType::get(
      *shape,
      resultElementType ? resultElementType : elementTypeOf(operands.back()));
  Operation *op;
  if constexpr (std::is_same_v<OpTy, tosa::MulOp>) {
    Value shift = splat(n.b, n.b.getI8Type(), {1}, 0);
    op = tosa::MulOp::create(n.b, type, operands[0], operands[1], shift);
  } else {
    op = OpTy::create(n.b, type, operands);
  }
  if constexpr (std::is_same_v<OpTy, tosa::AddOp> ||
                std::is_same_v<OpTy, tosa::SubOp> ||
                std::is_same_v<OpTy, tosa::MulOp> ||
                std::is_same_v<OpTy, tosa::SelectOp>) {
    if (knownSameShape(n.b, operands, type))
      op->setAttr(kSameShapeAttrName, n.b.getUnitAttr());
  }
  return op->getResult(0);
}

// Shorthands for ops whose operand is known to be valid.
template <typename OpTy> Value unary(NodeImporter &n, Value x) {
  return OpTy::create(n.b, x.getType(), x);
}

/// `v` converted to element type `type` (same shape).
Value castElements(ImplicitLocOpBuilder &b, Value v, Type type);

/// Whether `type` is a float too narrow to accumulate in (f16, bf16).
bool isHalfFloat(Type type);

template <typename OpTy>
Value reduceKeep(NodeImporter &n, Value x, ArrayRef<int64_t> axes) {
  // Sums of f16/bf16 accumulate in f32: half precision loses the small
  // terms of a long sum (softmax denominators, norms' means).
  Type et = elementTypeOf(x);
  bool widen = std::is_same_v<OpTy, tosa::ReduceSumOp> && isHalfFloat(et) &&
               !axes.empty();
  if (widen)
    x = castElements(n.b, x, n.b.getF32Type());
  for (int64_t axis : axes)
    x = OpTy::create(n.b, x, n.b.getI32IntegerAttr(axis));
  return widen ? castElements(n.b, x, et) : x;
}

} // namespace mlir::attnres::onnx_import

#endif // ATTNRES_LIB_TARGET_ONNX_OPBUILDERS_H
