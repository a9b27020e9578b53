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

} // namespace

void mlir::attnres::onnx_import::registerElementwiseOps(OpRegistry &r) {
  r.add("Add", 13, [](NodeImporter &n) {
    return binaryArith<tosa::AddOp>(n, addFn, addIntFn);
  });
  r.add("Sub", 13, [](NodeImporter &n) {
    return binaryArith<tosa::SubOp>(n, subFn, subIntFn);
  });
  r.add("Mul", 13, [](NodeImporter &n) {
    return binaryArith<tosa::MulOp>(n, mulFn, mulIntFn);
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
  r.add("Abs", 13, [](NodeImporter &n) {
    return unaryFloat<tosa::AbsOp>(n, [](double v) { return std::fabs(v); });
  });
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
  r.add("Mod", 13, importMod);
  r.add("Cast", 13, importCast);
}
