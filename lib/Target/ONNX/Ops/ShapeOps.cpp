//===- ShapeOps.cpp - Tensor shape and movement
//-----------------------------===//
//
// Reshape, Flatten, Squeeze/Unsqueeze, Transpose, Concat, Split, Expand:
// data movement without arithmetic, folded on constants.
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
#include "llvm/Support/CheckedArithmetic.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

/// Output = input with new sizes; folds constants.
LogicalResult defineReshaped(NodeImporter &n, ArrayRef<OpFoldResult> sizes) {
  SmallVector<int64_t> shape = staticShapeOf(sizes);
  if (const HostTensor *c = n.constant(0)) {
    if (llvm::none_of(shape, ShapedType::isDynamic)) {
      HostTensor r = *c;
      r.shape.assign(shape.begin(), shape.end());
      n.setConstantOutput(0, std::move(r));
      return success();
    }
  }
  n.setOutput(0, reshapeTo(n.b, n.input(0), sizes));
  return success();
}

LogicalResult importReshape(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  std::optional<SymbolicInts> target = n.symbolicInts(1);
  if (!target || target->shape.size() != 1)
    return n.dynamicShapeError("Reshape's target shape");
  Value x = (*in)[0];
  ArrayRef<int64_t> inShape = typeOf(x).getShape();
  SmallVector<OpFoldResult> inSizes = mixedSizes(n.b, x);
  bool allowZero = n.intAttr("allowzero", 0);
  SmallVector<OpFoldResult> sizes;
  int64_t inferred = -1, known = 1;
  for (auto [i, e] : llvm::enumerate(target->elements)) {
    std::optional<int64_t> d = getConstantIntValue(e);
    if (!d) {
      // Computed at run time from the input's dims: a size, not a marker.
      sizes.push_back(e);
      continue;
    }
    // Checked before zeros copy input dims: a raw INT64_MIN is not the
    // dynamic marker it happens to equal.
    if (*d < -1)
      return n.error() << "invalid target dimension " << *d;
    if (*d == 0 && !allowZero) {
      if (i >= inShape.size())
        return n.error() << "target dimension " << i
                         << " copies an input dimension that does not exist";
      sizes.push_back(inSizes[i]);
      if (!ShapedType::isDynamic(inShape[i]))
        known *= inShape[i];
      continue;
    }
    if (*d == -1) {
      if (inferred >= 0)
        return n.error() << "the target shape has more than one -1";
      inferred = i;
      sizes.push_back(OpFoldResult());
      continue;
    }
    if (*d > kMaxDim || (*d && known > kMaxTensorElements / *d))
      return n.error() << "target dimension " << *d << " is absurdly large";
    known *= *d;
    sizes.push_back(n.b.getIndexAttr(*d));
  }
  bool staticIn = llvm::none_of(inShape, ShapedType::isDynamic);
  bool staticOut = llvm::all_of(sizes, [](OpFoldResult s) {
    return !s || getConstantIntValue(s).has_value();
  });
  if (inferred >= 0) {
    // Dividing by a zero dim would trap at run time: no size to infer.
    if (llvm::any_of(sizes, [](OpFoldResult s) {
          return s && isConstantIntValue(s, 0);
        }))
      return n.error() << "the target shape has a -1 next to a zero "
                          "dimension, which leaves its size undefined";
    if (staticIn && staticOut) {
      if (known == 0 || product(inShape) % known)
        return n.error() << "cannot reshape " << product(inShape)
                         << " elements to the target shape";
      sizes[inferred] = n.b.getIndexAttr(product(inShape) / known);
    } else {
      SmallVector<OpFoldResult> others;
      for (OpFoldResult s : sizes)
        if (s)
          others.push_back(s);
      sizes[inferred] = quotientOf(n.b, inSizes, others);
    }
  } else if (staticIn && staticOut) {
    SmallVector<int64_t> shape = staticShapeOf(sizes);
    if (product(inShape) != product(shape))
      return n.error() << "cannot reshape " << product(inShape)
                       << " elements to " << product(shape);
  } else if (staticIn) {
    // Sizes known only at run time must still multiply out to the input's
    // static count; a lone one is that quotient (tosa.reshape would infer
    // it as -1 and silently truncate a count that does not divide).
    int64_t count = product(inShape);
    if (known == 0 ? count != 0 : count % known != 0)
      return n.error() << "cannot reshape " << count
                       << " elements to a shape whose known sizes multiply to "
                       << known;
    auto dynamicSizes = llvm::make_filter_range(
        sizes, [](OpFoldResult s) { return !getConstantIntValue(s); });
    if (known && llvm::hasSingleElement(dynamicSizes))
      *llvm::find_if(sizes, [](OpFoldResult s) {
        return !getConstantIntValue(s);
      }) = n.b.getIndexAttr(count / known);
  }
  return defineReshaped(n, sizes);
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
  SmallVector<OpFoldResult> inSizes = mixedSizes(n.b, (*in)[0]), sizes;
  for (int64_t i = 0, j = 0; i < rank; ++i)
    sizes.push_back(llvm::is_contained(*sorted, i) ? n.b.getIndexAttr(1)
                                                   : inSizes[j++]);
  return defineReshaped(n, sizes);
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
  SmallVector<OpFoldResult> sizes;
  for (auto [i, size] : llvm::enumerate(mixedSizes(n.b, (*in)[0])))
    if (!llvm::is_contained(*sorted, int64_t(i)))
      sizes.push_back(size);
  return defineReshaped(n, sizes);
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
  SmallVector<OpFoldResult> sizes = mixedSizes(n.b, (*in)[0]);
  return defineReshaped(n, {productOf(n.b, ArrayRef(sizes).take_front(axis)),
                            productOf(n.b, ArrayRef(sizes).drop_front(axis))});
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
  // The first static size of each dimension: every input must agree with
  // it, not only with the first input, whose size may be dynamic.
  SmallVector<int64_t> known(typeOf(inputs[0]).getShape());
  for (Value v : inputs) {
    if (failed(requireSameElementType(n, inputs[0], v)))
      return failure();
    if (typeOf(v).getRank() != rank)
      return n.error() << "inputs have different ranks";
    for (int64_t d = 0; d < rank; ++d) {
      int64_t b = typeOf(v).getDimSize(d);
      if (d == *axis || ShapedType::isDynamic(b))
        continue;
      if (ShapedType::isDynamic(known[d]))
        known[d] = b;
      else if (known[d] != b)
        return n.error() << "inputs differ in dimension " << d << " ("
                         << known[d] << " vs " << b
                         << ") outside the concatenation axis";
    }
  }
  // The result's size along the axis: shapes in a model file are untrusted,
  // and a sum past int64 would wrap (found by onnx-import-fuzzer).
  int64_t axisSize = 0;
  for (Value v : inputs) {
    int64_t b = typeOf(v).getDimSize(*axis);
    if (ShapedType::isDynamic(b))
      continue;
    std::optional<int64_t> sum = llvm::checkedAdd(axisSize, b);
    if (!sum)
      return n.error() << "the concatenated size of dimension " << *axis
                       << " overflows a 64-bit integer";
    axisSize = *sum;
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
    for (const HostTensor *p : parts) {
      std::optional<int64_t> sum =
          llvm::checkedAdd(r.shape[*axis], p->shape[*axis]);
      if (!sum)
        return n.error() << "the concatenated size of dimension " << *axis
                         << " overflows a 64-bit integer";
      r.shape[*axis] = *sum;
    }
    // An empty result has nothing to copy, however many outer blocks its
    // shape counts ([2^40, 0] would loop 2^40 times).
    int64_t outer = saturatingProduct(r.shape) == 0
                        ? 0
                        : product(ArrayRef(r.shape).take_front(*axis));
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
  SmallVector<Value> nonEmpty(llvm::make_filter_range(inputs, [](Value v) {
    return !llvm::is_contained(typeOf(v).getShape(), 0);
  }));
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

LogicalResult importSplit(NodeImporter &n, bool numOutputsAttr) {
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
    int64_t parts = numOutputsAttr && n.attr("num_outputs")
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
  if (llvm::any_of(shape, ShapedType::isDynamic)) {
    // Other dims known at run time: views with their sizes.
    SmallVector<OpFoldResult> offsets(shape.size(), n.b.getIndexAttr(0)),
        dims = mixedSizes(n.b, x), strides(shape.size(), n.b.getIndexAttr(1));
    int64_t offset = 0;
    for (auto [i, s] : llvm::enumerate(sizes)) {
      if (s == 0)
        return n.error() << "output #" << i << " is empty; empty tensors are "
                         << "not supported at run time";
      offsets[*axis] = n.b.getIndexAttr(offset);
      dims[*axis] = n.b.getIndexAttr(s);
      n.setOutput(
          i, tensor::ExtractSliceOp::create(n.b, x, offsets, dims, strides));
      offset += s;
    }
    return success();
  }
  for (auto [i, s] : llvm::enumerate(sizes)) {
    size[*axis] = s;
    // An empty part has no data: a constant, which TOSA never sees unless
    // something uses it at run time.
    if (s == 0)
      n.setConstantOutput(i, HostTensor::empty(elementTypeOf(x), size));
    else
      n.setOutput(i, slice(n, x, start, size));
    start[*axis] += s;
  }
  return success();
}

/// Tile whose repeats are known only at run time (BLOOM repeats its ALiBi
/// slopes once per batch row): a linalg.generic reading input index
/// `i mod size` along each repeated axis, whose size must be static.
LogicalResult importDynamicTile(NodeImporter &n, Value x,
                                const SymbolicInts &repeats) {
  ArrayRef<int64_t> inShape = typeOf(x).getShape();
  if (repeats.elements.size() != inShape.size())
    return n.error() << "repeats has " << repeats.elements.size()
                     << " values for an input of rank " << inShape.size();
  SmallVector<OpFoldResult> sizes;
  SmallVector<AffineExpr> inputExprs;
  for (auto [d, repeat] : llvm::enumerate(repeats.elements)) {
    AffineExpr index = n.b.getAffineDimExpr(d);
    std::optional<int64_t> r = getConstantIntValue(repeat);
    if (r && (*r < 1 || *r > kMaxDim))
      return n.error() << "repeat " << *r << " is not in [1, 2^32]";
    if (r == 1) {
      sizes.push_back(mixedSize(n.b, x, d));
      inputExprs.push_back(index);
      continue;
    }
    if (ShapedType::isDynamic(inShape[d]))
      return n.dynamicShapeError("Tile's repeat of a dynamic axis");
    if (r && inShape[d] > kMaxDim / *r)
      return n.error() << "axis " << d << " tiled " << *r
                       << " times would have more than 2^32 elements";
    sizes.push_back(productOf(n.b, {n.b.getIndexAttr(inShape[d]), repeat}));
    inputExprs.push_back(inShape[d] == 1 ? n.b.getAffineConstantExpr(0)
                                         : index % inShape[d]);
  }
  n.setOutput(0, copyThroughMap(n.b, x, sizes, inputExprs));
  return success();
}

LogicalResult importTile(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  if (!n.constant(1) && n.isSymbolic(1)) {
    std::optional<SymbolicInts> repeats = n.symbolicInts(1);
    if (repeats && repeats->shape.size() == 1)
      return importDynamicTile(n, (*in)[0], *repeats);
  }
  FailureOr<SmallVector<int64_t>> repeats =
      requireConstantInts(n, 1, "Tile's repeats");
  if (failed(repeats))
    return failure();
  Value x = (*in)[0];
  ArrayRef<int64_t> inShape = typeOf(x).getShape();
  if (repeats->size() != inShape.size())
    return n.error() << "repeats has " << repeats->size()
                     << " values for an input of rank " << inShape.size();
  SmallVector<int64_t> shape;
  for (auto [d, r] : llvm::zip(inShape, *repeats)) {
    if (r < 1 || r > kMaxDim)
      return n.error() << "repeat " << r << " is not in [1, 2^32]";
    shape.push_back(ShapedType::isDynamic(d) ? d : d * r);
  }
  if (!checkedNumElements(llvm::to_vector(
          llvm::make_filter_range(shape, [](int64_t d) { return d >= 0; }))))
    return n.error() << "the tiled result has more than 2^32 elements";
  if (const HostTensor *c = n.constant(0)) {
    if (saturatingProduct(shape) <= kMaxFoldedElements) {
      HostTensor r = HostTensor::empty(c->elementType, shape);
      SmallVector<int64_t> index(shape.size(), 0),
          strides = stridesOf(c->shape);
      for (int64_t k = 0, e = r.size(); k < e; ++k) {
        int64_t offset = 0;
        for (size_t d = 0; d < shape.size(); ++d)
          offset += (index[d] % c->shape[d]) * strides[d];
        r.pushFrom(*c, offset);
        for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
          if (++index[d] < shape[d])
            break;
          index[d] = 0;
        }
      }
      n.setConstantOutput(0, std::move(r));
      return success();
    }
  }
  if (inShape.empty()) {
    n.setOutput(0, x);
    return success();
  }
  n.setOutput(0, tosa::TileOp::create(
                     n.b, RankedTensorType::get(shape, elementTypeOf(x)), x,
                     tosa::getTosaConstShape(n.b, *repeats)));
  return success();
}

/// Pad in constant mode with constant, non-negative pads (what exporters
/// emit); opset 18 added the axes input.
LogicalResult importPad(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  std::string mode = n.stringAttr("mode", "constant");
  if (mode != "constant")
    return n.error() << "mode '" << mode
                     << "' is not supported (only 'constant')";
  Value x = (*in)[0];
  int64_t rank = typeOf(x).getRank();
  if (rank == 0)
    return n.error() << "cannot pad a rank-0 tensor";
  FailureOr<SmallVector<int64_t>> pads =
      requireConstantInts(n, 1, "Pad's pads");
  if (failed(pads))
    return failure();
  SmallVector<int64_t> axes;
  if (n.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> a = requireConstantInts(n, 3, "Pad's axes");
    if (failed(a))
      return failure();
    for (int64_t axis : *a) {
      FailureOr<int64_t> normalized = n.normalizeAxis(axis, rank);
      if (failed(normalized))
        return failure();
      axes.push_back(*normalized);
    }
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  if (pads->size() != 2 * axes.size())
    return n.error() << "pads has " << pads->size() << " values for "
                     << axes.size() << " axes";
  // TOSA's padding lists (before, after) per axis; ONNX lists all befores
  // and then all afters.
  SmallVector<int64_t> padding(2 * rank, 0);
  for (auto [i, axis] : llvm::enumerate(axes)) {
    int64_t before = (*pads)[i], after = (*pads)[i + axes.size()];
    if (before < 0 || after < 0 || before > kMaxDim || after > kMaxDim)
      return n.error() << "pads must be in [0, 2^32], got " << before << " and "
                       << after;
    padding[2 * axis] = before;
    padding[2 * axis + 1] = after;
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = typeOf(x).getDimSize(d);
    shape.push_back(ShapedType::isDynamic(size)
                        ? size
                        : size + padding[2 * d] + padding[2 * d + 1]);
  }
  if (!checkedNumElements(llvm::to_vector(
          llvm::make_filter_range(shape, [](int64_t d) { return d >= 0; }))))
    return n.error() << "the padded result has more than 2^32 elements";
  Type et = elementTypeOf(x);
  double value = 0;
  if (n.hasInput(2)) {
    const HostTensor *c = n.constant(2);
    if (!c || c->size() != 1)
      return n.error() << "constant_value must be a constant scalar";
    value = c->asDouble(0);
  }
  Value paddingShape = tosa::getTosaConstShape(n.b, padding);
  Value padValue = splat(n.b, et, {1}, value);
  n.setOutput(0, tosa::PadOp::create(n.b, RankedTensorType::get(shape, et), x,
                                     paddingShape, padValue));
  return success();
}

LogicalResult importExpand(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in))
    return failure();
  std::optional<SymbolicInts> target = n.symbolicInts(1);
  if (!target || target->shape.size() != 1)
    return n.dynamicShapeError("Expand's shape");
  SmallVector<int64_t> targetShape = staticShapeOf(target->elements);
  for (int64_t d : targetShape)
    if (!ShapedType::isDynamic(d) && (d < 0 || d > kMaxDim))
      return n.error() << "invalid target dimension " << d;
  Value x = (*in)[0];
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(typeOf(x).getShape(), targetShape);
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
  if (llvm::none_of(*shape, ShapedType::isDynamic)) {
    SmallVector<int64_t> multiples;
    for (auto [f, t] : llvm::zip(from, *shape))
      multiples.push_back(f == t ? 1 : t);
    if (llvm::all_of(multiples, [](int64_t m) { return m == 1; })) {
      n.setOutput(0, *expanded);
      return success();
    }
    n.setOutput(0, tosa::TileOp::create(
                       n.b, RankedTensorType::get(*shape, elementTypeOf(x)),
                       *expanded, tosa::getTosaConstShape(n.b, multiples)));
    return success();
  }
  // Sizes known only at run time: a broadcasting linalg.generic. A dim of
  // the input that is 1 is broadcast; a dynamic one is taken to match the
  // target (numpy's rule leaves max(in, target), which a size-1 input
  // reaching a larger target would break: exporters expand masks and
  // position tables whose dynamic dims are the sequence's own).
  int64_t rank = shape->size();
  SmallVector<OpFoldResult> inSizes = mixedSizes(n.b, *expanded), sizes;
  int64_t skipped = rank - int64_t(target->elements.size());
  SmallVector<AffineExpr> inExprs;
  for (int64_t d = 0; d < rank; ++d) {
    OpFoldResult want =
        d >= skipped ? target->elements[d - skipped] : n.b.getIndexAttr(1);
    bool broadcast = from[d] == 1 && !isConstantIntValue(want, 1);
    sizes.push_back(broadcast ? want : inSizes[d]);
    inExprs.push_back(broadcast ? n.b.getAffineConstantExpr(0)
                                : n.b.getAffineDimExpr(d));
  }
  n.setOutput(0, copyThroughMap(n.b, *expanded, sizes, inExprs));
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerShapeOps(OpRegistry &r) {
  r.add("Reshape", 13, importReshape);
  r.add("Flatten", 13, importFlatten);
  r.add("Transpose", 13, importTranspose);
  r.add("Unsqueeze", 13, importUnsqueeze);
  r.add("Squeeze", 13, importSqueeze);
  r.add("Concat", 13, importConcat);
  // Split's even split counts its outputs before 18, reads num_outputs from
  // 18 on.
  r.add("Split", 13, [](NodeImporter &n) {
    return importSplit(n, /*numOutputsAttr=*/false);
  });
  r.add("Split", 18, [](NodeImporter &n) {
    return importSplit(n, /*numOutputsAttr=*/true);
  });
  r.add("Expand", 13, importExpand);
  r.add("Tile", 13, importTile);
  r.add("Pad", 13, importPad);
}
