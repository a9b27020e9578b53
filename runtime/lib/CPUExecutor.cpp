//===- CPUExecutor.cpp - Compile and run a module on the CPU --------------===//
//
// The entry function gets the C interface, so the JIT exposes
// _mlir_ciface_<entry>(results*, inputs*...) whose every parameter is a
// pointer to a memref descriptor; its packed wrapper lets one generic call
// site serve any arity and rank.
//
// Every function the compiled code calls outside itself is resolved here:
// the runtime's own (BLAS, memrefCopy, the allocator hooks) by registration,
// the C library's from the process, and a module that calls anything else is
// refused before the JIT sees it.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/CPUExecutor.h"

#include "attnres/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>

extern "C" void _mlir_ciface_attnres_sgemm_batched(void *, void *, void *);

using namespace mlir::attnres;
using namespace mlir;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// memref.copy between buffers that are not both contiguous, which
/// finalize-memref-to-llvm lowers to a call to `memrefCopy` (the ABI of
/// mlir_c_runner_utils' function of that name). Any write into a
/// non-contiguous slice makes one: rotary embeddings concatenating the halves
/// of the last axis, attention appending a key along the sequence axis.
/// Implemented here so that running a model needs no MLIR library.
static void copyStridedMemref(int64_t elemSize,
                              ::UnrankedMemRefType<char> *srcArg,
                              ::UnrankedMemRefType<char> *dstArg) {
  ::DynamicMemRefType<char> src(*srcArg), dst(*dstArg);
  int64_t rank = src.rank;
  for (int64_t i = 0; i < rank; ++i)
    if (src.sizes[i] == 0)
      return;
  char *srcBase = src.data + src.offset * elemSize;
  char *dstBase = dst.data + dst.offset * elemSize;
  if (rank == 0) {
    std::memcpy(dstBase, srcBase, elemSize);
    return;
  }
  // Whole rows take one memcpy when the innermost axis is contiguous on both
  // sides, as it is in a slice along the last axis; an element at a time
  // would make the copy the slowest op of a rotary embedding.
  int64_t inner = rank - 1;
  bool contiguousRows = src.strides[inner] == 1 && dst.strides[inner] == 1;
  int64_t rowBytes = contiguousRows ? src.sizes[inner] * elemSize : elemSize;
  int64_t outerRank = contiguousRows ? inner : rank;
  std::vector<int64_t> index(outerRank, 0);
  for (;;) {
    int64_t srcOffset = 0, dstOffset = 0;
    for (int64_t i = 0; i < outerRank; ++i) {
      srcOffset += index[i] * src.strides[i];
      dstOffset += index[i] * dst.strides[i];
    }
    std::memcpy(dstBase + dstOffset * elemSize, srcBase + srcOffset * elemSize,
                rowBytes);
    int64_t axis = outerRank - 1;
    for (; axis >= 0; --axis) {
      if (++index[axis] < src.sizes[axis])
        break;
      index[axis] = 0;
    }
    if (axis < 0)
      return;
  }
}

std::vector<std::pair<const char *, void *>> mlir::attnres::runtimeSymbols() {
  return {{"_mlir_ciface_attnres_sgemm_batched",
           reinterpret_cast<void *>(&_mlir_ciface_attnres_sgemm_batched)},
          {"memrefCopy", reinterpret_cast<void *>(&copyStridedMemref)}};
}

