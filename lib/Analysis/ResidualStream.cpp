//===- ResidualStream.cpp - The PreNorm residual stream of a function -----===//
//
// A residual stream is found from its readers: every layer's norm reads a
// stream value h_l, and the add that produces h_{l+1} takes h_l and a value
// computed from that norm. Walking back from a final norm (a norm that
// reads a residual add no other residual add reads) gives the layers in
// stream order; each final norm ends one stream (an encoder's and a
// decoder's). The checks that follow are the conditions under which the
// Block AttnRes rewrite preserves the function at zero pseudo-queries:
// every stream value is read only by its norm and by the next add.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attnres;

bool mlir::attnres::isStreamNorm(Operation *op) {
  return isa_and_nonnull<RMSNormOp, LayerNormOp>(op);
}

double mlir::attnres::streamNormEpsilon(Operation *norm) {
  if (auto rms = dyn_cast<RMSNormOp>(norm))
    return rms.getEpsilon().convertToDouble();
  return cast<LayerNormOp>(norm).getEpsilon().convertToDouble();
}

std::string mlir::attnres::describeOp(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << op->getName();
  StringRef name;
  op->getLoc()->walk([&](Location loc) {
    if (auto named = dyn_cast<NameLoc>(loc)) {
      name = named.getName().strref();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (!name.empty())
    os << " '" << name << "'";
  return text;
}

int64_t ResidualStream::featureSize() const {
  return cast<RankedTensorType>(embedding.getType()).getShape().back();
}

namespace {

/// The first value `v` is computed from (`v` itself included) for which
/// `isTarget` holds, looking into the regions of ops that capture outer
/// values; null when there is none. Values defined before `stopBefore` in
/// its block are not walked through: they cannot be computed from what it
/// defines, which keeps the walk within the sublayer asked about instead of
/// the whole graph above it.
Value findSource(Value v, function_ref<bool(Value)> isTarget,
                 Operation *stopBefore = nullptr) {
  SmallVector<Value> stack{v};
  DenseSet<Value> seen;
  Block *stopBlock = stopBefore ? stopBefore->getBlock() : nullptr;
  while (!stack.empty()) {
    Value value = stack.pop_back_val();
    if (isTarget(value))
      return value;
    if (!seen.insert(value).second)
      continue;
    Operation *op = value.getDefiningOp();
    if (!op)
      continue;
    if (stopBlock && op->getBlock() == stopBlock &&
        op->isBeforeInBlock(stopBefore))
      continue;
    llvm::append_range(stack, op->getOperands());
    if (op->getNumRegions())
      op->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands())
          if (!op->isAncestor(operand.getParentRegion()->getParentOp()))
            stack.push_back(operand);
      });
  }
  return Value();
}

bool dependsOn(Value v, Value target) {
  return bool(findSource(
      v, [&](Value value) { return value == target; }, target.getDefiningOp()));
}

/// `add` is `a + g(a)`: one operand is computed from the other.
bool isResidualLike(tosa::AddOp add) {
  Value lhs = add.getInput1(), rhs = add.getInput2();
  return dependsOn(lhs, rhs) || dependsOn(rhs, lhs);
}

/// Whether `op` selects whole rows of the stream: a slice along other axes
/// than the features, or a reshape that keeps the feature axis. Each row
/// of its result is a row of its input, so a norm behind it still sees
/// whole rows of the stream.
bool isRowSelection(Operation *op) {
  if (!isa<tosa::SliceOp, tosa::ReshapeOp, tensor::ExtractSliceOp>(op))
    return false;
  auto in = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
  auto out = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!in || !out || in.getRank() == 0 || out.getRank() == 0)
    return false;
  int64_t features = in.getShape().back();
  return !ShapedType::isDynamic(features) && features > 1 &&
         out.getShape().back() == features;
}

/// Recognizes residual adds, memoizing the answer per op.
class ResidualAddMatcher {
public:
  /// The layer `op` closes if it is a PreNorm residual add: one operand is
  /// read by a norm and the other is computed from that norm's result; or
  /// the last add of a parallel block that adds its branches one at a time,
  /// `(h + f(n)) + g(n)`, whose first sum nothing else reads.
  std::optional<ResidualLayer> match(Operation *op) {
    auto add = dyn_cast_or_null<tosa::AddOp>(op);
    if (!add)
      return std::nullopt;
    auto [it, inserted] = cache.try_emplace(op);
    if (!inserted)
      return it->second;
    std::optional<ResidualLayer> found = matchSequential(op);
    if (!found)
      found = matchParallelChain(op);
    cache[op] = found;
    return found;
  }

private:
  std::optional<ResidualLayer> matchSequential(Operation *op) {
    for (unsigned i = 0; i < 2; ++i) {
      Value input = op->getOperand(i), branch = op->getOperand(1 - i);
      for (Operation *user : input.getUsers())
        if (isStreamNorm(user) && user->getOperand(0) == input &&
            dependsOn(branch, user->getResult(0)))
          return ResidualLayer{input, {branch}, {op}, user};
    }
    return std::nullopt;
  }

