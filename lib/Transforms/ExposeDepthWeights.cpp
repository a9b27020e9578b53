//===- ExposeDepthWeights.cpp - Return each aggregation's softmax weights -===//
//
// For people who would rather look at what a model attends to over depth:
// every attnres.block_attn_res also gets its softmax weights over its sources
// computed (as TOSA ops, from the same formula) and returned as an extra
// function result, which attnres-run --dump-depth-weights writes out.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_EXPOSEDEPTHWEIGHTS
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// alpha[i, tokens...] = softmax_i(query . rms_norm(source_i)), in f32.
Value depthWeights(ImplicitLocOpBuilder &b, BlockAttnResOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  Type element = type.getElementType();
  ArrayRef<int64_t> tokens = type.getShape().drop_back();
  int64_t rank = type.getRank();
  Value shift = tosa::ConstOp::create(
      b, RankedTensorType::get({1}, b.getI8Type()),
      DenseElementsAttr::get(RankedTensorType::get({1}, b.getI8Type()),
                             b.getI8IntegerAttr(0)));
  SmallVector<int64_t> queryShape(rank, 1);
  queryShape.back() = type.getShape().back();
  Value query = tosa::ReshapeOp::create(
      b, RankedTensorType::get(queryShape, element), op.getQuery(),
      tosa::getTosaConstShape(b, queryShape));
  SmallVector<int64_t> keptShape(tokens);
  keptShape.push_back(1);
  SmallVector<int64_t> rowShape{1};
  llvm::append_range(rowShape, tokens);
  SmallVector<Value> rows;
  for (Value source : op.getSources()) {
    Value key = RMSNormOp::create(b, source, op.getKeyNormWeight(),
                                  op.getEpsilon().convertToFloat());
    Value product = tosa::MulOp::create(b, type, key, query, shift);
    Value logit =
        tosa::ReduceSumOp::create(b, RankedTensorType::get(keptShape, element),
                                  product, b.getI32IntegerAttr(rank - 1));
    rows.push_back(
        tosa::ReshapeOp::create(b, RankedTensorType::get(rowShape, element),
                                logit, tosa::getTosaConstShape(b, rowShape)));
  }
  SmallVector<int64_t> stackedShape(tokens);
  stackedShape.insert(stackedShape.begin(), int64_t(rows.size()));
  auto stackedType = RankedTensorType::get(stackedShape, b.getF32Type());
  Value logits =
      tosa::ConcatOp::create(b, RankedTensorType::get(stackedShape, element),
                             rows, b.getI32IntegerAttr(0));
  if (element != b.getF32Type())
    logits = tosa::CastOp::create(b, stackedType, logits);
  auto reducedType = RankedTensorType::get(rowShape, b.getF32Type());
  Value max =
      tosa::ReduceMaxOp::create(b, reducedType, logits, b.getI32IntegerAttr(0));
  Value exp = tosa::ExpOp::create(
      b, stackedType, tosa::SubOp::create(b, stackedType, logits, max));
  Value sum =
      tosa::ReduceSumOp::create(b, reducedType, exp, b.getI32IntegerAttr(0));
  return tosa::MulOp::create(b, stackedType, exp,
                             tosa::ReciprocalOp::create(b, reducedType, sum),
                             shift);
}

struct ExposeDepthWeightsPass
    : attnres::impl::ExposeDepthWeightsBase<ExposeDepthWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      SmallVector<BlockAttnResOp> aggregations;
      bool dynamic = false;
      func.walk([&](BlockAttnResOp op) {
        aggregations.push_back(op);
        dynamic |= !op.getType().hasStaticShape();
      });
      if (aggregations.empty())
        continue;
      if (dynamic || !func.getBody().hasOneBlock()) {
        if (verbose)
          emitRemark(func.getLoc())
              << "depth weights of @" << func.getSymName()
              << " not exposed: they need static shapes and one block";
        continue;
      }
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      SmallVector<Value> results(ret.getOperands());
      for (BlockAttnResOp op : aggregations) {
        ImplicitLocOpBuilder b(op.getLoc(), op);
        b.setInsertionPointAfter(op);
        results.push_back(depthWeights(b, op));
      }
      unsigned first = ret.getNumOperands();
      ret->setOperands(results);
      func.setType(FunctionType::get(&getContext(), func.getArgumentTypes(),
                                     ValueRange(results).getTypes()));
      for (unsigned i = first; i < results.size(); ++i)
        func.setResultAttr(
            i, "onnx.name",
            StringAttr::get(
                &getContext(),
                llvm::formatv("attnres.depth_weights.{0}", i - first).str()));
    }
  }
};

} // namespace
