//===- Convolution.cpp - Conv -----------------------------------*- C++ -*-===//
//
// Conv as im2col and a batched matrix product: one linalg.generic copies
// each output position's window into a column, and tosa.matmul multiplies
// the weights by the columns, group by group. The product is what the CPU
// lowering hands to BLAS and the GPU lowering to cuBLAS, so convolutions
// run as fast as the models' other products without a kernel of their own;
// the copy costs a read of the input per kernel tap, small next to the
// product for the patch embeddings and 1-D front ends transformers have.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

/// An ints attribute of one value per spatial axis, or `defaultValue` for
/// each; every value at least `minimum`.
FailureOr<SmallVector<int64_t>> spatialInts(NodeImporter &n, StringRef name,
                                            size_t count, int64_t defaultValue,
                                            int64_t minimum) {
  std::optional<SmallVector<int64_t>> values = n.intsAttr(name);
  if (!values)
    return SmallVector<int64_t>(count, defaultValue);
  if (values->size() != count)
    return LogicalResult(n.error()
                         << "'" << name << "' has " << values->size()
                         << " values for " << count << " spatial axes");
  for (int64_t v : *values)
    if (v < minimum || v > kMaxDim)
      return LogicalResult(n.error() << "'" << name << "' values must be in ["
                                     << minimum << ", 2^32], got " << v);
  return *values;
}

