//===- Artifact.cpp - Models as shared libraries --------------------------===//
//
// The entry function gets MLIR's C interface, _mlir_ciface_<entry>(results*,
// inputs*...), whose every parameter is a pointer to a memref descriptor; a
// packed wrapper, attnres_artifact_entry(void **), lets the runtime call any
// arity and rank from one call site, and the signature travels as a string
// constant beside it. The JIT and attnres-compile share all of this, so an
// artifact and a JIT run execute the same code through the same runtime.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/Artifact/Artifact.h"

#include "attnres/Conversion/Passes.h"
#include "attnres/Pipelines/Pipelines.h"
#include "attnres/Target/ONNX/ONNXImport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::attnres;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

OwningOpRef<ModuleOp>
mlir::attnres::loadModel(StringRef path, MLIRContext *context,
                         llvm::SourceMgr &sourceMgr,
                         const ONNXImportOptions &options) {
  if (path.ends_with(".onnx"))
    return importONNXFile(path, context, options);
  return parseSourceFile<ModuleOp>(path, sourceMgr, context);
}

//===----------------------------------------------------------------------===//
// Lowering for execution
//===----------------------------------------------------------------------===//

static std::optional<attnres_dtype> toDType(Type type) {
  if (type.isF16())
    return ATTNRES_F16;
  if (type.isF32())
    return ATTNRES_F32;
  if (type.isF64())
    return ATTNRES_F64;
  if (type.isInteger(1))
    return ATTNRES_BOOL;
  if (type.isInteger(8))
    return ATTNRES_I8;
  if (type.isInteger(16))
    return ATTNRES_I16;
  if (type.isInteger(32))
    return ATTNRES_I32;
  if (type.isInteger(64))
    return ATTNRES_I64;
  return std::nullopt;
}

static llvm::Expected<runtime::TensorInfo> tensorInfo(Type type,
                                                      std::string name) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  std::optional<attnres_dtype> dtype =
      tensor ? toDType(tensor.getElementType()) : std::nullopt;
  if (!dtype) {
    std::string text;
    llvm::raw_string_ostream(text) << type;
    return makeError("'" + name + "' has type " + text +
                     ", which the runtime cannot pass (ranked tensors of "
                     "f16/f32/f64/i1/i8/i16/i32/i64 only)");
  }
  runtime::TensorInfo info;
  info.name = std::move(name);
  info.dtype = *dtype;
  for (int64_t d : tensor.getShape())
    info.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  return info;
}

static llvm::Expected<runtime::Signature> readSignature(func::FuncOp fn) {
  auto nameOf = [](DictionaryAttr attrs, StringRef fallback, unsigned i) {
    if (attrs)
      if (auto name = attrs.getAs<StringAttr>("onnx.name"))
        return name.str();
    return (fallback + llvm::Twine(i)).str();
  };
  runtime::Signature signature;
  for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
    auto info = tensorInfo(type, nameOf(fn.getArgAttrDict(i), "arg", i));
    if (!info)
      return info.takeError();
    // The importer's names and bounds of dynamic dims, checked at run time.
    if (auto names = fn.getArgAttrOfType<ArrayAttr>(i, kDimNamesAttrName))
      for (Attribute name : names)
        info->dimNames.push_back(
            isa<StringAttr>(name) ? cast<StringAttr>(name).str() : "");
    if (auto bounds =
            fn.getArgAttrOfType<DenseI64ArrayAttr>(i, kMaxDimsAttrName))
      llvm::append_range(info->maxShape, bounds.asArrayRef());
    if (info->dimNames.size() != info->shape.size())
      info->dimNames.clear();
    if (info->maxShape.size() != info->shape.size())
      info->maxShape.clear();
    signature.inputs.push_back(std::move(*info));
  }
  for (auto [i, type] : llvm::enumerate(fn.getResultTypes())) {
    auto info = tensorInfo(type, nameOf(fn.getResultAttrDict(i), "result", i));
    if (!info)
      return info.takeError();
    signature.outputs.push_back(std::move(*info));
  }
  return signature;
}

