//===- GPUAsync.cpp - One chain of GPU work per run, waited for rarely ----===//
//
// gpu-to-llvm lowers a synchronous gpu.launch_func to a launch followed by
// a stream synchronization: a model's hundred kernels then cost a hundred
// round trips between host and GPU, each longer than most of the kernels.
// Chaining the work through async tokens lets the host queue it all and
// wait only where it reads what the GPU wrote.
//
//===----------------------------------------------------------------------===//

#include "attnres/Transforms/Passes.h"

#include "attnres/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_GPUASYNC
#include "attnres/Transforms/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {

/// GPU work that gpu-to-llvm lowers in its async form only (device
/// allocations included), or that would otherwise synchronize. Managed
/// allocations have no async form.
bool isChainable(Operation *op) {
  auto async = dyn_cast<gpu::AsyncOpInterface>(op);
  if (!async || async.getAsyncToken())
    return false;
  if (auto alloc = dyn_cast<gpu::AllocOp>(op))
    return !alloc.getHostShared();
  return isa<gpu::LaunchFuncOp, gpu::MemcpyOp, gpu::MemsetOp, gpu::DeallocOp>(
      op);
}

bool containsChainable(Operation *op) {
  return op
      ->walk([](Operation *nested) {
        return isChainable(nested) ? WalkResult::interrupt()
                                   : WalkResult::advance();
      })
      .wasInterrupted();
}

/// Whether `buffer` is host memory that no GPU work reads or writes: a heap
/// or stack buffer that --attnres-alloc-to-gpu left on the host, or a view
/// of one.
bool isHostBuffer(Value buffer) {
  while (Operation *def = buffer.getDefiningOp()) {
    if (isa<memref::AllocOp, memref::AllocaOp>(def))
      return true;
    if (auto metadata = dyn_cast<memref::ExtractStridedMetadataOp>(def))
      buffer = metadata.getSource();
    else if (auto transpose = dyn_cast<memref::TransposeOp>(def))
      buffer = transpose.getIn();
    else if (auto view = dyn_cast<ViewLikeOpInterface>(def))
      buffer = view.getViewSource();
    else
      return false;
  }
  return false;
}

/// A call of a function of this module that touches nothing but the host
/// buffers it is passed (bufferization's dealloc_helper).
bool isHostOnlyCall(Operation *op) {
  auto call = dyn_cast<func::CallOp>(op);
  if (!call || !llvm::all_of(call.getOperands(), [](Value operand) {
        return !isa<BaseMemRefType>(operand.getType()) || isHostBuffer(operand);
      }))
    return false;
  auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  if (!callee || callee.isExternal())
    return false;
  return !callee
              .walk([](Operation *nested) {
                bool reachesOut =
                    isa<memref::GetGlobalOp, CallOpInterface>(nested) ||
                    isa<gpu::GPUDialect>(nested->getDialect());
                return reachesOut ? WalkResult::interrupt()
                                  : WalkResult::advance();
              })
              .wasInterrupted();
}

/// Whether host code at `op` may see memory that queued GPU work uses.
bool needsWait(Operation *op) {
  if (isMemoryEffectFree(op) || attnres::isCublasCall(op) ||
      isHostOnlyCall(op) ||
      isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp, gpu::AllocOp>(
          op))
    return false;
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return !isHostBuffer(load.getMemRef());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return !isHostBuffer(store.getMemRef());
  if (auto copy = dyn_cast<memref::CopyOp>(op))
    return !isHostBuffer(copy.getSource()) || !isHostBuffer(copy.getTarget());
  return true;
}

/// Chains the GPU work of a function whose control flow is blocks and
/// branches (scf lowered to cf before). gpu-to-llvm tells a token that is a
/// stream from one that is an event by the op defining it, so a token
/// cannot be a block argument: it flows into a block whose one predecessor
/// comes before it, and any other block starts a chain of its own. Chains
/// stay in order because every stream the lowered code creates on a thread
/// is the runtime's one stream of that thread; so a wait for any token is a
/// wait for all the work queued before it.
class Chainer {
public:
  explicit Chainer(MLIRContext *context)
      : rewriter(context), tokenType(gpu::AsyncTokenType::get(context)) {}

