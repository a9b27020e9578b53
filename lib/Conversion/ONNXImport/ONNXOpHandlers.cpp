//===- ONNXOpHandlers.cpp - One handler per ONNX op type ------------------===//
//
// The table from ONNX op type to the code that emits it: TOSA where TOSA has
// a fitting op, linalg/tensor/math otherwise, attnres.rms_norm for RMS
// normalization. Shape computations on constants are folded on the host.
//
//===----------------------------------------------------------------------===//

#include "ImporterInternal.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <numeric>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

//===----------------------------------------------------------------------===//
// Emission helpers
//===----------------------------------------------------------------------===//

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

/// Prepends unit dims so that `v` has `rank` dims (numpy broadcasting).
FailureOr<Value> expandRank(NodeImporter &n, Value v, int64_t rank) {
  RankedTensorType type = typeOf(v);
  if (type.getRank() >= rank)
    return v;
  SmallVector<int64_t> shape(rank - type.getRank(), 1);
  llvm::append_range(shape, type.getShape());
  if (!reshapeable(shape))
    return LogicalResult(n.dynamicShapeError("broadcasting an operand"));
  return reshape(n.b, v, shape);
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
  if constexpr (std::is_same_v<OpTy, tosa::MulOp>) {
    Value shift = splat(n.b, n.b.getI8Type(), {1}, 0);
    return Value(
        tosa::MulOp::create(n.b, type, operands[0], operands[1], shift));
  } else {
    return Value(OpTy::create(n.b, type, operands).getResult());
  }
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
template <typename OpTy> Value unary(NodeImporter &n, Value x) {
  return OpTy::create(n.b, x.getType(), x);
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

/// Reduces over `axes` (sorted, normalized) keeping them as unit dims.
template <typename OpTy>
Value reduceKeep(NodeImporter &n, Value x, ArrayRef<int64_t> axes) {
  for (int64_t axis : axes)
    x = OpTy::create(n.b, x, n.b.getI32IntegerAttr(axis));
  return x;
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

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Binary arithmetic: folds constants, otherwise emits the TOSA op.
template <typename OpTy>
LogicalResult binaryArith(NodeImporter &n, const FloatFoldFn &floatFold,
                          const IntFoldFn &intFold) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  const HostTensor *a = n.constant(0), *c = n.constant(1);
  if (a && c) {
    if (std::optional<HostTensor> r =
            foldBinary(*a, *c, a->elementType, floatFold, intFold)) {
      n.setConstantOutput(0, std::move(*r));
      return success();
    }
  }
  FailureOr<Value> r = elementwise<OpTy>(n, *in);
  if (failed(r))
    return failure();
  n.setOutput(0, *r);
  return success();
}

/// Max, Min: 1..N inputs reduced pairwise. Folds when every input is a
/// constant (and the result is small), otherwise emits a chain of TOSA ops.
template <typename OpTy>
LogicalResult variadicArith(NodeImporter &n, const FloatFoldFn &floatFold,
                            const IntFoldFn &intFold) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, n.numInputs());
  if (failed(in))
    return failure();
  for (Value v : *in)
    if (failed(requireSameElementType(n, (*in)[0], v)))
      return failure();
  std::optional<HostTensor> folded;
  if (llvm::all_of(llvm::seq(n.numInputs()),
                   [&](unsigned i) { return n.constant(i); })) {
    folded = *n.constant(0);
    for (unsigned i = 1; folded && i < n.numInputs(); ++i)
      folded = foldBinary(*folded, *n.constant(i), folded->elementType,
                          floatFold, intFold);
  }
  if (folded) {
    n.setConstantOutput(0, std::move(*folded));
    return success();
  }
  Value result = (*in)[0];
  for (Value operand : ArrayRef(*in).drop_front()) {
    FailureOr<Value> r = elementwise<OpTy>(n, {result, operand});
    if (failed(r))
      return failure();
    result = *r;
  }
  n.setOutput(0, result);
  return success();
}

LogicalResult importDiv(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  bool isFloat = isa<FloatType>(elementTypeOf((*in)[0]));
  const HostTensor *a = n.constant(0), *c = n.constant(1);
  if (a && c) {
    auto intDiv = [](int64_t x, int64_t y) -> int64_t {
      // ONNX leaves both undefined; folding must not trap.
      if (y == 0)
        return 0;
      if (y == -1)
        return int64_t(0 - uint64_t(x));
      return x / y;
    };
    if (std::optional<HostTensor> r = foldBinary(
            *a, *c, a->elementType, [](double x, double y) { return x / y; },
            intDiv)) {
      n.setConstantOutput(0, std::move(*r));
      return success();
    }
  }
  if (isFloat) {
    FailureOr<Value> r = elementwise<tosa::MulOp>(
        n, {(*in)[0], unary<tosa::ReciprocalOp>(n, (*in)[1])});
    if (failed(r))
      return failure();
    n.setOutput(0, *r);
    return success();
  }
  // tosa.intdiv takes i32 and i64 only: narrower integers divide in i32,
  // where every quotient of two i8/i16 values fits, and narrow back.
  Type type = elementTypeOf((*in)[0]);
  SmallVector<Value> operands = *in;
  bool widen = type.getIntOrFloatBitWidth() < 32;
  auto castTo = [&](Value v, Type t) -> Value {
    return tosa::CastOp::create(
        n.b, RankedTensorType::get(typeOf(v).getShape(), t), v);
  };
  if (widen)
    for (Value &v : operands)
      v = castTo(v, n.b.getI32Type());
  FailureOr<Value> r = elementwise<tosa::IntDivOp>(n, operands);
  if (failed(r))
    return failure();
  n.setOutput(0, widen ? castTo(*r, type) : *r);
  return success();
}

/// Folds a float unary op on a constant input; true when folded.
bool foldUnary(NodeImporter &n, double (*fn)(double)) {
  const HostTensor *c = n.constant(0);
  if (!c || !c->isFloat())
    return false;
  HostTensor r = *c;
  for (double &v : r.floats)
    v = fn(v);
  n.setConstantOutput(0, std::move(r));
  return true;
}

template <typename OpTy>
LogicalResult unaryFloat(NodeImporter &n, double (*fold)(double)) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  if (!foldUnary(n, fold))
    n.setOutput(0, unary<OpTy>(n, (*in)[0]));
  return success();
}

LogicalResult importNeg(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = *c;
    for (double &v : r.floats)
      v = -v;
    for (int64_t &v : r.ints)
      v = int64_t(0 - uint64_t(v));
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  Value x = (*in)[0];
  Value zp = zeroPoint(n.b, elementTypeOf(x));
  n.setOutput(0, tosa::NegateOp::create(n.b, x.getType(), x, zp, zp));
  return success();
}

LogicalResult importSqrt(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  if (!foldUnary(n, [](double v) { return std::sqrt(v); }))
    n.setOutput(0, sqrt(n, (*in)[0]));
  return success();
}

LogicalResult importRelu(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value x = (*in)[0];
  Type t = elementTypeOf(x);
  n.setOutput(0,
              tosa::ClampOp::create(
                  n.b, x.getType(), x, n.b.getFloatAttr(t, 0.0),
                  n.b.getFloatAttr(
                      t, APFloat::getInf(cast<FloatType>(t).getFloatSemantics())
                             .convertToDouble())));
  return success();
}

LogicalResult importGelu(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value x = (*in)[0];
  std::string approximate = n.stringAttr("approximate", "none");
  Value inner;
  if (approximate == "none") {
    inner = unary<tosa::ErfOp>(n, mulScalar(n, x, M_SQRT1_2));
  } else if (approximate == "tanh") {
    Value cube = mul(n, mul(n, x, x), x);
    Value poly = add(n, x, mulScalar(n, cube, 0.044715));
    inner = unary<tosa::TanhOp>(n, mulScalar(n, poly, std::sqrt(2.0 / M_PI)));
  } else {
    return n.error() << "unknown approximate='" << approximate << "'";
  }
  Value onePlus = add(n, inner, scalarLike(n.b, x, 1.0));
  n.setOutput(0, mul(n, mulScalar(n, x, 0.5), onePlus));
  return success();
}

