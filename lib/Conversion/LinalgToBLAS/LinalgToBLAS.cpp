//===- LinalgToBLAS.cpp - Batch matmuls on buffers to BLAS calls ----------===//
//
// Replaces f32 linalg.batch_matmul on memrefs with calls to the runtime's
// attnres_sgemm_batched, which wraps cblas_sgemm: the GEMMs of a transformer
// are where nearly all CPU time goes, and a tuned BLAS beats loops we emit.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTLINALGTOBLAS
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>: one C interface for all
/// shapes and layouts.
MemRefType dynamicStridedType(MLIRContext *ctx) {
  int64_t d = ShapedType::kDynamic;
  return MemRefType::get(
      {d, d, d}, Float32Type::get(ctx),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {d, d, d}));
}

/// The fill of `buffer`, a fresh allocation, when that is the only op that
/// writes it: every other user is `reader` ops, copies out of it, or its
/// deallocation. Views are not followed: a buffer seen through one is left
/// alone.
linalg::FillOp soleFill(Value buffer) {
  if (!buffer.getDefiningOp<memref::AllocOp>())
    return {};
  linalg::FillOp fill;
  for (Operation *user : buffer.getUsers()) {
    if (auto f = dyn_cast<linalg::FillOp>(user)) {
      if (fill || f.getOutputs()[0] != buffer)
        return {};
      fill = f;
      continue;
    }
    auto copy = dyn_cast<memref::CopyOp>(user);
    if (!(copy && copy.getSource() == buffer) && !isa<memref::DeallocOp>(user))
      return {};
  }
  return fill;
}

/// Whether `fill` comes before `product` in one block and `buffer` has no
/// other user before `product`: no view of it made earlier, no op between
/// them, reads or writes it.
bool onlyFilledBefore(Operation *fill, Operation *product, Value buffer) {
  Block *block = product->getBlock();
  if (fill->getBlock() != block || !fill->isBeforeInBlock(product))
    return false;
  for (Operation *user : buffer.getUsers()) {
    if (user == fill || user == product || isa<memref::DeallocOp>(user))
      continue;
    Operation *at = block->findAncestorOpInBlock(*user);
    if (!at || at == product || at->isBeforeInBlock(product))
      return false;
  }
  return true;
}

/// The fill whose value `copy` reads: the source is a fresh allocation, a
/// fill of it comes earlier in the block, and nothing but other copies out
/// of it, and no view of it, comes before `copy`.
linalg::FillOp fillReadBy(memref::CopyOp copy) {
  Value source = copy.getSource();
  if (!source.getDefiningOp<memref::AllocOp>())
    return {};
  Block *block = copy->getBlock();
  linalg::FillOp last;
  for (Operation *user : source.getUsers()) {
    if (user == copy.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    Operation *at = block->findAncestorOpInBlock(*user);
    if (!at)
      return {};
    if (!at->isBeforeInBlock(copy))
      continue;
    if (auto other = dyn_cast<memref::CopyOp>(user);
        other && other.getSource() == source)
      continue;
    auto fill = dyn_cast<linalg::FillOp>(user);
    if (!fill || fill != at || fill.getOutputs()[0] != source)
      return {};
    if (!last || last->isBeforeInBlock(fill))
      last = fill;
  }
  return last;
}

/// memref.copy out of a buffer that a fill wrote and nothing has changed
/// since: a fill of the target. Bufferization makes these when CSE has
/// merged the zero fills of several matrix products into one tensor.
struct CopyOfFillToFill : OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::CopyOp copy,
                                PatternRewriter &rewriter) const override {
    linalg::FillOp fill = fillReadBy(copy);
    if (!fill)
      return rewriter.notifyMatchFailure(copy, "source is not a fill");
    rewriter.replaceOpWithNewOp<linalg::FillOp>(copy, fill.getInputs()[0],
                                                copy.getTarget());
    return success();
  }
};

