//===- ONNXConvert.h - Block AttnRes models back out as ONNX ----*- C++ -*-===//
//
// attnres-convert's library: rewrites the residual stream of an ONNX model
// into Block AttnRes with the decisions of --attnres-residual-to-block and
// writes the result as ONNX, the original graph with its residual wiring
// replaced by calls of a model-local function per aggregation.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TARGET_ONNX_ONNXCONVERT_H
#define ATTNRES_TARGET_ONNX_ONNXCONVERT_H

#include "attnres/Target/ONNX/ONNXImport.h"
#include "attnres/Transforms/BlockAttnResPlan.h"

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

namespace mlir {
class MLIRContext;

namespace attnres {

/// The domain of the aggregation functions attnres-convert writes.
inline constexpr llvm::StringLiteral kAttnResDomain = "ai.attnres";
/// Their op type: BlockAttnRes<N> aggregates N sources (an ONNX function has
/// a fixed number of inputs, so each source count is its own function).
inline constexpr llvm::StringLiteral kBlockAttnResOpType = "BlockAttnRes<N>";
/// The key RMSNorm's epsilon when a call does not give one; the rewrite's
/// default (--attnres-residual-to-block key-norm-epsilon).
inline constexpr float kDefaultKeyNormEpsilon = 1e-6f;

/// N of an op type "BlockAttnRes<N>" (e.g. "BlockAttnRes3"), or nullopt.
std::optional<unsigned> parseBlockAttnResArity(llvm::StringRef opType);
/// The op type (and function name) of the aggregation over `arity` sources.
std::string blockAttnResOpType(unsigned arity);

struct ONNXConvertOptions {
  /// How the stream is split and which parameters it gets.
  BlockAttnResOptions blocks;
  float keyNormEpsilon = kDefaultKeyNormEpsilon;
  /// How the model is imported for the analysis (--input-shape for models
  /// whose dynamic dims the importer cannot keep); the output keeps the
  /// model's own shapes.
  ONNXImportOptions import;
  /// Instead of rewriting a PreNorm stream, replace the spelled-out
  /// aggregations of a model that already is AttnRes by function calls.
  bool canonicalize = false;
};

/// Converts the model at `inputPath` and writes it to `outputPath`, copying
/// its external data files next to it when it goes to another folder (a
/// copy already there is kept). On failure emits located diagnostics through
/// `context` and writes nothing. When `report` is given, prints what was done
/// there.
LogicalResult convertONNXModel(llvm::StringRef inputPath,
                               llvm::StringRef outputPath, MLIRContext *context,
                               const ONNXConvertOptions &options,
                               llvm::raw_ostream *report = nullptr);

} // namespace attnres
} // namespace mlir

#endif // ATTNRES_TARGET_ONNX_ONNXCONVERT_H