LogicalResult importPow(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value x = (*in)[0];
  // tosa.pow lowers through exp(y * log(x)), which is NaN for negative x;
  // the exponents exporters emit (x^2 in RMSNorm, x^3 in GELU) become
  // multiplications instead.
  const HostTensor *e = n.constant(1);
  if (e && e->size() == 1) {
    double p = e->asDouble(0);
    if (p == 1.0) {
      n.setOutput(0, x);
      return success();
    }
    if (p == 2.0) {
      n.setOutput(0, mul(n, x, x));
      return success();
    }
    if (p == 3.0) {
      n.setOutput(0, mul(n, mul(n, x, x), x));
      return success();
    }
    if (p == 0.5) {
      n.setOutput(0, sqrt(n, x));
      return success();
    }
  }
  Value y = (*in)[1];
  if (elementTypeOf(y) != elementTypeOf(x))
    y = tosa::CastOp::create(
        n.b, RankedTensorType::get(typeOf(y).getShape(), elementTypeOf(x)), y);
  FailureOr<Value> r = elementwise<tosa::PowOp>(n, {x, y});
  if (failed(r))
    return failure();
  n.setOutput(0, *r);
  return success();
}

/// Equal, Less, Greater, ...: `swap` puts the inputs in TOSA's order.
template <typename OpTy>
LogicalResult compare(NodeImporter &n, bool swap, const FloatFoldFn &fold,
                      const IntFoldFn &intFold) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  const HostTensor *a = n.constant(0), *c = n.constant(1);
  if (a && c) {
    if (std::optional<HostTensor> r =
            foldBinary(*a, *c, n.b.getI1Type(), fold, intFold)) {
      n.setConstantOutput(0, std::move(*r));
      return success();
    }
  }
  SmallVector<Value> operands = *in;
  if (swap)
    std::swap(operands[0], operands[1]);
  FailureOr<Value> r = elementwise<OpTy>(n, operands, n.b.getI1Type());
  if (failed(r))
    return failure();
  n.setOutput(0, *r);
  return success();
}

LogicalResult importNot(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = *c;
    for (int64_t &v : r.ints)
      v = !v;
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  n.setOutput(0, unary<tosa::LogicalNotOp>(n, (*in)[0]));
  return success();
}

LogicalResult importWhere(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 3);
  if (failed(in) || failed(requireSameElementType(n, (*in)[1], (*in)[2])))
    return failure();
  const HostTensor *c = n.constant(0), *x = n.constant(1), *y = n.constant(2);
  if (c && x && y) {
    FailureOr<SmallVector<int64_t>> cx = broadcastShapes(c->shape, x->shape);
    FailureOr<SmallVector<int64_t>> shape =
        succeeded(cx) ? broadcastShapes(*cx, y->shape) : cx;
    std::optional<HostTensor> cb, xb, yb;
    if (succeeded(shape) && (cb = c->broadcastTo(*shape)) &&
        (xb = x->broadcastTo(*shape)) && (yb = y->broadcastTo(*shape))) {
      for (int64_t i = 0, e = xb->size(); i < e; ++i)
        if (!cb->ints[i])
          xb->isFloat() ? void(xb->floats[i] = yb->floats[i])
                        : void(xb->ints[i] = yb->ints[i]);
      n.setConstantOutput(0, std::move(*xb));
      return success();
    }
  }
  FailureOr<Value> r = elementwise<tosa::SelectOp>(n, *in);
  if (failed(r))
    return failure();
  n.setOutput(0, *r);
  return success();
}

LogicalResult importCast(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  int64_t to = n.intAttr("to", 0);
  FailureOr<Type> type = convertElementType(to, n.b.getContext());
  if (failed(type))
    return n.error() << "cannot cast to " << dataTypeName(to);
  if (const HostTensor *c = n.constant(0)) {
    n.setConstantOutput(0, c->castTo(*type));
    return success();
  }
  Value x = (*in)[0];
  if (elementTypeOf(x) == *type) {
    n.setOutput(0, x);
    return success();
  }
  if (type->isUnsignedInteger())
    return n.error() << "casting a run-time tensor to " << dataTypeName(to)
                     << " is not supported: unsigned types are only folded "
                        "on the host";
  if (isa<FloatType>(elementTypeOf(x)) && type->isInteger() &&
      !type->isInteger(1)) {
    // ONNX truncates toward zero; tosa.cast rounds to nearest.
    Value nonNegative = *elementwise<tosa::GreaterEqualOp>(
        n, {x, scalarLike(n.b, x, 0.0)}, n.b.getI1Type());
    x = tosa::SelectOp::create(n.b, x.getType(), nonNegative,
                               unary<tosa::FloorOp>(n, x),
                               unary<tosa::CeilOp>(n, x));
  }
  n.setOutput(0,
              tosa::CastOp::create(
                  n.b, RankedTensorType::get(typeOf(x).getShape(), *type), x));
  return success();
}

LogicalResult importIdentity(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  if (const HostTensor *c = n.constant(0))
    n.setConstantOutput(0, *c);
  else
    n.setOutput(0, (*in)[0]);
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

/// Reads the reduce axes from the attribute (before `inputSince`) or from
/// input #1, applying noop_with_empty_axes.
FailureOr<SmallVector<int64_t>> reduceAxes(NodeImporter &n, int64_t rank,
                                           int64_t inputSince) {
  SmallVector<int64_t> axes;
  if (n.opset >= inputSince) {
    if (n.hasInput(1)) {
      FailureOr<SmallVector<int64_t>> c =
          requireConstantInts(n, 1, "the reduction axes");
      if (failed(c))
        return failure();
      axes = *c;
    }
  } else if (std::optional<SmallVector<int64_t>> a = n.intsAttr("axes")) {
    axes = *a;
  }
  if (axes.empty()) {
    if (n.intAttr("noop_with_empty_axes", 0))
      return SmallVector<int64_t>();
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  return normalizeAxes(n, axes, rank);
}

enum class ReduceKind { Sum, Mean, Max };

LogicalResult importReduce(NodeImporter &n, ReduceKind kind,
                           int64_t axesInputSince) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  FailureOr<SmallVector<int64_t>> axes =
      reduceAxes(n, typeOf(x).getRank(), axesInputSince);
  if (failed(axes))
    return failure();
  Value r;
  switch (kind) {
  case ReduceKind::Sum:
    r = reduceKeep<tosa::ReduceSumOp>(n, x, *axes);
    break;
  case ReduceKind::Max:
    r = reduceKeep<tosa::ReduceMaxOp>(n, x, *axes);
    break;
  case ReduceKind::Mean: {
    if (failed(requireFloat(n, x)))
      return failure();
    FailureOr<Value> mean = reduceMean(n, x, *axes);
    if (failed(mean))
      return failure();
    r = *mean;
    break;
  }
  }
  if (!n.intAttr("keepdims", 1)) {
    SmallVector<int64_t> shape = dropAxes(typeOf(r).getShape(), *axes);
    if (!reshapeable(shape))
      return n.dynamicShapeError("dropping reduced axes");
    r = reshape(n.b, r, shape);
  }
  n.setOutput(0, r);
  return success();
}

LogicalResult importSoftmax(NodeImporter &n, bool logSoftmax) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value x = (*in)[0];
  FailureOr<int64_t> axis =
      n.normalizeAxis(n.intAttr("axis", -1), typeOf(x).getRank());
  if (failed(axis))
    return failure();
  Value shifted = sub(n, x, reduceKeep<tosa::ReduceMaxOp>(n, x, {*axis}));
  Value exp = unary<tosa::ExpOp>(n, shifted);
  Value sum = reduceKeep<tosa::ReduceSumOp>(n, exp, {*axis});
  n.setOutput(0, logSoftmax ? sub(n, shifted, unary<tosa::LogOp>(n, sum))
                            : mul(n, exp, unary<tosa::ReciprocalOp>(n, sum)));
  return success();
}

/// The axes [axis, rank) that LayerNormalization-style ops normalize over.
FailureOr<SmallVector<int64_t>> trailingAxes(NodeImporter &n, int64_t rank) {
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", -1), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> axes;
  for (int64_t i = *axis; i < rank; ++i)
    axes.push_back(i);
  return axes;
}

