//===- TileAttention.cpp - Attention's score rows a tile at a time --------===//
//
// On buffers, attention is a product that writes the scores (heads x T x T),
// passes over them (scale, mask, the softmax's max, exp, sum, division),
// and a product that reads them. For long sequences the scores outgrow the
// cache, and each pass is a round trip through memory. Every op between
// the two products is local to a row of the scores (a query), so this pass
// runs the whole chain a tile of rows at a time, in one loop: each op works
// on subviews of the tile's rows, and the tile stays in cache from the
// first product to the second. The products stay batched over heads (BLAS
// calls on subviews), and the other ops keep their parallel loops.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include "llvm/ADT/DenseSet.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_TILEATTENTION
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// The buffer a view (expand/collapse_shape, subview, cast) looks into.
Value rootBuffer(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  return v;
}

/// The row dimension of a reshape's result, given that of its source: the
/// row dimension must be alone in its group, but for unit dimensions.
std::optional<unsigned> reshapedRow(Operation *op, unsigned row) {
  auto sizesOf = [](Value v) {
    return cast<MemRefType>(v.getType()).getShape();
  };
  if (auto expand = dyn_cast<memref::ExpandShapeOp>(op)) {
    ArrayRef<int64_t> out = sizesOf(expand.getResult());
    SmallVector<ReassociationIndices> groups = expand.getReassociationIndices();
    std::optional<unsigned> found;
    for (int64_t d : groups[row]) {
      if (out[d] == 1)
        continue;
      if (found)
        return std::nullopt;
      found = unsigned(d);
    }
    return found;
  }
  if (auto collapse = dyn_cast<memref::CollapseShapeOp>(op)) {
    ArrayRef<int64_t> in = sizesOf(collapse.getSrc());
    for (auto [index, group] :
         llvm::enumerate(collapse.getReassociationIndices())) {
      if (!llvm::is_contained(group, int64_t(row)))
        continue;
      for (int64_t d : group)
        if (d != int64_t(row) && in[d] != 1)
          return std::nullopt;
      return unsigned(index);
    }
  }
  return std::nullopt;
}

/// The position of `dim` among the results of `map` when it appears there
/// once, as itself; -1 when it does not appear at all; nothing when it
/// appears in an expression or twice.
std::optional<int> positionOf(AffineMap map, unsigned dim) {
  int found = -1;
  for (auto [index, expr] : llvm::enumerate(map.getResults())) {
    if (auto d = dyn_cast<AffineDimExpr>(expr); d && d.getPosition() == dim) {
      if (found >= 0)
        return std::nullopt;
      found = int(index);
    } else if (expr.isFunctionOfDim(dim)) {
      return std::nullopt;
    }
  }
  return found;
}

/// Two products and the row-local ops between them, and how to slice each.
struct Chain {
  /// Ops that move before the loop: allocations, views, constants.
  SmallVector<Operation *> hoisted;
  /// Deallocations that move after it.
  SmallVector<Operation *> sunk;
  /// The linalg ops in order, each with the row dimension of every operand
  /// (-1: the operand is read whole).
  SmallVector<std::pair<linalg::LinalgOp, SmallVector<int>>> ops;
  int64_t rows = 0;
  /// Bytes per row of the buffers the chain writes.
  int64_t bytesPerRow = 0;
};

