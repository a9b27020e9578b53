//===- OutlineLayers.cpp - One function per distinct layer ----------------===//
//
// LLVM's loop passes cost more than linearly in the size of a function, and
// a model lowered as one function pays that for every layer. Cutting the
// body at each layer head and sharing the function of identical pieces
// makes codegen scale with the number of distinct layer shapes instead.
//
//===----------------------------------------------------------------------===//

#include "attnres/Dialect/AttnRes/AttnResOps.h"
#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_OUTLINELAYERS
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Marks the functions this pass made, so that a second run leaves them.
constexpr StringLiteral kLayerAttr = "attnres.layer";

bool isLayerHead(Operation *op) {
  return isa<RMSNormOp, LayerNormOp, BlockAttnResOp, Phase1Op, Phase2Op>(op);
}

struct OutlineLayersPass : attnres::impl::OutlineLayersBase<OutlineLayersPass> {
  using OutlineLayersBase::OutlineLayersBase;

  /// A constant of more than maxInlineElements elements: a weight, passed
  /// to the outlined function rather than copied into it.
  bool isWeight(Operation *op) const {
    if (!op->hasTrait<OpTrait::ConstantLike>())
      return false;
    return llvm::any_of(op->getResultTypes(), [&](Type type) {
      auto shaped = dyn_cast<ShapedType>(type);
      return shaped && (!shaped.hasStaticShape() ||
                        shaped.getNumElements() > int64_t(maxInlineElements));
    });
  }

  bool isSmallConstant(Operation *op) const {
    return op->hasTrait<OpTrait::ConstantLike>() && !isWeight(op);
  }

  /// The tosa.add in the piece `current` that forms the partial sum read by
  /// phase 2 head `head`, when nothing else in that piece reads it.
  static Operation *
  partialSum(Operation *head,
             const llvm::SmallPtrSetImpl<Operation *> &current) {
    auto phase2 = dyn_cast<Phase2Op>(head);
    if (!phase2)
      return nullptr;
    Operation *add = phase2.getPartial().getDefiningOp<tosa::AddOp>();
    if (!add || !current.contains(add) ||
        llvm::any_of(add->getUsers(), [&](Operation *user) {
          return current.contains(
              add->getBlock()->findAncestorOpInBlock(*user));
        }))
      return nullptr;
    return add;
  }

