//===- AggregationGroups.cpp - Aggregations that share completed blocks ---===//
//
// Groups are found from how sources are read, not from names or positions:
// the rewrite and raised PyTorch models alike read each block sum from every
// later aggregation, and each partial sum from one aggregation, last.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/AggregationGroups.h"

#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// What members of one group share.
struct GroupKey {
  Block *block;
  SmallVector<Value> completed;
  float epsilon;

  bool operator==(const GroupKey &other) const {
    return block == other.block && completed == other.completed &&
           epsilon == other.epsilon;
  }
};

} // namespace

SmallVector<AggregationGroup>
mlir::attnres::groupAggregations(func::FuncOp func) {
  SmallVector<BlockAttnResOp> aggregations;
  llvm::DenseSet<Value> completed;
  func.walk([&](Operation *op) {
    // Aggregations split before read their completed blocks in phase 1.
    if (auto phase1 = dyn_cast<Phase1Op>(op))
      completed.insert_range(phase1.getBlocks());
    auto aggregation = dyn_cast<BlockAttnResOp>(op);
    if (!aggregation)
      return;
    aggregations.push_back(aggregation);
    ValueRange sources = aggregation.getSources();
    for (Value source : sources.drop_back())
      completed.insert(source);
    if (sources.size() == 1)
      completed.insert(sources.front());
  });

  SmallVector<GroupKey> keys;
  SmallVector<AggregationGroup> groups;
  for (BlockAttnResOp op : aggregations) {
    ValueRange sources = op.getSources();
    if (!completed.contains(sources.back()))
      sources = sources.drop_back();
    GroupKey key{op->getBlock(),
                 SmallVector<Value>(sources.begin(), sources.end()),
                 op.getEpsilon().convertToFloat()};
    auto *it = llvm::find(keys, key);
    if (it == keys.end()) {
      keys.push_back(key);
      groups.push_back({key.completed, {}});
      it = std::prev(keys.end());
    }
    groups[it - keys.begin()].members.push_back(op);
  }
  return groups;
}

AggregationTraffic mlir::attnres::aggregationTraffic(size_t numCompleted,
                                                     size_t groupSize,
                                                     bool hasPartial,
                                                     bool partialIsSum) {
  double c = double(numCompleted);
  double add = hasPartial && partialIsSum ? 3 : 0;
  double norm = 2;
  AggregationTraffic traffic;
  traffic.unsplit = add + c + (hasPartial ? 1 : 0) + 1 + norm;
  // One completed block is phase 1's output as it is: nothing is written.
  double phase1 = c / double(groupSize) + (numCompleted > 1 ? 1 : 0);
  double phase2 = hasPartial ? 3 : 0;
  traffic.twoPhase = add + phase1 + phase2 + norm;
  traffic.fused = hasPartial ? add + phase1 + phase2 : traffic.twoPhase;
  return traffic;
}

double mlir::attnres::aggregationFlops(size_t numCompleted, size_t groupSize,
                                       bool hasPartial, bool partialIsSum,
                                       bool split) {
  double c = double(numCompleted), s = double(groupSize);
  double p = hasPartial ? 1 : 0;
  double add = hasPartial && partialIsSum ? 1 : 0;
  double norm = 4;
  if (!split)
    return add + 6 * (c + p) + norm;
  // Phase 1 scores each completed block once for the group's S layers (its
  // squares once, one query-weighted sum per layer) and forms each layer's
  // weighted sum; one completed block is its own output.
  double phase1 = c * (2 + 2 * s) / s + (numCompleted > 1 ? 2 * c : 0);
  double phase2 = hasPartial ? 4 + 3 : 0;
  return add + phase1 + phase2 + norm;
}
