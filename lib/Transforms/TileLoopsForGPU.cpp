//===- TileLoopsForGPU.cpp - Parallel loops as blocks of threads ----------===//
//
// gpu-map-parallel-loops maps an outermost scf.parallel to the grid and a
// nested one to the threads of a block. The loops linalg lowers to are not
// nested, so each iteration would be a block of one thread. Tiling the last
// two dimensions gives the nested loop, and mapping innermost-first puts
// consecutive threads on consecutive elements, so that a warp's accesses
// coalesce. The block loop is collapsed to one dimension, the grid's x.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <numeric>

namespace mlir::attnres {
#define GEN_PASS_DEF_TILELOOPSFORGPU
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// The trip count of dimension `d` of `loop`, if its bounds and step are
/// constants.
std::optional<int64_t> staticTripCount(scf::ParallelOp loop, unsigned d) {
  std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound()[d]);
  std::optional<int64_t> ub = getConstantIntValue(loop.getUpperBound()[d]);
  std::optional<int64_t> step = getConstantIntValue(loop.getStep()[d]);
  if (!lb || !ub || !step || *step <= 0)
    return std::nullopt;
  return std::max<int64_t>(0, (*ub - *lb + *step - 1) / *step);
}

/// Tile sizes of 1 but for the last two dimensions, which share `threads`
/// innermost first.
SmallVector<int64_t> tileSizes(scf::ParallelOp loop, int64_t threads) {
  unsigned rank = loop.getNumLoops();
  SmallVector<int64_t> sizes(rank, 1);
  int64_t budget = threads;
  for (unsigned d = rank; d-- > 0 && d + 2 >= rank && budget > 1;) {
    std::optional<int64_t> trips = staticTripCount(loop, d);
    int64_t size = trips ? std::clamp<int64_t>(*trips, 1, budget) : budget;
    sizes[d] = size;
    budget /= size;
  }
  return sizes;
}

struct TileLoopsForGPUPass
    : attnres::impl::TileLoopsForGPUBase<TileLoopsForGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (threads < 1 || threads > 1024) {
      getOperation().emitError("attnres-tile-loops-for-gpu: threads must be "
                               "1 to 1024, got ")
          << int64_t(threads);
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> outermost;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>())
        outermost.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ParallelOp loop : outermost) {
      SmallVector<int64_t> sizes = tileSizes(loop, threads);
      scf::ParallelOp blocks = loop;
      if (!llvm::all_of(sizes, [](int64_t s) { return s == 1; }))
        blocks =
            scf::tileParallelLoop(loop, sizes, /*noMinMaxBounds=*/false).first;
      // The block loop's dimensions map to the grid's x, y and z, and CUDA
      // allows 65535 blocks in y and z: more rows than that could not
      // launch. One dimension goes to x, which takes 2^31 - 1.
      if (blocks.getNumLoops() > 1) {
        std::vector<unsigned> all(blocks.getNumLoops());
        std::iota(all.begin(), all.end(), 0);
        rewriter.setInsertionPoint(blocks);
        collapseParallelLoops(rewriter, blocks, {all});
      }
    }
  }
};

} // namespace