LogicalResult importLayerNorm(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value x = (*in)[0];
  if (n.hasOutput(1) || n.hasOutput(2))
    return n.error() << "the Mean and InvStdDev outputs are not supported";
  FailureOr<SmallVector<int64_t>> axes = trailingAxes(n, typeOf(x).getRank());
  if (failed(axes))
    return failure();
  FailureOr<Value> mean = reduceMean(n, x, *axes);
  if (failed(mean))
    return failure();
  Value centered = sub(n, x, *mean);
  FailureOr<Value> var = reduceMean(n, mul(n, centered, centered), *axes);
  if (failed(var))
    return failure();
  float epsilon = n.floatAttr("epsilon", 1e-5f);
  if (!std::isfinite(epsilon) || epsilon < 0)
    return n.error() << "epsilon must be finite and non-negative, got "
                     << epsilon;
  Value eps = scalarLike(n.b, x, epsilon);
  Value y = mul(n, centered, unary<tosa::RsqrtOp>(n, add(n, *var, eps)));
  FailureOr<Value> scaled = elementwise<tosa::MulOp>(n, {y, (*in)[1]});
  if (failed(scaled))
    return failure();
  y = *scaled;
  if (n.hasInput(2)) {
    FailureOr<Value> biased = elementwise<tosa::AddOp>(n, {y, n.input(2)});
    if (failed(biased))
      return failure();
    y = *biased;
  }
  n.setOutput(0, y);
  return success();
}

/// RMSNormalization (opset 23) and onnxruntime's SimplifiedLayerNormalization
/// both become attnres.rms_norm when they normalize the last axis.
LogicalResult importRMSNorm(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])) ||
      failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  if (n.hasOutput(1) || n.hasOutput(2))
    return n.error() << "only the normalized output is supported";
  Value x = (*in)[0], scale = (*in)[1];
  int64_t rank = typeOf(x).getRank();
  FailureOr<SmallVector<int64_t>> axes = trailingAxes(n, rank);
  if (failed(axes))
    return failure();
  float epsilon = n.floatAttr("epsilon", 1e-5f);
  if (!std::isfinite(epsilon) || epsilon < 0)
    return n.error() << "epsilon must be finite and non-negative, got "
                     << epsilon;
  RankedTensorType scaleType = typeOf(scale);
  int64_t features = typeOf(x).getDimSize(rank - 1);
  // A scale of D elements in any [1, .., D] shape is the op's weight vector.
  bool vectorScale = scaleType.hasStaticShape() &&
                     scaleType.getNumElements() == features &&
                     llvm::count_if(scaleType.getShape(),
                                    [](int64_t d) { return d != 1; }) <= 1;
  if (axes->size() == 1 && vectorScale) {
    n.setOutput(
        0, RMSNormOp::create(n.b, x, reshape(n.b, scale, {features}), epsilon));
    return success();
  }
  FailureOr<Value> meanSquare = reduceMean(n, mul(n, x, x), *axes);
  if (failed(meanSquare))
    return failure();
  Value inv =
      unary<tosa::RsqrtOp>(n, add(n, *meanSquare, scalarLike(n.b, x, epsilon)));
  FailureOr<Value> y = elementwise<tosa::MulOp>(n, {mul(n, x, inv), scale});
  if (failed(y))
    return failure();
  n.setOutput(0, *y);
  return success();
}

//===----------------------------------------------------------------------===//
// Matrix products
//===----------------------------------------------------------------------===//

/// [B, M, K] x [B, K, N] with tosa.matmul; operands are 3-D.
Value batchMatmul(NodeImporter &n, Value a, Value c) {
  ArrayRef<int64_t> sa = typeOf(a).getShape(), sc = typeOf(c).getShape();
  int64_t batch = ShapedType::isDynamic(sa[0]) ? sc[0] : sa[0];
  auto type = RankedTensorType::get({batch, sa[1], sc[2]}, elementTypeOf(a));
  Value zp = zeroPoint(n.b, elementTypeOf(a));
  return tosa::MatMulOp::create(n.b, type, a, c, zp, zp);
}

LogicalResult importMatMul(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])) ||
      failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  Value a = (*in)[0], c = (*in)[1];
  SmallVector<int64_t> sa(typeOf(a).getShape()), sc(typeOf(c).getShape());
  if (sa.empty() || sc.empty())
    return n.error() << "MatMul operands must have rank >= 1";
  bool vecA = sa.size() == 1, vecC = sc.size() == 1;
  if (vecA)
    sa.insert(sa.begin(), 1);
  if (vecC)
    sc.push_back(1);
  int64_t m = sa[sa.size() - 2], k = sa.back(), k2 = sc[sc.size() - 2],
          nn = sc.back();
  if (!ShapedType::isDynamic(k) && !ShapedType::isDynamic(k2) && k != k2)
    return n.error() << "inner dimensions " << k << " and " << k2
                     << " do not match";
  ArrayRef<int64_t> batchA = ArrayRef(sa).drop_back(2),
                    batchC = ArrayRef(sc).drop_back(2);
  FailureOr<SmallVector<int64_t>> batch = broadcastShapes(batchA, batchC);
  if (failed(batch))
    return n.error() << "batch dimensions do not broadcast";

  Value result;
  SmallVector<int64_t> outShape(*batch);
  if (!vecA)
    outShape.push_back(m);
  if (!vecC)
    outShape.push_back(nn);
  if (product(batchC) == 1 && llvm::none_of(batchC, ShapedType::isDynamic)) {
    // The common x @ W: fold A's batch dims into its rows.
    SmallVector<int64_t> rows{1, ShapedType::kDynamic, k};
    if (llvm::none_of(ArrayRef(sa).drop_back(), ShapedType::isDynamic))
      rows[1] = product(ArrayRef(sa).drop_back());
    if (!reshapeable(rows) || !reshapeable({1, k2, nn}))
      return n.dynamicShapeError("MatMul's operand shape");
    Value a3 = reshape(n.b, a, rows);
    Value c3 = reshape(n.b, c, {1, k2, nn});
    result = batchMatmul(n, a3, c3);
  } else {
    // Batched: broadcast both to the common batch, then flatten it.
    if (!llvm::none_of(*batch, ShapedType::isDynamic) &&
        (batchA != ArrayRef<int64_t>(*batch) ||
         batchC != ArrayRef<int64_t>(*batch)))
      return n.dynamicShapeError("broadcasting MatMul's batch dimensions");
    auto broadcastTo = [&](Value v, SmallVector<int64_t> s,
                           ArrayRef<int64_t> b) -> Value {
      SmallVector<int64_t> full(b.size() - (s.size() - 2), 1);
      llvm::append_range(full, s);
      v = reshape(n.b, v, full);
      SmallVector<int64_t> multiples;
      bool tile = false;
      for (size_t i = 0; i < full.size(); ++i) {
        int64_t want = i < b.size() ? b[i] : full[i];
        multiples.push_back(full[i] == want ? 1 : want);
        tile |= full[i] != want;
        full[i] = want;
      }
      if (!tile)
        return v;
      return tosa::TileOp::create(n.b,
                                  RankedTensorType::get(full, elementTypeOf(v)),
                                  v, tosa::getTosaConstShape(n.b, multiples));
    };
    SmallVector<int64_t> b3(*batch);
    auto rankExpanded = [&](ArrayRef<int64_t> s) {
      SmallVector<int64_t> full(b3.size() - (s.size() - 2), 1);
      llvm::append_range(full, s);
      return full;
    };
    if (!reshapeable(rankExpanded(sa)) || !reshapeable(rankExpanded(sc)))
      return n.dynamicShapeError("MatMul's operand shape");
    Value a3 = broadcastTo(a, sa, b3), c3 = broadcastTo(c, sc, b3);
    int64_t flat = llvm::none_of(b3, ShapedType::isDynamic)
                       ? product(b3)
                       : ShapedType::kDynamic;
    SmallVector<int64_t> shapeA{flat, m, k}, shapeC{flat, k2, nn};
    if (!reshapeable(shapeA) || !reshapeable(shapeC))
      return n.dynamicShapeError("MatMul's operand shape");
    result = batchMatmul(n, reshape(n.b, a3, shapeA), reshape(n.b, c3, shapeC));
  }
  if (!reshapeable(outShape))
    return n.dynamicShapeError("MatMul's result shape");
  n.setOutput(0, reshape(n.b, result, outShape));
  return success();
}

Value transpose2D(NodeImporter &n, Value v) {
  ArrayRef<int64_t> s = typeOf(v).getShape();
  return tosa::TransposeOp::create(
      n.b, RankedTensorType::get({s[1], s[0]}, elementTypeOf(v)), v,
      n.b.getDenseI32ArrayAttr({1, 0}));
}

