//===- ParallelToRuntime.cpp - Outer parallel loops on the runtime's pool -===//
//
// Outlines each outermost scf.parallel on buffers into a function of a range
// of its outer iterations, with the values it reads passed through a
// context on the stack, and calls attnres_parallel_for on it. Memref
// descriptors cross the boundary as the LLVM structs finalize-memref-to-llvm
// makes of them: unrealized casts on both sides, which
// reconcile-unrealized-casts removes once everything is LLVM.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTPARALLELTORUNTIME
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Marks the functions this pass outlines.
constexpr llvm::StringLiteral kBodyAttr = "attnres.parallel_body";

/// Whether `value` is computed by an op that can be copied into the body: a
/// constant.
bool isCopiedIn(Value value) {
  Operation *def = value.getDefiningOp();
  return def && def->hasTrait<OpTrait::ConstantLike>() &&
         def->getNumOperands() == 0 && def->getNumRegions() == 0;
}

/// The LLVM type a value crosses the boundary as, or null when it cannot.
Type contextType(LLVMTypeConverter &converter, Type type) {
  if (auto memref = dyn_cast<MemRefType>(type))
    return converter.convertType(memref);
  if (isa<IndexType>(type))
    return IntegerType::get(type.getContext(), 64);
  if (isa<FloatType>(type) || type.isSignlessInteger())
    return type;
  return {};
}

/// Trip count of a loop dimension with constant bounds, or -1.
int64_t staticTrips(Value lb, Value ub, Value step) {
  APInt l, u, s;
  if (!matchPattern(lb, m_ConstantInt(&l)) ||
      !matchPattern(ub, m_ConstantInt(&u)) ||
      !matchPattern(step, m_ConstantInt(&s)) || s.getSExtValue() <= 0)
    return -1;
  return std::max<int64_t>(
      0,
      llvm::divideCeil(u.getSExtValue() - l.getSExtValue(), s.getSExtValue()));
}

int64_t saturatingMul(int64_t a, int64_t b) {
  return a && b > INT64_MAX / a ? INT64_MAX : a * b;
}

/// Iterations of the deepest nest of static scf.for loops in `region`, at
/// least 1: a reduction's rows (a norm's sum over 512 features, a softmax's
/// max over the keys) are few, but each is a loop of its own.
int64_t innerWork(Region &region) {
  int64_t most = 1;
  for (Block &block : region)
    for (auto inner : block.getOps<scf::ForOp>()) {
      int64_t trips = staticTrips(inner.getLowerBound(), inner.getUpperBound(),
                                  inner.getStep());
      most = std::max(most, saturatingMul(std::max<int64_t>(trips, 1),
                                          innerWork(inner.getRegion())));
    }
  return most;
}

/// Static iteration count of `loop` times that of the loops it holds, or -1
/// when a bound of `loop` is dynamic.
int64_t staticWork(scf::ParallelOp loop) {
  int64_t work = innerWork(loop.getRegion());
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    int64_t trips = staticTrips(lb, ub, step);
    if (trips < 0)
      return -1;
    work = saturatingMul(trips, work);
  }
  return work;
}

/// The dimension to split: the first whose static trip count is more than
/// one, or the first dynamic one.
unsigned splitDimension(scf::ParallelOp loop) {
  for (unsigned d = 0; d < loop.getNumLoops(); ++d) {
    // scf.parallel's verifier keeps constant steps positive: -1 here means
    // a dynamic bound.
    int64_t trips = staticTrips(loop.getLowerBound()[d],
                                loop.getUpperBound()[d], loop.getStep()[d]);
    if (trips < 0 || trips > 1)
      return d;
  }
  return 0;
}

