//===- SymbolicShapes.cpp - Shape arithmetic on dynamic dims --------------===//
//
// Exporters compute the shapes their Reshape, Expand, ConstantOfShape and
// Range nodes need from Shape(x): Gather a dim, Unsqueeze it, Concat it with
// constants, multiply two dims. When x has dynamic dims these subgraphs are
// imported as index arithmetic on the dims (SymbolicInts) rather than as
// tensors, so that their consumers get sizes they can build dynamic ops
// from, and what is known at import time still folds.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

using IntFn = int64_t (*)(int64_t, int64_t);
using ValueFn = Value (*)(ImplicitLocOpBuilder &, Value, Value);

/// `fn(x, y)` folded when both are known, else built by `build` on index
/// values.
OpFoldResult combine(ImplicitLocOpBuilder &b, OpFoldResult x, OpFoldResult y,
                     IntFn fn, ValueFn build) {
  std::optional<int64_t> cx = getConstantIntValue(x),
                         cy = getConstantIntValue(y);
  if (cx && cy)
    return b.getIndexAttr(fn(*cx, *cy));
  return build(b, getValueOrCreateConstantIndexOp(b, b.getLoc(), x),
               getValueOrCreateConstantIndexOp(b, b.getLoc(), y));
}

Value boolToIndex(ImplicitLocOpBuilder &b, Value flag) {
  return arith::SelectOp::create(b, flag, arith::ConstantIndexOp::create(b, 1),
                                 arith::ConstantIndexOp::create(b, 0));
}

Value compare(ImplicitLocOpBuilder &b, arith::CmpIPredicate predicate, Value x,
              Value y) {
  return boolToIndex(b, arith::CmpIOp::create(b, predicate, x, y));
}

struct BinaryFn {
  IntFn fold;
  ValueFn build;
  bool isComparison;
};

std::optional<BinaryFn> binaryFn(StringRef opType) {
  if (opType == "Add")
    return BinaryFn{wrappingAdd,
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return arith::AddIOp::create(b, x, y).getResult();
                    },
                    false};
  if (opType == "Sub")
    return BinaryFn{wrappingSub,
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return arith::SubIOp::create(b, x, y).getResult();
                    },
                    false};
  if (opType == "Mul")
    return BinaryFn{wrappingMul,
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return arith::MulIOp::create(b, x, y).getResult();
                    },
                    false};
  // ONNX integer division truncates, as C does.
  if (opType == "Div")
    return BinaryFn{[](int64_t x, int64_t y) {
                      // INT64_MIN / -1 wraps like the other ops.
                      return y == -1 ? wrappingSub(0, x) : y ? x / y : 0;
                    },
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return arith::DivSIOp::create(b, x, y).getResult();
                    },
                    false};
  if (opType == "Min")
    return BinaryFn{[](int64_t x, int64_t y) { return std::min(x, y); },
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return arith::MinSIOp::create(b, x, y).getResult();
                    },
                    false};
  if (opType == "Max")
    return BinaryFn{[](int64_t x, int64_t y) { return std::max(x, y); },
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return arith::MaxSIOp::create(b, x, y).getResult();
                    },
                    false};
  if (opType == "Equal")
    return BinaryFn{[](int64_t x, int64_t y) { return int64_t(x == y); },
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return compare(b, arith::CmpIPredicate::eq, x, y);
                    },
                    true};
  if (opType == "Less")
    return BinaryFn{[](int64_t x, int64_t y) { return int64_t(x < y); },
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return compare(b, arith::CmpIPredicate::slt, x, y);
                    },
                    true};
  if (opType == "Greater")
    return BinaryFn{[](int64_t x, int64_t y) { return int64_t(x > y); },
                    [](ImplicitLocOpBuilder &b, Value x, Value y) {
                      return compare(b, arith::CmpIPredicate::sgt, x, y);
                    },
                    true};
  return std::nullopt;
}

/// The element at `i` of an operand broadcast to `size` elements.
OpFoldResult at(const SymbolicInts &v, int64_t i) {
  return v.elements.size() == 1 ? v.elements[0] : v.elements[i];
}

/// The shape of operands of rank <= 1 broadcast together, or nullopt.
std::optional<SmallVector<int64_t>>
broadcastSymbolic(ArrayRef<SymbolicInts> operands) {
  SmallVector<int64_t> shape;
  for (const SymbolicInts &v : operands) {
    if (v.shape.size() > shape.size()) {
      if (!shape.empty() && shape[0] != 1 && v.shape[0] != shape[0])
        return std::nullopt;
      shape = v.shape;
      continue;
    }
    if (v.shape.empty() || shape.empty() || v.shape[0] == shape[0] ||
        v.shape[0] == 1)
      continue;
    if (shape[0] != 1)
      return std::nullopt;
    shape = v.shape;
  }
  return shape;
}