/// Why `first` .. `last` (a batch_matmul, the next one) cannot run a tile
/// of rows at a time, or "" with `chain` filled in.
std::string analyze(linalg::BatchMatmulOp first, linalg::BatchMatmulOp last,
                    Chain &chain) {
  llvm::DenseMap<Value, unsigned> rowOf;
  Value scores = first.getDpsInits()[0];
  auto scoresType = cast<MemRefType>(scores.getType());
  if (!scoresType.hasStaticShape())
    return "dynamic scores";
  chain.rows = scoresType.getDimSize(1);
  rowOf[scores] = 1;
  // A zero fill of the scores just before the first product comes along.
  Operation *begin = first;
  for (Operation *op = first->getPrevNode(); op; op = op->getPrevNode()) {
    if (isa<memref::AllocOp, arith::ConstantOp>(op))
      continue;
    if (auto fill = dyn_cast<linalg::FillOp>(op);
        fill && fill.getOutputs()[0] == scores)
      begin = op;
    break;
  }

  // Buffers (roots of views) that the chain's ops write, read, read whole.
  llvm::DenseSet<Value> written, read, readWhole;
  for (Operation *op = begin; op != last->getNextNode();
       op = op->getNextNode()) {
    if (!op)
      return "the products are in different blocks";
    if (op->getNumRegions() && !isa<linalg::LinalgOp>(op))
      return "an op with regions between the products";
    if (isa<memref::AllocOp, arith::ConstantOp>(op)) {
      chain.hoisted.push_back(op);
    } else if (isa<memref::ExpandShapeOp, memref::CollapseShapeOp>(op)) {
      chain.hoisted.push_back(op);
      Value source = op->getOperand(0);
      if (auto it = rowOf.find(source); it != rowOf.end())
        if (std::optional<unsigned> row = reshapedRow(op, it->second))
          rowOf[op->getResult(0)] = *row;
    } else if (isa<memref::DeallocOp>(op)) {
      chain.sunk.push_back(op);
    } else if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
      if (!linalgOp.hasPureBufferSemantics())
        return "an op on tensors";
      // The loop dimension that runs over rows, from an operand known to
      // have them.
      std::optional<unsigned> loopRow;
      for (OpOperand &operand : op->getOpOperands()) {
        auto it = rowOf.find(operand.get());
        if (it == rowOf.end())
          continue;
        AffineExpr expr =
            linalgOp.getMatchingIndexingMap(&operand).getResult(it->second);
        auto dim = dyn_cast<AffineDimExpr>(expr);
        if (!dim || (loopRow && *loopRow != dim.getPosition()))
          return "rows indexed differently";
        loopRow = dim.getPosition();
      }
      if (!loopRow) {
        // Independent of the chain so far (a fill of the second product's
        // output, a transpose of V, a mask built from positions): it moves
        // before the loop, and runs once.
        for (OpOperand &operand : op->getOpOperands()) {
          Value root = rootBuffer(operand.get());
          if (written.contains(root) ||
              (linalgOp.isDpsInit(&operand) && read.contains(root)))
            return "an op between the products that depends on the chain";
        }
        chain.hoisted.push_back(op);
        continue;
      }
      if (linalgOp.getIteratorTypesArray()[*loopRow] !=
          utils::IteratorType::parallel)
        return "a reduction over rows";
      SmallVector<int> slices;
      for (OpOperand &operand : op->getOpOperands()) {
        std::optional<int> at =
            positionOf(linalgOp.getMatchingIndexingMap(&operand), *loopRow);
        if (!at)
          return "rows indexed through an expression";
        Value v = operand.get();
        bool isInit = linalgOp.isDpsInit(&operand);
        if (auto it = rowOf.find(v); it != rowOf.end()) {
          if (*at != int(it->second))
            return "rows indexed differently";
        } else if (isInit) {
          if (*at < 0)
            return "an output without rows";
          rowOf[v] = unsigned(*at);
        }
        Value root = rootBuffer(v);
        if (isInit) {
          if (!root.getDefiningOp<memref::AllocOp>())
            return "writes a buffer it did not allocate";
          written.insert(root);
        } else if (isa<MemRefType>(v.getType())) {
          read.insert(root);
          if (*at < 0)
            readWhole.insert(root);
        }
        slices.push_back(*at);
      }
      chain.ops.push_back({linalgOp, slices});
    } else {
      return "an op between the products that is not linalg";
    }
  }
  // A tile reads whole only what no tile writes: earlier tiles would have
  // changed it.
  for (Value root : readWhole)
    if (written.contains(root))
      return "reads whole a buffer the chain writes";
  if (!rowOf.count(last.getDpsInputs()[0]))
    return "the second product does not read the scores' rows";
  for (Value root : written) {
    auto type = cast<MemRefType>(root.getType());
    if (!type.hasStaticShape() || !type.getElementType().isIntOrFloat())
      return "a dynamic buffer";
    int64_t bytes = type.getNumElements() *
                    llvm::divideCeil(type.getElementTypeBitWidth(), 8);
    chain.bytesPerRow += bytes / chain.rows;
  }
  return "";
}

