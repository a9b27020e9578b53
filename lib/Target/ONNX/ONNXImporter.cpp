//===- ONNXImporter.cpp - ONNX graph to MLIR function ---------------------===//
//
// Parses an ONNX model, validates it (opsets, supported ops, dangling names,
// cycles, shapes, tensor data, external data locations), and walks its nodes
// in topological order, handing each to its op handler.
//
//===----------------------------------------------------------------------===//

#include "ImporterInternal.h"
#include "attnres/Target/ONNX/ONNXImport.h"

#include "attnres/Dialect/AttnRes/AttnResDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <map>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

int64_t mlir::attnres::getMaxONNXOpset() { return ATTNRES_ONNX_MAX_OPSET; }

void mlir::attnres::registerONNXImportDialects(DialectRegistry &registry) {
  registry.insert<AttnResDialect, arith::ArithDialect, func::FuncDialect,
                  linalg::LinalgDialect, math::MathDialect,
                  tensor::TensorDialect, tosa::TosaDialect>();
}

std::string mlir::attnres::parseInputShapeSpec(StringRef spec,
                                               ONNXImportOptions &options) {
  auto [name, dims] = spec.rsplit('=');
  if (name.empty() || dims.empty() || !spec.contains('='))
    return "expected NAME=DIMS (e.g. input_ids=1x16), got '" + spec.str() + "'";
  SmallVector<int64_t> shape;
  SmallVector<StringRef> parts;
  if (dims != "scalar")
    dims.split(parts, 'x');
  for (StringRef part : parts) {
    int64_t d;
    if (part == "?") {
      shape.push_back(ShapedType::kDynamic);
    } else if (part.getAsInteger(10, d) || d < 0 || d > kMaxDim) {
      return "invalid dimension '" + part.str() + "' in '" + spec.str() +
             "': expected an integer in [0, 2^32] or '?'";
    } else {
      shape.push_back(d);
    }
  }
  options.inputShapes[name] = shape;
  return "";
}

std::string mlir::attnres::parseMaxDimsSpec(StringRef spec,
                                            ONNXImportOptions &options) {
  SmallVector<StringRef> parts;
  spec.split(parts, ',');
  for (StringRef part : parts) {
    auto [name, value] = part.split('=');
    int64_t bound;
    if (name.empty() || !part.contains('=') || value.getAsInteger(10, bound) ||
        bound < 1 || bound > kMaxDim)
      return "expected NAME=BOUND with a bound in [1, 2^32] (e.g. "
             "seq=4096), got '" +
             part.str() + "'";
    options.maxDims[name] = bound;
  }
  return "";
}

namespace mlir::attnres::onnx_import {

/// Marks a materialized constant TOSA cannot represent faithfully, with the
/// reason; an error if it survives dead-code removal.
static constexpr llvm::StringLiteral kUnrepresentableAttr =
    "attnres.unrepresentable";

/// Imports one ONNX model into one func.func.
class GraphImporter {
public:
  GraphImporter(MLIRContext *context, StringRef path, StringRef bytes,
                const ONNXImportOptions &options)
      : context(context), path(path.str()), bytes(bytes), options(options),
        fileLoc(FileLineColLoc::get(context, path, 0, 0)) {}

  OwningOpRef<ModuleOp> run();

  // Used by NodeImporter.
  Value valueOf(StringRef name, ImplicitLocOpBuilder &b);
  const HostTensor *constantOf(StringRef name);
  void define(StringRef name, Value value) {
    values[name] = value;
    if (options.tensorTypes)
      (*options.tensorTypes)[name] = value.getType();
    if (options.annotateTensorNames)
      annotateTensorName(name, value);
  }
  void annotateTensorName(StringRef name, Value value) {
    auto result = dyn_cast<OpResult>(value);
    if (!result)
      return;
    // Each name goes with the type it had: patterns that clone an op into
    // another type keep its attributes, and the copy is not that tensor.
    Operation *op = result.getOwner();
    SmallVector<Attribute> names(op->getNumResults(),
                                 StringAttr::get(context, ""));
    SmallVector<Attribute> types(op->getNumResults(),
                                 TypeAttr::get(NoneType::get(context)));
    if (auto old = op->getAttrOfType<ArrayAttr>(kTensorNamesAttrName))
      llvm::copy(old.getValue(), names.begin());
    if (auto old = op->getAttrOfType<ArrayAttr>(kTensorTypesAttrName))
      llvm::copy(old.getValue(), types.begin());
    unsigned i = result.getResultNumber();
    if (!cast<StringAttr>(names[i]).empty())
      return;
    names[i] = StringAttr::get(context, name);
    types[i] = TypeAttr::get(value.getType());
    op->setAttr(kTensorNamesAttrName, ArrayAttr::get(context, names));
    op->setAttr(kTensorTypesAttrName, ArrayAttr::get(context, types));
  }
  void defineConstant(StringRef name, HostTensor value) {
    constants[name] = value.toAttr();
    hostCache[name] = std::move(value);
  }
  void defineConstant(StringRef name, ElementsAttr value) {
    constants[name] = value;
  }
  void defineSymbolic(StringRef name, SymbolicInts value) {
    symbolics[name] = std::move(value);
  }
  const SymbolicInts *symbolicOf(StringRef name) const {
    auto it = symbolics.find(name);
    return it == symbolics.end() ? nullptr : &it->second;
  }
  FailureOr<ElementsAttr> convertTensor(const onnx::TensorProto &tensor);
  LogicalResult dynamicShapeError(InFlightDiagnostic diag, StringRef what);
  Location nodeLoc(const onnx::NodeProto &node, size_t index) const;

private:
  InFlightDiagnostic fileError() { return emitError(fileLoc); }
  LogicalResult load();
  LogicalResult checkOpsets();
  LogicalResult checkSupportedOps();
  LogicalResult checkArity();
  LogicalResult checkNodeResults(NodeImporter &importer);
  LogicalResult checkInputTypes(NodeImporter &importer);
  LogicalResult verifyNewOps(NodeImporter &importer, Block *block,
                             Operation *previousLast);
  /// The element type of a defined value, without materializing constants.
  Type elementTypeOfName(StringRef name) const;
  FailureOr<SmallVector<size_t>> topologicalOrder();
  FailureOr<RankedTensorType> convertInputType(const onnx::ValueInfoProto &);
  /// The MLIR element type of `dataType`, or an error naming `subject`.
  FailureOr<Type> supportedElementType(int32_t dataType,
                                       const llvm::Twine &subject);
  FailureOr<std::unique_ptr<llvm::MemoryBuffer>>
  readExternalData(const onnx::TensorProto &tensor, uint64_t expectedBytes);
  int64_t opsetOf(StringRef domain) const;

