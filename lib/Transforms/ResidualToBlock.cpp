//===- ResidualToBlock.cpp - PreNorm residual streams to Block AttnRes ----===//
//
// Rewrites the residual stream findResidualStream finds into Block
// Attention Residuals: each layer's norm reads a
// softmax-over-depth aggregation of the embedding, the completed block sums
// and the current block's partial sum instead of the running sum h_l.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Runtime/NumpyIO.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstring>

namespace mlir::attnres {
#define GEN_PASS_DEF_RESIDUALTOBLOCK
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Rows of at least this many bytes become dense resources rather than
/// inline hex in the printed IR.
constexpr size_t kResourceThresholdBytes = 1024;

/// Pseudo-queries and key-norm weights, row-major [L + 1, D].
struct Parameters {
  std::vector<float> queries, keyNorms;
  bool fromFile = false;
};

/// Reads one [rows, cols] float array of the .npz as f32.
FailureOr<std::vector<float>> readMatrix(Operation *anchor, StringRef path,
                                         const NamedArrays &arrays,
                                         StringRef name, int64_t rows,
                                         int64_t cols, bool required) {
  auto it = llvm::find_if(
      arrays, [&](const auto &entry) { return entry.first == name; });
  if (it == arrays.end()) {
    if (!required)
      return std::vector<float>();
    return anchor->emitError("pseudo-queries file '")
           << path << "' has no array '" << name << "'";
  }
  const HostArray &array = it->second;
  if (array.shape.size() != 2 || array.shape[0] != rows ||
      array.shape[1] != cols)
    return anchor->emitError("pseudo-queries file '")
           << path << "': '" << name << "' is " << array.describe()
           << " but the model needs float32[" << rows << ", " << cols << "] ("
           << rows - 1 << " layers and the final aggregation, D = " << cols
           << ")";
  std::vector<float> values(rows * cols);
  switch (array.dtype) {
  case DType::F32:
    std::memcpy(values.data(), array.data.data(), values.size() * 4);
    break;
  case DType::F64:
    for (size_t i = 0; i < values.size(); ++i) {
      double v;
      std::memcpy(&v, array.data.data() + 8 * i, 8);
      values[i] = float(v);
    }
    break;
  default:
    return anchor->emitError("pseudo-queries file '")
           << path << "': '" << name << "' is " << array.describe()
           << "; float32 (or float64) is needed";
  }
  if (!llvm::all_of(values, [](float v) { return std::isfinite(v); }))
    return anchor->emitError("pseudo-queries file '")
           << path << "': '" << name << "' holds a NaN or infinity";
  return values;
}

FailureOr<Parameters> loadParameters(Operation *anchor, StringRef path,
                                     int64_t rows, int64_t cols) {
  Parameters params;
  if (path.empty()) {
    params.queries.assign(rows * cols, 0.0f);
    params.keyNorms.assign(rows * cols, 1.0f);
    return params;
  }
  llvm::Expected<NamedArrays> arrays = readNpz(path);
  if (!arrays)
    return anchor->emitError("cannot read pseudo-queries: ")
           << llvm::toString(arrays.takeError());
  FailureOr<std::vector<float>> queries =
      readMatrix(anchor, path, *arrays, "queries", rows, cols, true);
  FailureOr<std::vector<float>> keyNorms =
      readMatrix(anchor, path, *arrays, "key_norm_weights", rows, cols, false);
  if (failed(queries) || failed(keyNorms))
    return failure();
  params.queries = std::move(*queries);
  params.keyNorms = std::move(*keyNorms);
  if (params.keyNorms.empty())
    params.keyNorms.assign(rows * cols, 1.0f);
  params.fromFile = true;
  return params;
}

/// Parameters are stored in the stream's type: a finite f32 can round to
/// infinity in f16 (above 65504) or bf16, which would make every logit of
/// that aggregation infinite.
LogicalResult checkRepresentable(func::FuncOp func,
                                 const std::vector<float> &values,
                                 StringRef name, Type elementType,
                                 int64_t features) {
  const llvm::fltSemantics &semantics =
      cast<FloatType>(elementType).getFloatSemantics();
  for (auto [i, v] : llvm::enumerate(values)) {
    APFloat value(v);
    bool lost;
    value.convert(semantics, APFloat::rmNearestTiesToEven, &lost);
    if (!value.isFinite())
      return func.emitError("pseudo-queries: '")
             << name << "'[" << i / features << ", " << i % features
             << "] = " << v << " is not finite in the model's " << elementType
             << " (the parameters take the stream's type)";
  }
  return success();
}

/// Multiplies the epsilon of a stream norm (attnres.rms_norm or
/// attnres.layer_norm) by `factor`.
void scaleEpsilon(Operation *norm, double factor) {
  if (auto rms = dyn_cast<RMSNormOp>(norm))
    rms.setEpsilon(APFloat(float(rms.getEpsilon().convertToDouble() * factor)));
  else if (auto layer = dyn_cast<LayerNormOp>(norm))
    layer.setEpsilon(
        APFloat(float(layer.getEpsilon().convertToDouble() * factor)));
}

struct ResidualToBlockPass
    : attnres::impl::ResidualToBlockBase<ResidualToBlockPass> {
  using ResidualToBlockBase::ResidualToBlockBase;

  void runOnOperation() override {
    if (!std::isfinite(keyNormEpsilon) || keyNormEpsilon < 0) {
      getOperation().emitError("key-norm-epsilon must be finite and "
                               "non-negative, got ")
          << keyNormEpsilon.getValue();
      return signalPassFailure();
    }
    bool rewroteOrSkipped = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (func.walk([](BlockAttnResOp) { return WalkResult::interrupt(); })
              .wasInterrupted()) {
        if (verbose)
          emitRemark(func.getLoc(), "already in Block AttnRes form (it holds "
                                    "attnres.block_attn_res); left unchanged");
        rewroteOrSkipped = true;
        continue;
      }
      FailureOr<std::optional<ResidualStream>> stream =
          findResidualStream(func);
      if (failed(stream))
        return signalPassFailure();
      if (!*stream)
        continue;
      if (failed(rewrite(func, **stream)))
        return signalPassFailure();
      rewroteOrSkipped = true;
    }
    if (!rewroteOrSkipped) {
      getOperation().emitError(
          "found no PreNorm residual stream to rewrite: no attnres.rms_norm "
          "or attnres.layer_norm reads a residual add (run "
          "--attnres-raise-norms first)");
      signalPassFailure();
    }
  }

