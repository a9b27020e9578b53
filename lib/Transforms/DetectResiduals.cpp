//===- DetectResiduals.cpp - Report the residual stream of each function --===//
//
// Runs findResidualStreams (lib/Analysis) and reports what it found: a remark
// per layer and, on request, a table. Users run it before the rewrite to see
// which layers the rewrite will touch, and why a model is refused.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_DETECTRESIDUALS
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// What the layer's stream value is made by, for the report.
std::string describeValue(Value v) {
  if (Operation *op = v.getDefiningOp())
    return describeOp(op);
  return llvm::formatv("argument #{0}", cast<BlockArgument>(v).getArgNumber());
}

void printReport(llvm::raw_ostream &os, func::FuncOp func,
                 const ResidualStream &stream) {
  os << llvm::formatv("residual stream of @{0}: {1} layers, D = {2}, "
                      "embedding {3}\n",
                      func.getSymName(), stream.layers.size(),
                      stream.featureSize(), describeValue(stream.embedding));
  unsigned addWidth = 12;
  for (const ResidualLayer &layer : stream.layers)
    addWidth = std::max<unsigned>(addWidth, describeOp(layer.add()).size());
  auto line = [&](StringRef index, StringRef add, StringRef norm) {
    os << "  " << llvm::left_justify(index, 6) << ' '
       << llvm::left_justify(add, addWidth) << "  " << norm << '\n';
  };
  line("layer", "residual add", "norm");
  for (auto [index, layer] : llvm::enumerate(stream.layers))
    line(std::to_string(index), describeOp(layer.add()),
         describeOp(layer.norm));
  line("final", "", describeOp(stream.finalNorm));
}

struct DetectResidualsPass
    : attnres::impl::DetectResidualsBase<DetectResidualsPass> {
  using DetectResidualsBase::DetectResidualsBase;

  void runOnOperation() override {
    bool found = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      FailureOr<SmallVector<ResidualStream>> streams =
          findResidualStreams(func);
      if (failed(streams))
        return signalPassFailure();
      for (const ResidualStream &stream : *streams) {
        found = true;
        size_t numLayers = stream.layers.size();
        for (auto [index, layer] : llvm::enumerate(stream.layers))
          emitRemark(layer.add()->getLoc())
              << "residual layer " << index << " of " << numLayers
              << ": reads the stream through " << describeOp(layer.norm)
              << (layer.adds.size() > 1 ? " (a parallel block whose branches "
                                          "are added one at a time)"
                                        : "");
        emitRemark(stream.finalNorm->getLoc())
            << "final norm of the residual stream (" << numLayers
            << " layers, D = " << stream.featureSize() << ")";
        if (report)
          printReport(llvm::outs(), func, stream);
      }
    }
    // A module already in Block AttnRes form has no residual stream left;
    // --attnres-report-aggregation describes it instead.
    bool aggregated = getOperation()
                          ->walk([](Operation *op) {
                            return isa<BlockAttnResOp, Phase1Op, Phase2Op>(op)
                                       ? WalkResult::interrupt()
                                       : WalkResult::advance();
                          })
                          .wasInterrupted();
    if (!found && !aggregated)
      emitRemark(getOperation().getLoc(),
                 "found no PreNorm residual stream: no attnres.rms_norm or "
                 "attnres.layer_norm reads a residual add (run "
                 "--attnres-raise-norms first)");
  }
};

} // namespace
