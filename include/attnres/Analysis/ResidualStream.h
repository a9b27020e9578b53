//===- ResidualStream.h - The PreNorm residual stream of a function -*- C++
//-*-//
//
// Finds the chain of residual adds h_{l+1} = h_l + f_l(norm_l(h_l)) that a
// PreNorm transformer's layers form, from the embedding h_0 to the final
// norm, and refuses the graphs where replacing that sum by Block AttnRes
// would change the function.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_ANALYSIS_RESIDUALSTREAM_H
#define ATTNRES_ANALYSIS_RESIDUALSTREAM_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace mlir::attnres {

/// One residual layer (an attention or an MLP sublayer):
/// `add = input + branch`, where `branch` is computed from `norm(input)`.
struct ResidualLayer {
  /// The residual add; its result is the next layer's input.
  Operation *add = nullptr;
  /// h_l, the stream value the layer reads.
  Value input;
  /// f_l, the sublayer's output (the add's other operand).
  Value branch;
  /// The attnres.rms_norm or attnres.layer_norm that reads `input`.
  Operation *norm = nullptr;
};

/// A function's residual stream, in stream order.
struct ResidualStream {
  /// h_0: the embedding (the first layer's input).
  Value embedding;
  SmallVector<ResidualLayer> layers;
  /// The norm that reads the last layer's output h_L.
  Operation *finalNorm = nullptr;

  /// The feature size D of the stream (static).
  int64_t featureSize() const;
};

/// Finds the residual stream of `func`. Returns std::nullopt when the
/// function has no stream at all (no norm reads a residual add), and
/// failure, after an error at the op that breaks the pattern, when it has
/// one that cannot be rewritten without changing the function (PostNorm,
/// parallel residual layers, a stream read by other ops than its norms and
/// adds, a broadcasting add, dynamic feature size).
FailureOr<std::optional<ResidualStream>> findResidualStream(func::FuncOp func);

/// Whether `op` is one of the scale-invariant norms the analysis accepts as
/// readers of the stream (attnres.rms_norm, attnres.layer_norm).
bool isStreamNorm(Operation *op);

/// The epsilon of a stream norm (isStreamNorm).
double streamNormEpsilon(Operation *norm);

/// A short description of `op` for messages: its name and location name,
/// e.g. "tosa.add '/layers.0/Add'".
std::string describeOp(Operation *op);

} // namespace mlir::attnres

#endif // ATTNRES_ANALYSIS_RESIDUALSTREAM_H