/// A buffer that is filled and then only deallocated.
struct EraseFilledOnlyBuffer : OpRewritePattern<memref::AllocOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::AllocOp alloc,
                                PatternRewriter &rewriter) const override {
    if (!soleFill(alloc) ||
        llvm::any_of(alloc->getUsers(),
                     [](Operation *user) { return isa<memref::CopyOp>(user); }))
      return rewriter.notifyMatchFailure(alloc, "buffer is read");
    for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
      rewriter.eraseOp(user);
    rewriter.eraseOp(alloc);
    return success();
  }
};

/// The buffer `value` is a view of, through view-like ops.
Value viewRoot(Value value) {
  while (auto view = value.getDefiningOp<ViewLikeOpInterface>())
    value = view.getViewSource();
  return value;
}

/// Whether `op` (or an op inside it) may write the buffer whose root is
/// `root`.
bool mayWrite(Operation *op, Value root) {
  bool writes = false;
  op->walk([&](Operation *nested) {
    if (isMemoryEffectFree(nested))
      return WalkResult::advance();
    auto iface = dyn_cast<MemoryEffectOpInterface>(nested);
    if (!iface) {
      // Unknown effects (a call): anything may be written, unless the op
      // only holds other ops whose effects are checked one by one.
      writes = !nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>();
      return writes ? WalkResult::interrupt() : WalkResult::advance();
    }
    SmallVector<MemoryEffects::EffectInstance> effects;
    iface.getEffects(effects);
    for (auto &effect : effects)
      if (isa<MemoryEffects::Write>(effect.getEffect()) &&
          (!effect.getValue() || viewRoot(effect.getValue()) == root)) {
        writes = true;
        return WalkResult::interrupt();
      }
    return WalkResult::advance();
  });
  return writes;
}

/// The type of memref.transpose(`source`) by `permutation`, as a strided
/// view, or null when the source's layout is not strided.
MemRefType transposedType(MemRefType source, ArrayRef<int64_t> permutation) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(source.getStridesAndOffset(strides, offset)))
    return {};
  SmallVector<int64_t> sizes, permutedStrides;
  for (int64_t d : permutation) {
    sizes.push_back(source.getDimSize(d));
    permutedStrides.push_back(strides[d]);
  }
  return MemRefType::get(
      sizes, source.getElementType(),
      StridedLayoutAttr::get(source.getContext(), offset, permutedStrides),
      source.getMemorySpace());
}