/// With dynamic shapes the outer dims of a loop are a batch and a sequence
/// whose sizes only a run knows, and a batch of 1 splits into one chunk.
/// Collapses the leading dims that are dynamic or of one trip (and, after a
/// lone dynamic one, the next) into one, so that the split covers all of
/// them; returns the loop that replaces `loop`, or `loop`.
scf::ParallelOp collapseLeadingDims(IRRewriter &rewriter,
                                    scf::ParallelOp loop) {
  unsigned numLoops = loop.getNumLoops(), prefix = 0;
  bool dynamic = false;
  for (; prefix < numLoops; ++prefix) {
    int64_t trips =
        staticTrips(loop.getLowerBound()[prefix], loop.getUpperBound()[prefix],
                    loop.getStep()[prefix]);
    if (trips > 1)
      break;
    dynamic |= trips < 0;
  }
  if (!dynamic)
    return loop;
  if (prefix == 1)
    prefix = 2;
  if (prefix < 2 || prefix > numLoops)
    return loop;
  SmallVector<std::vector<unsigned>> groups(1);
  for (unsigned d = 0; d < numLoops; ++d) {
    if (d < prefix)
      groups.front().push_back(d);
    else
      groups.push_back({d});
  }
  Operation *next = loop->getNextNode();
  collapseParallelLoops(rewriter, loop, groups);
  return cast<scf::ParallelOp>(next->getPrevNode());
}