LogicalResult importGemm(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value a = (*in)[0], c = (*in)[1];
  if (typeOf(a).getRank() != 2 || typeOf(c).getRank() != 2)
    return n.error() << "Gemm operands must be 2-D";
  if (n.intAttr("transA", 0))
    a = transpose2D(n, a);
  if (n.intAttr("transB", 0))
    c = transpose2D(n, c);
  ArrayRef<int64_t> sa = typeOf(a).getShape(), sc = typeOf(c).getShape();
  if (!reshapeable(sa) || !reshapeable(sc) || !reshapeable({sa[0], sc[1]}))
    return n.dynamicShapeError("Gemm's operand shape");
  if (!ShapedType::isDynamic(sa[1]) && !ShapedType::isDynamic(sc[0]) &&
      sa[1] != sc[0])
    return n.error() << "inner dimensions " << sa[1] << " and " << sc[0]
                     << " do not match";
  Value y = batchMatmul(n, reshape(n.b, a, {1, sa[0], sa[1]}),
                        reshape(n.b, c, {1, sc[0], sc[1]}));
  y = reshape(n.b, y, {sa[0], sc[1]});
  float alpha = n.floatAttr("alpha", 1.0f), beta = n.floatAttr("beta", 1.0f);
  if (alpha != 1.0f)
    y = mulScalar(n, y, alpha);
  if (n.hasInput(2) && beta != 0.0f) {
    Value bias = n.input(2);
    if (beta != 1.0f)
      bias = mulScalar(n, bias, beta);
    FailureOr<Value> sum = elementwise<tosa::AddOp>(n, {y, bias});
    if (failed(sum))
      return failure();
    y = *sum;
  }
  n.setOutput(0, y);
  return success();
}

/// Einsum as one linalg.generic: each letter is a loop, letters missing from
/// the output are reductions.
LogicalResult importEinsum(NodeImporter &n) {
  std::string equation = n.stringAttr("equation", "");
  equation.erase(llvm::remove_if(equation, ::isspace), equation.end());
  StringRef eq(equation);
  if (eq.contains("..."))
    return n.error() << "Einsum with '...' is not supported";
  auto [lhs, out] = eq.split("->");
  if (!eq.contains("->"))
    return n.error() << "Einsum equations without '->' are not supported";
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != n.numInputs())
    return n.error() << "equation '" << equation << "' names " << terms.size()
                     << " operands, the node has " << n.numInputs();
  SmallVector<Value> inputs;
  std::string letters;
  llvm::DenseMap<char, std::pair<Value, int64_t>> source;
  for (auto [i, term] : llvm::enumerate(terms)) {
    Value v = n.input(i);
    if (!v)
      return n.error() << "requires input #" << i;
    if (failed(requireFloat(n, v)))
      return failure();
    if (size_t(typeOf(v).getRank()) != term.size())
      return n.error() << "operand #" << i << " has rank "
                       << typeOf(v).getRank() << " but '" << term << "' names "
                       << term.size() << " axes";
    inputs.push_back(v);
    for (auto [axis, c] : llvm::enumerate(term)) {
      if (letters.find(c) == std::string::npos) {
        letters.push_back(c);
        source[c] = {v, int64_t(axis)};
      }
    }
  }
  for (char c : out)
    if (letters.find(c) == std::string::npos)
      return n.error() << "output letter '" << c << "' is not an input axis";
  // A letter repeated within one term (a diagonal) would make a linalg
  // indexing map that is not a projection.
  SmallVector<StringRef> allTerms(terms);
  allTerms.push_back(out);
  for (StringRef term : allTerms) {
    for (auto [i, c] : llvm::enumerate(term)) {
      if (!llvm::isAlpha(c))
        return n.error() << "equation '" << equation
                         << "' has a character that is not a letter: '" << c
                         << "'";
      if (term.find(c, i + 1) != StringRef::npos)
        return n.error() << "letter '" << c << "' repeats in '" << term
                         << "' (diagonals are not supported)";
    }
  }
  // Every axis one letter names must have one size.
  for (auto [i, term] : llvm::enumerate(terms)) {
    for (auto [axis, c] : llvm::enumerate(term)) {
      auto [v, srcAxis] = source[c];
      int64_t a = typeOf(v).getDimSize(srcAxis),
              d = typeOf(inputs[i]).getDimSize(axis);
      if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(d) && a != d)
        return n.error() << "letter '" << c << "' names axes of sizes " << a
                         << " and " << d;
    }
  }
  // Output letters first (parallel), then reductions.
  std::string loops(out);
  for (char c : letters)
    if (out.find(c) == StringRef::npos)
      loops.push_back(c);
  auto mapFor = [&](StringRef term) {
    SmallVector<AffineExpr> exprs;
    for (char c : term)
      exprs.push_back(n.b.getAffineDimExpr(loops.find(c)));
    return AffineMap::get(loops.size(), 0, exprs, n.b.getContext());
  };
  SmallVector<AffineMap> maps;
  for (StringRef term : terms)
    maps.push_back(mapFor(term));
  maps.push_back(mapFor(out));
  SmallVector<utils::IteratorType> iterators;
  for (size_t i = 0; i < loops.size(); ++i)
    iterators.push_back(i < out.size() ? utils::IteratorType::parallel
                                       : utils::IteratorType::reduction);
  SmallVector<OpFoldResult> outSizes;
  SmallVector<int64_t> outShape;
  for (char c : out) {
    auto [v, axis] = source[c];
    outSizes.push_back(tensor::getMixedSize(n.b, n.b.getLoc(), v, axis));
    outShape.push_back(typeOf(v).getDimSize(axis));
  }
  Type et = elementTypeOf(inputs[0]);
  Value init = tensor::EmptyOp::create(n.b, outSizes, et);
  Value zero = arith::ConstantOp::create(n.b, n.b.getFloatAttr(et, 0.0));
  init = linalg::FillOp::create(n.b, zero, init).getResult(0);
  Value r =
      linalg::GenericOp::create(
          n.b, RankedTensorType::get(outShape, et), inputs, init, maps,
          iterators,
          [&](OpBuilder &b, Location loc, ValueRange args) {
            Value p = args[0];
            for (Value v : args.drop_front().drop_back())
              p = arith::MulFOp::create(b, loc, p, v);
            linalg::YieldOp::create(
                b, loc,
                arith::AddFOp::create(b, loc, args.back(), p).getResult());
          })
          .getResult(0);
  n.setOutput(0, r);
  return success();
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

/// Output = input with a new shape; folds constants.
LogicalResult reshapeTo(NodeImporter &n, ArrayRef<int64_t> shape) {
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = *c;
    r.shape.assign(shape.begin(), shape.end());
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  if (!reshapeable(shape))
    return n.dynamicShapeError("the result shape");
  n.setOutput(0, reshape(n.b, n.input(0), shape));
  return success();
}

LogicalResult importReshape(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  FailureOr<SmallVector<int64_t>> target =
      requireConstantInts(n, 1, "Reshape's target shape");
  if (failed(target))
    return failure();
  ArrayRef<int64_t> inShape = typeOf((*in)[0]).getShape();
  bool allowZero = n.intAttr("allowzero", 0);
  SmallVector<int64_t> shape;
  int64_t inferred = -1, known = 1;
  for (auto [i, d] : llvm::enumerate(*target)) {
    // Checked before zeros copy input dims: a raw INT64_MIN is not the
    // dynamic marker it happens to equal.
    if (d < -1)
      return n.error() << "invalid target dimension " << d;
    if (d == 0 && !allowZero) {
      if (i >= inShape.size())
        return n.error() << "target dimension " << i
                         << " copies an input dimension that does not exist";
      d = inShape[i];
    }
    if (ShapedType::isDynamic(d)) {
      // A 0 that copied a dynamic input dim: stays dynamic.
    } else if (d == -1) {
      if (inferred >= 0)
        return n.error() << "the target shape has more than one -1";
      inferred = i;
    } else if (d < -1) {
      return n.error() << "invalid target dimension " << d;
    } else {
      if (d > kMaxDim || (d && known > kMaxTensorElements / d))
        return n.error() << "target dimension " << d << " is absurdly large";
      known *= d;
    }
    shape.push_back(d);
  }
  if (inferred >= 0) {
    bool staticIn = llvm::none_of(inShape, ShapedType::isDynamic) &&
                    llvm::none_of(shape, ShapedType::isDynamic);
    if (staticIn) {
      if (known == 0 || product(inShape) % known)
        return n.error() << "cannot reshape " << product(inShape)
                         << " elements to the target shape";
      shape[inferred] = product(inShape) / known;
    } else {
      shape[inferred] = ShapedType::kDynamic;
    }
  } else if (llvm::none_of(inShape, ShapedType::isDynamic) &&
             llvm::none_of(shape, ShapedType::isDynamic) &&
             product(inShape) != product(shape)) {
    return n.error() << "cannot reshape " << product(inShape) << " elements to "
                     << product(shape);
  }
  return reshapeTo(n, shape);
}

