//===- AllocToGPU.cpp - Place each buffer where its users run -------------===//
//
// A CUDA model's buffers are read by kernels and cuBLAS, and a few by host
// code (the shapes that dynamic reshapes read). Device memory serves the GPU
// at full bandwidth with no page faults; host code cannot touch it. So each
// buffer goes where its users are, and managed memory, which both reach at
// the price of page migrations, is left for buffers both really touch.
//
//===----------------------------------------------------------------------===//

#include "attnres/Conversion/Passes.h"

#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_CONVERTALLOCTOGPU
#include "attnres/Conversion/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {

/// The values that may be one buffer at run time, as classes of a
/// union-find: a view and its source, an scf result and what its regions
/// yield for it, a block argument and what branches pass to it.
class BufferClasses {
public:
  explicit BufferClasses(func::FuncOp func) {
    func.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::LaunchOp>())
        return;
      if (auto view = dyn_cast<ViewLikeOpInterface>(op)) {
        for (Value result : op->getResults())
          if (isa<BaseMemRefType>(result.getType()))
            join(result, view.getViewSource());
      } else if (auto transpose = dyn_cast<memref::TransposeOp>(op)) {
        join(transpose.getResult(), transpose.getIn());
      } else if (auto metadata =
                     dyn_cast<memref::ExtractStridedMetadataOp>(op)) {
        join(metadata.getBaseBuffer(), metadata.getSource());
      } else if (auto yield = dyn_cast<scf::YieldOp>(op)) {
        Operation *parent = op->getParentOp();
        auto loop = dyn_cast<scf::ForOp>(parent);
        for (auto [i, value] : llvm::enumerate(yield.getOperands())) {
          if (!isa<BaseMemRefType>(value.getType()) ||
              i >= parent->getNumResults())
            continue;
          join(parent->getResult(i), value);
          if (loop) {
            join(loop.getRegionIterArgs()[i], value);
            join(loop.getInitArgs()[i], value);
          }
        }
      } else if (auto branch = dyn_cast<BranchOpInterface>(op)) {
        for (auto [s, successor] : llvm::enumerate(op->getSuccessors())) {
          OperandRange passed =
              branch.getSuccessorOperands(s).getForwardedOperands();
          unsigned first =
              branch.getSuccessorOperands(s).getProducedOperandCount();
          for (auto [i, value] : llvm::enumerate(passed))
            if (isa<BaseMemRefType>(value.getType()))
              join(successor->getArgument(first + i), value);
        }
      }
    });
  }

  Value leader(Value v) {
    Value root = v;
    for (auto it = parent.find(root); it != parent.end() && it->second != root;
         it = parent.find(root))
      root = it->second;
    // Path compression.
    while (v != root) {
      Value &up = parent[v];
      v = up;
      up = root;
    }
    return root;
  }

  /// Every value of `v`'s class.
  SmallVector<Value> members(Value v) {
    Value root = leader(v);
    SmallVector<Value> found;
    for (Value m : all)
      if (leader(m) == root)
        found.push_back(m);
    if (found.empty())
      found.push_back(v);
    return found;
  }

private:
  void join(Value a, Value b) {
    for (Value v : {a, b})
      if (all.insert(v))
        parent.try_emplace(v, v);
    Value ra = leader(a), rb = leader(b);
    if (ra != rb)
      parent[ra] = rb;
  }

  llvm::DenseMap<Value, Value> parent;
  llvm::SetVector<Value> all;
};

/// What a buffer's users need of its memory.
struct Users {
  bool device = false;
  /// Host ops other than stores into it: loads, copies, unknown ops.
  bool hostReads = false;
  SmallVector<memref::StoreOp> hostStores;
  SmallVector<memref::AllocOp> allocs;
};

bool isForwarding(Operation *user, Value used) {
  if (auto view = dyn_cast<ViewLikeOpInterface>(user))
    return view.getViewSource() == used;
  return isa<memref::TransposeOp, memref::ExtractStridedMetadataOp,
             scf::YieldOp, BranchOpInterface>(user);
}

