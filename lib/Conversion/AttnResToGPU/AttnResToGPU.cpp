//===- AttnResToGPU.cpp - attnres ops as hand-written GPU kernels ---------===//
//
// Replaces the norms and the depth aggregations by launches of row kernels
// built here as gpu.func bodies: a row of D elements per thread group, 16-byte
// vector loads held in registers, f32 accumulation, warp-shuffle reductions.
// The aggregation moves (N/S + 5) D values per token and layer and computes
// little, so the kernels are designed around reading each source row once.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"
#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"

#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTATTNRESTOGPU
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

constexpr int64_t kWarpSize = 32;
constexpr int64_t kMaxThreadsPerBlock = 1024;
constexpr int64_t kMaxAggregateThreads = 256;

/// Split launches (see SplitChoice) cover a row in warp slices of 32 vectors.
/// A row of fewer slices than this is not split: one CTA reads it in a round
/// trip or two, less than the second launch costs.
constexpr int64_t kMinSplitSlices = 8;
/// At most this many CTAs per row: every finishing CTA reads every split's
/// partial sums, so that traffic grows with the square of the count.
constexpr int64_t kMaxSplits = 16;
/// Warps of phase 1's finishing CTA: a thread per (layer, source) pair up to
/// S * N = 128 pairs, so that the logits' partial sums come in one round
/// trip.
constexpr int64_t kSplitFinishWarps = 4;

/// How a kernel covers a row of `dim` elements: `threads` threads per row,
/// each loading `chunks` vectors of `vecWidth` elements, vector `c` of thread
/// `t` being the row's vector `t + c * threads` so that a warp's loads are
/// contiguous.
struct RowLayout {
  int64_t dim;
  int64_t vecWidth;
  int64_t vecs;
  int64_t threads;
  int64_t chunks;
  int64_t rowsPerBlock;

  static RowLayout get(int64_t dim, Type storage, int64_t maxChunks,
                       bool oneRowPerBlock,
                       int64_t maxThreads = kMaxThreadsPerBlock) {
    RowLayout l;
    l.dim = dim;
    l.vecWidth = vectorWidth(dim, storage);
    l.vecs = dim / l.vecWidth;
    l.threads = kWarpSize;
    while (static_cast<int64_t>(llvm::divideCeil(l.vecs, l.threads)) >
               maxChunks &&
           l.threads < maxThreads)
      l.threads *= 2;
    l.chunks = llvm::divideCeil(l.vecs, l.threads);
    // A warp per row leaves the block's other warps to other rows; wider
    // rows own their block, whose barriers then need no row guard.
    l.rowsPerBlock = (l.threads == kWarpSize && !oneRowPerBlock) ? 4 : 1;
    return l;
  }

  /// The layout of a split launch's CTA (see SplitChoice): `warps` warps,
  /// each thread one vector of a warp slice at a time.
  static RowLayout forSplit(int64_t dim, Type storage, int64_t warps) {
    RowLayout l;
    l.dim = dim;
    l.vecWidth = vectorWidth(dim, storage);
    l.vecs = dim / l.vecWidth;
    l.threads = warps * kWarpSize;
    l.chunks = 1;
    l.rowsPerBlock = 1;
    return l;
  }

  /// The widest vector of at most 16 bytes that divides the row.
  static int64_t vectorWidth(int64_t dim, Type storage) {
    int64_t width = 128 / storage.getIntOrFloatBitWidth();
    while (dim % width != 0)
      width /= 2;
    return width;
  }

  int64_t warps() const { return threads / kWarpSize; }
  /// The row's warp slices: 32 consecutive vectors, a lane's each.
  int64_t slices() const {
    return static_cast<int64_t>(llvm::divideCeil(vecs, kWarpSize));
  }
  bool guardsSlices() const { return vecs % kWarpSize != 0; }
  int64_t blockThreads() const { return threads * rowsPerBlock; }
  bool guardsLastChunk() const { return vecs % threads != 0; }
  std::string suffix(Type storage) const {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << dim << "x" << storage;
    return s;
  }
};