  MLIRContext *context;
  std::string path;
  StringRef bytes;
  const ONNXImportOptions &options;
  Location fileLoc;
  onnx::ModelProto model;
  std::map<std::string, int64_t> opsets;
  llvm::StringMap<Value> values;
  llvm::StringMap<ElementsAttr> constants;
  llvm::StringMap<std::optional<HostTensor>> hostCache;
  llvm::StringMap<Value> materialized;
  /// Shape computations on dynamic dims, materialized as tensors only where
  /// a consumer reads them as data.
  llvm::StringMap<SymbolicInts> symbolics;
  /// Graph inputs with dynamic dims and the model's names for their dims
  /// (dim_param, or "?"), for error messages.
  SmallVector<std::pair<std::string, SmallVector<std::string>>> dynamicInputs;
};

} // namespace mlir::attnres::onnx_import

static StringRef canonicalDomain(StringRef domain) {
  return domain == "ai.onnx" ? StringRef() : domain;
}

int64_t GraphImporter::opsetOf(StringRef domain) const {
  auto it = opsets.find(canonicalDomain(domain).str());
  return it == opsets.end() ? -1 : it->second;
}

Location GraphImporter::nodeLoc(const onnx::NodeProto &node,
                                size_t index) const {
  std::string name = node.name().empty()
                         ? node.op_type() + "#" + std::to_string(index)
                         : node.name();
  return NameLoc::get(StringAttr::get(context, name), fileLoc);
}

//===----------------------------------------------------------------------===//
// Loading and validation
//===----------------------------------------------------------------------===//

LogicalResult GraphImporter::load() {
  google::protobuf::io::ArrayInputStream stream(bytes.data(), bytes.size());
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(std::numeric_limits<int>::max());
  if (bytes.empty() || !model.ParseFromCodedStream(&coded) ||
      !coded.ConsumedEntireMessage())
    return fileError() << "not a valid ONNX model: the file is not a "
                          "complete ModelProto protobuf (truncated or "
                          "another format?)";
  if (!model.has_graph())
    return fileError() << "not a valid ONNX model: it has no graph";
  if (model.graph().node_size() == 0)
    return fileError() << "the ONNX graph '" << model.graph().name()
                       << "' is empty: it has no nodes";
  return success();
}

LogicalResult GraphImporter::checkOpsets() {
  for (const onnx::OperatorSetIdProto &set : model.opset_import())
    opsets[canonicalDomain(set.domain()).str()] = set.version();
  int64_t opset = opsetOf("");
  if (opset < 0)
    return fileError() << "the model imports no default-domain (ai.onnx) "
                          "opset";
  if (opset < kMinONNXOpset || opset > getMaxONNXOpset())
    return fileError() << "unsupported ai.onnx opset " << opset
                       << ": supported opsets are " << kMinONNXOpset << " to "
                       << getMaxONNXOpset()
                       << (opset < kMinONNXOpset
                               ? " (convert the model with "
                                 "onnx.version_converter)"
                               : " (the newest the installed onnx defines)");
  return success();
}

LogicalResult GraphImporter::checkSupportedOps() {
  // One error for the whole model: users fix models in batches, not one op
  // at a time.
  std::map<std::string, int> unsupported;
  for (const onnx::NodeProto &node : model.graph().node()) {
    StringRef domain = canonicalDomain(node.domain());
    if (opsetOf(domain) < 0) {
      return emitError(nodeLoc(node, 0))
             << "node '" << node.name() << "' (" << node.op_type()
             << ") uses domain '" << node.domain()
             << "', which the model does not import in opset_import";
    }
    if (!getOpRegistry().lookup(domain, node.op_type(), opsetOf(domain)))
      ++unsupported[(domain.empty() ? "" : domain.str() + ".") +
                    node.op_type()];
  }
  if (unsupported.empty())
    return success();
  InFlightDiagnostic diag = fileError();
  diag << "unsupported ONNX ops: ";
  llvm::interleaveComma(unsupported, diag, [&](const auto &entry) {
    diag << entry.first << " (x" << entry.second << ")";
  });
  return diag;
}

LogicalResult GraphImporter::checkArity() {
  // Every node is checked against its op's schema at the model's opset before
  // any handler runs, so handlers never see an arity ONNX forbids; all bad
  // nodes are reported at once.
  bool ok = true;
  for (auto [index, node] : llvm::enumerate(model.graph().node())) {
    StringRef domain = canonicalDomain(node.domain());
    if (!domain.empty())
      continue;
    auto nodeError = [&, index = index, &node = node]() {
      ok = false;
      return emitError(nodeLoc(node, index))
             << "node '" << node.name() << "' (" << node.op_type() << "): ";
    };
    int64_t opset = opsetOf(domain), introduced;
    const ONNXSchema *schema =
        lookupONNXSchema(node.op_type(), opset, &introduced);
    if (!schema && introduced < 0)
      continue; // not an ONNX op: reported with the unsupported ones
    if (!schema) {
      nodeError() << node.op_type() << " does not exist in ai.onnx opset "
                  << opset << "; it was introduced in opset " << introduced;
      continue;
    }
    int64_t numIn = node.input_size(), numOut = node.output_size();
    if (numIn < schema->minInputs || numIn > schema->maxInputs) {
      nodeError() << "has " << numIn << " inputs but " << node.op_type() << "-"
                  << schema->sinceVersion << " takes " << schema->minInputs
                  << (schema->maxInputs == schema->minInputs ? ""
                      : schema->maxInputs == std::numeric_limits<int>::max()
                          ? " or more"
                          : " to " + std::to_string(schema->maxInputs));
      continue;
    }
    if (numOut < schema->minOutputs || numOut > schema->maxOutputs) {
      nodeError() << "has " << numOut << " outputs but " << node.op_type()
                  << "-" << schema->sinceVersion << " produces "
                  << schema->minOutputs
                  << (schema->maxOutputs == schema->minOutputs ? ""
                      : schema->maxOutputs == std::numeric_limits<int>::max()
                          ? " or more"
                          : " to " + std::to_string(schema->maxOutputs));
      continue;
    }
    for (int64_t i = 0; i < numIn && i < 64; ++i) {
      if ((schema->requiredInputs >> i & 1) && node.input(i).empty()) {
        nodeError() << "required input #" << i << " is empty";
        break;
      }
    }
  }
  return success(ok);
}