/// The runtime lays out a run's buffers from the signature read before
/// lowering; a pipeline that changed the entry's arguments or results would
/// have the compiled code read and write past them. The lowered entry takes
/// each ranked memref as (allocated, aligned, offset, sizes, strides) and
/// returns one descriptor, or a struct of them for several results.
static llvm::Error checkLoweredSignature(ModuleOp module, StringRef entry,
                                         const runtime::Signature &signature) {
  auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(entry);
  if (!fn)
    return makeError("the pipeline did not lower '" + entry +
                     "' to the LLVM dialect");
  size_t params = 0;
  for (const runtime::TensorInfo &t : signature.inputs)
    params += 3 + 2 * t.shape.size();
  LLVM::LLVMFunctionType type = fn.getFunctionType();
  size_t results = 0;
  Type result = type.getReturnType();
  if (auto descriptors = dyn_cast<LLVM::LLVMStructType>(result))
    results =
        llvm::all_of(descriptors.getBody(), llvm::IsaPred<LLVM::LLVMStructType>)
            ? descriptors.getBody().size()
            : 1;
  if (type.getNumParams() == params && results == signature.outputs.size())
    return llvm::Error::success();
  return makeError(
      "the pipeline changed the signature of '" + entry + "' (" +
      llvm::Twine(signature.inputs.size()) + " inputs and " +
      llvm::Twine(signature.outputs.size()) +
      " results before lowering); run signature-changing passes before "
      "compiling, e.g. with attnres-opt");
}

/// The C library's allocator, as finalize-memref-to-llvm calls it, becomes
/// the runtime's, so that a run knows every buffer it made.
static void routeAllocations(ModuleOp module) {
  static const std::pair<const char *, const char *> renames[] = {
      {"malloc", "_mlir_memref_to_llvm_alloc"},
      {"aligned_alloc", "_mlir_memref_to_llvm_aligned_alloc"},
      {"free", "_mlir_memref_to_llvm_free"}};
  for (auto [from, to] : renames) {
    auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(from);
    if (!fn || !fn.isExternal())
      continue;
    auto newName = StringAttr::get(module.getContext(), to);
    (void)SymbolTable::replaceAllSymbolUses(fn, newName, module);
    if (module.lookupSymbol(to))
      fn.erase();
    else
      SymbolTable::setSymbolName(fn, newName);
  }
}

/// Names the external functions of a lowered module that neither the
/// runtime nor the C library (as linked into this process) defines. Checked
/// here because a JIT only finds out while materializing the entry point,
/// and a shared library only when it is loaded.
static std::vector<std::string> unresolvedCallees(ModuleOp module) {
  std::vector<std::string> missing;
  const std::vector<std::string> &provided = runtime::runtimeFunctionNames();
  module.walk([&](LLVM::LLVMFuncOp fn) {
    if (!fn.isExternal() || fn.getName().starts_with("llvm."))
      return;
    std::string name = fn.getName().str();
    if (llvm::is_contained(provided, name))
      return;
    if (!llvm::sys::DynamicLibrary::getPermanentLibrary(nullptr)
             .getAddressOfSymbol(name.c_str()))
      missing.push_back(name);
  });
  return missing;
}