LogicalResult importConv(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])) ||
      failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  Value x = (*in)[0], w = (*in)[1];
  RankedTensorType xType = typeOf(x), wType = typeOf(w);
  int64_t rank = xType.getRank();
  if (rank < 3)
    return n.error() << "input must have rank >= 3 ([N, C, spatial...]), got "
                     << rank;
  if (wType.getRank() != rank)
    return n.error() << "weight has rank " << wType.getRank() << ", the input "
                     << rank;
  size_t spatial = rank - 2;
  ArrayRef<int64_t> xs = xType.getShape(), ws = wType.getShape();
  if (!wType.hasStaticShape())
    return n.error() << "the weight's shape must be static, got " << wType;
  int64_t groups = n.intAttr("group", 1);
  int64_t filters = ws[0], groupChannels = ws[1];
  if (groups < 1 || filters % groups != 0)
    return n.error() << "group " << groups << " does not divide the " << filters
                     << " output channels";
  if (ShapedType::isDynamic(xs[1]))
    return n.dynamicShapeError("Conv's input channels");
  if (xs[1] != groupChannels * groups)
    return n.error() << "input has " << xs[1] << " channels; the weight takes "
                     << groupChannels << " per group x " << groups << " groups";
  ArrayRef<int64_t> kernel = ws.drop_front(2);
  if (std::optional<SmallVector<int64_t>> shape = n.intsAttr("kernel_shape");
      shape && ArrayRef<int64_t>(*shape) != kernel)
    return n.error() << "kernel_shape does not match the weight's spatial "
                        "shape";
  FailureOr<SmallVector<int64_t>> strides =
      spatialInts(n, "strides", spatial, 1, 1);
  FailureOr<SmallVector<int64_t>> dilations =
      spatialInts(n, "dilations", spatial, 1, 1);
  if (failed(strides) || failed(dilations))
    return failure();
  // The dilated kernel's span, (k - 1) * d + 1, within 2^32 like any dim.
  SmallVector<int64_t> windows;
  for (size_t i = 0; i < spatial; ++i) {
    if (kernel[i] > 1 && (*dilations)[i] > (kMaxDim - 1) / (kernel[i] - 1))
      return n.error() << "the kernel spans more than 2^32 elements along "
                          "spatial axis "
                       << i << " (" << kernel[i] << " taps, dilation "
                       << (*dilations)[i] << ")";
    windows.push_back((*dilations)[i] * (kernel[i] - 1) + 1);
  }
  Value bias;
  if (n.hasInput(2)) {
    bias = n.input(2);
    if (failed(requireSameElementType(n, x, bias)))
      return failure();
    if (typeOf(bias).getShape() != ArrayRef<int64_t>{filters})
      return n.error() << "bias must have shape [" << filters << "], got "
                       << typeOf(bias);
  }

  // Pads, as (before, after) per spatial axis.
  std::string autoPad = n.stringAttr("auto_pad", "NOTSET");
  SmallVector<int64_t> before(spatial, 0), after(spatial, 0);
  if (autoPad == "NOTSET") {
    FailureOr<SmallVector<int64_t>> pads =
        spatialInts(n, "pads", 2 * spatial, 0, 0);
    if (failed(pads))
      return failure();
    for (size_t i = 0; i < spatial; ++i) {
      before[i] = (*pads)[i];
      after[i] = (*pads)[i + spatial];
    }
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    if (n.attr("pads"))
      return n.error() << "'pads' and auto_pad " << autoPad
                       << " cannot both be given";
    for (size_t i = 0; i < spatial; ++i) {
      int64_t size = xs[2 + i], s = (*strides)[i], window = windows[i];
      // The total padding depends on the size modulo the stride; with
      // stride 1 it is the window less one whatever the size.
      if (ShapedType::isDynamic(size) && s != 1)
        return n.dynamicShapeError("Conv's SAME padding with strides");
      int64_t total = ShapedType::isDynamic(size)
                          ? window - 1
                          : std::max<int64_t>(0, ((size + s - 1) / s - 1) * s +
                                                     window - size);
      int64_t small = total / 2, large = total - small;
      before[i] = autoPad == "SAME_UPPER" ? small : large;
      after[i] = autoPad == "SAME_UPPER" ? large : small;
    }
  } else if (autoPad != "VALID") {
    return n.error() << "unknown auto_pad '" << autoPad << "'";
  }

  Type et = elementTypeOf(x);
  if (llvm::any_of(before, [](int64_t p) { return p != 0; }) ||
      llvm::any_of(after, [](int64_t p) { return p != 0; })) {
    SmallVector<int64_t> padding(4, 0), shape(xs.take_front(2));
    for (size_t i = 0; i < spatial; ++i) {
      padding.push_back(before[i]);
      padding.push_back(after[i]);
      int64_t size = xs[2 + i];
      shape.push_back(
          ShapedType::isDynamic(size) ? size : size + before[i] + after[i]);
    }
    x = tosa::PadOp::create(n.b, RankedTensorType::get(shape, et), x,
                            tosa::getTosaConstShape(n.b, padding),
                            splat(n.b, et, {1}, 0.0));
    xType = typeOf(x);
    xs = xType.getShape();
  }

  // Output sizes: (padded - window) / stride + 1.
  SmallVector<OpFoldResult> outSizes;
  for (size_t i = 0; i < spatial; ++i) {
    int64_t window = windows[i];
    int64_t size = xs[2 + i];
    if (!ShapedType::isDynamic(size)) {
      if (size < window)
        return n.error() << "spatial axis " << i << " has " << size
                         << " elements after padding, fewer than the " << window
                         << " the kernel spans";
      outSizes.push_back(n.b.getIndexAttr((size - window) / (*strides)[i] + 1));
      continue;
    }
    Value dim = tensor::DimOp::create(n.b, x, 2 + i);
    Value span = arith::ConstantIndexOp::create(n.b, window);
    Value stride = arith::ConstantIndexOp::create(n.b, (*strides)[i]);
    Value one = arith::ConstantIndexOp::create(n.b, 1);
    Value room = arith::SubIOp::create(n.b, dim, span);
    Value steps = arith::DivUIOp::create(n.b, room, stride);
    outSizes.push_back(arith::AddIOp::create(n.b, steps, one).getResult());
  }
  OpFoldResult batch = mixedSize(n.b, x, 0);

  // The columns: [G, Cg, K..., N, O...], position (g, c, k, b, o) holding
  // x[b, g * Cg + c, o * stride + k * dilation] (padded x). With the
  // channels and taps first, each group's product is W_g [Fg, Cg K] x
  // cols_g [Cg K, N O], and for one image its result is already NCHW.
  auto dim = [&](unsigned i) { return n.b.getAffineDimExpr(i); };
  unsigned kFirst = 2, bDim = 2 + spatial, oFirst = 3 + spatial;
  SmallVector<AffineExpr> inputExprs{dim(bDim),
                                     dim(0) * groupChannels + dim(1)};
  for (size_t i = 0; i < spatial; ++i)
    inputExprs.push_back(dim(oFirst + i) * (*strides)[i] +
                         dim(kFirst + i) * (*dilations)[i]);
  SmallVector<OpFoldResult> colSizes{n.b.getIndexAttr(groups),
                                     n.b.getIndexAttr(groupChannels)};
  for (int64_t k : kernel)
    colSizes.push_back(n.b.getIndexAttr(k));
  colSizes.push_back(batch);
  llvm::append_range(colSizes, outSizes);
  SmallVector<int64_t> colShape = staticShapeOf(colSizes);
  if (!checkedNumElements(llvm::to_vector(llvm::make_filter_range(
          colShape, [](int64_t d) { return !ShapedType::isDynamic(d); }))))
    return n.error() << "the im2col columns would have more than 2^32 "
                        "elements";
  Value cols = copyThroughMap(n.b, x, colSizes, inputExprs);

  int64_t taps = groupChannels * product(kernel);
  SmallVector<OpFoldResult> positions{batch};
  llvm::append_range(positions, outSizes);
  OpFoldResult columns = productOf(n.b, positions);
  cols = reshapeTo(n.b, cols,
                   {n.b.getIndexAttr(groups), n.b.getIndexAttr(taps), columns});
  Value weights = reshape(n.b, w, {groups, filters / groups, taps});
  Value y = batchMatmul(n.b, weights, cols);

  // [G, Fg, N, O...] to [N, F, O...].
  SmallVector<OpFoldResult> grouped{n.b.getIndexAttr(groups),
                                    n.b.getIndexAttr(filters / groups), batch};
  llvm::append_range(grouped, outSizes);
  SmallVector<OpFoldResult> result{batch, n.b.getIndexAttr(filters)};
  llvm::append_range(result, outSizes);
  if (!isConstantIntValue(batch, 1)) {
    y = reshapeTo(n.b, y, grouped);
    SmallVector<int32_t> perm{2, 0, 1};
    for (size_t i = 0; i < spatial; ++i)
      perm.push_back(3 + i);
    SmallVector<int64_t> shape = staticShapeOf(grouped);
    SmallVector<int64_t> permuted;
    for (int32_t p : perm)
      permuted.push_back(shape[p]);
    y = tosa::TransposeOp::create(n.b, RankedTensorType::get(permuted, et), y,
                                  n.b.getDenseI32ArrayAttr(perm));
  }
  y = reshapeTo(n.b, y, result);
  if (bias) {
    SmallVector<int64_t> shape(rank, 1);
    shape[1] = filters;
    FailureOr<Value> sum =
        elementwise<tosa::AddOp>(n, {y, reshape(n.b, bias, shape)});
    if (failed(sum))
      return failure();
    y = *sum;
  }
  n.setOutput(0, y);
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerConvolutionOps(OpRegistry &r) {
  // Conv-11 made kernel_shape optional and added no other change since.
  r.add("Conv", 11, importConv);
}
