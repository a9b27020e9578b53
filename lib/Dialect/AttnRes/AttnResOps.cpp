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

//===----------------------------------------------------------------------===//
// Phase1Op
//===----------------------------------------------------------------------===//

RankedTensorType mlir::attnres::getLogSumExpType(RankedTensorType sourceType) {
  Type element = sourceType.getElementType();
  if (element.getIntOrFloatBitWidth() < 32)
    element = Float32Type::get(sourceType.getContext());
  ArrayRef<int64_t> shape = sourceType.getShape();
  return RankedTensorType::get(shape.empty() ? shape : shape.drop_back(),
                               element);
}

/// `: tensor<...xD>, tensor<D>`: the type of every block and output, then of
/// every query and key-norm weight; the log-sum-exp types follow from them.
static ParseResult parsePhase1Types(
    OpAsmParser &parser, ArrayRef<OpAsmParser::UnresolvedOperand> blocks,
    SmallVectorImpl<Type> &blockTypes,
    ArrayRef<OpAsmParser::UnresolvedOperand> queries,
    SmallVectorImpl<Type> &queryTypes,
    ArrayRef<OpAsmParser::UnresolvedOperand> keyNorms,
    SmallVectorImpl<Type> &keyNormTypes, SmallVectorImpl<Type> &outputTypes,
    SmallVectorImpl<Type> &lseTypes) {
  RankedTensorType sourceType, vectorType;
  if (parser.parseType(sourceType) || parser.parseComma() ||
      parser.parseType(vectorType))
    return failure();
  blockTypes.assign(blocks.size(), sourceType);
  queryTypes.assign(queries.size(), vectorType);
  keyNormTypes.assign(keyNorms.size(), vectorType);
  outputTypes.assign(queries.size(), sourceType);
  lseTypes.assign(queries.size(), getLogSumExpType(sourceType));
  return success();
}

static void printPhase1Types(OpAsmPrinter &printer, Operation *, OperandRange,
                             TypeRange blockTypes, OperandRange,
                             TypeRange queryTypes, OperandRange, TypeRange,
                             TypeRange, TypeRange) {
  printer << blockTypes.front() << ", " << queryTypes.front();
}

void Phase1Op::build(OpBuilder &builder, OperationState &state,
                     ValueRange blocks, ValueRange queries,
                     ValueRange keyNormWeights, float epsilon) {
  assert(!blocks.empty() && !queries.empty() && "phase1 needs operands");
  auto sourceType = cast<RankedTensorType>(blocks.front().getType());
  SmallVector<Type> outputTypes(queries.size(), sourceType);
  SmallVector<Type> lseTypes(queries.size(), getLogSumExpType(sourceType));
  build(builder, state, outputTypes, lseTypes, blocks, queries, keyNormWeights,
        builder.getF32FloatAttr(epsilon));
}

/// The per-feature vectors of an aggregation: element type of the sources,
/// size of their last axis.
static LogicalResult verifyVectors(Operation *op, RankedTensorType sourceType,
                                   ValueRange vectors, StringRef name) {
  for (Value vector : vectors) {
    auto type = cast<RankedTensorType>(vector.getType());
    if (type.getElementType() != sourceType.getElementType())
      return op->emitOpError("expects ")
             << name << " of element type " << sourceType.getElementType()
             << " (that of the sources), got " << type.getElementType();
    if (failed(verifyFeatureVector(op, sourceType, "the sources", type, name)))
      return failure();
  }
  return success();
}

/// The custom assembly prints one type for every per-feature vector, so
/// vectors of different types (tensor<8xf32> and tensor<?xf32>) would print
/// IR that does not parse.
static LogicalResult verifyOneVectorType(Operation *op, ValueRange vectors,
                                         StringRef names) {
  for (Value vector : vectors)
    if (vector.getType() != vectors.front().getType())
      return op->emitOpError("expects ")
             << names << " of one type, got " << vectors.front().getType()
             << " and " << vector.getType();
  return success();
}