/// Records what `user` does with `used`, a value of the class.
void classify(Operation *user, Value used, Users &users) {
  if (user->getParentOfType<gpu::LaunchOp>() ||
      isa<gpu::LaunchFuncOp, gpu::MemcpyOp, gpu::MemsetOp>(user)) {
    users.device = true;
    return;
  }
  if (isForwarding(user, used) ||
      isa<func::ReturnOp, memref::DeallocOp, memref::DimOp,
          memref::ExtractAlignedPointerAsIndexOp>(user))
    return;
  if (attnres::isCublasCall(user)) {
    users.device = true;
    return;
  }
  if (auto store = dyn_cast<memref::StoreOp>(user);
      store && store.getMemRef() == used && store.getValue() != used) {
    users.hostStores.push_back(store);
    return;
  }
  users.hostReads = true;
}

Users collectUsers(BufferClasses &classes, Value buffer) {
  Users users;
  for (Value member : classes.members(buffer)) {
    if (auto alloc = member.getDefiningOp<memref::AllocOp>())
      users.allocs.push_back(alloc);
    for (OpOperand &use : member.getUses())
      classify(use.getOwner(), member, users);
  }
  return users;
}

/// Runs `store` on the GPU, as a one-thread launch where it stood.
void storeOnDevice(OpBuilder &builder, memref::StoreOp store) {
  builder.setInsertionPoint(store);
  Location loc = store.getLoc();
  Value one = arith::ConstantIndexOp::create(builder, loc, 1);
  auto launch =
      gpu::LaunchOp::create(builder, loc, one, one, one, one, one, one);
  Block &body = launch.getBody().front();
  builder.setInsertionPointToEnd(&body);
  auto terminator = gpu::TerminatorOp::create(builder, loc);
  store->moveBefore(terminator);
}

/// A managed copy of `source` (device memory), made where `source` is
/// defined, that replaces it for every user.
LogicalResult copyToManaged(OpBuilder &builder, Value source) {
  auto type = dyn_cast<MemRefType>(source.getType());
  if (!type || !type.getLayout().isIdentity())
    return failure();
  if (auto arg = dyn_cast<BlockArgument>(source))
    builder.setInsertionPointToStart(arg.getOwner());
  else
    builder.setInsertionPointAfterValue(source);
  Location loc = source.getLoc();
  SmallVector<Value> sizes;
  for (auto [i, size] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(size))
      sizes.push_back(memref::DimOp::create(builder, loc, source, i));
  Value copy = gpu::AllocOp::create(builder, loc, type, /*asyncToken=*/Type(),
                                    ValueRange(), sizes, ValueRange(),
                                    /*hostShared=*/true)
                   .getMemref();
  auto memcpy = gpu::MemcpyOp::create(builder, loc, /*asyncToken=*/Type(),
                                      ValueRange(), copy, source);
  SmallPtrSet<Operation *, 4> keep = {memcpy};
  for (Value size : sizes)
    keep.insert(size.getDefiningOp());
  source.replaceAllUsesExcept(copy, keep);
  return success();
}

/// A host copy that the driver can make instead: both sides contiguous and
/// not host-side shape operands (index). Rank-0 copies stay copies after
/// --attnres-copies-to-linalg, which would cost a launch each.
bool isDriverCopy(memref::CopyOp copy) {
  auto source = dyn_cast<MemRefType>(copy.getSource().getType());
  auto target = dyn_cast<MemRefType>(copy.getTarget().getType());
  return source && target && source.getLayout().isIdentity() &&
         target.getLayout().isIdentity() && !source.getElementType().isIndex();
}