/// A transpose into a fresh buffer that only a matrix product reads
/// (directly or through a collapse_shape) becomes a transposed view of its
/// input: BLAS takes the strides (as a leading dimension, or a transposed
/// operand) instead of a copy. The head split of attention (Q, K^T, V) is
/// the case: three copies of the activations per layer.
struct FoldTransposeIntoProduct : OpRewritePattern<linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::TransposeOp transpose,
                                PatternRewriter &rewriter) const override {
    if (!transpose.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(transpose, "expects buffers");
    Value out = transpose.getInit();
    Value source = transpose.getInput();
    auto sourceType = dyn_cast<MemRefType>(source.getType());
    if (!out.getDefiningOp<memref::AllocOp>() || !sourceType)
      return rewriter.notifyMatchFailure(transpose, "not a fresh buffer");
    // Its one reader: a product, maybe through one collapse_shape.
    memref::CollapseShapeOp collapse;
    linalg::BatchMatmulOp product;
    for (Operation *user : out.getUsers()) {
      if (user == transpose.getOperation() || isa<memref::DeallocOp>(user))
        continue;
      if (collapse || product)
        return rewriter.notifyMatchFailure(transpose, "several readers");
      if (auto c = dyn_cast<memref::CollapseShapeOp>(user)) {
        collapse = c;
        if (!c->hasOneUse())
          return rewriter.notifyMatchFailure(transpose, "several readers");
        product = dyn_cast<linalg::BatchMatmulOp>(*c->user_begin());
        if (!product)
          return rewriter.notifyMatchFailure(transpose, "not a product");
        continue;
      }
      product = dyn_cast<linalg::BatchMatmulOp>(user);
      if (!product)
        return rewriter.notifyMatchFailure(transpose, "not a product");
    }
    if (!product || !product.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(transpose, "no product reads it");
    Value read = collapse ? collapse.getResult() : out;
    if (llvm::is_contained(product.getDpsInits(), read))
      return rewriter.notifyMatchFailure(transpose, "the product writes it");
    // The input must hold the same values when the product reads it.
    Block *block = transpose->getBlock();
    if (product->getBlock() != block || !transpose->isBeforeInBlock(product))
      return rewriter.notifyMatchFailure(transpose, "not in one block");
    Value root = viewRoot(source);
    for (Operation *op = transpose->getNextNode(); op != product;
         op = op->getNextNode())
      if (mayWrite(op, root))
        return rewriter.notifyMatchFailure(transpose, "input written before");
    // Every type is checked before the IR changes.
    MemRefType viewType =
        transposedType(sourceType, transpose.getPermutation());
    if (!viewType ||
        viewType.getShape() != cast<MemRefType>(out.getType()).getShape())
      return rewriter.notifyMatchFailure(transpose, "layout not strided");
    SmallVector<ReassociationIndices> reassociation;
    if (collapse) {
      reassociation = collapse.getReassociationIndices();
      if (!memref::CollapseShapeOp::isGuaranteedCollapsible(viewType,
                                                            reassociation))
        return rewriter.notifyMatchFailure(transpose, "cannot collapse");
    }

    rewriter.setInsertionPoint(product);
    Location loc = transpose.getLoc();
    AffineMap map =
        AffineMap::getPermutationMap(transpose.getPermutation(), getContext());
    Value view = memref::TransposeOp::create(rewriter, loc, viewType, source,
                                             AffineMapAttr::get(map));
    if (collapse)
      view = memref::CollapseShapeOp::create(
          rewriter, loc,
          memref::CollapseShapeOp::computeCollapsedType(viewType,
                                                        reassociation),
          view, reassociation);
    rewriter.modifyOpInPlace(product, [&] {
      for (OpOperand &operand : product->getOpOperands())
        if (operand.get() == read)
          operand.set(view);
    });
    if (collapse)
      rewriter.eraseOp(collapse);
    rewriter.eraseOp(transpose);
    for (Operation *user : llvm::make_early_inc_range(out.getUsers()))
      rewriter.eraseOp(user);
    rewriter.eraseOp(out.getDefiningOp());
    return success();
  }
};

/// Marks a product whose output holds nothing it must add to: its zero fill
/// was dropped by a pattern that also changed the output.
constexpr llvm::StringLiteral kOverwriteAttr = "attnres.overwrite";

/// A transpose of a product's fresh output (directly or through an
/// expand_shape) into a fresh buffer: the product writes a transposed view
/// of that buffer instead. Attention's merge of heads after its second
/// product is the case.
struct FoldProductIntoTranspose : OpRewritePattern<linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::TransposeOp transpose,
                                PatternRewriter &rewriter) const override {
    if (!transpose.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(transpose, "expects buffers");
    Value target = transpose.getInit();
    auto targetAlloc = target.getDefiningOp<memref::AllocOp>();
    if (!targetAlloc || targetAlloc->getNumOperands() != 0)
      return rewriter.notifyMatchFailure(transpose, "not a static buffer");
    Value input = transpose.getInput();
    auto expand = input.getDefiningOp<memref::ExpandShapeOp>();
    Value product = expand ? expand.getSrc() : input;
    auto productAlloc = product.getDefiningOp<memref::AllocOp>();
    if (!productAlloc || (expand && !expand->hasOneUse()))
      return rewriter.notifyMatchFailure(transpose, "not a fresh output");
    Block *block = transpose->getBlock();
    if (productAlloc->getBlock() != block || targetAlloc->getBlock() != block)
      return rewriter.notifyMatchFailure(transpose, "not in one block");
    // The output's users: one product writing it, maybe a fill before, the
    // transpose's read after, deallocations.
    linalg::BatchMatmulOp matmul;
    linalg::FillOp fill;
    for (Operation *user : product.getUsers()) {
      if (isa<memref::DeallocOp>(user) || user == expand.getOperation() ||
          user == transpose.getOperation())
        continue;
      if (auto m = dyn_cast<linalg::BatchMatmulOp>(user);
          m && !matmul && m.getDpsInits()[0] == product &&
          !llvm::is_contained(m.getDpsInputs(), product)) {
        matmul = m;
        continue;
      }
      if (auto f = dyn_cast<linalg::FillOp>(user); f && !fill) {
        fill = f;
        continue;
      }
      return rewriter.notifyMatchFailure(transpose, "other users");
    }
    if (!matmul || matmul->getBlock() != block ||
        !matmul->isBeforeInBlock(transpose) ||
        (fill && !onlyFilledBefore(fill, matmul, product)))
      return rewriter.notifyMatchFailure(transpose, "not product, transpose");
    // Nothing may touch the target before the transpose writes it.
    for (Operation *user : target.getUsers()) {
      if (user == transpose.getOperation() || isa<memref::DeallocOp>(user))
        continue;
      Operation *at = block->findAncestorOpInBlock(*user);
      if (!at || at->isBeforeInBlock(transpose))
        return rewriter.notifyMatchFailure(transpose, "target used before");
    }
    // out[i] = in[perm[i]]: the product writes target viewed by the inverse
    // permutation, collapsed as the expand_shape had expanded it.
    ArrayRef<int64_t> perm = transpose.getPermutation();
    SmallVector<int64_t> inverse(perm.size());
    for (auto [i, p] : llvm::enumerate(perm))
      inverse[p] = int64_t(i);
    auto targetType = cast<MemRefType>(target.getType());
    MemRefType viewType = transposedType(targetType, inverse);
    if (!viewType ||
        viewType.getShape() != cast<MemRefType>(input.getType()).getShape())
      return rewriter.notifyMatchFailure(transpose, "layout not strided");
    MemRefType outType = viewType;
    SmallVector<ReassociationIndices> reassociation;
    if (expand) {
      reassociation = expand.getReassociationIndices();
      if (!memref::CollapseShapeOp::isGuaranteedCollapsible(viewType,
                                                            reassociation))
        return rewriter.notifyMatchFailure(transpose, "cannot collapse");
      outType = memref::CollapseShapeOp::computeCollapsedType(viewType,
                                                              reassociation);
    }
    // BLAS writes rows of contiguous elements.
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(outType.getStridesAndOffset(strides, offset)) ||
        strides.back() != 1)
      return rewriter.notifyMatchFailure(transpose, "rows not contiguous");

    rewriter.moveOpBefore(targetAlloc, productAlloc);
    rewriter.setInsertionPointAfter(targetAlloc);
    Location loc = transpose.getLoc();
    Value view = memref::TransposeOp::create(
        rewriter, loc, viewType, target,
        AffineMapAttr::get(
            AffineMap::getPermutationMap(inverse, getContext())));
    if (expand)
      view = memref::CollapseShapeOp::create(rewriter, loc, outType, view,
                                             reassociation);
    bool zeroFill = fill && matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
    if (zeroFill)
      rewriter.eraseOp(fill);
    else if (fill)
      rewriter.modifyOpInPlace(fill,
                               [&] { fill.getOutputsMutable().assign(view); });
    rewriter.modifyOpInPlace(matmul, [&] {
      matmul.getDpsInitsMutable()[0].set(view);
      if (zeroFill)
        matmul->setAttr(kOverwriteAttr, rewriter.getUnitAttr());
    });
    rewriter.eraseOp(transpose);
    if (expand)
      rewriter.eraseOp(expand);
    for (Operation *user : llvm::make_early_inc_range(product.getUsers()))
      rewriter.eraseOp(user);
    rewriter.eraseOp(productAlloc);
    return success();
  }
};