namespace {
/// The buffers the compiled code has allocated and not freed during the run
/// in progress on this thread. After a run the executor frees exactly these:
/// a result that is an input, a constant, or the same buffer as another
/// result was not allocated by the run (or is one entry), so it can never be
/// freed wrongly or twice.
thread_local llvm::DenseSet<void *> *liveAllocations = nullptr;

void *trackedMalloc(size_t size) {
  void *p = std::malloc(size);
  if (p && liveAllocations)
    liveAllocations->insert(p);
  return p;
}

// The optimizer may turn malloc + memset into calloc.
void *trackedCalloc(size_t count, size_t size) {
  void *p = std::calloc(count, size);
  if (p && liveAllocations)
    liveAllocations->insert(p);
  return p;
}

void *trackedRealloc(void *old, size_t size) {
  // Forgotten first: if realloc fails, the old block stays with the caller.
  if (liveAllocations)
    liveAllocations->erase(old);
  void *p = std::realloc(old, size);
  if (p && liveAllocations)
    liveAllocations->insert(p);
  return p;
}

void *trackedAlignedAlloc(size_t alignment, size_t size) {
  // C11 wants a size that is a multiple of the alignment.
  size = (size + alignment - 1) / alignment * alignment;
  void *p = std::aligned_alloc(alignment, size);
  if (p && liveAllocations)
    liveAllocations->insert(p);
  return p;
}

void trackedFree(void *p) {
  if (liveAllocations)
    liveAllocations->erase(p);
  std::free(p);
}

/// The allocator entry points of finalize-memref-to-llvm, plain and with
/// use-generic-functions, and those the LLVM optimizer may substitute.
std::vector<std::pair<const char *, void *>> allocatorSymbols() {
  auto *m = reinterpret_cast<void *>(&trackedMalloc);
  auto *a = reinterpret_cast<void *>(&trackedAlignedAlloc);
  auto *f = reinterpret_cast<void *>(&trackedFree);
  return {{"malloc", m},
          {"calloc", reinterpret_cast<void *>(&trackedCalloc)},
          {"realloc", reinterpret_cast<void *>(&trackedRealloc)},
          {"aligned_alloc", a},
          {"free", f},
          {"_mlir_memref_to_llvm_alloc", m},
          {"_mlir_memref_to_llvm_aligned_alloc", a},
          {"_mlir_memref_to_llvm_free", f}};
}

/// Names the external functions of a lowered module that neither `provided`
/// nor the process defines. Checked before JIT compilation because the JIT
/// only finds out while materializing the entry point, and then reports it
/// twice, once on stderr by itself and again as a lookup failure.
std::vector<std::string> unresolvedCallees(
    ModuleOp module,
    const std::vector<std::pair<const char *, void *>> &provided) {
  std::vector<std::string> missing;
  module.walk([&](LLVM::LLVMFuncOp fn) {
    if (!fn.isExternal() || fn.getName().starts_with("llvm."))
      return;
    std::string name = fn.getName().str();
    if (llvm::any_of(provided, [&](auto &p) { return name == p.first; }))
      return;
    // The JIT resolves everything else in the process, as here.
    if (!llvm::sys::DynamicLibrary::getPermanentLibrary(nullptr)
             .getAddressOfSymbol(name.c_str()))
      missing.push_back(name);
  });
  return missing;
}
} // namespace

std::string TensorSignature::describe() const {
  std::string s = dtypeName(dtype).str() + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") +
         (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return s + "]";
}

static std::optional<DType> toDType(Type type) {
  if (type.isF16())
    return DType::F16;
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  if (type.isInteger(1))
    return DType::Bool;
  if (type.isInteger(8))
    return DType::I8;
  if (type.isInteger(16))
    return DType::I16;
  if (type.isInteger(32))
    return DType::I32;
  if (type.isInteger(64))
    return DType::I64;
  return std::nullopt;
}

static llvm::Expected<TensorSignature> signatureOf(Type type,
                                                   std::string name) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  std::optional<DType> dtype =
      tensor ? toDType(tensor.getElementType()) : std::nullopt;
  if (!dtype) {
    std::string text;
    llvm::raw_string_ostream(text) << type;
    return makeError("'" + name + "' has type " + text +
                     ", which attnres-run cannot pass (ranked tensors of "
                     "f16/f32/f64/i1/i8/i16/i32/i64 only)");
  }
  TensorSignature sig{std::move(name), *dtype, {}};
  for (int64_t d : tensor.getShape())
    sig.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  return sig;
}

CPUExecutor::~CPUExecutor() = default;

/// The buffers of a run are laid out from the signature read before
/// lowering; a pipeline that changed the entry's arguments or results would
/// have the compiled code read and write past them. The lowered entry takes
/// each ranked memref as (allocated, aligned, offset, sizes, strides) and
/// returns one descriptor, or a struct of them for several results.
static llvm::Error checkLoweredSignature(ModuleOp module, StringRef entry,
                                         const CPUExecutor &executor) {
  auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(entry);
  if (!fn)
    return llvm::Error::success();
  size_t params = 0;
  for (const TensorSignature &sig : executor.inputs())
    params += 3 + 2 * sig.shape.size();
  LLVM::LLVMFunctionType type = fn.getFunctionType();
  size_t results = 0;
  Type result = type.getReturnType();
  if (auto descriptors = dyn_cast<LLVM::LLVMStructType>(result))
    results =
        llvm::all_of(descriptors.getBody(), llvm::IsaPred<LLVM::LLVMStructType>)
            ? descriptors.getBody().size()
            : 1;
  if (type.getNumParams() == params && results == executor.outputs().size())
    return llvm::Error::success();
  return makeError(
      "the pipeline changed the signature of '" + entry + "' (" +
      llvm::Twine(executor.inputs().size()) + " inputs and " +
      llvm::Twine(executor.outputs().size()) +
      " results before lowering); run signature-changing passes before "
      "attnres-run, e.g. with attnres-opt");
}

