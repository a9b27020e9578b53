//===- AggregationGroups.h - Aggregations that share completed blocks -*- C++
//-*-//
//
// Recovers the block structure of a function's Block AttnRes aggregations:
// which sources are completed block representations, which is a layer's
// partial block sum, and which layers attend over the same completed blocks
// (and so can share one phase-1 pass over them).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_ANALYSIS_AGGREGATIONGROUPS_H
#define ATTNRES_ANALYSIS_AGGREGATIONGROUPS_H

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::attnres {

/// The aggregations of one block: they attend over the same completed block
/// representations, each with at most one partial block sum of its own.
struct AggregationGroup {
  /// b_0 .. b_{n-1}, in source order.
  SmallVector<Value> completed;
  /// In program order. Member i has a partial sum (its last source) iff it
  /// has one source more than `completed`.
  SmallVector<BlockAttnResOp> members;

  static bool hasPartial(BlockAttnResOp op, size_t numCompleted) {
    return op.getNumSources() > numCompleted;
  }
};

/// Groups the `attnres.block_attn_res` ops of `func`.
///
/// A source is a completed block representation when some aggregation reads
/// it before its last source, or when it is an aggregation's only source, or
/// an `attnres.phase1` block (an aggregation split before):
/// block sums are read by every later block, while a partial sum is read by
/// one aggregation, last. An aggregation whose last source is not completed
/// has that source as its partial; the others are the completed blocks it
/// shares with its group. Members of a group also share their block and
/// epsilon. The final aggregation, whose last source (the last block's sum)
/// no one else reads, joins the last block's group as its partial: the same
/// softmax, split the same way.
SmallVector<AggregationGroup> groupAggregations(func::FuncOp func);

/// Per-token I/O of the ops that produce one layer's normalized input, in
/// rows of D elements (reads + writes): the partial-sum add, the
/// aggregation and the PreNorm norm. Per-token scalars (logits, lse) are
/// below 1/D of a row and are not counted.
struct AggregationTraffic {
  /// attnres.block_attn_res: every source once, the result once.
  double unsplit;
  /// phase 1 (the completed blocks once per group, the layer's state once)
  /// and phase 2 (state and partial in, result out), then the norm.
  double twoPhase;
  /// As twoPhase, with the norm inside phase 2.
  double fused;
};

/// The traffic of a layer with `numCompleted` completed blocks in a group
/// of `groupSize` layers, with or without a partial sum, which an add
/// produces (`partialIsSum`) or which is a layer output read directly.
AggregationTraffic aggregationTraffic(size_t numCompleted, size_t groupSize,
                                      bool hasPartial, bool partialIsSum);

/// Per-token arithmetic of the same ops, in units of D floating-point
/// operations (a multiply-add counts two), unsplit or `split` (two-phase, with
/// or without the fused norm: the same arithmetic): the partial-sum add (1),
/// the aggregation's scores (a sum of squares and a query-weighted sum per
/// source and query, 4), softmax-weighted sums (2 per source), phase 2's
/// merge (3), and the norm (4). Per-token scalar work (exp, log, rsqrt) is
/// not counted.
double aggregationFlops(size_t numCompleted, size_t groupSize, bool hasPartial,
                        bool partialIsSum, bool split);

} // namespace mlir::attnres

#endif // ATTNRES_ANALYSIS_AGGREGATIONGROUPS_H