/// Emits the body of a row kernel: indexing, predicated vector loads and
/// stores converted to and from f32, and row-wide sums.
class RowKernelBuilder {
public:
  RowKernelBuilder(OpBuilder &b, Location loc, const RowLayout &layout,
                   Value scratch)
      : b(b), loc(loc), layout(layout), scratch(scratch) {
    f32 = b.getF32Type();
    vecType = VectorType::get({layout.vecWidth}, f32);
    Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
    if (layout.rowsPerBlock == 1) {
      lane = tid;
      row = block;
    } else {
      // Ops are built one statement at a time throughout: as arguments of
      // one call their order would be the host compiler's choice.
      Value threads = index(layout.threads);
      lane = arith::RemUIOp::create(b, loc, tid, threads);
      Value firstRow =
          arith::MulIOp::create(b, loc, block, index(layout.rowsPerBlock));
      Value rowInBlock = arith::DivUIOp::create(b, loc, tid, threads);
      row = arith::AddIOp::create(b, loc, firstRow, rowInBlock);
    }
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32Const(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value splat(Value scalar) {
    return vector::BroadcastOp::create(b, loc, vecType, scalar);
  }
  Value getRow() { return row; }
  /// The thread's index among its row's threads.
  Value getLane() { return lane; }

  /// Vector `chunk` of this thread in a [rows, D] buffer (or, without `row`,
  /// in a [D] parameter), in f32; zeros past the end of the row.
  Value load(Value buffer, int64_t chunk, bool perRow = true) {
    SmallVector<Value> leading;
    if (perRow)
      leading.push_back(row);
    return loadAt(buffer, leading, chunk);
  }

  /// Vector `chunk` of this thread in the row of `buffer` that the indices
  /// `leading` select, in f32; zeros past the end of the row.
  Value loadAt(Value buffer, ValueRange leading, int64_t chunk) {
    Value inside = guarded(chunk) ? inBounds(chunk) : Value();
    return loadWhere(
        buffer, leading, [&] { return column(chunk); }, inside);
  }

  /// Vector `vec` (a run-time index among the row's vectors) of the row of
  /// `buffer` that `leading` selects, in f32; zeros past the end of the row
  /// when `guard`.
  Value loadVector(Value buffer, ValueRange leading, Value vec, bool guard) {
    Value inside = guard ? vectorInBounds(vec) : Value();
    return loadWhere(
        buffer, leading, [&] { return vectorColumn(vec); }, inside);
  }

  /// Loads the vector at column `column()` of the row `leading` selects,
  /// only where `inside` holds if given.
  Value loadWhere(Value buffer, ValueRange leading,
                  function_ref<Value()> column, Value inside) {
    auto build = [&](OpBuilder &nb, Location nloc) -> Value {
      SmallVector<Value> indices(leading);
      indices.push_back(column());
      Type storage = cast<MemRefType>(buffer.getType()).getElementType();
      auto storageVec = VectorType::get({layout.vecWidth}, storage);
      Value v =
          vector::LoadOp::create(nb, nloc, storageVec, buffer, indices,
                                 /*nontemporal=*/false, alignment(storage));
      if (storage != f32)
        v = arith::ExtFOp::create(nb, nloc, vecType, v);
      return v;
    };
    if (!inside)
      return build(b, loc);
    auto ifOp = scf::IfOp::create(
        b, loc, inside,
        [&](OpBuilder &nb, Location nloc) {
          scf::YieldOp::create(nb, nloc, build(nb, nloc));
        },
        [&](OpBuilder &nb, Location nloc) {
          Value zero = arith::ConstantOp::create(
              nb, nloc, DenseElementsAttr::get(vecType, 0.0f));
          scf::YieldOp::create(nb, nloc, zero);
        });
    return ifOp.getResult(0);
  }

  /// Stores the f32 vector `value` as vector `chunk` of this thread's row.
  void store(Value value, Value buffer, int64_t chunk) {
    storeAt(value, buffer, row, chunk);
  }

  /// Row `layer * rows + row` of a buffer that stacks `rows`-row buffers, one
  /// per layer: this thread's row in layer `layer`'s.
  Value stackedRow(Value layer, Value rows) {
    Value first = arith::MulIOp::create(b, loc, layer, rows);
    return arith::AddIOp::create(b, loc, first, row);
  }

  void storeAt(Value value, Value buffer, ValueRange leading, int64_t chunk) {
    Value inside = guarded(chunk) ? inBounds(chunk) : Value();
    storeWhere(
        value, buffer, leading, [&] { return column(chunk); }, inside);
  }

  /// Stores `value` as vector `vec` (a run-time index) of the row of
  /// `buffer` that `leading` selects; nothing past the row's end when
  /// `guard`.
  void storeVector(Value value, Value buffer, ValueRange leading, Value vec,
                   bool guard) {
    Value inside = guard ? vectorInBounds(vec) : Value();
    storeWhere(
        value, buffer, leading, [&] { return vectorColumn(vec); }, inside);
  }

  /// Stores `value` at column `column()` of the row `leading` selects, only
  /// where `inside` holds if given.
  void storeWhere(Value value, Value buffer, ValueRange leading,
                  function_ref<Value()> column, Value inside) {
    auto build = [&](OpBuilder &nb, Location nloc) {
      Type storage = cast<MemRefType>(buffer.getType()).getElementType();
      if (storage != f32)
        value = arith::TruncFOp::create(
            nb, nloc, VectorType::get({layout.vecWidth}, storage), value);
      SmallVector<Value> indices(leading);
      indices.push_back(column());
      vector::StoreOp::create(nb, nloc, value, buffer, indices,
                              /*nontemporal=*/false, alignment(storage));
    };
    if (!inside)
      return build(b, loc);
    auto ifOp = scf::IfOp::create(b, loc, inside, /*else=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    build(b, loc);
  }

  /// Sums each of `partials` (f32 scalars, one per thread) over the row's
  /// threads; every thread of the row gets the sums.
  SmallVector<Value> rowSums(ArrayRef<Value> partials) {
    SmallVector<Value> sums(partials);
    Value width = arith::ConstantIntOp::create(b, loc, kWarpSize, 32);
    for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      Value off = arith::ConstantIntOp::create(b, loc, offset, 32);
      for (Value &s : sums) {
        auto shuffle = gpu::ShuffleOp::create(b, loc, s, off, width,
                                              gpu::ShuffleMode::XOR);
        s = arith::AddFOp::create(b, loc, s, shuffle.getShuffleResult());
      }
    }
    if (layout.warps() == 1)
      return sums;

    // Lane 0 of each warp publishes its warp's sums; after the barrier every
    // thread adds the row's warps. The second barrier lets the next
    // reduction reuse the scratch.
    int64_t warps = layout.warps();
    Value warpSize = index(kWarpSize);
    Value warp = arith::DivUIOp::create(b, loc, lane, warpSize);
    Value laneInWarp = arith::RemUIOp::create(b, loc, lane, warpSize);
    Value isLeader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           laneInWarp, index(0));
    auto ifOp = scf::IfOp::create(b, loc, isLeader, /*else=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      for (auto [k, s] : llvm::enumerate(sums)) {
        Value slot = arith::AddIOp::create(b, loc, index(k * warps), warp);
        memref::StoreOp::create(b, loc, s, scratch, slot);
      }
    }
    gpu::BarrierOp::create(b, loc);
    for (auto [k, s] : llvm::enumerate(sums)) {
      s = memref::LoadOp::create(b, loc, scratch, index(k * warps));
      for (int64_t w = 1; w < warps; ++w)
        s = arith::AddFOp::create(
            b, loc, s,
            memref::LoadOp::create(b, loc, scratch, index(k * warps + w)));
    }
    gpu::BarrierOp::create(b, loc);
    return sums;
  }

  Value horizontalSum(Value v, Value acc = {}) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, v,
                                       acc);
  }

  /// The hardware's approximate exp2, log2 and rsqrt (MUFU, about 2 ulp):
  /// what fast softmax and norm kernels use, and unlike math.exp they need
  /// no libdevice at link time.
  Value intrinsic(StringRef name, Value x) {
    return LLVM::CallIntrinsicOp::create(b, loc, f32, b.getStringAttr(name),
                                         ValueRange{x})
        .getResult(0);
  }
  Value exp(Value x) {
    return intrinsic("llvm.nvvm.ex2.approx.ftz.f",
                     arith::MulFOp::create(b, loc, x, f32Const(M_LOG2E)));
  }
  Value log(Value x) {
    Value log2 = intrinsic("llvm.nvvm.lg2.approx.ftz.f", x);
    return arith::MulFOp::create(b, loc, log2, f32Const(M_LN2));
  }

  /// 1 / sqrt(mean + epsilon) of a row whose squares sum to `sumSquares`.
  Value inverseRMS(Value sumSquares, Value epsilon) {
    Value mean = arith::MulFOp::create(b, loc, sumSquares,
                                       f32Const(1.0 / double(layout.dim)));
    return intrinsic("llvm.nvvm.rsqrt.approx.ftz.f",
                     arith::AddFOp::create(b, loc, mean, epsilon));
  }

  /// Runs `body` for lane 0 of the row only (stores of per-row scalars),
  /// and only where `alsoIf` holds if given.
  void onLeader(function_ref<void()> body, Value alsoIf = {}) {
    Value isLeader =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, index(0));
    if (alsoIf)
      isLeader = arith::AndIOp::create(b, loc, isLeader, alsoIf);
    auto ifOp = scf::IfOp::create(b, loc, isLeader, /*else=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
  }

  /// This row's element of a per-token f32 buffer (lse: f32 for every
  /// storage type the kernels take).
  Value loadScalar(Value buffer) {
    return memref::LoadOp::create(b, loc, buffer, row);
  }

private:
  bool guarded(int64_t chunk) const {
    return layout.guardsLastChunk() && chunk == layout.chunks - 1;
  }
  Value vectorIndex(int64_t chunk) {
    return arith::AddIOp::create(b, loc, lane, index(chunk * layout.threads));
  }
  Value column(int64_t chunk) {
    Value v = vectorIndex(chunk);
    return arith::MulIOp::create(b, loc, v, index(layout.vecWidth));
  }
  Value inBounds(int64_t chunk) {
    Value v = vectorIndex(chunk);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, v,
                                 index(layout.vecs));
  }
  Value vectorColumn(Value vec) {
    return arith::MulIOp::create(b, loc, vec, index(layout.vecWidth));
  }
  Value vectorInBounds(Value vec) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, vec,
                                 index(layout.vecs));
  }
  llvm::MaybeAlign alignment(Type storage) const {
    // Rows start at multiples of the vector (vecWidth divides D), and
    // buffers come from allocators that align to at least 16 bytes (no more:
    // an f32 vector of a 16-bit row's width is 32 bytes).
    return llvm::Align(std::min<int64_t>(
        16, layout.vecWidth * storage.getIntOrFloatBitWidth() / 8));
  }

  OpBuilder &b;
  Location loc;
  const RowLayout &layout;
  Value scratch;
  Value lane, row;
  Type f32;
  VectorType vecType;
};

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

/// A kernel under construction: the gpu.func, its arguments by role, and the
/// row builder positioned in its body (inside the row guard, if any).
struct KernelShell {
  gpu::GPUFuncOp func;
  std::unique_ptr<RowKernelBuilder> rows;
  OpBuilder body;
  explicit KernelShell(MLIRContext *ctx) : body(ctx) {}
};

MemRefType rowsType(const RowLayout &l, Type storage) {
  return MemRefType::get({ShapedType::kDynamic, l.dim}, storage);
}
MemRefType paramType(const RowLayout &l, Type storage) {
  return MemRefType::get({l.dim}, storage);
}
MemRefType scalarsType(MLIRContext *ctx) {
  return MemRefType::get({ShapedType::kDynamic}, Float32Type::get(ctx));
}

/// Creates `name` in `module` with `argTypes`, a workgroup scratch of
/// `scratchFloats` f32 when the row spans several warps (plus `extraShared`
/// more), and a body builder past the row guard.
void createShell(KernelShell &shell, gpu::GPUModuleOp module, StringRef name,
                 ArrayRef<Type> argTypes, const RowLayout &layout,
                 int64_t reductionWidth, int64_t extraShared) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  SmallVector<Type> shared;
  int64_t scratchFloats =
      layout.warps() > 1 ? reductionWidth * layout.warps() : 0;
  if (scratchFloats + extraShared > 0)
    shared.push_back(MemRefType::get({scratchFloats + extraShared},
                                     b.getF32Type(), AffineMap(), workgroup));
  auto func = gpu::GPUFuncOp::create(b, loc, name,
                                     b.getFunctionType(argTypes, {}), shared);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(layout.blockThreads()), 1, 1}));
  shell.func = func;
  Block &entry = func.getBody().front();
  shell.body.setInsertionPointToStart(&entry);
  gpu::ReturnOp::create(shell.body, loc);
  shell.body.setInsertionPointToStart(&entry);
  Value scratch;
  if (!shared.empty())
    scratch = func.getWorkgroupAttributions()[0];
  shell.rows =
      std::make_unique<RowKernelBuilder>(shell.body, loc, layout, scratch);
  if (layout.rowsPerBlock > 1) {
    // Blocks of several rows overhang the last row; their kernels have no
    // barriers, so the extra rows just skip.
    Value rows =
        memref::DimOp::create(shell.body, loc, entry.getArgument(0), 0);
    Value inside = arith::CmpIOp::create(
        shell.body, loc, arith::CmpIPredicate::ult, shell.rows->getRow(), rows);
    auto ifOp = scf::IfOp::create(shell.body, loc, inside, /*else=*/false);
    shell.body.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  }
}

/// rms_norm(x, g, y, eps): y = x * rsqrt(mean(x^2) + eps) * g.
void buildRMSNormKernel(KernelShell &k, const RowLayout &l) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto args = k.func.getArguments();
  Value x = args[0], g = args[1], y = args[2], eps = args[3];
  SmallVector<Value> xs;
  Value squares = r.splat(r.f32Const(0));
  for (int64_t c = 0; c < l.chunks; ++c) {
    xs.push_back(r.load(x, c));
    squares = vector::FMAOp::create(b, loc, xs.back(), xs.back(), squares);
  }
  Value scale = r.inverseRMS(r.rowSums({r.horizontalSum(squares)})[0], eps);
  for (int64_t c = 0; c < l.chunks; ++c) {
    Value v = arith::MulFOp::create(b, loc, xs[c], r.splat(scale));
    v = arith::MulFOp::create(b, loc, v, r.load(g, c, /*perRow=*/false));
    r.store(v, y, c);
  }
}

/// The weight of the partial sum against the completed blocks' state,
/// a = sigmoid(logit - lse), as 1 / (1 + exp(lse - logit)): it saturates
/// where exp(logit) would overflow.
Value mergeWeight(RowKernelBuilder &r, OpBuilder &b, Location loc, Value logit,
                  Value lse) {
  Value diff = arith::SubFOp::create(b, loc, lse, logit);
  Value one = r.f32Const(1);
  Value denominator = arith::AddFOp::create(b, loc, one, r.exp(diff));
  return arith::DivFOp::create(b, loc, one, denominator);
}

/// Phase 2's kernel arguments, in the order the launches pass them; the
/// norm's and the result's are null where the variant has none.
struct Phase2Args {
  Value state, lse, p, q, key, eps, g, normEps, result, normalized;
  Phase2Args(gpu::GPUFuncOp func, bool norm, bool writeResult) {
    auto args = func.getArguments();
    state = args[0];
    lse = args[1];
    p = args[2];
    q = args[3];
    key = args[4];
    eps = args[5];
    unsigned next = 6;
    if (norm) {
      g = args[next++];
      normEps = args[next++];
    }
    if (writeResult)
      result = args[next++];
    if (norm)
      normalized = args[next++];
  }
};

/// phase2(state, lse, p, q, k, eps, [g, normEps], [result], [normalized]).
void buildPhase2Kernel(KernelShell &k, const RowLayout &l, bool norm,
                       bool writeResult) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto [state, lse, p, q, key, eps, g, normEps, result, normalized] =
      Phase2Args(k.func, norm, writeResult);

