//===- ONNXConvert.cpp - Block AttnRes models back out as ONNX ------------===//
//
// The analysis runs on the imported MLIR (raise-norms, findResidualStream,
// planBlockAttnRes: the rewrite's own decisions and refusals); the output is
// the original ModelProto edited in place, so every node, name, initializer,
// external data reference and metadata entry the rewrite does not touch stays
// as it was. Each residual add is replaced by the partial-sum add (or
// nothing, at a block's first layer), each norm that read the stream reads a
// call of ai.attnres.BlockAttnRes<N>, and with zero pseudo-queries each such
// norm's epsilon is divided by N^2, as the rewrite does.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/ONNXConvert/ONNXConvert.h"

#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

#include "onnx/onnx.pb.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// ONNX TensorProto.DataType values used here.
enum : int32_t {
  kFloat = onnx::TensorProto::FLOAT,
  kFloat16 = onnx::TensorProto::FLOAT16,
  kBFloat16 = onnx::TensorProto::BFLOAT16,
  kDouble = onnx::TensorProto::DOUBLE,
};

/// The ONNX data type of a float element type the stream can have.
std::optional<int32_t> onnxDataType(Type type) {
  if (type.isF32())
    return kFloat;
  if (type.isF16())
    return kFloat16;
  if (type.isBF16())
    return kBFloat16;
  return std::nullopt;
}

const llvm::fltSemantics &semanticsOf(int32_t dataType) {
  switch (dataType) {
  case kFloat16:
    return APFloat::IEEEhalf();
  case kBFloat16:
    return APFloat::BFloat();
  case kDouble:
    return APFloat::IEEEdouble();
  default:
    return APFloat::IEEEsingle();
  }
}

/// `values` as the raw little-endian bytes of `dataType`.
std::string encode(ArrayRef<double> values, int32_t dataType) {
  std::string raw;
  for (double v : values) {
    APFloat value(v);
    bool lost;
    value.convert(semanticsOf(dataType), APFloat::rmNearestTiesToEven, &lost);
    APInt bits = value.bitcastToAPInt();
    uint64_t word = bits.getZExtValue();
    raw.append(reinterpret_cast<const char *>(&word), bits.getBitWidth() / 8);
  }
  return raw;
}

/// The one value of a one-element float tensor, or nullopt for anything else
/// (external data included: an epsilon is never stored that way).
std::optional<double> scalarValue(const onnx::TensorProto &tensor) {
  int64_t count = 1;
  for (int64_t d : tensor.dims())
    count *= d;
  if (count != 1 || tensor.data_location() == onnx::TensorProto::EXTERNAL)
    return std::nullopt;
  int32_t dt = tensor.data_type();
  if (dt != kFloat && dt != kFloat16 && dt != kBFloat16 && dt != kDouble)
    return std::nullopt;
  unsigned bytes = dt == kDouble ? 8 : dt == kFloat ? 4 : 2;
  uint64_t word = 0;
  if (tensor.has_raw_data()) {
    if (tensor.raw_data().size() != bytes)
      return std::nullopt;
    std::memcpy(&word, tensor.raw_data().data(), bytes);
  } else if (dt == kFloat && tensor.float_data_size() == 1) {
    return tensor.float_data(0);
  } else if (dt == kDouble && tensor.double_data_size() == 1) {
    return tensor.double_data(0);
  } else if ((dt == kFloat16 || dt == kBFloat16) &&
             tensor.int32_data_size() == 1) {
    word = uint32_t(tensor.int32_data(0)) & 0xffff;
  } else {
    return std::nullopt;
  }
  APFloat value(semanticsOf(dt), APInt(bytes * 8, word));
  return value.convertToDouble();
}

/// The model's graph with the lookups the conversion needs. Indices refer
/// to the original node list, which is only rebuilt at the end.
struct GraphIndex {
  explicit GraphIndex(onnx::GraphProto &graph) : graph(graph) {
    for (auto [i, node] : llvm::enumerate(graph.node())) {
      for (const std::string &output : node.output())
        if (!output.empty())
          producer[output] = i;
      for (const std::string &input : node.input())
        if (!input.empty())
          consumers[input].push_back(i);
      names.insert(node.name());
      for (const std::string &output : node.output())
        names.insert(output);
      byLocName[locName(i)].push_back(i);
    }
    for (onnx::TensorProto &init : *graph.mutable_initializer()) {
      initializers[init.name()] = &init;
      names.insert(init.name());
    }
    for (const onnx::ValueInfoProto &input : graph.input())
      names.insert(input.name());
  }

  /// The importer's name for node `i` (its location), see nodeLoc().
  std::string locName(size_t i) const {
    const onnx::NodeProto &node = graph.node(i);
    return node.name().empty() ? node.op_type() + "#" + std::to_string(i)
                               : node.name();
  }

  enum class AliasKind { None, Same, View };

  /// How node `i` passes on its first input when that input is a stream
  /// tensor of ONNX type `dataType`: unchanged (an Identity, or a Cast to
  /// that type: exporters write the `.to(float32)` of a norm's input), as a
  /// view in another shape (a Reshape: TorchScript's OPT runs its MLP on
  /// [B*T, D]), or not at all. The importer gives the first two the input's
  /// value and folds the views into the adds.
  AliasKind aliasKind(size_t i, int32_t dataType) const {
    const onnx::NodeProto &node = graph.node(i);
    if (!node.domain().empty() || node.output_size() != 1 ||
        node.output(0).empty() || node.input_size() == 0)
      return AliasKind::None;
    if (node.op_type() == "Identity")
      return AliasKind::Same;
    if (node.op_type() == "Reshape")
      return AliasKind::View;
    if (node.op_type() != "Cast")
      return AliasKind::None;
    for (const onnx::AttributeProto &attr : node.attribute())
      if (attr.name() == "to")
        return attr.i() == dataType ? AliasKind::Same : AliasKind::None;
    return AliasKind::None;
  }

  /// A stream tensor and the tensors its alias nodes make of it.
  struct AliasTree {
    /// The root first.
    SmallVector<std::string> tensors;
    /// The alias node producing each tensor but the root.
    llvm::StringMap<size_t> producer;
    llvm::DenseSet<size_t> nodes;
    /// Whether the tensor is the root in another shape.
    llvm::StringMap<bool> view;
  };

  AliasTree aliases(StringRef root, int32_t dataType) const {
    AliasTree tree;
    tree.tensors.push_back(root.str());
    tree.view[root] = false;
    for (size_t k = 0; k < tree.tensors.size(); ++k) {
      std::string tensor = tree.tensors[k];
      for (size_t i : consumers.lookup(tensor)) {
        AliasKind kind = aliasKind(i, dataType);
        const onnx::NodeProto &node = graph.node(i);
        if (kind == AliasKind::None || node.input(0) != tensor ||
            !tree.nodes.insert(i).second)
          continue;
        tree.tensors.push_back(node.output(0));
        tree.producer[node.output(0)] = i;
        tree.view[node.output(0)] =
            tree.view.lookup(tensor) || kind == AliasKind::View;
      }
    }
    return tree;
  }

