//===- ResidualStream.h - The PreNorm residual stream of a function -*- C++
//-*-//
//
// Finds the chains of residual adds h_{l+1} = h_l + f_l(norm_l(h_l)) that a
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

/// One residual layer (an attention or an MLP sublayer, or a parallel block
/// of both): `add = input + branch`, where `branch` is computed from
/// `norm(input)`.
struct ResidualLayer {
  /// h_l, the stream value the layer reads.
  Value input;
  /// f_l, the sublayer outputs added to the stream, in the order they are
  /// added. One, except in a parallel block whose branches are added one at
  /// a time, `(h + attn(n)) + mlp(n)` (Cohere); `h + (attn(n) + mlp(n))`
  /// (Falcon) has one branch, their sum.
  SmallVector<Value, 1> branches;
  /// The layer's adds in order: `adds[0]` reads `input`, each next one the
  /// previous sum.
  SmallVector<Operation *, 1> adds;
  /// The attnres.rms_norm or attnres.layer_norm that reads `input`.
  Operation *norm = nullptr;

  /// The residual add whose result is the next layer's input: the last.
  Operation *add() const { return adds.back(); }
};

/// A residual stream, in stream order.
struct ResidualStream {
  /// h_0: the embedding (the first layer's input), or the embedding norm's
  /// output when the embedding is normalized before the first layer (BLOOM,
  /// CLIP).
  Value embedding;
  SmallVector<ResidualLayer> layers;
  /// The norm that reads the last layer's output h_L.
  Operation *finalNorm = nullptr;
  /// The op that reads h_L: the final norm itself, or the first of the row
  /// selections through which it reads it (CLIP's pooler normalizes only
  /// the class token, a slice of h_L).
  Operation *finalReader = nullptr;

  /// The feature size D of the stream (static).
  int64_t featureSize() const;
};

/// Finds the residual streams of `func`, one per stack of layers (an
/// encoder-decoder model has two), ordered by where each ends. Returns an
/// empty list when the function has no stream (no norm reads a residual
/// add), and failure, after an error at the op that breaks the pattern, when
/// one cannot be rewritten without changing the function (PostNorm, norms
/// after the sublayers, parallel layers with one norm per branch, a stream
/// read by other ops than its norms and adds, a broadcasting add, dynamic
/// feature size).
FailureOr<SmallVector<ResidualStream>> findResidualStreams(func::FuncOp func);

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
