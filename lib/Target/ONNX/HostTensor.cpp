//===- HostTensor.cpp - Import-time folding of small tensors --------------===//
//
// Host tensors, element type conversion and broadcasting shared by the ONNX
// importer's handlers.
//
//===----------------------------------------------------------------------===//

#include "ImporterInternal.h"

#include "mlir/IR/Builders.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attnres::onnx_import;

namespace {
/// The one table between ONNX data types and MLIR element types.
struct DataTypeEntry {
  int32_t onnx;
  Type (*get)(MLIRContext *);
};
} // namespace

static const DataTypeEntry kDataTypes[] = {
    {onnx::TensorProto::FLOAT,
     [](MLIRContext *c) -> Type { return Float32Type::get(c); }},
    {onnx::TensorProto::FLOAT16,
     [](MLIRContext *c) -> Type { return Float16Type::get(c); }},
    {onnx::TensorProto::BFLOAT16,
     [](MLIRContext *c) -> Type { return BFloat16Type::get(c); }},
    {onnx::TensorProto::DOUBLE,
     [](MLIRContext *c) -> Type { return Float64Type::get(c); }},
    {onnx::TensorProto::INT64,
     [](MLIRContext *c) -> Type { return IntegerType::get(c, 64); }},
    {onnx::TensorProto::INT32,
     [](MLIRContext *c) -> Type { return IntegerType::get(c, 32); }},
    {onnx::TensorProto::INT16,
     [](MLIRContext *c) -> Type { return IntegerType::get(c, 16); }},
    {onnx::TensorProto::INT8,
     [](MLIRContext *c) -> Type { return IntegerType::get(c, 8); }},
    {onnx::TensorProto::UINT64,
     [](MLIRContext *c) -> Type {
       return IntegerType::get(c, 64, IntegerType::Unsigned);
     }},
    {onnx::TensorProto::UINT32,
     [](MLIRContext *c) -> Type {
       return IntegerType::get(c, 32, IntegerType::Unsigned);
     }},
    {onnx::TensorProto::UINT16,
     [](MLIRContext *c) -> Type {
       return IntegerType::get(c, 16, IntegerType::Unsigned);
     }},
    {onnx::TensorProto::UINT8,
     [](MLIRContext *c) -> Type {
       return IntegerType::get(c, 8, IntegerType::Unsigned);
     }},
    {onnx::TensorProto::BOOL,
     [](MLIRContext *c) -> Type { return IntegerType::get(c, 1); }},
};

FailureOr<Type>
mlir::attnres::onnx_import::convertElementType(int32_t dataType,
                                               MLIRContext *context) {
  for (const DataTypeEntry &entry : kDataTypes)
    if (entry.onnx == dataType)
      return entry.get(context);
  return failure();
}

int32_t mlir::attnres::onnx_import::onnxDataTypeOf(Type elementType) {
  for (const DataTypeEntry &entry : kDataTypes)
    if (entry.get(elementType.getContext()) == elementType)
      return entry.onnx;
  return -1;
}

std::string mlir::attnres::onnx_import::dataTypeName(int32_t dataType) {
  if (onnx::TensorProto::DataType_IsValid(dataType))
    return onnx::TensorProto::DataType_Name(
        static_cast<onnx::TensorProto::DataType>(dataType));
  return "data type " + std::to_string(dataType);
}

int64_t HostTensor::size() const { return saturatingProduct(shape); }

int64_t mlir::attnres::onnx_import::saturatingProduct(ArrayRef<int64_t> dims) {
  // An empty tensor may have other huge dims: zero first, then no overflow.
  if (llvm::is_contained(dims, 0))
    return 0;
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n))
      return std::numeric_limits<int64_t>::max();
  return n;
}

int64_t HostTensor::toInt64(double v) {
  if (std::isnan(v))
    return 0;
  // 2^63 is exactly representable; every double below it converts.
  if (v >= 9223372036854775808.0)
    return std::numeric_limits<int64_t>::max();
  if (v < -9223372036854775808.0)
    return std::numeric_limits<int64_t>::min();
  return int64_t(v);
}

std::optional<int64_t>
mlir::attnres::onnx_import::checkedNumElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxTensorElements || (d && n > kMaxTensorElements / d))
      return std::nullopt;
    n *= d;
  }
  return n;
}

/// `v` wrapped to the width and signedness of integer type `type`, as the
/// stored attribute will hold it, so host values and attributes agree.
static int64_t wrapToType(int64_t v, Type type) {
  unsigned width = type.getIntOrFloatBitWidth();
  if (width == 1)
    return v != 0;
  if (width >= 64)
    return v;
  APInt bits(64, uint64_t(v));
  bits = bits.trunc(width);
  return type.isUnsignedInteger() ? int64_t(bits.getZExtValue())
                                  : bits.getSExtValue();
}

void HostTensor::pushFrom(const HostTensor &other, int64_t i) {
  if (isFloat())
    floats.push_back(other.asDouble(i));
  else
    ints.push_back(other.asInt(i));
}

