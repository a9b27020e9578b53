//===- Indexing.cpp - Slicing, gathering and scattering -------------------===//
//
// Slice and Gather: tosa.slice/gather (tensor.extract_slice for strides);
// GatherElements, GatherND and ScatterND: linalg.generic reading through
// tensor.extract (ScatterND with constant indices: tensor.insert_slice). All
// folded on constants.
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

/// Slice where a bound or a sliced dim is known only at run time: a
/// tensor.extract_slice with offsets and sizes computed as ONNX clamps them.
/// Run-time bounds come from shape arithmetic and are taken as
/// non-negative (a negative one would count from the end).
LogicalResult importDynamicSlice(NodeImporter &n, Value x,
                                 ArrayRef<OpFoldResult> starts,
                                 ArrayRef<OpFoldResult> ends,
                                 ArrayRef<int64_t> axes,
                                 ArrayRef<int64_t> steps) {
  ImplicitLocOpBuilder &b = n.b;
  int64_t rank = typeOf(x).getRank();
  SmallVector<OpFoldResult> dims = mixedSizes(b, x);
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes(dims),
      strides(rank, b.getIndexAttr(1));
  auto index = [&](OpFoldResult v) {
    return getValueOrCreateConstantIndexOp(b, b.getLoc(), v);
  };
  for (size_t i = 0; i < axes.size(); ++i) {
    FailureOr<int64_t> axis = n.normalizeAxis(axes[i], rank);
    if (failed(axis))
      return failure();
    if (steps[i] <= 0)
      return n.error() << "step " << steps[i]
                       << " is not supported (only positive steps)";
    std::optional<int64_t> staticDim = getConstantIntValue(dims[*axis]),
                           start = getConstantIntValue(starts[i]),
                           end = getConstantIntValue(ends[i]);
    strides[*axis] = b.getIndexAttr(steps[i]);
    if (staticDim && start && end) {
      auto [begin, size] = clampSliceRange(*start, *end, steps[i], *staticDim);
      offsets[*axis] = b.getIndexAttr(begin);
      sizes[*axis] = b.getIndexAttr(size);
      continue;
    }
    Value dim = index(dims[*axis]);
    Value zero = arith::ConstantIndexOp::create(b, 0);
    auto clampIndex = [&](OpFoldResult v) -> Value {
      std::optional<int64_t> c = getConstantIntValue(v);
      if (c && *c >= kMaxDim)
        return dim;
      Value raw = c ? arith::ConstantIndexOp::create(b, *c).getResult()
                    : cast<Value>(v);
      if (c && *c < 0)
        raw = arith::AddIOp::create(b, raw, dim);
      return arith::MinSIOp::create(b, arith::MaxSIOp::create(b, raw, zero),
                                    dim);
    };
    Value s = clampIndex(starts[i]), e = clampIndex(ends[i]);
    Value step = arith::ConstantIndexOp::create(b, steps[i]);
    Value span =
        arith::MaxSIOp::create(b, arith::SubIOp::create(b, e, s), zero);
    offsets[*axis] = getAsOpFoldResult(s);
    sizes[*axis] = getAsOpFoldResult(
        arith::CeilDivSIOp::create(b, span, step).getResult());
  }
  if (llvm::any_of(sizes,
                   [](OpFoldResult s) { return isConstantIntValue(s, 0); })) {
    // Empty: a constant, as in the static case, that Concat drops; its
    // other dims do not matter, as it holds nothing.
    SmallVector<int64_t> shape;
    for (OpFoldResult size : sizes)
      shape.push_back(getConstantIntValue(size).value_or(1));
    n.setConstantOutput(0, HostTensor::empty(elementTypeOf(x), shape));
    return success();
  }
  n.setOutput(0, tensor::ExtractSliceOp::create(b, x, offsets, sizes, strides));
  return success();
}

LogicalResult importGatherByExtract(NodeImporter &n, Value data, Value indices,
                                    int64_t axis);

