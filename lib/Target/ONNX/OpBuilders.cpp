//===- OpBuilders.cpp - Shared pieces of the ONNX op handlers -------------===//
//
// Definitions of the helpers declared in OpBuilders.h.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attnres;

namespace mlir::attnres::onnx_import {

Value castElements(ImplicitLocOpBuilder &b, Value v, Type type) {
  auto vt = cast<RankedTensorType>(v.getType());
  if (vt.getElementType() == type)
    return v;
  return tosa::CastOp::create(b, vt.clone(type), v);
}

bool isHalfFloat(Type type) { return type.isF16() || type.isBF16(); }

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

Type elementTypeOf(Value v) { return typeOf(v).getElementType(); }

int64_t product(ArrayRef<int64_t> dims) { return saturatingProduct(dims); }

/// A constant of `shape` filled with `value`.
Value splat(ImplicitLocOpBuilder &b, Type elementType, ArrayRef<int64_t> shape,
            double value) {
  auto type = RankedTensorType::get(shape, elementType);
  Attribute element =
      isa<FloatType>(elementType)
          ? Attribute(b.getFloatAttr(elementType, value))
          : Attribute(b.getIntegerAttr(elementType, int64_t(value)));
  return tosa::ConstOp::create(b, type, DenseElementsAttr::get(type, element));
}

/// A scalar broadcastable against a tensor of `rank` (shape [1, ..., 1]).
Value scalarLike(ImplicitLocOpBuilder &b, Value like, double value) {
  return splat(b, elementTypeOf(like),
               SmallVector<int64_t>(typeOf(like).getRank(), 1), value);
}

Value zeroPoint(ImplicitLocOpBuilder &b, Type elementType) {
  return splat(b, elementType, {1}, 0);
}

/// tosa.reshape to `shape`; a dynamic dim is passed as -1 (at most one).
Value reshape(ImplicitLocOpBuilder &b, Value v, ArrayRef<int64_t> shape) {
  if (typeOf(v).getShape() == shape)
    return v;
  SmallVector<int64_t> dims(shape);
  for (int64_t &d : dims)
    if (ShapedType::isDynamic(d))
      d = -1;
  return tosa::ReshapeOp::create(b, v, tosa::getTosaConstShape(b, dims));
}

/// Whether `shape` can be the target of one tosa.reshape.
bool reshapeable(ArrayRef<int64_t> shape) {
  return llvm::count_if(shape, ShapedType::isDynamic) <= 1;
}

SmallVector<int64_t> staticShapeOf(ArrayRef<OpFoldResult> sizes) {
  SmallVector<int64_t> shape;
  for (OpFoldResult size : sizes)
    shape.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
  return shape;
}

OpFoldResult productOf(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes) {
  int64_t known = 1;
  Value dynamic;
  for (OpFoldResult size : sizes) {
    if (std::optional<int64_t> c = getConstantIntValue(size)) {
      known *= *c;
      continue;
    }
    dynamic =
        dynamic
            ? arith::MulIOp::create(b, dynamic, cast<Value>(size)).getResult()
            : cast<Value>(size);
  }
  if (!dynamic)
    return b.getIndexAttr(known);
  if (known == 1)
    return dynamic;
  return arith::MulIOp::create(b, dynamic,
                               arith::ConstantIndexOp::create(b, known))
      .getResult();
}

SmallVector<OpFoldResult> mixedSizes(ImplicitLocOpBuilder &b, Value v) {
  return tensor::getMixedSizes(b, b.getLoc(), v);
}

Value reshapeTo(ImplicitLocOpBuilder &b, Value v,
                ArrayRef<OpFoldResult> sizes) {
  // Several dynamic dims cannot be told apart by their element count alone
  // ([?, 4, ?] could regroup as [?, ?] either way): they are given.
  SmallVector<int64_t> shape = staticShapeOf(sizes);
  if (reshapeable(shape))
    return reshape(b, v, shape);
  // tensor.reshape with the sizes as a tensor: a collapse and an
  // expand_shape with several dynamic dims in one group would say the same,
  // but LLVM 22's expand-strided-metadata crashes on such expansions.
  SmallVector<Value> dims;
  for (OpFoldResult size : sizes)
    dims.push_back(getValueOrCreateConstantIndexOp(b, b.getLoc(), size));
  Value shapeTensor = tensor::FromElementsOp::create(b, dims);
  return tensor::ReshapeOp::create(
      b, RankedTensorType::get(shape, elementTypeOf(v)), v, shapeTensor);
}

/// Prepends unit dims so that `v` has `rank` dims (numpy broadcasting).
FailureOr<Value> expandRank(NodeImporter &n, Value v, int64_t rank) {
  RankedTensorType type = typeOf(v);
  if (type.getRank() >= rank)
    return v;
  SmallVector<int64_t> shape(rank - type.getRank(), 1);
  llvm::append_range(shape, type.getShape());
  SmallVector<OpFoldResult> sizes(rank - type.getRank(), n.b.getIndexAttr(1));
  llvm::append_range(sizes, mixedSizes(n.b, v));
  return reshapeTo(n.b, v, sizes);
}

/// Equalizes ranks and returns the broadcast result shape.
FailureOr<SmallVector<int64_t>> broadcastOperands(NodeImporter &n,
                                                  MutableArrayRef<Value> vs) {
  int64_t rank = 0;
  for (Value v : vs)
    rank = std::max(rank, typeOf(v).getRank());
  SmallVector<int64_t> shape;
  for (Value &v : vs) {
    FailureOr<Value> expanded = expandRank(n, v, rank);
    if (failed(expanded))
      return failure();
    v = *expanded;
    FailureOr<SmallVector<int64_t>> merged =
        shape.empty() && rank ? FailureOr<SmallVector<int64_t>>(
                                    SmallVector<int64_t>(typeOf(v).getShape()))
                              : broadcastShapes(shape, typeOf(v).getShape());
    if (failed(merged)) {
      InFlightDiagnostic diag = n.error();
      diag << "operand shapes [";
      llvm::interleaveComma(shape, diag);
      diag << "] and [";
      llvm::interleaveComma(typeOf(v).getShape(), diag);
      diag << "] do not broadcast";
      return failure();
    }
    shape = *merged;
  }
  return shape;
}
// Shorthands for decompositions whose operands are known to broadcast.
Value add(NodeImporter &n, Value x, Value y) {
  return *elementwise<tosa::AddOp>(n, {x, y});
}
Value sub(NodeImporter &n, Value x, Value y) {
  return *elementwise<tosa::SubOp>(n, {x, y});
}
Value mul(NodeImporter &n, Value x, Value y) {
  return *elementwise<tosa::MulOp>(n, {x, y});
}
Value mulScalar(NodeImporter &n, Value x, double c) {
  return mul(n, x, scalarLike(n.b, x, c));
}

/// An elementwise linalg.generic for ops TOSA lacks (e.g. sqrt).
Value mapElementwise(ImplicitLocOpBuilder &b, Value x,
                     function_ref<Value(OpBuilder &, Location, Value)> fn) {
  RankedTensorType type = typeOf(x);
  Value init = tensor::EmptyOp::create(
      b, tensor::getMixedSizes(b, b.getLoc(), x), type.getElementType());
  SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(type.getRank()));
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, type, x, init, maps, iterators,
             [&](OpBuilder &nb, Location loc, ValueRange args) {
               linalg::YieldOp::create(nb, loc, fn(nb, loc, args[0]));
             })
      .getResult(0);
}