/// attnres_artifact_entry(void **args): loads each argument's pointer from
/// args[i] and calls the C interface wrapper with them.
static void addPackedEntry(ModuleOp module, LLVM::LLVMFuncOp ciface) {
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  auto ptr = LLVM::LLVMPointerType::get(module.getContext());
  auto voidType = LLVM::LLVMVoidType::get(module.getContext());
  auto fn =
      LLVM::LLVMFuncOp::create(builder, loc, runtime::kEntrySymbol,
                               LLVM::LLVMFunctionType::get(voidType, {ptr}));
  Block *body = fn.addEntryBlock(builder);
  builder.setInsertionPointToStart(body);
  SmallVector<Value> args;
  for (auto [i, type] : llvm::enumerate(ciface.getFunctionType().getParams())) {
    Value slot =
        LLVM::GEPOp::create(builder, loc, ptr, ptr, body->getArgument(0),
                            ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value holder = LLVM::LoadOp::create(builder, loc, ptr, slot);
    args.push_back(LLVM::LoadOp::create(builder, loc, type, holder));
  }
  LLVM::CallOp::create(builder, loc, ciface, args);
  LLVM::ReturnOp::create(builder, loc, ValueRange());
}

static void addSignature(ModuleOp module, const runtime::Signature &signature) {
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  std::string text = runtime::encodeSignature(signature);
  text.push_back('\0');
  auto type = LLVM::LLVMArrayType::get(IntegerType::get(module.getContext(), 8),
                                       text.size());
  LLVM::GlobalOp::create(builder, module.getLoc(), type, /*isConstant=*/true,
                         LLVM::Linkage::External, runtime::kSignatureSymbol,
                         builder.getStringAttr(text));
}

namespace {
/// Whether the module calls the runtime's cuBLAS glue: the sgemm entries,
/// or the f16/bf16 ones (attnres_cublas_gemm_batched_ex_*).
bool callsCUBLAS(ModuleOp module) {
  return llvm::any_of(
      module.getOps<LLVM::LLVMFuncOp>(), [](LLVM::LLVMFuncOp fn) {
        return fn.isExternal() &&
               fn.getName().starts_with("_mlir_ciface_attnres_cublas_");
      });
}

/// Whether the module's buffers and constants must be the device's: it has
/// kernels, or products on cuBLAS (a model whose every loop became a cuBLAS
/// product has no kernels of its own).
bool runsOnDevice(ModuleOp module) {
  return !module.getOps<gpu::BinaryOp>().empty() || callsCUBLAS(module);
}
} // namespace

llvm::Expected<runtime::Signature>
mlir::attnres::lowerForExecution(ModuleOp module, StringRef entry,
                                 StringRef pipeline) {
  auto fn = module.lookupSymbol<func::FuncOp>(entry);
  if (!fn || fn.isExternal())
    return makeError("the module has no function '" + entry + "' to run");
  auto signature = readSignature(fn);
  if (!signature)
    return signature.takeError();
  MLIRContext *context = module.getContext();
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(context));
  // What gpu-module-to-binary needs to turn a GPU pipeline's kernels into
  // cubins, whichever tool made the context.
  DialectRegistry targets;
  NVVM::registerNVVMTargetInterfaceExternalModels(targets);
  registerBuiltinDialectTranslation(targets);
  registerLLVMDialectTranslation(targets);
  registerNVVMDialectTranslation(targets);
  registerGPUDialectTranslation(targets);
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(targets);
  context->appendDialectRegistry(targets);

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
  if (llvm::Error error = checkLoweredSignature(module, entry, *signature))
    return std::move(error);

  routeAllocations(module);
  std::vector<std::string> missing = unresolvedCallees(module);
  if (!missing.empty())
    return makeError("the compiled code calls " + llvm::join(missing, ", ") +
                     ", which neither the attnres runtime nor the C library "
                     "provides");
  signature->needsBLAS =
      module.lookupSymbol("_mlir_ciface_attnres_sgemm_batched") ||
      module.lookupSymbol("_mlir_ciface_attnres_sgemm_batched_overwrite");
  signature->needsCUBLAS = callsCUBLAS(module);
  signature->needsCUDA = runsOnDevice(module);
  auto ciface =
      module.lookupSymbol<LLVM::LLVMFuncOp>(("_mlir_ciface_" + entry).str());
  if (!ciface)
    return makeError("the lowered module lacks _mlir_ciface_" + entry);
  addPackedEntry(module, ciface);
  addSignature(module, *signature);
  return signature;
}