std::optional<HostTensor> HostTensor::fromAttr(ElementsAttr attr) {
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || dense.getNumElements() > kMaxFoldedElements)
    return std::nullopt;
  HostTensor t;
  auto type = cast<ShapedType>(dense.getType());
  t.shape.assign(type.getShape().begin(), type.getShape().end());
  t.elementType = type.getElementType();
  if (isa<FloatType>(t.elementType)) {
    for (APFloat v : dense.getValues<APFloat>()) {
      bool lost;
      v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      t.floats.push_back(v.convertToDouble());
    }
    return t;
  }
  if (!t.elementType.isInteger())
    return std::nullopt;
  bool isBool = t.elementType.isInteger(1);
  bool isUnsigned = t.elementType.isUnsignedInteger();
  for (APInt v : dense.getValues<APInt>())
    t.ints.push_back(isBool       ? int64_t(v.getBoolValue())
                     : isUnsigned ? int64_t(v.getZExtValue())
                                  : v.getSExtValue());
  return t;
}

DenseElementsAttr HostTensor::toAttr() const {
  auto type = RankedTensorType::get(shape, elementType);
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    SmallVector<APFloat> values;
    for (double v : floats) {
      APFloat f(v);
      bool lost;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &lost);
      values.push_back(f);
    }
    return DenseElementsAttr::get(type, values);
  }
  unsigned width = elementType.getIntOrFloatBitWidth();
  SmallVector<APInt> values;
  for (int64_t v : ints)
    values.push_back(
        APInt(width, width == 1 ? uint64_t(v != 0) : uint64_t(v),
              /*isSigned=*/width != 1 && !elementType.isUnsignedInteger(),
              /*implicitTrunc=*/true));
  return DenseElementsAttr::get(type, values);
}

HostTensor HostTensor::empty(Type elementType, ArrayRef<int64_t> shape) {
  HostTensor t;
  t.elementType = elementType;
  t.shape.assign(shape.begin(), shape.end());
  return t;
}

HostTensor HostTensor::castTo(Type type) const {
  HostTensor t = empty(type, shape);
  for (int64_t i = 0, e = size(); i < e; ++i) {
    if (t.isFloat())
      t.floats.push_back(asDouble(i));
    else if (type.isInteger(1))
      t.ints.push_back(asDouble(i) != 0);
    else
      t.ints.push_back(
          wrapToType(isFloat() ? toInt64(floats[i]) : ints[i], type));
  }
  return t;
}

FailureOr<SmallVector<int64_t>>
mlir::attnres::onnx_import::broadcastShapes(ArrayRef<int64_t> a,
                                            ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      result[i] = db;
    else if (db == 1)
      result[i] = da;
    else if (ShapedType::isDynamic(da))
      result[i] = db;
    else if (ShapedType::isDynamic(db) || da == db)
      result[i] = da;
    else
      return failure();
  }
  return result;
}

std::optional<HostTensor> mlir::attnres::onnx_import::foldBinary(
    const HostTensor &a, const HostTensor &b, Type resultElementType,
    const FloatFoldFn &floatFn, const IntFoldFn &intFn) {
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(a.shape, b.shape);
  if (failed(shape) || llvm::any_of(*shape, ShapedType::isDynamic))
    return std::nullopt;
  std::optional<int64_t> count = checkedNumElements(*shape);
  if (!count || *count > kMaxFoldedElements)
    return std::nullopt;
  bool floatOperands = a.isFloat();
  HostTensor r = HostTensor::empty(resultElementType, *shape);
  if (*count == 0)
    return r;
  int64_t rank = shape->size();
  // Row-major strides of each operand in the broadcast index space; a
  // broadcast (size-1 or missing) dimension has stride 0.
  auto strides = [&](const HostTensor &t) {
    SmallVector<int64_t> s(rank, 0);
    int64_t stride = 1;
    for (int64_t i = t.shape.size() - 1, o = rank - 1; i >= 0; --i, --o) {
      s[o] = t.shape[i] == 1 ? 0 : stride;
      stride *= t.shape[i];
    }
    return s;
  };
  SmallVector<int64_t> sa = strides(a), sb = strides(b);
  SmallVector<int64_t> index(rank, 0);
  for (int64_t n = 0, e = r.size(); n < e; ++n) {
    int64_t ia = 0, ib = 0;
    for (int64_t d = 0; d < rank; ++d) {
      ia += index[d] * sa[d];
      ib += index[d] * sb[d];
    }
    if (r.isFloat())
      r.floats.push_back(floatFn(a.asDouble(ia), b.asDouble(ib)));
    else if (floatOperands)
      r.ints.push_back(wrapToType(
          HostTensor::toInt64(floatFn(a.asDouble(ia), b.asDouble(ib))),
          resultElementType));
    else
      r.ints.push_back(
          wrapToType(intFn(a.asInt(ia), b.asInt(ib)), resultElementType));
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < (*shape)[d])
        break;
      index[d] = 0;
    }
  }
  return r;
}

std::optional<HostTensor> HostTensor::broadcastTo(ArrayRef<int64_t> to) const {
  std::optional<int64_t> count = checkedNumElements(to);
  if (!count || *count > kMaxFoldedElements)
    return std::nullopt;
  HostTensor target = empty(elementType, to);
  target.ints.assign(isFloat() ? 0 : target.size(), 0);
  target.floats.assign(isFloat() ? target.size() : 0, 0.0);
  std::optional<HostTensor> r = foldBinary(
      *this, target, elementType, [](double v, double) { return v; },
      [](int64_t v, int64_t) { return v; });
  if (r && ArrayRef<int64_t>(r->shape) != to)
    return std::nullopt;
  return r;
}
