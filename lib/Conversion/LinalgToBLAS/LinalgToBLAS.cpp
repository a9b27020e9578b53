//===- LinalgToBLAS.cpp - Batch matmuls on buffers to BLAS calls ----------===//
//
// Replaces f32 linalg.batch_matmul on memrefs with calls to the runtime's
// attnres_sgemm_batched, which wraps cblas_sgemm: the GEMMs of a transformer
// are where nearly all CPU time goes, and a tuned BLAS beats loops we emit.
// On the GPU, f16 and bf16 products become calls of cuBLAS's mixed-precision
// GEMM too, reading the half-precision operands the importer widens. There
// the runtime computes no product on the host (the buffers may be device
// memory), so an operand in a layout cuBLAS cannot take is copied into a
// row-major buffer first, by a kernel like every other copy.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
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

/// memref<?x?x?xT, strided<[?, ?, ?], offset: ?>>: one C interface for all
/// shapes and layouts.
MemRefType dynamicStridedType(Type elementType) {
  int64_t d = ShapedType::kDynamic;
  return MemRefType::get({d, d, d}, elementType,
                         StridedLayoutAttr::get(elementType.getContext(),
                                                ShapedType::kDynamic,
                                                {d, d, d}));
}

bool isHalf(Type type) { return type.isF16() || type.isBF16(); }

/// The suffix of a half-precision product's callee: A and B's element type,
/// then C's.
std::string halfSuffix(Type ab, Type c) {
  auto name = [](Type t) {
    return t.isF16() ? "f16" : t.isBF16() ? "bf16" : "f32";
  };
  return std::string("_") + name(ab) + "_" + name(c);
}

/// Whether `op` is an elementwise `CastOp` (arith.extf or arith.truncf) of
/// one buffer into another of the same shape: identity maps, parallel
/// loops, a body that casts the input and yields it.
template <typename CastOp> bool isElementwiseCast(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || !generic.hasPureBufferSemantics() ||
      generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
      generic.getNumReductionLoops() != 0 ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return false;
  Block *body = generic.getBody();
  auto cast = dyn_cast<CastOp>(body->front());
  return cast && body->getOperations().size() == 2 &&
         cast.getIn() == body->getArgument(0) &&
         body->getTerminator()->getOperand(0) == cast.getResult();
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
/// `root`, or with `reads` also read it.
bool mayAccess(Operation *op, Value root, bool reads) {
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
      if ((isa<MemoryEffects::Write>(effect.getEffect()) ||
           (reads && isa<MemoryEffects::Read>(effect.getEffect()))) &&
          (!effect.getValue() || viewRoot(effect.getValue()) == root)) {
        writes = true;
        return WalkResult::interrupt();
      }
    return WalkResult::advance();
  });
  return writes;
}

bool mayWrite(Operation *op, Value root) {
  return mayAccess(op, root, /*reads=*/false);
}

/// The ops of `block` that use `buffer` or a view of it, or hold such a use,
/// in block order; failure when a use is outside the block.
FailureOr<SmallVector<Operation *>> accessesIn(Block *block, Value buffer) {
  SmallVector<Operation *> accesses;
  SmallVector<Value> worklist = {buffer};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (Operation *user : value.getUsers()) {
      Operation *at = block->findAncestorOpInBlock(*user);
      if (!at)
        return failure();
      accesses.push_back(at);
      if (auto view = dyn_cast<ViewLikeOpInterface>(user);
          view && view.getViewSource() == value)
        llvm::append_range(worklist, user->getResults());
    }
  }
  llvm::sort(accesses,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  accesses.erase(llvm::unique(accesses), accesses.end());
  return accesses;
}

/// Whether `op` writes all of `buffer` without reading it first: a fill, or
/// an elementwise generic whose body ignores the buffer's element.
bool overwrites(Operation *op, Value buffer) {
  if (auto fill = dyn_cast<linalg::FillOp>(op))
    return fill.getOutputs()[0] == buffer;
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || !generic.hasPureBufferSemantics() ||
      generic.getNumReductionLoops() != 0 ||
      llvm::is_contained(generic.getDpsInputs(), buffer))
    return false;
  for (OpOperand &init : generic.getDpsInitsMutable())
    if (init.get() == buffer)
      return generic.getMatchingIndexingMap(&init).isIdentity() &&
             generic.getMatchingBlockArgument(&init).use_empty();
  return false;
}