LogicalResult importSlice(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 3);
  if (failed(in))
    return failure();
  Value x = (*in)[0];
  SmallVector<int64_t> shape(typeOf(x).getShape());
  int64_t rank = shape.size();
  std::optional<SymbolicInts> symStarts = n.symbolicInts(1),
                              symEnds = n.symbolicInts(2);
  if (!symStarts)
    return n.dynamicShapeError("Slice's starts");
  if (!symEnds)
    return n.dynamicShapeError("Slice's ends");
  size_t count = symStarts->elements.size();
  SmallVector<int64_t> axes, steps(count, 1);
  if (n.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> a =
        requireConstantInts(n, 3, "Slice's axes");
    if (failed(a))
      return failure();
    axes = *a;
  } else {
    for (size_t i = 0; i < count; ++i)
      axes.push_back(i);
  }
  if (n.hasInput(4)) {
    FailureOr<SmallVector<int64_t>> s =
        requireConstantInts(n, 4, "Slice's steps");
    if (failed(s))
      return failure();
    steps = *s;
  }
  if (axes.size() != count || symEnds->elements.size() != count ||
      steps.size() != count)
    return n.error() << "starts, ends, axes and steps differ in length";
  if (llvm::any_of(shape, ShapedType::isDynamic) || !symStarts->isConstant() ||
      !symEnds->isConstant())
    return importDynamicSlice(n, x, symStarts->elements, symEnds->elements,
                              axes, steps);
  SmallVector<int64_t> starts, ends;
  for (auto [start, end] : llvm::zip(symStarts->elements, symEnds->elements)) {
    starts.push_back(*getConstantIntValue(start));
    ends.push_back(*getConstantIntValue(end));
  }
  SmallVector<int64_t> begin(rank, 0), size(shape), stride(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    FailureOr<int64_t> axis = n.normalizeAxis(axes[i], rank);
    if (failed(axis))
      return failure();
    int64_t dim = shape[*axis];
    if (steps[i] <= 0)
      return n.error() << "step " << steps[i]
                       << " is not supported (only positive steps)";
    std::tie(begin[*axis], size[*axis]) =
        clampSliceRange(starts[i], ends[i], steps[i], dim);
    stride[*axis] = steps[i];
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
  // An empty slice (Phi-3's rotary pass-through q[..., rotary_dim:] when the
  // rotary dims are the whole head) has no data: a constant, which TOSA never
  // sees unless something computes on it (Concat drops it).
  if (llvm::is_contained(size, 0)) {
    n.setConstantOutput(0, HostTensor::empty(elementTypeOf(x), size));
    return success();
  }
  if (llvm::all_of(stride, [](int64_t s) { return s == 1; })) {
    n.setOutput(0, slice(n, x, begin, size));
    return success();
  }
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
    return importGatherByExtract(n, data, indices, *axis);
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
  // The result's sizes are the data's and the indices' own, which the
  // flattened gather no longer carries when several are dynamic.
  SmallVector<OpFoldResult> dataSizes = mixedSizes(n.b, data);
  SmallVector<OpFoldResult> outSizes(dataSizes.begin(),
                                     dataSizes.begin() + *axis);
  llvm::append_range(outSizes, mixedSizes(n.b, indices));
  outSizes.append(dataSizes.begin() + *axis + 1, dataSizes.end());
  n.setOutput(0, reshapeTo(n.b, gathered, outSizes));
  return success();
}

//===----------------------------------------------------------------------===//
// GatherElements, GatherND and ScatterND
//===----------------------------------------------------------------------===//

/// Advances `index` through `shape` in row-major order.
void nextIndex(MutableArrayRef<int64_t> index, ArrayRef<int64_t> shape) {
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    if (++index[d] < shape[d])
      return;
    index[d] = 0;
  }
}

InFlightDiagnostic &printShape(InFlightDiagnostic &diag,
                               ArrayRef<int64_t> shape) {
  diag << "[";
  llvm::interleaveComma(shape, diag, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      diag << "?";
    else
      diag << d;
  });
  return diag << "]";
}

/// Constant indices input `i`, checked against the static sizes of the axes
/// they index (`axisSize(j)` for element j) and wrapped on the host, where an
/// out-of-range one is an error at the node. Nullopt when the indices are not
/// constant or index a dynamic axis: they are then wrapped at run time.
FailureOr<std::optional<HostTensor>>
checkedConstantIndices(NodeImporter &n, unsigned i,
                       function_ref<int64_t(int64_t)> axisSize) {
  const HostTensor *c = n.constant(i);
  if (!c || c->isFloat())
    return std::optional<HostTensor>();
  HostTensor r = HostTensor::empty(n.b.getI64Type(), c->shape);
  for (int64_t j = 0, e = c->size(); j < e; ++j) {
    int64_t size = axisSize(j), v = c->ints[j];
    if (ShapedType::isDynamic(size))
      return std::optional<HostTensor>();
    if (v < -size || v >= size)
      return LogicalResult(n.error()
                           << "index " << v
                           << " is out of range for axis of size " << size);
    r.ints.push_back(v < 0 ? v + size : v);
  }
  return std::optional<HostTensor>(std::move(r));
}

