//===- ONNXImportTest.cpp - The importer as a library ---------------------===//
//
// What a compiler that links the importer relies on: importing from memory,
// failing with a diagnostic, and touching nothing in the caller's context
// beyond the dialects the imported IR uses.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/ONNX/ONNXImport.h"

#include "onnx/onnx.pb.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "gtest/gtest.h"

#include <string>

using namespace mlir;

namespace {

/// y = Relu(x) over float[2, 4], opset 18.
std::string reluModel() {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(18);
  onnx::GraphProto *graph = model.mutable_graph();
  graph->set_name("g");
  onnx::NodeProto *node = graph->add_node();
  node->set_op_type("Relu");
  node->set_name("relu");
  node->add_input("x");
  node->add_output("y");
  for (auto [info, name] : {std::pair(graph->add_input(), "x"),
                            std::pair(graph->add_output(), "y")}) {
    info->set_name(name);
    onnx::TypeProto::Tensor *tensor =
        info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    tensor->mutable_shape()->add_dim()->set_dim_value(2);
    tensor->mutable_shape()->add_dim()->set_dim_value(4);
  }
  return model.SerializeAsString();
}

TEST(ONNXImportTest, ImportsFromMemoryLoadingOnlyWhatItUses) {
  // A caller's context that registers more than the importer needs.
  DialectRegistry registry;
  registry.insert<gpu::GPUDialect>();
  MLIRContext context(registry);
  attnres::ONNXImportOptions options;
  OwningOpRef<ModuleOp> module =
      attnres::importONNXBuffer(reluModel(), "relu.onnx", &context, options);
  ASSERT_TRUE(module);
  EXPECT_TRUE(succeeded(verify(*module)));
  EXPECT_NE(context.getLoadedDialect("tosa"), nullptr);
  EXPECT_EQ(context.getLoadedDialect("gpu"), nullptr)
      << "the importer loaded a dialect it does not use";
}

TEST(ONNXImportTest, BadBytesFailWithALocatedError) {
  MLIRContext context;
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    std::string loc;
    llvm::raw_string_ostream os(loc);
    os << diag.getLocation();
    message = loc + ": " + message;
    return success();
  });
  std::string truncated = reluModel();
  truncated.resize(truncated.size() / 2);
  attnres::ONNXImportOptions options;
  EXPECT_FALSE(
      attnres::importONNXBuffer(truncated, "half.onnx", &context, options));
  EXPECT_NE(message.find("half.onnx"), std::string::npos) << message;
  EXPECT_NE(message.find("not a valid ONNX model"), std::string::npos)
      << message;
}

} // namespace