/// Whether nothing reads the fresh `buffer` after `from`, `ignored` aside:
/// the next op to use it deallocates it or overwrites it.
bool deadAfter(Operation *from, Value buffer, ArrayRef<Operation *> ignored) {
  FailureOr<SmallVector<Operation *>> accesses =
      accessesIn(from->getBlock(), buffer);
  if (failed(accesses))
    return false;
  for (Operation *at : *accesses) {
    if (!from->isBeforeInBlock(at) || llvm::is_contained(ignored, at))
      continue;
    return isa<memref::DeallocOp>(at) || overwrites(at, buffer);
  }
  return true;
}

/// Erases `alloc` when deallocations are all that is left of its uses.
void eraseIfUnused(PatternRewriter &rewriter, memref::AllocOp alloc) {
  if (!alloc || !llvm::all_of(alloc->getUsers(), [](Operation *user) {
        return isa<memref::DeallocOp>(user);
      }))
    return;
  for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
    rewriter.eraseOp(user);
  rewriter.eraseOp(alloc);
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

/// Where `product` reads its operand `input` as the widening of
/// half-precision values: the last op before the product to use that fresh
/// buffer is an elementwise linalg.generic that writes it with an
/// arith.extf of a half value (a plain widening copy, or one that
/// elementwise fusion merged into the op computing the values).
struct Widening {
  linalg::GenericOp op;
  /// The index of `input` among the op's inits.
  unsigned init = 0;
  /// The extf whose result the op yields into `input`.
  arith::ExtFOp extf;
  /// The half-precision buffer a plain copy reads, unchanged since; null
  /// when the op must write the half values to a buffer of their own.
  Value source;

  Type halfType() { return extf.getIn().getType(); }
};

std::optional<Widening> wideningReadBy(linalg::BatchMatmulOp product,
                                       Value input) {
  auto alloc = input.getDefiningOp<memref::AllocOp>();
  if (!alloc)
    return std::nullopt;
  FailureOr<SmallVector<Operation *>> accesses =
      accessesIn(product->getBlock(), input);
  if (failed(accesses))
    return std::nullopt;
  Operation *last = nullptr;
  for (Operation *at : *accesses)
    if (at->isBeforeInBlock(product))
      last = at;
  auto generic = dyn_cast_or_null<linalg::GenericOp>(last);
  if (!generic || !overwrites(generic, input) ||
      generic.getNumReductionLoops() != 0)
    return std::nullopt;
  Widening widening;
  widening.op = generic;
  for (OpOperand &init : generic.getDpsInitsMutable())
    if (init.get() == input)
      widening.init = init.getOperandNumber() - generic.getNumDpsInputs();
  Operation *yield = generic.getBody()->getTerminator();
  widening.extf =
      yield->getOperand(widening.init).getDefiningOp<arith::ExtFOp>();
  if (!widening.extf || !isHalf(widening.halfType()))
    return std::nullopt;
  if (isElementwiseCast<arith::ExtFOp>(generic)) {
    Value source = generic.getDpsInputs()[0];
    auto sourceType = dyn_cast<MemRefType>(source.getType());
    Value root = viewRoot(source);
    bool unchanged = sourceType && !sourceType.getMemorySpace();
    for (Operation *op = generic->getNextNode(); unchanged && op != product;
         op = op->getNextNode())
      unchanged = !mayWrite(op, root);
    if (unchanged) {
      widening.source = source;
      return widening;
    }
  }
  // The op writes the half values to a new buffer: sized as `input`, and
  // freed where it is.
  if (generic.getNumResults() != 0 ||
      llvm::none_of(input.getUsers(), [](Operation *user) {
        return isa<memref::DeallocOp>(user);
      }))
    return std::nullopt;
  return widening;
}

/// An f32 product of half-precision operands that the importer widened
/// (f16 and bf16 products accumulate in f32) reads those operands instead:
/// cuBLAS takes them as they are and computes in f32 all the same, and the
/// widened copies (of every weight, on every run) are gone. An op that
/// computes an operand and widens it in one (elementwise fusion merges the
/// widening into a norm) writes the half values instead. Only with a
/// half-precision callee: the CPU's BLAS has no such product.
struct FoldWideningIntoProduct : OpRewritePattern<linalg::BatchMatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::BatchMatmulOp product,
                                PatternRewriter &rewriter) const override {
    if (!product.hasPureBufferSemantics() || product.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(product, "not a plain product");
    auto outType = dyn_cast<MemRefType>(product.getDpsInits()[0].getType());
    if (!outType || !outType.getElementType().isF32())
      return rewriter.notifyMatchFailure(product, "not an f32 product");
    // Both operands, of one type, or neither: cuBLAS's A and B have one.
    Value a = product.getDpsInputs()[0], b = product.getDpsInputs()[1];
    if (a == b)
      return rewriter.notifyMatchFailure(product, "one operand twice");
    SmallVector<Widening, 2> widenings;
    for (Value input : {a, b}) {
      std::optional<Widening> widening = wideningReadBy(product, input);
      if (!widening)
        return rewriter.notifyMatchFailure(product, "operand not widened");
      widenings.push_back(*widening);
    }
    if (widenings[0].halfType() != widenings[1].halfType())
      return rewriter.notifyMatchFailure(product, "operand types differ");
    if (widenings[0].op == widenings[1].op)
      return rewriter.notifyMatchFailure(product, "operands of one op");
    SmallVector<bool, 2> dead;
    for (auto [widening, input] : llvm::zip(widenings, ValueRange{a, b}))
      dead.push_back(deadAfter(widening.op, input, {product.getOperation()}));

    for (auto [i, widening] : llvm::enumerate(widenings)) {
      Value input = product.getDpsInputs()[i];
      Value half = widening.source;
      auto reread = [&] {
        rewriter.modifyOpInPlace(
            product, [&] { product.getDpsInputOperand(i)->set(half); });
      };
      if (!half) {
        // A buffer of the half values beside the widened one, which the op
        // writes in its place, or besides when others still read that.
        auto alloc = input.getDefiningOp<memref::AllocOp>();
        auto type = cast<MemRefType>(alloc.getType());
        rewriter.setInsertionPointAfter(alloc);
        half = memref::AllocOp::create(
            rewriter, alloc.getLoc(),
            MemRefType::get(type.getShape(), widening.halfType()),
            alloc.getDynamicSizes(), alloc.getSymbolOperands(),
            alloc.getAlignmentAttr());
        for (Operation *user : llvm::to_vector(input.getUsers()))
          if (isa<memref::DeallocOp>(user)) {
            rewriter.setInsertionPoint(user);
            memref::DeallocOp::create(rewriter, user->getLoc(), half);
          }
        linalg::GenericOp op = widening.op;
        reread();
        if (dead[i]) {
          rewriter.modifyOpInPlace(op, [&] {
            op.getDpsInitsMutable()[widening.init].set(half);
            op.getMatchingBlockArgument(op.getDpsInitOperand(widening.init))
                .setType(widening.halfType());
            op.getBody()->getTerminator()->setOperand(widening.init,
                                                      widening.extf.getIn());
          });
          if (widening.extf->use_empty())
            rewriter.eraseOp(widening.extf);
          eraseIfUnused(rewriter, alloc);
        } else {
          // Others read the f32 values too: the op writes both.
          SmallVector<Value> inits(op.getDpsInits());
          inits.push_back(half);
          SmallVector<AffineMap> maps = op.getIndexingMapsArray();
          maps.push_back(
              op.getMatchingIndexingMap(op.getDpsInitOperand(widening.init)));
          rewriter.setInsertionPoint(op);
          auto both = linalg::GenericOp::create(
              rewriter, op.getLoc(), TypeRange(), op.getDpsInputs(), inits,
              maps, op.getIteratorTypesArray());
          rewriter.inlineRegionBefore(op.getRegion(), both.getRegion(),
                                      both.getRegion().end());
          Block *body = both.getBody();
          body->addArgument(widening.halfType(), op.getLoc());
          Operation *yield = body->getTerminator();
          SmallVector<Value> yielded(yield->getOperands());
          yielded.push_back(widening.extf.getIn());
          rewriter.setInsertionPoint(yield);
          linalg::YieldOp::create(rewriter, yield->getLoc(), yielded);
          rewriter.eraseOp(yield);
          rewriter.eraseOp(op);
        }
      } else {
        reread();
        if (dead[i]) {
          auto alloc = input.getDefiningOp<memref::AllocOp>();
          rewriter.eraseOp(widening.op);
          eraseIfUnused(rewriter, alloc);
        }
      }
    }
    return success();
  }
};