  // One pass over the partial sum: its squares and its query-weighted sum.
  // The state and lse are loaded with it, not after the reduction: their
  // loads then overlap the partial sum's instead of waiting behind the
  // shuffles and barriers.
  SmallVector<Value> ps, states;
  Value squares = r.splat(r.f32Const(0)), dots = squares;
  for (int64_t c = 0; c < l.chunks; ++c) {
    ps.push_back(r.load(p, c));
    states.push_back(r.load(state, c));
    squares = vector::FMAOp::create(b, loc, ps.back(), ps.back(), squares);
    Value qc = r.load(q, c, false);
    Value kc = r.load(key, c, false);
    Value qk = arith::MulFOp::create(b, loc, qc, kc);
    dots = vector::FMAOp::create(b, loc, ps.back(), qk, dots);
  }
  Value rowLse = r.loadScalar(lse);
  SmallVector<Value> sums =
      r.rowSums({r.horizontalSum(squares), r.horizontalSum(dots)});
  Value logit =
      arith::MulFOp::create(b, loc, sums[1], r.inverseRMS(sums[0], eps));
  Value weightVec = r.splat(mergeWeight(r, b, loc, logit, rowLse));

  SmallVector<Value> hs;
  Value hSquares = r.splat(r.f32Const(0));
  for (int64_t c = 0; c < l.chunks; ++c) {
    Value s = states[c];
    Value h = vector::FMAOp::create(b, loc, weightVec,
                                    arith::SubFOp::create(b, loc, ps[c], s), s);
    hs.push_back(h);
    if (writeResult)
      r.store(h, result, c);
    if (norm)
      hSquares = vector::FMAOp::create(b, loc, h, h, hSquares);
  }
  if (!norm)
    return;
  Value scale =
      r.splat(r.inverseRMS(r.rowSums({r.horizontalSum(hSquares)})[0], normEps));
  for (int64_t c = 0; c < l.chunks; ++c) {
    Value v = arith::MulFOp::create(b, loc, hs[c], scale);
    v = arith::MulFOp::create(b, loc, v, r.load(g, c, false));
    r.store(v, normalized, c);
  }
}

/// The softmax over `n` sources of each of `s` layers, from the row's logits
/// in shared memory (layer j's at `base + j * n`), which it replaces by the
/// weights exp(logit - lse). `storeLse`, if given, is called with each
/// layer's lse (every thread has them). Ends past a barrier, the weights in
/// place.
void softmaxWeights(RowKernelBuilder &r, OpBuilder &b, Location loc,
                    const RowLayout &l, Value logits, int64_t base, int64_t n,
                    int64_t s, function_ref<void(int64_t, Value)> storeLse) {
  // lse of every layer (max + log sum exp), each thread from the shared
  // logits.
  auto logitOf = [&](int64_t j, int64_t i) -> Value {
    return memref::LoadOp::create(b, loc, logits, r.index(base + j * n + i));
  };
  SmallVector<Value> lseOf;
  for (int64_t j = 0; j < s; ++j) {
    SmallVector<Value> ls;
    for (int64_t i = 0; i < n; ++i)
      ls.push_back(logitOf(j, i));
    Value max = ls[0];
    for (int64_t i = 1; i < n; ++i)
      max = arith::MaximumFOp::create(b, loc, max, ls[i]);
    Value total = r.f32Const(0);
    for (int64_t i = 0; i < n; ++i)
      total = arith::AddFOp::create(
          b, loc, total, r.exp(arith::SubFOp::create(b, loc, ls[i], max)));
    Value lse = arith::AddFOp::create(b, loc, max, r.log(total));
    if (storeLse)
      storeLse(j, lse);
    lseOf.push_back(lse);
  }
  // Every thread has read the logits; the row's threads replace them by
  // the weights exp(logit - lse), each weight computed once per row rather
  // than once per use.
  gpu::BarrierOp::create(b, loc);
  {
    Value lane = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    auto loop =
        scf::ForOp::create(b, loc, lane, r.index(n * s), r.index(l.threads));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value pair = loop.getInductionVar();
    Value j = arith::DivUIOp::create(b, loc, pair, r.index(n));
    Value lse = lseOf[0];
    for (int64_t k = 1; k < s; ++k) {
      Value isK = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, j,
                                        r.index(k));
      lse = arith::SelectOp::create(b, loc, isK, lseOf[k], lse);
    }
    Value slot = arith::AddIOp::create(b, loc, pair, r.index(base));
    Value logit = memref::LoadOp::create(b, loc, logits, slot);
    Value w = r.exp(arith::SubFOp::create(b, loc, logit, lse));
    memref::StoreOp::create(b, loc, w, logits, slot);
  }
  gpu::BarrierOp::create(b, loc);
}