Value materialize(NodeImporter &n, const HostTensor &t) {
  return tosa::ConstOp::create(
      n.b, RankedTensorType::get(t.shape, t.elementType), t.toAttr());
}

/// Dimension `d` of `v` as an index, for bounds used inside loop bodies.
Value dimIndex(NodeImporter &n, Value v, int64_t d) {
  return getValueOrCreateConstantIndexOp(n.b, n.b.getLoc(),
                                         mixedSize(n.b, v, d));
}

/// An integer index read at run time, as an index wrapped like ONNX's
/// negative indices.
Value wrapIndex(OpBuilder &b, Location loc, Value raw, Value size) {
  Value i = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, zero);
  return arith::SelectOp::create(b, loc, negative,
                                 arith::AddIOp::create(b, loc, i, size), i);
}

/// A run-time index to read at: wrapped, then clamped into [0, size). ONNX
/// leaves out-of-range indices undefined; clamped, one reads a wrong element
/// rather than memory outside the tensor. Null `size`: the index was checked
/// and wrapped on the host.
Value readIndex(OpBuilder &b, Location loc, Value raw, Value size) {
  if (!size)
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  Value i = wrapIndex(b, loc, raw, size);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value last = arith::SubIOp::create(b, loc, size,
                                     arith::ConstantIndexOp::create(b, loc, 1));
  return arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, i, zero),
                                last);
}

/// Gather from data with dynamic dims, which tosa.gather's flattening to
/// [N, K, C] cannot size: each result element read with tensor.extract,
/// indices wrapped and clamped as GatherElements' are.
LogicalResult importGatherByExtract(NodeImporter &n, Value data, Value indices,
                                    int64_t axis) {
  int64_t dataRank = typeOf(data).getRank(),
          indexRank = typeOf(indices).getRank();
  int64_t rank = dataRank - 1 + indexRank;
  SmallVector<OpFoldResult> dataSizes = mixedSizes(n.b, data);
  SmallVector<OpFoldResult> sizes(dataSizes.begin(), dataSizes.begin() + axis);
  llvm::append_range(sizes, mixedSizes(n.b, indices));
  sizes.append(dataSizes.begin() + axis + 1, dataSizes.end());
  Value size = dimIndex(n, data, axis);
  Value init = tensor::EmptyOp::create(n.b, sizes, elementTypeOf(data));
  SmallVector<AffineExpr> indexExprs;
  for (int64_t d = 0; d < indexRank; ++d)
    indexExprs.push_back(n.b.getAffineDimExpr(axis + d));
  SmallVector<AffineMap> maps{
      AffineMap::get(rank, 0, indexExprs, n.b.getContext()),
      n.b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto gather = linalg::GenericOp::create(
      n.b, init.getType(), indices, init, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> at;
        for (int64_t d = 0; d < axis; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d));
        at.push_back(readIndex(b, loc, args[0], size));
        for (int64_t d = axis + 1; d < dataRank; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d - 1 + indexRank));
        linalg::YieldOp::create(
            b, loc, tensor::ExtractOp::create(b, loc, data, at).getResult());
      });
  n.setOutput(0, gather.getResult(0));
  return success();
}