/// The op that narrows the f32 output `out` of `product` to `type` (an
/// elementwise arith.truncf, the next op to use it), when the product can
/// write the narrowed buffer instead: the f32 values are read nowhere else,
/// nothing in between uses the narrowed buffer, and the product can see it.
/// `move` is set to a fresh allocation of it that must move before the
/// product.
linalg::GenericOp narrowingOf(linalg::BatchMatmulOp product, Value out,
                              Type type, memref::AllocOp &move) {
  if (!out.getDefiningOp<memref::AllocOp>())
    return {};
  Block *block = product->getBlock();
  FailureOr<SmallVector<Operation *>> accesses = accessesIn(block, out);
  if (failed(accesses))
    return {};
  Operation *next = nullptr;
  for (Operation *at : *accesses)
    if (product->isBeforeInBlock(at)) {
      next = at;
      break;
    }
  if (!isElementwiseCast<arith::TruncFOp>(next))
    return {};
  auto narrowing = cast<linalg::GenericOp>(next);
  Value target = narrowing.getDpsInits()[0];
  auto targetType = dyn_cast<MemRefType>(target.getType());
  if (narrowing.getDpsInputs()[0] != out || !targetType ||
      targetType.getElementType() != type || targetType.getMemorySpace() ||
      !deadAfter(narrowing, out, {}))
    return {};
  Value root = viewRoot(target);
  if (llvm::any_of(product.getDpsInputs(),
                   [&](Value input) { return viewRoot(input) == root; }))
    return {};
  for (Operation *op = product->getNextNode(); op != narrowing;
       op = op->getNextNode())
    if (mayAccess(op, root, /*reads=*/true))
      return {};
  move = {};
  Operation *def = target.getDefiningOp();
  if (!def)
    return target.getParentRegion()->isAncestor(product->getParentRegion())
               ? narrowing
               : linalg::GenericOp();
  if (def->getBlock() == block && def->isBeforeInBlock(product))
    return narrowing;
  auto alloc = dyn_cast<memref::AllocOp>(def);
  if (!alloc || alloc->getBlock() != block || alloc->getNumOperands() != 0)
    return {};
  move = alloc;
  return narrowing;
}