  /// Whether tensor `a` is computed (transitively) from tensor `b`.
  bool dependsOn(StringRef a, StringRef b) const {
    SmallVector<std::string> work{a.str()};
    llvm::StringSet<> seen;
    while (!work.empty()) {
      std::string name = work.pop_back_val();
      if (name == b)
        return true;
      if (!seen.insert(name).second)
        continue;
      auto it = producer.find(name);
      if (it == producer.end())
        continue;
      for (const std::string &input : graph.node(it->second).input())
        if (!input.empty())
          work.push_back(input);
    }
    return false;
  }

  /// Where constant `name` keeps its value: an initializer or a Constant
  /// node's `value` tensor, or a Constant node's `value_float`.
  struct Constant {
    onnx::TensorProto *tensor = nullptr;
    onnx::AttributeProto *valueFloat = nullptr;
  };
  std::optional<Constant> constant(StringRef name) {
    if (onnx::TensorProto *init = initializers.lookup(name))
      return Constant{init, nullptr};
    auto it = producer.find(name);
    if (it == producer.end())
      return std::nullopt;
    onnx::NodeProto &node = *graph.mutable_node(it->second);
    if (node.op_type() != "Constant" || !node.domain().empty())
      return std::nullopt;
    for (onnx::AttributeProto &attr : *node.mutable_attribute()) {
      if (attr.name() == "value" && attr.has_t())
        return Constant{attr.mutable_t(), nullptr};
      if (attr.name() == "value_float")
        return Constant{nullptr, &attr};
    }
    return std::nullopt;
  }

  /// The value of constant `name` when it is a float scalar.
  std::optional<double> constantScalar(StringRef name) {
    std::optional<Constant> c = constant(name);
    if (!c)
      return std::nullopt;
    if (c->valueFloat)
      return c->valueFloat->f();
    return scalarValue(*c->tensor);
  }

  /// A name no tensor or node of the graph has yet, `base` when free.
  std::string unique(StringRef base) {
    std::string name = base.str();
    for (unsigned k = 1; names.contains(name); ++k)
      name = (base + "_" + Twine(k)).str();
    names.insert(name);
    return name;
  }

  onnx::GraphProto &graph;
  llvm::StringMap<size_t> producer;
  llvm::StringMap<SmallVector<size_t>> consumers;
  llvm::StringMap<onnx::TensorProto *> initializers;
  llvm::StringSet<> names;
  /// The nodes of each importer location name (names need not be unique).
  llvm::StringMap<SmallVector<size_t>> byLocName;
};

/// The first node input read before any earlier node, initializer or graph
/// input defines it, as (node, input); nullopt when the order is
/// topological.
std::optional<std::pair<std::string, std::string>>
firstReadBeforeDefinition(const onnx::GraphProto &graph) {
  llvm::StringSet<> defined;
  for (const onnx::ValueInfoProto &input : graph.input())
    defined.insert(input.name());
  for (const onnx::TensorProto &init : graph.initializer())
    defined.insert(init.name());
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &input : node.input())
      if (!input.empty() && !defined.contains(input))
        return std::make_pair(node.name(), input);
    for (const std::string &output : node.output())
      defined.insert(output);
  }
  return std::nullopt;
}

/// A norm attribute or an epsilon constant to change.
struct EpsilonSite {
  size_t node;
  /// The input of `node` holding the epsilon, or -1 for its attribute.
  int input = -1;
};

/// ONNX ops that carry their epsilon as an attribute and normalize like the
/// norms the analysis accepts.
bool isFusedNorm(const onnx::NodeProto &node) {
  StringRef op = node.op_type();
  return op == "LayerNormalization" || op == "RMSNormalization" ||
         op == "SimplifiedLayerNormalization";
}

/// A fused norm's `epsilon` attribute, or null when it has the default.
onnx::AttributeProto *epsilonAttribute(onnx::NodeProto &node) {
  for (onnx::AttributeProto &attr : *node.mutable_attribute())
    if (attr.name() == "epsilon")
      return &attr;
  return nullptr;
}

/// The epsilon all three fused norms default to.
constexpr float kDefaultNormEpsilon = 1e-5f;

class Converter {
public:
  Converter(onnx::ModelProto &model, StringRef path, MLIRContext *context,
            const ONNXConvertOptions &options,
            const llvm::StringMap<Type> &tensorTypes)
      : model(model), index(*model.mutable_graph()), path(path),
        context(context), options(options), tensorTypes(tensorTypes),
        fileLoc(FileLineColLoc::get(context, path, 0, 0)) {}

  /// Replaces the residual wiring of `streams` by Block AttnRes, each with
  /// its plan.
  LogicalResult run(func::FuncOp func, ArrayRef<ResidualStream> streams,
                    ArrayRef<BlockAttnResPlan> plans,
                    llvm::raw_ostream *report);
  /// Replaces the spelled-out aggregations that --attnres-raise-aggregation
  /// raised in `func` (imported with tensor names) by function calls.
  LogicalResult canonicalize(func::FuncOp func, llvm::raw_ostream *report);

private:
  /// One aggregation, for the report.
  struct Row {
    std::string output, reader;
    SmallVector<std::string> sources;
    double epsilonBefore = 0, epsilonAfter = 0;
  };

  InFlightDiagnostic error() { return emitError(fileLoc); }
  /// Edits the graph for one stream.
  LogicalResult convertStream(const ResidualStream &stream,
                              const BlockAttnResPlan &plan,
                              SmallVector<Row> &rows);
  /// Checks the stream's type and the model's opsets.
  LogicalResult begin(Type elementType);
  /// Rebuilds the node list with the inserted nodes and without the removed
  /// ones, then adds the functions and the domain.
  LogicalResult finish(bool wasSorted);
  /// The ONNX tensor `value` computes, from the importer's names.
  std::optional<std::string> tensorName(func::FuncOp func, Value value);
  /// Removes the nodes that only fed removed nodes.
  void removeDeadProducers();

  /// The ONNX Add node of `add`, one of layer `layerIndex`'s adds, given the
  /// tensors one of which it must read.
  FailureOr<size_t> findAdd(Operation *add, size_t layerIndex,
                            ArrayRef<std::string> streamAliases);
  /// A Reshape of `tensor` to the embedding's shape, made before node
  /// `anchor`: a branch added to a view of the stream has the view's shape.
  std::string toStreamShape(StringRef tensor, size_t anchor);
  /// The epsilons of the norms reached from `readers` (the norm's reads of
  /// the stream) that hold the epsilon `norm` has in MLIR.
  FailureOr<SmallVector<EpsilonSite>>
  findEpsilons(ArrayRef<size_t> readers, Operation *norm, StringRef what);
  LogicalResult scaleEpsilon(const EpsilonSite &site, double factor,
                             StringRef newName);
  std::string addParameter(StringRef base, ArrayRef<float> values);
  /// A call of ai.attnres.BlockAttnRes<N> over `sources` (N of them) named
  /// after `name`, for the function addFunction then defines.
  onnx::NodeProto makeCall(StringRef name, ArrayRef<std::string> sources,
                           StringRef query, StringRef keyNorm, float epsilon);
  void addFunction(unsigned arity);

  onnx::ModelProto &model;
  GraphIndex index;
  StringRef path;
  MLIRContext *context;
  const ONNXConvertOptions &options;
  /// The imported type of each tensor.
  const llvm::StringMap<Type> &tensorTypes;
  Location fileLoc;