FailureOr<SmallVector<size_t>> GraphImporter::topologicalOrder() {
  const onnx::GraphProto &graph = model.graph();
  llvm::StringMap<size_t> producer;
  llvm::StringSet<> available;
  for (const onnx::ValueInfoProto &input : graph.input())
    available.insert(input.name());
  for (const onnx::TensorProto &init : graph.initializer())
    available.insert(init.name());
  for (auto [index, node] : llvm::enumerate(graph.node())) {
    for (const std::string &out : node.output()) {
      if (out.empty())
        continue;
      if (available.contains(out) || !producer.try_emplace(out, index).second)
        return LogicalResult(
            emitError(nodeLoc(node, index))
            << "node '" << node.name() << "' (" << node.op_type()
            << ") redefines '" << out
            << "', which is already a graph input, initializer or "
               "node output");
    }
  }
  // Kahn's algorithm: ONNX requires topological order, but exporters and
  // hand edits do not always deliver it.
  size_t numNodes = graph.node_size();
  SmallVector<unsigned> pending(numNodes, 0);
  SmallVector<SmallVector<size_t>> users(numNodes);
  for (auto [index, node] : llvm::enumerate(graph.node())) {
    for (const std::string &in : node.input()) {
      if (in.empty() || available.contains(in))
        continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return LogicalResult(emitError(nodeLoc(node, index))
                             << "node '" << node.name() << "' ("
                             << node.op_type() << ") reads '" << in
                             << "', which no node, graph input or initializer "
                                "defines");
      ++pending[index];
      users[it->second].push_back(index);
    }
  }
  SmallVector<size_t> order, ready;
  for (size_t i = 0; i < numNodes; ++i)
    if (pending[i] == 0)
      ready.push_back(i);
  while (!ready.empty()) {
    size_t n = ready.front();
    ready.erase(ready.begin());
    order.push_back(n);
    for (size_t user : users[n])
      if (--pending[user] == 0)
        ready.push_back(user);
  }
  if (order.size() == numNodes)
    return order;
  // What Kahn's algorithm leaves is the cycles plus everything downstream of
  // them; peel off nodes none of whose users remain to name only the cycles.
  SmallVector<bool> remaining(numNodes);
  for (size_t i = 0; i < numNodes; ++i)
    remaining[i] = pending[i] != 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < numNodes; ++i)
      if (remaining[i] &&
          llvm::none_of(users[i], [&](size_t u) { return remaining[u]; })) {
        remaining[i] = false;
        changed = true;
      }
  }
  SmallVector<std::string> cyclic;
  for (size_t i = 0; i < numNodes; ++i)
    if (remaining[i])
      cyclic.push_back("'" + graph.node(i).name() + "' (" +
                       graph.node(i).op_type() + ")");
  return LogicalResult(fileError()
                       << "the ONNX graph has a cycle through nodes "
                       << llvm::join(cyclic, ", "));
}

FailureOr<Type>
GraphImporter::supportedElementType(int32_t dataType,
                                    const llvm::Twine &subject) {
  FailureOr<Type> type = convertElementType(dataType, context);
  if (failed(type))
    return LogicalResult(fileError()
                         << subject << " has " << dataTypeName(dataType)
                         << " elements, which the importer does not support");
  return type;
}