/// Whether the matrices of `type` (its last two dims) have a layout that
/// cuBLAS takes, by the rule of the runtime's blasLayout: one of the two
/// strides is 1 and the other a leading dimension from max(extent, 1) to
/// INT_MAX. std::nullopt when only the run-time strides or sizes tell.
std::optional<bool> staticBlasLayout(MemRefType type) {
  // Rows as stored, their length the leading dimension. A length of 0 fails
  // the rule, but the runtime only checks an operand that has elements to
  // read or write, and a length past INT_MAX is a size it refuses anyway.
  if (type.getLayout().isIdentity())
    return true;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  auto layout = [](int64_t unit, int64_t lead,
                   int64_t extent) -> std::optional<bool> {
    if ((!ShapedType::isDynamic(unit) && unit != 1) ||
        (!ShapedType::isDynamic(lead) && (lead < 1 || lead > INT32_MAX)))
      return false;
    if (ShapedType::isDynamic(unit) || ShapedType::isDynamic(lead) ||
        ShapedType::isDynamic(extent))
      return std::nullopt;
    return lead >= std::max<int64_t>(extent, 1);
  };
  ArrayRef<int64_t> shape = type.getShape();
  std::optional<bool> rows = layout(strides[2], strides[1], shape[2]);
  std::optional<bool> columns = layout(strides[1], strides[2], shape[1]);
  if (rows == true || columns == true)
    return true;
  if (rows == false && columns == false)
    return false;
  return std::nullopt;
}

/// The run-time test of staticBlasLayout's rule on `buffer`.
Value runtimeBlasLayout(OpBuilder &b, Location loc, Value buffer) {
  auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value one = constant(1), intMax = constant(INT32_MAX);
  auto layout = [&](Value unit, Value lead, Value extent) {
    Value isUnit =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, unit, one);
    Value least = arith::MaxSIOp::create(b, loc, extent, one);
    Value wide =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, lead, least);
    Value fits =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, lead, intMax);
    return arith::AndIOp::create(b, loc, isUnit,
                                 arith::AndIOp::create(b, loc, wide, fits));
  };
  ValueRange sizes = metadata.getSizes(), strides = metadata.getStrides();
  return arith::OrIOp::create(b, loc, layout(strides[2], strides[1], sizes[2]),
                              layout(strides[1], strides[2], sizes[1]));
}