  int32_t dataType = kFloat;
  int64_t features = 0;
  int64_t opset = 0;
  /// New nodes, each to be placed before the original node of its key (the
  /// number of original nodes: at the end).
  std::multimap<size_t, onnx::NodeProto> inserted;
  /// Original nodes to drop (the residual adds).
  llvm::DenseSet<size_t> removed;
  /// The stream's alias nodes (views and casts of its tensors), dropped at
  /// the end unless a graph output needs them.
  llvm::DenseSet<size_t> aliasNodes;
  /// Initializers to drop when no node reads them any more.
  llvm::StringSet<> unreadInitializers;
  /// The source counts the calls have, one function each.
  std::set<unsigned> arities;
  /// h_0, .., h_L, and whether each is known to have the embedding's shape.
  SmallVector<std::string> inputs;
  SmallVector<bool> inputShaped;
  std::string embedding, embeddingShape;
};

FailureOr<size_t> Converter::findAdd(Operation *add, size_t layerIndex,
                                     ArrayRef<std::string> streamAliases) {
  auto loc = dyn_cast<NameLoc>(add->getLoc());
  if (!loc)
    return LogicalResult(error() << "cannot find layer " << layerIndex
                                 << "'s residual add (" << describeOp(add)
                                 << ") in the ONNX graph");
  StringRef name = loc.getName().getValue();
  auto readsStream = [&](const onnx::NodeProto &node) {
    return llvm::any_of(node.input(), [&](const std::string &input) {
      return llvm::is_contained(streamAliases, input);
    });
  };
  auto isAdd = [](const onnx::NodeProto &node) {
    return node.op_type() == "Add" && node.domain().empty() &&
           node.input_size() == 2;
  };
  auto isLayerAdd = [&](size_t i) {
    const onnx::NodeProto &node = index.graph.node(i);
    return isAdd(node) && (streamAliases.empty() || readsStream(node));
  };
  SmallVector<size_t> found;
  llvm::copy_if(index.byLocName.lookup(name), std::back_inserter(found),
                isLayerAdd);
  // The importer names an add folded with the views around it after the
  // view: then the one Add that reads the stream is the layer's.
  if (found.empty() && !streamAliases.empty()) {
    llvm::SmallSetVector<size_t, 4> reading;
    for (const std::string &alias : streamAliases)
      for (size_t i : index.consumers.lookup(alias))
        if (isLayerAdd(i))
          reading.insert(i);
    if (reading.size() == 1)
      found.push_back(reading.front());
  }
  if (found.size() != 1)
    return LogicalResult(error() << "cannot map layer " << layerIndex
                                 << "'s residual add '" << name
                                 << "' onto the ONNX graph: "
                                 << (found.empty() ? "no" : "more than one")
                                 << " Add node of that name reads the stream");
  return found.front();
}

FailureOr<SmallVector<EpsilonSite>>
Converter::findEpsilons(ArrayRef<size_t> readers, Operation *norm,
                        StringRef what) {
  double expected = streamNormEpsilon(norm);
  auto close = [&](double v) {
    // Half models round the epsilon the norm sees (1e-5 in bf16 is
    // 1.0014e-5) but not always the one the graph states.
    return std::abs(v - expected) <= 1e-2 * std::abs(expected);
  };
  // Breadth-first from the readers: the nearest epsilons are the norms' own
  // (two norms read the stream in parallel blocks, GPT-NeoX's and Falcon's,
  // one epsilon each), the next layer's are a whole sublayer further.
  constexpr unsigned kMaxDepth = 8;
  SmallVector<size_t> frontier(readers);
  llvm::DenseSet<size_t> seen(readers.begin(), readers.end());
  for (unsigned depth = 0; depth < kMaxDepth && !frontier.empty(); ++depth) {
    SmallVector<EpsilonSite> sites;
    for (size_t i : frontier) {
      onnx::NodeProto &node = *index.graph.mutable_node(i);
      if (isFusedNorm(node)) {
        onnx::AttributeProto *epsilon = epsilonAttribute(node);
        if (close(epsilon ? epsilon->f() : kDefaultNormEpsilon))
          sites.push_back({i, -1});
        continue;
      }
      if (node.op_type() != "Add" || !node.domain().empty())
        continue;
      for (int k = 0; k < node.input_size(); ++k)
        if (std::optional<double> v = index.constantScalar(node.input(k)))
          if (close(*v))
            sites.push_back({i, k});
    }
    if (!sites.empty())
      return sites;
    SmallVector<size_t> next;
    for (size_t i : frontier)
      for (const std::string &output : index.graph.node(i).output())
        for (size_t j : index.consumers.lookup(output))
          if (seen.insert(j).second)
            next.push_back(j);
    frontier = std::move(next);
  }
  return LogicalResult(error() << "cannot find the epsilon " << expected
                               << " of " << what << " (" << describeOp(norm)
                               << ") in the ONNX graph");
}

LogicalResult Converter::scaleEpsilon(const EpsilonSite &site, double factor,
                                      StringRef newName) {
  onnx::NodeProto &node = *index.graph.mutable_node(site.node);
  if (site.input < 0) {
    onnx::AttributeProto *epsilon = epsilonAttribute(node);
    if (!epsilon) {
      epsilon = node.add_attribute();
      epsilon->set_name("epsilon");
      epsilon->set_type(onnx::AttributeProto::FLOAT);
      epsilon->set_f(kDefaultNormEpsilon);
    }
    epsilon->set_f(float(double(epsilon->f()) * factor));
    return success();
  }
  std::string input = node.input(site.input);
  std::optional<GraphIndex::Constant> constant = index.constant(input);
  std::optional<double> value = index.constantScalar(input);
  if (!constant || !value)
    return error() << "internal error: epsilon '" << input
                   << "' is no longer a constant";
  // The rewrite scales the f32 epsilon attribute; do it in the same format.
  double scaled = double(float(*value * factor));
  int32_t type = constant->tensor ? constant->tensor->data_type() : kFloat;
  std::string raw = encode({scaled}, type);
  // A constant only this norm reads changes in place; a shared one stays
  // for its other readers and this norm gets its own.
  bool shared = index.consumers.lookup(input).size() != 1 ||
                llvm::any_of(index.graph.output(),
                             [&](const onnx::ValueInfoProto &output) {
                               return output.name() == input;
                             });
  if (!shared && constant->valueFloat) {
    constant->valueFloat->set_f(float(scaled));
    return success();
  }
  if (!shared) {
    constant->tensor->clear_float_data();
    constant->tensor->clear_double_data();
    constant->tensor->clear_int32_data();
    constant->tensor->set_raw_data(raw);
    return success();
  }
  std::string name = index.unique(newName);
  onnx::TensorProto *tensor = index.graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(type);
  if (constant->tensor)
    tensor->mutable_dims()->CopyFrom(constant->tensor->dims());
  tensor->set_raw_data(raw);
  node.set_input(site.input, name);
  return success();
}

