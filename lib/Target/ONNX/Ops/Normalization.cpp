//===- Normalization.cpp - Reductions and normalizations ------------------===//
//
// ReduceSum/Mean/Max, ArgMax (tosa.argmax), CumSum (a linalg.generic that
// reduces over the summed axis), Softmax, LayerNormalization and RMS
// normalization (attnres.rms_norm over the last axis).
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

/// Reads the reduce axes from input #1 or the attribute, applying
/// noop_with_empty_axes.
FailureOr<SmallVector<int64_t>> reduceAxes(NodeImporter &n, int64_t rank,
                                           bool axesFromInput) {
  SmallVector<int64_t> axes;
  if (axesFromInput) {
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
                           bool axesFromInput) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  FailureOr<SmallVector<int64_t>> axes =
      reduceAxes(n, typeOf(x).getRank(), axesFromInput);
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
    SmallVector<OpFoldResult> sizes;
    for (auto [i, size] : llvm::enumerate(mixedSizes(n.b, r)))
      if (!llvm::is_contained(*axes, int64_t(i)))
        sizes.push_back(size);
    r = reshapeTo(n.b, r, sizes);
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

/// At run time one linalg.generic repeats the summed axis as an innermost
/// reduction dim i and adds x[.., i, ..] into y[.., j, ..] where i precedes j
/// (follows it when reversed; equal only when inclusive). Quadratic in the
/// axis length, which in exported models is the sequence
/// (attention_mask.cumsum(-1)), and free of any loop outside linalg.
LogicalResult importCumSum(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  std::optional<SmallVector<int64_t>> axes = n.constantInts(1);
  if (!axes)
    return n.error() << "the axis (input #1) must be a constant (an "
                        "initializer or computed from constants)";
  if (axes->size() != 1)
    return n.error() << "the axis must hold one value, got " << axes->size();
  FailureOr<int64_t> axis = n.normalizeAxis(axes->front(), rank);
  if (failed(axis))
    return failure();
  bool exclusive = n.intAttr("exclusive", 0) != 0;
  bool reverse = n.intAttr("reverse", 0) != 0;
  Type et = type.getElementType();

  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = *c;
    ArrayRef<int64_t> shape = c->shape;
    int64_t len = shape[*axis], outer = product(shape.take_front(*axis)),
            inner = product(shape.drop_front(*axis + 1));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        double floatSum = 0;
        // Unsigned, so that integer sums wrap as they do at run time.
        uint64_t intSum = 0;
        for (int64_t step = 0; step < len; ++step) {
          int64_t at =
              (o * len + (reverse ? len - 1 - step : step)) * inner + i;
          if (r.isFloat()) {
            double v = c->floats[at];
            r.floats[at] = exclusive ? floatSum : floatSum + v;
            floatSum += v;
          } else {
            uint64_t v = uint64_t(c->ints[at]);
            r.ints[at] = int64_t(exclusive ? intSum : intSum + v);
            intSum += v;
          }
        }
      }
    }
    n.setConstantOutput(0, r.castTo(et));
    return success();
  }

  if (!isa<FloatType>(et) && !et.isSignlessInteger())
    return n.error() << "cumulative sums of " << et
                     << " are supported only when folded on the host";
  MLIRContext *ctx = n.b.getContext();
  SmallVector<AffineExpr> inputDims, outputDims;
  for (int64_t d = 0; d < rank; ++d) {
    inputDims.push_back(getAffineDimExpr(d == *axis ? rank : d, ctx));
    outputDims.push_back(getAffineDimExpr(d, ctx));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, inputDims, ctx),
                                 AffineMap::get(rank + 1, 0, outputDims, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value zero = arith::ConstantOp::create(n.b, n.b.getZeroAttr(et));
  Value empty = tensor::EmptyOp::create(n.b, mixedSizes(n.b, x), et);
  Value init = linalg::FillOp::create(n.b, zero, empty).getResult(0);
  arith::CmpIPredicate summed =
      reverse
          ? (exclusive ? arith::CmpIPredicate::sgt : arith::CmpIPredicate::sge)
          : (exclusive ? arith::CmpIPredicate::slt : arith::CmpIPredicate::sle);
  auto sum = linalg::GenericOp::create(
      n.b, type, x, init, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value i = linalg::IndexOp::create(b, loc, rank);
        Value j = linalg::IndexOp::create(b, loc, *axis);
        Value take = arith::CmpIOp::create(b, loc, summed, i, j);
        Value added =
            isa<FloatType>(et)
                ? Value(arith::AddFOp::create(b, loc, args[1], args[0]))
                : Value(arith::AddIOp::create(b, loc, args[1], args[0]));
        linalg::YieldOp::create(
            b, loc,
            arith::SelectOp::create(b, loc, take, added, args[1]).getResult());
      });
  n.setOutput(0, sum.getResult(0));
  return success();
}

