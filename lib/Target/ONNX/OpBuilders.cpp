//===- OpBuilders.cpp - Shared pieces of the ONNX op handlers -------------===//
//
// Definitions of the helpers declared in OpBuilders.h.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "attnres/Target/ONNX/ONNXImport.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

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
      // Saturated rather than wrapped: a product past 2^63 is absurd, and
      // the node's result check says so.
      known = std::min<uint64_t>(llvm::SaturatingMultiply<uint64_t>(known, *c),
                                 std::numeric_limits<int64_t>::max());
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

/// The dims of the graph input `arg` as the model names them (onnx.dims).
static StringRef dimName(BlockArgument arg, int64_t d) {
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!func)
    return {};
  auto names =
      func.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(), kDimNamesAttrName);
  if (!names || d >= int64_t(names.size()))
    return {};
  auto name = dyn_cast<StringAttr>(names[d]);
  return name ? name.getValue() : StringRef();
}

/// tensor.dim of `v` at `d`: an existing one in `v`'s block, else a new one
/// where `v` is defined, so that every reader of the size shares one value.
static Value dimOp(ImplicitLocOpBuilder &b, Value v, int64_t d) {
  Block *block = v.getParentBlock();
  for (Operation *user : v.getUsers())
    if (auto dim = dyn_cast<tensor::DimOp>(user))
      if (dim->getBlock() == block && dim.getConstantIndex() == d)
        return dim;
  OpBuilder::InsertionGuard guard(b);
  if (auto arg = dyn_cast<BlockArgument>(v))
    b.setInsertionPointToStart(arg.getOwner());
  else
    b.setInsertionPointAfter(v.getDefiningOp());
  return tensor::DimOp::create(b, v, d);
}

static OpFoldResult dimSize(ImplicitLocOpBuilder &b, Value v, int64_t d,
                            int depth);

/// A size read from IR (a tensor.dim, perhaps) as its canonical value.
static OpFoldResult canonicalSize(ImplicitLocOpBuilder &b, OpFoldResult size,
                                  int depth) {
  if (auto value = dyn_cast<Value>(size))
    if (auto dim = value.getDefiningOp<tensor::DimOp>())
      if (std::optional<int64_t> index = dim.getConstantIndex())
        return dimSize(b, dim.getSource(), *index, depth + 1);
  return size;
}