std::string Converter::toStreamShape(StringRef tensor, size_t anchor) {
  if (embeddingShape.empty()) {
    onnx::NodeProto shape;
    shape.set_name(index.unique("attnres/stream_shape"));
    shape.set_op_type("Shape");
    shape.add_input(embedding);
    embeddingShape = index.unique("attnres.stream_shape");
    shape.add_output(embeddingShape);
    inserted.emplace(anchor, std::move(shape));
  }
  onnx::NodeProto reshape;
  reshape.set_name(index.unique((tensor + ".attnres/reshape").str()));
  reshape.set_op_type("Reshape");
  reshape.add_input(tensor.str());
  reshape.add_input(embeddingShape);
  std::string result = index.unique((tensor + ".attnres").str());
  reshape.add_output(result);
  inserted.emplace(anchor, std::move(reshape));
  return result;
}

std::string Converter::addParameter(StringRef base, ArrayRef<float> values) {
  std::string name = index.unique(base);
  onnx::TensorProto *tensor = index.graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(dataType);
  tensor->add_dims(values.size());
  SmallVector<double> wide(values.begin(), values.end());
  tensor->set_raw_data(encode(wide, dataType));
  return name;
}

onnx::NodeProto Converter::makeCall(StringRef name,
                                    ArrayRef<std::string> sources,
                                    StringRef query, StringRef keyNorm,
                                    float epsilon) {
  onnx::NodeProto call;
  call.set_name(index.unique(name));
  call.set_op_type(blockAttnResOpType(sources.size()));
  call.set_domain(kAttnResDomain.str());
  for (const std::string &source : sources)
    call.add_input(source);
  call.add_input(query.str());
  call.add_input(keyNorm.str());
  onnx::AttributeProto *attr = call.add_attribute();
  attr->set_name("epsilon");
  attr->set_type(onnx::AttributeProto::FLOAT);
  attr->set_f(epsilon);
  arities.insert(sources.size());
  return call;
}

/// The body of ai.attnres.BlockAttnRes<N>, in default-domain ops of the
/// model's opset: the key RMSNorm and the logits in f32, a softmax over the
/// source axis, the weighted sum in f32, then the stream's type again.
void Converter::addFunction(unsigned arity) {
  onnx::FunctionProto *fn = model.add_functions();
  fn->set_domain(kAttnResDomain.str());
  fn->set_name(blockAttnResOpType(arity));
  fn->set_doc_string(
      llvm::formatv(
          "Block Attention Residuals over {0} sources v_i [..., D]: k_i = "
          "rms_norm(v_i) * key_norm (epsilon), s_i = sum(query * k_i), "
          "alpha = softmax_i(s), result = sum_i alpha_i v_i. Computed in "
          "float32.",
          arity)
          .str());
  onnx::OperatorSetIdProto *set = fn->add_opset_import();
  set->set_domain("");
  set->set_version(opset);
  SmallVector<std::string> sources;
  for (unsigned i = 0; i < arity; ++i) {
    sources.push_back("v" + std::to_string(i));
    fn->add_input(sources.back());
  }
  fn->add_input("query");
  fn->add_input("key_norm");
  fn->add_output("result");
  fn->add_attribute("epsilon");

  auto node = [&](StringRef op, ArrayRef<std::string> inputs,
                  ArrayRef<std::string> outputs) -> onnx::NodeProto & {
    onnx::NodeProto *n = fn->add_node();
    n->set_op_type(op.str());
    for (const std::string &input : inputs)
      n->add_input(input);
    for (const std::string &output : outputs)
      n->add_output(output);
    return *n;
  };
  auto intAttr = [](onnx::NodeProto &n, StringRef name, int64_t v) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(name.str());
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  };
  // Reductions over the last axis; ReduceMean takes its axes as an input
  // from opset 18 on, ReduceSum from 13.
  {
    onnx::NodeProto &axes = node("Constant", {}, {"axes"});
    onnx::AttributeProto *a = axes.add_attribute();
    a->set_name("value_ints");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(-1);
  }
  auto reduce = [&](StringRef op, const std::string &in,
                    const std::string &out) {
    bool axesInput = op == "ReduceSum" || opset >= 18;
    onnx::NodeProto &n = node(op,
                              axesInput ? SmallVector<std::string>{in, "axes"}
                                        : SmallVector<std::string>{in},
                              {out});
    if (!axesInput) {
      onnx::AttributeProto *a = n.add_attribute();
      a->set_name("axes");
      a->set_type(onnx::AttributeProto::INTS);
      a->add_ints(-1);
    }
    intAttr(n, "keepdims", 1);
  };
  auto toF32 = [&](const std::string &in) {
    if (dataType == kFloat)
      return in;
    std::string out = in + "_f32";
    intAttr(node("Cast", {in}, {out}), "to", kFloat);
    return out;
  };
  {
    onnx::NodeProto &eps = node("Constant", {}, {"eps"});
    onnx::AttributeProto *a = eps.add_attribute();
    a->set_name("value_float");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_ref_attr_name("epsilon");
  }
  node("Mul", {toF32("query"), toF32("key_norm")}, {"qk"});
  SmallVector<std::string> logits, wide;
  for (unsigned i = 0; i < arity; ++i) {
    std::string s = std::to_string(i);
    wide.push_back(toF32(sources[i]));
    node("Mul", {wide[i], wide[i]}, {"sq" + s});
    reduce("ReduceMean", "sq" + s, "ms" + s);
    node("Add", {"ms" + s, "eps"}, {"var" + s});
    node("Sqrt", {"var" + s}, {"rms" + s});
    node("Reciprocal", {"rms" + s}, {"inv" + s});
    node("Mul", {wide[i], "inv" + s}, {"normed" + s});
    node("Mul", {"normed" + s, "qk"}, {"wq" + s});
    reduce("ReduceSum", "wq" + s, "logit" + s);
    logits.push_back("logit" + s);
  }
  std::string sum = dataType == kFloat ? "result" : "sum";
  if (arity == 1) {
    // One source: the softmax is 1.
    node("Identity", {wide[0]}, {sum});
  } else {
    onnx::NodeProto &concat = node("Concat", logits, {"logits"});
    intAttr(concat, "axis", -1);
    intAttr(node("Softmax", {"logits"}, {"alpha"}), "axis", -1);
    SmallVector<std::string> weights, terms;
    for (unsigned i = 0; i < arity; ++i)
      weights.push_back("alpha" + std::to_string(i));
    onnx::NodeProto &split = node("Split", {"alpha"}, weights);
    intAttr(split, "axis", -1);
    if (opset >= 18)
      intAttr(split, "num_outputs", arity);
    for (unsigned i = 0; i < arity; ++i) {
      terms.push_back("term" + std::to_string(i));
      node("Mul", {weights[i], wide[i]}, {terms[i]});
    }
    node("Sum", terms, {sum});
  }
  if (dataType != kFloat)
    intAttr(node("Cast", {sum}, {"result"}), "to", dataType);
}

LogicalResult Converter::begin(Type elementType) {
  std::optional<int32_t> dt = onnxDataType(elementType);
  if (!dt)
    return error() << "the residual stream is " << elementType
                   << "; attnres-convert writes f32, f16 and bf16 streams";
  dataType = *dt;
  for (const onnx::OperatorSetIdProto &set : model.opset_import())
    if (set.domain().empty() || set.domain() == "ai.onnx")
      opset = set.version();
  for (const onnx::OperatorSetIdProto &set : model.opset_import())
    if (set.domain() == kAttnResDomain)
      return error() << "the model already imports the " << kAttnResDomain
                     << " domain (it was converted before)";
  return success();
}