llvm::Error mlir::attnres::useCUDAToolkit(StringRef path) {
  std::string folder = path.str(), how = "--cuda-path";
  for (const char *variable : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"}) {
    const char *value = std::getenv(variable);
    if (folder.empty() && value && *value) {
      folder = value;
      how = std::string("$") + variable;
    }
  }
  if (folder.empty()) {
    if (auto ptxas = llvm::sys::findProgramByName("ptxas")) {
      folder =
          llvm::sys::path::parent_path(llvm::sys::path::parent_path(*ptxas))
              .str();
      how = "the ptxas in PATH";
    } else {
      folder = "/usr/local/cuda";
      how = "the default";
    }
  }
  llvm::SmallString<256> libdevice(folder), ptxas(folder);
  llvm::sys::path::append(libdevice, "nvvm", "libdevice", "libdevice.10.bc");
  llvm::sys::path::append(ptxas, "bin", "ptxas");
  for (StringRef needed : {libdevice.str(), ptxas.str()})
    if (!llvm::sys::fs::exists(needed))
      return makeError("no CUDA toolkit at '" + folder + "' (" + how + "): '" +
                       needed +
                       "' is missing; install the CUDA toolkit, or name its "
                       "folder with --cuda-path or CUDA_HOME");
  // The NVVM serialization reads the toolkit from the environment, first
  // CUDA_ROOT.
  ::setenv("CUDA_ROOT", folder.c_str(), /*overwrite=*/1);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Shared libraries
//===----------------------------------------------------------------------===//

/// "+avx2,-avx512f,...", sorted so that equal hosts give equal text.
static std::string hostFeatures() {
  std::vector<std::string> list;
  for (auto &feature : llvm::sys::getHostCPUFeatures())
    list.push_back((feature.second ? "+" : "-") + feature.first().str());
  llvm::sort(list);
  return llvm::join(list, ",");
}

std::string mlir::attnres::hostCPUDescription() {
  return llvm::sys::getHostCPUName().str() + ":" + hostFeatures();
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
mlir::attnres::createTargetMachine(StringRef cpu, unsigned optLevel) {
  if (optLevel > 3)
    return makeError("the optimization level must be 0 to 3, got " +
                     llvm::Twine(optLevel));
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return makeError("no code generator for " + triple.str() + ": " + error);
  std::string cpuName = cpu.str(), features;
  if (cpu == "native") {
    cpuName = llvm::sys::getHostCPUName().str();
    features = hostFeatures();
  } else if (!std::unique_ptr<llvm::MCSubtargetInfo>(
                  target->createMCSubtargetInfo(triple, cpuName, ""))
                  ->isCPUStringValid(cpuName)) {
    return makeError("unknown CPU '" + cpu + "' for " + triple.str() +
                     " (try native, x86-64, x86-64-v2, x86-64-v3)");
  }
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpuName, features, llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt,
      llvm::CodeGenOpt::getLevel(int(optLevel))
          .value_or(llvm::CodeGenOptLevel::Default)));
  if (!machine)
    return makeError("cannot create a code generator for " + cpuName);
  return machine;
}

namespace {
/// The bytes of a splat or i1 `value` as LLVM lays out the global (i1 as a
/// byte per element); nothing for other values.
std::optional<std::vector<char>> expandedBytes(Attribute value) {
  auto dense = dyn_cast_or_null<DenseElementsAttr>(value);
  if (!dense || !dense.getElementType().isIntOrFloat())
    return std::nullopt;
  int64_t count = dense.getNumElements();
  std::vector<char> bytes;
  if (dense.getElementType().isInteger(1)) {
    for (bool bit : dense.getValues<bool>())
      bytes.push_back(char(bit));
    return bytes;
  }
  unsigned width = dense.getElementType().getIntOrFloatBitWidth();
  if (!dense.isSplat() || width % 8 != 0)
    return std::nullopt;
  ArrayRef<char> element = dense.getRawData().take_front(width / 8);
  bytes.reserve(size_t(count) * element.size());
  for (int64_t i = 0; i < count; ++i)
    bytes.insert(bytes.end(), element.begin(), element.end());
  return bytes;
}

/// The bytes of `value` as LLVM would lay out the global, or nothing when
/// they are not available as one block (splats, i1, elided resources).
std::optional<ArrayRef<char>> rawBytes(Attribute value) {
  auto elements = dyn_cast_or_null<ElementsAttr>(value);
  if (!elements)
    return std::nullopt;
  Type elementType = elements.getShapedType().getElementType();
  if (!elementType.isIntOrFloat() ||
      elementType.getIntOrFloatBitWidth() % 8 != 0)
    return std::nullopt;
  ArrayRef<char> bytes;
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (dense.isSplat())
      return std::nullopt;
    bytes = dense.getRawData();
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    bytes = blob->getData();
  } else {
    return std::nullopt;
  }
  uint64_t expected = uint64_t(elements.getNumElements()) *
                      (elementType.getIntOrFloatBitWidth() / 8);
  if (bytes.size() != expected)
    return std::nullopt;
  return bytes;
}

/// Appends the weights, page-aligned so that the runtime can map them, and
/// the trailer that finds them.
llvm::Error appendWeights(StringRef path, const ExternalWeights &weights) {
  uint64_t librarySize = 0;
  std::error_code ec = llvm::sys::fs::file_size(path, librarySize);
  if (ec)
    return makeError("cannot write '" + path + "': " + ec.message());
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Append);
  if (ec)
    return makeError("cannot write '" + path + "': " + ec.message());
  // In append mode the stream's position starts at 0, not at the end.
  uint64_t start = llvm::alignTo(librarySize, runtime::kWeightsAlignment);
  os.write_zeros(start - librarySize);
  uint64_t at = 0;
  for (auto [bytes, offset] : weights.pieces) {
    os.write_zeros(offset - at);
    os.write(bytes.data(), bytes.size());
    at = offset + bytes.size();
  }
  runtime::WeightsTrailer trailer;
  std::memcpy(trailer.magic, runtime::kWeightsTrailerMagic,
              sizeof trailer.magic);
  trailer.offset = start;
  trailer.size = weights.size;
  os.write(reinterpret_cast<const char *>(&trailer), sizeof trailer);
  os.close();
  if (os.has_error())
    return makeError("cannot write '" + path + "': " + os.error().message());
  return llvm::Error::success();
}

