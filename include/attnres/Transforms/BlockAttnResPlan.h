//===- BlockAttnResPlan.h - Decisions of the Block AttnRes rewrite -*- C++
//-*-===//
//
// What --attnres-residual-to-block decides before it touches the IR: how the
// layers of a residual stream split into blocks and which pseudo-queries and
// key-norm weights each aggregation gets. attnres-convert makes the same
// decisions through the same code, so the ONNX it writes is the rewrite's.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TRANSFORMS_BLOCKATTNRESPLAN_H
#define ATTNRES_TRANSFORMS_BLOCKATTNRESPLAN_H

#include "attnres/Analysis/ResidualStream.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <vector>

namespace mlir::attnres {

/// The user's choices: num-blocks (0: one block per layer), block-sizes
/// (overrides the even split), and an .npz of pseudo-queries ("" for zero
/// queries).
struct BlockAttnResOptions {
  unsigned numBlocks = 0;
  SmallVector<unsigned> blockSizes;
  std::string pseudoQueries;
};

struct BlockAttnResPlan {
  /// Layers per block, in stream order; they sum to the stream's L.
  SmallVector<unsigned> blockSizes;
  /// Pseudo-queries and key-norm weights, row-major [L + 1, D]: row l is
  /// layer l's aggregation, row L the final norm's.
  std::vector<float> queries, keyNorms;
  /// Whether the parameters came from a file. Zero queries make every
  /// aggregation the mean of its c sources, so the reader norm's epsilon is
  /// divided by c^2 to keep the function; trained ones keep their epsilons.
  bool fromFile = false;
  int64_t features = 0;

  ArrayRef<float> query(size_t index) const {
    return ArrayRef(queries).slice(index * features, features);
  }
  ArrayRef<float> keyNorm(size_t index) const {
    return ArrayRef(keyNorms).slice(index * features, features);
  }
  /// The factor a reader norm's epsilon is multiplied by when its
  /// aggregation has `numSources` sources.
  double epsilonScale(size_t numSources) const {
    return fromFile ? 1.0 : 1.0 / (double(numSources) * double(numSources));
  }
  /// "" for a model's first stream, "stream<s>." for its stream s > 0: the
  /// names of a stream's parameters and aggregations are
  /// "attnres.<tag><kind>.<l>", unique across the streams.
  std::string streamTag;
  std::string name(StringRef kind, size_t index) const;
};

/// Splits the stream of `func` into blocks and loads the parameters, with
/// errors at `func` for impossible choices (block sizes that do not add up,
/// more blocks than layers, a bad or non-representable .npz).
FailureOr<BlockAttnResPlan> planBlockAttnRes(func::FuncOp func,
                                             const ResidualStream &stream,
                                             const BlockAttnResOptions &options,
                                             size_t streamIndex = 0);

/// Refuses the options that name one stream's layers (block-sizes, a
/// pseudo-queries file) when `func` has several streams (an encoder and a
/// decoder); num-blocks applies to each.
LogicalResult checkOptionsForStreams(func::FuncOp func,
                                     ArrayRef<ResidualStream> streams,
                                     const BlockAttnResOptions &options);

} // namespace mlir::attnres

#endif // ATTNRES_TRANSFORMS_BLOCKATTNRESPLAN_H