LogicalResult Phase1Op::verify() {
  if (getBlocks().empty())
    return emitOpError("requires at least one completed block");
  if (getQueries().empty())
    return emitOpError("requires at least one layer (query)");
  if (getKeyNormWeights().size() != getQueries().size())
    return emitOpError("expects one key_norm_weight per query, got ")
           << getKeyNormWeights().size() << " for " << getQueries().size()
           << " queries";
  if (getOutputs().size() != getQueries().size())
    return emitOpError("expects one output and one lse per layer, got ")
           << getOutputs().size() << " for " << getQueries().size()
           << " layers";
  auto sourceType = cast<RankedTensorType>(getBlocks().front().getType());
  for (auto [index, block] : llvm::enumerate(getBlocks()))
    if (block.getType() != sourceType)
      return emitOpError("expects every block to have type ")
             << sourceType << ", but block #" << index << " has type "
             << block.getType();
  for (Value output : getOutputs())
    if (output.getType() != sourceType)
      return emitOpError("expects every output to have the block type ")
             << sourceType << ", got " << output.getType();
  RankedTensorType lseType = getLogSumExpType(sourceType);
  for (Value lse : getLse())
    if (lse.getType() != lseType)
      return emitOpError("expects every lse to have type ")
             << lseType << " (the blocks' type without the feature axis, in "
             << "f32 or wider), got " << lse.getType();
  if (failed(verifyEpsilon(*this, getEpsilon())))
    return failure();
  if (failed(verifyVectors(*this, sourceType, getQueries(), "queries")))
    return failure();
  if (failed(verifyVectors(*this, sourceType, getKeyNormWeights(),
                           "key_norm_weights")))
    return failure();
  SmallVector<Value> vectors(getQueries());
  llvm::append_range(vectors, getKeyNormWeights());
  return verifyOneVectorType(*this, vectors, "queries and key_norm_weights");
}

//===----------------------------------------------------------------------===//
// Phase2Op
//===----------------------------------------------------------------------===//

/// `: tensor<...xD>, tensor<D>`: the type of state, partial and results, then
/// of the per-feature vectors; the lse type follows from the first.
static ParseResult
parsePhase2Types(OpAsmParser &parser, Type &stateType, Type &lseType,
                 Type &partialType, Type &queryType, Type &keyNormType,
                 std::optional<OpAsmParser::UnresolvedOperand> normWeight,
                 Type &normWeightType, Type &resultType, Type &normalizedType) {
  RankedTensorType sourceType, vectorType;
  if (parser.parseType(sourceType) || parser.parseComma() ||
      parser.parseType(vectorType))
    return failure();
  stateType = partialType = resultType = sourceType;
  lseType = getLogSumExpType(sourceType);
  queryType = keyNormType = vectorType;
  if (normWeight) {
    normWeightType = vectorType;
    normalizedType = sourceType;
  }
  return success();
}

static void printPhase2Types(OpAsmPrinter &printer, Operation *, Type stateType,
                             Type, Type, Type queryType, Type, Value, Type,
                             Type, Type) {
  printer << stateType << ", " << queryType;
}

void Phase2Op::build(OpBuilder &builder, OperationState &state, Value phase1,
                     Value lse, Value partial, Value query, Value keyNormWeight,
                     float epsilon, Value normWeight, float normEpsilon) {
  Type type = partial.getType();
  build(builder, state, type, normWeight ? type : Type(), phase1, lse, partial,
        query, keyNormWeight, builder.getF32FloatAttr(epsilon), normWeight,
        normWeight ? builder.getF32FloatAttr(normEpsilon) : FloatAttr());
}

LogicalResult Phase2Op::verify() {
  auto sourceType = cast<RankedTensorType>(getPartial().getType());
  if (getState().getType() != sourceType || getResult().getType() != sourceType)
    return emitOpError("expects state, partial and result of one type, got ")
           << getState().getType() << ", " << sourceType << " and "
           << getResult().getType();
  RankedTensorType lseType = getLogSumExpType(sourceType);
  if (getLse().getType() != lseType)
    return emitOpError("expects lse of type ")
           << lseType << " (the partial's type without the feature axis, in "
           << "f32 or wider), got " << getLse().getType();
  if (failed(verifyEpsilon(*this, getEpsilon())))
    return failure();
  if (failed(verifyVectors(*this, sourceType, {getQuery(), getKeyNormWeight()},
                           "query and key_norm_weight")))
    return failure();
  bool hasWeight = bool(getNormWeight());
  if (hasWeight != getNormEpsilon().has_value() ||
      hasWeight != bool(getNormalized()))
    return emitOpError("expects norm_weight, norm_epsilon and the normalized "
                       "result together or not at all");
  if (!hasWeight)
    return verifyOneVectorType(*this, {getQuery(), getKeyNormWeight()},
                               "query and key_norm_weight");
  if (getNormalized().getType() != sourceType)
    return emitOpError("expects the normalized result of type ")
           << sourceType << ", got " << getNormalized().getType();
  if (failed(verifyEpsilon(*this, *getNormEpsilon())))
    return failure();
  if (failed(verifyVectors(*this, sourceType, getNormWeight(), "norm_weight")))
    return failure();
  return verifyOneVectorType(
      *this, {getQuery(), getKeyNormWeight(), getNormWeight()},
      "query, key_norm_weight and norm_weight");
}

#define GET_OP_CLASSES
#include "attnres/Dialect/AttnRes/AttnResOps.cpp.inc"
