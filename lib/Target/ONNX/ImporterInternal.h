//===- ImporterInternal.h - Shared pieces of the ONNX importer --*- C++ -*-===//
//
// The interface between the graph walker (ONNXImporter.cpp), the per-op
// handlers (ONNXOpHandlers.cpp) and import-time constant folding
// (HostTensor.cpp). Not installed: the public API is ONNXImport.h.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_LIB_TARGET_ONNX_IMPORTERINTERNAL_H
#define ATTNRES_LIB_TARGET_ONNX_IMPORTERINTERNAL_H

#include "onnx/onnx.pb.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <optional>

namespace mlir::attnres::onnx_import {

/// Maps an ONNX TensorProto.DataType to an MLIR element type: signed integers
/// are signless, unsigned ones unsigned (ui8, ...: TOSA rejects them, so they
/// live only in constants folded on the host), bool is i1. Fails for types
/// the importer does not handle.
FailureOr<Type> convertElementType(int32_t dataType, MLIRContext *context);
/// The ONNX name of a TensorProto.DataType, for messages.
std::string dataTypeName(int32_t dataType);
/// The TensorProto.DataType an MLIR element type stands for (the inverse of
/// convertElementType), or -1.
int32_t onnxDataTypeOf(Type elementType);

/// A small tensor held on the host, used to fold shape computations (Shape,
/// Gather, Concat, Reshape, ...) at import time so that exported models end
/// up with static shapes. Integers and bools live in `ints`, floats in
/// `floats`.
struct HostTensor {
  SmallVector<int64_t> shape;
  Type elementType;
  SmallVector<int64_t> ints;
  SmallVector<double> floats;

  bool isFloat() const { return isa<FloatType>(elementType); }
  int64_t size() const;
  double asDouble(int64_t i) const {
    return isFloat() ? floats[i] : double(ints[i]);
  }
  int64_t asInt(int64_t i) const {
    return isFloat() ? toInt64(floats[i]) : ints[i];
  }
  /// double -> int64 without undefined behaviour: truncates toward zero,
  /// saturates out-of-range values and maps NaN to 0 (ONNX leaves both
  /// undefined).
  static int64_t toInt64(double v);
  /// Appends element `i` of `other` (same kind of storage) to this tensor.
  void pushFrom(const HostTensor &other, int64_t i);

  /// Only dense attributes of modest size are folded.
  static std::optional<HostTensor> fromAttr(ElementsAttr attr);
  DenseElementsAttr toAttr() const;
  /// A tensor of `type`'s element type and `shape` holding converted values.
  static HostTensor empty(Type elementType, ArrayRef<int64_t> shape);
  HostTensor castTo(Type elementType) const;
  /// This tensor broadcast (numpy rules) to `shape`, if it broadcasts.
  std::optional<HostTensor> broadcastTo(ArrayRef<int64_t> shape) const;
};

/// An integer tensor of rank 0 or 1 some of whose elements are known only
/// when the model runs: what shape subgraphs (Shape, Gather, Concat, Add, ...)
/// compute from the dynamic dims of graph inputs. Each element is an
/// IntegerAttr when known at import time, else an `index` Value computed at
/// run time (tensor.dim and arith), so that consumers of shapes (Reshape,
/// Expand, ConstantOfShape, Range, Slice) build ops with dynamic sizes
/// instead of reading a shape tensor back from memory.
struct SymbolicInts {
  /// [] for a scalar, [n] for a vector of n elements.
  SmallVector<int64_t> shape;
  /// The ONNX element type: an integer type, i1 for comparisons.
  Type elementType;
  SmallVector<OpFoldResult> elements;

  /// Whether every element is known at import time.
  bool isConstant() const;
};

/// Folding is reserved for shape-sized tensors (masks and rotary tables of
/// modest length included); weights and anything larger stay in the IR.
/// Every fold checks its result against this before computing it.
constexpr int64_t kMaxFoldedElements = 1 << 16;

/// The largest dimension and the most elements any tensor may have (16 GiB
/// of f32): beyond that a shape is a corrupt file, not a model.
constexpr int64_t kMaxDim = int64_t(1) << 32;
constexpr int64_t kMaxTensorElements = int64_t(1) << 32;

/// The product of `dims`: 0 when one is 0 (before any overflow), else
/// saturated at INT64_MAX.
int64_t saturatingProduct(ArrayRef<int64_t> dims);

/// The number of elements of a static `shape`, or nullopt when it exceeds
/// kMaxTensorElements (or a dim is negative or dynamic).
std::optional<int64_t> checkedNumElements(ArrayRef<int64_t> shape);

/// What the ONNX schema of one op version allows (from the installed onnx
/// package, see scripts/gen_onnx_schemas.py).
struct ONNXSchema {
  int64_t sinceVersion;
  int64_t minInputs, maxInputs, minOutputs, maxOutputs;
  /// Bit i set: input i is required and may not be "".
  uint64_t requiredInputs;
  bool deprecated;
  /// Input positions described below; the last repeats (variadic inputs).
  unsigned numTypedInputs;
  /// Per input position: bit t set when TensorProto.DataType t is allowed.
  uint64_t inputTypes[8];
  /// Per input position: its type variable (inputs sharing one must have one
  /// element type), or -1 for a fixed type.
  int8_t inputTypeVar[8];
};

/// The schema of default-domain `opType` in force at `opset`, or null when
/// the op does not exist there. `firstSince`, when given, receives the
/// opset that introduced the op (-1 for an op ONNX does not define).
const ONNXSchema *lookupONNXSchema(StringRef opType, int64_t opset,
                                   int64_t *firstSince = nullptr);

/// Broadcasts two shapes with numpy rules (dynamic dims allowed). Fails when
/// two static dims differ and neither is 1.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a,
                                                ArrayRef<int64_t> b);