/// The largest divisor of `rows` whose tile fits in `cacheBytes`, at least
/// 8 rows (a product's row blocking) when `rows` has such a divisor.
int64_t tileRows(int64_t rows, int64_t bytesPerRow, int64_t cacheBytes) {
  int64_t fit =
      std::max<int64_t>(1, cacheBytes / std::max<int64_t>(bytesPerRow, 1));
  int64_t best = 0, smallestAbove8 = rows;
  for (int64_t d = 1; d <= rows; ++d) {
    if (rows % d)
      continue;
    if (d <= fit && d >= 8)
      best = d;
    if (d >= 8)
      smallestAbove8 = std::min(smallestAbove8, d);
  }
  return best ? best : smallestAbove8;
}

void tile(Chain &chain, int64_t rowsPerTile) {
  Operation *first = chain.ops.front().first;
  Operation *last = chain.ops.back().first;
  for (Operation *op : chain.hoisted)
    op->moveBefore(first);
  for (Operation *op : llvm::reverse(chain.sunk))
    op->moveAfter(last);

  OpBuilder b(first);
  Location loc = first->getLoc();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value rows = arith::ConstantIndexOp::create(b, loc, chain.rows);
  Value step = arith::ConstantIndexOp::create(b, loc, rowsPerTile);
  auto loop = scf::ForOp::create(b, loc, zero, rows, step);
  b.setInsertionPointToStart(loop.getBody());
  Value row = loop.getInductionVar();
  for (auto &[op, slices] : chain.ops) {
    IRMapping mapping;
    for (auto [operand, at] : llvm::zip(op->getOpOperands(), slices)) {
      if (at < 0)
        continue;
      Value v = operand.get();
      if (mapping.contains(v))
        continue;
      auto type = cast<MemRefType>(v.getType());
      SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes,
          strides(type.getRank(), b.getIndexAttr(1));
      for (int64_t size : type.getShape())
        sizes.push_back(b.getIndexAttr(size));
      offsets[at] = row;
      sizes[at] = b.getIndexAttr(rowsPerTile);
      mapping.map(v, memref::SubViewOp::create(b, op->getLoc(), v, offsets,
                                               sizes, strides)
                         .getResult());
    }
    b.clone(*op, mapping);
  }
  for (auto &[op, slices] : llvm::reverse(chain.ops))
    op->erase();
}

struct TileAttentionPass : attnres::impl::TileAttentionBase<TileAttentionPass> {
  using TileAttentionBase::TileAttentionBase;

  void runOnOperation() override {
    // Pairs first: tiling moves and erases ops.
    SmallVector<std::pair<linalg::BatchMatmulOp, linalg::BatchMatmulOp>> pairs;
    getOperation()->walk([&](Block *block) {
      linalg::BatchMatmulOp previous;
      for (auto product : block->getOps<linalg::BatchMatmulOp>()) {
        if (previous)
          pairs.push_back({previous, product});
        previous = product;
      }
    });
    llvm::DenseSet<Operation *> tiled;
    for (auto [first, last] : pairs) {
      // A product already in a tiled chain (the second of one pair is the
      // first of the next) has moved into a loop.
      if (tiled.contains(first) || tiled.contains(last))
        continue;
      Chain chain;
      if (!analyze(first, last, chain).empty())
        continue;
      if (chain.rows * chain.bytesPerRow <= cacheBytes)
        continue;
      int64_t rowsPerTile = tileRows(chain.rows, chain.bytesPerRow, cacheBytes);
      if (rowsPerTile >= chain.rows)
        continue;
      tiled.insert(first);
      tiled.insert(last);
      tile(chain, rowsPerTile);
    }
  }
};

} // namespace