LogicalResult Converter::finish(bool wasSorted) {
  onnx::GraphProto &graph = index.graph;
  // Rebuild the node list: new nodes before their anchors, the removed ones
  // dropped.
  llvm::StringSet<> dropped;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (size_t i = 0, e = graph.node_size(); i <= e; ++i) {
    auto [begin, end] = inserted.equal_range(i);
    for (auto it = begin; it != end; ++it)
      *nodes.Add() = std::move(it->second);
    if (i == e)
      break;
    if (removed.contains(i)) {
      for (const std::string &output : graph.node(i).output())
        dropped.insert(output);
      continue;
    }
    *nodes.Add() = std::move(*graph.mutable_node(i));
  }
  graph.mutable_node()->Swap(&nodes);

  // Every input defined before it is read (when the model's own order was
  // topological: the importer accepts unsorted graphs and sorts them).
  if (wasSorted)
    if (auto read = firstReadBeforeDefinition(graph))
      return error() << "internal error: node '" << read->first << "' reads '"
                     << read->second << "' before it is computed";

  // Initializers only removed nodes read go with them.
  llvm::StringSet<> read;
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &input : node.input())
      read.insert(input);
  for (const onnx::ValueInfoProto &output : graph.output())
    read.insert(output.name());
  auto *initializers = graph.mutable_initializer();
  for (int i = initializers->size() - 1; i >= 0; --i)
    if (unreadInitializers.contains(initializers->Get(i).name()) &&
        !read.contains(initializers->Get(i).name()))
      initializers->DeleteSubrange(i, 1);

  // Shape annotations of removed tensors no longer name a tensor.
  auto *valueInfo = graph.mutable_value_info();
  for (int i = valueInfo->size() - 1; i >= 0; --i)
    if (dropped.contains(valueInfo->Get(i).name()))
      valueInfo->DeleteSubrange(i, 1);

  onnx::OperatorSetIdProto *set = model.add_opset_import();
  set->set_domain(kAttnResDomain.str());
  set->set_version(1);
  for (unsigned arity : arities)
    addFunction(arity);
  // Model-local functions came with IR version 8.
  if (model.ir_version() < 8)
    model.set_ir_version(8);

  return success();
}

LogicalResult Converter::run(func::FuncOp func,
                             ArrayRef<ResidualStream> streams,
                             ArrayRef<BlockAttnResPlan> plans,
                             llvm::raw_ostream *report) {
  if (failed(begin(cast<RankedTensorType>(streams.front().embedding.getType())
                       .getElementType())))
    return failure();
  bool wasSorted = !firstReadBeforeDefinition(index.graph);
  SmallVector<Row> rows;
  for (auto [stream, plan] : llvm::zip(streams, plans))
    if (failed(convertStream(stream, plan, rows)))
      return failure();

  for (size_t i : aliasNodes)
    if (llvm::none_of(index.graph.output(),
                      [&](const onnx::ValueInfoProto &output) {
                        return output.name() == index.graph.node(i).output(0);
                      }))
      removed.insert(i);

  if (failed(finish(wasSorted)))
    return failure();

  if (!report)
    return success();
  llvm::raw_ostream &os = *report;
  for (auto [stream, plan] : llvm::zip(streams, plans)) {
    os << "attnres-convert: ";
    if (streams.size() > 1)
      os << "the stream ending at " << describeOp(stream.finalNorm) << ": ";
    os << stream.layers.size() << " layers in " << plan.blockSizes.size()
       << " blocks of [";
    llvm::interleaveComma(plan.blockSizes, os);
    os << "] layers, D = " << plan.features << ", "
       << (plan.fromFile
               ? "pseudo-queries from '" + options.blocks.pseudoQueries +
                     "' (the norms keep their epsilons)"
               : std::string("zero pseudo-queries (each reader norm's "
                             "epsilon divided by c^2)"))
       << "\n";
  }
  os << "\n| aggregation | sources | read by | norm epsilon |\n"
     << "|---|---|---|---|\n";
  for (const Row &row : rows) {
    os << "| " << row.output << " | ";
    llvm::interleaveComma(row.sources, os);
    os << " | " << row.reader << " | "
       << llvm::format("%g -> %g", row.epsilonBefore, row.epsilonAfter)
       << " |\n";
  }
  return success();
}

