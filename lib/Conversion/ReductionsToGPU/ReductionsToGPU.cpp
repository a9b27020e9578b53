//===- ReductionsToGPU.cpp - Row reductions as a warp per row -------------===//
//
// convert-linalg-to-parallel-loops keeps a reduction's loop sequential inside
// the parallel loop over its rows, so on the GPU each thread reduces a whole
// row alone: neighbouring threads read addresses a row apart (no
// coalescing), and the accumulator is loaded and stored on every iteration.
// Softmax, LayerNorm and the means of decomposed norms are such reductions,
// and they were most of a model's loop-kernel time on an H200
// (bench/RESULTS.md). Here each row is reduced by one warp: lanes stride
// through the row together, each keeps its partial in a register, and
// butterfly shuffles combine the partials.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTREDUCTIONSTOGPU
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

constexpr int64_t kWarpSize = 32;

/// The op that folds an element into the accumulator, if the body is
/// `yield combiner(acc, f(inputs))` with `acc` read there only and the
/// combiner associative and commutative with a neutral element; partials
/// may then be combined in any order and grouping.
Operation *combinerOf(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  BlockArgument acc = body->getArguments().back();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  if (yield.getNumOperands() != 1 || !acc.hasOneUse())
    return nullptr;
  Operation *combiner = yield.getOperand(0).getDefiningOp();
  if (!combiner || combiner->getBlock() != body ||
      *acc.getUsers().begin() != combiner || combiner->getNumOperands() != 2)
    return nullptr;
  if (!isa<arith::AddFOp, arith::MulFOp, arith::MaximumFOp, arith::MinimumFOp,
           arith::MaxNumFOp, arith::MinNumFOp>(combiner))
    return nullptr;
  if (!arith::getNeutralElement(combiner))
    return nullptr;
  return combiner;
}

/// The value of one result of an indexing map at the loop indices `ivs`.
Value evaluate(OpBuilder &b, Location loc, AffineMap map, unsigned result,
               ValueRange ivs) {
  AffineExpr expr = map.getResult(result);
  if (auto dim = dyn_cast<AffineDimExpr>(expr))
    return ivs[dim.getPosition()];
  if (auto constant = dyn_cast<AffineConstantExpr>(expr))
    return arith::ConstantIndexOp::create(b, loc, constant.getValue());
  return affine::expandAffineExpr(b, loc, expr, ivs, /*symbolValues=*/{});
}

Value combine(OpBuilder &b, Location loc, Operation *combiner, Value lhs,
              Value rhs) {
  OperationState state(loc, combiner->getName());
  state.addOperands({lhs, rhs});
  state.addTypes(lhs.getType());
  state.addAttributes(combiner->getAttrs());
  return b.create(state)->getResult(0);
}