  /// The body of `fn` cut before each layer head that follows other work.
  /// A piece keeps only the ops that depend on its heads: constants, and
  /// values every layer reads that an exporter computes inside the first
  /// (rotary tables, masks), stay where they are, so that the first layer's
  /// piece is like the others.
  SmallVector<SmallVector<Operation *>> cut(Block &body) const {
    SmallVector<SmallVector<Operation *>> pieces;
    llvm::SmallPtrSet<Operation *, 32> current;
    bool hasWork = false;
    auto dependsOnPiece = [&](Operation *op) {
      WalkResult walk = op->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands())
          if (Operation *def = operand.getDefiningOp())
            if (current.contains(def))
              return WalkResult::interrupt();
        return WalkResult::advance();
      });
      return walk.wasInterrupted();
    };
    for (Operation &op : body.without_terminator()) {
      bool head = isLayerHead(&op);
      if (head && (pieces.empty() || hasWork)) {
        Operation *sum = pieces.empty() ? nullptr : partialSum(&op, current);
        pieces.emplace_back();
        current.clear();
        hasWork = false;
        if (sum) {
          // The add goes with the phase 2 that reads it, which can then do it
          // in its own pass over the rows (--attnres-to-vector).
          auto &previous = pieces[pieces.size() - 2];
          previous.erase(llvm::find(previous, sum));
          pieces.back().push_back(sum);
          current.insert(sum);
        }
      }
      if (pieces.empty() || op.hasTrait<OpTrait::ConstantLike>() ||
          (!head && !dependsOnPiece(&op)))
        continue;
      pieces.back().push_back(&op);
      current.insert(&op);
      hasWork |= !head;
    }
    return pieces;
  }

  /// Moves `ops` (in order) into a new private function inserted after
  /// `parent`, and calls it where the last op was. The ops between them that
  /// stay do not depend on the piece, so the call sees all its inputs
  /// defined and precedes every use of its results. Returns null when the
  /// piece computes nothing used after it.
  std::pair<func::FuncOp, func::CallOp>
  outline(func::FuncOp parent, ArrayRef<Operation *> ops, StringRef name) {
    Block &body = parent.front();
    llvm::SmallPtrSet<Operation *, 32> piece(ops.begin(), ops.end());
    auto inside = [&](Operation *op) {
      Operation *top = body.findAncestorOpInBlock(*op);
      return top && piece.contains(top);
    };
    auto definedInside = [&](Value value) {
      if (Operation *def = value.getDefiningOp())
        return inside(def);
      return inside(value.getParentBlock()->getParentOp());
    };

    llvm::SetVector<Value> inputs;
    llvm::SetVector<Operation *> constants;
    for (Operation *op : ops)
      op->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands()) {
          if (definedInside(operand))
            continue;
          Operation *def = operand.getDefiningOp();
          if (def && isSmallConstant(def))
            constants.insert(def);
          else
            inputs.insert(operand);
        }
      });
    SmallVector<Value> outputs;
    for (Operation *op : ops)
      for (Value result : op->getResults())
        if (llvm::any_of(result.getUsers(),
                         [&](Operation *user) { return !inside(user); }))
          outputs.push_back(result);
    if (outputs.empty())
      return {};

    OpBuilder builder(parent);
    builder.setInsertionPointAfter(parent);
    auto type = builder.getFunctionType(
        llvm::to_vector(
            llvm::map_range(inputs, [](Value v) { return v.getType(); })),
        llvm::to_vector(
            llvm::map_range(outputs, [](Value v) { return v.getType(); })));
    auto fn = func::FuncOp::create(builder, ops.front()->getLoc(), name, type);
    fn.setPrivate();
    fn->setAttr(kLayerAttr, builder.getUnitAttr());
    // func-to-llvm carries it to llvm.func: a function called once would
    // otherwise be inlined back into its caller.
    fn->setAttr("no_inline", builder.getUnitAttr());
    Block *entry = fn.addEntryBlock();
    IRMapping mapping;
    for (auto [input, arg] : llvm::zip(inputs, entry->getArguments()))
      mapping.map(input, arg);
    builder.setInsertionPointToStart(entry);
    for (Operation *constant : constants)
      builder.clone(*constant, mapping);
    for (Operation *op : ops)
      builder.clone(*op, mapping);
    func::ReturnOp::create(
        builder, ops.back()->getLoc(),
        llvm::to_vector(llvm::map_range(
            outputs, [&](Value v) { return mapping.lookup(v); })));

    builder.setInsertionPointAfter(ops.back());
    auto call = func::CallOp::create(builder, ops.front()->getLoc(), fn,
                                     inputs.getArrayRef());
    for (auto [output, result] : llvm::zip(outputs, call.getResults()))
      output.replaceUsesWithIf(
          result, [&](OpOperand &use) { return !inside(use.getOwner()); });
    for (Operation *op : llvm::reverse(ops))
      op->erase();
    return {fn, call};
  }

  /// The function's text without its name: equal for pieces that compute
  /// the same thing from the same kinds of arguments.
  static std::string fingerprint(func::FuncOp fn) {
    StringAttr name = fn.getSymNameAttr();
    fn.setSymName("layer");
    std::string text;
    llvm::raw_string_ostream os(text);
    fn->print(os, OpPrintingFlags().printGenericOpForm().useLocalScope());
    fn.setSymNameAttr(name);
    return text;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> functions;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() && !fn->hasAttr(kLayerAttr) &&
          fn.getBody().hasOneBlock())
        functions.push_back(fn);
    SymbolTable symbols(module);
    for (func::FuncOp parent : functions) {
      SmallVector<SmallVector<Operation *>> pieces = cut(parent.front());
      if (pieces.size() < 2)
        continue;
      llvm::StringMap<func::FuncOp> shared;
      unsigned distinct = 0;
      for (ArrayRef<Operation *> ops : pieces) {
        if (ops.size() < minOps)
          continue;
        std::string name =
            (parent.getSymName() + "_layer" + Twine(distinct)).str();
        auto [fn, call] = outline(parent, ops, name);
        if (!fn)
          continue;
        auto [it, inserted] = shared.try_emplace(fingerprint(fn), fn);
        if (!inserted) {
          call.setCallee(it->second.getSymName());
          fn.erase();
          continue;
        }
        // Unique among all symbols, including another run's.
        symbols.insert(fn);
        ++distinct;
      }
    }
  }
};

} // namespace
