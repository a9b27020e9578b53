//===- MatrixProducts.cpp - MatMul, Gemm, Einsum
//----------------------------===//
//
// Matrix products as tosa.matmul on 3-D reshapes, and Einsum as one
// linalg.generic.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

LogicalResult importMatMul(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])) ||
      failed(requireSameElementType(n, (*in)[0], (*in)[1])))
    return failure();
  Value a = (*in)[0], c = (*in)[1];
  SmallVector<int64_t> sa(typeOf(a).getShape()), sc(typeOf(c).getShape());
  if (sa.empty() || sc.empty())
    return n.error() << "MatMul operands must have rank >= 1";
  bool vecA = sa.size() == 1, vecC = sc.size() == 1;
  if (vecA)
    sa.insert(sa.begin(), 1);
  if (vecC)
    sc.push_back(1);
  int64_t k = sa.back(), k2 = sc[sc.size() - 2], nn = sc.back();
  if (!ShapedType::isDynamic(k) && !ShapedType::isDynamic(k2) && k != k2)
    return n.error() << "inner dimensions " << k << " and " << k2
                     << " do not match";
  ArrayRef<int64_t> batchA = ArrayRef(sa).drop_back(2),
                    batchC = ArrayRef(sc).drop_back(2);
  FailureOr<SmallVector<int64_t>> batch = broadcastShapes(batchA, batchC);
  if (failed(batch))
    return n.error() << "batch dimensions do not broadcast";

  // The result's sizes, for reshapes that several dynamic dims make
  // ambiguous: batch dims broadcast as numpy does, rows of A, columns of C.
  SmallVector<OpFoldResult> aSizes = mixedSizes(n.b, a),
                            cSizes = mixedSizes(n.b, c);
  if (vecA)
    aSizes.insert(aSizes.begin(), n.b.getIndexAttr(1));
  if (vecC)
    cSizes.push_back(n.b.getIndexAttr(1));
  SmallVector<OpFoldResult> batchSizes;
  for (int64_t i = batch->size(); i > 0; --i) {
    int64_t ia = int64_t(batchA.size()) - i, ic = int64_t(batchC.size()) - i;
    OpFoldResult da = ia >= 0 ? aSizes[ia] : n.b.getIndexAttr(1);
    OpFoldResult dc = ic >= 0 ? cSizes[ic] : n.b.getIndexAttr(1);
    batchSizes.push_back(isConstantIntValue(da, 1) ? dc : da);
  }
  SmallVector<OpFoldResult> outSizes(batchSizes);
  if (!vecA)
    outSizes.push_back(aSizes[aSizes.size() - 2]);
  if (!vecC)
    outSizes.push_back(cSizes.back());

  Value result;
  if (product(batchC) == 1 && llvm::none_of(batchC, ShapedType::isDynamic)) {
    // The common x @ W: fold A's batch dims into its rows.
    SmallVector<int64_t> rows{1, ShapedType::kDynamic, k};
    if (llvm::none_of(ArrayRef(sa).drop_back(), ShapedType::isDynamic))
      rows[1] = product(ArrayRef(sa).drop_back());
    if (!reshapeable(rows) || !reshapeable({1, k2, nn}))
      return n.dynamicShapeError("MatMul's operand shape");
    Value a3 = reshape(n.b, a, rows);
    Value c3 = reshape(n.b, c, {1, k2, nn});
    result = batchMatmul(n.b, a3, c3);
  } else {
    // Batched: broadcast both to the common batch, then flatten it.
    if (!llvm::none_of(*batch, ShapedType::isDynamic) &&
        (batchA != ArrayRef<int64_t>(*batch) ||
         batchC != ArrayRef<int64_t>(*batch)))
      return n.dynamicShapeError("broadcasting MatMul's batch dimensions");
    auto broadcastTo = [&](Value v, SmallVector<int64_t> s,
                           ArrayRef<int64_t> b) -> Value {
      SmallVector<int64_t> full(b.size() - (s.size() - 2), 1);
      llvm::append_range(full, s);
      v = reshape(n.b, v, full);
      SmallVector<int64_t> multiples;
      bool tile = false;
      for (size_t i = 0; i < full.size(); ++i) {
        int64_t want = i < b.size() ? b[i] : full[i];
        multiples.push_back(full[i] == want ? 1 : want);
        tile |= full[i] != want;
        full[i] = want;
      }
      if (!tile)
        return v;
      return tosa::TileOp::create(n.b,
                                  RankedTensorType::get(full, elementTypeOf(v)),
                                  v, tosa::getTosaConstShape(n.b, multiples));
    };
    SmallVector<int64_t> b3(*batch);
    auto rankExpanded = [&](ArrayRef<int64_t> s) {
      SmallVector<int64_t> full(b3.size() - (s.size() - 2), 1);
      llvm::append_range(full, s);
      return full;
    };
    if ((!reshapeable(rankExpanded(sa)) && rankExpanded(sa) != sa) ||
        (!reshapeable(rankExpanded(sc)) && rankExpanded(sc) != sc))
      return n.dynamicShapeError("MatMul's operand shape");
    Value a3 = broadcastTo(a, sa, b3), c3 = broadcastTo(c, sc, b3);
    OpFoldResult flat = productOf(n.b, batchSizes);
    Value a3Flat =
        reshapeTo(n.b, a3, {flat, aSizes[aSizes.size() - 2], aSizes.back()});
    Value c3Flat =
        reshapeTo(n.b, c3, {flat, cSizes[cSizes.size() - 2], cSizes.back()});
    result = batchMatmul(n.b, a3Flat, c3Flat);
  }
  n.setOutput(0, reshapeTo(n.b, result, outSizes));
  return success();
}

