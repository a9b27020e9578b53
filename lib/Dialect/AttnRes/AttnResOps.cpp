//===- AttnResOps.cpp - AttnRes operation verifiers and folders -----------===//
//
// Verifiers, folders, builders and custom assembly directives of the attnres
// operations.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"

using namespace mlir;
using namespace mlir::attnres;

//===----------------------------------------------------------------------===//
// Shared verification
//===----------------------------------------------------------------------===//

/// A negative or non-finite epsilon turns the norm into NaNs on some inputs
/// instead of guarding the division, so it is rejected up front.
static LogicalResult verifyEpsilon(Operation *op, const APFloat &epsilon) {
  if (epsilon.isFinite() && !(epsilon.isNegative() && !epsilon.isZero()))
    return success();
  SmallString<16> text;
  epsilon.toString(text);
  return op->emitOpError("requires a finite, non-negative epsilon, got ")
         << text;
}

/// Checks that `vector` (a per-feature parameter of shape [D]) matches the
/// normalized last axis of `tensor` (shape [..., D]).
static LogicalResult verifyFeatureVector(Operation *op, RankedTensorType tensor,
                                         StringRef tensorName,
                                         RankedTensorType vector,
                                         StringRef vectorName) {
  if (tensor.getRank() == 0)
    return op->emitOpError("requires ")
           << tensorName
           << " of rank >= 1 (the last axis is the feature axis), got "
           << tensor;
  int64_t features = tensor.getShape().back();
  int64_t size = vector.getDimSize(0);
  if (ShapedType::isDynamic(features) || ShapedType::isDynamic(size) ||
      features == size)
    return success();
  return op->emitOpError("expects ")
         << vectorName << " of size " << features << " (the last dimension of "
         << tensorName << "), got " << size;
}

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

LogicalResult RMSNormOp::verify() {
  if (failed(verifyEpsilon(*this, getEpsilon())))
    return failure();
  return verifyFeatureVector(*this, getInput().getType(), "input",
                             getWeight().getType(), "weight");
}

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::verify() {
  if (failed(verifyEpsilon(*this, getEpsilon())))
    return failure();
  return verifyFeatureVector(*this, getInput().getType(), "input",
                             getWeight().getType(), "weight and bias");
}

//===----------------------------------------------------------------------===//
// BlockAttnResOp
//===----------------------------------------------------------------------===//

/// Every source has the result type, so the custom form prints that type once:
/// `: tensor<1x16x64xf32>` instead of one type per source plus the result.
static ParseResult
parseSourceTypes(OpAsmParser &parser,
                 ArrayRef<OpAsmParser::UnresolvedOperand> sources,
                 SmallVectorImpl<Type> &sourceTypes, Type &resultType) {
  if (parser.parseType(resultType))
    return failure();
  sourceTypes.assign(sources.size(), resultType);
  return success();
}

static void printSourceTypes(OpAsmPrinter &printer, Operation *, OperandRange,
                             TypeRange, Type resultType) {
  printer << resultType;
}

void BlockAttnResOp::build(OpBuilder &builder, OperationState &state,
                           ValueRange sources, Value query, Value keyNormWeight,
                           float epsilon) {
  assert(!sources.empty() && "block_attn_res needs at least one source");
  build(builder, state, sources.front().getType(), sources, query,
        keyNormWeight, builder.getF32FloatAttr(epsilon));
}

LogicalResult BlockAttnResOp::verify() {
  if (getSources().empty())
    return emitOpError("requires at least one source");
  RankedTensorType resultType = getResult().getType();
  for (auto [index, source] : llvm::enumerate(getSources())) {
    if (source.getType() != resultType)
      return emitOpError("expects every source to have the result type ")
             << resultType << ", but source #" << index << " has type "
             << source.getType();
  }
  if (failed(verifyEpsilon(*this, getEpsilon())))
    return failure();
  RankedTensorType queryType = getQuery().getType();
  if (queryType.getElementType() != resultType.getElementType())
    return emitOpError("expects query and key_norm_weight of element type ")
           << resultType.getElementType() << " (that of the sources), got "
           << queryType.getElementType();
  return verifyFeatureVector(*this, resultType, "the sources", queryType,
                             "query and key_norm_weight");
}

/// When every source is the same value, each gets the same logit, so the
/// softmax weights sum to one over copies of that value: the aggregation is
/// that value. This covers the single-source case (the first layer of the
/// first block reads only the embedding).
OpFoldResult BlockAttnResOp::fold(FoldAdaptor) {
  if (llvm::all_equal(getSources()))
    return getSources().front();
  return {};
}

#define GET_OP_CLASSES
#include "attnres/Dialect/AttnRes/AttnResOps.cpp.inc"