FailureOr<RankedTensorType>
GraphImporter::convertInputType(const onnx::ValueInfoProto &info) {
  const std::string &name = info.name();
  if (!info.type().has_tensor_type())
    return LogicalResult(fileError()
                         << "graph input '" << name << "' is not a tensor");
  const onnx::TypeProto::Tensor &tensor = info.type().tensor_type();
  FailureOr<Type> elementType =
      supportedElementType(tensor.elem_type(), "graph input '" + name + "'");
  if (failed(elementType))
    return failure();
  if (elementType->isUnsignedInteger())
    return LogicalResult(fileError()
                         << "graph input '" << name << "' has "
                         << dataTypeName(tensor.elem_type())
                         << " elements: unsigned inputs are not supported");
  auto override = options.inputShapes.find(name);
  if (!tensor.has_shape() && override == options.inputShapes.end())
    return LogicalResult(fileError()
                         << "graph input '" << name
                         << "' has unknown rank; pass --input-shape " << name
                         << "=DIMS");
  SmallVector<int64_t> shape;
  SmallVector<std::string> dimNames;
  for (auto [i, dim] : llvm::enumerate(tensor.shape().dim())) {
    dimNames.push_back(dim.has_dim_value() ? std::to_string(dim.dim_value())
                       : dim.dim_param().empty() ? "?"
                                                 : "<" + dim.dim_param() + ">");
    if (!dim.has_dim_value()) {
      shape.push_back(ShapedType::kDynamic);
      continue;
    }
    int64_t d = dim.dim_value();
    if (d < 0 || d > kMaxDim)
      return LogicalResult(fileError()
                           << "graph input '" << name << "' has dimension " << i
                           << " of size " << d << ", outside [0, 2^32]");
    shape.push_back(d);
  }
  if (override != options.inputShapes.end()) {
    ArrayRef<int64_t> fixed = override->second;
    if (tensor.has_shape() && fixed.size() != shape.size())
      return LogicalResult(fileError()
                           << "--input-shape " << name << " has rank "
                           << fixed.size() << " but the model's input has rank "
                           << shape.size());
    for (size_t i = 0; i < shape.size(); ++i)
      if (!ShapedType::isDynamic(shape[i]) &&
          !ShapedType::isDynamic(fixed[i]) && shape[i] != fixed[i])
        return LogicalResult(fileError()
                             << "--input-shape " << name << " sets dimension "
                             << i << " to " << fixed[i]
                             << " but the model fixes it to " << shape[i]);
    shape.assign(fixed.begin(), fixed.end());
  }
  SmallVector<int64_t> staticDims(
      llvm::make_filter_range(shape, [](int64_t d) { return d >= 0; }));
  if (!checkedNumElements(staticDims))
    return LogicalResult(fileError()
                         << "graph input '" << name << "' has shape ["
                         << llvm::join(llvm::map_range(
                                           shape,
                                           [](int64_t d) {
                                             return ShapedType::isDynamic(d)
                                                        ? std::string("?")
                                                        : std::to_string(d);
                                           }),
                                       ", ")
                         << "], more than 2^32 elements");
  if (llvm::is_contained(shape, 0))
    return LogicalResult(fileError()
                         << "graph input '" << name
                         << "' has a zero-sized dimension; empty tensors are "
                            "not supported at run time");
  auto type = RankedTensorType::get(shape, *elementType);
  if (!type.hasStaticShape())
    dynamicInputs.emplace_back(name, dimNames);
  return type;
}

static int64_t elementByteSize(int32_t dataType) {
  switch (dataType) {
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
    return 8;
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return 4;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return 2;
  default:
    return 1;
  }
}

FailureOr<std::unique_ptr<llvm::MemoryBuffer>>
GraphImporter::readExternalData(const onnx::TensorProto &tensor,
                                uint64_t expectedBytes) {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const onnx::StringStringEntryProto &entry : tensor.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset" || entry.key() == "length") {
      uint64_t v;
      if (StringRef(entry.value()).getAsInteger(10, v))
        return LogicalResult(
            fileError() << "tensor '" << tensor.name() << "' has external data "
                        << entry.key() << " '" << entry.value()
                        << "', which is not a non-negative integer");
      (entry.key() == "offset" ? offset : length.emplace()) = v;
    }
  }
  if (location.empty())
    return LogicalResult(fileError()
                         << "tensor '" << tensor.name()
                         << "' has external data without a location");
  // External data may only come from the model's folder: a model file must
  // not be able to make the importer read arbitrary files.
  SmallString<256> modelDir(path);
  llvm::sys::path::remove_filename(modelDir);
  if (modelDir.empty())
    modelDir = ".";
  if (llvm::sys::path::is_absolute(location) ||
      llvm::is_contained(llvm::make_range(llvm::sys::path::begin(location),
                                          llvm::sys::path::end(location)),
                         ".."))
    return LogicalResult(fileError()
                         << "tensor '" << tensor.name()
                         << "' has external data at '" << location
                         << "', which is outside the model's folder; locations "
                            "must be relative paths inside it");
  SmallString<256> file(modelDir);
  llvm::sys::path::append(file, location);
  SmallString<256> realDir, realFile;
  if (llvm::sys::fs::real_path(modelDir, realDir) ||
      llvm::sys::fs::real_path(file, realFile))
    return LogicalResult(
        fileError() << "tensor '" << tensor.name() << "' has external data in '"
                    << location << "', which does not exist next to the model");
  if (!StringRef(realFile).starts_with((realDir + "/").str()))
    return LogicalResult(
        fileError() << "tensor '" << tensor.name() << "' has external data at '"
                    << location << "', which resolves to '" << realFile
                    << "' outside the model's folder (a symbolic link?)");
  uint64_t fileSize;
  if (llvm::sys::fs::file_size(realFile, fileSize))
    return LogicalResult(fileError() << "cannot stat external data file '"
                                     << location << "'");
  uint64_t wanted = length.value_or(expectedBytes);
  if (wanted != expectedBytes)
    return LogicalResult(
        fileError() << "tensor '" << tensor.name() << "' has external data "
                    << "length " << wanted << " but its shape needs "
                    << expectedBytes << " bytes");
  if (offset > fileSize || fileSize - offset < wanted)
    return LogicalResult(
        fileError() << "external data file '" << location << "' is too short "
                    << "for tensor '" << tensor.name() << "': it needs "
                    << wanted << " bytes at offset " << offset
                    << " but the file has " << fileSize << " bytes");
  auto slice = llvm::MemoryBuffer::getFileSlice(realFile, wanted, offset);
  if (!slice)
    return LogicalResult(fileError()
                         << "cannot read external data file '" << location
                         << "': " << slice.getError().message());
  return std::move(*slice);
}