struct ReductionToWarps : OpInterfaceRewritePattern<linalg::LinalgOp> {
  ReductionToWarps(MLIRContext *context, int64_t warpsPerBlock)
      : OpInterfaceRewritePattern(context), warpsPerBlock(warpsPerBlock) {}

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
        op->getParentOfType<gpu::LaunchOp>() ||
        op->getParentOfType<scf::ParallelOp>())
      return rewriter.notifyMatchFailure(op, "not a host-side buffer op");
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    if (llvm::count(iterators, utils::IteratorType::reduction) != 1)
      return rewriter.notifyMatchFailure(op, "not one reduction dimension");
    unsigned reduced = llvm::find(iterators, utils::IteratorType::reduction) -
                       iterators.begin();
    OpOperand *init = op.getDpsInitOperand(0);
    auto initType = dyn_cast<MemRefType>(init->get().getType());
    // Shuffles move 32-bit lanes; narrower accumulators are left alone.
    if (!initType || !initType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "accumulator is not f32");
    AffineMap initMap = op.getMatchingIndexingMap(init);
    if (!initMap.isProjectedPermutation() || initMap.isFunctionOfDim(reduced))
      return rewriter.notifyMatchFailure(op, "output is not one per row");
    // A warp reads consecutive elements of a row only if the reduced
    // dimension is the innermost of every input it indexes; otherwise the
    // thread-per-row loop, which strides along the rows, coalesces better.
    for (OpOperand *input : op.getDpsInputOperands()) {
      AffineMap map = op.getMatchingIndexingMap(input);
      if (!map.isFunctionOfDim(reduced))
        continue;
      if (map.getNumResults() == 0 || map.getResult(map.getNumResults() - 1) !=
                                          rewriter.getAffineDimExpr(reduced))
        return rewriter.notifyMatchFailure(op, "reduced dim is not innermost");
      for (unsigned r = 0; r + 1 < map.getNumResults(); ++r)
        if (map.getResult(r).isFunctionOfDim(reduced))
          return rewriter.notifyMatchFailure(op, "reduced dim read twice");
    }
    Operation *combiner = combinerOf(op);
    if (!combiner)
      return rewriter.notifyMatchFailure(op, "not a plain combining body");

    Location loc = op.getLoc();
    SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
    auto sizeOf = [&](unsigned d) {
      return getValueOrCreateConstantIndexOp(rewriter, loc, ranges[d].size);
    };
    SmallVector<unsigned> rowDims;
    for (unsigned d = 0; d < iterators.size(); ++d)
      if (d != reduced)
        rowDims.push_back(d);
    SmallVector<Value> rowSizes = llvm::map_to_vector(rowDims, sizeOf);
    Value length = sizeOf(reduced);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value rows = one;
    for (Value size : rowSizes)
      rows = arith::MulIOp::create(rewriter, loc, rows, size);
    Value warps = arith::ConstantIndexOp::create(rewriter, loc, warpsPerBlock);
    Value blocks = arith::CeilDivUIOp::create(rewriter, loc, rows, warps);
    Value threads = arith::ConstantIndexOp::create(rewriter, loc,
                                                   warpsPerBlock * kWarpSize);

    // No rows: CUDA refuses an empty grid, and there is nothing to do.
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value any = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ugt,
                                      rows, zero);
    auto ifAny = scf::IfOp::create(rewriter, loc, any);
    rewriter.setInsertionPointToStart(&ifAny.getThenRegion().front());
    auto launch = gpu::LaunchOp::create(rewriter, loc, blocks, one, one,
                                        threads, one, one);
    Block &body = launch.getBody().front();
    rewriter.setInsertionPointToEnd(&body);
    gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPointToStart(&body);

    Value warpSize = arith::ConstantIndexOp::create(rewriter, loc, kWarpSize);
    Value tid = launch.getThreadIds().x;
    Value lane = arith::RemUIOp::create(rewriter, loc, tid, warpSize);
    Value warp = arith::DivUIOp::create(rewriter, loc, tid, warpSize);
    Value row = arith::AddIOp::create(
        rewriter, loc,
        arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x, warps),
        warp);
    // Every lane of a warp has the same row, so the shuffles below are
    // reached by whole warps only.
    Value inRange = arith::CmpIOp::create(rewriter, loc,
                                          arith::CmpIPredicate::ult, row, rows);
    auto ifRow = scf::IfOp::create(rewriter, loc, inRange);
    rewriter.setInsertionPointToStart(&ifRow.getThenRegion().front());

    // The row's indices, its last dimension fastest.
    SmallVector<Value> ivs(iterators.size());
    Value rest = row;
    for (int i = rowDims.size() - 1; i > 0; --i) {
      ivs[rowDims[i]] =
          arith::RemUIOp::create(rewriter, loc, rest, rowSizes[i]);
      rest = arith::DivUIOp::create(rewriter, loc, rest, rowSizes[i]);
    }
    if (!rowDims.empty())
      ivs[rowDims.front()] = rest;

    Value neutral = arith::ConstantOp::create(
        rewriter, loc, *arith::getNeutralElement(combiner));
    auto loop = scf::ForOp::create(rewriter, loc, lane, length, warpSize,
                                   ValueRange{neutral});
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(loop.getBody());
      ivs[reduced] = loop.getInductionVar();
      Block *payload = op.getBlock();
      IRMapping mapping;
      for (OpOperand *input : op.getDpsInputOperands()) {
        BlockArgument arg = op.getMatchingBlockArgument(input);
        Value source = input->get();
        if (!isa<MemRefType>(source.getType())) {
          mapping.map(arg, source);
          continue;
        }
        AffineMap map = op.getMatchingIndexingMap(input);
        SmallVector<Value> indices;
        for (unsigned r = 0; r < map.getNumResults(); ++r)
          indices.push_back(evaluate(rewriter, loc, map, r, ivs));
        mapping.map(arg,
                    memref::LoadOp::create(rewriter, loc, source, indices));
      }
      mapping.map(payload->getArguments().back(), loop.getRegionIterArgs()[0]);
      for (Operation &inner : payload->without_terminator()) {
        if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
          mapping.map(index.getResult(), ivs[index.getDim()]);
          continue;
        }
        rewriter.clone(inner, mapping);
      }
      Value next = mapping.lookup(payload->getTerminator()->getOperand(0));
      scf::YieldOp::create(rewriter, loc, next);
    }

    Value partial = loop.getResult(0);
    for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      Value other = gpu::ShuffleOp::create(rewriter, loc, partial, offset,
                                           kWarpSize, gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      partial = combine(rewriter, loc, combiner, partial, other);
    }

    Value first = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                        lane, zero);
    auto ifFirst = scf::IfOp::create(rewriter, loc, first);
    rewriter.setInsertionPointToStart(&ifFirst.getThenRegion().front());
    SmallVector<Value> outIndices;
    for (unsigned r = 0; r < initMap.getNumResults(); ++r)
      outIndices.push_back(evaluate(rewriter, loc, initMap, r, ivs));
    Value start =
        memref::LoadOp::create(rewriter, loc, init->get(), outIndices);
    Value total = combine(rewriter, loc, combiner, start, partial);
    memref::StoreOp::create(rewriter, loc, total, init->get(), outIndices);

    rewriter.eraseOp(op);
    return success();
  }

  int64_t warpsPerBlock;
};