/// A fresh row-major buffer of `buffer`'s shape, holding its values when
/// `copyIn`.
Value contiguousCopy(OpBuilder &b, Location loc, Value buffer, bool copyIn) {
  auto type = cast<MemRefType>(buffer.getType());
  SmallVector<Value> sizes;
  for (auto [i, size] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(size))
      sizes.push_back(memref::DimOp::create(b, loc, buffer, i));
  Value copy = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), sizes);
  if (copyIn)
    memref::CopyOp::create(b, loc, buffer, copy);
  return copy;
}

/// An operand of a cuBLAS call: `buffer` as the callee takes it, itself or
/// a contiguous copy. The runtime's glue computes nothing on the host, so a
/// layout that cuBLAS cannot take (a broadcast stride of 0, a strided
/// slice, a leading dimension it refuses) is copied first, on the GPU like
/// every other copy; an output is computed into the copy and copied back
/// after the call.
struct GuardedOperand {
  /// What the call takes.
  Value operand;
  /// The copy, when there is one (the scf.if's result when only the run
  /// time decides); null when `buffer` is passed as it is.
  Value copy;
  /// The run-time test that `buffer` is passed as it is; null when the
  /// copy is always made.
  Value asIs;

  /// Copies `buffer` out of the copy (an output) and frees it, after the
  /// call.
  void finish(OpBuilder &b, Location loc, Value buffer, bool isOutput) const {
    if (!copy)
      return;
    auto restore = [&](OpBuilder &builder) {
      if (isOutput)
        memref::CopyOp::create(builder, loc, copy, buffer);
      memref::DeallocOp::create(builder, loc, copy);
    };
    if (!asIs) {
      restore(b);
      return;
    }
    scf::IfOp::create(
        b, loc, asIs,
        [](OpBuilder &b, Location loc) { scf::YieldOp::create(b, loc); },
        [&](OpBuilder &b, Location loc) {
          restore(b);
          scf::YieldOp::create(b, loc);
        });
  }
};

/// `buffer` cast to the callee's type, copied first (copied into when
/// `copyIn`) when `guard` and its layout is not one cuBLAS takes, or may
/// not be.
GuardedOperand guardOperand(OpBuilder &b, Location loc, Value buffer,
                            bool guard, bool copyIn) {
  auto type = cast<MemRefType>(buffer.getType());
  MemRefType calleeType = dynamicStridedType(type.getElementType());
  std::optional<bool> fine = guard ? staticBlasLayout(type) : true;
  if (fine == true)
    return {memref::CastOp::create(b, loc, calleeType, buffer), {}, {}};
  if (fine == false) {
    Value copy = contiguousCopy(b, loc, buffer, copyIn);
    return {memref::CastOp::create(b, loc, calleeType, copy), copy, {}};
  }
  Value asIs = runtimeBlasLayout(b, loc, buffer);
  auto choice = scf::IfOp::create(
      b, loc, asIs,
      [&](OpBuilder &b, Location loc) {
        scf::YieldOp::create(
            b, loc,
            ValueRange{memref::CastOp::create(b, loc, calleeType, buffer)});
      },
      [&](OpBuilder &b, Location loc) {
        Value copy = contiguousCopy(b, loc, buffer, copyIn);
        scf::YieldOp::create(
            b, loc,
            ValueRange{memref::CastOp::create(b, loc, calleeType, copy)});
      });
  Value chosen = choice.getResult(0);
  return {chosen, chosen, asIs};
}

