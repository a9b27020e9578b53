//===- ONNXImportFuzzer.cpp - libFuzzer target for the ONNX importer ------===//
//
// Bytes -> importONNXBuffer -> verify. The importer must never crash, never
// return a module that does not verify, and never fail without saying why.
//
// Byte-level mutation alone rarely gets a protobuf past parsing into the
// handlers, so a custom mutator also edits the parsed ModelProto the way
// real models go wrong: op types swapped, dims and attributes changed,
// inputs rewired or dropped, nodes removed or duplicated, opsets moved.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/ONNX/ONNXImport.h"

#include "onnx/onnx.pb.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace mlir;

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace {

// Ops the importer handles, and a few it does not, to reach the
// unsupported-op and schema paths.
const char *const kOpTypes[] = {"Add",
                                "Sub",
                                "Mul",
                                "Div",
                                "Pow",
                                "Max",
                                "Min",
                                "Sqrt",
                                "Reciprocal",
                                "Neg",
                                "Exp",
                                "Log",
                                "Erf",
                                "Tanh",
                                "Sigmoid",
                                "Abs",
                                "Relu",
                                "Gelu",
                                "Softmax",
                                "LogSoftmax",
                                "ReduceSum",
                                "ReduceMean",
                                "ReduceMax",
                                "LayerNormalization",
                                "RMSNormalization",
                                "MatMul",
                                "Gemm",
                                "Einsum",
                                "Reshape",
                                "Flatten",
                                "Transpose",
                                "Unsqueeze",
                                "Squeeze",
                                "Concat",
                                "Split",
                                "Slice",
                                "Shape",
                                "Size",
                                "Expand",
                                "Gather",
                                "Cast",
                                "Constant",
                                "ConstantOfShape",
                                "Range",
                                "Trilu",
                                "Where",
                                "Equal",
                                "Less",
                                "Greater",
                                "LessOrEqual",
                                "GreaterOrEqual",
                                "Not",
                                "Mod",
                                "Identity",
                                "Dropout",
                                "IsNaN",
                                "CumSum",
                                "Conv",
                                "IsInf",
                                "And",
                                "Or",
                                "Xor",
                                "BitwiseNot",
                                "Sin",
                                "Cos",
                                "Clip",
                                "Tile",
                                "Pad",
                                "ArgMax",
                                "GatherElements",
                                "GatherND",
                                "ScatterND",
                                "NoSuchOp"};

const char *const kAttrNames[] = {"axis",
                                  "axes",
                                  "perm",
                                  "keepdims",
                                  "num_outputs",
                                  "to",
                                  "upper",
                                  "allowzero",
                                  "epsilon",
                                  "transA",
                                  "transB",
                                  "alpha",
                                  "beta",
                                  "equation",
                                  "approximate",
                                  "fmod",
                                  "noop_with_empty_axes",
                                  "start",
                                  "end",
                                  "value",
                                  "exclusive",
                                  "reverse",
                                  "batch_dims",
                                  "mode",
                                  "detect_negative",
                                  "select_last_index",
                                  "reduction"};

const int64_t kInterestingInts[] = {0,
                                    1,
                                    2,
                                    3,
                                    -1,
                                    -2,
                                    4,
                                    16,
                                    64,
                                    4096,
                                    INT32_MAX,
                                    int64_t(1) << 32,
                                    int64_t(1) << 40,
                                    INT64_MAX,
                                    INT64_MIN};

struct Rng {
  std::minstd_rand engine;
  explicit Rng(unsigned seed) : engine(seed) {}
  size_t below(size_t n) { return n ? engine() % n : 0; }
  int64_t interesting() {
    if (below(4) == 0)
      return int64_t(engine()) - int64_t(engine());
    return kInterestingInts[below(std::size(kInterestingInts))];
  }
  template <typename T, size_t N> const T &pick(const T (&items)[N]) {
    return items[below(N)];
  }
};

/// All value names the graph defines, for rewiring inputs.
std::vector<std::string> valueNames(const onnx::GraphProto &g) {
  std::vector<std::string> names;
  for (const auto &i : g.input())
    names.push_back(i.name());
  for (const auto &i : g.initializer())
    names.push_back(i.name());
  for (const auto &n : g.node())
    for (const auto &o : n.output())
      names.push_back(o);
  return names;
}

void mutateDims(onnx::TensorShapeProto *shape, Rng &rng) {
  if (shape->dim_size() == 0 || rng.below(5) == 0) {
    shape->add_dim()->set_dim_value(rng.interesting());
    return;
  }
  auto *dim = shape->mutable_dim(rng.below(shape->dim_size()));
  if (rng.below(5) == 0)
    dim->set_dim_param("N");
  else
    dim->set_dim_value(rng.interesting());
}

void mutateAttribute(onnx::NodeProto *node, Rng &rng) {
  onnx::AttributeProto *a = nullptr;
  if (node->attribute_size() && rng.below(2))
    a = node->mutable_attribute(rng.below(node->attribute_size()));
  else {
    a = node->add_attribute();
    a->set_name(rng.pick(kAttrNames));
  }
  switch (rng.below(4)) {
  case 0:
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(rng.interesting());
    break;
  case 1: {
    a->set_type(onnx::AttributeProto::INTS);
    a->clear_ints();
    for (size_t i = 0, e = rng.below(5); i < e; ++i)
      a->add_ints(rng.interesting());
    break;
  }
  case 2:
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(rng.below(2) ? 0.0f : float(rng.interesting()));
    break;
  default:
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(rng.below(2) ? "ij,jk->ik" : "tanh");
    break;
  }
}

/// One structural edit of a parsed model.
void mutateModel(onnx::ModelProto &model, Rng &rng) {
  onnx::GraphProto *g = model.mutable_graph();
  int numNodes = g->node_size();
  onnx::NodeProto *node =
      numNodes ? g->mutable_node(rng.below(numNodes)) : nullptr;
  switch (rng.below(12)) {
  case 0:
    if (node)
      node->set_op_type(rng.pick(kOpTypes));
    break;
  case 1:
    if (g->input_size())
      mutateDims(g->mutable_input(rng.below(g->input_size()))
                     ->mutable_type()
                     ->mutable_tensor_type()
                     ->mutable_shape(),
                 rng);
    break;
  case 2:
    if (node)
      mutateAttribute(node, rng);
    break;
  case 3:
    if (node && node->input_size()) {
      std::vector<std::string> names = valueNames(*g);
      node->set_input(rng.below(node->input_size()),
                      rng.below(5) == 0 || names.empty()
                          ? std::string()
                          : names[rng.below(names.size())]);
    }
    break;
  case 4:
    if (node) {
      if (rng.below(2) && node->input_size())
        node->mutable_input()->RemoveLast();
      else {
        std::vector<std::string> names = valueNames(*g);
        if (!names.empty())
          node->add_input(names[rng.below(names.size())]);
      }
    }
    break;
  case 5:
    if (node) {
      if (rng.below(2) && node->output_size())
        node->mutable_output()->RemoveLast();
      else
        node->add_output("extra" + std::to_string(rng.below(100)));
    }
    break;
  case 6:
    if (numNodes > 1) {
      g->mutable_node()->SwapElements(rng.below(numNodes), numNodes - 1);
      g->mutable_node()->RemoveLast();
    }
    break;
  case 7:
    if (node) {
      onnx::NodeProto copy = *node;
      for (auto &out : *copy.mutable_output())
        out += "_dup";
      *g->add_node() = copy;
    }
    break;
  case 8:
    if (g->initializer_size()) {
      onnx::TensorProto *t =
          g->mutable_initializer(rng.below(g->initializer_size()));
      if (rng.below(2) && t->dims_size())
        t->set_dims(rng.below(t->dims_size()), rng.interesting());
      else
        t->set_data_type(int32_t(rng.below(24)));
    }
    break;
  case 9:
    if (model.opset_import_size())
      model.mutable_opset_import(0)->set_version(int64_t(10 + rng.below(22)));
    break;
  case 10:
    if (numNodes > 1)
      g->mutable_node()->SwapElements(rng.below(numNodes), rng.below(numNodes));
    break;
  default:
    if (g->input_size())
      g->mutable_input(rng.below(g->input_size()))
          ->mutable_type()
          ->mutable_tensor_type()
          ->set_elem_type(int32_t(rng.below(24)));
    break;
  }
}

/// One context for many inputs (creating one per input would dominate the
/// run time); replaced now and then, since uniqued names and types
/// accumulate in it.
MLIRContext &fuzzContext() {
  static std::unique_ptr<MLIRContext> context;
  static unsigned uses = 0;
  if (!context || ++uses % 20000 == 0)
    context = std::make_unique<MLIRContext>(MLIRContext::Threading::DISABLED);
  return *context;
}

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  Rng rng(seed);
  onnx::ModelProto model;
  if (rng.below(3) == 0 || !model.ParseFromArray(data, int(size)) ||
      !model.has_graph())
    return LLVMFuzzerMutate(data, size, maxSize);
  for (size_t i = 0, e = 1 + rng.below(3); i < e; ++i)
    mutateModel(model, rng);
  std::string bytes;
  if (!model.SerializeToString(&bytes) || bytes.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::copy(bytes.begin(), bytes.end(), data);
  return bytes.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &context = fuzzContext();
  unsigned errors = 0;
  std::vector<std::string> messages;
  ScopedDiagnosticHandler count(&context, [&](Diagnostic &diag) {
    errors += diag.getSeverity() == DiagnosticSeverity::Error;
    messages.push_back(diag.str());
    return success();
  });
  attnres::ONNXImportOptions options;
  // A folder that does not exist: external data can only fail to resolve.
  OwningOpRef<ModuleOp> module = attnres::importONNXBuffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size),
      "onnx-import-fuzzer-no-such-dir/model.onnx", &context, options);
  if (!module && errors == 0) {
    std::fprintf(stderr, "import failed without an error diagnostic\n");
    std::abort();
  }
  // A handler that builds IR the verifier rejects is a bug even though the
  // import fails cleanly: the user gets no usable message.
  // Matched on the message's fixed parts only: a model's own names (which
  // the fuzzer learns from these very comparisons) appear elsewhere.
  if (llvm::any_of(messages, [](const std::string &m) {
        llvm::StringRef text(m);
        return text == "internal error: the imported module does not verify" ||
               (text.starts_with("node '") &&
                text.ends_with("internal error: the importer built invalid "
                               "IR for this node (see the error above); "
                               "please report it"));
      })) {
    for (const std::string &m : messages)
      std::fprintf(stderr, "error: %s\n", m.c_str());
    std::abort();
  }
  if (module && failed(verify(*module))) {
    std::fprintf(stderr, "import returned a module that does not verify\n");
    std::abort();
  }
  return 0;
}
