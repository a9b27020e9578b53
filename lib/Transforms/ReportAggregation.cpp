//===- ReportAggregation.cpp - The depth aggregations and their traffic ---===//
//
// Prints, per layer of a Block AttnRes function, what it attends over and the
// bytes its aggregation moves per token in each form, against the paper's
// budget. Users run it (as part of --attnres-report) to see what the
// two-phase split and the norm fusion buy on their model.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/AggregationGroups.h"
#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Transforms/Passes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_REPORTAGGREGATION
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

struct Row {
  size_t completed;
  size_t groupSize;
  bool hasPartial;
  bool partialIsSum;
  StringRef form;
};

bool isSum(Value partial) {
  return isa_and_nonnull<tosa::AddOp>(partial.getDefiningOp());
}

/// The layers of `func` in program order.
SmallVector<Row> collectRows(func::FuncOp func) {
  llvm::DenseMap<Operation *, std::pair<size_t, size_t>> unsplit;
  for (AggregationGroup &group : groupAggregations(func))
    for (BlockAttnResOp member : group.members)
      unsplit[member] = {group.completed.size(), group.members.size()};

  SmallVector<Row> rows;
  func.walk([&](Operation *op) {
    if (auto aggregation = dyn_cast<BlockAttnResOp>(op)) {
      auto [completed, size] = unsplit.lookup(op);
      bool partial = AggregationGroup::hasPartial(aggregation, completed);
      rows.push_back({completed, size, partial,
                      partial && isSum(aggregation.getSources().back()),
                      "unsplit"});
    } else if (auto phase1 = dyn_cast<Phase1Op>(op)) {
      // A block's first layer ends in phase 1; the others in phase 2.
      for (Value output : phase1.getOutputs())
        if (llvm::none_of(output.getUsers(), llvm::IsaPred<Phase2Op>))
          rows.push_back({phase1.getBlocks().size(), phase1.getNumLayers(),
                          false, false, "phase 1"});
    } else if (auto phase2 = dyn_cast<Phase2Op>(op)) {
      auto phase1 = phase2.getState().getDefiningOp<Phase1Op>();
      if (!phase1)
        return;
      rows.push_back({phase1.getBlocks().size(), phase1.getNumLayers(), true,
                      isSum(phase2.getPartial()),
                      phase2.getNormWeight() ? "fused" : "two-phase"});
    }
  });
  return rows;
}

std::string rowsOfD(double value) {
  return llvm::formatv("{0:F2}d", value).str();
}

void printReport(llvm::raw_ostream &os, func::FuncOp func, ArrayRef<Row> rows,
                 int64_t features) {
  size_t maxCompleted = 0;
  for (const Row &row : rows)
    maxCompleted = std::max(maxCompleted, row.completed);
  os << llvm::formatv(
      "depth aggregation of @{0}: {1} aggregations (the last is the final "
      "one), D = {2}, up to {3} completed blocks\n",
      func.getSymName(), rows.size(), features, maxCompleted);
  os << llvm::formatv("  memory per token: {0} rows of D kept for the "
                      "aggregations (up to {1} completed blocks and a partial "
                      "sum, O(N D)); Full AttnRes over these {2} layers keeps "
                      "{3} (O(L D))\n",
                      maxCompleted + 1, maxCompleted, rows.size() - 1,
                      rows.size());
  os << "  I/O per token, in rows of D elements: partial-sum add + "
        "aggregation + PreNorm norm; a standard residual layer moves 5.00d "
        "(its add 3d, the paper's figure, and its norm 2d)\n";
  os << "  flops: the same ops' arithmetic per token in the form each layer "
        "has, in units of D (a standard residual layer: 5.00d, its add 1d "
        "and its norm 4d; a sublayer's matrix products take 2 per weight)\n";
  auto line = [&](ArrayRef<std::string> cells) {
    static const unsigned widths[] = {6, 10, 8, 6, 10, 9, 10, 9, 8, 8};
    os << ' ';
    for (auto [index, cell] : llvm::enumerate(cells)) {
      os << ' ';
      if (index + 1 < cells.size())
        os << llvm::left_justify(cell, widths[index]);
      else
        os << cell;
    }
    os << '\n';
  };
  line({"layer", "completed", "partial", "group", "form", "unsplit",
        "two-phase", "fused", "budget", "flops"});
  double sums[5] = {0, 0, 0, 0, 0};
  for (auto [index, row] : llvm::enumerate(rows)) {
    AggregationTraffic traffic = aggregationTraffic(
        row.completed, row.groupSize, row.hasPartial, row.partialIsSum);
    double budget = double(row.completed) / double(row.groupSize) + 5;
    double flops =
        aggregationFlops(row.completed, row.groupSize, row.hasPartial,
                         row.partialIsSum, /*split=*/row.form != "unsplit");
    double values[5] = {traffic.unsplit, traffic.twoPhase, traffic.fused,
                        budget, flops};
    for (int i = 0; i < 5; ++i)
      sums[i] += values[i];
    line({index + 1 == rows.size() ? "final" : std::to_string(index),
          std::to_string(row.completed), row.hasPartial ? "yes" : "no",
          std::to_string(row.groupSize), row.form.str(), rowsOfD(values[0]),
          rowsOfD(values[1]), rowsOfD(values[2]), rowsOfD(values[3]),
          rowsOfD(values[4])});
  }
  double count = double(rows.size());
  line({"mean", "", "", "", "", rowsOfD(sums[0] / count),
        rowsOfD(sums[1] / count), rowsOfD(sums[2] / count),
        rowsOfD(sums[3] / count), rowsOfD(sums[4] / count)});
}

struct ReportAggregationPass
    : attnres::impl::ReportAggregationBase<ReportAggregationPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      SmallVector<Row> rows = collectRows(func);
      if (rows.empty())
        continue;
      int64_t features = 0;
      func.walk([&](Operation *op) {
        if (isa<BlockAttnResOp, Phase1Op, Phase2Op>(op))
          features = cast<RankedTensorType>(op->getResult(0).getType())
                         .getShape()
                         .back();
      });
      printReport(llvm::outs(), func, rows, features);
    }
    markAllAnalysesPreserved();
  }
};

} // namespace
