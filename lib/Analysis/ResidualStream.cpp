//===- ResidualStream.cpp - The PreNorm residual stream of a function -----===//
//
// The residual stream is found from its readers: every layer's norm reads a
// stream value h_l, and the add that produces h_{l+1} takes h_l and a value
// computed from that norm. Walking back from the final norm (the norm that
// reads a residual add no other residual add reads) gives the layers in
// stream order. The checks that follow are the conditions under which the
// Block AttnRes rewrite preserves the function at zero pseudo-queries:
// every stream value is read only by its norm and by the next add.
//
//===----------------------------------------------------------------------===//

#include "attnres/Analysis/ResidualStream.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

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

/// Recognizes residual adds, memoizing the answer per op.
class ResidualAddMatcher {
public:
  /// The layer `op` closes if it is a PreNorm residual add: one operand is
  /// read by a norm and the other is computed from that norm's result.
  std::optional<ResidualLayer> match(Operation *op) {
    auto add = dyn_cast_or_null<tosa::AddOp>(op);
    if (!add)
      return std::nullopt;
    auto [it, inserted] = cache.try_emplace(op);
    if (!inserted)
      return it->second;
    std::optional<ResidualLayer> found;
    for (unsigned i = 0; i < 2 && !found; ++i) {
      Value input = add->getOperand(i), branch = add->getOperand(1 - i);
      for (Operation *user : input.getUsers()) {
        if (isStreamNorm(user) && user->getOperand(0) == input &&
            dependsOn(branch, user->getResult(0))) {
          found = ResidualLayer{op, input, branch, user};
          break;
        }
      }
    }
    cache[op] = found;
    return found;
  }

private:
  DenseMap<Operation *, std::optional<ResidualLayer>> cache;
};

} // namespace

FailureOr<std::optional<ResidualStream>>
mlir::attnres::findResidualStream(func::FuncOp func) {
  SmallVector<Operation *> norms;
  func.walk([&](Operation *op) {
    if (isStreamNorm(op))
      norms.push_back(op);
  });
  if (norms.empty())
    return std::optional<ResidualStream>();

  ResidualAddMatcher residual;

  // The final norm reads a residual add that no other residual add reads.
  auto readByResidualAdd = [&](Value h) {
    return llvm::any_of(h.getUsers(), [&](Operation *user) {
      std::optional<ResidualLayer> layer = residual.match(user);
      return layer && layer->input == h;
    });
  };
  SmallVector<Operation *> finals;
  for (Operation *norm : norms) {
    Value h = norm->getOperand(0);
    if (residual.match(h.getDefiningOp()) && !readByResidualAdd(h))
      finals.push_back(norm);
  }
  if (finals.size() > 1) {
    return finals[1]->emitError("a second residual stream ends here (the "
                                "first ends at ")
           << describeOp(finals[0])
           << "); one stream per function is supported";
  }
  if (finals.empty()) {
    // No PreNorm stream: say which layout the residual adds have instead.
    // Norms inside sublayers of a PreNorm model never get here.
    //
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
          return add.emitError("residual add of a normalized sublayer "
                               "output `h + norm(f(h))` (OLMo 2 style): the "
                               "sublayers read the residual stream directly, "
                               "not through a norm (")
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
    return std::optional<ResidualStream>();
  }

  ResidualStream stream;
  stream.finalNorm = finals.front();
  Value h = stream.finalNorm->getOperand(0);
  while (std::optional<ResidualLayer> layer =
             residual.match(h.getDefiningOp())) {
    stream.layers.push_back(*layer);
    h = layer->input;
  }
  std::reverse(stream.layers.begin(), stream.layers.end());
  stream.embedding = h;

  // The embedding must not come from the stream: otherwise the chain broke
  // at an add of another shape (e.g. `(h + attn) + mlp`). One walk over its
  // sources, not one per norm. A normalized embedding (BLOOM's
  // word_embeddings_layernorm, CLIP's pre_layrnorm) is b_0 itself.
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
    return stream.layers.front().add->emitError(
               "the residual stream needs a static feature size, got ")
           << stream.embedding.getType();

  // Each stream value is read by its layer's norm and add (the last one by
  // the final norm) and nothing else.
  size_t numLayers = stream.layers.size();
  for (size_t l = 0; l <= numLayers; ++l) {
    Value value =
        l == 0 ? stream.embedding : stream.layers[l - 1].add->getResult(0);
    Operation *norm = l < numLayers ? stream.layers[l].norm : stream.finalNorm;
    Operation *add = l < numLayers ? stream.layers[l].add : nullptr;
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
    if (add && (add->getResult(0).getType() != streamType ||
                stream.layers[l].branch.getType() != streamType))
      return add->emitError("residual add does not keep the stream's type ")
             << streamType << ": " << stream.layers[l].branch.getType()
             << " is added to it";
  }
  for (const ResidualLayer &layer : stream.layers)
    if (layer.add->getBlock() != stream.finalNorm->getBlock())
      return layer.add->emitError(
          "residual add in a nested region; the stream must lie in one block");
  return std::optional<ResidualStream>(std::move(stream));
}
