//===- Elementwise.cpp - Elementwise ONNX ops
//-------------------------------===//
//
// Arithmetic, math functions, comparisons, logic, Where and Cast: TOSA
// elementwise ops with numpy broadcasting, folded on constants.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

double addFn(double a, double b) { return a + b; }
double subFn(double a, double b) { return a - b; }
double mulFn(double a, double b) { return a * b; }
template <typename T> T maxFn(T a, T b) { return std::max(a, b); }
template <typename T> T minFn(T a, T b) { return std::min(a, b); }

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

/// Abs of integers too: T5's relative position buckets take |i - j|.
LogicalResult importAbs(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  if (!isa<FloatType, IntegerType>(elementTypeOf(x)) ||
      elementTypeOf(x).isInteger(1))
    return n.error() << "expects numeric inputs, got '" << elementTypeOf(x)
                     << "'";
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = *c;
    for (double &v : r.floats)
      v = std::fabs(v);
    for (int64_t &v : r.ints)
      v = v < 0 ? int64_t(0 - uint64_t(v)) : v;
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  n.setOutput(0, tosa::AbsOp::create(n.b, x.getType(), x));
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

/// IsNaN: x != x, the one comparison NaN fails against itself.
LogicalResult importIsNaN(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = HostTensor::empty(n.b.getI1Type(), c->shape);
    for (double v : c->floats)
      r.ints.push_back(std::isnan(v));
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  Value x = (*in)[0];
  Value same = *elementwise<tosa::EqualOp>(n, {x, x}, n.b.getI1Type());
  n.setOutput(0, unary<tosa::LogicalNotOp>(n, same));
  return success();
}

LogicalResult importIsInf(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  bool negative = n.intAttr("detect_negative", 1);
  bool positive = n.intAttr("detect_positive", 1);
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = HostTensor::empty(n.b.getI1Type(), c->shape);
    for (double v : c->floats)
      r.ints.push_back(std::isinf(v) && (v > 0 ? positive : negative));
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  Value x = (*in)[0];
  double inf = std::numeric_limits<double>::infinity();
  auto equalTo = [&](double value) {
    return *elementwise<tosa::EqualOp>(n, {x, scalarLike(n.b, x, value)},
                                       n.b.getI1Type());
  };
  Value r;
  if (positive)
    r = equalTo(inf);
  if (negative)
    r = r ? *elementwise<tosa::LogicalOrOp>(n, {r, equalTo(-inf)},
                                            n.b.getI1Type())
          : equalTo(-inf);
  if (!r) {
    // Detecting neither sign: all false.
    if (!typeOf(x).hasStaticShape())
      return n.dynamicShapeError("IsInf with both detections off");
    r = splat(n.b, n.b.getI1Type(), typeOf(x).getShape(), 0);
  }
  n.setOutput(0, r);
  return success();
}

/// And, Or, Xor on bool tensors (the schema checks the type).
template <typename OpTy>
LogicalResult logical(NodeImporter &n, const IntFoldFn &fold) {
  return compare<OpTy>(
      n, /*swap=*/false, [](double, double) { return 0.0; }, fold);
}

/// BitwiseNot: x xor all-ones, for every integer width.
LogicalResult importBitwiseNot(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = HostTensor::empty(c->elementType, c->shape);
    for (int64_t v : c->ints)
      r.ints.push_back(~v);
    n.setConstantOutput(0, r.castTo(c->elementType));
    return success();
  }
  n.setOutput(
      0, mapElementwise(n.b, (*in)[0], [](OpBuilder &b, Location loc, Value v) {
        Value ones = arith::ConstantOp::create(
            b, loc, b.getIntegerAttr(v.getType(), -1));
        return arith::XOrIOp::create(b, loc, v, ones).getResult();
      }));
  return success();
}