/// Every layer's output vector from `vs`, the same vector of each of the `n`
/// sources, weighted by the shared softmax weights (layer j's at
/// `base + j * n`); `store` gets the layer index and its vector. The layers
/// are a loop, so the code does not grow with S.
void formOutputs(RowKernelBuilder &r, OpBuilder &b, Location loc, Value weights,
                 int64_t base, int64_t n, int64_t s, ArrayRef<Value> vs,
                 function_ref<void(Value, Value)> store) {
  auto loop = scf::ForOp::create(b, loc, r.index(0), r.index(s), r.index(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  Value j = loop.getInductionVar();
  Value offset = arith::MulIOp::create(b, loc, j, r.index(n));
  Value first = arith::AddIOp::create(b, loc, r.index(base), offset);
  Value acc;
  for (int64_t i = 0; i < n; ++i) {
    Value slot = arith::AddIOp::create(b, loc, first, r.index(i));
    Value w = r.splat(memref::LoadOp::create(b, loc, weights, slot));
    acc = i == 0 ? arith::MulFOp::create(b, loc, w, vs[i]).getResult()
                 : vector::FMAOp::create(b, loc, w, vs[i], acc).getResult();
  }
  store(j, acc);
}

/// Softmax over `n` sources for `s` layers (phase 1, or block_attn_res with
/// s = 1): args are the sources, the [s, D] f32 products query * key norm
/// (w_j = q_j * k_j, so that a logit is w_j . x / rms(x)), eps, the outputs
/// as one [s * rows, D] buffer (layer j's rows from j * rows on) and, for
/// phase 1, the lse as one [s * rows] buffer. Per-layer arguments would be a
/// memref descriptor each (7 or 5 scalars): at N = 8, S = 16 they took 3.2 of
/// the 4 KB of kernel parameters, and their 64-bit addresses took registers.
void buildAggregateKernel(KernelShell &k, const RowLayout &l, int64_t n,
                          int64_t s, bool writeLse) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto args = k.func.getArguments();
  auto sources = args.take_front(n);
  Value weights = args[n];
  Value eps = args[n + 1];
  Value outputs = args[n + 2];
  Value lses = writeLse ? args[n + 3] : Value();
  Value numRows = memref::DimOp::create(b, loc, sources[0], 0);
  Value logits = k.func.getWorkgroupAttributions()[0];
  int64_t logitBase = l.warps() > 1 ? (s + 1) * l.warps() : 0;

  // Pass 1: each source once, scored for every layer. Lane 0 keeps the
  // logits in shared memory for the whole row. The sums are reduced to
  // scalars chunk by chunk: S vector accumulators would cost S * vecWidth
  // registers. The sources are visited by a loop, not unrolled: unrolled,
  // LLVM keeps every layer's query-key products live from one source to
  // the next (S x chunks vectors per thread), and ptxas spills.
  {
    auto loop = scf::ForOp::create(b, loc, r.index(0), r.index(n), r.index(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value i = loop.getInductionVar();
    Value source = sources[0];
    for (int64_t k = 1; k < n; ++k) {
      Value isK = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, i,
                                        r.index(k));
      source = arith::SelectOp::create(b, loc, isK, sources[k], source);
    }
    Value squares = r.f32Const(0);
    SmallVector<Value> dots(s, squares);
    for (int64_t c = 0; c < l.chunks; ++c) {
      Value v = r.load(source, c);
      squares = r.horizontalSum(arith::MulFOp::create(b, loc, v, v), squares);
      for (int64_t j = 0; j < s; ++j) {
        Value wc = r.loadAt(weights, r.index(j), c);
        dots[j] =
            r.horizontalSum(arith::MulFOp::create(b, loc, v, wc), dots[j]);
      }
    }
    SmallVector<Value> partials = {squares};
    llvm::append_range(partials, dots);
    SmallVector<Value> sums = r.rowSums(partials);
    Value scale = r.inverseRMS(sums[0], eps);
    r.onLeader([&] {
      for (int64_t j = 0; j < s; ++j) {
        Value logit = arith::MulFOp::create(b, loc, sums[j + 1], scale);
        Value slot =
            arith::AddIOp::create(b, loc, r.index(logitBase + j * n), i);
        memref::StoreOp::create(b, loc, logit, logits, slot);
      }
    });
  }
  gpu::BarrierOp::create(b, loc);

  auto storeLse = [&](int64_t j, Value lse) {
    r.onLeader([&] {
      memref::StoreOp::create(b, loc, lse, lses,
                              r.stackedRow(r.index(j), numRows));
    });
  };
  softmaxWeights(r, b, loc, l, logits, logitBase, n, s,
                 writeLse ? function_ref<void(int64_t, Value)>(storeLse)
                          : nullptr);

  // Pass 2: each source vector loaded once (from L2, which pass 1 just
  // filled), and every layer's output vector formed from the N of them
  // before the next: N vectors and one accumulator live, whatever S. The
  // layers are a loop, so the code does not grow with S.
  for (int64_t c = 0; c < l.chunks; ++c) {
    SmallVector<Value> vs;
    for (int64_t i = 0; i < n; ++i)
      vs.push_back(r.load(sources[i], c));
    formOutputs(r, b, loc, logits, logitBase, n, s, vs,
                [&](Value j, Value acc) {
                  r.storeAt(acc, outputs, r.stackedRow(j, numRows), c);
                });
  }
}

//===----------------------------------------------------------------------===//
// Rows split across CTAs
//===----------------------------------------------------------------------===//
//
// At decode a launch has a few rows, a CTA each, and most SMs idle while one
// CTA per row streams D elements (and phase 1 the layers' [S, D] products
// once per source). Split launches give each row `splits` CTAs along grid y,
// each covering part of the row, in two kernels: the first writes each CTA's
// partial sums over its part (the reductions over D) to a small f32
// workspace, [rows, splits, ...]; the second combines a row's partial sums
// and finishes the row over its part. Both kernels read `splits` from the
// grid, so one pair serves every count up to the kernel's maximum.
//
// Two kernels rather than atomics on the workspace: each CTA adds its row's
// splits in the same fixed order, so every CTA of a row computes the same
// softmax weights and norm scale, and a run gives the same bits as the last.
// Atomic adds would land in the order the CTAs finish in.

/// The CTA's split among its row's (grid y) and their count.
std::pair<Value, Value> splitOfBlock(OpBuilder &b, Location loc) {
  Value split = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value splits = gpu::GridDimOp::create(b, loc, gpu::Dimension::y);
  return {split, splits};
}

/// Calls `body` for each vector this thread covers in a split launch,
/// carrying `init` through (`body` returns the next values). The row's warp
/// slices go to the row's CTAs in turn (CTA y of `splits` takes slices y,
/// y + splits, ...) and a CTA's slices to its warps in turn, so the CTAs of a
/// row cover it once between them whatever their count. `body` gets this
/// lane's vector in the slice.
SmallVector<Value>
forEachSplitVector(RowKernelBuilder &r, OpBuilder &b, Location loc,
                   const RowLayout &l, Value split, Value splits,
                   ValueRange init,
                   function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  Value lane = r.getLane(), first = split, step = splits;
  if (l.warps() > 1) {
    Value warpSize = r.index(kWarpSize);
    Value warp = arith::DivUIOp::create(b, loc, lane, warpSize);
    lane = arith::RemUIOp::create(b, loc, lane, warpSize);
    Value warpFirst = arith::MulIOp::create(b, loc, warp, splits);
    first = arith::AddIOp::create(b, loc, split, warpFirst);
    step = arith::MulIOp::create(b, loc, splits, r.index(l.warps()));
  }
  auto loop = scf::ForOp::create(
      b, loc, first, r.index(l.slices()), step, init,
      [&](OpBuilder &nb, Location nloc, Value slice, ValueRange carried) {
        Value sliceStart =
            arith::MulIOp::create(nb, nloc, slice, r.index(kWarpSize));
        Value vec = arith::AddIOp::create(nb, nloc, sliceStart, lane);
        scf::YieldOp::create(nb, nloc, body(vec, carried));
      });
  return SmallVector<Value>(loop.getResults());
}

/// The sum over a row's `splits` CTAs of one of their partial sums, element
/// `index(y)` of `workspace` for CTA y, added in the order y = 0, 1, ... in
/// every CTA (see above). The loads are unrolled to `maxSplits`, those past
/// the launch's count predicated off, so that they are in flight together.
Value combineSplits(RowKernelBuilder &r, OpBuilder &b, Location loc,
                    Value workspace, Value splits, int64_t maxSplits,
                    function_ref<Value(int64_t)> index) {
  Value first = memref::LoadOp::create(b, loc, workspace, index(0));
  SmallVector<Value> rest;
  for (int64_t y = 1; y < maxSplits; ++y) {
    Value at = index(y);
    Value present = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          r.index(y), splits);
    auto ifOp = scf::IfOp::create(
        b, loc, present,
        [&](OpBuilder &nb, Location nloc) {
          Value v = memref::LoadOp::create(nb, nloc, workspace, at);
          scf::YieldOp::create(nb, nloc, v);
        },
        [&](OpBuilder &nb, Location nloc) {
          scf::YieldOp::create(nb, nloc, r.f32Const(0));
        });
    rest.push_back(ifOp.getResult(0));
  }
  Value sum = first;
  for (Value part : rest)
    sum = arith::AddFOp::create(b, loc, sum, part);
  return sum;
}

/// Index `offset` of the `width` floats of (row, split `y` of `splits`,
/// `item` of `items`) in a split launch's workspace.
Value workspaceIndex(RowKernelBuilder &r, OpBuilder &b, Location loc,
                     Value splits, Value y, Value item, int64_t items,
                     int64_t width, Value offset) {
  Value rowFirst = arith::MulIOp::create(b, loc, r.getRow(), splits);
  Value entry = arith::AddIOp::create(b, loc, rowFirst, y);
  if (item) {
    Value entryFirst = arith::MulIOp::create(b, loc, entry, r.index(items));
    entry = arith::AddIOp::create(b, loc, entryFirst, item);
  }
  Value first = arith::MulIOp::create(b, loc, entry, r.index(width));
  return arith::AddIOp::create(b, loc, first, offset);
}

/// The partial sums of phase 1 (or block_attn_res) at decode sizes, CTA
/// (row, y, i) of a launch of grid (rows, splits, n): source i's sum of
/// squares and its products with the `s` layers' w_j over the CTA's slices
/// of the row, as s + 1 floats (squares first) at item i of (row, y) in the
/// workspace. args: the n sources, the [s, D] products, the workspace.
/// Sources along grid z put their loads in flight together where the
/// unsplit kernel visits them one after the other.
void buildAggregateSumsKernel(KernelShell &k, const RowLayout &l, int64_t n,
                              int64_t s) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto args = k.func.getArguments();
  auto sources = args.take_front(n);
  Value weights = args[n], workspace = args[n + 1];
  auto [split, splits] = splitOfBlock(b, loc);
  Value i = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  Value source = sources[0];
  for (int64_t k = 1; k < n; ++k) {
    Value isK =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, i, r.index(k));
    source = arith::SelectOp::create(b, loc, isK, sources[k], source);
  }
  Value row = r.getRow();
  SmallVector<Value> init(s + 1, r.f32Const(0));
  SmallVector<Value> partials = forEachSplitVector(
      r, b, loc, l, split, splits, init, [&](Value vec, ValueRange carried) {
        SmallVector<Value> next(carried);
        Value v = r.loadVector(source, row, vec, l.guardsSlices());
        Value squares = arith::MulFOp::create(b, loc, v, v);
        next[0] = r.horizontalSum(squares, next[0]);
        for (int64_t j = 0; j < s; ++j) {
          Value wc = r.loadVector(weights, r.index(j), vec, l.guardsSlices());
          Value product = arith::MulFOp::create(b, loc, v, wc);
          next[j + 1] = r.horizontalSum(product, next[j + 1]);
        }
        return next;
      });
  SmallVector<Value> sums = r.rowSums(partials);
  r.onLeader([&] {
    for (int64_t c = 0; c <= s; ++c) {
      Value at =
          workspaceIndex(r, b, loc, splits, split, i, n, s + 1, r.index(c));
      memref::StoreOp::create(b, loc, sums[c], workspace, at);
    }
  });
}

/// Finishes phase 1 (or block_attn_res) at decode sizes, CTA (row, y) of a
/// launch of grid (rows, splits): the logits from the row's partial sums
/// (buildAggregateSumsKernel's), then the softmax as in the unsplit kernel,
/// then the outputs over the CTA's slices. args: the n sources, eps, the
/// stacked outputs, for phase 1 the stacked lse (written by the row's CTA
/// 0), the workspace. `maxSplits`: the most CTAs per row it combines.
void buildAggregateSplitKernel(KernelShell &k, const RowLayout &l, int64_t n,
                               int64_t s, bool writeLse, int64_t maxSplits) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto args = k.func.getArguments();
  auto sources = args.take_front(n);
  Value eps = args[n];
  Value outputs = args[n + 1];
  Value lses = writeLse ? args[n + 2] : Value();
  // The last argument: the entry block's arguments go on with the workgroup
  // buffers.
  Value workspace = args[k.func.getFunctionType().getNumInputs() - 1];
  Value numRows = memref::DimOp::create(b, loc, sources[0], 0);
  Value logits = k.func.getWorkgroupAttributions()[0];
  auto [split, splits] = splitOfBlock(b, loc);
  Value row = r.getRow();

  // The logits, a (layer, source) pair per thread: each source's squares
  // are combined once per layer, which costs loads of partial sums (L2
  // hits) rather than a barrier.
  {
    auto loop = scf::ForOp::create(b, loc, r.getLane(), r.index(n * s),
                                   r.index(l.threads));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value pair = loop.getInductionVar();
    Value j = arith::DivUIOp::create(b, loc, pair, r.index(n));
    Value i = arith::RemUIOp::create(b, loc, pair, r.index(n));
    Value dotOffset = arith::AddIOp::create(b, loc, j, r.index(1));
    auto combine = [&](Value offset) {
      return combineSplits(
          r, b, loc, workspace, splits, maxSplits, [&](int64_t y) {
            return workspaceIndex(r, b, loc, splits, r.index(y), i, n, s + 1,
                                  offset);
          });
    };
    Value squares = combine(r.index(0));
    Value dot = combine(dotOffset);
    Value scale = r.inverseRMS(squares, eps);
    Value logit = arith::MulFOp::create(b, loc, dot, scale);
    memref::StoreOp::create(b, loc, logit, logits, pair);
  }
  gpu::BarrierOp::create(b, loc);

  Value firstSplit = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           split, r.index(0));
  auto storeLse = [&](int64_t j, Value lse) {
    r.onLeader(
        [&] {
          memref::StoreOp::create(b, loc, lse, lses,
                                  r.stackedRow(r.index(j), numRows));
        },
        firstSplit);
  };
  softmaxWeights(r, b, loc, l, logits, /*base=*/0, n, s,
                 writeLse ? function_ref<void(int64_t, Value)>(storeLse)
                          : nullptr);

  forEachSplitVector(
      r, b, loc, l, split, splits, {}, [&](Value vec, ValueRange) {
        SmallVector<Value> vs;
        for (int64_t i = 0; i < n; ++i)
          vs.push_back(r.loadVector(sources[i], row, vec, l.guardsSlices()));
        formOutputs(r, b, loc, logits, /*base=*/0, n, s, vs,
                    [&](Value j, Value acc) {
                      Value at = r.stackedRow(j, numRows);
                      r.storeVector(acc, outputs, at, vec, l.guardsSlices());
                    });
        return SmallVector<Value>();
      });
}