struct ConvertAllocToGPUPass
    : attnres::impl::ConvertAllocToGPUBase<ConvertAllocToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && failed(place(module, func)))
        return signalPassFailure();
  }

  LogicalResult place(ModuleOp module, func::FuncOp func) {
    OpBuilder builder(func.getContext());
    SmallVector<memref::CopyOp> copies;
    func.walk([&](memref::CopyOp copy) {
      if (!copy->getParentOfType<gpu::LaunchOp>() && isDriverCopy(copy))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      builder.setInsertionPoint(copy);
      gpu::MemcpyOp::create(builder, copy.getLoc(), /*asyncToken=*/Type(),
                            ValueRange(), copy.getTarget(), copy.getSource());
      copy.erase();
    }
    BufferClasses classes(func);

    // Inputs and constants are GPU memory: what host code reads of them, it
    // reads from a copy it can reach.
    // A private function's arguments are its callers' buffers, which the
    // callers' calls (host uses) already placed.
    SmallVector<Value> roots;
    if (func.isPublic())
      for (BlockArgument arg : func.getArguments())
        if (isa<BaseMemRefType>(arg.getType()))
          roots.push_back(arg);
    func.walk([&](memref::GetGlobalOp global) { roots.push_back(global); });
    for (Value root : roots) {
      Users users = collectUsers(classes, root);
      if (!users.hostReads && users.hostStores.empty())
        continue;
      auto global = root.getDefiningOp<memref::GetGlobalOp>();
      if (global && !users.device && users.allocs.empty()) {
        global.setNameAttr(FlatSymbolRefAttr::get(
            global.getContext(), hostCopy(module, global.getName())));
        continue;
      }
      if (failed(copyToManaged(builder, root)))
        return func.emitError("host code reads ")
               << (global ? "the constant '" + global.getName().str() + "'"
                          : std::string("an argument"))
               << " that kernels read too, and its layout is not the "
                  "identity, so it cannot be copied where both reach it";
    }
    // The copies are new values; classes are rebuilt over them.
    BufferClasses updated(func);

    SmallVector<memref::AllocOp> allocs;
    func.walk([&](memref::AllocOp alloc) {
      if (!alloc->getParentOfType<gpu::LaunchOp>() &&
          alloc.getSymbolOperands().empty())
        allocs.push_back(alloc);
    });
    enum class Memory { Host, Device, Managed };
    llvm::DenseMap<Operation *, Memory> placement;
    for (memref::AllocOp alloc : allocs) {
      if (placement.count(alloc))
        continue;
      Users users = collectUsers(updated, alloc.getMemref());
      // Host stores into device memory run on the GPU; managed memory
      // keeps them on the host.
      Memory memory = !users.device                ? Memory::Host
                      : managed || users.hostReads ? Memory::Managed
                                                   : Memory::Device;
      if (memory == Memory::Device)
        for (memref::StoreOp store : users.hostStores)
          storeOnDevice(builder, store);
      for (memref::AllocOp member : users.allocs)
        placement[member] = memory;
    }

    // Frees follow their buffers.
    SmallVector<memref::DeallocOp> deallocs;
    func.walk([&](memref::DeallocOp dealloc) {
      if (!dealloc->getParentOfType<gpu::LaunchOp>())
        deallocs.push_back(dealloc);
    });
    for (memref::DeallocOp dealloc : deallocs) {
      Users users = collectUsers(updated, dealloc.getMemref());
      if (users.allocs.empty() ||
          placement.lookup(users.allocs.front()) == Memory::Host)
        continue;
      builder.setInsertionPoint(dealloc);
      gpu::DeallocOp::create(builder, dealloc.getLoc(), /*asyncToken=*/Type(),
                             ValueRange(), dealloc.getMemref());
      dealloc.erase();
    }

    for (memref::AllocOp alloc : allocs) {
      Memory memory = placement.lookup(alloc);
      if (memory == Memory::Host)
        continue;
      builder.setInsertionPoint(alloc);
      auto replacement = gpu::AllocOp::create(
          builder, alloc.getLoc(), alloc.getType(), /*asyncToken=*/Type(),
          ValueRange(), alloc.getDynamicSizes(), ValueRange(),
          /*hostShared=*/memory == Memory::Managed);
      alloc.replaceAllUsesWith(replacement.getMemref());
      alloc.erase();
    }
    return success();
  }

  /// The name of a host-only copy of the constant global `name`, made once.
  static StringRef hostCopy(ModuleOp module, StringRef name) {
    std::string copyName = (name + attnres::kHostGlobalSuffix).str();
    SymbolTable symbols(module);
    if (auto existing = symbols.lookup<memref::GlobalOp>(copyName))
      return existing.getSymName();
    auto original = symbols.lookup<memref::GlobalOp>(name);
    OpBuilder builder(original.getContext());
    builder.setInsertionPointAfter(original);
    auto copy = cast<memref::GlobalOp>(builder.clone(*original));
    copy.setSymName(copyName);
    symbols.insert(copy);
    return copy.getSymName();
  }
};

} // namespace