FailureOr<ElementsAttr>
GraphImporter::convertTensor(const onnx::TensorProto &tensor) {
  const std::string &name = tensor.name();
  FailureOr<Type> elementType =
      supportedElementType(tensor.data_type(), "tensor '" + name + "'");
  if (failed(elementType))
    return failure();
  SmallVector<int64_t> shape;
  uint64_t numElements = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0 || d > kMaxDim ||
        (d && numElements > uint64_t(kMaxTensorElements) / d))
      return LogicalResult(fileError()
                           << "tensor '" << name << "' has dimension " << d
                           << ", which is negative or absurdly "
                              "large");
    numElements *= d;
    shape.push_back(d);
  }
  auto type = RankedTensorType::get(shape, *elementType);
  int32_t dt = tensor.data_type();
  uint64_t expectedBytes = numElements * elementByteSize(dt);

  std::unique_ptr<llvm::MemoryBuffer> external;
  StringRef raw;
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    FailureOr<std::unique_ptr<llvm::MemoryBuffer>> data =
        readExternalData(tensor, expectedBytes);
    if (failed(data))
      return failure();
    external = std::move(*data);
    raw = external->getBuffer();
  } else if (tensor.has_raw_data()) {
    raw = tensor.raw_data();
    if (raw.size() != expectedBytes)
      return LogicalResult(fileError()
                           << "tensor '" << name << "' has " << raw.size()
                           << " bytes of data but its " << dataTypeName(dt)
                           << " shape ["
                           << llvm::make_range(shape.begin(), shape.end())
                           << "] needs " << expectedBytes);
  }

  // Typed fields: decode into raw little-endian bytes so that one path builds
  // every attribute.
  std::string decoded;
  if (raw.data() == nullptr || (raw.empty() && numElements != 0)) {
    auto check = [&](int count) -> LogicalResult {
      if (uint64_t(count) == numElements)
        return success();
      return fileError() << "tensor '" << name << "' has " << count
                         << " values but its shape needs " << numElements;
    };
    // Each typed field holds one value per element, narrower types widened.
    auto decode = [&](const auto &field) -> LogicalResult {
      if (failed(check(field.size())))
        return failure();
      size_t bytes = elementByteSize(dt);
      for (auto value : field)
        decoded.append(reinterpret_cast<const char *>(&value), bytes);
      return success();
    };
    LogicalResult decodedAll = [&] {
      switch (dt) {
      case onnx::TensorProto::FLOAT:
        return decode(tensor.float_data());
      case onnx::TensorProto::DOUBLE:
        return decode(tensor.double_data());
      case onnx::TensorProto::INT64:
        return decode(tensor.int64_data());
      case onnx::TensorProto::UINT64:
      case onnx::TensorProto::UINT32:
        return decode(tensor.uint64_data());
      default:
        return decode(tensor.int32_data());
      }
    }();
    if (failed(decodedAll))
      return failure();
    raw = decoded;
  }

  if (dt == onnx::TensorProto::BOOL) {
    SmallVector<bool> bits;
    for (char c : raw)
      bits.push_back(c != 0);
    return ElementsAttr(DenseElementsAttr::get(type, bits));
  }
  // Unsigned tensors stay inline: valueOf reinterprets them as signless,
  // which needs their values.
  if (raw.size() >= options.resourceThresholdBytes &&
      !elementType->isUnsignedInteger()) {
    std::string blobName = "onnx." + name;
    auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(raw.data(), raw.size()), alignof(uint64_t));
    return ElementsAttr(
        DenseResourceElementsAttr::get(type, blobName, std::move(blob)));
  }
  return ElementsAttr(DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(raw.data(), raw.size())));
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

const HostTensor *GraphImporter::constantOf(StringRef name) {
  auto it = constants.find(name);
  if (it == constants.end())
    return nullptr;
  auto cached = hostCache.find(name);
  if (cached == hostCache.end())
    cached =
        hostCache.try_emplace(name, HostTensor::fromAttr(it->second)).first;
  return cached->second ? &*cached->second : nullptr;
}

Value GraphImporter::valueOf(StringRef name, ImplicitLocOpBuilder &b) {
  if (Value v = values.lookup(name))
    return v;
  if (Value v = materialized.lookup(name))
    return v;
  if (const SymbolicInts *sym = symbolicOf(name)) {
    SmallVector<Value> elements;
    for (OpFoldResult e : sym->elements) {
      Value index = getValueOrCreateConstantIndexOp(b, b.getLoc(), e);
      elements.push_back(
          sym->elementType.isInteger(1)
              ? arith::CmpIOp::create(b, arith::CmpIPredicate::ne, index,
                                      arith::ConstantIndexOp::create(b, 0))
                    .getResult()
              : arith::IndexCastOp::create(b, sym->elementType, index)
                    .getResult());
    }
    Value v = tensor::FromElementsOp::create(
        b, RankedTensorType::get(sym->shape, sym->elementType), elements);
    materialized[name] = v;
    return v;
  }
  auto it = constants.find(name);
  if (it == constants.end())
    return nullptr;
  ElementsAttr attr = it->second;
  // TOSA has no unsigned types: an unsigned constant becomes signless, which
  // keeps its meaning only when no value has the sign bit set. Handlers fetch
  // inputs they then fold, so whether it is really used at run time is known
  // only once dead constants are gone (see run()).
  bool unrepresentable = false;
  if (auto type = dyn_cast<RankedTensorType>(attr.getType());
      type && type.getElementType().isUnsignedInteger()) {
    auto dense = dyn_cast<DenseIntElementsAttr>(attr);
    unrepresentable =
        !dense || llvm::any_of(dense.getValues<APInt>(),
                               [](const APInt &v) { return v.isSignBitSet(); });
    Type signless = IntegerType::get(
        context, type.getElementType().getIntOrFloatBitWidth());
    attr = dense ? ElementsAttr(dense.bitcast(signless))
                 : ElementsAttr(DenseElementsAttr::get(
                       type.clone(signless), b.getZeroAttr(signless)));
  }
  // Constants are created where first used so that folded shape constants
  // nobody reads never appear in the output.
  Value v = tosa::ConstOp::create(b, attr.getType(), attr);
  std::string why;
  if (unrepresentable)
    why = "'" + name.str() +
          "' is an unsigned tensor used at run time with values that do not "
          "fit the signed type; unsigned tensors are supported only when "
          "folded on the host";
  else if (cast<ShapedType>(attr.getType()).getNumElements() == 0)
    why = "'" + name.str() +
          "' is an empty tensor used at run time; empty tensors are not "
          "supported at run time";
  if (!why.empty())
    v.getDefiningOp()->setAttr(kUnrepresentableAttr, b.getStringAttr(why));
  materialized[name] = v;
  return v;
}