/// The axes of Squeeze/Unsqueeze: an input since opset 13.
FailureOr<SmallVector<int64_t>> squeezeAxes(NodeImporter &n) {
  if (!n.hasInput(1))
    return SmallVector<int64_t>();
  return requireConstantInts(n, 1, "the axes");
}

LogicalResult importUnsqueeze(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  FailureOr<SmallVector<int64_t>> axes = squeezeAxes(n);
  if (failed(in) || failed(axes))
    return failure();
  ArrayRef<int64_t> inShape = typeOf((*in)[0]).getShape();
  int64_t rank = inShape.size() + axes->size();
  FailureOr<SmallVector<int64_t>> sorted = normalizeAxes(n, *axes, rank);
  if (failed(sorted))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0, j = 0; i < rank; ++i)
    shape.push_back(llvm::is_contained(*sorted, i) ? 1 : inShape[j++]);
  return reshapeTo(n, shape);
}

LogicalResult importSqueeze(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  FailureOr<SmallVector<int64_t>> axes = squeezeAxes(n);
  if (failed(in) || failed(axes))
    return failure();
  ArrayRef<int64_t> inShape = typeOf((*in)[0]).getShape();
  FailureOr<SmallVector<int64_t>> sorted =
      normalizeAxes(n, *axes, inShape.size());
  if (failed(sorted))
    return failure();
  if (axes->empty())
    for (auto [i, d] : llvm::enumerate(inShape))
      if (d == 1)
        sorted->push_back(i);
  for (int64_t axis : *sorted)
    if (inShape[axis] != 1)
      return n.error() << "cannot squeeze axis " << axis << " of size "
                       << inShape[axis];
  return reshapeTo(n, dropAxes(inShape, *sorted));
}

LogicalResult importFlatten(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  ArrayRef<int64_t> s = typeOf((*in)[0]).getShape();
  int64_t axis = n.intAttr("axis", 1);
  if (axis < 0)
    axis += s.size();
  if (axis < 0 || axis > int64_t(s.size()))
    return n.error() << "axis out of range";
  auto flat = [](ArrayRef<int64_t> d) {
    return llvm::any_of(d, ShapedType::isDynamic) ? ShapedType::kDynamic
                                                  : product(d);
  };
  return reshapeTo(n, {flat(s.take_front(axis)), flat(s.drop_front(axis))});
}

LogicalResult importTranspose(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  int64_t rank = typeOf(x).getRank();
  SmallVector<int64_t> perm;
  if (std::optional<SmallVector<int64_t>> p = n.intsAttr("perm"))
    perm = *p;
  else
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  SmallVector<int64_t> check(perm);
  llvm::sort(check);
  if (int64_t(check.size()) != rank ||
      llvm::any_of(llvm::enumerate(check),
                   [](auto e) { return e.value() != int64_t(e.index()); }))
    return n.error() << "perm is not a permutation of the " << rank << " axes";
  SmallVector<int64_t> shape;
  SmallVector<int32_t> perms;
  for (int64_t p : perm) {
    shape.push_back(typeOf(x).getDimSize(p));
    perms.push_back(p);
  }
  if (rank <= 1) {
    // Nothing to permute (and tosa.transpose rejects rank 0).
    if (const HostTensor *c = n.constant(0))
      n.setConstantOutput(0, *c);
    else
      n.setOutput(0, x);
    return success();
  }
  n.setOutput(0, tosa::TransposeOp::create(
                     n.b, RankedTensorType::get(shape, elementTypeOf(x)), x,
                     n.b.getDenseI32ArrayAttr(perms)));
  return success();
}

/// Row-major element offsets of a shape.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = saturatingProduct({strides[i + 1], shape[i + 1]});
  return strides;
}

LogicalResult importConcat(NodeImporter &n) {
  if (n.numInputs() == 0)
    return n.error() << "requires at least one input";
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < n.numInputs(); ++i)
    if (n.hasInput(i))
      inputs.push_back(n.input(i));
  if (inputs.empty())
    return n.error() << "requires at least one non-empty input";
  int64_t rank = typeOf(inputs[0]).getRank();
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  for (Value v : inputs) {
    if (failed(requireSameElementType(n, inputs[0], v)))
      return failure();
    if (typeOf(v).getRank() != rank)
      return n.error() << "inputs have different ranks";
    for (int64_t d = 0; d < rank; ++d) {
      int64_t a = typeOf(inputs[0]).getDimSize(d), b = typeOf(v).getDimSize(d);
      if (d != *axis && !ShapedType::isDynamic(a) &&
          !ShapedType::isDynamic(b) && a != b)
        return n.error() << "inputs differ in dimension " << d << " (" << a
                         << " vs " << b << ") outside the concatenation axis";
    }
  }
  bool allConstant = true;
  int64_t foldedSize = 0;
  for (unsigned i = 0; i < n.numInputs(); ++i) {
    if (!n.hasInput(i))
      continue;
    const HostTensor *c = n.constant(i);
    allConstant &= c != nullptr;
    if (c)
      foldedSize += c->size();
  }
  if (allConstant && foldedSize <= kMaxFoldedElements) {
    // Concatenate on the host: outer blocks of each input in turn.
    SmallVector<const HostTensor *> parts;
    for (unsigned i = 0; i < n.numInputs(); ++i)
      if (n.hasInput(i))
        parts.push_back(n.constant(i));
    HostTensor r = HostTensor::empty(parts[0]->elementType, parts[0]->shape);
    r.shape[*axis] = 0;
    for (const HostTensor *p : parts)
      r.shape[*axis] += p->shape[*axis];
    int64_t outer = product(ArrayRef(r.shape).take_front(*axis));
    for (int64_t o = 0; o < outer; ++o)
      for (const HostTensor *p : parts) {
        int64_t block = product(ArrayRef(p->shape).drop_front(*axis));
        for (int64_t i = 0; i < block; ++i)
          r.pushFrom(*p, o * block + i);
      }
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  // TOSA has no empty tensors: empty inputs (a zero-width folded constant)
  // contribute nothing.
  SmallVector<Value> nonEmpty(llvm::make_filter_range(
      inputs, [](Value v) { return typeOf(v).getNumElements() != 0; }));
  if (nonEmpty.empty())
    nonEmpty.push_back(inputs[0]);
  if (nonEmpty.size() == 1) {
    n.setOutput(0, nonEmpty[0]);
    return success();
  }
  n.setOutput(
      0, tosa::ConcatOp::create(n.b, nonEmpty, n.b.getI32IntegerAttr(*axis)));
  return success();
}

/// tosa.slice of [start, start + size) along each axis.
Value slice(NodeImporter &n, Value x, ArrayRef<int64_t> start,
            ArrayRef<int64_t> size) {
  return tosa::SliceOp::create(
      n.b, RankedTensorType::get(size, elementTypeOf(x)), x,
      tosa::getTosaConstShape(n.b, start), tosa::getTosaConstShape(n.b, size));
}

LogicalResult importSplit(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  ArrayRef<int64_t> shape = typeOf(x).getShape();
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", 0), shape.size());
  if (failed(axis))
    return failure();
  int64_t total = shape[*axis];
  if (ShapedType::isDynamic(total))
    return n.dynamicShapeError("the split axis");
  SmallVector<int64_t> sizes;
  if (n.hasInput(1)) {
    FailureOr<SmallVector<int64_t>> s =
        requireConstantInts(n, 1, "the split sizes");
    if (failed(s))
      return failure();
    sizes = *s;
  } else {
    int64_t parts = n.opset >= 18 && n.attr("num_outputs")
                        ? n.intAttr("num_outputs", 1)
                        : n.numOutputs();
    if (parts != n.numOutputs())
      return n.error() << "num_outputs is " << parts << " but the node has "
                       << n.numOutputs() << " outputs";
    int64_t chunk = (total + parts - 1) / parts;
    for (int64_t i = 0, left = total; i < parts; ++i, left -= chunk)
      sizes.push_back(std::min(chunk, left));
  }
  int64_t sum = 0;
  bool badSize = false;
  for (int64_t size : sizes)
    badSize |= size < 0 || __builtin_add_overflow(sum, size, &sum);
  if (int64_t(sizes.size()) != n.numOutputs() || badSize || sum != total)
    return n.error() << "split sizes do not add up to " << total << " over "
                     << n.numOutputs() << " outputs";
  SmallVector<int64_t> start(shape.size(), 0), size(shape);
  if (llvm::any_of(shape, ShapedType::isDynamic))
    return n.dynamicShapeError("Split's input shape");
  for (auto [i, s] : llvm::enumerate(sizes)) {
    size[*axis] = s;
    n.setOutput(i, slice(n, x, start, size));
    start[*axis] += s;
  }
  return success();
}

