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


} // namespace

void mlir::attnres::onnx_import::registerConstantOps(OpRegistry &r) {
  r.add("Constant", 13, importConstant);
  r.add("ConstantOfShape", 13, importConstantOfShape);
  r.add("Range", 13, importRange);
  r.add("Shape", 13, importShape);
  r.add("Size", 13, importSize);
  r.add("Trilu", 14, importTrilu);
}