LogicalResult GraphImporter::dynamicShapeError(InFlightDiagnostic diag,
                                               StringRef what) {
  diag << what << " depends on dynamic dimensions";
  if (dynamicInputs.empty())
    return diag;
  diag << "; fix them with";
  for (auto &[name, dims] : dynamicInputs)
    diag << " --input-shape " << name << "=" << llvm::join(dims, "x");
  return diag;
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> GraphImporter::run() {
  if (failed(load()) || failed(checkOpsets()) || failed(checkArity()) ||
      failed(checkSupportedOps()))
    return nullptr;
  FailureOr<SmallVector<size_t>> order = topologicalOrder();
  if (failed(order))
    return nullptr;
  const onnx::GraphProto &graph = model.graph();

  for (const auto &entry : options.inputShapes) {
    if (!llvm::any_of(graph.input(), [&](const onnx::ValueInfoProto &input) {
          return input.name() == entry.getKey();
        })) {
      InFlightDiagnostic diag = fileError();
      diag << "--input-shape names '" << entry.getKey()
           << "', which is not a graph input; inputs are: ";
      llvm::interleaveComma(
          graph.input(), diag,
          [&](const onnx::ValueInfoProto &input) { diag << input.name(); });
      return nullptr;
    }
  }

  for (const onnx::TensorProto &init : graph.initializer()) {
    FailureOr<ElementsAttr> attr = convertTensor(init);
    if (failed(attr))
      return nullptr;
    constants[init.name()] = *attr;
  }

  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  SmallVector<SmallVector<StringRef>> argDimNames;
  for (const onnx::ValueInfoProto &input : graph.input()) {
    // IR version 3 models list initializers as inputs too.
    if (constants.contains(input.name()))
      continue;
    FailureOr<RankedTensorType> type = convertInputType(input);
    if (failed(type))
      return nullptr;
    argTypes.push_back(*type);
    argNames.push_back(input.name());
    // The names of dynamic dims, which tie one input's to another's.
    SmallVector<StringRef> dimNames;
    bool named = false;
    for (auto [d, dim] :
         llvm::enumerate(input.type().tensor_type().shape().dim())) {
      bool keep = type->isDynamicDim(d) && !dim.dim_param().empty();
      dimNames.push_back(keep ? StringRef(dim.dim_param()) : StringRef());
      named |= keep;
    }
    argDimNames.push_back(named && int64_t(dimNames.size()) == type->getRank()
                              ? dimNames
                              : SmallVector<StringRef>());
  }

  for (const auto &entry : options.maxDims) {
    if (llvm::any_of(argDimNames, [&](ArrayRef<StringRef> dims) {
          return llvm::is_contained(dims, entry.getKey());
        }))
      continue;
    llvm::StringSet<> known;
    for (ArrayRef<StringRef> dims : argDimNames)
      for (StringRef dim : dims)
        if (!dim.empty())
          known.insert(dim);
    InFlightDiagnostic diag = fileError();
    diag << "--max-dims names '" << entry.getKey()
         << "', which is no dynamic dim of a graph input";
    SmallVector<StringRef> names(known.keys());
    llvm::sort(names);
    if (names.empty())
      diag << "; the model names none";
    else
      diag << "; the model's are: " << llvm::join(names, ", ");
    return nullptr;
  }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  OpBuilder moduleBuilder(context);
  moduleBuilder.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(moduleBuilder, fileLoc, options.entryName,
                                   moduleBuilder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, name] : llvm::enumerate(argNames)) {
    func.setArgAttr(i, "onnx.name", moduleBuilder.getStringAttr(name));
    if (!argDimNames[i].empty())
      func.setArgAttr(i, kDimNamesAttrName,
                      moduleBuilder.getStrArrayAttr(argDimNames[i]));
    SmallVector<int64_t> bounds;
    for (StringRef dim : argDimNames[i])
      bounds.push_back(options.maxDims.lookup(dim) ? options.maxDims.lookup(dim)
                                                   : -1);
    if (llvm::any_of(bounds, [](int64_t b) { return b > 0; }))
      func.setArgAttr(i, kMaxDimsAttrName,
                      moduleBuilder.getDenseI64ArrayAttr(bounds));
    values[name] = entry->getArgument(i);
  }

  ImplicitLocOpBuilder b(fileLoc, context);
  b.setInsertionPointToEnd(entry);
  for (size_t index : *order) {
    const onnx::NodeProto &node = graph.node(index);
    b.setLoc(nodeLoc(node, index));
    StringRef domain = canonicalDomain(node.domain());
    NodeImporter importer(*this, node, b, opsetOf(domain));
    Operation *previousLast = entry->empty() ? nullptr : &entry->back();
    if (failed(checkInputTypes(importer)))
      return nullptr;
    // Shape arithmetic on dynamic dims stays symbolic; everything else goes
    // to the op's handler.
    std::optional<LogicalResult> symbolic =
        domain.empty() ? importSymbolicShapeOp(importer) : std::nullopt;
    if ((symbolic && failed(*symbolic)) ||
        (!symbolic &&
         failed((*getOpRegistry().lookup(domain, node.op_type(),
                                         importer.opset))(importer))) ||
        failed(checkNodeResults(importer)) ||
        failed(verifyNewOps(importer, entry, previousLast)))
      return nullptr;
  }

  SmallVector<Value> results;
  for (const onnx::ValueInfoProto &output : graph.output()) {
    b.setLoc(fileLoc);
    Value v = valueOf(output.name(), b);
    if (!v) {
      fileError() << "graph output '" << output.name()
                  << "' is not produced by any node";
      return nullptr;
    }
    if (output.type().has_tensor_type()) {
      int32_t declared = output.type().tensor_type().elem_type();
      FailureOr<Type> declaredType = convertElementType(declared, context);
      Type actual = cast<RankedTensorType>(v.getType()).getElementType();
      if (succeeded(declaredType) && *declaredType != actual) {
        fileError() << "graph output '" << output.name() << "' is declared "
                    << dataTypeName(declared) << " but computes " << actual;
        return nullptr;
      }
    }
    results.push_back(v);
  }
  func::ReturnOp::create(b, results);
  func.setFunctionType(
      b.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, output] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", b.getStringAttr(output.name()));

  // Handlers fetch constants they end up folding; drop what nobody reads and
  // merge the repeated small constants (zero points, shapes).
  bool erased = true;
  while (erased) {
    erased = false;
    for (Operation &op :
         llvm::make_early_inc_range(llvm::reverse(entry->getOperations())))
      if (isOpTriviallyDead(&op)) {
        op.erase();
        erased = true;
      }
  }
  bool unrepresentable = false;
  for (Operation &op : entry->getOperations()) {
    if (auto why = op.getAttrOfType<StringAttr>(kUnrepresentableAttr)) {
      unrepresentable = true;
      emitError(op.getLoc()) << why.getValue();
    }
  }
  if (unrepresentable)
    return nullptr;
  PassManager cleanup(context);
  cleanup.addPass(createCSEPass());
  if (failed(verify(*module)) || failed(cleanup.run(*module))) {
    fileError() << "internal error: the imported module does not verify";
    return nullptr;
  }
  return module;
}