llvm::Expected<std::unique_ptr<CPUExecutor>>
CPUExecutor::create(ModuleOp module, StringRef entry, StringRef pipeline,
                    unsigned optLevel) {
  if (optLevel > 3)
    return makeError("the optimization level must be 0 to 3, got " +
                     llvm::Twine(optLevel));
  auto fn = module.lookupSymbol<func::FuncOp>(entry);
  if (!fn || fn.isExternal())
    return makeError("the module has no function '" + entry + "' to run");
  std::unique_ptr<CPUExecutor> executor(new CPUExecutor());
  auto nameOf = [](DictionaryAttr attrs, StringRef fallback, unsigned i) {
    if (attrs)
      if (auto name = attrs.getAs<StringAttr>("onnx.name"))
        return name.str();
    return (fallback + llvm::Twine(i)).str();
  };
  for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
    auto sig = signatureOf(type, nameOf(fn.getArgAttrDict(i), "arg", i));
    if (!sig)
      return sig.takeError();
    executor->inputSigs.push_back(std::move(*sig));
  }
  for (auto [i, type] : llvm::enumerate(fn.getResultTypes())) {
    auto sig = signatureOf(type, nameOf(fn.getResultAttrDict(i), "result", i));
    if (!sig)
      return sig.takeError();
    executor->outputSigs.push_back(std::move(*sig));
  }
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(module.getContext()));

  MLIRContext *context = module.getContext();
  PassManager pm(context);
  if (pipeline.empty()) {
    buildCPUPipeline(pm, CPUPipelineOptions());
  } else {
    // Accept both "a,b" and the anchored "builtin.module(a,b)".
    std::string text = pipeline.str();
    if (!StringRef(text).starts_with("builtin.module("))
      text = "builtin.module(" + text + ")";
    std::string error;
    llvm::raw_string_ostream errorStream(error);
    FailureOr<OpPassManager> parsed = parsePassPipeline(text, errorStream);
    if (failed(parsed))
      return makeError("invalid --pipeline '" + pipeline + "': " + error);
    static_cast<OpPassManager &>(pm) = *parsed;
  }
  if (failed(pm.run(module)))
    return makeError("lowering failed (see the diagnostics above)");
  if (llvm::Error error = checkLoweredSignature(module, entry, *executor))
    return std::move(error);

  std::vector<std::pair<const char *, void *>> symbols = runtimeSymbols();
  llvm::append_range(symbols, allocatorSymbols());
  std::vector<std::string> missing = unresolvedCallees(module, symbols);
  if (!missing.empty())
    return makeError("the compiled code calls " + llvm::join(missing, ", ") +
                     ", which neither the attnres runtime nor this process "
                     "provides");

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerBuiltinDialectTranslation(*context);
  registerLLVMDialectTranslation(*context);
  auto optimize = makeOptimizingTransformer(optLevel, /*sizeLevel=*/0,
                                            /*targetMachine=*/nullptr);
  ExecutionEngineOptions options;
  options.transformer = optimize;
  options.jitCodeGenOptLevel = llvm::CodeGenOpt::getLevel(int(optLevel))
                                   .value_or(llvm::CodeGenOptLevel::Aggressive);
  auto engine = ExecutionEngine::create(module, options);
  if (!engine)
    return makeError("JIT compilation failed: " +
                     llvm::toString(engine.takeError()));
  executor->engine = std::move(*engine);
  executor->engine->registerSymbols(
      [&symbols](llvm::orc::MangleAndInterner mangle) {
        llvm::orc::SymbolMap map;
        for (auto [name, address] : symbols)
          map[mangle(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                               llvm::JITSymbolFlags::Exported};
        return map;
      });
  // Looked up once here rather than by name on every run.
  std::string wrapperName = ("_mlir_ciface_" + entry).str();
  auto packed = executor->engine->lookupPacked(wrapperName);
  if (!packed)
    return makeError("compiled module lacks " + wrapperName + ": " +
                     llvm::toString(packed.takeError()));
  executor->entryFn = *packed;
  return executor;
}