struct BatchMatmulToBLAS : OpRewritePattern<linalg::BatchMatmulOp> {
  BatchMatmulToBLAS(MLIRContext *ctx, SymbolRefAttr accumulate,
                    SymbolRefAttr overwrite, StringRef halfCallee,
                    bool guardLayouts)
      : OpRewritePattern(ctx), accumulate(accumulate), overwrite(overwrite),
        halfCallee(halfCallee), guardLayouts(guardLayouts) {}

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
      if (!type || type.getRank() != 3)
        return rewriter.notifyMatchFailure(op, "expects rank-3 memrefs");
      // The cast to the callee's type cannot change the memory space, and
      // the BLAS reads host memory only.
      if (type.getMemorySpace())
        return rewriter.notifyMatchFailure(
            op, "expects memrefs in the default memory space");
    }
    // f32 throughout, or with a half-precision callee A and B of one half
    // type and C of that type or f32 (what cuBLAS computes in f32).
    Type ab = getElementTypeOrSelf(op.getDpsInputs()[0].getType());
    Type c = getElementTypeOrSelf(op.getDpsInits()[0].getType());
    bool half = isHalf(ab);
    if (ab != getElementTypeOrSelf(op.getDpsInputs()[1].getType()) ||
        !(half ? !halfCallee.empty() && (c == ab || c.isF32())
               : ab.isF32() && c.isF32()))
      return rewriter.notifyMatchFailure(op, "element types not supported");
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
    // An overwritten f32 output that is only narrowed to the operands' type
    // next: cuBLAS writes the narrowed buffer, rounding once as the
    // narrowing did.
    linalg::GenericOp narrowing;
    memref::AllocOp move;
    if (half && c.isF32() && overwriteOut)
      narrowing = narrowingOf(op, out, ab, move);

    if (move)
      rewriter.moveOpBefore(move, op);
    Location loc = op.getLoc();
    SmallVector<Value> buffers;
    SmallVector<GuardedOperand> guarded;
    for (auto [i, v] : llvm::enumerate(op->getOperands())) {
      if (narrowing && v == out)
        v = narrowing.getDpsInits()[0];
      // An overwritten output's values are not read: its copy starts empty.
      bool copyIn = !(overwriteOut && i == 2);
      buffers.push_back(v);
      guarded.push_back(guardOperand(rewriter, loc, v, guardLayouts, copyIn));
    }
    if (zeroFill)
      rewriter.eraseOp(zeroFill);
    SymbolRefAttr callee = overwriteOut ? overwrite : accumulate;
    if (half)
      callee = SymbolRefAttr::get(
          getContext(), halfCallee + halfSuffix(ab, narrowing ? ab : c) +
                            (overwriteOut ? "_overwrite" : ""));
    auto call = rewriter.replaceOpWithNewOp<func::CallOp>(
        op, callee, TypeRange(),
        llvm::map_to_vector(guarded,
                            [](const GuardedOperand &g) { return g.operand; }));
    rewriter.setInsertionPointAfter(call);
    for (auto [i, g] : llvm::enumerate(guarded))
      g.finish(rewriter, loc, buffers[i], /*isOutput=*/i == 2);
    if (narrowing) {
      rewriter.eraseOp(narrowing);
      eraseIfUnused(rewriter, out.getDefiningOp<memref::AllocOp>());
    }
    return success();
  }

  SymbolRefAttr accumulate, overwrite;
  std::string halfCallee;
  /// Whether operands go to the callee only in layouts cuBLAS takes.
  bool guardLayouts;
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
    SmallVector<func::FuncOp> declared;
    auto declare = [&](StringRef name, Type ab, Type c) {
      if (SymbolTable::lookupSymbolIn(module, name))
        return;
      MemRefType abType = dynamicStridedType(ab);
      auto decl = func::FuncOp::create(
          b, module.getLoc(), name,
          b.getFunctionType({abType, abType, dynamicStridedType(c)}, {}));
      decl.setPrivate();
      decl->setAttr("llvm.emit_c_interface", b.getUnitAttr());
      declared.push_back(decl);
    };
    Type f32 = b.getF32Type();
    declare(callee, f32, f32);
    declare(overwrite, f32, f32);
    if (!halfCallee.empty())
      for (Type ab : {Type(b.getF16Type()), Type(b.getBF16Type())})
        for (Type c : {ab, f32})
          for (StringRef variant : {"", "_overwrite"})
            declare(halfCallee + halfSuffix(ab, c) + variant.str(), ab, c);
    // Fills, transposes and widenings first, so that the products see which
    // outputs are only zeros, and read the transposes' and widenings'
    // inputs.
    RewritePatternSet fills(ctx);
    fills.add<CopyOfFillToFill, EraseFilledOnlyBuffer, FoldTransposeIntoProduct,
              FoldProductIntoTranspose>(ctx);
    if (!halfCallee.empty())
      fills.add<FoldWideningIntoProduct>(ctx);
    RewritePatternSet products(ctx);
    // cuBLAS's glue computes no layout that cuBLAS does not take: its
    // callee implies the guard.
    bool guardLayouts = contiguousOperands;
    products.add<BatchMatmulToBLAS>(ctx, SymbolRefAttr::get(ctx, callee),
                                    SymbolRefAttr::get(ctx, overwrite),
                                    halfCallee, guardLayouts);
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