/// The partial sums of phase 2 at decode sizes, CTA (row, y) of a launch of
/// grid (rows, splits), over the CTA's slices of the row: the partial sum's
/// squares and its products with q * k (its logit); with the norm also the
/// state's squares and its products with the partial sum, from which the
/// finishing kernel gets the merged row's squares without a third kernel.
/// args: [the state if `norm`], the partial sum, q, k, the workspace.
void buildPhase2SumsKernel(KernelShell &k, const RowLayout &l, bool norm) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto args = k.func.getArguments();
  Value state = norm ? args[0] : Value();
  auto rest = args.drop_front(norm ? 1 : 0);
  Value p = rest[0], q = rest[1], key = rest[2], workspace = rest[3];
  auto [split, splits] = splitOfBlock(b, loc);
  Value row = r.getRow();
  int64_t width = norm ? 4 : 2;
  SmallVector<Value> init(width, r.splat(r.f32Const(0)));
  bool guard = l.guardsSlices();
  SmallVector<Value> accs = forEachSplitVector(
      r, b, loc, l, split, splits, init, [&](Value vec, ValueRange carried) {
        SmallVector<Value> next(carried);
        Value pv = r.loadVector(p, row, vec, guard);
        Value sv = norm ? r.loadVector(state, row, vec, guard) : Value();
        Value qc = r.loadVector(q, {}, vec, guard);
        Value kc = r.loadVector(key, {}, vec, guard);
        Value qk = arith::MulFOp::create(b, loc, qc, kc);
        next[0] = vector::FMAOp::create(b, loc, pv, pv, next[0]);
        next[1] = vector::FMAOp::create(b, loc, pv, qk, next[1]);
        if (norm) {
          next[2] = vector::FMAOp::create(b, loc, sv, sv, next[2]);
          next[3] = vector::FMAOp::create(b, loc, sv, pv, next[3]);
        }
        return next;
      });
  SmallVector<Value> partials;
  for (Value acc : accs)
    partials.push_back(r.horizontalSum(acc));
  SmallVector<Value> sums = r.rowSums(partials);
  r.onLeader([&] {
    for (int64_t c = 0; c < width; ++c) {
      Value at = workspaceIndex(r, b, loc, splits, split, Value(), 1, width,
                                r.index(c));
      memref::StoreOp::create(b, loc, sums[c], workspace, at);
    }
  });
}

/// Finishes phase 2 at decode sizes, CTA (row, y) of a launch of grid (rows,
/// splits): the merge weight from the row's partial sums
/// (buildPhase2SumsKernel's), then the merged row and its norm over the
/// CTA's slices. args: the unsplit kernel's, then the workspace.
/// `maxSplits`: the most CTAs per row it combines.
///
/// The merged row h = (1 - a) s + a p is known only once a is, so its
/// squares come from the sums of the state's and the partial sum's:
/// |h|^2 = (1 - a)^2 |s|^2 + 2 a (1 - a) s.p + a^2 |p|^2. Where h nearly
/// cancels (|h| much smaller than (1 - a) |s| + a |p|) this loses more
/// relative precision than summing h's squares, by that ratio squared where
/// h itself loses it once; a residual stream does not cancel so, and
/// summing h's squares would take a third kernel.
void buildPhase2SplitKernel(KernelShell &k, const RowLayout &l, bool norm,
                            bool writeResult, int64_t maxSplits) {
  RowKernelBuilder &r = *k.rows;
  OpBuilder &b = k.body;
  Location loc = k.func.getLoc();
  auto args = k.func.getArguments();
  auto [state, lse, p, q, key, eps, g, normEps, result, normalized] =
      Phase2Args(k.func, norm, writeResult);
  // The last argument: the entry block's arguments go on with the workgroup
  // buffers.
  Value workspace = args[k.func.getFunctionType().getNumInputs() - 1];
  auto [split, splits] = splitOfBlock(b, loc);
  Value row = r.getRow();
  int64_t width = norm ? 4 : 2;

  SmallVector<Value> sums;
  for (int64_t c = 0; c < width; ++c)
    sums.push_back(
        combineSplits(r, b, loc, workspace, splits, maxSplits, [&](int64_t y) {
          return workspaceIndex(r, b, loc, splits, r.index(y), Value(), 1,
                                width, r.index(c));
        }));
  Value rowLse = r.loadScalar(lse);
  Value logit =
      arith::MulFOp::create(b, loc, sums[1], r.inverseRMS(sums[0], eps));
  Value weight = mergeWeight(r, b, loc, logit, rowLse);
  Value weightVec = r.splat(weight);
  Value one = r.f32Const(1);
  Value scale;
  if (norm) {
    Value keep = arith::SubFOp::create(b, loc, one, weight);
    Value keepSquared = arith::MulFOp::create(b, loc, keep, keep);
    Value cross = arith::MulFOp::create(b, loc, keep, weight);
    Value twiceCross = arith::AddFOp::create(b, loc, cross, cross);
    Value weightSquared = arith::MulFOp::create(b, loc, weight, weight);
    Value stateTerm = arith::MulFOp::create(b, loc, keepSquared, sums[2]);
    Value crossTerm = arith::MulFOp::create(b, loc, twiceCross, sums[3]);
    Value partialTerm = arith::MulFOp::create(b, loc, weightSquared, sums[0]);
    Value squares = arith::AddFOp::create(b, loc, stateTerm, crossTerm);
    squares = arith::AddFOp::create(b, loc, squares, partialTerm);
    // Rounding must not take a sum of squares below zero.
    squares = arith::MaximumFOp::create(b, loc, squares, r.f32Const(0));
    scale = r.splat(r.inverseRMS(squares, normEps));
  }

  bool guard = l.guardsSlices();
  forEachSplitVector(
      r, b, loc, l, split, splits, {}, [&](Value vec, ValueRange) {
        Value pv = r.loadVector(p, row, vec, guard);
        Value sv = r.loadVector(state, row, vec, guard);
        Value delta = arith::SubFOp::create(b, loc, pv, sv);
        Value h = vector::FMAOp::create(b, loc, weightVec, delta, sv);
        if (writeResult)
          r.storeVector(h, result, row, vec, guard);
        if (norm) {
          Value v = arith::MulFOp::create(b, loc, h, scale);
          Value gc = r.loadVector(g, {}, vec, guard);
          v = arith::MulFOp::create(b, loc, v, gc);
          r.storeVector(v, normalized, row, vec, guard);
        }
        return SmallVector<Value>();
      });
}

//===----------------------------------------------------------------------===//
// Host side
//===----------------------------------------------------------------------===//

/// Whether a launch over the rows of an op splits them across CTAs (see
/// "Rows split across CTAs"): never (rows narrower than kMinSplitSlices warp
/// slices, or a static row count of at least min-ctas), always with a count
/// known here (a static row count below min-ctas), or as the row count at run
/// time says, which keeps one artifact for prefill and decode.
struct SplitChoice {
  enum Mode { Never, Always, AtRunTime } mode = Never;
  /// The most CTAs per row, which the finishing kernel is built for.
  int64_t maxSplits = 0;
  /// With Always: the count.
  int64_t splits = 0;
  int64_t minCTAs = 0;

  /// A row of `rowsType` (a [..., D] tensor) split in `layout`'s warp slices
  /// when the launch has fewer than `minCTAs` rows, into as many CTAs as
  /// bring it to `minCTAs`, up to kMaxSplits and the row's slices.
  static SplitChoice get(RankedTensorType rowsType, const RowLayout &layout,
                         int64_t minCTAs) {
    SplitChoice c;
    if (layout.slices() < kMinSplitSlices || minCTAs < 2)
      return c;
    c.maxSplits = std::min(kMaxSplits, layout.slices());
    c.minCTAs = minCTAs;
    ArrayRef<int64_t> tokens = rowsType.getShape().drop_back();
    if (ShapedType::isDynamicShape(tokens)) {
      c.mode = AtRunTime;
      return c;
    }
    int64_t rows = ShapedType::getNumElements(tokens);
    if (rows == 0 || rows >= minCTAs)
      return c;
    c.mode = Always;
    c.splits = std::min<int64_t>(c.maxSplits, llvm::divideCeil(minCTAs, rows));
    return c;
  }
};

/// The kernels and operands of a split launch: `sums` over grid (rows,
/// splits, sumsGridZ) writes `floatsPerSplit` floats per row and split into
/// a fresh workspace, which `finish` over grid (rows, splits) reads. Each
/// takes the workspace after its operands.
struct SplitLaunch {
  SplitChoice choice;
  gpu::GPUFuncOp sums, finish;
  SmallVector<Value> sumsOperands, finishOperands;
  int64_t sumsGridZ = 1;
  int64_t sumsThreads = kWarpSize, finishThreads = kWarpSize;
  int64_t floatsPerSplit = 0;
};

/// Host-side helpers for one op: buffers of its tensors viewed as kernels
/// want them, and the launch.
class Launcher {
public:
  Launcher(RewriterBase &rewriter, Operation *op)
      : b(rewriter), loc(op->getLoc()), op(op),
        module(op->getParentOfType<ModuleOp>()) {}

  /// The buffer of `tensor` as [rows, D] (or [rows] for per-token scalars).
  Value readRows(Value tensor, bool perToken = false) {
    auto type = cast<RankedTensorType>(tensor.getType());
    Value buffer = bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
    return asRows(buffer, perToken);
  }

  /// A [D] parameter tensor with a static size (checked at run time when it
  /// has none), as the host-side ops on parameters want it.
  Value staticParam(Value tensor, int64_t dim) {
    auto type = cast<RankedTensorType>(tensor.getType());
    if (!type.isDynamicDim(0))
      return tensor;
    check(tensor, arith::ConstantIndexOp::create(b, loc, dim),
          kVectorSizeDiffers);
    return tensor::CastOp::create(
        b, loc, RankedTensorType::get({dim}, type.getElementType()), tensor);
  }

  /// The buffer of a statically shaped tensor the kernel only reads.
  Value readStatic(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    return bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
  }

  /// The buffer of a [D] parameter.
  Value readParam(Value tensor, int64_t dim) {
    auto type = cast<RankedTensorType>(tensor.getType());
    Value buffer = bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
    auto want = MemRefType::get({dim}, type.getElementType());
    if (type.isDynamicDim(0))
      check(buffer, arith::ConstantIndexOp::create(b, loc, dim),
            kVectorSizeDiffers);
    if (buffer.getType() != want)
      buffer = memref::CastOp::create(b, loc, want, buffer);
    return buffer;
  }

