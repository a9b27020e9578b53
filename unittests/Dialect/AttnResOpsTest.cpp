//===- AttnResOpsTest.cpp - C++ builders and verifiers of attnres ops -----===//
//
// Builds attnres ops through the generated C++ builders, the way the
// importer and the rewrites do, and checks what the verifier accepts,
// rejects and reports.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Dialect/AttnRes/AttnResDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "gtest/gtest.h"

#include <string>

using namespace mlir;
using namespace mlir::attnres;

namespace {

class AttnResOpsTest : public ::testing::Test {
protected:
  AttnResOpsTest() : builder(&context) {
    context.loadDialect<AttnResDialect, func::FuncDialect>();
    loc = builder.getUnknownLoc();
    module = ModuleOp::create(loc);
  }

  /// A function whose arguments have the given types; ops are built into its
  /// body so that they have real block-argument operands.
  Block *makeFunction(ArrayRef<Type> argTypes) {
    builder.setInsertionPointToEnd(module->getBody());
    auto fn = func::FuncOp::create(builder, loc, "f",
                                   builder.getFunctionType(argTypes, {}));
    Block *body = fn.addEntryBlock();
    builder.setInsertionPointToStart(body);
    return body;
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type elem = {}) {
    return RankedTensorType::get(shape, elem ? elem : builder.getF32Type());
  }

  /// Verifies `op` and returns the diagnostics it produced (empty on success).
  std::string verifyMessages(Operation *op) {
    std::string messages;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      messages += diag.str();
      return success();
    });
    if (succeeded(verify(op)))
      EXPECT_TRUE(messages.empty());
    else
      EXPECT_FALSE(messages.empty());
    return messages;
  }

  MLIRContext context;
  OpBuilder builder;
  Location loc = UnknownLoc::get(&context);
  OwningOpRef<ModuleOp> module;
};

TEST_F(AttnResOpsTest, RMSNormInfersResultType) {
  Block *body = makeFunction({tensor({2, 16, 64}), tensor({64})});
  auto op = RMSNormOp::create(builder, loc, body->getArgument(0),
                              body->getArgument(1), 1e-5f);
  EXPECT_EQ(op.getType(), tensor({2, 16, 64}));
  EXPECT_EQ(verifyMessages(op), "");
  EXPECT_FLOAT_EQ(op.getEpsilon().convertToFloat(), 1e-5f);
}

TEST_F(AttnResOpsTest, RMSNormRejectsWeightOfWrongSize) {
  Block *body = makeFunction({tensor({2, 16, 64}), tensor({32})});
  auto op = RMSNormOp::create(builder, loc, body->getArgument(0),
                              body->getArgument(1), 1e-5f);
  EXPECT_NE(verifyMessages(op).find("expects weight of size 64 (the last "
                                    "dimension of input), got 32"),
            std::string::npos);
}

TEST_F(AttnResOpsTest, RMSNormRejectsNegativeEpsilon) {
  Block *body = makeFunction({tensor({4, 8}), tensor({8})});
  auto op = RMSNormOp::create(builder, loc, body->getArgument(0),
                              body->getArgument(1), -1.0f);
  EXPECT_NE(verifyMessages(op).find("finite, non-negative epsilon"),
            std::string::npos);
}

TEST_F(AttnResOpsTest, RMSNormAcceptsDynamicFeatureAxis) {
  Block *body = makeFunction(
      {tensor({ShapedType::kDynamic, ShapedType::kDynamic}), tensor({8})});
  auto op = RMSNormOp::create(builder, loc, body->getArgument(0),
                              body->getArgument(1), 0.0f);
  EXPECT_EQ(verifyMessages(op), "");
}

TEST_F(AttnResOpsTest, BlockAttnResBuilderTakesResultTypeFromSources) {
  Type source = tensor({1, 16, 64});
  Block *body =
      makeFunction({source, source, source, tensor({64}), tensor({64})});
  auto op =
      BlockAttnResOp::create(builder, loc, body->getArguments().take_front(3),
                             body->getArgument(3), body->getArgument(4), 1e-6f);
  EXPECT_EQ(op.getType(), source);
  EXPECT_EQ(op.getNumSources(), 3u);
  EXPECT_EQ(verifyMessages(op), "");
}

TEST_F(AttnResOpsTest, BlockAttnResRejectsMismatchedSource) {
  Block *body = makeFunction(
      {tensor({1, 16, 64}), tensor({1, 8, 64}), tensor({64}), tensor({64})});
  auto op =
      BlockAttnResOp::create(builder, loc, body->getArguments().take_front(2),
                             body->getArgument(2), body->getArgument(3), 1e-6f);
  EXPECT_NE(verifyMessages(op).find("but source #1 has type "
                                    "'tensor<1x8x64xf32>'"),
            std::string::npos);
}

TEST_F(AttnResOpsTest, BlockAttnResRejectsQueryOfWrongElementType) {
  Block *body =
      makeFunction({tensor({4, 64}), tensor({64}, builder.getF16Type()),
                    tensor({64}, builder.getF16Type())});
  auto op =
      BlockAttnResOp::create(builder, loc, body->getArgument(0),
                             body->getArgument(1), body->getArgument(2), 1e-6f);
  EXPECT_NE(verifyMessages(op).find("element type 'f32'"), std::string::npos);
}

TEST_F(AttnResOpsTest, BlockAttnResFoldsIdenticalSources) {
  Type source = tensor({4, 64});
  Block *body = makeFunction({source, source, tensor({64}), tensor({64})});
  Value v = body->getArgument(0);
  auto same =
      BlockAttnResOp::create(builder, loc, ValueRange{v, v, v},
                             body->getArgument(2), body->getArgument(3), 1e-6f);
  SmallVector<OpFoldResult> folded;
  ASSERT_TRUE(succeeded(same->fold(folded)));
  ASSERT_EQ(folded.size(), 1u);
  EXPECT_EQ(dyn_cast<Value>(folded.front()), v);

  auto distinct =
      BlockAttnResOp::create(builder, loc, ValueRange{v, body->getArgument(1)},
                             body->getArgument(2), body->getArgument(3), 1e-6f);
  folded.clear();
  EXPECT_TRUE(failed(distinct->fold(folded)));
}

} // namespace