  void run(func::FuncOp func) {
    Region &body = func.getBody();
    llvm::DenseMap<Block *, unsigned> order;
    for (auto [i, block] : llvm::enumerate(body))
      order[&block] = i;
    llvm::DenseMap<Block *, Chain> ends;
    for (Block &block : body) {
      // Work queued before may be pending on entry to any other block.
      Chain start{Value(), !block.isEntryBlock()};
      if (Block *pred = block.getSinglePredecessor();
          pred && order.lookup(pred) < order.lookup(&block))
        start = ends.lookup(pred);
      ends[&block] = chain(block, start);
    }
  }

private:
  /// The token of the last work queued in the block so far (null before the
  /// block queues any), and whether work may be pending that nothing
  /// waited for.
  struct Chain {
    Value token;
    bool pending = false;
  };

  Chain chain(Block &block, Chain chain) {
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (isChainable(&op)) {
        chain.token = makeAsync(&op, chain.token ? chain.token : fresh(&op));
        chain.pending = true;
        continue;
      }
      if (op.getNumRegions() != 0 && containsChainable(&op)) {
        chain = wait(&op, chain);
        for (Region &region : op.getRegions())
          for (Block &nested : region)
            if (!nested.empty())
              wait(nested.getTerminator(), this->chain(nested, Chain()));
        continue;
      }
      if (op.getNumRegions() != 0) {
        // Host work: it waits inside where it must; queued work goes on.
        for (Region &region : op.getRegions())
          for (Block &nested : region)
            this->chain(nested, chain);
        continue;
      }
      if (isa<func::ReturnOp>(op) || needsWait(&op))
        chain = wait(&op, chain);
    }
    return chain;
  }

  /// Waits before `op` for what may be pending. Without a token of this
  /// block to wait for, it asks the runtime to wait for the thread's stream:
  /// a gpu.wait for a token of a new chain is a no-op to the canonicalizer.
  Chain wait(Operation *op, Chain chain) {
    if (!chain.pending)
      return chain;
    rewriter.setInsertionPoint(op);
    if (chain.token) {
      gpu::WaitOp::create(rewriter, op->getLoc(), Type(),
                          ValueRange{chain.token});
    } else {
      func::CallOp::create(rewriter, op->getLoc(), attnres::kCudaSynchronizeFn,
                           TypeRange());
      synchronizes = true;
    }
    return Chain();
  }

public:
  /// Whether a wait called the runtime.
  bool synchronizes = false;

private:
  /// A new chain before `op` (a stream: the runtime's one per thread).
  Value fresh(Operation *op) {
    rewriter.setInsertionPoint(op);
    return gpu::WaitOp::create(rewriter, op->getLoc(), tokenType, ValueRange())
        .getAsyncToken();
  }

  /// `op` in its async form, after `token`; returns its token.
  Value makeAsync(Operation *op, Value token) {
    cast<gpu::AsyncOpInterface>(op).addAsyncDependency(token);
    SmallVector<Type> types(op->getResultTypes());
    types.push_back(tokenType);
    Operation *async = Operation::create(
        op->getLoc(), op->getName(), types, op->getOperands(),
        op->getDiscardableAttrDictionary(), op->getPropertiesStorage(),
        op->getSuccessors(), op->getNumRegions());
    rewriter.setInsertionPoint(op);
    rewriter.insert(async);
    rewriter.replaceOp(op, async->getResults().drop_back());
    return async->getResults().back();
  }

  IRRewriter rewriter;
  Type tokenType;
};

struct GPUAsyncPass : attnres::impl::GPUAsyncBase<GPUAsyncPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    Chainer chainer(&getContext());
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && containsChainable(func))
        chainer.run(func);
    if (!chainer.synchronizes ||
        module.lookupSymbol(attnres::kCudaSynchronizeFn))
      return;
    auto builder = OpBuilder::atBlockEnd(module.getBody());
    auto callee = func::FuncOp::create(
        builder, module.getLoc(), attnres::kCudaSynchronizeFn,
        builder.getFunctionType(TypeRange(), TypeRange()));
    callee.setPrivate();
  }
};

} // namespace