  /// A fresh buffer of `type` shaped like `like` (dynamic sizes from it),
  /// returned as its rows view; `result` receives the tensor to use.
  Value allocRows(RankedTensorType type, Value like, Value &result,
                  bool perToken = false) {
    SmallVector<Value> dynamic;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamic.push_back(tensor::DimOp::create(b, loc, like, d));
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = memref::AllocOp::create(b, loc, memrefType, dynamic);
    toTensors.push_back({buffer, type, &result});
    return asRows(buffer, perToken);
  }

  /// `count` fresh buffers of `type` shaped like `like`, carved out of one
  /// allocation, and that allocation viewed as [count * rows, D] (or
  /// [count * rows] for per-token scalars) for the kernel: one argument for
  /// every layer's output. Each buffer is a memref.view of the allocation,
  /// with an identity layout like a buffer of its own, so its readers take it
  /// without a copy. `results` receive the tensors to use.
  Value allocStacked(RankedTensorType type, Value like, int64_t count,
                     MutableArrayRef<Value> results, bool perToken = false) {
    SmallVector<Value> dynamic, sizes(type.getRank());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamic.push_back(sizes[d] = tensor::DimOp::create(b, loc, like, d));
    // rows: the product of the token axes, which the kernel view flattens.
    int64_t tokenAxes = perToken ? type.getRank() : type.getRank() - 1;
    Type element = type.getElementType();
    int64_t rowBytes = element.getIntOrFloatBitWidth() / 8;
    if (!perToken)
      rowBytes *= type.getShape().back();
    int64_t staticRows = 1;
    Value dynamicRows;
    for (int64_t d = 0; d < tokenAxes; ++d) {
      if (!type.isDynamicDim(d)) {
        staticRows *= type.getDimSize(d);
        continue;
      }
      dynamicRows = dynamicRows
                        ? arith::MulIOp::create(b, loc, dynamicRows, sizes[d])
                        : sizes[d];
    }
    auto times = [&](Value v, int64_t factor) -> Value {
      Value c = arith::ConstantIndexOp::create(b, loc, factor);
      return v ? arith::MulIOp::create(b, loc, v, c).getResult() : c;
    };
    Value rows = dynamicRows && staticRows == 1
                     ? dynamicRows
                     : times(dynamicRows, staticRows);
    // Every layer's buffer starts at a multiple of a row, so the kernels'
    // vector alignment holds in each.
    Value layerBytes = times(dynamicRows, staticRows * rowBytes);
    Value total = times(layerBytes, count);
    auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
    Value storage = memref::AllocOp::create(b, loc, bytesType, total);
    auto layerType = MemRefType::get(type.getShape(), element);
    for (int64_t j = 0; j < count; ++j) {
      Value shift = j == 0 ? arith::ConstantIndexOp::create(b, loc, 0)
                           : times(layerBytes, j);
      Value view =
          memref::ViewOp::create(b, loc, layerType, storage, shift, dynamic);
      toTensors.push_back({view, type, &results[j]});
    }
    SmallVector<int64_t> shape = {ShapedType::kDynamic};
    if (!perToken)
      shape.push_back(type.getShape().back());
    Value kernelView =
        memref::ViewOp::create(b, loc, MemRefType::get(shape, element), storage,
                               arith::ConstantIndexOp::create(b, loc, 0),
                               ValueRange{times(rows, count)});
    // Its rows are the layers' rows: more than the launch's.
    stacked.insert(kernelView);
    return kernelView;
  }

  /// Launches `kernel` over `rows` rows, or `split`'s kernels where it
  /// chooses to split them (`kernel` may then be null), then materializes
  /// the results.
  void launch(gpu::GPUFuncOp kernel, const RowLayout &l, Value rows,
              ValueRange operands, const SplitLaunch *split = nullptr) {
    // The kernels take every row count from the first operand: the others
    // must have as many rows, or the kernel reads past their end.
    for (Value operand : operands.drop_front())
      if (auto type = dyn_cast<MemRefType>(operand.getType());
          type && type.isDynamicDim(0) && !stacked.contains(operand))
        check(operand, rows, kOperandSizesDiffer + " (dim 0)");
    SplitChoice::Mode mode = split ? split->choice.mode : SplitChoice::Never;
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value grid, threads;
    if (mode != SplitChoice::Always) {
      grid = rows;
      if (l.rowsPerBlock > 1)
        grid = arith::CeilDivUIOp::create(
            b, loc, rows,
            arith::ConstantIndexOp::create(b, loc, l.rowsPerBlock));
      threads = arith::ConstantIndexOp::create(b, loc, l.blockThreads());
    }
    // CUDA rejects empty grids; an empty batch launches nothing.
    Value any =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, rows,
                              arith::ConstantIndexOp::create(b, loc, 0));
    auto ifOp = scf::IfOp::create(b, loc, any, /*else=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      auto unsplit = [&] {
        gpu::LaunchFuncOp::create(
            b, loc, kernel, gpu::KernelDim3{grid, one, one},
            gpu::KernelDim3{threads, one, one},
            /*dynamicSharedMemorySize=*/Value(), operands);
      };
      switch (mode) {
      case SplitChoice::Never:
        unsplit();
        break;
      case SplitChoice::Always:
        launchSplit(
            *split, rows,
            arith::ConstantIndexOp::create(b, loc, split->choice.splits), one);
        break;
      case SplitChoice::AtRunTime: {
        const SplitChoice &c = split->choice;
        Value minCTAs = arith::ConstantIndexOp::create(b, loc, c.minCTAs);
        Value few = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          rows, minCTAs);
        auto choose = scf::IfOp::create(b, loc, few, /*else=*/true);
        b.setInsertionPoint(choose.thenBlock()->getTerminator());
        Value wanted = arith::CeilDivUIOp::create(b, loc, minCTAs, rows);
        Value splits = arith::MinUIOp::create(
            b, loc, wanted,
            arith::ConstantIndexOp::create(b, loc, c.maxSplits));
        launchSplit(*split, rows, splits, one);
        b.setInsertionPoint(choose.elseBlock()->getTerminator());
        unsplit();
        break;
      }
      }
    }
    for (auto &[buffer, type, result] : toTensors)
      *result = bufferization::ToTensorOp::create(b, loc, type, buffer,
                                                  /*restrict=*/true,
                                                  /*writable=*/true);
  }

  Value numRows(Value rowsView) {
    return memref::DimOp::create(b, loc, rowsView, 0);
  }

  /// The kernel module, created on first use.
  gpu::GPUModuleOp kernelModule() {
    if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kGPUKernelModule))
      return existing;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    return gpu::GPUModuleOp::create(b, module.getLoc(), kGPUKernelModule);
  }

  RewriterBase &b;
  Location loc;

private:
  /// [..., D] buffers as [?, D] (`perToken` false) and [...] buffers of
  /// per-token scalars as [?].
  Value asRows(Value buffer, bool perToken) {
    auto type = cast<MemRefType>(buffer.getType());
    Type element = type.getElementType();
    int64_t rank = type.getRank();
    int64_t keep = perToken ? 0 : 1;
    Value view = buffer;
    if (rank == keep) {
      // A single token: add the leading row axis.
      SmallVector<int64_t> shape = {1};
      llvm::append_range(shape, type.getShape());
      SmallVector<ReassociationIndices> groups;
      if (!perToken)
        groups.push_back({0, 1});
      view = memref::ExpandShapeOp::create(
          b, loc, MemRefType::get(shape, element), buffer, groups);
    } else if (rank > keep + 1) {
      ReassociationIndices tokens =
          llvm::to_vector(llvm::seq<int64_t>(0, rank - keep));
      SmallVector<ReassociationIndices> groups = {tokens};
      if (!perToken)
        groups.push_back({rank - 1});
      view = memref::CollapseShapeOp::create(b, loc, buffer, groups);
    }
    SmallVector<int64_t> want = {ShapedType::kDynamic};
    if (!perToken)
      want.push_back(type.getShape().back());
    auto wantType = MemRefType::get(want, element);
    if (view.getType() != wantType)
      view = memref::CastOp::create(b, loc, wantType, view);
    return view;
  }

  /// `split`'s two launches over `rows` rows of `splits` CTAs each, with a
  /// workspace of their own.
  void launchSplit(const SplitLaunch &split, Value rows, Value splits,
                   Value one) {
    Value entries = arith::MulIOp::create(b, loc, rows, splits);
    Value floats = arith::MulIOp::create(
        b, loc, entries,
        arith::ConstantIndexOp::create(b, loc, split.floatsPerSplit));
    Value workspace = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{floats});
    SmallVector<Value> sumsOperands(split.sumsOperands);
    sumsOperands.push_back(workspace);
    SmallVector<Value> finishOperands(split.finishOperands);
    finishOperands.push_back(workspace);
    Value sumsZ = arith::ConstantIndexOp::create(b, loc, split.sumsGridZ);
    Value sumsThreads =
        arith::ConstantIndexOp::create(b, loc, split.sumsThreads);
    gpu::LaunchFuncOp::create(
        b, loc, split.sums, gpu::KernelDim3{rows, splits, sumsZ},
        gpu::KernelDim3{sumsThreads, one, one},
        /*dynamicSharedMemorySize=*/Value(), sumsOperands);
    Value finishThreads =
        arith::ConstantIndexOp::create(b, loc, split.finishThreads);
    gpu::LaunchFuncOp::create(
        b, loc, split.finish, gpu::KernelDim3{rows, splits, one},
        gpu::KernelDim3{finishThreads, one, one},
        /*dynamicSharedMemorySize=*/Value(), finishOperands);
  }

  /// Asserts at run time that dim 0 of `buffer` is `size` (a failed check
  /// becomes the run's error, --attnres-checks-to-runtime).
  void check(Value buffer, Value size, const llvm::Twine &what) {
    Value actual = isa<RankedTensorType>(buffer.getType())
                       ? tensor::DimOp::create(b, loc, buffer, 0).getResult()
                       : memref::DimOp::create(b, loc, buffer, 0).getResult();
    Value same =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, actual, size);
    assertAtRunTime(b, loc, same, op, what);
  }

  SmallVector<std::tuple<Value, RankedTensorType, Value *>> toTensors;
  /// allocStacked's kernel views, which hold several layers' rows.
  llvm::SmallPtrSet<Value, 2> stacked;
  /// The op being lowered, which the checks name.
  Operation *op;
  ModuleOp module;
};