namespace {
/// A memref descriptor of any rank: {allocated, aligned, offset, sizes[R],
/// strides[R]}, all 8-byte fields.
struct Descriptor {
  explicit Descriptor(size_t rank) : fields(3 + 2 * rank, 0) {}
  std::vector<int64_t> fields;
};
} // namespace

llvm::Expected<std::vector<HostArray>>
CPUExecutor::run(const NamedArrays &inputs) {
  // Match the arrays to the signature by name before touching anything.
  std::vector<const HostArray *> ordered;
  for (const TensorSignature &sig : inputSigs) {
    auto it =
        llvm::find_if(inputs, [&](auto &e) { return e.first == sig.name; });
    if (it == inputs.end()) {
      std::string expected;
      for (const TensorSignature &s : inputSigs)
        expected += "\n  " + s.name + ": " + s.describe();
      return makeError("missing input '" + sig.name +
                       "'; the model takes:" + expected);
    }
    const HostArray &array = it->second;
    bool shapeOk = array.shape.size() == sig.shape.size();
    for (size_t i = 0; shapeOk && i < sig.shape.size(); ++i)
      shapeOk = sig.shape[i] < 0 || sig.shape[i] == array.shape[i];
    if (array.dtype != sig.dtype || !shapeOk)
      return makeError("input '" + sig.name + "' is " + array.describe() +
                       " but the model takes " + sig.describe());
    ordered.push_back(&array);
  }
  for (const auto &[name, array] : inputs)
    if (llvm::none_of(inputSigs, [&](auto &s) { return s.name == name; }))
      return makeError("unexpected input '" + name +
                       "': the model has no input of that name");

  // The compiled code may update its arguments in place: pass copies.
  std::vector<std::vector<char>> buffers;
  std::vector<Descriptor> argDescs;
  for (const HostArray *array : ordered) {
    buffers.emplace_back(array->data);
    if (buffers.back().empty())
      buffers.back().resize(1);
    Descriptor d(array->shape.size());
    auto ptr = reinterpret_cast<int64_t>(buffers.back().data());
    d.fields[0] = d.fields[1] = ptr;
    int64_t stride = 1;
    for (int64_t i = int64_t(array->shape.size()) - 1; i >= 0; --i) {
      d.fields[3 + i] = array->shape[i];
      d.fields[3 + array->shape.size() + i] = stride;
      stride *= array->shape[i];
    }
    argDescs.push_back(std::move(d));
  }
  // Results come back as one struct of descriptors.
  size_t resultWords = 0;
  for (const TensorSignature &sig : outputSigs)
    resultWords += 3 + 2 * sig.shape.size();
  std::vector<int64_t> results(std::max<size_t>(resultWords, 1), 0);

  std::vector<void *> pointers;
  if (!outputSigs.empty())
    pointers.push_back(results.data());
  for (Descriptor &d : argDescs)
    pointers.push_back(d.fields.data());
  std::vector<void *> packed;
  for (void *&p : pointers)
    packed.push_back(&p);
  llvm::DenseSet<void *> allocations;
  liveAllocations = &allocations;
  entryFn(packed.data());
  liveAllocations = nullptr;

  std::vector<HostArray> outputs;
  size_t at = 0;
  for (const TensorSignature &sig : outputSigs) {
    size_t rank = sig.shape.size();
    const int64_t *d = results.data() + at;
    at += 3 + 2 * rank;
    HostArray out;
    out.dtype = sig.dtype;
    out.shape.assign(d + 3, d + 3 + rank);
    size_t elem = dtypeSize(sig.dtype);
    out.data.resize(out.numElements() * elem);
    auto *base = reinterpret_cast<const char *>(d[1]) + d[2] * elem;
    // Strided copy into C order.
    std::vector<int64_t> index(rank, 0);
    for (int64_t n = 0, e = out.numElements(); n < e; ++n) {
      int64_t offset = 0;
      for (size_t i = 0; i < rank; ++i)
        offset += index[i] * d[3 + rank + i];
      std::memcpy(out.data.data() + n * elem, base + offset * elem, elem);
      for (int64_t i = int64_t(rank) - 1; i >= 0; --i) {
        if (++index[i] < out.shape[i])
          break;
        index[i] = 0;
      }
    }
    outputs.push_back(std::move(out));
  }
  // The results, and anything the lowering failed to deallocate.
  for (void *p : allocations)
    std::free(p);
  return outputs;
}
