//===- Constants.cpp - Constants and shape folding
//--------------------------===//
//
// Constant, ConstantOfShape, Range, Shape, Size, Trilu: values computed on
// the host at import time where their operands allow.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

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
  // Dynamic: the sizes are read at run time, as symbolic integers that
  // consumers of shapes build dynamic ops from.
  SymbolicInts r{{end - start}, n.b.getI64Type(), {}};
  for (int64_t i = start; i < end; ++i)
    r.elements.push_back(mixedSize(n.b, (*in)[0], i));
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

LogicalResult importSize(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  n.setSymbolicOutput(
      0, SymbolicInts{{},
                      n.b.getI64Type(),
                      {productOf(n.b, mixedSizes(n.b, (*in)[0]))}});
  return success();
}

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

/// The fill value of ConstantOfShape (0.0f when absent).
FailureOr<HostTensor> constantOfShapeFill(NodeImporter &n) {
  HostTensor fill = HostTensor::empty(n.b.getF32Type(), {});
  fill.floats.push_back(0.0);
  if (const onnx::AttributeProto *a = n.attr("value")) {
    FailureOr<ElementsAttr> attr = n.convertTensor(a->t());
    if (failed(attr))
      return failure();
    std::optional<HostTensor> host = HostTensor::fromAttr(*attr);
    if (!host || host->size() != 1)
      return LogicalResult(n.error() << "value must hold exactly one element");
    fill = *host;
  }
  return fill;
}

LogicalResult importConstantOfShape(NodeImporter &n) {
  std::optional<SymbolicInts> sizes = n.symbolicInts(0);
  if (sizes && !sizes->isConstant()) {
    // Sizes known at run time: a linalg.fill of an empty tensor.
    if (sizes->shape.size() != 1)
      return n.error() << "the shape must be a 1-D tensor";
    FailureOr<HostTensor> fill = constantOfShapeFill(n);
    if (failed(fill))
      return failure();
    Type et = fill->elementType;
    if (et.isUnsignedInteger())
      return n.error() << "an unsigned fill value needs a constant shape";
    Value init = tensor::EmptyOp::create(n.b, sizes->elements, et);
    Value value = arith::ConstantOp::create(
        n.b, cast<TypedAttr>(fill->toAttr().getSplatValue<Attribute>()));
    n.setOutput(0, linalg::FillOp::create(n.b, value, init).getResult(0));
    return success();
  }
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
  FailureOr<HostTensor> fillOr = constantOfShapeFill(n);
  if (failed(fillOr))
    return failure();
  HostTensor fill = *fillOr;
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

/// Range over integer bounds known at run time: start + i * delta for i in
/// [0, max(0, ceil((limit - start) / delta))).
LogicalResult importSymbolicRange(NodeImporter &n) {
  std::optional<SymbolicInts> start = n.symbolicInts(0),
                              limit = n.symbolicInts(1),
                              delta = n.symbolicInts(2);
  if (!start || !limit || !delta)
    return n.dynamicShapeError("Range's bounds");
  if (start->elements.size() != 1 || limit->elements.size() != 1 ||
      delta->elements.size() != 1)
    return n.error() << "start, limit and delta must be scalars";
  std::optional<int64_t> step = getConstantIntValue(delta->elements[0]);
  if (!step || *step == 0)
    return n.error() << "delta must be a nonzero constant when the bounds "
                        "are known only at run time";
  ImplicitLocOpBuilder &b = n.b;
  auto index = [&](OpFoldResult v) {
    return getValueOrCreateConstantIndexOp(b, b.getLoc(), v);
  };
  Value first = index(start->elements[0]), last = index(limit->elements[0]);
  Value stepValue = arith::ConstantIndexOp::create(b, *step);
  Value span = arith::SubIOp::create(b, last, first);
  Value count =
      arith::MaxSIOp::create(b, arith::CeilDivSIOp::create(b, span, stepValue),
                             arith::ConstantIndexOp::create(b, 0));
  Type et = start->elementType;
  Value init = tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{count}, et);
  auto type = cast<RankedTensorType>(init.getType());
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(1)};
  n.setOutput(
      0, linalg::GenericOp::create(
             b, type, ValueRange{}, init, maps,
             SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location loc, ValueRange) {
               Value i = linalg::IndexOp::create(nb, loc, 0);
               Value v = arith::AddIOp::create(
                   nb, loc, first,
                   arith::MulIOp::create(nb, loc, i, stepValue));
               linalg::YieldOp::create(
                   nb, loc,
                   arith::IndexCastOp::create(nb, loc, et, v).getResult());
             })
             .getResult(0));
  return success();
}

LogicalResult importRange(NodeImporter &n) {
  const HostTensor *start = n.constant(0), *limit = n.constant(1),
                   *delta = n.constant(2);
  if (!start || !limit || !delta)
    return importSymbolicRange(n);
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
  // k may be computed from dynamic dims (a causal mask past a KV cache).
  OpFoldResult kSize = n.b.getIndexAttr(0);
  if (n.hasInput(1)) {
    std::optional<SymbolicInts> kv = n.symbolicInts(1);
    if (!kv)
      return n.dynamicShapeError("Trilu's k");
    if (kv->elements.size() != 1)
      return n.error() << "k must hold exactly one value, got "
                       << kv->elements.size();
    kSize = kv->elements.front();
  }
  std::optional<int64_t> constantK = getConstantIntValue(kSize);
  bool upper = n.intAttr("upper", 1);
  Value x = (*in)[0];
  RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  if (rank < 2)
    return n.error() << "input must have rank >= 2";
  if (const HostTensor *c = n.constant(0); c && constantK) {
    int64_t k = *constantK;
    HostTensor r = *c;
    int64_t rows = c->shape[rank - 2], cols = c->shape[rank - 1];
    auto keep = [&](int64_t row, int64_t col) {
      return upper ? col - row >= k : col - row <= k;
    };
    for (int64_t i = 0, e = r.size(); i < e; ++i)
      if (!keep((i / cols) % rows, i % cols))
        r.isFloat() ? void(r.floats[i] = 0) : void(r.ints[i] = 0);
    n.setConstantOutput(0, std::move(r));
    return success();
  }
  Value kValue = getValueOrCreateConstantIndexOp(n.b, n.b.getLoc(), kSize);
  Value init =
      tensor::EmptyOp::create(n.b, mixedSizes(n.b, x), type.getElementType());
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
                    Value kc = kValue;
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

} // namespace

void mlir::attnres::onnx_import::registerConstantOps(OpRegistry &r) {
  r.add("Constant", 13, importConstant);
  r.add("ConstantOfShape", 13, importConstantOfShape);
  r.add("Range", 13, importRange);
  r.add("Shape", 13, importShape);
  r.add("Size", 13, importSize);
  r.add("Trilu", 14, importTrilu);
}