Value transpose2D(NodeImporter &n, Value v) {
  ArrayRef<int64_t> s = typeOf(v).getShape();
  return tosa::TransposeOp::create(
      n.b, RankedTensorType::get({s[1], s[0]}, elementTypeOf(v)), v,
      n.b.getDenseI32ArrayAttr({1, 0}));
}

LogicalResult importGemm(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 2);
  if (failed(in) || failed(requireFloat(n, (*in)[0])))
    return failure();
  Value a = (*in)[0], c = (*in)[1];
  if (typeOf(a).getRank() != 2 || typeOf(c).getRank() != 2)
    return n.error() << "Gemm operands must be 2-D";
  if (n.intAttr("transA", 0))
    a = transpose2D(n, a);
  if (n.intAttr("transB", 0))
    c = transpose2D(n, c);
  ArrayRef<int64_t> sa = typeOf(a).getShape(), sc = typeOf(c).getShape();
  if (!reshapeable(sa) || !reshapeable(sc) || !reshapeable({sa[0], sc[1]}))
    return n.dynamicShapeError("Gemm's operand shape");
  if (!ShapedType::isDynamic(sa[1]) && !ShapedType::isDynamic(sc[0]) &&
      sa[1] != sc[0])
    return n.error() << "inner dimensions " << sa[1] << " and " << sc[0]
                     << " do not match";
  Value a3 = reshape(n.b, a, {1, sa[0], sa[1]});
  Value c3 = reshape(n.b, c, {1, sc[0], sc[1]});
  Value y = batchMatmul(n.b, a3, c3);
  y = reshape(n.b, y, {sa[0], sc[1]});
  float alpha = n.floatAttr("alpha", 1.0f), beta = n.floatAttr("beta", 1.0f);
  if (alpha != 1.0f)
    y = mulScalar(n, y, alpha);
  if (n.hasInput(2) && beta != 0.0f) {
    Value bias = n.input(2);
    if (beta != 1.0f)
      bias = mulScalar(n, bias, beta);
    FailureOr<Value> sum = elementwise<tosa::AddOp>(n, {y, bias});
    if (failed(sum))
      return failure();
    y = *sum;
  }
  n.setOutput(0, y);
  return success();
}