/// Files removed unless kept: the temporaries of one write.
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    for (const std::string &path : paths)
      llvm::sys::fs::remove(path);
  }
  llvm::Expected<std::string> create(StringRef model, StringRef suffix) {
    llvm::SmallString<256> path;
    if (std::error_code ec = llvm::sys::fs::createUniqueFile(
            model + ".tmp-%%%%%%%%" + suffix, path))
      return makeError("cannot create a temporary file beside '" + model +
                       "': " + ec.message());
    paths.push_back(path.str().str());
    return paths.back();
  }
};
} // namespace

ExternalWeights mlir::attnres::externalizeWeights(ModuleOp module,
                                                  uint64_t minBytes,
                                                  bool expand) {
  ExternalWeights weights;
  MLIRContext *context = module.getContext();
  auto ptr = LLVM::LLVMPointerType::get(context);
  SmallVector<std::pair<LLVM::GlobalOp, LLVM::GlobalOp>> moved;
  for (auto global :
       llvm::make_early_inc_range(module.getOps<LLVM::GlobalOp>())) {
    // Constants that only host code reads stay in the library (the GPU
    // pipeline's copies of them; the weights go to the device).
    if (!global.getConstant() ||
        global.getSymName().ends_with(kHostGlobalSuffix))
      continue;
    std::optional<ArrayRef<char>> bytes = rawBytes(global.getValueAttr());
    if (!bytes && expand)
      if (std::optional<std::vector<char>> made =
              expandedBytes(global.getValueAttr())) {
        // Moving the outer vector later keeps this one's buffer in place.
        weights.expanded.push_back(std::move(*made));
        bytes = ArrayRef<char>(weights.expanded.back());
      }
    if (!bytes || bytes->size() < minBytes)
      continue;
    uint64_t align = std::max<uint64_t>(global.getAlignment().value_or(64), 64);
    weights.size = llvm::alignTo(weights.size, align);
    weights.pieces.push_back({*bytes, weights.size});
    weights.size += bytes->size();

    OpBuilder builder(global);
    auto slot = LLVM::GlobalOp::create(
        builder, global.getLoc(), ptr, /*isConstant=*/false,
        LLVM::Linkage::Internal,
        (global.getSymName() + ".attnres_weight").str(), Attribute());
    Block *init = builder.createBlock(&slot.getInitializerRegion());
    builder.setInsertionPointToStart(init);
    LLVM::ReturnOp::create(
        builder, global.getLoc(),
        LLVM::ZeroOp::create(builder, global.getLoc(), ptr).getResult());
    moved.push_back({global, slot});
  }
  if (moved.empty())
    return weights;

  llvm::DenseMap<StringRef, LLVM::GlobalOp> slots;
  for (auto [global, slot] : moved)
    slots[global.getSymName()] = slot;
  module.walk([&](LLVM::AddressOfOp address) {
    auto it = slots.find(address.getGlobalName());
    if (it == slots.end())
      return;
    OpBuilder builder(address);
    Value slotAddress =
        LLVM::AddressOfOp::create(builder, address.getLoc(), it->second);
    Value pointer =
        LLVM::LoadOp::create(builder, address.getLoc(), ptr, slotAddress);
    address.replaceAllUsesWith(pointer);
    address.erase();
  });

  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  auto bind = LLVM::LLVMFuncOp::create(
      builder, loc, runtime::kBindWeightsSymbol,
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(context), {ptr}));
  Block *body = bind.addEntryBlock(builder);
  builder.setInsertionPointToStart(body);
  for (auto [index, entry] : llvm::enumerate(moved)) {
    auto [global, slot] = entry;
    Value offset = LLVM::ConstantOp::create(
        builder, loc, builder.getI64Type(),
        builder.getI64IntegerAttr(int64_t(weights.pieces[index].second)));
    Value at = LLVM::GEPOp::create(builder, loc, ptr, builder.getI8Type(),
                                   body->getArgument(0),
                                   ArrayRef<LLVM::GEPArg>{offset});
    Value slotAddress = LLVM::AddressOfOp::create(builder, loc, slot);
    LLVM::StoreOp::create(builder, loc, at, slotAddress);
    global.erase();
  }
  LLVM::ReturnOp::create(builder, loc, ValueRange());
  return weights;
}