struct ConvertParallelToRuntimePass
    : attnres::impl::ConvertParallelToRuntimeBase<
          ConvertParallelToRuntimePass> {
  using ConvertParallelToRuntimeBase::ConvertParallelToRuntimeBase;

  /// Why `loop` stays serial, or "" when it can be outlined.
  StringRef reject(scf::ParallelOp loop, LLVMTypeConverter &converter,
                   SetVector<Value> &captures) {
    if (!loop.getInitVals().empty())
      return "reduces";
    int64_t work = staticWork(loop);
    if (work >= 0 && work < minWork)
      return "too little work";
    WalkResult walk = loop.getRegion().walk([](Operation *op) {
      if (isa<CallOpInterface, memref::AllocOp, memref::AllocaOp>(op) ||
          isa<LLVM::LLVMDialect>(op->getDialect()))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return "calls or allocates";
    getUsedValuesDefinedAbove(loop.getRegion(), captures);
    for (Value v : loop->getOperands())
      captures.insert(v);
    for (Value v : captures)
      if (!isCopiedIn(v) && !contextType(converter, v.getType()))
        return "reads a value of another type";
    return "";
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    LLVMTypeConverter converter(ctx);
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);
    auto bodyType = FunctionType::get(ctx, {ptrType, i64, i64}, {});

    SmallVector<scf::ParallelOp> loops;
    module.walk([&](scf::ParallelOp loop) {
      auto parent = loop->getParentOfType<func::FuncOp>();
      // A body this pass made already runs on the pool: its loop stays.
      if (!loop->getParentOfType<scf::ParallelOp>() && parent &&
          !parent->hasAttr(kBodyAttr))
        loops.push_back(loop);
    });

    SymbolTable symbols(module);
    bool declared = false;
    unsigned counter = 0;
    IRRewriter rewriter(ctx);
    for (scf::ParallelOp loop : loops) {
      loop = collapseLeadingDims(rewriter, loop);
      SetVector<Value> captures;
      if (!reject(loop, converter, captures).empty())
        continue;
      auto parent = loop->getParentOfType<func::FuncOp>();
      if (!declared && !symbols.lookup(kParallelForFn)) {
        OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
        auto decl = func::FuncOp::create(
            b, module.getLoc(), kParallelForFn,
            b.getFunctionType({bodyType, ptrType, i64}, {}));
        decl.setPrivate();
        symbols.insert(decl);
      }
      declared = true;
      outline(loop, parent, captures, converter, bodyType, symbols, counter++);
    }
  }

  void outline(scf::ParallelOp loop, func::FuncOp parent,
               const SetVector<Value> &captures, LLVMTypeConverter &converter,
               FunctionType bodyType, SymbolTable &symbols, unsigned index) {
    MLIRContext *ctx = &getContext();
    Location loc = loop.getLoc();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);

    SmallVector<Value> passed;
    SmallVector<Type> fields;
    for (Value v : captures)
      if (!isCopiedIn(v)) {
        passed.push_back(v);
        fields.push_back(contextType(converter, v.getType()));
      }
    auto contextStruct = LLVM::LLVMStructType::getLiteral(ctx, fields);

    // The body: a function of [begin, end) of the split dimension.
    OpBuilder moduleBuilder(parent);
    moduleBuilder.setInsertionPointAfter(parent);
    auto body = func::FuncOp::create(
        moduleBuilder, loc,
        (parent.getSymName() + "_parallel" + Twine(index)).str(), bodyType);
    body.setPrivate();
    body->setAttr(kBodyAttr, UnitAttr::get(ctx));
    symbols.insert(body);
    Block *entry = body.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    IRMapping mapping;
    Value context = entry->getArgument(0);
    for (Value v : captures)
      if (isCopiedIn(v))
        mapping.map(v, b.clone(*v.getDefiningOp())->getResult(0));
    for (auto [i, v] : llvm::enumerate(passed)) {
      Value at = LLVM::GEPOp::create(b, loc, ptrType, contextStruct, context,
                                     ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
      Value loaded = LLVM::LoadOp::create(b, loc, fields[i], at);
      Value local;
      if (isa<MemRefType>(v.getType()))
        local = UnrealizedConversionCastOp::create(b, loc, v.getType(), loaded)
                    .getResult(0);
      else if (isa<IndexType>(v.getType()))
        local = arith::IndexCastOp::create(b, loc, v.getType(), loaded);
      else
        local = loaded;
      mapping.map(v, local);
    }
    unsigned split = splitDimension(loop);
    Value lb = mapping.lookup(loop.getLowerBound()[split]);
    Value ub = mapping.lookup(loop.getUpperBound()[split]);
    Value step = mapping.lookup(loop.getStep()[split]);
    auto toIndex = [&](Value v) {
      return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
    };
    Value begin = arith::AddIOp::create(
        b, loc, lb,
        arith::MulIOp::create(b, loc, toIndex(entry->getArgument(1)), step));
    Value end = arith::MinSIOp::create(
        b, loc, ub,
        arith::AddIOp::create(
            b, loc, lb,
            arith::MulIOp::create(b, loc, toIndex(entry->getArgument(2)),
                                  step)));
    auto clone = cast<scf::ParallelOp>(b.clone(*loop, mapping));
    clone.getLowerBoundMutable().slice(split, 1).assign(begin);
    clone.getUpperBoundMutable().slice(split, 1).assign(end);
    func::ReturnOp::create(b, loc);

    // The call: the context in the caller's frame, filled where the loop
    // was; n is the split dimension's trip count.
    OpBuilder frame = OpBuilder::atBlockBegin(&parent.getBody().front());
    Value one =
        LLVM::ConstantOp::create(frame, loc, i64, frame.getI64IntegerAttr(1));
    Value slot =
        LLVM::AllocaOp::create(frame, loc, ptrType, contextStruct, one);
    OpBuilder call(loop);
    for (auto [i, v] : llvm::enumerate(passed)) {
      Value field = v;
      if (isa<MemRefType>(v.getType()))
        field = UnrealizedConversionCastOp::create(call, loc, fields[i], v)
                    .getResult(0);
      else if (isa<IndexType>(v.getType()))
        field = arith::IndexCastOp::create(call, loc, i64, v);
      Value at = LLVM::GEPOp::create(call, loc, ptrType, contextStruct, slot,
                                     ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
      LLVM::StoreOp::create(call, loc, field, at);
    }
    Value span = arith::SubIOp::create(call, loc, loop.getUpperBound()[split],
                                       loop.getLowerBound()[split]);
    Value stepValue = loop.getStep()[split];
    Value trips = arith::CeilDivSIOp::create(call, loc, span, stepValue);
    Value n = arith::IndexCastOp::create(call, loc, i64, trips);
    Value fn =
        func::ConstantOp::create(call, loc, bodyType, SymbolRefAttr::get(body));
    func::CallOp::create(call, loc, kParallelForFn, TypeRange{},
                         ValueRange{fn, slot, n});
    loop.erase();
  }
};

} // namespace
