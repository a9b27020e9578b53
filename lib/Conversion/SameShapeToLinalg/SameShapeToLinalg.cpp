//===- SameShapeToLinalg.cpp - Elementwise ops without broadcast checks ---===//
//
// tosa-to-linalg cannot know that two dynamic dims are one size, so it
// checks each for a broadcast from 1 at run time; the importer knows, and
// marks the ops whose operands agree. Those become one linalg.generic here.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTSAMESHAPETOLINALG
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {

template <typename OpTy> struct SameShapeToGeneric : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!op->hasAttr(attnres::kSameShapeAttrName))
      return rewriter.notifyMatchFailure(op, "not marked by the importer");
    SmallVector<Value> operands(op->getOperands());
    if constexpr (std::is_same_v<OpTy, tosa::MulOp>) {
      if (!matchPattern(op.getShift(), m_Zero()))
        return rewriter.notifyMatchFailure(op, "a shift other than 0");
      operands.pop_back();
    }
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!type || llvm::any_of(operands, [](Value v) {
          return !isa<RankedTensorType>(v.getType());
        }))
      return rewriter.notifyMatchFailure(op, "unranked");
    int64_t rank = type.getRank();
    if (llvm::any_of(operands, [&](Value v) {
          return cast<RankedTensorType>(v.getType()).getRank() != rank;
        }))
      return rewriter.notifyMatchFailure(op, "operands of another rank");

    // Each dynamic size from the first operand dynamic there: the importer
    // marked the op because they all agree.
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < rank; ++d) {
      if (!type.isDynamicDim(d)) {
        sizes.push_back(rewriter.getIndexAttr(type.getDimSize(d)));
        continue;
      }
      auto it = llvm::find_if(operands, [&](Value v) {
        return cast<RankedTensorType>(v.getType()).isDynamicDim(d);
      });
      if (it == operands.end())
        return rewriter.notifyMatchFailure(op, "a dynamic result dim no "
                                               "operand has");
      sizes.push_back(tensor::DimOp::create(rewriter, loc, *it, d).getResult());
    }
    SmallVector<AffineMap> maps;
    for (Value v : operands) {
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<AffineExpr> exprs;
      for (int64_t d = 0; d < rank; ++d)
        exprs.push_back(t.getDimSize(d) == 1 && type.getDimSize(d) != 1
                            ? rewriter.getAffineConstantExpr(0)
                            : rewriter.getAffineDimExpr(d));
      maps.push_back(AffineMap::get(rank, 0, exprs, rewriter.getContext()));
    }
    maps.push_back(rewriter.getMultiDimIdentityMap(rank));
    Value init =
        tensor::EmptyOp::create(rewriter, loc, sizes, type.getElementType());
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    bool isFloat = isa<FloatType>(type.getElementType());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, type, operands, init, maps, iterators,
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value r;
          if constexpr (std::is_same_v<OpTy, tosa::AddOp>)
            r = isFloat ? arith::AddFOp::create(b, loc, args[0], args[1])
                              .getResult()
                        : arith::AddIOp::create(b, loc, args[0], args[1])
                              .getResult();
          else if constexpr (std::is_same_v<OpTy, tosa::SubOp>)
            r = isFloat ? arith::SubFOp::create(b, loc, args[0], args[1])
                              .getResult()
                        : arith::SubIOp::create(b, loc, args[0], args[1])
                              .getResult();
          else if constexpr (std::is_same_v<OpTy, tosa::MulOp>)
            r = isFloat ? arith::MulFOp::create(b, loc, args[0], args[1])
                              .getResult()
                        : arith::MulIOp::create(b, loc, args[0], args[1])
                              .getResult();
          else
            r = arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
          linalg::YieldOp::create(b, loc, r);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct ConvertSameShapeToLinalgPass
    : attnres::impl::ConvertSameShapeToLinalgBase<
          ConvertSameShapeToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns
        .add<SameShapeToGeneric<tosa::AddOp>, SameShapeToGeneric<tosa::SubOp>,
             SameShapeToGeneric<tosa::MulOp>,
             SameShapeToGeneric<tosa::SelectOp>>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
