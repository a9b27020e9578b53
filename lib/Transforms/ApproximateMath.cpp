//===- ApproximateMath.cpp - Vectorizable f32 math functions --------------===//
//
// Upstream's polynomial approximations, restricted to the functions the
// caller names: each is checked against libm before it is on by default.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/StringSet.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

/// The functions whose approximation stays within 5 f32 ulps of libm on
/// normal numbers, keeps infinities, NaN and signed zeros, and flushes only
/// results below FLT_MIN (measured by
/// test/Integration/approximate-math/accuracy.test). log and log2 are left
/// out: they read a subnormal argument as FLT_MIN (log(1e-45) = -87.3, not
/// -103.3).
static constexpr const char *kAccurate[] = {"exp", "expm1", "tanh", "erf",
                                            "log1p"};

namespace {
struct ApproximateMathPass
    : attnres::impl::ApproximateMathBase<ApproximateMathPass> {
  using ApproximateMathBase::ApproximateMathBase;

  LogicalResult initialize(MLIRContext *) override {
    names.clear();
    if (ops.empty())
      names.insert(std::begin(kAccurate), std::end(kAccurate));
    else
      names.insert(ops.begin(), ops.end());
    return success();
  }

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // Upstream names the functions by operation name, "math.exp".
    populateMathPolynomialApproximationPatterns(patterns, [&](StringRef name) {
      return name.consume_front("math.") && names.contains(name);
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }

  llvm::StringSet<> names;
};
} // namespace