/// Reads inputs [0, count) as symbolic integers; nullopt when one is not.
std::optional<SmallVector<SymbolicInts>> symbolicInputs(NodeImporter &n,
                                                        unsigned count) {
  SmallVector<SymbolicInts> inputs;
  for (unsigned i = 0; i < count; ++i) {
    std::optional<SymbolicInts> v = n.symbolicInts(i);
    if (!v)
      return std::nullopt;
    inputs.push_back(std::move(*v));
  }
  return inputs;
}

/// The (empty) result of an op over `in` broadcast together; reports and
/// returns nullopt when the shapes do not broadcast.
std::optional<SymbolicInts>
broadcastResult(NodeImporter &n, ArrayRef<SymbolicInts> in, Type elementType) {
  std::optional<SmallVector<int64_t>> shape = broadcastSymbolic(in);
  if (!shape) {
    n.error() << "operand shapes do not broadcast";
    return std::nullopt;
  }
  return SymbolicInts{*shape, elementType, {}};
}

/// How many elements `v`'s shape holds (rank 0 or 1).
int64_t numElements(const SymbolicInts &v) {
  return v.shape.empty() ? 1 : v.shape[0];
}

/// A binary op, or Min/Max over any number of inputs, folded left to right.
std::optional<LogicalResult> importElementwise(NodeImporter &n, BinaryFn fn) {
  std::optional<SmallVector<SymbolicInts>> in =
      symbolicInputs(n, n.numInputs());
  if (!in)
    return std::nullopt;
  std::optional<SymbolicInts> r = broadcastResult(
      n, *in, fn.isComparison ? n.b.getI1Type() : (*in)[0].elementType);
  if (!r)
    return LogicalResult(failure());
  for (int64_t i = 0, e = numElements(*r); i < e; ++i) {
    OpFoldResult acc = at((*in)[0], i);
    for (const SymbolicInts &v : ArrayRef(*in).drop_front())
      acc = combine(n.b, acc, at(v, i), fn.fold, fn.build);
    r->elements.push_back(acc);
  }
  n.setSymbolicOutput(0, std::move(*r));
  return success();
}