/// Finds or builds the kernel `name`; `build` fills a fresh shell.
gpu::GPUFuncOp getOrCreateKernel(Launcher &launcher, StringRef name,
                                 ArrayRef<Type> argTypes,
                                 const RowLayout &layout,
                                 int64_t reductionWidth, int64_t extraShared,
                                 function_ref<void(KernelShell &)> build) {
  gpu::GPUModuleOp module = launcher.kernelModule();
  if (auto existing = module.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  KernelShell shell(module.getContext());
  createShell(shell, module, name, argTypes, layout, reductionWidth,
              extraShared);
  build(shell);
  return shell.func;
}

/// Checks what every kernel needs: a float storage type the kernels convert
/// (f32, f16, bf16) and a static feature size.
LogicalResult checkLowerable(PatternRewriter &rewriter, Operation *op,
                             RankedTensorType type) {
  Type element = type.getElementType();
  if (!element.isF32() && !element.isF16() && !element.isBF16())
    return rewriter.notifyMatchFailure(op, "storage is not f32, f16 or bf16");
  if (type.getRank() == 0 || type.isDynamicDim(type.getRank() - 1))
    return rewriter.notifyMatchFailure(op, "feature size is not static");
  return success();
}

/// The f32 products w_j = q_j * k_j of `queries` and `keys` (one [D] vector
/// per layer) as one [S, D] tensor: the logit q_j . (k_j * x / rms(x)) is
/// w_j . x / rms(x), so pass 1 loads one vector per layer, not two, and
/// multiplies once per layer rather than once per source. Constant
/// parameters (a model's weights) fold here, in f32 as the kernel would
/// round; others get a linalg.generic per 16 layers, which the pipeline runs
/// as a GPU loop (one op for every layer would be a kernel with 2S memref
/// arguments, the parameter space the [S, D] buffer saves).
Value buildLayerWeights(RewriterBase &b, Location loc, ArrayRef<Value> queries,
                        ArrayRef<Value> keys, int64_t dim) {
  int64_t s = queries.size();
  Type f32 = b.getF32Type();
  auto type = RankedTensorType::get({s, dim}, f32);
  auto constantOf = [&](Value v) -> DenseElementsAttr {
    DenseElementsAttr attr;
    if (!matchPattern(v, m_Constant(&attr)) ||
        !isa<FloatType>(attr.getElementType()) || attr.getNumElements() != dim)
      return {};
    return attr;
  };
  SmallVector<DenseElementsAttr> constants;
  for (Value v : llvm::concat<const Value>(queries, keys))
    if (DenseElementsAttr attr = constantOf(v))
      constants.push_back(attr);
  if (static_cast<int64_t>(constants.size()) == 2 * s) {
    SmallVector<float> products;
    products.reserve(s * dim);
    for (int64_t j = 0; j < s; ++j) {
      auto q = constants[j].getValues<APFloat>();
      auto k = constants[s + j].getValues<APFloat>();
      for (int64_t d = 0; d < dim; ++d)
        products.push_back(q[d].convertToFloat() * k[d].convertToFloat());
    }
    // Zero pseudo-queries (the paper's initialization) stay one value.
    bool splat = llvm::all_of(products, [&](float v) {
      return llvm::bit_cast<uint32_t>(v) ==
             llvm::bit_cast<uint32_t>(products.front());
    });
    auto attr = splat ? DenseElementsAttr::get(type, products.front())
                      : DenseElementsAttr::get(type, ArrayRef(products));
    return arith::ConstantOp::create(b, loc, type, attr);
  }

  constexpr int64_t kLayersPerOp = 16;
  MLIRContext *ctx = b.getContext();
  Value weights = tensor::EmptyOp::create(b, loc, type.getShape(), f32);
  AffineMap param = AffineMap::get(2, 0, getAffineDimExpr(1, ctx));
  AffineMap out = AffineMap::getMultiDimIdentityMap(2, ctx);
  for (int64_t first = 0; first < s; first += kLayersPerOp) {
    int64_t m = std::min(kLayersPerOp, s - first);
    SmallVector<OpFoldResult> offsets = {b.getIndexAttr(first),
                                         b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(m), b.getIndexAttr(dim)};
    SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
    auto sliceType = RankedTensorType::get({m, dim}, f32);
    Value init = tensor::ExtractSliceOp::create(b, loc, sliceType, weights,
                                                offsets, sizes, strides);
    SmallVector<Value> inputs(queries.slice(first, m));
    llvm::append_range(inputs, keys.slice(first, m));
    SmallVector<AffineMap> maps(2 * m, param);
    maps.push_back(out);
    SmallVector<utils::IteratorType> iterators(2,
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, sliceType, inputs, init, maps, iterators,
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          Value layer = linalg::IndexOp::create(nb, nloc, 0);
          auto pick = [&](int64_t base) {
            Value v = args[base];
            for (int64_t t = 1; t < m; ++t) {
              Value isT = arith::CmpIOp::create(
                  nb, nloc, arith::CmpIPredicate::eq, layer,
                  arith::ConstantIndexOp::create(nb, nloc, t));
              v = arith::SelectOp::create(nb, nloc, isT, args[base + t], v);
            }
            if (v.getType() != f32)
              v = arith::ExtFOp::create(nb, nloc, f32, v);
            return v;
          };
          Value q = pick(0);
          Value k = pick(m);
          Value w = arith::MulFOp::create(nb, nloc, q, k);
          linalg::YieldOp::create(nb, nloc, w);
        });
    weights = tensor::InsertSliceOp::create(b, loc, generic.getResult(0),
                                            weights, offsets, sizes, strides);
  }
  return weights;
}

Value f32Attr(RewriterBase &b, Location loc, FloatAttr attr) {
  return arith::ConstantOp::create(b, loc,
                                   b.getF32FloatAttr(attr.getValueAsDouble()));
}

/// A pattern that builds row kernels; `maxChunks` and `minCTAs` are the
/// pass's max-vectors-per-thread and min-ctas.
template <typename OpTy> struct KernelPattern : OpRewritePattern<OpTy> {
  KernelPattern(MLIRContext *ctx, int64_t maxChunks, int64_t minCTAs)
      : OpRewritePattern<OpTy>(ctx), maxChunks(maxChunks), minCTAs(minCTAs) {}
  int64_t maxChunks;
  int64_t minCTAs;
};

struct RMSNormToGPU : KernelPattern<RMSNormOp> {
  using KernelPattern::KernelPattern;

