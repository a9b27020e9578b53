//===- InitAttnRes.h - Register attnres with an MLIR tool -------*- C++ -*-===//
//
// What another MLIR compiler calls to take attnres in as a lowering stage:
// the dialect, every pass, and the named pipelines, in one place.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_INITATTNRES_H
#define ATTNRES_INITATTNRES_H

namespace mlir {
class DialectRegistry;

namespace attnres {

/// Adds the attnres dialect to `registry`. The dialects our passes create
/// (TOSA, linalg, ...) are their dependent dialects and load with them.
void registerAllDialects(DialectRegistry &registry);

/// Registers every attnres pass: the transforms (--attnres-raise-norms,
/// --attnres-residual-to-block, --attnres-two-phase, ...) and the
/// conversions (--attnres-to-linalg, --attnres-linalg-to-blas).
void registerAllPasses();

/// Registers the named pipelines: --attnres-cpu-pipeline and
/// --attnres-report.
void registerAllPipelines();

} // namespace attnres
} // namespace mlir

#endif // ATTNRES_INITATTNRES_H