LogicalResult Converter::convertStream(const ResidualStream &stream,
                                       const BlockAttnResPlan &plan,
                                       SmallVector<Row> &rows) {
  onnx::GraphProto &graph = index.graph;
  features = plan.features;
  inputs.clear();
  inputShaped.clear();
  embedding.clear();
  embeddingShape.clear();

  // Map the stream onto the graph: A_l, h_l and f_l. A layer's add may read
  // a view of h_l (a Reshape); then its branch and its result have the
  // view's shape, and the sources of the aggregations, which have the
  // embedding's, take the branch reshaped back.
  size_t numLayers = stream.layers.size();
  // Each layer's Add nodes and branches (two or more in a parallel block
  // that adds its branches one at a time).
  SmallVector<SmallVector<size_t, 1>> adds;
  SmallVector<SmallVector<std::string, 1>> branches;
  SmallVector<bool> branchViewed;
  std::string current;
  // Whether h_l is known to have the embedding's shape.
  bool streamShaped = true;
  // The alias trees of h_0 .. h_L.
  SmallVector<GraphIndex::AliasTree> trees;
  for (size_t l = 0; l < numLayers; ++l) {
    GraphIndex::AliasTree tree;
    if (l > 0)
      tree = index.aliases(current, dataType);
    const ResidualLayer &layer = stream.layers[l];
    FailureOr<size_t> add = findAdd(layer.adds.front(), l, tree.tensors);
    if (failed(add))
      return failure();
    const onnx::NodeProto &node = graph.node(*add);
    int streamInput;
    if (l > 0) {
      streamInput = llvm::is_contained(tree.tensors, node.input(0)) ? 0 : 1;
    } else {
      // h_0 is the operand the other one is computed from.
      bool first = index.dependsOn(node.input(1), node.input(0));
      bool second = index.dependsOn(node.input(0), node.input(1));
      if (first == second)
        return error() << "cannot tell the embedding from the first layer's "
                          "output at Add '"
                       << index.locName(*add) << "'";
      streamInput = first ? 0 : 1;
      current = node.input(streamInput);
      tree = index.aliases(current, dataType);
    }
    bool viewed = l > 0 && tree.view.lookup(node.input(streamInput));
    adds.push_back({*add});
    inputs.push_back(current);
    inputShaped.push_back(streamShaped);
    branches.push_back({node.input(1 - streamInput)});
    current = node.output(0);
    // The later adds of a parallel block each read the previous sum.
    for (Operation *next : ArrayRef(layer.adds).drop_front()) {
      FailureOr<size_t> nextAdd = findAdd(next, l, {current});
      if (failed(nextAdd))
        return failure();
      const onnx::NodeProto &sum = graph.node(*nextAdd);
      adds.back().push_back(*nextAdd);
      branches.back().push_back(sum.input(sum.input(0) == current ? 1 : 0));
      current = sum.output(0);
    }
    streamShaped = streamShaped && !viewed;
    branchViewed.push_back(!streamShaped);
    trees.push_back(std::move(tree));
  }
  inputs.push_back(current);
  trees.push_back(index.aliases(current, dataType));
  inputShaped.push_back(streamShaped);
  embedding = inputs.front();

  // The nodes reading h_l other than its residual add and its aliases: the
  // norm (and shape ops), which now read the aggregation (or the same view
  // of it). The aliases are then read by nothing but other aliases and the
  // removed adds.
  struct Read {
    size_t node;
    int input;
    std::string tensor;
  };
  auto readersOf = [&](size_t l, const GraphIndex::AliasTree &tree) {
    SmallVector<Read> readers;
    for (const std::string &alias : tree.tensors)
      for (size_t i : index.consumers.lookup(alias)) {
        const onnx::NodeProto &node = graph.node(i);
        if ((l < numLayers && i == adds[l].front()) || tree.nodes.contains(i))
          continue;
        for (int k = 0; k < node.input_size(); ++k)
          if (node.input(k) == alias)
            readers.push_back({i, k, alias});
      }
    aliasNodes.insert(tree.nodes.begin(), tree.nodes.end());
    return readers;
  };
  for (size_t l = 1; l <= numLayers; ++l)
    for (const onnx::ValueInfoProto &output : graph.output())
      for (const std::string &alias : trees[l].tensors)
        if (output.name() == alias)
          return error() << "the stream tensor '" << alias
                         << "' is a graph output; Block AttnRes changes it";

  // The edit, in stream order, as the rewrite builds it.
  SmallVector<std::string> queryNames, keyNormNames;
  for (size_t l = 0; l <= numLayers; ++l) {
    queryNames.push_back(addParameter(plan.name("query", l), plan.query(l)));
    keyNormNames.push_back(
        addParameter(plan.name("key_norm", l), plan.keyNorm(l)));
  }
  auto aggregate = [&](ArrayRef<std::string> sources, size_t l,
                       Operation *norm) -> LogicalResult {
    const GraphIndex::AliasTree &tree = trees[l];
    SmallVector<Read> readers = readersOf(l, tree);
    // A Shape (or Size) of a stream tensor is the embedding's: reading that
    // keeps what importers know of the dims (their names, their equalities)
    // instead of asking it of the aggregation.
    readers.erase(
        llvm::remove_if(
            readers,
            [&](const Read &read) {
              const onnx::NodeProto &node = graph.node(read.node);
              if (!node.domain().empty() ||
                  (node.op_type() != "Shape" && node.op_type() != "Size") ||
                  !inputShaped[l] || tree.view.lookup(read.tensor))
                return false;
              graph.mutable_node(read.node)->set_input(read.input, embedding);
              return true;
            }),
        readers.end());
    if (readers.empty())
      return error() << "internal error: nothing reads the stream tensor '"
                     << inputs[l] << "'";
    SmallVector<size_t> readerNodes;
    for (const Read &read : readers) {
      readerNodes.push_back(read.node);
      if (!inputShaped[l] && !tree.view.lookup(read.tensor))
        return error() << "node '" << index.locName(read.node)
                       << "' reads the stream tensor '" << read.tensor
                       << "' in a shape other than the embedding's; "
                          "attnres-convert cannot give it the aggregation";
    }
    std::string what = l < numLayers
                           ? llvm::formatv("layer {0}'s norm", l).str()
                           : std::string("the final norm");
    Row row;
    row.sources.assign(sources.begin(), sources.end());
    double scale = plan.epsilonScale(sources.size());
    if (scale != 1.0) {
      FailureOr<SmallVector<EpsilonSite>> sites =
          findEpsilons(readerNodes, norm, what);
      if (failed(sites))
        return failure();
      for (const EpsilonSite &site : *sites)
        if (failed(scaleEpsilon(site, scale, plan.name("norm_epsilon", l))))
          return failure();
    }
    row.epsilonBefore = streamNormEpsilon(norm);
    row.epsilonAfter = double(float(row.epsilonBefore * scale));

    onnx::NodeProto call = makeCall(
        "attnres/" + plan.streamTag + "aggregate." + std::to_string(l), sources,
        queryNames[l], keyNormNames[l], options.keyNormEpsilon);
    row.output = index.unique(plan.name("h", l));
    call.add_output(row.output);
    size_t first = graph.node_size();
    for (const Read &read : readers)
      first = std::min(first, read.node);
    row.reader = index.locName(first);
    for (size_t i : tree.nodes)
      first = std::min(first, i);
    inserted.emplace(first, std::move(call));
    // Readers of a view read the same view of the aggregation, made where
    // the original view was.
    llvm::StringMap<std::string> renamed;
    renamed[tree.tensors.front()] = row.output;
    std::function<std::string(const std::string &)> rename =
        [&](const std::string &tensor) -> std::string {
      auto it = renamed.find(tensor);
      if (it != renamed.end())
        return it->second;
      size_t i = tree.producer.lookup(tensor);
      const onnx::NodeProto &alias = graph.node(i);
      std::string parent = rename(alias.input(0));
      std::string result = parent;
      if (index.aliasKind(i, dataType) == GraphIndex::AliasKind::View) {
        onnx::NodeProto view = alias;
        result = index.unique(tensor + ".attnres");
        view.set_name(index.unique(index.locName(i) + ".attnres"));
        view.set_input(0, parent);
        view.set_output(0, result);
        inserted.emplace(i, std::move(view));
      }
      return renamed[tensor] = result;
    };
    for (const Read &read : readers)
      graph.mutable_node(read.node)->set_input(read.input, rename(read.tensor));
    rows.push_back(std::move(row));
    return success();
  };

  SmallVector<std::string> blocks{inputs[0]};
  std::string partial;
  size_t l = 0;
  for (unsigned size : plan.blockSizes) {
    for (unsigned i = 0; i < size; ++i, ++l) {
      SmallVector<std::string> sources(blocks);
      if (!partial.empty())
        sources.push_back(partial);
      if (failed(aggregate(sources, l, stream.layers[l].norm)))
        return failure();
      for (auto [add, tensor] : llvm::zip(adds[l], branches[l])) {
        removed.insert(add);
        std::string branch =
            branchViewed[l] ? toStreamShape(tensor, add) : tensor;
        if (partial.empty()) {
          partial = branch;
          continue;
        }
        // The partial sum takes the residual add's place.
        onnx::NodeProto sum;
        sum.set_name(index.unique("attnres/" + plan.streamTag + "partial." +
                                  std::to_string(l)));
        sum.set_op_type("Add");
        sum.add_input(partial);
        sum.add_input(branch);
        partial = index.unique(plan.name("partial", l));
        sum.add_output(partial);
        inserted.emplace(add, std::move(sum));
      }
    }
    blocks.push_back(partial);
    partial.clear();
  }
  if (failed(aggregate(blocks, numLayers, stream.finalNorm)))
    return failure();
  return success();
}