Type GraphImporter::elementTypeOfName(StringRef name) const {
  if (Value v = values.lookup(name))
    return cast<ShapedType>(v.getType()).getElementType();
  if (const SymbolicInts *sym = symbolicOf(name))
    return sym->elementType;
  auto it = constants.find(name);
  return it == constants.end()
             ? Type()
             : cast<ShapedType>(it->second.getType()).getElementType();
}

LogicalResult GraphImporter::checkInputTypes(NodeImporter &importer) {
  // The element types the node's schema allows, checked before the handler
  // runs: handlers then build only IR whose operand types TOSA accepts.
  const onnx::NodeProto &node = importer.node;
  if (!canonicalDomain(node.domain()).empty())
    return success();
  const ONNXSchema *schema = lookupONNXSchema(node.op_type(), importer.opset);
  if (!schema || schema->numTypedInputs == 0)
    return success();
  int32_t varType[8];
  int varInput[8];
  std::fill(std::begin(varType), std::end(varType), -1);
  for (unsigned i = 0; i < importer.numInputs(); ++i) {
    if (!importer.hasInput(i))
      continue;
    Type type = elementTypeOfName(node.input(i));
    if (!type)
      continue;
    unsigned pos = std::min(i, schema->numTypedInputs - 1);
    int32_t dt = onnxDataTypeOf(type);
    if (dt < 0 || dt >= 64 || !(schema->inputTypes[pos] >> dt & 1)) {
      InFlightDiagnostic diag = importer.error();
      diag << "input #" << i << " ('" << node.input(i) << "') has element type "
           << (dt < 0 ? "?" : dataTypeName(dt)) << ", which " << node.op_type()
           << "-" << schema->sinceVersion << " does not accept; it takes ";
      SmallVector<std::string> allowed;
      for (int32_t t = 0; t < 64; ++t)
        if (schema->inputTypes[pos] >> t & 1)
          allowed.push_back(dataTypeName(t));
      return diag << llvm::join(allowed, ", ");
    }
    int var = schema->inputTypeVar[pos];
    if (var < 0 || var >= 8)
      continue;
    if (varType[var] < 0) {
      varType[var] = dt;
      varInput[var] = i;
    } else if (varType[var] != dt) {
      return importer.error()
             << "inputs #" << varInput[var] << " and #" << i
             << " must have the same element type, got "
             << dataTypeName(varType[var]) << " and " << dataTypeName(dt);
    }
  }
  return success();
}

LogicalResult GraphImporter::verifyNewOps(NodeImporter &importer, Block *block,
                                          Operation *previousLast) {
  // Verified node by node so that a handler bug is reported at the node that
  // exposed it, not as an invalid module at the end.
  auto begin =
      previousLast ? std::next(previousLast->getIterator()) : block->begin();
  auto newOps = llvm::make_range(begin, block->end());
  // A constant TOSA cannot hold, now used: the user's problem, said as such
  // rather than as the verifier's complaint about the user. Looked for in
  // all the node's ops first, since an op built before the one that reads
  // the constant may already be invalid because of it (an empty Conv
  // weight makes empty im2col columns).
  for (Operation &op : newOps)
    for (Value operand : op.getOperands())
      if (Operation *def = operand.getDefiningOp())
        if (auto why = def->getAttrOfType<StringAttr>(kUnrepresentableAttr))
          return importer.error() << why.getValue();
  for (Operation &op : newOps) {
    // Handlers fetch constants they then fold; unused ones are erased
    // before the module is verified as a whole.
    if (!(isa<tosa::ConstOp>(op) && op.use_empty()) &&
        !op.hasAttr(kUnrepresentableAttr) && failed(verify(&op)))
      return importer.error()
             << "internal error: the importer built invalid IR for this "
                "node (see the error above); please report it";
  }
  return success();
}

LogicalResult GraphImporter::checkNodeResults(NodeImporter &importer) {
  const onnx::NodeProto &node = importer.node;
  for (unsigned i = 0; i < importer.numOutputs(); ++i) {
    if (!importer.hasOutput(i))
      continue;
    const std::string &name = node.output(i);
    if (constants.contains(name) || symbolics.contains(name))
      continue;
    Value v = values.lookup(name);
    if (!v)
      return importer.error() << "output #" << i << " ('" << name
                              << "') is not supported by the importer";
    // TOSA ops reject empty tensors, and absurd sizes mean a corrupt model:
    // both are reported here, at the node that makes them, never as an
    // invalid module later.
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> staticDims(llvm::make_filter_range(
        type.getShape(), [](int64_t d) { return d >= 0; }));
    if (llvm::is_contained(staticDims, 0) || !checkedNumElements(staticDims)) {
      InFlightDiagnostic diag = importer.error();
      diag << "output '" << name << "' has shape [";
      llvm::interleaveComma(type.getShape(), diag, [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          diag << "?";
        else
          diag << d;
      });
      return diag << (llvm::is_contained(staticDims, 0)
                          ? "]; empty tensors are not supported at run time"
                          : "], more than 2^32 elements");
    }
  }
  return success();
}