/// Dim `d` of `v`, traced back through the ops the importer builds to the
/// graph inputs' dims, so that sizes equal by construction are one value
/// (B*T*32 / (B*T*8) then folds to 4), and graph inputs' dims of one name
/// (a batch, a sequence) are one value across inputs.
static OpFoldResult dimSize(ImplicitLocOpBuilder &b, Value v, int64_t d,
                            int depth) {
  auto type = cast<RankedTensorType>(v.getType());
  if (!type.isDynamicDim(d))
    return b.getIndexAttr(type.getDimSize(d));
  auto same = [&](Value from, int64_t dim) {
    return dimSize(b, from, dim, depth + 1);
  };
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    StringRef name = dimName(arg, d);
    if (!name.empty())
      for (BlockArgument other : arg.getOwner()->getArguments())
        for (int64_t od = 0,
                     e = cast<RankedTensorType>(other.getType()).getRank();
             od < e; ++od)
          if (dimName(other, od) == name)
            return dimOp(b, other, od);
    return dimOp(b, v, d);
  }
  Operation *op = v.getDefiningOp();
  if (depth > 256 || !op)
    return dimOp(b, v, d);
  auto sizeAt = [&](ArrayRef<OpFoldResult> sizes) {
    return canonicalSize(b, sizes[d], depth);
  };
  if (auto empty = dyn_cast<tensor::EmptyOp>(op))
    return sizeAt(empty.getMixedSizes());
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op);
      slice && slice.getSourceType().getRank() == type.getRank())
    return sizeAt(slice.getMixedSizes());
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
    return sizeAt(expand.getMixedOutputShape());
  if (auto reshape = dyn_cast<tensor::ReshapeOp>(op))
    if (auto shape = reshape.getShape().getDefiningOp<tensor::FromElementsOp>())
      return canonicalSize(b, shape.getElements()[d], depth);
  if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
    if (auto result = dyn_cast<OpResult>(v))
      return same(dps.getDpsInits()[result.getResultNumber()], d);
  if (auto transpose = dyn_cast<tosa::TransposeOp>(op))
    return same(transpose.getInput1(), transpose.getPerms()[d]);
  // The attnres ops have their (first) input's shape.
  if (isa<BlockAttnResOp, RMSNormOp, LayerNormOp>(op))
    return same(op->getOperand(0), d);
  if (auto matmul = dyn_cast<tosa::MatMulOp>(op)) {
    Value a = matmul.getA(), c = matmul.getB();
    if (d == 0)
      return same(cast<RankedTensorType>(a.getType()).isDynamicDim(0) ? a : c,
                  0);
    return d == 1 ? same(a, 1) : same(c, 2);
  }
  if (auto gather = dyn_cast<tosa::GatherOp>(op))
    return d == 1 ? same(gather.getIndices(), 1) : same(gather.getValues(), d);
  if (auto reshape = dyn_cast<tosa::ReshapeOp>(op)) {
    // One dynamic dim on each side, the rest equal in product: the same
    // size ([?, 32] and [1, ?, 32]).
    auto in = cast<RankedTensorType>(reshape.getInput1().getType());
    auto dynamicDims = [](RankedTensorType t) {
      SmallVector<int64_t> dims;
      for (int64_t i = 0; i < t.getRank(); ++i)
        if (t.isDynamicDim(i))
          dims.push_back(i);
      return dims;
    };
    auto staticProduct = [](RankedTensorType t) {
      int64_t p = 1;
      for (int64_t s : t.getShape())
        if (!ShapedType::isDynamic(s))
          p *= s;
      return p;
    };
    SmallVector<int64_t> inDynamic = dynamicDims(in);
    if (inDynamic.size() == 1 && dynamicDims(type).size() == 1 &&
        staticProduct(in) == staticProduct(type))
      return same(reshape.getInput1(), inDynamic[0]);
  }
  if (auto concat = dyn_cast<tosa::ConcatOp>(op);
      concat && concat.getAxis() != d)
    return same(concat.getInput1()[0], d);
  if (auto tile = dyn_cast<tosa::TileOp>(op)) {
    SmallVector<int64_t> multiples;
    if (succeeded(tile.getConstantMultiples(multiples)) && multiples[d] == 1)
      return same(tile.getInput1(), d);
  }
  // tosa.mul broadcasts like the others but, with its shift operand, has
  // none of their traits.
  bool elementwise =
      op->hasTrait<OpTrait::ResultsBroadcastableShape>() ||
      op->hasTrait<OpTrait::SameOperandsAndResultShape>() ||
      isa<tosa::MulOp>(op) ||
      isa<tosa::ReduceSumOp, tosa::ReduceMaxOp, tosa::ReduceMinOp,
          tosa::ReduceProductOp, tosa::ReduceAllOp, tosa::ReduceAnyOp>(op);
  if (elementwise)
    for (Value operand : op->getOperands())
      if (auto t = dyn_cast<RankedTensorType>(operand.getType());
          t && t.getRank() == type.getRank() && t.isDynamicDim(d))
        return same(operand, d);
  return dimOp(b, v, d);
}

OpFoldResult quotientOf(ImplicitLocOpBuilder &b,
                        ArrayRef<OpFoldResult> numerator,
                        ArrayRef<OpFoldResult> denominator) {
  SmallVector<OpFoldResult> top(numerator), bottom;
  int64_t known = 1;
  for (OpFoldResult size : denominator) {
    if (std::optional<int64_t> c = getConstantIntValue(size)) {
      known *= *c;
      continue;
    }
    auto it = llvm::find(top, size);
    if (it != top.end())
      top.erase(it);
    else
      bottom.push_back(size);
  }
  OpFoldResult q = productOf(b, top);
  std::optional<int64_t> c = getConstantIntValue(q);
  if (bottom.empty() && c && known && *c % known == 0)
    return b.getIndexAttr(*c / known);
  bottom.push_back(b.getIndexAttr(known));
  return arith::DivUIOp::create(
             b, getValueOrCreateConstantIndexOp(b, b.getLoc(), q),
             getValueOrCreateConstantIndexOp(b, b.getLoc(),
                                             productOf(b, bottom)))
      .getResult();
}