struct BatchMatmulToBLAS : OpRewritePattern<linalg::BatchMatmulOp> {
  BatchMatmulToBLAS(MLIRContext *ctx, SymbolRefAttr accumulate,
                    SymbolRefAttr overwrite)
      : OpRewritePattern(ctx), accumulate(accumulate), overwrite(overwrite) {}

  LogicalResult matchAndRewrite(linalg::BatchMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expects memref operands");
    // Broadcast or transposed variants carry explicit indexing maps.
    if (op.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(op, "non-default indexing maps");
    // Every operand is checked before the first cast is created: a pattern
    // that fails after changing the IR makes the greedy driver see a change
    // on every iteration, so it never converges and the pass fails.
    for (Value v : op->getOperands()) {
      auto type = dyn_cast<MemRefType>(v.getType());
      if (!type || !type.getElementType().isF32() || type.getRank() != 3)
        return rewriter.notifyMatchFailure(op, "expects rank-3 f32 memrefs");
      // The cast to the callee's type cannot change the memory space, and
      // the BLAS reads host memory only.
      if (type.getMemorySpace())
        return rewriter.notifyMatchFailure(
            op, "expects memrefs in the default memory space");
    }
    // A zero fill of a fresh output that nothing else sees before the
    // product: BLAS writes the product instead of adding it.
    Value out = op.getDpsInits()[0];
    linalg::FillOp zeroFill;
    if (out.getDefiningOp<memref::AllocOp>())
      for (Operation *user : out.getUsers())
        if (auto fill = dyn_cast<linalg::FillOp>(user);
            fill && fill.getOutputs()[0] == out &&
            matchPattern(fill.getInputs()[0], m_AnyZeroFloat()) &&
            onlyFilledBefore(fill, op, out))
          zeroFill = fill;
    bool overwriteOut = zeroFill || op->hasAttr(kOverwriteAttr);
    SmallVector<Value> operands;
    for (Value v : op->getOperands())
      operands.push_back(memref::CastOp::create(
          rewriter, op.getLoc(), dynamicStridedType(getContext()), v));
    if (zeroFill)
      rewriter.eraseOp(zeroFill);
    rewriter.replaceOpWithNewOp<func::CallOp>(
        op, overwriteOut ? overwrite : accumulate, TypeRange(), operands);
    return success();
  }

  SymbolRefAttr accumulate, overwrite;
};

struct ConvertLinalgToBLASPass
    : attnres::impl::ConvertLinalgToBLASBase<ConvertLinalgToBLASPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    std::string overwrite = callee + "_overwrite";
    bool any = false;
    module.walk([&](linalg::BatchMatmulOp) { any = true; });
    if (!any)
      return;
    // Declare the runtime functions, with the C interface so that the
    // runtime receives plain StridedMemRefType pointers; the one no call
    // uses goes again below.
    OpBuilder b(module.getBodyRegion());
    MemRefType t = dynamicStridedType(ctx);
    SmallVector<func::FuncOp> declared;
    for (StringRef name : {StringRef(callee), StringRef(overwrite)}) {
      if (SymbolTable::lookupSymbolIn(module, name))
        continue;
      auto decl = func::FuncOp::create(b, module.getLoc(), name,
                                       b.getFunctionType({t, t, t}, {}));
      decl.setPrivate();
      decl->setAttr("llvm.emit_c_interface", b.getUnitAttr());
      declared.push_back(decl);
    }
    // Fills and transposes first, so that the products see which outputs
    // are only zeros, and read the transposes' inputs.
    RewritePatternSet fills(ctx);
    fills.add<CopyOfFillToFill, EraseFilledOnlyBuffer, FoldTransposeIntoProduct,
              FoldProductIntoTranspose>(ctx);
    RewritePatternSet products(ctx);
    products.add<BatchMatmulToBLAS>(ctx, SymbolRefAttr::get(ctx, callee),
                                    SymbolRefAttr::get(ctx, overwrite));
    if (failed(applyPatternsGreedily(module, std::move(fills))) ||
        failed(applyPatternsGreedily(module, std::move(products)))) {
      signalPassFailure();
      return;
    }
    for (func::FuncOp decl : declared)
      if (SymbolTable::symbolKnownUseEmpty(decl, module))
        decl->erase();
  }
};

} // namespace