  /// The number of layers in each block.
  FailureOr<SmallVector<unsigned>> partition(func::FuncOp func,
                                             size_t numLayers) {
    SmallVector<unsigned> sizes;
    if (!blockSizes.empty()) {
      size_t total = 0;
      for (unsigned size : blockSizes) {
        if (size == 0)
          return func.emitError("block-sizes must be positive");
        total += size;
      }
      if (total != numLayers)
        return func.emitError("block-sizes add up to ")
               << total << " layers but the residual stream has " << numLayers;
      if (numBlocks && numBlocks != blockSizes.size())
        return func.emitError("num-blocks=")
               << numBlocks.getValue() << " disagrees with the "
               << blockSizes.size() << " block-sizes";
      sizes.assign(blockSizes.begin(), blockSizes.end());
      return sizes;
    }
    size_t n = numBlocks ? size_t(numBlocks) : numLayers;
    if (n > numLayers)
      return func.emitError("num-blocks=") << n << " exceeds the " << numLayers
                                           << " layers of the residual stream";
    for (size_t i = 0; i < n; ++i)
      sizes.push_back(numLayers / n + (i < numLayers % n ? 1 : 0));
    return sizes;
  }

  LogicalResult rewrite(func::FuncOp func, ResidualStream &stream) {
    size_t numLayers = stream.layers.size();
    int64_t features = stream.featureSize();
    FailureOr<SmallVector<unsigned>> sizes = partition(func, numLayers);
    if (failed(sizes))
      return failure();
    FailureOr<Parameters> params =
        loadParameters(func, pseudoQueries, numLayers + 1, features);
    if (failed(params))
      return failure();

    auto streamType = cast<RankedTensorType>(stream.embedding.getType());
    Type elementType = streamType.getElementType();
    if (params->fromFile &&
        (failed(checkRepresentable(func, params->queries, "queries",
                                   elementType, features)) ||
         failed(checkRepresentable(func, params->keyNorms, "key_norm_weights",
                                   elementType, features))))
      return failure();
    auto vectorType = RankedTensorType::get({features}, elementType);
    OpBuilder b(func.getContext());
    // Parameters go first in the function, in the order they are made.
    OpBuilder constants = OpBuilder::atBlockBegin(&func.getBody().front());
    auto row = [&](const std::vector<float> &values, size_t index,
                   StringRef kind) -> Value {
      ArrayRef<float> slice(values.data() + index * features, features);
      const llvm::fltSemantics &semantics =
          cast<FloatType>(elementType).getFloatSemantics();
      SmallVector<APFloat> converted;
      for (float v : slice) {
        APFloat value(v);
        bool lost;
        value.convert(semantics, APFloat::rmNearestTiesToEven, &lost);
        converted.push_back(value);
      }
      std::string name = llvm::formatv("attnres.{0}.{1}", kind, index).str();
      auto dense = DenseElementsAttr::get(vectorType, converted);
      ElementsAttr attr = dense;
      if (!dense.isSplat() &&
          dense.getRawData().size() >= kResourceThresholdBytes) {
        ArrayRef<char> raw = dense.getRawData();
        attr = DenseResourceElementsAttr::get(
            vectorType, name,
            HeapAsmResourceBlob::allocateAndCopyWithAlign(raw,
                                                          alignof(uint64_t)));
      }
      Location loc = NameLoc::get(constants.getStringAttr(name), func.getLoc());
      return tosa::ConstOp::create(constants, loc, vectorType, attr);
    };
    SmallVector<Value> queries, keyNorms;
    for (size_t index = 0; index <= numLayers; ++index) {
      queries.push_back(row(params->queries, index, "query"));
      keyNorms.push_back(row(params->keyNorms, index, "key_norm"));
    }
    auto aggregate = [&](ArrayRef<Value> sources, size_t index,
                         Operation *reader) {
      Value query = queries[index], keyNorm = keyNorms[index];
      b.setInsertionPoint(reader);
      Location loc = NameLoc::get(
          b.getStringAttr(llvm::formatv("attnres.aggregate.{0}", index).str()),
          reader->getLoc());
      Value result = BlockAttnResOp::create(b, loc, sources, query, keyNorm,
                                            keyNormEpsilon.getValue());
      reader->setOperand(0, result);
      // Zero queries make the aggregation the mean h / c of its c sources,
      // and norm(h / c; eps) = norm(h; c^2 eps) for RMSNorm and LayerNorm:
      // dividing the epsilon by c^2 keeps the original function exactly.
      // Trained queries come with norms trained on their own epsilons.
      if (!params->fromFile)
        scaleEpsilon(reader, 1.0 / (double(sources.size()) * sources.size()));
    };

    // blocks: b_0 (the embedding) and the sums of the completed blocks.
    SmallVector<Value> blocks{stream.embedding};
    Value partial;
    size_t index = 0;
    for (unsigned size : *sizes) {
      for (unsigned i = 0; i < size; ++i, ++index) {
        ResidualLayer &layer = stream.layers[index];
        SmallVector<Value> sources(blocks);
        if (partial)
          sources.push_back(partial);
        aggregate(sources, index, layer.norm);
        // The partial sum takes the residual add's place in the graph.
        if (partial) {
          b.setInsertionPoint(layer.add);
          partial = tosa::AddOp::create(b, layer.add->getLoc(), streamType,
                                        partial, layer.branch);
        } else {
          partial = layer.branch;
        }
      }
      blocks.push_back(partial);
      partial = Value();
    }
    aggregate(blocks, numLayers, stream.finalNorm);

    for (ResidualLayer &layer : llvm::reverse(stream.layers)) {
      if (!layer.add->use_empty())
        return layer.add->emitError(
            "internal error: the residual add still has uses after the "
            "rewrite");
      layer.add->erase();
    }

    if (!verbose)
      return success();
    std::string blockList;
    llvm::raw_string_ostream os(blockList);
    llvm::interleaveComma(*sizes, os);
    // At the function's location, without printing the function.
    InFlightDiagnostic remark =
        emitRemark(func.getLoc())
        << "rewrote the residual stream of @" << func.getSymName()
        << " into Block AttnRes: " << numLayers << " layers in "
        << sizes->size() << " blocks of [" << blockList << "] layers; ";
    if (params->fromFile)
      remark << "pseudo-queries from '" << pseudoQueries
             << "' (the norms keep their epsilons)";
    else
      remark << "zero pseudo-queries (no pseudo-queries file): every "
                "aggregation is the mean of its c sources, which the norms "
                "undo, and each norm's epsilon is divided by c^2, so the "
                "function is preserved exactly";
    return success();
  }
};

} // namespace