llvm::Error
mlir::attnres::writeSharedLibrary(ModuleOp module, StringRef path,
                                  const SharedLibraryOptions &options) {
  auto machine = createTargetMachine(options.cpu, options.optLevel);
  if (!machine)
    return machine.takeError();
  std::string linker = options.linker;
  if (!llvm::sys::path::has_parent_path(linker)) {
    auto found = llvm::sys::findProgramByName(linker);
    if (!found)
      return makeError("cannot find the linker '" + linker +
                       "' in PATH (a C compiler driver links the shared "
                       "library; install gcc or pass --linker)");
    linker = *found;
  }

  // Kernels read device memory only: a CUDA artifact's every constant goes
  // to the weights, which the runtime copies to the device, but for the
  // host copies of those that host code reads.
  bool cuda = runsOnDevice(module);
  ExternalWeights weights =
      cuda ? externalizeWeights(module, /*minBytes=*/0, /*expand=*/true)
           : externalizeWeights(module, /*minBytes=*/1024);
  if (cuda)
    for (auto global : module.getOps<LLVM::GlobalOp>())
      if (global.getConstant() &&
          !global.getSymName().ends_with(kHostGlobalSuffix) &&
          isa_and_nonnull<ElementsAttr>(global.getValueAttr()))
        return makeError("the constant '" + global.getSymName() +
                         "' cannot be placed in GPU-reachable memory");
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return makeError("translation to LLVM IR failed (see the diagnostics "
                     "above)");
  llvmModule->setDataLayout((*machine)->createDataLayout());
  llvmModule->setTargetTriple((*machine)->getTargetTriple());
  auto optimize = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0,
                                            machine->get());
  if (llvm::Error error = optimize(llvmModule.get()))
    return error;

  TempFiles temps;
  auto object = temps.create(path, ".o");
  if (!object)
    return object.takeError();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(*object, ec, llvm::sys::fs::OF_None);
    if (ec)
      return makeError("cannot write '" + *object + "': " + ec.message());
    llvm::legacy::PassManager codegen;
    if ((*machine)->addPassesToEmitFile(codegen, os, nullptr,
                                        llvm::CodeGenFileType::ObjectFile))
      return makeError("the code generator cannot emit object files");
    codegen.run(*llvmModule);
  }

  auto library = temps.create(path, ".so");
  auto log = temps.create(path, ".log");
  if (!library)
    return library.takeError();
  if (!log)
    return log.takeError();
  // Undefined runtime functions resolve when the runtime loads the library.
  llvm::SmallVector<StringRef> args = {linker,   "-shared", "-o",
                                       *library, *object,   "-lm"};
#ifdef ATTNRES_COMPILER_RT_BUILTINS
  // Only the members the object needs are taken from the archive.
  if (llvm::sys::fs::exists(ATTNRES_COMPILER_RT_BUILTINS))
    args.push_back(ATTNRES_COMPILER_RT_BUILTINS);
#endif
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(*log),
                                          StringRef(*log)};
  std::string error;
  int rc =
      llvm::sys::ExecuteAndWait(linker, args, std::nullopt, redirects,
                                /*SecondsToWait=*/0, /*MemoryLimit=*/0, &error);
  if (rc != 0) {
    std::string output;
    if (auto buffer = llvm::MemoryBuffer::getFile(*log))
      output = (*buffer)->getBuffer().trim().str();
    return makeError("linking with '" + linker + "' failed" +
                     (error.empty() ? "" : ": " + error) +
                     (output.empty() ? "" : ":\n" + output));
  }
  if (!weights.pieces.empty())
    if (llvm::Error error = appendWeights(*library, weights))
      return error;
  if (std::error_code ec = llvm::sys::fs::rename(*library, path))
    return makeError("cannot write '" + path + "': " + ec.message());
  return llvm::Error::success();
}