/// tosa.argmax picks the first maximum and returns i32: the last maximum is
/// the first of the reversed axis, and ONNX wants i64.
LogicalResult importArgMax(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  RankedTensorType type = typeOf(x);
  FailureOr<int64_t> axis =
      n.normalizeAxis(n.intAttr("axis", 0), type.getRank());
  if (failed(axis))
    return failure();
  bool keepdims = n.intAttr("keepdims", 1) != 0;
  bool last = n.intAttr("select_last_index", 0) != 0;
  SmallVector<int64_t> kept(type.getShape());
  kept[*axis] = 1;
  SmallVector<int64_t> dropped = dropAxes(type.getShape(), {*axis});
  int64_t len = type.getDimSize(*axis);
  if (len == 0)
    return n.error() << "the axis is empty: it has no maximum";
  Type i64 = n.b.getI64Type();

  if (const HostTensor *c = n.constant(0)) {
    HostTensor r = HostTensor::empty(i64, keepdims ? kept : dropped);
    int64_t outer = product(ArrayRef(c->shape).take_front(*axis));
    int64_t inner = product(ArrayRef(c->shape).drop_front(*axis + 1));
    // Integers compared as integers: int64 beyond 2^53 has no exact double.
    auto greater = [&](int64_t a, int64_t b) {
      return c->isFloat() ? c->floats[a] > c->floats[b]
                          : c->ints[a] > c->ints[b];
    };
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        auto at = [&](int64_t j) { return (o * len + j) * inner + i; };
        for (int64_t j = 1; j < len; ++j)
          if (greater(at(j), at(best)) ||
              (last && !greater(at(best), at(j)) && !greater(at(j), at(best))))
            best = j;
        r.ints.push_back(best);
      }
    }
    n.setConstantOutput(0, std::move(r));
    return success();
  }

  Type i32 = n.b.getI32Type();
  IntegerAttr axisAttr = n.b.getI32IntegerAttr(*axis);
  if (last) {
    if (ShapedType::isDynamic(len))
      return n.dynamicShapeError("select_last_index over the axis");
    x = tosa::ReverseOp::create(n.b, type, x, axisAttr);
  }
  Value idx = tosa::ArgMaxOp::create(n.b, RankedTensorType::get(dropped, i32),
                                     x, axisAttr);
  if (last)
    idx = sub(n,
              splat(n.b, i32, SmallVector<int64_t>(dropped.size(), 1),
                    double(len - 1)),
              idx);
  idx = tosa::CastOp::create(n.b, RankedTensorType::get(dropped, i64), idx);
  if (keepdims) {
    SmallVector<OpFoldResult> sizes = mixedSizes(n.b, idx);
    sizes.insert(sizes.begin() + *axis, n.b.getIndexAttr(1));
    idx = reshapeTo(n.b, idx, sizes);
  }
  n.setOutput(0, idx);
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerNormalizationOps(OpRegistry &r) {
  // ReduceMean and ReduceMax take their axes as an input from opset 18 on,
  // ReduceSum from 13.
  r.add("ReduceSum", 13, [](NodeImporter &n) {
    return importReduce(n, ReduceKind::Sum, /*axesFromInput=*/true);
  });
  r.add("ReduceMean", 13, [](NodeImporter &n) {
    return importReduce(n, ReduceKind::Mean, /*axesFromInput=*/false);
  });
  r.add("ReduceMean", 18, [](NodeImporter &n) {
    return importReduce(n, ReduceKind::Mean, /*axesFromInput=*/true);
  });
  r.add("ReduceMax", 13, [](NodeImporter &n) {
    return importReduce(n, ReduceKind::Max, /*axesFromInput=*/false);
  });
  r.add("ReduceMax", 18, [](NodeImporter &n) {
    return importReduce(n, ReduceKind::Max, /*axesFromInput=*/true);
  });
  r.add("ArgMax", 13, importArgMax);
  r.add("CumSum", 13, importCumSum);
  r.add("Softmax", 13, [](NodeImporter &n) { return importSoftmax(n, false); });
  r.add("LogSoftmax", 13,
        [](NodeImporter &n) { return importSoftmax(n, true); });
  r.add("LayerNormalization", 17, importLayerNorm);
  r.add("RMSNormalization", 23, importRMSNorm);
  // onnxruntime's fused RMSNorm, in its contrib domain or exported into the
  // default one.
  r.add("SimplifiedLayerNormalization", 1, importRMSNorm);
  r.add("SimplifiedLayerNormalization", 1, importRMSNorm, "com.microsoft");
}