LogicalResult importSlice(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 3);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  SmallVector<int64_t> shape(typeOf(x).getShape());
  int64_t rank = shape.size();
  FailureOr<SmallVector<int64_t>> starts =
      requireConstantInts(n, 1, "Slice's starts");
  FailureOr<SmallVector<int64_t>> ends =
      requireConstantInts(n, 2, "Slice's ends");
  if (failed(starts) || failed(ends))
    return failure();
  SmallVector<int64_t> axes, steps(starts->size(), 1);
  if (n.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> a =
        requireConstantInts(n, 3, "Slice's axes");
    if (failed(a))
      return failure();
    axes = *a;
  } else {
    for (size_t i = 0; i < starts->size(); ++i)
      axes.push_back(i);
  }
  if (n.hasInput(4)) {
    FailureOr<SmallVector<int64_t>> s =
        requireConstantInts(n, 4, "Slice's steps");
    if (failed(s))
      return failure();
    steps = *s;
  }
  if (axes.size() != starts->size() || ends->size() != starts->size() ||
      steps.size() != starts->size())
    return n.error() << "starts, ends, axes and steps differ in length";
  SmallVector<int64_t> begin(rank, 0), size(shape), stride(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    FailureOr<int64_t> axis = n.normalizeAxis(axes[i], rank);
    if (failed(axis))
      return failure();
    int64_t dim = shape[*axis];
    if (steps[i] <= 0)
      return n.error() << "step " << steps[i]
                       << " is not supported (only positive steps)";
    if (ShapedType::isDynamic(dim))
      return n.dynamicShapeError("slicing a dynamic axis");
    auto clampIndex = [&](int64_t v) {
      if (v < 0)
        v += dim;
      return std::clamp<int64_t>(v, 0, dim);
    };
    int64_t s = clampIndex((*starts)[i]), e = clampIndex((*ends)[i]);
    begin[*axis] = s;
    stride[*axis] = steps[i];
    size[*axis] = e > s ? 1 + (e - s - 1) / steps[i] : 0;
  }
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = HostTensor::empty(c->elementType, size);
    SmallVector<int64_t> strides = stridesOf(c->shape), index(rank, 0);
    for (int64_t k = 0, e = r.size(); k < e; ++k) {
      int64_t offset = 0;
      for (int64_t d = 0; d < rank; ++d)
        offset += (begin[d] + index[d] * stride[d]) * strides[d];
      r.pushFrom(*c, offset);
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (++index[d] < size[d])
          break;
        index[d] = 0;
      }
    }
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  if (llvm::all_of(stride, [](int64_t s) { return s == 1; })) {
    if (llvm::any_of(shape, ShapedType::isDynamic))
      return n.dynamicShapeError("Slice's input shape");
    n.setOutput(0, slice(n, x, begin, size));
    return success();
  }
  if (llvm::any_of(shape, ShapedType::isDynamic))
    return n.dynamicShapeError("Slice's input shape");
  n.setOutput(0, tensor::ExtractSliceOp::create(
                     n.b, RankedTensorType::get(size, elementTypeOf(x)), x,
                     ValueRange{}, ValueRange{}, ValueRange{}, begin, size,
                     stride));
  return success();
}