bool knownSameShape(ImplicitLocOpBuilder &b, ArrayRef<Value> operands,
                    RankedTensorType type) {
  if (type.hasStaticShape())
    return false;
  for (int64_t d = 0, e = type.getRank(); d < e; ++d) {
    if (!type.isDynamicDim(d))
      continue;
    OpFoldResult size;
    for (Value v : operands) {
      if (typeOf(v).getRank() != type.getRank())
        return false;
      if (!typeOf(v).isDynamicDim(d))
        continue;
      OpFoldResult mine = mixedSize(b, v, d);
      if (size && mine != size)
        return false;
      size = mine;
    }
    if (!size)
      return false;
  }
  return true;
}

SmallVector<OpFoldResult> mixedSizes(ImplicitLocOpBuilder &b, Value v) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0, e = typeOf(v).getRank(); d < e; ++d)
    sizes.push_back(mixedSize(b, v, d));
  return sizes;
}

OpFoldResult mixedSize(ImplicitLocOpBuilder &b, Value v, int64_t d) {
  return dimSize(b, v, d, 0);
}

/// [B, M, K] x [B, K, N] with tosa.matmul; operands are 3-D.
Value batchMatmul(ImplicitLocOpBuilder &b, Value a, Value c) {
  ArrayRef<int64_t> sa = typeOf(a).getShape(), sc = typeOf(c).getShape();
  int64_t batch = ShapedType::isDynamic(sa[0]) ? sc[0] : sa[0];
  // f16/bf16 products accumulate in f32, as GPU tensor cores and
  // onnxruntime's CPU kernels do; the result is rounded once.
  Type et = elementTypeOf(a);
  Type acc = isHalfFloat(et) ? Type(b.getF32Type()) : et;
  a = castElements(b, a, acc);
  c = castElements(b, c, acc);
  auto type = RankedTensorType::get({batch, sa[1], sc[2]}, acc);
  Value zp = zeroPoint(b, acc);
  return castElements(b, tosa::MatMulOp::create(b, type, a, c, zp, zp), et);
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

Value copyThroughMap(ImplicitLocOpBuilder &b, Value x,
                     ArrayRef<OpFoldResult> sizes,
                     ArrayRef<AffineExpr> inputExprs) {
  unsigned rank = sizes.size();
  Type et = elementTypeOf(x);
  Value init = tensor::EmptyOp::create(b, sizes, et);
  SmallVector<AffineMap> maps{
      AffineMap::get(rank, 0, inputExprs, b.getContext()),
      b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, RankedTensorType::get(staticShapeOf(sizes), et), x, init, maps,
             iterators,
             [](OpBuilder &nb, Location loc, ValueRange args) {
               linalg::YieldOp::create(nb, loc, args[0]);
             })
      .getResult(0);
}

/// An elementwise linalg.generic for ops TOSA lacks (e.g. sqrt).
Value mapElementwise(ImplicitLocOpBuilder &b, Value x,
                     function_ref<Value(OpBuilder &, Location, Value)> fn) {
  RankedTensorType type = typeOf(x);
  Value init =
      tensor::EmptyOp::create(b, mixedSizes(b, x), type.getElementType());
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

std::pair<int64_t, int64_t> clampSliceRange(int64_t start, int64_t end,
                                            int64_t step, int64_t dim) {
  auto clampIndex = [&](int64_t v) {
    return std::clamp<int64_t>(v < 0 ? v + dim : v, 0, dim);
  };
  int64_t s = clampIndex(start), e = clampIndex(end);
  return {s, e > s ? 1 + (e - s - 1) / step : 0};
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
