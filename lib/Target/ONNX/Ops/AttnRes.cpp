//===- AttnRes.cpp - The ai.attnres domain's aggregations -----------------===//
//
// attnres-convert writes each Block AttnRes aggregation as a call of a
// model-local function `ai.attnres.BlockAttnRes<N>` over N sources. Other
// runtimes inline the function's body; this importer knows what it computes
// and imports the call as one attnres.block_attn_res, so a converted model
// comes back with the rewrite's block structure.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Target/ONNXConvert/ONNXConvert.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

LogicalResult importBlockAttnRes(NodeImporter &n) {
  std::optional<unsigned> arity = parseBlockAttnResArity(n.node.op_type());
  if (!arity)
    return n.error() << "expected op type BlockAttnRes<N> with N >= 1";
  if (n.numInputs() != *arity + 2)
    return n.error() << "expected " << *arity << " sources, the query and "
                     << "the key-norm weight (" << *arity + 2
                     << " inputs), got " << n.numInputs();
  FailureOr<SmallVector<Value>> in = requiredInputs(n, *arity + 2);
  if (failed(in))
    return failure();
  ArrayRef<Value> sources = ArrayRef(*in).take_front(*arity);
  Value query = (*in)[*arity], keyNorm = (*in)[*arity + 1];
  Type sourceType = sources.front().getType();
  if (failed(requireFloat(n, sources.front())))
    return failure();
  for (auto [i, source] : llvm::enumerate(sources))
    if (source.getType() != sourceType)
      return n.error() << "source " << i << " is " << source.getType()
                       << " but source 0 is " << sourceType
                       << "; every source has one type";
  auto type = cast<RankedTensorType>(sourceType);
  int64_t features = type.getRank() ? type.getShape().back() : 0;
  if (type.getRank() == 0 || ShapedType::isDynamic(features))
    return n.error() << "the sources' last dim (the features) must be static, "
                     << "got " << type;
  for (auto [what, v] : {std::pair<StringRef, Value>{"query", query},
                         {"key-norm weight", keyNorm}}) {
    auto vType = cast<RankedTensorType>(v.getType());
    if (vType.getElementType() != type.getElementType() ||
        !vType.hasStaticShape() || vType.getNumElements() != features)
      return n.error() << "the " << what << " is " << vType << "; expected "
                       << features << " elements of " << type.getElementType();
  }
  float epsilon = n.floatAttr("epsilon", kDefaultKeyNormEpsilon);
  if (!std::isfinite(epsilon) || epsilon < 0)
    return n.error() << "epsilon must be finite and non-negative, got "
                     << epsilon;
  n.setOutput(
      0, BlockAttnResOp::create(n.b, sources, reshape(n.b, query, {features}),
                                reshape(n.b, keyNorm, {features}), epsilon));
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerAttnResOps(OpRegistry &r) {
  r.add(kBlockAttnResOpType, 1, importBlockAttnRes, kAttnResDomain);
}

/// "BlockAttnRes": the op type without its "<N>".
static StringRef blockAttnResPrefix() {
  return StringRef(kBlockAttnResOpType).drop_back(3);
}

std::string mlir::attnres::blockAttnResOpType(unsigned arity) {
  return (blockAttnResPrefix() + Twine(arity)).str();
}

std::optional<unsigned>
mlir::attnres::parseBlockAttnResArity(StringRef opType) {
  StringRef prefix = blockAttnResPrefix();
  unsigned n;
  if (!opType.consume_front(prefix) || opType.starts_with("0") ||
      opType.getAsInteger(10, n) || n == 0)
    return std::nullopt;
  return n;
}