/// Whether files `a` and `b` hold the same bytes (a previous conversion's
/// copy of the external data).
bool sameContents(StringRef a, StringRef b) {
  if (llvm::sys::fs::equivalent(a, b))
    return true;
  auto first = llvm::MemoryBuffer::getFile(a, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  auto second = llvm::MemoryBuffer::getFile(b, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  return first && second && (*first)->getBuffer() == (*second)->getBuffer();
}

std::optional<std::string> Converter::tensorName(func::FuncOp func,
                                                 Value value) {
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    if (auto name =
            func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name"))
      return name.str();
    return std::nullopt;
  }
  auto result = cast<OpResult>(value);
  Operation *op = result.getOwner();
  auto names = op->getAttrOfType<ArrayAttr>(kTensorNamesAttrName);
  auto types = op->getAttrOfType<ArrayAttr>(kTensorTypesAttrName);
  unsigned i = result.getResultNumber();
  if (!names || !types || names.size() <= i || types.size() <= i)
    return std::nullopt;
  StringRef name = cast<StringAttr>(names[i]);
  auto type = dyn_cast<TypeAttr>(types[i]);
  if (name.empty() || !type || type.getValue() != value.getType())
    return std::nullopt;
  return name.str();
}

void Converter::removeDeadProducers() {
  onnx::GraphProto &graph = index.graph;
  llvm::StringMap<unsigned> readers;
  auto count = [&](const onnx::NodeProto &node, int delta) {
    for (const std::string &input : node.input())
      if (!input.empty())
        readers[input] += delta;
  };
  for (size_t i = 0, e = graph.node_size(); i < e; ++i)
    if (!removed.contains(i))
      count(graph.node(i), 1);
  for (const auto &[anchor, node] : inserted)
    count(node, 1);
  for (const onnx::ValueInfoProto &output : graph.output())
    readers[output.name()] += 1;
  SmallVector<size_t> work(removed.begin(), removed.end());
  while (!work.empty()) {
    const onnx::NodeProto &node = graph.node(work.pop_back_val());
    for (const std::string &input : node.input()) {
      if (index.initializers.count(input))
        unreadInitializers.insert(input);
      auto it = index.producer.find(input);
      if (it == index.producer.end() || removed.contains(it->second))
        continue;
      const onnx::NodeProto &producer = graph.node(it->second);
      if (llvm::any_of(producer.output(), [&](const std::string &output) {
            return readers.lookup(output) > 0;
          }))
        continue;
      removed.insert(it->second);
      count(producer, -1);
      work.push_back(it->second);
    }
  }
}

/// The values of a constant float vector (through the reshapes that make it
/// one), widened to f32.
std::optional<std::vector<float>> constantFloats(Value value) {
  while (auto reshape = value.getDefiningOp<tosa::ReshapeOp>())
    value = reshape.getInput1();
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  std::vector<float> values;
  if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    for (APFloat v : dense.getValues<APFloat>()) {
      bool lost;
      v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
      values.push_back(v.convertToFloat());
    }
    return values;
  }
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource || !resource.getRawHandle().getBlob())
    return std::nullopt;
  ArrayRef<char> raw = resource.getRawHandle().getBlob()->getData();
  auto type = cast<FloatType>(resource.getType().getElementType());
  unsigned bytes = type.getWidth() / 8;
  if (raw.size() != size_t(resource.getType().getNumElements()) * bytes)
    return std::nullopt;
  for (size_t i = 0; i < raw.size(); i += bytes) {
    uint64_t word = 0;
    std::memcpy(&word, raw.data() + i, bytes);
    APFloat v(type.getFloatSemantics(), APInt(bytes * 8, word));
    bool lost;
    v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
    values.push_back(v.convertToFloat());
  }
  return values;
}

LogicalResult Converter::canonicalize(func::FuncOp func,
                                      llvm::raw_ostream *report) {
  onnx::GraphProto &graph = index.graph;
  SmallVector<BlockAttnResOp> aggregations;
  func.walk([&](BlockAttnResOp op) { aggregations.push_back(op); });
  if (aggregations.empty())
    return error() << "found no spelled-out AttnRes aggregation to "
                      "canonicalize (attnres-opt "
                      "--attnres-raise-aggregation=verbose=true says why "
                      "near misses were left alone)";
  auto sourceType = cast<RankedTensorType>(
      aggregations.front().getSources().front().getType());
  if (failed(begin(sourceType.getElementType())))
    return failure();
  bool wasSorted = !firstReadBeforeDefinition(graph);

  struct Row {
    std::string output;
    SmallVector<std::string> sources;
  };
  SmallVector<Row> rows;
  for (auto [k, op] : llvm::enumerate(aggregations)) {
    std::string what = llvm::formatv("aggregation {0}", k).str();
    // The raised op is located at the weighted sum's node, whose output it
    // replaces; that output may keep a unit axis the sources do not have.
    auto loc = dyn_cast<NameLoc>(op.getLoc());
    SmallVector<size_t> found =
        loc ? index.byLocName.lookup(loc.getName().getValue())
            : SmallVector<size_t>();
    if (found.size() != 1 || graph.node(found.front()).output_size() != 1 ||
        !tensorTypes.count(graph.node(found.front()).output(0)))
      return error() << "cannot find the weighted sum of " << what
                     << " in the ONNX graph";
    size_t weighted = found.front();
    std::string output = graph.node(weighted).output(0);
    auto weightedType = cast<RankedTensorType>(tensorTypes.lookup(output));
    if (llvm::count_if(weightedType.getShape(), ShapedType::isDynamic) > 1)
      return error() << "the weighted sum of " << what << " is " << weightedType
                     << ", more than one dim of which is dynamic; the call "
                        "cannot be reshaped to it";

    Row row;
    row.output = output;
    for (auto [i, source] : llvm::enumerate(op.getSources())) {
      std::optional<std::string> name = tensorName(func, source);
      if (!name)
        return error() << "source " << i << " of " << what << " (at '"
                       << index.locName(weighted)
                       << "') is not a tensor of the graph (sliced from a "
                          "stacked tensor?); it cannot be a call's input";
      row.sources.push_back(*name);
    }
    std::optional<std::vector<float>> query = constantFloats(op.getQuery());
    std::optional<std::vector<float>> keyNorm =
        constantFloats(op.getKeyNormWeight());
    if (!query || !keyNorm)
      return error() << "the pseudo-query or key-norm weight of " << what
                     << " (at '" << index.locName(weighted)
                     << "') is not a constant the conversion can write";

    onnx::NodeProto call = makeCall(
        llvm::formatv("attnres/aggregate.{0}", k).str(), row.sources,
        addParameter(llvm::formatv("attnres.query.{0}", k).str(), *query),
        addParameter(llvm::formatv("attnres.key_norm.{0}", k).str(), *keyNorm),
        op.getEpsilon().convertToFloat());

    // The weighted sum may keep a unit axis the sources do not have.
    if (weightedType != op.getType()) {
      std::string shapeName = index.unique(output + ".attnres.shape");
      onnx::TensorProto *shape = graph.add_initializer();
      shape->set_name(shapeName);
      shape->set_data_type(onnx::TensorProto::INT64);
      shape->add_dims(weightedType.getRank());
      for (int64_t d : weightedType.getShape())
        shape->add_int64_data(ShapedType::isDynamic(d) ? -1 : d);
      std::string unshaped = index.unique(output + ".attnres");
      call.add_output(unshaped);
      onnx::NodeProto view;
      view.set_name(index.unique(index.locName(weighted) + ".attnres"));
      view.set_op_type("Reshape");
      view.add_input(unshaped);
      view.add_input(shapeName);
      view.add_output(output);
      inserted.emplace(weighted, std::move(call));
      inserted.emplace(weighted, std::move(view));
    } else {
      call.add_output(output);
      inserted.emplace(weighted, std::move(call));
    }
    removed.insert(weighted);
    rows.push_back(std::move(row));
  }
  removeDeadProducers();
  size_t removedNodes = removed.size();
  if (failed(finish(wasSorted)))
    return failure();

  if (!report)
    return success();
  llvm::raw_ostream &os = *report;
  os << "attnres-convert: " << rows.size()
     << " spelled-out aggregations replaced by function calls, " << removedNodes
     << " nodes removed\n\n| aggregation | sources |\n|---|---|\n";
  for (const Row &row : rows) {
    os << "| " << row.output << " | ";
    llvm::interleaveComma(row.sources, os);
    os << " |\n";
  }
  return success();
}