  std::optional<ResidualLayer> matchParallelChain(Operation *op) {
    for (unsigned i = 0; i < 2; ++i) {
      Value sum = op->getOperand(i), branch = op->getOperand(1 - i);
      if (!sum.hasOneUse())
        continue;
      std::optional<ResidualLayer> layer = match(sum.getDefiningOp());
      if (!layer || !dependsOn(branch, layer->norm->getResult(0)))
        continue;
      layer->adds.push_back(op);
      layer->branches.push_back(branch);
      return layer;
    }
    return std::nullopt;
  }

  DenseMap<Operation *, std::optional<ResidualLayer>> cache;
};

/// The stream value `norm` reads, through row selections, and the op that
/// reads it (the norm or the first selection).
std::pair<Value, Operation *> readThroughRowSelections(Operation *norm) {
  Operation *reader = norm;
  Value value = norm->getOperand(0);
  while (Operation *def = value.getDefiningOp()) {
    if (!isRowSelection(def) || !value.hasOneUse())
      break;
    reader = def;
    value = def->getOperand(0);
  }
  return {value, reader};
}

/// Says which layout the residual adds of `func` have, when no norm ends a
/// PreNorm stream; success when there is nothing to say (no stream at all).
LogicalResult
explainMissingStream(func::FuncOp func, ArrayRef<Operation *> norms,
                     ResidualAddMatcher &residual,
                     function_ref<bool(Value)> readByResidualAdd) {
  // Norms after the sublayers, `h + norm(f(h))` (OLMo 2): the sublayers
  // read the stream itself.
  for (Operation *norm : norms) {
    for (Operation *user : norm->getResult(0).getUsers()) {
      auto add = dyn_cast<tosa::AddOp>(user);
      if (!add)
        continue;
      Value other = add.getInput1() == norm->getResult(0) ? add.getInput2()
                                                          : add.getInput1();
      if (dependsOn(norm->getOperand(0), other))
        return add.emitError("residual add of a normalized sublayer output "
                             "`h + norm(f(h))` (OLMo 2 style): the sublayers "
                             "read the residual stream directly, not through "
                             "a norm (")
               << describeOp(norm)
               << " follows its sublayer); Block AttnRes rescales the "
                  "stream, so the rewrite would change the function";
    }
  }
  // PostNorm (BERT): a norm reads `a + g(a)`. Replacing that sum would
  // change what the next layer reads unnormalized.
  for (Operation *norm : norms) {
    auto add = norm->getOperand(0).getDefiningOp<tosa::AddOp>();
    if (add && isResidualLike(add))
      return add.emitError("PostNorm residual add: its sum is normalized "
                           "after the add, by ")
             << describeOp(norm)
             << " (BERT-style); Block AttnRes rescales the stream, which "
                "only a norm before each sublayer (PreNorm) undoes, so the "
                "rewrite would change the function";
  }
  // Residual adds whose sum reaches no norm: the stream ends unnormalized.
  for (Operation &op : func.getBody().front()) {
    std::optional<ResidualLayer> layer = residual.match(&op);
    if (!layer || readByResidualAdd(op.getResult(0)))
      continue;
    InFlightDiagnostic diag =
        op.emitError("the residual stream ends here without a final norm");
    for (Operation *user : op.getResult(0).getUsers()) {
      diag << ": it is read by " << describeOp(user);
      break;
    }
    diag << "; Block AttnRes rescales the stream, which only a norm "
            "undoes, so the rewrite would change the function";
    return diag;
  }
  return success();
}