static OwningOpRef<ModuleOp> importModel(StringRef path, StringRef bytes,
                                         MLIRContext *context,
                                         const ONNXImportOptions &options) {
  // A library loads what it uses, not everything the caller registered.
  DialectRegistry registry;
  registerONNXImportDialects(registry);
  context->appendDialectRegistry(registry);
  context->loadDialect<AttnResDialect, arith::ArithDialect, func::FuncDialect,
                       linalg::LinalgDialect, math::MathDialect,
                       tensor::TensorDialect, tosa::TosaDialect>();
  return GraphImporter(context, path, bytes, options).run();
}

OwningOpRef<ModuleOp>
mlir::attnres::importONNXFile(StringRef path, MLIRContext *context,
                              const ONNXImportOptions &options) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << "cannot read ONNX model: " << file.getError().message();
    return nullptr;
  }
  return importModel(path, (*file)->getBuffer(), context, options);
}

void mlir::attnres::registerFromONNXTranslation() {
  static TranslateToMLIRRegistration registration(
      "import-onnx",
      "Import an ONNX model (func + TOSA/linalg/tensor, attnres.rms_norm)",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        // The buffer's name is the model's path: external data resolves
        // against its folder.
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        return importONNXBuffer(buffer->getBuffer(),
                                buffer->getBufferIdentifier(), context,
                                ONNXImportOptions());
      },
      registerONNXImportDialects);
}

OwningOpRef<ModuleOp>
mlir::attnres::importONNXBuffer(StringRef bytes, StringRef path,
                                MLIRContext *context,
                                const ONNXImportOptions &options) {
  return importModel(path, bytes, context, options);
}

//===----------------------------------------------------------------------===//
// NodeImporter
//===----------------------------------------------------------------------===//

NodeImporter::NodeImporter(GraphImporter &graph, const onnx::NodeProto &node,
                           ImplicitLocOpBuilder &builder, int64_t opset)
    : node(node), b(builder), opset(opset), graph(graph) {}

bool NodeImporter::hasInput(unsigned i) const {
  return i < numInputs() && !node.input(i).empty();
}

Value NodeImporter::input(unsigned i) {
  return hasInput(i) ? graph.valueOf(node.input(i), b) : Value();
}

RankedTensorType NodeImporter::inputType(unsigned i) {
  Value v = input(i);
  return v ? cast<RankedTensorType>(v.getType()) : RankedTensorType();
}

const HostTensor *NodeImporter::constant(unsigned i) {
  return hasInput(i) ? graph.constantOf(node.input(i)) : nullptr;
}

bool SymbolicInts::isConstant() const {
  return llvm::all_of(elements,
                      [](OpFoldResult e) { return isa<Attribute>(e); });
}

bool NodeImporter::isSymbolic(unsigned i) const {
  return hasInput(i) && graph.symbolicOf(node.input(i));
}

std::optional<SymbolicInts> NodeImporter::symbolicInts(unsigned i) {
  if (!hasInput(i))
    return std::nullopt;
  if (const SymbolicInts *sym = graph.symbolicOf(node.input(i)))
    return *sym;
  const HostTensor *c = constant(i);
  if (!c || c->isFloat() || c->shape.size() > 1)
    return std::nullopt;
  SymbolicInts r{c->shape, c->elementType, {}};
  for (int64_t v : c->ints)
    r.elements.push_back(b.getIndexAttr(v));
  return r;
}

void NodeImporter::setSymbolicOutput(unsigned i, SymbolicInts value) {
  if (!hasOutput(i))
    return;
  if (!value.isConstant()) {
    graph.defineSymbolic(node.output(i), std::move(value));
    return;
  }
  HostTensor r = HostTensor::empty(value.elementType, value.shape);
  for (OpFoldResult e : value.elements)
    r.ints.push_back(*getConstantIntValue(e));
  graph.defineConstant(node.output(i), std::move(r));
}

std::optional<SmallVector<int64_t>> NodeImporter::constantInts(unsigned i) {
  const HostTensor *t = constant(i);
  if (!t || t->isFloat())
    return std::nullopt;
  return t->ints;
}

const onnx::AttributeProto *NodeImporter::attr(StringRef name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t NodeImporter::intAttr(StringRef name, int64_t defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : defaultValue;
}

float NodeImporter::floatAttr(StringRef name, float defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : defaultValue;
}

std::string NodeImporter::stringAttr(StringRef name,
                                     StringRef defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : defaultValue.str();
}

std::optional<SmallVector<int64_t>>
NodeImporter::intsAttr(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

bool NodeImporter::hasOutput(unsigned i) const {
  return i < numOutputs() && !node.output(i).empty();
}

void NodeImporter::setOutput(unsigned i, Value value) {
  if (hasOutput(i))
    graph.define(node.output(i), value);
}

void NodeImporter::setConstantOutput(unsigned i, HostTensor value) {
  if (hasOutput(i))
    graph.defineConstant(node.output(i), std::move(value));
}

void NodeImporter::setConstantOutput(unsigned i, ElementsAttr value) {
  if (hasOutput(i))
    graph.defineConstant(node.output(i), value);
}

FailureOr<ElementsAttr>
NodeImporter::convertTensor(const onnx::TensorProto &tensor) {
  return graph.convertTensor(tensor);
}

InFlightDiagnostic NodeImporter::error() {
  return emitError(b.getLoc())
         << "node '" << node.name() << "' (" << node.op_type() << "): ";
}

LogicalResult NodeImporter::dynamicShapeError(StringRef what) {
  return graph.dynamicShapeError(error(), what);
}

FailureOr<int64_t> NodeImporter::normalizeAxis(int64_t axis, int64_t rank) {
  int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank)
    return LogicalResult(error() << "axis " << axis
                                 << " is out of range for rank " << rank);
  return normalized;
}