LogicalResult importShape(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  ArrayRef<int64_t> shape = typeOf((*in)[0]).getShape();
  int64_t rank = shape.size();
  int64_t start = n.intAttr("start", 0), end = n.intAttr("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  SmallVector<int64_t> dims(shape.begin() + start,
                            shape.begin() + std::max(start, end));
  if (llvm::none_of(dims, ShapedType::isDynamic)) {
    HostTensor r = HostTensor::empty(n.b.getI64Type(), {int64_t(dims.size())});
    r.ints = dims;
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  // Dynamic: read the sizes at run time; consumers that need them constant
  // report the dynamic input.
  SmallVector<Value> elements;
  for (int64_t i = start; i < end; ++i) {
    Value d = tensor::DimOp::create(n.b, (*in)[0], i);
    elements.push_back(
        arith::IndexCastOp::create(n.b, n.b.getI64Type(), d).getResult());
  }
  n.setOutput(0, tensor::FromElementsOp::create(
                     n.b,
                     RankedTensorType::get({int64_t(elements.size())},
                                           n.b.getI64Type()),
                     elements));
  return success();
}

LogicalResult importSize(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  RankedTensorType type = typeOf((*in)[0]);
  if (!type.hasStaticShape())
    return n.dynamicShapeError("Size");
  HostTensor r = HostTensor::empty(n.b.getI64Type(), {});
  r.ints.push_back(type.getNumElements());
  n.setConstantOutput(0, std::move(r));
  return success();
}

LogicalResult importExpand(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  FailureOr<SmallVector<int64_t>> target =
      requireConstantInts(n, 1, "Expand's shape");
  if (failed(target))
    return failure();
  for (int64_t d : *target)
    if (d < 0 || d > kMaxDim)
      return n.error() << "invalid target dimension " << d;
  Value x = (*in)[0];
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(typeOf(x).getShape(), *target);
  if (failed(shape))
    return n.error() << "input does not broadcast to the requested shape";
  if (const HostTensor *c = n.constant(0)) {
    if (std::optional<HostTensor> r = c->broadcastTo(*shape)) {
      n.setConstantOutput(0, std::move(*r));
      return success();
    }
  }
  FailureOr<Value> expanded = expandRank(n, x, shape->size());
  if (failed(expanded))
    return failure();
  ArrayRef<int64_t> from = typeOf(*expanded).getShape();
  SmallVector<int64_t> multiples;
  for (auto [f, t] : llvm::zip(from, *shape)) {
    if (ShapedType::isDynamic(t) && f != t)
      return n.dynamicShapeError("Expand's shape");
    multiples.push_back(f == t ? 1 : t);
  }
  if (llvm::all_of(multiples, [](int64_t m) { return m == 1; })) {
    n.setOutput(0, *expanded);
    return success();
  }
  n.setOutput(0, tosa::TileOp::create(
                     n.b, RankedTensorType::get(*shape, elementTypeOf(x)),
                     *expanded, tosa::getTosaConstShape(n.b, multiples)));
  return success();
}

LogicalResult importGather(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  Value data = (*in)[0], indices = (*in)[1];
  ArrayRef<int64_t> ds = typeOf(data).getShape(),
                    is = typeOf(indices).getShape();
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", 0), ds.size());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> outShape(ds.begin(), ds.begin() + *axis);
  llvm::append_range(outShape, is);
  outShape.append(ds.begin() + *axis + 1, ds.end());
  int64_t k = ds[*axis];

  const HostTensor *cd = n.constant(0), *ci = n.constant(1);
  std::optional<int64_t> outSize = checkedNumElements(outShape);
  if (cd && ci && outSize && *outSize <= kMaxFoldedElements) {
    HostTensor r = HostTensor::empty(cd->elementType, outShape);
    int64_t outer = product(ds.take_front(*axis));
    int64_t inner = product(ds.drop_front(*axis + 1));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < ci->size(); ++j) {
        int64_t idx = ci->asInt(j);
        if (idx < 0)
          idx += k;
        if (idx < 0 || idx >= k)
          return n.error() << "index " << ci->asInt(j)
                           << " is out of range for axis of size " << k;
        for (int64_t i = 0; i < inner; ++i)
          r.pushFrom(*cd, (o * k + idx) * inner + i);
      }
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  if (ci && ci->shape.empty() && llvm::none_of(ds, ShapedType::isDynamic)) {
    // A constant scalar index selects one slice (q, k, v out of a fused
    // projection): a slice, not a gather.
    int64_t idx = ci->asInt(0);
    if (idx < -k || idx >= k)
      return n.error() << "index " << idx
                       << " is out of range for axis of size " << k;
    SmallVector<int64_t> start(ds.size(), 0), size(ds);
    start[*axis] = idx < 0 ? idx + k : idx;
    size[*axis] = 1;
    n.setOutput(0, reshape(n.b, slice(n, data, start, size), outShape));
    return success();
  }
  if (llvm::any_of(ds, ShapedType::isDynamic))
    return n.dynamicShapeError("Gather's data shape");
  // tosa.gather reads values [N, K, C] at indices [N, W]: N are the axes
  // before `axis`, C those after it, W the flattened indices.
  int64_t outer = product(ds.take_front(*axis));
  int64_t inner = product(ds.drop_front(*axis + 1));
  int64_t w = llvm::any_of(is, ShapedType::isDynamic) ? ShapedType::kDynamic
                                                      : product(is);
  Value idx;
  Type i32 = n.b.getI32Type();
  if (ci) {
    HostTensor normalized = HostTensor::empty(i32, {1, w});
    for (int64_t j = 0; j < ci->size(); ++j) {
      int64_t v = ci->asInt(j);
      if (v < -k || v >= k)
        return n.error() << "index " << v
                         << " is out of range for axis of size " << k;
      normalized.ints.push_back(v < 0 ? v + k : v);
    }
    idx = tosa::ConstOp::create(n.b, RankedTensorType::get({1, w}, i32),
                                normalized.toAttr());
  } else {
    if (!reshapeable({1, w}))
      return n.dynamicShapeError("Gather's indices");
    idx = reshape(n.b, indices, {1, w});
    if (elementTypeOf(idx) != i32)
      idx = tosa::CastOp::create(
          n.b, RankedTensorType::get(typeOf(idx).getShape(), i32), idx);
    // Negative indices count from the end.
    Value negative = *elementwise<tosa::GreaterOp>(
        n, {splat(n.b, i32, {1, 1}, 0), idx}, n.b.getI1Type());
    Value wrapped = add(n, idx, splat(n.b, i32, {1, 1}, double(k)));
    idx = *elementwise<tosa::SelectOp>(n, {negative, wrapped, idx});
  }
  if (outer != 1)
    idx = tosa::TileOp::create(n.b, RankedTensorType::get({outer, w}, i32), idx,
                               tosa::getTosaConstShape(n.b, {outer, 1}));
  Value values = reshape(n.b, data, {outer, k, inner});
  Value gathered = tosa::GatherOp::create(
      n.b, RankedTensorType::get({outer, w, inner}, elementTypeOf(data)),
      values, idx);
  if (!reshapeable(outShape))
    return n.dynamicShapeError("Gather's result shape");
  n.setOutput(0, reshape(n.b, gathered, outShape));
  return success();
}

//===----------------------------------------------------------------------===//
// Constants and generators
//===----------------------------------------------------------------------===//

LogicalResult importConstant(NodeImporter &n) {
  if (const onnx::AttributeProto *a = n.attr("value")) {
    FailureOr<ElementsAttr> attr = n.convertTensor(a->t());
    if (failed(attr))
      return failure();
    if (std::optional<HostTensor> host = HostTensor::fromAttr(*attr))
      n.setConstantOutput(0, std::move(*host));
    else
      n.setConstantOutput(0, *attr);
    return success();
  }
  HostTensor r;
  if (const onnx::AttributeProto *a = n.attr("value_float")) {
    r = HostTensor::empty(n.b.getF32Type(), {});
    r.floats.push_back(a->f());
  } else if (const onnx::AttributeProto *a = n.attr("value_floats")) {
    r = HostTensor::empty(n.b.getF32Type(), {a->floats_size()});
    r.floats.assign(a->floats().begin(), a->floats().end());
  } else if (const onnx::AttributeProto *a = n.attr("value_int")) {
    r = HostTensor::empty(n.b.getI64Type(), {});
    r.ints.push_back(a->i());
  } else if (const onnx::AttributeProto *a = n.attr("value_ints")) {
    r = HostTensor::empty(n.b.getI64Type(), {a->ints_size()});
    r.ints.assign(a->ints().begin(), a->ints().end());
  } else {
    return n.error() << "has no supported value attribute (value, "
                        "value_float(s), value_int(s))";
  }
  n.setConstantOutput(0, std::move(r));
  return success();
}

LogicalResult importConstantOfShape(NodeImporter &n) {
  FailureOr<SmallVector<int64_t>> shape =
      requireConstantInts(n, 0, "ConstantOfShape's shape");
  if (failed(shape))
    return failure();
  std::optional<int64_t> numElements = checkedNumElements(*shape);
  if (!numElements) {
    InFlightDiagnostic diag = n.error();
    diag << "shape [";
    llvm::interleaveComma(*shape, diag);
    return diag << "] has a negative dimension or more than 2^32 elements";
  }
  HostTensor fill = HostTensor::empty(n.b.getF32Type(), {});
  fill.floats.push_back(0.0);
  if (const onnx::AttributeProto *a = n.attr("value")) {
    FailureOr<ElementsAttr> attr = n.convertTensor(a->t());
    if (failed(attr))
      return failure();
    std::optional<HostTensor> host = HostTensor::fromAttr(*attr);
    if (!host || host->size() != 1)
      return n.error() << "value must hold exactly one element";
    fill = *host;
  }
  auto type = RankedTensorType::get(*shape, fill.elementType);
  if (*numElements <= kMaxFoldedElements) {
    HostTensor r = HostTensor::empty(fill.elementType, *shape);
    for (int64_t i = 0, e = r.size(); i < e; ++i)
      r.pushFrom(fill, 0);
    n.setConstantOutput(0, std::move(r));
  } else {
    n.setConstantOutput(0,
                        ElementsAttr(DenseElementsAttr::get(
                            type, fill.toAttr().getSplatValue<Attribute>())));
  }
  return success();
}

LogicalResult importRange(NodeImporter &n) {
  const HostTensor *start = n.constant(0), *limit = n.constant(1),
                   *delta = n.constant(2);
  if (!start || !limit || !delta)
    return n.dynamicShapeError("Range's bounds");
  if (start->size() != 1 || limit->size() != 1 || delta->size() != 1)
    return n.error() << "start, limit and delta must be scalars";
  if (start->elementType != limit->elementType ||
      start->elementType != delta->elementType)
    return n.error() << "start, limit and delta must have one element type";
  double s = start->asDouble(0), l = limit->asDouble(0), d = delta->asDouble(0);
  if (d == 0)
    return n.error() << "delta is zero";
  double count = std::ceil((l - s) / d);
  if (!(count <= double(kMaxFoldedElements)))
    return n.error() << "Range of " << count
                     << " elements is too large to fold (at most "
                     << kMaxFoldedElements << ")";
  int64_t numElements = std::max<int64_t>(0, HostTensor::toInt64(count));
  HostTensor r = HostTensor::empty(start->elementType, {numElements});
  for (int64_t i = 0; i < numElements; ++i) {
    if (r.isFloat())
      r.floats.push_back(s + i * d);
    else
      r.ints.push_back(int64_t(uint64_t(start->asInt(0)) +
                               uint64_t(i) * uint64_t(delta->asInt(0))));
  }
  n.setConstantOutput(0, std::move(r));
  return success();
}

LogicalResult importTrilu(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  int64_t k = 0;
  if (n.hasInput(1)) {
    FailureOr<SmallVector<int64_t>> kv = requireConstantInts(n, 1, "Trilu's k");
    if (failed(kv))
      return failure();
    if (kv->size() != 1)
      return n.error() << "k must hold exactly one value, got " << kv->size();
    k = kv->front();
  }
  bool upper = n.intAttr("upper", 1);
  Value x = (*in)[0];
  RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  if (rank < 2)
    return n.error() << "input must have rank >= 2";
  auto keep = [&](int64_t row, int64_t col) {
    return upper ? col - row >= k : col - row <= k;
  };
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = *c;
    int64_t rows = c->shape[rank - 2], cols = c->shape[rank - 1];
    for (int64_t i = 0, e = r.size(); i < e; ++i)
      if (!keep((i / cols) % rows, i % cols))
        r.isFloat() ? void(r.floats[i] = 0) : void(r.ints[i] = 0);
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  Value init = tensor::EmptyOp::create(
      n.b, tensor::getMixedSizes(n.b, n.b.getLoc(), x), type.getElementType());
  SmallVector<AffineMap> maps(2, n.b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  n.setOutput(0,
              linalg::GenericOp::create(
                  n.b, type, x, init, maps, iterators,
                  [&](OpBuilder &b, Location loc, ValueRange args) {
                    Value row = linalg::IndexOp::create(b, loc, rank - 2);
                    Value col = linalg::IndexOp::create(b, loc, rank - 1);
                    Value diff = arith::SubIOp::create(b, loc, col, row);
                    Value kc = arith::ConstantIndexOp::create(b, loc, k);
                    Value keepIt =
                        arith::CmpIOp::create(b, loc,
                                              upper ? arith::CmpIPredicate::sge
                                                    : arith::CmpIPredicate::sle,
                                              diff, kc);
                    Value zero = arith::ConstantOp::create(
                        b, loc, b.getZeroAttr(type.getElementType()));
                    linalg::YieldOp::create(
                        b, loc,
                        arith::SelectOp::create(b, loc, keepIt, args[0], zero)
                            .getResult());
                  })
                  .getResult(0));
  return success();
}

/// Mod appears in exported shape arithmetic; it is folded, not emitted.
LogicalResult importMod(NodeImporter &n) {
  const HostTensor *a = n.constant(0), *c = n.constant(1);
  if (!a || !c)
    return n.dynamicShapeError("Mod's operands");
  if (a->elementType != c->elementType)
    return n.error() << "input element types " << a->elementType << " and "
                     << c->elementType << " differ";
  bool fmod = n.intAttr("fmod", 0);
  std::optional<HostTensor> r = foldBinary(
      *a, *c, a->elementType,
      [](double x, double y) { return std::fmod(x, y); },
      [fmod](int64_t x, int64_t y) -> int64_t {
        // x % 0 is undefined in ONNX and INT64_MIN % -1 traps in C++.
        if (y == 0 || y == -1)
          return 0;
        int64_t m = x % y;
        // Integer Mod takes the sign of the divisor, like Python's %; fmod
        // keeps the dividend's, like C.
        return !fmod && m != 0 && ((m < 0) != (y < 0)) ? m + y : m;
      });
  if (!r)
    return n.error() << "cannot fold Mod: the operand shapes do not broadcast "
                        "or the result exceeds "
                     << kMaxFoldedElements << " elements";
  n.setConstantOutput(0, std::move(*r));
  return success();
}

LogicalResult importDropout(NodeImporter &n) {
  if (n.hasOutput(1))
    return n.error() << "the mask output is not supported (inference only)";
  return importIdentity(n);
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

// Integer folds wrap (two's complement) instead of overflowing: ONNX
// integer arithmetic wraps on every backend.
double addFn(double a, double b) { return a + b; }
double subFn(double a, double b) { return a - b; }
double mulFn(double a, double b) { return a * b; }
int64_t addIntFn(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) + uint64_t(b));
}
int64_t subIntFn(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) - uint64_t(b));
}
int64_t mulIntFn(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) * uint64_t(b));
}
template <typename T> T maxFn(T a, T b) { return std::max(a, b); }
template <typename T> T minFn(T a, T b) { return std::min(a, b); }