/// The stream that ends at `finalNorm`, walked back from the value `reader`
/// reads, with the checks under which Block AttnRes preserves it.
FailureOr<ResidualStream> buildStream(Operation *finalNorm, Operation *reader,
                                      Value last,
                                      ResidualAddMatcher &residual) {
  ResidualStream stream;
  stream.finalNorm = finalNorm;
  stream.finalReader = reader;
  Value h = last;
  while (std::optional<ResidualLayer> layer =
             residual.match(h.getDefiningOp())) {
    stream.layers.push_back(*layer);
    h = layer->input;
  }
  std::reverse(stream.layers.begin(), stream.layers.end());
  stream.embedding = h;

  // The embedding must not come from the stream: otherwise the chain broke
  // at an add of another shape. One walk over its sources, not one per
  // norm. A normalized embedding (BLOOM's word_embeddings_layernorm, CLIP's
  // pre_layrnorm) is b_0 itself.
  if (Value normResult = isStreamNorm(stream.embedding.getDefiningOp())
                             ? Value()
                             : findSource(stream.embedding, [](Value value) {
                                 return isStreamNorm(value.getDefiningOp());
                               })) {
    Operation *norm = normResult.getDefiningOp();
    Operation *def = stream.embedding.getDefiningOp();
    // TorchScript's fp16 export widens the stream after attention: the add
    // reads a cast of the stream rather than the stream.
    tosa::CastOp cast = dyn_cast<tosa::CastOp>(def);
    for (Value operand : def->getOperands())
      if (auto c = operand.getDefiningOp<tosa::CastOp>();
          !cast && c && isa<FloatType>(getElementTypeOrSelf(c.getInput())))
        cast = c;
    if (cast && isa<FloatType>(getElementTypeOrSelf(cast.getType())))
      return cast.emitError("the residual stream changes element type here, "
                            "from ")
             << getElementTypeOrSelf(cast.getInput()) << " to "
             << getElementTypeOrSelf(cast.getType())
             << " (TorchScript's fp16 export computes attention in f32); "
                "Block AttnRes needs one stream type";
    return def->emitError("the residual stream is broken here: this value "
                          "is computed from ")
           << describeOp(norm)
           << " but is not a PreNorm residual add `h + f(norm(h))`";
  }

  auto streamType = dyn_cast<RankedTensorType>(stream.embedding.getType());
  if (!streamType || streamType.getRank() == 0 ||
      streamType.isDynamicDim(streamType.getRank() - 1))
    return stream.layers.front().add()->emitError(
               "the residual stream needs a static feature size, got ")
           << stream.embedding.getType();

  // Each stream value is read by its layer's norm and first add (the last
  // one by the final reader) and nothing else; a parallel block's partial
  // sums only by its next add.
  size_t numLayers = stream.layers.size();
  for (size_t l = 0; l <= numLayers; ++l) {
    Value value =
        l == 0 ? stream.embedding : stream.layers[l - 1].add()->getResult(0);
    Operation *norm = l < numLayers ? stream.layers[l].norm : reader;
    Operation *add = l < numLayers ? stream.layers[l].adds.front() : nullptr;
    for (Operation *user : value.getUsers()) {
      if (user == norm || user == add)
        continue;
      if (isStreamNorm(user) && add) {
        Operation *first = norm, *second = user;
        if (second->getBlock() == first->getBlock() &&
            second->isBeforeInBlock(first))
          std::swap(first, second);
        return add->emitError("parallel residual layer (GPT-NeoX, GPT-J, "
                              "Falcon style): the stream value is read by "
                              "two norms, ")
               << describeOp(first) << " and " << describeOp(second)
               << ", whose branches are added in one step; only sequential "
                  "layers `h + f(norm(h))` are supported";
      }
      return user->emitError("reads the residual stream (the input of layer ")
             << l
             << ") directly, not through a norm; Block AttnRes "
                "rescales the stream, so the rewrite would change what "
                "this op computes";
    }
    if (!add)
      continue;
    const ResidualLayer &layer = stream.layers[l];
    for (auto [add, branch] : llvm::zip(layer.adds, layer.branches))
      if (add->getResult(0).getType() != streamType ||
          branch.getType() != streamType)
        return add->emitError("residual add does not keep the stream's type ")
               << streamType << ": " << branch.getType() << " is added to it";
  }
  for (const ResidualLayer &layer : stream.layers)
    for (Operation *add : layer.adds)
      if (add->getBlock() != finalNorm->getBlock())
        return add->emitError("residual add in a nested region; the stream "
                              "must lie in one block");
  return stream;
}

} // namespace

FailureOr<SmallVector<ResidualStream>>
mlir::attnres::findResidualStreams(func::FuncOp func) {
  SmallVector<Operation *> norms;
  func.walk([&](Operation *op) {
    if (isStreamNorm(op))
      norms.push_back(op);
  });
  SmallVector<ResidualStream> streams;
  if (norms.empty())
    return streams;

  ResidualAddMatcher residual;
  auto readByResidualAdd = [&](Value h) {
    return llvm::any_of(h.getUsers(), [&](Operation *user) {
      std::optional<ResidualLayer> layer = residual.match(user);
      return layer && layer->input == h;
    });
  };
  // A final norm reads (possibly through row selections) a residual add
  // that no other residual add reads; each one ends a stream.
  for (Operation *norm : norms) {
    auto [h, reader] = readThroughRowSelections(norm);
    if (!residual.match(h.getDefiningOp()) || readByResidualAdd(h))
      continue;
    FailureOr<ResidualStream> stream = buildStream(norm, reader, h, residual);
    if (failed(stream))
      return failure();
    streams.push_back(std::move(*stream));
  }
  if (streams.empty() &&
      failed(explainMissingStream(func, norms, residual, readByResidualAdd)))
    return failure();
  return streams;
}