/// Clip to [min, max]; either bound may be absent (an input since opset 11).
LogicalResult importClip(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  Type et = elementTypeOf(x);
  auto scalarBound = [&](unsigned i) -> std::optional<double> {
    const HostTensor *c = n.constant(i);
    if (!c || c->size() != 1)
      return std::nullopt;
    return c->asDouble(0);
  };
  bool boundsConstant =
      (!n.hasInput(1) || scalarBound(1)) && (!n.hasInput(2) || scalarBound(2));
  if (boundsConstant) {
    double lo = n.hasInput(1) ? *scalarBound(1)
                              : -std::numeric_limits<double>::infinity();
    double hi = n.hasInput(2) ? *scalarBound(2)
                              : std::numeric_limits<double>::infinity();
    if (std::isnan(lo) || std::isnan(hi))
      return n.error() << "the bounds must not be NaN";
    // min(max(x, lo), hi) is hi everywhere when lo > hi (numpy.clip, and
    // onnxruntime); tosa.clamp requires lo <= hi.
    lo = std::min(lo, hi);
    if (const HostTensor *c = n.constant(0)) {
      HostTensor r = *c;
      for (double &v : r.floats)
        v = std::min(std::max(v, lo), hi);
      for (int64_t &v : r.ints)
        v = HostTensor::toInt64(std::min(std::max(double(v), lo), hi));
      n.setConstantOutput(0, std::move(r));
      return success();
    }
    Attribute loAttr, hiAttr;
    if (auto ft = dyn_cast<FloatType>(et)) {
      // Bounds beyond the type's range (the +-inf defaults) clamp to it.
      APFloat loF(lo), hiF(hi);
      bool lost;
      loF.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      hiF.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      loAttr = FloatAttr::get(ft, loF);
      hiAttr = FloatAttr::get(ft, hiF);
    } else {
      unsigned width = et.getIntOrFloatBitWidth();
      double tmin = -std::ldexp(1.0, width - 1), tmax = -tmin - 1;
      loAttr = n.b.getIntegerAttr(et, HostTensor::toInt64(std::max(lo, tmin)));
      hiAttr = n.b.getIntegerAttr(et, HostTensor::toInt64(std::min(hi, tmax)));
    }
    n.setOutput(0, tosa::ClampOp::create(n.b, x.getType(), x,
                                         cast<TypedAttr>(loAttr),
                                         cast<TypedAttr>(hiAttr)));
    return success();
  }
  Value r = x;
  if (n.hasInput(1)) {
    FailureOr<Value> v = elementwise<tosa::MaximumOp>(n, {r, n.input(1)});
    if (failed(v))
      return failure();
    r = *v;
  }
  if (n.hasInput(2)) {
    FailureOr<Value> v = elementwise<tosa::MinimumOp>(n, {r, n.input(2)});
    if (failed(v))
      return failure();
    r = *v;
  }
  if (typeOf(r) != typeOf(x))
    return n.error() << "the bounds must be scalars";
  n.setOutput(0, r);
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

/// Mod at run time: a linalg.generic over the broadcast operands (static
/// shapes), with Python's sign rule for integers unless fmod.
LogicalResult emitMod(NodeImporter &n, bool fmod) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  SmallVector<Value> operands = *in;
  FailureOr<SmallVector<int64_t>> shape = broadcastOperands(n, operands);
  if (failed(shape))
    return failure();
  if (llvm::any_of(*shape, ShapedType::isDynamic))
    return n.dynamicShapeError("Mod's operand shapes");
  Type et = elementTypeOf(operands[0]);
  bool isFloat = isa<FloatType>(et);
  if (isFloat && !fmod)
    return n.error() << "Mod of floating-point tensors requires fmod=1";
  int64_t rank = shape->size();
  SmallVector<AffineMap> maps;
  for (Value v : operands) {
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < rank; ++d)
      exprs.push_back(typeOf(v).getDimSize(d) == 1 && (*shape)[d] != 1
                          ? n.b.getAffineConstantExpr(0)
                          : n.b.getAffineDimExpr(d));
    maps.push_back(AffineMap::get(rank, 0, exprs, n.b.getContext()));
  }
  maps.push_back(n.b.getMultiDimIdentityMap(rank));
  Value init = tensor::EmptyOp::create(n.b, *shape, et);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto type = RankedTensorType::get(*shape, et);
  n.setOutput(
      0,
      linalg::GenericOp::create(
          n.b, type, operands, init, maps, iterators,
          [&](OpBuilder &b, Location loc, ValueRange args) {
            Value x = args[0], y = args[1];
            if (isFloat) {
              linalg::YieldOp::create(
                  b, loc, arith::RemFOp::create(b, loc, x, y).getResult());
              return;
            }
            // x % 0 and x % -1 are 0 here, as when folding: remsi is
            // undefined for the first and overflows for INT_MIN % -1.
            Value zero =
                arith::ConstantOp::create(b, loc, b.getIntegerAttr(et, 0));
            Value one =
                arith::ConstantOp::create(b, loc, b.getIntegerAttr(et, 1));
            Value minusOne =
                arith::ConstantOp::create(b, loc, b.getIntegerAttr(et, -1));
            Value trivial = arith::OrIOp::create(
                b, loc,
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y,
                                      zero),
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y,
                                      minusOne));
            Value divisor = arith::SelectOp::create(b, loc, trivial, one, y);
            Value m = arith::RemSIOp::create(b, loc, x, divisor);
            if (!fmod) {
              Value mNeg = arith::CmpIOp::create(
                  b, loc, arith::CmpIPredicate::slt, m, zero);
              Value yNeg = arith::CmpIOp::create(
                  b, loc, arith::CmpIPredicate::slt, divisor, zero);
              Value fix = arith::AndIOp::create(
                  b, loc,
                  arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, m,
                                        zero),
                  arith::XOrIOp::create(b, loc, mNeg, yNeg));
              m = arith::SelectOp::create(
                  b, loc, fix, arith::AddIOp::create(b, loc, m, divisor), m);
            }
            linalg::YieldOp::create(
                b, loc,
                arith::SelectOp::create(b, loc, trivial, zero, m).getResult());
          })
          .getResult(0));
  return success();
}