const llvm::StringMap<OpHandler> &defaultDomainHandlers() {
  static const llvm::StringMap<OpHandler> table = [] {
    llvm::StringMap<OpHandler> t;
    t["Add"] = [](NodeImporter &n) {
      return binaryArith<tosa::AddOp>(n, addFn, addIntFn);
    };
    t["Sub"] = [](NodeImporter &n) {
      return binaryArith<tosa::SubOp>(n, subFn, subIntFn);
    };
    t["Mul"] = [](NodeImporter &n) {
      return binaryArith<tosa::MulOp>(n, mulFn, mulIntFn);
    };
    t["Max"] = [](NodeImporter &n) {
      return variadicArith<tosa::MaximumOp>(n, maxFn<double>, maxFn<int64_t>);
    };
    t["Min"] = [](NodeImporter &n) {
      return variadicArith<tosa::MinimumOp>(n, minFn<double>, minFn<int64_t>);
    };
    t["Div"] = importDiv;
    t["Pow"] = importPow;
    t["Sqrt"] = importSqrt;
    t["Reciprocal"] = [](NodeImporter &n) {
      return unaryFloat<tosa::ReciprocalOp>(n,
                                            [](double v) { return 1.0 / v; });
    };
    t["Neg"] = importNeg;
    t["Exp"] = [](NodeImporter &n) {
      return unaryFloat<tosa::ExpOp>(n, [](double v) { return std::exp(v); });
    };
    t["Log"] = [](NodeImporter &n) {
      return unaryFloat<tosa::LogOp>(n, [](double v) { return std::log(v); });
    };
    t["Erf"] = [](NodeImporter &n) {
      return unaryFloat<tosa::ErfOp>(n, [](double v) { return std::erf(v); });
    };
    t["Tanh"] = [](NodeImporter &n) {
      return unaryFloat<tosa::TanhOp>(n, [](double v) { return std::tanh(v); });
    };
    t["Sigmoid"] = [](NodeImporter &n) {
      return unaryFloat<tosa::SigmoidOp>(
          n, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
    };
    t["Abs"] = [](NodeImporter &n) {
      return unaryFloat<tosa::AbsOp>(n, [](double v) { return std::fabs(v); });
    };
    t["Relu"] = importRelu;
    t["Gelu"] = importGelu;
    t["Softmax"] = [](NodeImporter &n) { return importSoftmax(n, false); };
    t["LogSoftmax"] = [](NodeImporter &n) { return importSoftmax(n, true); };
    t["ReduceSum"] = [](NodeImporter &n) {
      return importReduce(n, ReduceKind::Sum, 13);
    };
    t["ReduceMean"] = [](NodeImporter &n) {
      return importReduce(n, ReduceKind::Mean, 18);
    };
    t["ReduceMax"] = [](NodeImporter &n) {
      return importReduce(n, ReduceKind::Max, 18);
    };
    t["LayerNormalization"] = importLayerNorm;
    t["RMSNormalization"] = importRMSNorm;
    t["SimplifiedLayerNormalization"] = importRMSNorm;
    t["MatMul"] = importMatMul;
    t["Gemm"] = importGemm;
    t["Einsum"] = importEinsum;
    t["Reshape"] = importReshape;
    t["Flatten"] = importFlatten;
    t["Transpose"] = importTranspose;
    t["Unsqueeze"] = importUnsqueeze;
    t["Squeeze"] = importSqueeze;
    t["Concat"] = importConcat;
    t["Split"] = importSplit;
    t["Slice"] = importSlice;
    t["Shape"] = importShape;
    t["Size"] = importSize;
    t["Expand"] = importExpand;
    t["Gather"] = importGather;
    t["Cast"] = importCast;
    t["Constant"] = importConstant;
    t["ConstantOfShape"] = importConstantOfShape;
    t["Range"] = importRange;
    t["Trilu"] = importTrilu;
    t["Where"] = importWhere;
    t["Equal"] = [](NodeImporter &n) {
      return compare<tosa::EqualOp>(
          n, false, [](double a, double b) { return double(a == b); },
          [](int64_t a, int64_t b) { return int64_t(a == b); });
    };
    t["Less"] = [](NodeImporter &n) {
      return compare<tosa::GreaterOp>(
          n, true, [](double a, double b) { return double(a < b); },
          [](int64_t a, int64_t b) { return int64_t(a < b); });
    };
    t["Greater"] = [](NodeImporter &n) {
      return compare<tosa::GreaterOp>(
          n, false, [](double a, double b) { return double(a > b); },
          [](int64_t a, int64_t b) { return int64_t(a > b); });
    };
    t["LessOrEqual"] = [](NodeImporter &n) {
      return compare<tosa::GreaterEqualOp>(
          n, true, [](double a, double b) { return double(a <= b); },
          [](int64_t a, int64_t b) { return int64_t(a <= b); });
    };
    t["GreaterOrEqual"] = [](NodeImporter &n) {
      return compare<tosa::GreaterEqualOp>(
          n, false, [](double a, double b) { return double(a >= b); },
          [](int64_t a, int64_t b) { return int64_t(a >= b); });
    };
    t["Not"] = importNot;
    t["Mod"] = importMod;
    t["Identity"] = importIdentity;
    t["Dropout"] = importDropout;
    return t;
  }();
  return table;
}

} // namespace

const OpHandler *mlir::attnres::onnx_import::lookupOpHandler(StringRef domain,
                                                             StringRef opType) {
  // onnxruntime's fused RMSNorm lives in its contrib domain.
  if (domain == "com.microsoft" && opType != "SimplifiedLayerNormalization")
    return nullptr;
  if (!domain.empty() && domain != "com.microsoft")
    return nullptr;
  const llvm::StringMap<OpHandler> &table = defaultDomainHandlers();
  auto it = table.find(opType);
  return it == table.end() ? nullptr : &it->second;
}
