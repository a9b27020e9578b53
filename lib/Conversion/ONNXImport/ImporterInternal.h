//===- ImporterInternal.h - Shared pieces of the ONNX importer --*- C++ -*-===//
//
// The interface between the graph walker (ONNXImporter.cpp), the per-op
// handlers (ONNXOpHandlers.cpp) and import-time constant folding
// (HostTensor.cpp). Not installed: the public API is ONNXImport.h.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_LIB_CONVERSION_ONNXIMPORT_IMPORTERINTERNAL_H
#define ATTNRES_LIB_CONVERSION_ONNXIMPORT_IMPORTERINTERNAL_H

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

/// Maps an ONNX TensorProto.DataType to an MLIR element type (integers are
/// signless; bool is i1). Fails for types the importer does not handle.
FailureOr<Type> convertElementType(int32_t dataType, MLIRContext *context);
/// The ONNX name of a TensorProto.DataType, for messages.
std::string dataTypeName(int32_t dataType);

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
    return isFloat() ? int64_t(floats[i]) : ints[i];
  }
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

/// Folding is reserved for shape-sized tensors; weights stay in the IR.
constexpr int64_t kMaxFoldedElements = 1 << 16;

/// Broadcasts two shapes with numpy rules (dynamic dims allowed). Fails when
/// two static dims differ and neither is 1.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a,
                                                ArrayRef<int64_t> b);

/// Applies `fn` element-wise with numpy broadcasting.
std::optional<HostTensor>
foldBinary(const HostTensor &a, const HostTensor &b, Type resultElementType,
           const std::function<double(double, double)> &fn);

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

  const onnx::AttributeProto *attr(StringRef name) const;
  int64_t intAttr(StringRef name, int64_t defaultValue) const;
  float floatAttr(StringRef name, float defaultValue) const;
  std::string stringAttr(StringRef name, StringRef defaultValue) const;
  std::optional<SmallVector<int64_t>> intsAttr(StringRef name) const;

  unsigned numOutputs() const { return node.output_size(); }
  bool hasOutput(unsigned i) const;
  void setOutput(unsigned i, Value value);
  void setConstantOutput(unsigned i, HostTensor value);
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

using OpHandler = std::function<LogicalResult(NodeImporter &)>;

/// The handler for (domain, op_type), or null when the op is unsupported.
const OpHandler *lookupOpHandler(StringRef domain, StringRef opType);

} // namespace mlir::attnres::onnx_import

#endif // ATTNRES_LIB_CONVERSION_ONNXIMPORT_IMPORTERINTERNAL_H