LogicalResult importGatherElements(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  Value data = (*in)[0], indices = (*in)[1];
  ArrayRef<int64_t> ds = typeOf(data).getShape(),
                    is = typeOf(indices).getShape();
  int64_t rank = ds.size();
  if (int64_t(is.size()) != rank)
    return n.error() << "indices have rank " << is.size()
                     << " but data has rank " << rank;
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  for (int64_t d = 0; d < rank; ++d)
    if (d != *axis && !ShapedType::isDynamic(is[d]) &&
        !ShapedType::isDynamic(ds[d]) && is[d] > ds[d])
      return n.error() << "indices dimension " << d << " (" << is[d]
                       << ") exceeds data's (" << ds[d] << ")";
  FailureOr<std::optional<HostTensor>> checked =
      checkedConstantIndices(n, 1, [&](int64_t) { return ds[*axis]; });
  if (failed(checked))
    return failure();

  // Constant indices are a HostTensor: the result is small enough to fold.
  if (const HostTensor *cd = n.constant(0); cd && *checked) {
    const HostTensor &idx = **checked;
    HostTensor r = HostTensor::empty(cd->elementType, is);
    SmallVector<int64_t> strides = stridesOf(ds), index(rank, 0);
    for (int64_t j = 0, e = idx.size(); j < e; ++j, nextIndex(index, is)) {
      int64_t offset = 0;
      for (int64_t d = 0; d < rank; ++d)
        offset += (d == *axis ? idx.ints[j] : index[d]) * strides[d];
      r.pushFrom(*cd, offset);
    }
    n.setConstantOutput(0, std::move(r));
    return success();
  }

  Value idx = *checked ? materialize(n, **checked) : indices;
  Value size = *checked ? Value() : dimIndex(n, data, *axis);
  auto type = RankedTensorType::get(is, elementTypeOf(data));
  Value init = tensor::EmptyOp::create(n.b, mixedSizes(n.b, indices),
                                       type.getElementType());
  SmallVector<AffineMap> maps(2, n.b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto gather = linalg::GenericOp::create(
      n.b, type, idx, init, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> at;
        for (int64_t d = 0; d < rank; ++d)
          at.push_back(d == *axis ? readIndex(b, loc, args[0], size)
                                  : linalg::IndexOp::create(b, loc, d));
        linalg::YieldOp::create(
            b, loc, tensor::ExtractOp::create(b, loc, data, at).getResult());
      });
  n.setOutput(0, gather.getResult(0));
  return success();
}

LogicalResult importGatherND(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  Value data = (*in)[0], indices = (*in)[1];
  ArrayRef<int64_t> ds = typeOf(data).getShape(),
                    is = typeOf(indices).getShape();
  int64_t r = ds.size(), q = is.size(), batch = n.intAttr("batch_dims", 0);
  if (r < 1 || q < 1)
    return n.error() << "data and indices must have rank >= 1";
  if (batch < 0 || batch >= std::min(r, q))
    return n.error() << "batch_dims " << batch << " must be in [0, "
                     << std::min(r, q) << ") for data of rank " << r
                     << " and indices of rank " << q;
  int64_t m = is[q - 1];
  if (ShapedType::isDynamic(m))
    return n.dynamicShapeError("the length of GatherND's index tuples");
  if (m < 1 || m > r - batch)
    return n.error() << "index tuples of length " << m
                     << " do not fit data of rank " << r << " with " << batch
                     << " batch dimensions";
  for (int64_t d = 0; d < batch; ++d)
    if (!ShapedType::isDynamic(is[d]) && !ShapedType::isDynamic(ds[d]) &&
        is[d] != ds[d])
      return n.error() << "batch dimension " << d << " differs: " << is[d]
                       << " in indices, " << ds[d] << " in data";
  // Each index tuple selects a slice of the data's trailing axes.
  SmallVector<int64_t> outShape(is.drop_back());
  llvm::append_range(outShape, ds.drop_front(batch + m));
  int64_t outRank = outShape.size();
  FailureOr<std::optional<HostTensor>> checked = checkedConstantIndices(
      n, 1, [&](int64_t j) { return ds[batch + j % m]; });
  if (failed(checked))
    return failure();

  const HostTensor *cd = n.constant(0);
  std::optional<int64_t> outSize = checkedNumElements(outShape);
  if (cd && *checked && outSize && *outSize <= kMaxFoldedElements) {
    const HostTensor &idx = **checked;
    HostTensor result = HostTensor::empty(cd->elementType, outShape);
    SmallVector<int64_t> strides = stridesOf(ds), index(outRank, 0);
    for (int64_t e = 0; e < *outSize; ++e, nextIndex(index, outShape)) {
      int64_t tuple = 0, offset = 0;
      for (int64_t d = 0; d < q - 1; ++d)
        tuple = tuple * is[d] + index[d];
      for (int64_t d = 0; d < batch; ++d)
        offset += index[d] * strides[d];
      for (int64_t j = 0; j < m; ++j)
        offset += idx.ints[tuple * m + j] * strides[batch + j];
      for (int64_t d = batch + m; d < r; ++d)
        offset += index[q - 1 + d - batch - m] * strides[d];
      result.pushFrom(*cd, offset);
    }
    n.setConstantOutput(0, std::move(result));
    return success();
  }

  if (*checked && batch == 0 && product(is.drop_back()) == 1 &&
      typeOf(data).hasStaticShape()) {
    // One constant tuple selects one slice (Falcon's x[..., [-2], :]).
    SmallVector<int64_t> start(r, 0), size(ds);
    for (int64_t j = 0; j < m; ++j) {
      start[j] = (*checked)->ints[j];
      size[j] = 1;
    }
    n.setOutput(0, reshape(n.b, slice(n, data, start, size), outShape));
    return success();
  }

  Value idx = *checked ? materialize(n, **checked) : indices;
  SmallVector<Value> sizes(m);
  if (!*checked)
    for (int64_t j = 0; j < m; ++j)
      sizes[j] = dimIndex(n, data, batch + j);
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d < q - 1; ++d)
    outSizes.push_back(mixedSize(n.b, indices, d));
  for (int64_t d = batch + m; d < r; ++d)
    outSizes.push_back(mixedSize(n.b, data, d));
  auto type = RankedTensorType::get(outShape, elementTypeOf(data));
  Value init = tensor::EmptyOp::create(n.b, outSizes, type.getElementType());
  SmallVector<AffineMap> maps = {n.b.getMultiDimIdentityMap(outRank)};
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  auto gather = linalg::GenericOp::create(
      n.b, type, ValueRange{}, init, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> tuple, at;
        for (int64_t d = 0; d < q - 1; ++d)
          tuple.push_back(linalg::IndexOp::create(b, loc, d));
        at.append(tuple.begin(), tuple.begin() + batch);
        tuple.push_back(Value());
        for (int64_t j = 0; j < m; ++j) {
          tuple.back() = arith::ConstantIndexOp::create(b, loc, j);
          Value raw = tensor::ExtractOp::create(b, loc, idx, tuple);
          at.push_back(readIndex(b, loc, raw, sizes[j]));
        }
        for (int64_t d = q - 1; d < outRank; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d));
        linalg::YieldOp::create(
            b, loc, tensor::ExtractOp::create(b, loc, data, at).getResult());
      });
  n.setOutput(0, gather.getResult(0));
  return success();
}