/// Einsum as one linalg.generic: each letter is a loop, letters missing from
/// the output are reductions.
LogicalResult importEinsum(NodeImporter &n) {
  std::string equation = n.stringAttr("equation", "");
  equation.erase(llvm::remove_if(equation, ::isspace), equation.end());
  StringRef eq(equation);
  if (eq.contains("..."))
    return n.error() << "Einsum with '...' is not supported";
  auto [lhs, out] = eq.split("->");
  if (!eq.contains("->"))
    return n.error() << "Einsum equations without '->' are not supported";
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != n.numInputs())
    return n.error() << "equation '" << equation << "' names " << terms.size()
                     << " operands, the node has " << n.numInputs();
  SmallVector<Value> inputs;
  std::string letters;
  llvm::DenseMap<char, std::pair<Value, int64_t>> source;
  for (auto [i, term] : llvm::enumerate(terms)) {
    Value v = n.input(i);
    if (!v)
      return n.error() << "requires input #" << i;
    if (failed(requireFloat(n, v)))
      return failure();
    if (size_t(typeOf(v).getRank()) != term.size())
      return n.error() << "operand #" << i << " has rank "
                       << typeOf(v).getRank() << " but '" << term << "' names "
                       << term.size() << " axes";
    inputs.push_back(v);
    for (auto [axis, c] : llvm::enumerate(term)) {
      if (letters.find(c) == std::string::npos) {
        letters.push_back(c);
        source[c] = {v, int64_t(axis)};
      }
    }
  }
  for (char c : out)
    if (letters.find(c) == std::string::npos)
      return n.error() << "output letter '" << c << "' is not an input axis";
  // A letter repeated within one term (a diagonal) would make a linalg
  // indexing map that is not a projection.
  SmallVector<StringRef> allTerms(terms);
  allTerms.push_back(out);
  for (StringRef term : allTerms) {
    for (auto [i, c] : llvm::enumerate(term)) {
      if (!llvm::isAlpha(c))
        return n.error() << "equation '" << equation
                         << "' has a character that is not a letter: '" << c
                         << "'";
      if (term.find(c, i + 1) != StringRef::npos)
        return n.error() << "letter '" << c << "' repeats in '" << term
                         << "' (diagonals are not supported)";
    }
  }
  // Every axis one letter names must have one size.
  for (auto [i, term] : llvm::enumerate(terms)) {
    for (auto [axis, c] : llvm::enumerate(term)) {
      auto [v, srcAxis] = source[c];
      int64_t a = typeOf(v).getDimSize(srcAxis),
              d = typeOf(inputs[i]).getDimSize(axis);
      if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(d) && a != d)
        return n.error() << "letter '" << c << "' names axes of sizes " << a
                         << " and " << d;
    }
  }
  // Output letters first (parallel), then reductions.
  std::string loops(out);
  for (char c : letters)
    if (out.find(c) == StringRef::npos)
      loops.push_back(c);
  auto mapFor = [&](StringRef term) {
    SmallVector<AffineExpr> exprs;
    for (char c : term)
      exprs.push_back(n.b.getAffineDimExpr(loops.find(c)));
    return AffineMap::get(loops.size(), 0, exprs, n.b.getContext());
  };
  SmallVector<AffineMap> maps;
  for (StringRef term : terms)
    maps.push_back(mapFor(term));
  maps.push_back(mapFor(out));
  SmallVector<utils::IteratorType> iterators;
  for (size_t i = 0; i < loops.size(); ++i)
    iterators.push_back(i < out.size() ? utils::IteratorType::parallel
                                       : utils::IteratorType::reduction);
  SmallVector<OpFoldResult> outSizes;
  SmallVector<int64_t> outShape;
  for (char c : out) {
    auto [v, axis] = source[c];
    outSizes.push_back(mixedSize(n.b, v, axis));
    outShape.push_back(typeOf(v).getDimSize(axis));
  }
  Type et = elementTypeOf(inputs[0]);
  Value init = tensor::EmptyOp::create(n.b, outSizes, et);
  Value zero = arith::ConstantOp::create(n.b, n.b.getFloatAttr(et, 0.0));
  init = linalg::FillOp::create(n.b, zero, init).getResult(0);
  Value r =
      linalg::GenericOp::create(
          n.b, RankedTensorType::get(outShape, et), inputs, init, maps,
          iterators,
          [&](OpBuilder &b, Location loc, ValueRange args) {
            Value p = args[0];
            for (Value v : args.drop_front().drop_back())
              p = arith::MulFOp::create(b, loc, p, v);
            linalg::YieldOp::create(
                b, loc,
                arith::AddFOp::create(b, loc, args.back(), p).getResult());
          })
          .getResult(0);
  n.setOutput(0, r);
  return success();
}

} // namespace

void mlir::attnres::onnx_import::registerMatrixProductOps(OpRegistry &r) {
  r.add("MatMul", 13, importMatMul);
  r.add("Gemm", 13, importGemm);
  r.add("Einsum", 13, importEinsum);
}