Value sqrt(NodeImporter &n, Value x) {
  return mapElementwise(n.b, x, [](OpBuilder &b, Location loc, Value v) {
    return math::SqrtOp::create(b, loc, v).getResult();
  });
}

/// mean over `axes` with unit dims kept; fails on dynamic reduced dims.
FailureOr<Value> reduceMean(NodeImporter &n, Value x, ArrayRef<int64_t> axes) {
  int64_t count = 1;
  for (int64_t axis : axes) {
    int64_t d = typeOf(x).getDimSize(axis);
    if (ShapedType::isDynamic(d))
      return LogicalResult(n.dynamicShapeError("the size of a mean's axis"));
    count *= d;
  }
  return mulScalar(n, reduceKeep<tosa::ReduceSumOp>(n, x, axes),
                   1.0 / double(count));
}

SmallVector<int64_t> dropAxes(ArrayRef<int64_t> shape, ArrayRef<int64_t> axes) {
  SmallVector<int64_t> result;
  for (auto [i, d] : llvm::enumerate(shape))
    if (!llvm::is_contained(axes, int64_t(i)))
      result.push_back(d);
  return result;
}

/// Normalizes and sorts a list of axes; reports duplicates and range errors.
FailureOr<SmallVector<int64_t>>
normalizeAxes(NodeImporter &n, ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> result;
  for (int64_t axis : axes) {
    FailureOr<int64_t> a = n.normalizeAxis(axis, rank);
    if (failed(a))
      return failure();
    if (llvm::is_contained(result, *a))
      return LogicalResult(n.error() << "axis " << axis << " is repeated");
    result.push_back(*a);
  }
  llvm::sort(result);
  return result;
}

/// The checks every float-only op shares.
LogicalResult requireFloat(NodeImporter &n, Value v) {
  if (isa<FloatType>(elementTypeOf(v)))
    return success();
  return n.error() << "expects floating-point inputs, got " << elementTypeOf(v);
}

LogicalResult requireSameElementType(NodeImporter &n, Value x, Value y) {
  if (elementTypeOf(x) == elementTypeOf(y))
    return success();
  return n.error() << "input element types " << elementTypeOf(x) << " and "
                   << elementTypeOf(y) << " differ";
}

/// Fetches all inputs, reporting a missing required one.
FailureOr<SmallVector<Value>> requiredInputs(NodeImporter &n, unsigned count) {
  SmallVector<Value> values;
  for (unsigned i = 0; i < count; ++i) {
    if (!n.hasInput(i))
      return LogicalResult(n.error() << "requires input #" << i);
    values.push_back(n.input(i));
  }
  return values;
}

/// Reads constant integer input `i`, or reports that it must be constant.
FailureOr<SmallVector<int64_t>> requireConstantInts(NodeImporter &n, unsigned i,
                                                    StringRef what) {
  if (std::optional<SmallVector<int64_t>> v = n.constantInts(i))
    return *v;
  return LogicalResult(n.dynamicShapeError(what));
}

/// Row-major element offsets of a shape.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = saturatingProduct({strides[i + 1], shape[i + 1]});
  return strides;
}

/// tosa.slice of [start, start + size) along each axis.
Value slice(NodeImporter &n, Value x, ArrayRef<int64_t> start,
            ArrayRef<int64_t> size) {
  // One statement each: argument evaluation order is unspecified, and the
  // printed IR must not depend on the compiler.
  Value startShape = tosa::getTosaConstShape(n.b, start);
  Value sizeShape = tosa::getTosaConstShape(n.b, size);
  return tosa::SliceOp::create(n.b,
                               RankedTensorType::get(size, elementTypeOf(x)), x,
                               startShape, sizeShape);
}

} // namespace mlir::attnres::onnx_import