/// Copies the external data files `model` refers to from `fromDir` into
/// `toDir`, unless they are the same folder.
LogicalResult copyExternalData(const onnx::ModelProto &model, StringRef fromDir,
                               StringRef toDir, Location loc) {
  if (llvm::sys::fs::equivalent(fromDir, toDir))
    return success();
  llvm::StringSet<> locations;
  auto collect = [&](const onnx::TensorProto &tensor) {
    if (tensor.data_location() != onnx::TensorProto::EXTERNAL)
      return;
    for (const onnx::StringStringEntryProto &entry : tensor.external_data())
      if (entry.key() == "location")
        locations.insert(entry.value());
  };
  for (const onnx::TensorProto &init : model.graph().initializer())
    collect(init);
  for (const onnx::NodeProto &node : model.graph().node())
    for (const onnx::AttributeProto &attr : node.attribute())
      if (attr.has_t())
        collect(attr.t());
  for (const auto &entry : locations) {
    SmallString<256> from(fromDir), to(toDir);
    llvm::sys::path::append(from, entry.getKey());
    llvm::sys::path::append(to, entry.getKey());
    if (llvm::sys::fs::exists(to)) {
      if (sameContents(from, to))
        continue;
      return emitError(loc) << "the output's external data file '" << to
                            << "' exists and is not the model's '" << from
                            << "'; remove it or write elsewhere";
    }
    StringRef parent = llvm::sys::path::parent_path(to);
    if (std::error_code ec = llvm::sys::fs::create_directories(parent))
      return emitError(loc)
             << "cannot create '" << parent << "': " << ec.message();
    // A copy, not a hard link: onnx's loader refuses external data files
    // with several links (a "hardlink attack").
    if (std::error_code ec = llvm::sys::fs::copy_file(from, to))
      return emitError(loc) << "cannot copy external data '" << from << "' to '"
                            << to << "': " << ec.message();
  }
  return success();
}

StringRef folderOf(StringRef file, SmallString<256> &storage) {
  storage = file;
  llvm::sys::path::remove_filename(storage);
  if (storage.empty())
    storage = ".";
  return storage;
}

} // namespace

LogicalResult mlir::attnres::convertONNXModel(StringRef inputPath,
                                              StringRef outputPath,
                                              MLIRContext *context,
                                              const ONNXConvertOptions &options,
                                              llvm::raw_ostream *report) {
  Location fileLoc = FileLineColLoc::get(context, inputPath, 0, 0);
  if (!std::isfinite(options.keyNormEpsilon) || options.keyNormEpsilon < 0)
    return emitError(fileLoc)
           << "key-norm-epsilon must be finite and non-negative, got "
           << options.keyNormEpsilon;
  auto file = llvm::MemoryBuffer::getFile(inputPath, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return emitError(fileLoc)
           << "cannot read ONNX model: " << file.getError().message();
  // The importer validates the whole model (and its external data) first.
  ONNXImportOptions importOptions = options.import;
  importOptions.annotateTensorNames = options.canonicalize;
  llvm::StringMap<Type> tensorTypes;
  importOptions.tensorTypes = &tensorTypes;
  OwningOpRef<ModuleOp> module =
      importONNXFile(inputPath, context, importOptions);
  if (!module)
    return failure();
  PassManager pm(context);
  pm.addPass(createRaiseNorms());
  if (options.canonicalize)
    pm.addPass(createRaiseAggregation());
  if (failed(pm.run(*module)))
    return failure();
  auto func = module->lookupSymbol<func::FuncOp>(options.import.entryName);
  if (!func)
    return emitError(fileLoc) << "internal error: the import has no function";
  onnx::ModelProto model;
  if (!model.ParseFromArray((*file)->getBufferStart(),
                            int((*file)->getBufferSize())))
    return emitError(fileLoc) << "cannot read the model again";
  bool calls = false;
  for (const onnx::NodeProto &node : model.graph().node())
    calls |= node.domain() == kAttnResDomain;
  if (calls)
    return emitError(fileLoc) << "the model already is Block AttnRes (it calls "
                              << kAttnResDomain << " aggregations)";
  SmallVector<ResidualStream> streams;
  SmallVector<BlockAttnResPlan> plans;
  if (!options.canonicalize) {
    FailureOr<SmallVector<ResidualStream>> found = findResidualStreams(func);
    if (failed(found))
      return failure();
    if (found->empty())
      return emitError(fileLoc)
             << "found no PreNorm residual stream to rewrite: no RMSNorm or "
                "LayerNorm reads a residual add";
    streams = std::move(*found);
    if (failed(checkOptionsForStreams(func, streams, options.blocks)))
      return failure();
    for (auto [i, stream] : llvm::enumerate(streams)) {
      FailureOr<BlockAttnResPlan> plan =
          planBlockAttnRes(func, stream, options.blocks, i);
      if (failed(plan))
        return failure();
      plans.push_back(std::move(*plan));
    }
  }

  Converter converter(model, inputPath, context, options, tensorTypes);
  std::string summary;
  llvm::raw_string_ostream summaryStream(summary);
  if (failed(options.canonicalize
                 ? converter.canonicalize(func, &summaryStream)
                 : converter.run(func, streams, plans, &summaryStream)))
    return failure();

  std::string bytes;
  if (!model.SerializeToString(&bytes))
    return emitError(fileLoc) << "cannot serialize the converted model (over "
                                 "2 GB of inline data?)";
  // Written next to the output and renamed over it at the end, so that a
  // failure leaves no partial file and the output may be the input.
  SmallString<256> fromStorage, toStorage;
  StringRef fromDir = folderOf(inputPath, fromStorage),
            toDir = folderOf(outputPath, toStorage);
  llvm::Expected<llvm::sys::fs::TempFile> temp =
      llvm::sys::fs::TempFile::create(outputPath + ".tmp-%%%%%%");
  if (!temp)
    return emitError(fileLoc) << "cannot write '" << outputPath
                              << "': " << llvm::toString(temp.takeError());
  auto discard = [&] { llvm::consumeError(temp->discard()); };
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    os << bytes;
    os.flush();
    if (os.has_error()) {
      discard();
      return emitError(fileLoc)
             << "cannot write '" << outputPath << "': " << os.error().message();
    }
  }
  if (failed(copyExternalData(model, fromDir, toDir, fileLoc))) {
    discard();
    return failure();
  }
  if (llvm::Error err = temp->keep(outputPath))
    return emitError(fileLoc) << "cannot write '" << outputPath
                              << "': " << llvm::toString(std::move(err));
  if (report)
    *report << summary;
  return success();
}