LogicalResult importMod(NodeImporter &n) {
  bool fmod = n.intAttr("fmod", 0);
  const HostTensor *a = n.constant(0), *c = n.constant(1);
  if (!a || !c)
    return emitMod(n, fmod);
  if (a->elementType != c->elementType)
    return n.error() << "input element types " << a->elementType << " and "
                     << c->elementType << " differ";
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
    return emitMod(n, fmod);
  n.setConstantOutput(0, std::move(*r));
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerElementwiseOps(OpRegistry &r) {
  r.add("Add", 13, [](NodeImporter &n) {
    return binaryArith<tosa::AddOp>(n, addFn, wrappingAdd);
  });
  r.add("Sub", 13, [](NodeImporter &n) {
    return binaryArith<tosa::SubOp>(n, subFn, wrappingSub);
  });
  r.add("Mul", 13, [](NodeImporter &n) {
    return binaryArith<tosa::MulOp>(n, mulFn, wrappingMul);
  });
  r.add("Max", 13, [](NodeImporter &n) {
    return variadicArith<tosa::MaximumOp>(n, maxFn<double>, maxFn<int64_t>);
  });
  r.add("Min", 13, [](NodeImporter &n) {
    return variadicArith<tosa::MinimumOp>(n, minFn<double>, minFn<int64_t>);
  });
  r.add("Div", 13, importDiv);
  r.add("Pow", 13, importPow);
  r.add("Sqrt", 13, importSqrt);
  r.add("Reciprocal", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::ReciprocalOp>(n, [](double v) { return 1.0 / v; });
  });
  r.add("Neg", 13, importNeg);
  r.add("Exp", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::ExpOp>(n, [](double v) { return std::exp(v); });
  });
  r.add("Log", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::LogOp>(n, [](double v) { return std::log(v); });
  });
  r.add("Erf", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::ErfOp>(n, [](double v) { return std::erf(v); });
  });
  r.add("Tanh", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::TanhOp>(n, [](double v) { return std::tanh(v); });
  });
  r.add("Sigmoid", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::SigmoidOp>(
        n, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  });
  r.add("Abs", 13, importAbs);
  r.add("Relu", 13, importRelu);
  r.add("Gelu", 20, importGelu);
  r.add("Where", 13, importWhere);
  r.add("Equal", 13, [](NodeImporter &n) {
    return compare<tosa::EqualOp>(
        n, false, [](double a, double b) { return double(a == b); },
        [](int64_t a, int64_t b) { return int64_t(a == b); });
  });
  r.add("Less", 13, [](NodeImporter &n) {
    return compare<tosa::GreaterOp>(
        n, true, [](double a, double b) { return double(a < b); },
        [](int64_t a, int64_t b) { return int64_t(a < b); });
  });
  r.add("Greater", 13, [](NodeImporter &n) {
    return compare<tosa::GreaterOp>(
        n, false, [](double a, double b) { return double(a > b); },
        [](int64_t a, int64_t b) { return int64_t(a > b); });
  });
  r.add("LessOrEqual", 13, [](NodeImporter &n) {
    return compare<tosa::GreaterEqualOp>(
        n, true, [](double a, double b) { return double(a <= b); },
        [](int64_t a, int64_t b) { return int64_t(a <= b); });
  });
  r.add("GreaterOrEqual", 13, [](NodeImporter &n) {
    return compare<tosa::GreaterEqualOp>(
        n, false, [](double a, double b) { return double(a >= b); },
        [](int64_t a, int64_t b) { return int64_t(a >= b); });
  });
  r.add("Not", 13, importNot);
  r.add("And", 13, [](NodeImporter &n) {
    return logical<tosa::LogicalAndOp>(
        n, [](int64_t a, int64_t b) { return int64_t(a && b); });
  });
  r.add("Or", 13, [](NodeImporter &n) {
    return logical<tosa::LogicalOrOp>(
        n, [](int64_t a, int64_t b) { return int64_t(a || b); });
  });
  r.add("Xor", 13, [](NodeImporter &n) {
    return logical<tosa::LogicalXorOp>(
        n, [](int64_t a, int64_t b) { return int64_t(bool(a) != bool(b)); });
  });
  r.add("BitwiseNot", 18, importBitwiseNot);
  r.add("IsNaN", 13, importIsNaN);
  r.add("IsInf", 13, importIsInf);
  r.add("Clip", 13, importClip);
  r.add("Sin", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::SinOp>(n, [](double v) { return std::sin(v); });
  });
  r.add("Cos", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::CosOp>(n, [](double v) { return std::cos(v); });
  });
  r.add("Mod", 13, importMod);
  r.add("Cast", 13, importCast);
}