/// A reduction whose reduced dimension comes before a parallel one (a
/// column sum, a ReduceSum over the batch) would lower to a sequential host
/// loop over the reduced dimension that launches a kernel per step: the
/// loops are interchanged so that the parallel ones come first, each
/// thread then folds its own column. The reduction dimensions keep their
/// order, so every output element is summed in the same order.
struct ParallelLoopsFirst : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op->getParentOfType<gpu::LaunchOp>() ||
        op->getParentOfType<scf::ParallelOp>())
      return rewriter.notifyMatchFailure(op, "not a host-side buffer op");
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    SmallVector<unsigned> order;
    for (auto kind :
         {utils::IteratorType::parallel, utils::IteratorType::reduction})
      for (auto [d, iterator] : llvm::enumerate(iterators))
        if (iterator == kind)
          order.push_back(d);
    if (llvm::equal(order, llvm::seq<unsigned>(0, iterators.size())))
      return rewriter.notifyMatchFailure(op, "parallel loops come first");
    auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
    if (!generic) {
      FailureOr<linalg::GenericOp> generalized =
          linalg::generalizeNamedOp(rewriter, op);
      if (failed(generalized))
        return rewriter.notifyMatchFailure(op, "cannot generalize");
      generic = *generalized;
    }
    return linalg::interchangeGenericOp(rewriter, generic, order);
  }
};

struct ConvertReductionsToGPUPass
    : attnres::impl::ConvertReductionsToGPUBase<ConvertReductionsToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (warpsPerBlock < 1 || warpsPerBlock * kWarpSize > 1024) {
      emitError(getOperation()->getLoc())
          << "warps-per-block must be in [1, 32], got " << warpsPerBlock;
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<ReductionToWarps>(&getContext(), warpsPerBlock);
    patterns.add<ParallelLoopsFirst>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