std::optional<LogicalResult> importWhere(NodeImporter &n) {
  std::optional<SmallVector<SymbolicInts>> in = symbolicInputs(n, 3);
  if (!in)
    return std::nullopt;
  std::optional<SymbolicInts> result =
      broadcastResult(n, *in, (*in)[1].elementType);
  if (!result)
    return LogicalResult(failure());
  SymbolicInts &r = *result;
  for (int64_t i = 0, e = numElements(r); i < e; ++i) {
    OpFoldResult cond = at((*in)[0], i), x = at((*in)[1], i),
                 y = at((*in)[2], i);
    if (std::optional<int64_t> c = getConstantIntValue(cond)) {
      r.elements.push_back(*c ? x : y);
      continue;
    }
    Value flag =
        arith::CmpIOp::create(n.b, arith::CmpIPredicate::ne, cast<Value>(cond),
                              arith::ConstantIndexOp::create(n.b, 0));
    r.elements.push_back(
        arith::SelectOp::create(
            n.b, flag, getValueOrCreateConstantIndexOp(n.b, n.b.getLoc(), x),
            getValueOrCreateConstantIndexOp(n.b, n.b.getLoc(), y))
            .getResult());
  }
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

std::optional<LogicalResult> importUnary(NodeImporter &n, StringRef opType) {
  std::optional<SymbolicInts> x = n.symbolicInts(0);
  if (!x)
    return std::nullopt;
  SymbolicInts r = *x;
  for (OpFoldResult &e : r.elements) {
    if (opType == "Neg")
      e = combine(n.b, n.b.getIndexAttr(0), e, wrappingSub,
                  [](ImplicitLocOpBuilder &b, Value a, Value c) {
                    return arith::SubIOp::create(b, a, c).getResult();
                  });
    else if (opType == "Not")
      e = combine(
          n.b, n.b.getIndexAttr(1), e,
          [](int64_t a, int64_t b) { return a - b; },
          [](ImplicitLocOpBuilder &b, Value a, Value c) {
            return arith::SubIOp::create(b, a, c).getResult();
          });
  }
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

std::optional<LogicalResult> importCast(NodeImporter &n) {
  std::optional<SymbolicInts> x = n.symbolicInts(0);
  FailureOr<Type> to = convertElementType(n.intAttr("to", 0), n.b.getContext());
  // Shape arithmetic in floats (a ceil of a division) is left to the
  // handlers: it reaches the consumer as a run-time tensor.
  if (!x || failed(to) || !isa<IntegerType>(*to) || to->isUnsignedInteger())
    return std::nullopt;
  SymbolicInts r = *x;
  r.elementType = *to;
  if (to->isInteger(1))
    for (OpFoldResult &e : r.elements)
      e = combine(
          n.b, e, n.b.getIndexAttr(0),
          [](int64_t a, int64_t b) { return int64_t(a != b); },
          [](ImplicitLocOpBuilder &b, Value a, Value c) {
            return compare(b, arith::CmpIPredicate::ne, a, c);
          });
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

std::optional<LogicalResult> importGather(NodeImporter &n) {
  std::optional<SymbolicInts> data = n.symbolicInts(0);
  std::optional<SmallVector<int64_t>> indices = n.constantInts(1);
  const HostTensor *ci = n.constant(1);
  if (!data || !indices || data->shape.size() != 1 || ci->shape.size() > 1)
    return std::nullopt;
  int64_t k = data->shape[0];
  SymbolicInts r{ci->shape, data->elementType, {}};
  for (int64_t idx : *indices) {
    if (idx < -k || idx >= k)
      return LogicalResult(n.error()
                           << "index " << idx
                           << " is out of range for axis of size " << k);
    r.elements.push_back(data->elements[idx < 0 ? idx + k : idx]);
  }
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

std::optional<LogicalResult> importSlice(NodeImporter &n) {
  std::optional<SymbolicInts> data = n.symbolicInts(0);
  std::optional<SmallVector<int64_t>> starts = n.constantInts(1),
                                      ends = n.constantInts(2);
  if (!data || data->shape.size() != 1 || !starts || !ends ||
      starts->size() != 1 || ends->size() != 1)
    return std::nullopt;
  int64_t step = 1;
  if (n.hasInput(3)) {
    std::optional<SmallVector<int64_t>> axes = n.constantInts(3);
    if (!axes || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1))
      return std::nullopt;
  }
  if (n.hasInput(4)) {
    std::optional<SmallVector<int64_t>> steps = n.constantInts(4);
    if (!steps || steps->size() != 1 || (*steps)[0] <= 0)
      return std::nullopt;
    step = (*steps)[0];
  }
  auto [begin, size] =
      clampSliceRange((*starts)[0], (*ends)[0], step, data->shape[0]);
  SymbolicInts r{{size}, data->elementType, {}};
  for (int64_t i = 0; i < size; ++i)
    r.elements.push_back(data->elements[begin + i * step]);
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

std::optional<LogicalResult> importConcat(NodeImporter &n) {
  std::optional<SmallVector<SymbolicInts>> in =
      symbolicInputs(n, n.numInputs());
  if (!in || llvm::any_of(*in, [](const SymbolicInts &v) {
        return v.shape.size() != 1;
      }))
    return std::nullopt;
  SymbolicInts r{{0}, (*in)[0].elementType, {}};
  for (const SymbolicInts &v : *in)
    llvm::append_range(r.elements, v.elements);
  r.shape[0] = r.elements.size();
  n.setSymbolicOutput(0, std::move(r));
  return success();
}

/// Unsqueeze, Squeeze and Reshape between rank 0 and rank 1: the elements
/// stay, the shape changes.
std::optional<LogicalResult> importReshapeLike(NodeImporter &n,
                                               StringRef opType) {
  std::optional<SymbolicInts> x = n.symbolicInts(0);
  if (!x)
    return std::nullopt;
  int64_t count = x->elements.size();
  SmallVector<int64_t> shape;
  if (opType == "Unsqueeze") {
    if (!x->shape.empty())
      return std::nullopt;
    shape = {1};
  } else if (opType == "Squeeze") {
    if (x->shape != ArrayRef<int64_t>{1})
      return std::nullopt;
  } else {
    std::optional<SmallVector<int64_t>> target = n.constantInts(1);
    if (!target || target->size() > 1)
      return std::nullopt;
    if (target->empty() ? count != 1
                        : ((*target)[0] != -1 && (*target)[0] != count))
      return std::nullopt;
    if (!target->empty())
      shape = {count};
  }
  n.setSymbolicOutput(0, SymbolicInts{shape, x->elementType, x->elements});
  return success();
}

} // namespace

std::optional<LogicalResult>
mlir::attnres::onnx_import::importSymbolicShapeOp(NodeImporter &n) {
  if (llvm::none_of(llvm::seq(n.numInputs()),
                    [&](unsigned i) { return n.isSymbolic(i); }))
    return std::nullopt;
  StringRef opType = n.node.op_type();
  if (std::optional<BinaryFn> fn = binaryFn(opType)) {
    if (n.numInputs() != 2 && opType != "Min" && opType != "Max")
      return std::nullopt;
    return importElementwise(n, *fn);
  }
  if (opType == "Where")
    return importWhere(n);
  if (opType == "Neg" || opType == "Not" || opType == "Identity")
    return importUnary(n, opType);
  if (opType == "Cast")
    return importCast(n);
  if (opType == "Gather")
    return importGather(n);
  if (opType == "Slice")
    return importSlice(n);
  if (opType == "Concat")
    return importConcat(n);
  if (opType == "Unsqueeze" || opType == "Squeeze" || opType == "Reshape")
    return importReshapeLike(n, opType);
  return std::nullopt;
}
