//===- BlockAttnResPlan.cpp - Decisions of the Block AttnRes rewrite ------===//
//
// The partition of a residual stream into blocks and the parameters of its
// aggregations, shared by --attnres-residual-to-block and attnres-convert.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/BlockAttnResPlan.h"

#include "attnres/Support/NumpyIO.h"
#include "llvm/Support/FormatVariadic.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::attnres;

namespace {

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

LogicalResult loadParameters(Operation *anchor, StringRef path, int64_t rows,
                             int64_t cols, BlockAttnResPlan &plan) {
  if (path.empty()) {
    plan.queries.assign(rows * cols, 0.0f);
    plan.keyNorms.assign(rows * cols, 1.0f);
    return success();
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
  plan.queries = std::move(*queries);
  plan.keyNorms = std::move(*keyNorms);
  if (plan.keyNorms.empty())
    plan.keyNorms.assign(rows * cols, 1.0f);
  plan.fromFile = true;
  return success();
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

/// The number of layers in each block.
FailureOr<SmallVector<unsigned>> partition(func::FuncOp func, size_t numLayers,
                                           const BlockAttnResOptions &options) {
  SmallVector<unsigned> sizes;
  if (!options.blockSizes.empty()) {
    size_t total = 0;
    for (unsigned size : options.blockSizes) {
      if (size == 0)
        return func.emitError("block-sizes must be positive");
      total += size;
    }
    if (total != numLayers)
      return func.emitError("block-sizes add up to ")
             << total << " layers but the residual stream has " << numLayers;
    if (options.numBlocks && options.numBlocks != options.blockSizes.size())
      return func.emitError("num-blocks=")
             << options.numBlocks << " disagrees with the "
             << options.blockSizes.size() << " block-sizes";
    sizes.assign(options.blockSizes.begin(), options.blockSizes.end());
    return sizes;
  }
  size_t n = options.numBlocks ? size_t(options.numBlocks) : numLayers;
  if (n > numLayers)
    return func.emitError("num-blocks=") << n << " exceeds the " << numLayers
                                         << " layers of the residual stream";
  for (size_t i = 0; i < n; ++i)
    sizes.push_back(numLayers / n + (i < numLayers % n ? 1 : 0));
  return sizes;
}

} // namespace

std::string BlockAttnResPlan::name(StringRef kind, size_t index) const {
  return llvm::formatv("attnres.{0}{1}.{2}", streamTag, kind, index).str();
}

LogicalResult
mlir::attnres::checkOptionsForStreams(func::FuncOp func,
                                      ArrayRef<ResidualStream> streams,
                                      const BlockAttnResOptions &options) {
  if (streams.size() < 2 ||
      (options.blockSizes.empty() && options.pseudoQueries.empty()))
    return success();
  InFlightDiagnostic diag = func.emitError("the model has ")
                            << streams.size()
                            << " residual streams (ending at ";
  llvm::interleaveComma(streams, diag, [&](const ResidualStream &stream) {
    diag << describeOp(stream.finalNorm) << ", " << stream.layers.size()
         << " layers";
  });
  diag << "); "
       << (options.blockSizes.empty() ? "a pseudo-queries file" : "block-sizes")
       << " describes one stream's layers: use num-blocks, which applies to "
          "each stream";
  return diag;
}

FailureOr<BlockAttnResPlan>
mlir::attnres::planBlockAttnRes(func::FuncOp func, const ResidualStream &stream,
                                const BlockAttnResOptions &options,
                                size_t streamIndex) {
  BlockAttnResPlan plan;
  if (streamIndex > 0)
    plan.streamTag = llvm::formatv("stream{0}.", streamIndex).str();
  size_t numLayers = stream.layers.size();
  plan.features = stream.featureSize();
  FailureOr<SmallVector<unsigned>> sizes = partition(func, numLayers, options);
  if (failed(sizes) ||
      failed(loadParameters(func, options.pseudoQueries, numLayers + 1,
                            plan.features, plan)))
    return failure();
  plan.blockSizes = std::move(*sizes);
  Type elementType =
      cast<RankedTensorType>(stream.embedding.getType()).getElementType();
  if (plan.fromFile &&
      (failed(checkRepresentable(func, plan.queries, "queries", elementType,
                                 plan.features)) ||
       failed(checkRepresentable(func, plan.keyNorms, "key_norm_weights",
                                 elementType, plan.features))))
    return failure();
  return plan;
}
