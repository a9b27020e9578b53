//===- TwoPhase.cpp - Split Block AttnRes into phase 1 and phase 2 --------===//
//
// Replaces the aggregations of a block by one attnres.phase1 over the
// completed blocks and one attnres.phase2 per layer with a partial sum, so
// that the completed blocks are read once per block instead of once per
// layer.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/AggregationGroups.h"
#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Transforms/Passes.h"
#include "attnres/Transforms/Utils.h"

#include "mlir/IR/Builders.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_TWOPHASE
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Replaces `members`, which attend over `completed` plus at most a partial
/// sum each, by one phase 1 before the first member and a phase 2 per
/// member with a partial sum.
void split(MutableArrayRef<BlockAttnResOp> members, ArrayRef<Value> completed) {
  SmallVector<Value> queries, keyNorms;
  for (BlockAttnResOp member : members) {
    queries.push_back(member.getQuery());
    keyNorms.push_back(member.getKeyNormWeight());
  }
  OpBuilder b(members.front());
  auto phase1 =
      Phase1Op::create(b, members.front().getLoc(), completed, queries,
                       keyNorms, members.front().getEpsilon().convertToFloat());
  for (auto [index, member] : llvm::enumerate(members)) {
    Value replacement = phase1.getOutputs()[index];
    if (AggregationGroup::hasPartial(member, completed.size())) {
      b.setInsertionPoint(member);
      replacement =
          Phase2Op::create(b, member.getLoc(), replacement,
                           phase1.getLse()[index], member.getSources().back(),
                           member.getQuery(), member.getKeyNormWeight(),
                           member.getEpsilon().convertToFloat())
              .getResult();
    }
    member.getResult().replaceAllUsesWith(replacement);
    member.erase();
  }
}

struct TwoPhasePass : attnres::impl::TwoPhaseBase<TwoPhasePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    DominanceInfo &dominance = getAnalysis<DominanceInfo>();
    bool changed = false;
    for (AggregationGroup &group : groupAggregations(func)) {
      BlockAttnResOp first = group.members.front();
      if (group.members.size() == 1 &&
          !AggregationGroup::hasPartial(first, group.completed.size())) {
        if (verbose)
          emitRemark(first.getLoc())
              << describeOp(first) << " not split: the only aggregation over "
              << "its " << group.completed.size()
              << " completed blocks, without a partial block sum, so phase 1 "
                 "alone would compute it; left as attnres.block_attn_res";
        continue;
      }
      // Phase 1 goes before the first member, which reads every completed
      // block; the other members' parameters must be available there too.
      // A member whose are not gets a phase 1 of its own.
      SmallVector<BlockAttnResOp> shared, alone;
      for (BlockAttnResOp member : group.members) {
        if (makeAvailableBefore(member.getQuery(), first, dominance) &&
            makeAvailableBefore(member.getKeyNormWeight(), first, dominance)) {
          shared.push_back(member);
          continue;
        }
        if (verbose)
          emitRemark(member.getLoc())
              << describeOp(member)
              << " split on its own: its query or key-norm weight is computed "
                 "after the first aggregation of its block ("
              << describeOp(first) << "), so it cannot share that phase 1";
        alone.push_back(member);
      }
      split(shared, group.completed);
      for (BlockAttnResOp member : alone)
        if (AggregationGroup::hasPartial(member, group.completed.size()))
          split(member, group.completed);
      changed = true;
    }
    if (!changed)
      markAllAnalysesPreserved();
  }
};

} // namespace