enum class Reduction { None, Add, Mul, Max, Min };

std::optional<Reduction> parseReduction(StringRef name) {
  return llvm::StringSwitch<std::optional<Reduction>>(name)
      .Case("none", Reduction::None)
      .Case("add", Reduction::Add)
      .Case("mul", Reduction::Mul)
      .Case("max", Reduction::Max)
      .Case("min", Reduction::Min)
      .Default(std::nullopt);
}

/// `old` and `update` combined as the reduction says, on the host. Integers
/// wrap (computed unsigned, truncated to the element type afterwards).
double combineHost(Reduction kind, double old, double update) {
  switch (kind) {
  case Reduction::None:
    return update;
  case Reduction::Add:
    return old + update;
  case Reduction::Mul:
    return old * update;
  case Reduction::Max:
    return std::isnan(old) || std::isnan(update) ? NAN : std::max(old, update);
  case Reduction::Min:
    return std::isnan(old) || std::isnan(update) ? NAN : std::min(old, update);
  }
  llvm_unreachable("unknown reduction");
}

int64_t combineHost(Reduction kind, int64_t old, int64_t update) {
  switch (kind) {
  case Reduction::None:
    return update;
  case Reduction::Add:
    return int64_t(uint64_t(old) + uint64_t(update));
  case Reduction::Mul:
    return int64_t(uint64_t(old) * uint64_t(update));
  case Reduction::Max:
    return std::max(old, update);
  case Reduction::Min:
    return std::min(old, update);
  }
  llvm_unreachable("unknown reduction");
}

/// The same on tensors of one shape, with TOSA.
Value combineTensors(NodeImporter &n, Reduction kind, Value old, Value update) {
  switch (kind) {
  case Reduction::None:
    return update;
  case Reduction::Add:
    return add(n, old, update);
  case Reduction::Mul:
    return mul(n, old, update);
  case Reduction::Max:
    return *elementwise<tosa::MaximumOp>(n, {old, update});
  case Reduction::Min:
    return *elementwise<tosa::MinimumOp>(n, {old, update});
  }
  llvm_unreachable("unknown reduction");
}

