//===- Indexing.cpp - Slicing and gathering
//---------------------------------===//
//
// Slice and Gather: tosa.slice/gather (tensor.extract_slice for strides),
// folded on constants.
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

} // namespace

void mlir::attnres::onnx_import::registerIndexingOps(OpRegistry &r) {
  r.add("Slice", 13, importSlice);
  r.add("Gather", 13, importGather);
}