  LogicalResult matchAndRewrite(RMSNormOp op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getInput().getType());
    if (failed(checkLowerable(rewriter, op, type)))
      return failure();
    Type storage = type.getElementType();
    RowLayout l = RowLayout::get(type.getShape().back(), storage, maxChunks,
                                 /*oneRowPerBlock=*/false);
    Launcher launch(rewriter, op);
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    SmallVector<Type> argTypes = {rowsType(l, storage), paramType(l, storage),
                                  rowsType(l, storage), f32};
    gpu::GPUFuncOp kernel = getOrCreateKernel(
        launch, "rms_norm_" + l.suffix(storage), argTypes, l, 1, 0,
        [&](KernelShell &k) { buildRMSNormKernel(k, l); });
    Value x = launch.readRows(op.getInput());
    Value g = launch.readParam(op.getWeight(), l.dim);
    Value result;
    Value y = launch.allocRows(type, op.getInput(), result);
    // Separate statements: argument evaluation order would make the IR's
    // op order depend on the host compiler.
    Value eps = f32Attr(rewriter, loc, op.getEpsilonAttr());
    Value rows = launch.numRows(x);
    launch.launch(kernel, l, rows, {x, g, y, eps});
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct Phase2ToGPU : KernelPattern<Phase2Op> {
  using KernelPattern::KernelPattern;

  LogicalResult matchAndRewrite(Phase2Op op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getState().getType());
    if (failed(checkLowerable(rewriter, op, type)))
      return failure();
    Type storage = type.getElementType();
    RowLayout l = RowLayout::get(type.getShape().back(), storage, maxChunks,
                                 /*oneRowPerBlock=*/false);
    bool norm = static_cast<bool>(op.getNormWeight());
    // With the norm fused, the merged row is often read by nothing but the
    // residual stream's next aggregation; skip its write when nothing does.
    bool writeResult = !norm || !op.getResult().use_empty();
    Launcher launch(rewriter, op);
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    SmallVector<Type> argTypes = {
        rowsType(l, storage),  scalarsType(rewriter.getContext()),
        rowsType(l, storage),  paramType(l, storage),
        paramType(l, storage), f32};
    if (norm)
      argTypes.append({paramType(l, storage), f32});
    if (writeResult)
      argTypes.push_back(rowsType(l, storage));
    if (norm)
      argTypes.push_back(rowsType(l, storage));
    std::string name = "phase2_" + l.suffix(storage);
    if (norm)
      name += writeResult ? "_norm" : "_norm_only";
    // Split launches: a warp per CTA, the state's sums only for the norm.
    RowLayout sl = RowLayout::forSplit(l.dim, storage, /*warps=*/1);
    SplitLaunch split;
    split.choice = SplitChoice::get(type, sl, minCTAs);
    gpu::GPUFuncOp kernel;
    if (split.choice.mode != SplitChoice::Always)
      kernel = getOrCreateKernel(
          launch, name, argTypes, l, 2, 0,
          [&](KernelShell &k) { buildPhase2Kernel(k, l, norm, writeResult); });
    int64_t sumsWidth = norm ? 4 : 2;
    if (split.choice.mode != SplitChoice::Never) {
      SmallVector<Type> sumsTypes;
      if (norm)
        sumsTypes.push_back(rowsType(sl, storage));
      sumsTypes.append({rowsType(sl, storage), paramType(sl, storage),
                        paramType(sl, storage),
                        scalarsType(rewriter.getContext())});
      std::string sumsName = "phase2_" + sl.suffix(storage) +
                             (norm ? "_norm" : "") + "_split_sums";
      split.sums = getOrCreateKernel(
          launch, sumsName, sumsTypes, sl, sumsWidth, 0,
          [&](KernelShell &k) { buildPhase2SumsKernel(k, sl, norm); });
      SmallVector<Type> finishTypes(argTypes);
      finishTypes.push_back(scalarsType(rewriter.getContext()));
      split.finish = getOrCreateKernel(
          launch, name + "_split", finishTypes, sl, 0, 0, [&](KernelShell &k) {
            buildPhase2SplitKernel(k, sl, norm, writeResult,
                                   split.choice.maxSplits);
          });
      split.floatsPerSplit = sumsWidth;
      split.sumsThreads = split.finishThreads = sl.blockThreads();
    }

    SmallVector<Value> operands = {
        launch.readRows(op.getState()),
        launch.readRows(op.getLse(), /*perToken=*/true),
        launch.readRows(op.getPartial()),
        launch.readParam(op.getQuery(), l.dim),
        launch.readParam(op.getKeyNormWeight(), l.dim),
        f32Attr(rewriter, loc, op.getEpsilonAttr())};
    if (norm) {
      operands.push_back(launch.readParam(op.getNormWeight(), l.dim));
      operands.push_back(f32Attr(rewriter, loc, op.getNormEpsilonAttr()));
    }
    Value result, normalized;
    if (writeResult)
      operands.push_back(launch.allocRows(type, op.getState(), result));
    if (norm)
      operands.push_back(launch.allocRows(type, op.getState(), normalized));
    // The sums kernel's operands: [state,] partial, q, k.
    if (norm)
      split.sumsOperands.push_back(operands[0]);
    split.sumsOperands.append({operands[2], operands[3], operands[4]});
    split.finishOperands = operands;
    launch.launch(kernel, l, launch.numRows(operands[0]), operands,
                  split.choice.mode == SplitChoice::Never ? nullptr : &split);
    if (!writeResult)
      result = tensor::EmptyOp::create(
          rewriter, loc, tensor::getMixedSizes(rewriter, loc, op.getState()),
          storage);
    SmallVector<Value> results = {result};
    if (norm)
      results.push_back(normalized);
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// Phase 1 and the one-shot aggregation share a kernel: n sources scored for
/// s layers. `block_attn_res` is s = 1 over all its sources, without lse.
template <typename OpTy> struct AggregateToGPU : KernelPattern<OpTy> {
  using KernelPattern<OpTy>::KernelPattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    constexpr bool isPhase1 = std::is_same_v<OpTy, Phase1Op>;
    SmallVector<Value> sources, queries, keys;
    if constexpr (isPhase1) {
      sources = llvm::to_vector(op.getBlocks());
      queries = llvm::to_vector(op.getQueries());
      keys = llvm::to_vector(op.getKeyNormWeights());
    } else {
      sources = llvm::to_vector(op.getSources());
      queries = {op.getQuery()};
      keys = {op.getKeyNormWeight()};
    }
    auto type = cast<RankedTensorType>(sources.front().getType());
    if (failed(checkLowerable(rewriter, op, type)))
      return failure();
    Type storage = type.getElementType();
    int64_t n = sources.size(), s = queries.size();
    // At most 256 threads per row, past max-vectors-per-thread if need be:
    // pass 1 keeps S sums and the layers' products in flight, and 512
    // threads would cap a thread at 128 registers (f32, D = 7168, S = 16
    // spilled 1 KB per thread there; 166 registers and none at 256).
    RowLayout l =
        RowLayout::get(type.getShape().back(), storage, this->maxChunks,
                       /*oneRowPerBlock=*/true, kMaxAggregateThreads);
    Launcher launch(rewriter, op);
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();

    SmallVector<Type> argTypes(n, rowsType(l, storage));
    argTypes.push_back(MemRefType::get({s, l.dim}, f32));
    argTypes.push_back(f32);
    argTypes.push_back(rowsType(l, storage));
    if (isPhase1)
      argTypes.push_back(scalarsType(rewriter.getContext()));
    std::string name = (isPhase1 ? "phase1_" : "block_attn_res_") +
                       l.suffix(storage) + "_n" + std::to_string(n);
    if (isPhase1)
      name += "_s" + std::to_string(s);
    // Split launches: the sums a warp per (row, split, source), the finish
    // kSplitFinishWarps per (row, split).
    RowLayout sl = RowLayout::forSplit(l.dim, storage, /*warps=*/1);
    RowLayout fl = RowLayout::forSplit(l.dim, storage, kSplitFinishWarps);
    SplitLaunch split;
    split.choice = SplitChoice::get(type, sl, this->minCTAs);
    gpu::GPUFuncOp kernel;
    if (split.choice.mode != SplitChoice::Always)
      kernel = getOrCreateKernel(
          launch, name, argTypes, l, s + 1, n * s,
          [&](KernelShell &k) { buildAggregateKernel(k, l, n, s, isPhase1); });
    if (split.choice.mode != SplitChoice::Never) {
      MLIRContext *ctx = rewriter.getContext();
      SmallVector<Type> sumsTypes(n, rowsType(sl, storage));
      sumsTypes.append({MemRefType::get({s, l.dim}, f32), scalarsType(ctx)});
      split.sums = getOrCreateKernel(
          launch, name + "_split_sums", sumsTypes, sl, s + 1, 0,
          [&](KernelShell &k) { buildAggregateSumsKernel(k, sl, n, s); });
      SmallVector<Type> finishTypes(n, rowsType(fl, storage));
      finishTypes.append({f32, rowsType(fl, storage)});
      if (isPhase1)
        finishTypes.push_back(scalarsType(ctx));
      finishTypes.push_back(scalarsType(ctx));
      split.finish =
          getOrCreateKernel(launch, name + "_split", finishTypes, fl, 0, n * s,
                            [&](KernelShell &k) {
                              buildAggregateSplitKernel(k, fl, n, s, isPhase1,
                                                        split.choice.maxSplits);
                            });
      split.sumsGridZ = n;
      split.sumsThreads = sl.blockThreads();
      split.finishThreads = fl.blockThreads();
      split.floatsPerSplit = n * (s + 1);
    }

    SmallVector<Value> operands;
    for (Value v : sources)
      operands.push_back(launch.readRows(v));
    for (Value &v : queries)
      v = launch.staticParam(v, l.dim);
    for (Value &v : keys)
      v = launch.staticParam(v, l.dim);
    operands.push_back(launch.readStatic(
        buildLayerWeights(rewriter, loc, queries, keys, l.dim)));
    operands.push_back(f32Attr(rewriter, loc, op.getEpsilonAttr()));
    SmallVector<Value> results(isPhase1 ? 2 * s : 1);
    MutableArrayRef<Value> all(results);
    operands.push_back(
        launch.allocStacked(type, sources.front(), s, all.take_front(s)));
    if constexpr (isPhase1)
      operands.push_back(launch.allocStacked(
          cast<RankedTensorType>(op.getLse().front().getType()),
          sources.front(), s, all.drop_front(s), /*perToken=*/true));
    // The sums kernel's operands: the sources and the products; the
    // finishing kernel's: the sources, eps, the outputs [and lse].
    ArrayRef<Value> ops = operands;
    split.sumsOperands = llvm::to_vector(ops.take_front(n + 1));
    split.finishOperands = llvm::to_vector(ops.take_front(n));
    llvm::append_range(split.finishOperands, ops.drop_front(n + 1));
    launch.launch(kernel, l, launch.numRows(operands[0]), operands,
                  split.choice.mode == SplitChoice::Never ? nullptr : &split);
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// What bufferization's deallocation needs to know of a launch: it reads and
/// writes its buffers, and keeps none of them past its return (launches
/// outside async regions are synchronous).
struct LaunchFuncMemoryEffects
    : MemoryEffectOpInterface::ExternalModel<LaunchFuncMemoryEffects,
                                             gpu::LaunchFuncOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
                 &effects) const {
    // A launch is never dead: after gpu-to-llvm its buffers are pointers,
    // and the kernel may write through any of them.
    effects.emplace_back(MemoryEffects::Write::get());
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<BaseMemRefType>(operand.get().getType()))
        continue;
      effects.emplace_back(MemoryEffects::Read::get(), &operand);
      effects.emplace_back(MemoryEffects::Write::get(), &operand);
    }
  }
};

/// The ops --attnres-to-gpu turns into kernels.
bool hasKernel(Operation *op) {
  return isa<RMSNormOp, Phase1Op, Phase2Op, BlockAttnResOp>(op);
}

struct ConvertAttnResToGPUPass
    : attnres::impl::ConvertAttnResToGPUBase<ConvertAttnResToGPUPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    // The products of non-constant queries and key norms are linalg ops
    // (buildLayerWeights).
    registry.insert<linalg::LinalgDialect, tensor::TensorDialect>();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (maxVectorsPerThread < 1) {
      getOperation().emitError("max-vectors-per-thread must be at least 1");
      return signalPassFailure();
    }
    if (minCTAs < 0) {
      getOperation().emitError("min-ctas must not be negative");
      return signalPassFailure();
    }
    RewritePatternSet patterns(ctx);
    patterns.add<RMSNormToGPU, Phase2ToGPU, AggregateToGPU<Phase1Op>,
                 AggregateToGPU<BlockAttnResOp>>(ctx, maxVectorsPerThread,
                                                 minCTAs);
    // Only the attnres ops are rewritten; the launch sequences must stay as
    // built (a folded cast would change a kernel's argument types).
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    config.enableFolding(false);
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (hasKernel(op))
        ops.push_back(op);
    });
    if (failed(applyOpPatternsGreedily(ops, std::move(patterns), config)))
      return signalPassFailure();
    // What the kernels cannot take (f64, a dynamic feature size) is an
    // error, not a silent CPU fallback on a GPU target.
    WalkResult result = getOperation().walk([&](Operation *op) {
      if (!hasKernel(op))
        return WalkResult::advance();
      op->emitError("cannot lower to a GPU kernel: the kernels take f32, f16 "
                    "or bf16 tensors with a static last dimension");
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::attnres::registerLaunchFuncMemoryEffects(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, gpu::GPUDialect *) {
    gpu::LaunchFuncOp::attachInterface<LaunchFuncMemoryEffects>(*ctx);
  });
}