/// The same on scalars, in a loop body.
Value combineScalars(OpBuilder &b, Location loc, Reduction kind, Value old,
                     Value update) {
  bool isFloat = isa<FloatType>(old.getType());
  switch (kind) {
  case Reduction::None:
    return update;
  case Reduction::Add:
    return isFloat ? Value(arith::AddFOp::create(b, loc, old, update))
                   : Value(arith::AddIOp::create(b, loc, old, update));
  case Reduction::Mul:
    return isFloat ? Value(arith::MulFOp::create(b, loc, old, update))
                   : Value(arith::MulIOp::create(b, loc, old, update));
  case Reduction::Max:
    return isFloat ? Value(arith::MaximumFOp::create(b, loc, old, update))
                   : Value(arith::MaxSIOp::create(b, loc, old, update));
  case Reduction::Min:
    return isFloat ? Value(arith::MinimumFOp::create(b, loc, old, update))
                   : Value(arith::MinSIOp::create(b, loc, old, update));
  }
  llvm_unreachable("unknown reduction");
}

/// Constant indices writing at most this many slices become a chain of
/// tensor.insert_slice; more, and the run-time form is smaller.
constexpr int64_t kMaxInsertedSlices = 64;

LogicalResult importScatterND(NodeImporter &n, ArrayRef<StringRef> reductions) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 3);
  if (failed(in))
    return failure();
  Value data = (*in)[0], indices = (*in)[1], updates = (*in)[2];
  std::string reductionName = n.stringAttr("reduction", "none");
  std::optional<Reduction> kind = parseReduction(reductionName);
  if (!kind || !llvm::is_contained(reductions, reductionName))
    return n.error() << "reduction '" << reductionName
                     << "' is not supported at opset " << n.opset
                     << "; it takes " << llvm::join(reductions, ", ");
  Type et = elementTypeOf(data);
  ArrayRef<int64_t> ds = typeOf(data).getShape(),
                    is = typeOf(indices).getShape(),
                    us = typeOf(updates).getShape();
  int64_t r = ds.size(), q = is.size();
  if (r < 1 || q < 1)
    return n.error() << "data and indices must have rank >= 1";
  int64_t k = is[q - 1];
  if (ShapedType::isDynamic(k))
    return n.dynamicShapeError("the length of ScatterND's index tuples");
  if (k < 1 || k > r)
    return n.error() << "index tuples of length " << k
                     << " do not fit data of rank " << r;
  SmallVector<int64_t> expected(is.drop_back());
  llvm::append_range(expected, ds.drop_front(k));
  bool fits = us.size() == expected.size();
  for (size_t d = 0; fits && d < us.size(); ++d)
    fits = ShapedType::isDynamic(us[d]) || ShapedType::isDynamic(expected[d]) ||
           us[d] == expected[d];
  if (!fits) {
    InFlightDiagnostic diag = n.error();
    diag << "updates have shape ";
    printShape(diag, us) << " but indices and data need ";
    return printShape(diag, expected);
  }
  FailureOr<std::optional<HostTensor>> checked =
      checkedConstantIndices(n, 1, [&](int64_t j) { return ds[j % k]; });
  if (failed(checked))
    return failure();
  int64_t tuples = *checked ? (*checked)->size() / k : 0;

  const HostTensor *cd = n.constant(0), *cu = n.constant(2);
  if (cd && cu && *checked) {
    const HostTensor &idx = **checked;
    HostTensor result = *cd;
    SmallVector<int64_t> strides = stridesOf(ds);
    int64_t sliceSize = product(ds.drop_front(k));
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t base = 0;
      for (int64_t j = 0; j < k; ++j)
        base += idx.ints[t * k + j] * strides[j];
      for (int64_t e = 0; e < sliceSize; ++e) {
        int64_t o = base + e, u = t * sliceSize + e;
        if (result.isFloat())
          result.floats[o] =
              combineHost(*kind, result.floats[o], cu->floats[u]);
        else
          result.ints[o] = combineHost(*kind, result.ints[o], cu->ints[u]);
      }
    }
    n.setConstantOutput(0, result.castTo(et));
    return success();
  }

  if (!isa<FloatType>(et) && !et.isSignlessInteger())
    return n.error() << "scattering " << et
                     << " is supported only when folded on the host";
  if (*checked && tuples == 0) {
    n.setOutput(0, data);
    return success();
  }
  if (*checked && tuples <= kMaxInsertedSlices &&
      typeOf(data).hasStaticShape() && typeOf(updates).hasStaticShape()) {
    // The updates as one slice of data's rank per index tuple.
    SmallVector<int64_t> sliceShape(k, 1), flatShape = {tuples};
    llvm::append_range(sliceShape, ds.drop_front(k));
    flatShape.append(k - 1, 1);
    llvm::append_range(flatShape, ds.drop_front(k));
    Value flat = reshape(n.b, updates, flatShape);
    auto sliceType = RankedTensorType::get(sliceShape, et);
    SmallVector<OpFoldResult> sizes =
        getAsIndexOpFoldResult(n.b.getContext(), sliceShape);
    SmallVector<OpFoldResult> strides(r, n.b.getIndexAttr(1));
    Value result = data;
    for (int64_t t = 0; t < tuples; ++t) {
      SmallVector<OpFoldResult> at(r, n.b.getIndexAttr(0)),
          from(r, n.b.getIndexAttr(0));
      for (int64_t j = 0; j < k; ++j)
        at[j] = n.b.getIndexAttr((*checked)->ints[t * k + j]);
      from[0] = n.b.getIndexAttr(t);
      Value update = tensor::ExtractSliceOp::create(n.b, sliceType, flat, from,
                                                    sizes, strides);
      if (*kind != Reduction::None)
        update = combineTensors(n, *kind,
                                tensor::ExtractSliceOp::create(
                                    n.b, sliceType, result, at, sizes, strides),
                                update);
      result = tensor::InsertSliceOp::create(n.b, update, result, at, sizes,
                                             strides);
    }
    n.setOutput(0, result);
    return success();
  }

  // At run time, every element of data scans all index tuples (the
  // reduction dims, innermost, so the last duplicate wins as in
  // onnxruntime) and keeps the update of those that name it. Costs
  // |data| x |tuples| comparisons, but needs no loop outside linalg.
  Value idx = *checked ? materialize(n, **checked) : indices;
  SmallVector<Value> sizes(k);
  if (!*checked)
    for (int64_t j = 0; j < k; ++j)
      sizes[j] = dimIndex(n, data, j);
  int64_t u = q - 1, loops = r + u;
  MLIRContext *ctx = n.b.getContext();
  SmallVector<AffineExpr> updateDims, dataDims;
  for (int64_t i = 0; i < u; ++i)
    updateDims.push_back(getAffineDimExpr(r + i, ctx));
  for (int64_t d = 0; d < r; ++d) {
    dataDims.push_back(getAffineDimExpr(d, ctx));
    if (d >= k)
      updateDims.push_back(getAffineDimExpr(d, ctx));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, updateDims, ctx),
                                 AffineMap::get(loops, 0, dataDims, ctx)};
  SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
  iterators.append(u, utils::IteratorType::reduction);
  auto scatter = linalg::GenericOp::create(
      n.b, typeOf(data), updates, data, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> tuple;
        for (int64_t i = 0; i < u; ++i)
          tuple.push_back(linalg::IndexOp::create(b, loc, r + i));
        tuple.push_back(Value());
        Value match;
        for (int64_t j = 0; j < k; ++j) {
          tuple.back() = arith::ConstantIndexOp::create(b, loc, j);
          Value raw = tensor::ExtractOp::create(b, loc, idx, tuple);
          // Wrapped but not clamped: an out-of-range tuple names no element
          // and writes nothing.
          Value at =
              sizes[j]
                  ? wrapIndex(b, loc, raw, sizes[j])
                  : arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
          Value same =
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, at,
                                    linalg::IndexOp::create(b, loc, j));
          match = match ? arith::AndIOp::create(b, loc, match, same) : same;
        }
        Value combined = combineScalars(b, loc, *kind, args[1], args[0]);
        linalg::YieldOp::create(
            b, loc,
            arith::SelectOp::create(b, loc, match, combined, args[1])
                .getResult());
      });
  n.setOutput(0, scatter.getResult(0));
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerIndexingOps(OpRegistry &r) {
  r.add("Slice", 13, importSlice);
  r.add("Gather", 13, importGather);
  r.add("GatherElements", 13, importGatherElements);
  r.add("GatherND", 13, importGatherND);
  r.add("ScatterND", 13,
        [](NodeImporter &n) { return importScatterND(n, {"none"}); });
  r.add("ScatterND", 16, [](NodeImporter &n) {
    return importScatterND(n, {"none", "add", "mul"});
  });
  r.add("ScatterND", 18, [](NodeImporter &n) {
    return importScatterND(n, {"none", "add", "mul", "max", "min"});
  });
}