using FloatFoldFn = std::function<double(double, double)>;
using IntFoldFn = std::function<int64_t(int64_t, int64_t)>;

/// Applies `floatFn` (float operands) or `intFn` (integer and bool operands)
/// element-wise with numpy broadcasting. A float function's result is
/// converted to the result type with toInt64 when that type is an integer
/// (comparisons). Returns nullopt when the shapes do not broadcast or the
/// result would exceed kMaxFoldedElements: callers then emit the op.
std::optional<HostTensor> foldBinary(const HostTensor &a, const HostTensor &b,
                                     Type resultElementType,
                                     const FloatFoldFn &floatFn,
                                     const IntFoldFn &intFn);

class GraphImporter;

/// What a handler sees of the node it imports.
class NodeImporter {
public:
  NodeImporter(GraphImporter &graph, const onnx::NodeProto &node,
               ImplicitLocOpBuilder &builder, int64_t opset);

  const onnx::NodeProto &node;
  ImplicitLocOpBuilder &b;
  /// Opset version of the node's domain.
  const int64_t opset;

  unsigned numInputs() const { return node.input_size(); }
  /// Whether input `i` is present (ONNX marks omitted optional inputs "").
  bool hasInput(unsigned i) const;
  /// The value of input `i`, materializing folded constants as tosa.const.
  Value input(unsigned i);
  RankedTensorType inputType(unsigned i);
  /// The host value of input `i` when it is a known constant, else null.
  const HostTensor *constant(unsigned i);
  /// Input `i` as a list of integers when it is a known constant.
  std::optional<SmallVector<int64_t>> constantInts(unsigned i);
  /// Input `i` as symbolic integers: a shape computation on dynamic dims, or
  /// a constant integer tensor of rank <= 1 (its elements as attributes).
  std::optional<SymbolicInts> symbolicInts(unsigned i);
  /// Whether input `i` is a shape computation on dynamic dims.
  bool isSymbolic(unsigned i) const;

  const onnx::AttributeProto *attr(StringRef name) const;
  int64_t intAttr(StringRef name, int64_t defaultValue) const;
  float floatAttr(StringRef name, float defaultValue) const;
  std::string stringAttr(StringRef name, StringRef defaultValue) const;
  std::optional<SmallVector<int64_t>> intsAttr(StringRef name) const;

  unsigned numOutputs() const { return node.output_size(); }
  bool hasOutput(unsigned i) const;
  void setOutput(unsigned i, Value value);
  void setConstantOutput(unsigned i, HostTensor value);
  /// Defines output `i` as symbolic integers; a constant when all of them are
  /// known.
  void setSymbolicOutput(unsigned i, SymbolicInts value);
  /// Defines output `i` as a constant of any size (e.g. a Constant node).
  void setConstantOutput(unsigned i, ElementsAttr value);
  /// Converts a tensor attribute (Constant's `value`) like an initializer.
  FailureOr<ElementsAttr> convertTensor(const onnx::TensorProto &tensor);

  /// An error located at the node, prefixed with its name and op type.
  InFlightDiagnostic error();
  /// Fails with a message naming the graph inputs whose dynamic dims reach
  /// this node and the --input-shape flag that fixes them.
  LogicalResult dynamicShapeError(StringRef what);
  /// Normalizes a possibly negative axis against `rank`, or reports it.
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);

private:
  GraphImporter &graph;
};

/// Imports `n` as arithmetic on symbolic integers when it computes on shape
/// values (SymbolicInts) and nothing else: Gather, Slice, Concat, Unsqueeze,
/// Squeeze, Reshape, Cast, Identity, Add, Sub, Mul, Div, Mod, Neg, Min, Max,
/// Equal, Not, Where, Size. Returns nullopt when it does not apply (the op's
/// handler then imports the node), else whether it succeeded.
std::optional<LogicalResult> importSymbolicShapeOp(NodeImporter &n);

using OpHandler = std::function<LogicalResult(NodeImporter &)>;

/// The op handlers, each registered for the opset that introduced the
/// behaviour it implements; it serves that opset and later ones until the
/// next registration of the same op. Opset differences are separate
/// registrations, never version checks inside a handler.
class OpRegistry {
public:
  struct Entry {
    std::string domain;
    std::string opType;
    int64_t sinceVersion;
    OpHandler handler;
    std::string family;
  };

  void add(StringRef opType, int64_t sinceVersion, OpHandler handler,
           StringRef domain = "");
  /// The family (Ops/ file) subsequent add() calls belong to.
  void setFamily(StringRef name) { family = name.str(); }
  /// The handler for `opType` at `opset` of `domain`, or null.
  const OpHandler *lookup(StringRef domain, StringRef opType,
                          int64_t opset) const;
  /// Every registration, sorted by (domain, op type, since version).
  ArrayRef<Entry> entries() const { return registered; }

private:
  SmallVector<Entry> registered;
  std::string family;
};

/// The registry of every handler the importer has.
const OpRegistry &getOpRegistry();

// One registration function per op family (lib/Target/ONNX/Ops/).
void registerElementwiseOps(OpRegistry &registry);
void registerNormalizationOps(OpRegistry &registry);
void registerMatrixProductOps(OpRegistry &registry);
void registerConvolutionOps(OpRegistry &registry);
void registerShapeOps(OpRegistry &registry);
void registerIndexingOps(OpRegistry &registry);
void registerConstantOps(OpRegistry &registry);
void registerControlOps(OpRegistry &registry);
void registerAttnResOps(OpRegistry &registry);

} // namespace mlir::attnres::onnx_import

#endif // ATTNRES_LIB_TARGET_ONNX_IMPORTERINTERNAL_H
