//===- CPUExecutor.cpp - Run a model on the CPU ---------------------------===//
//
// The JIT compiles the module lowerForExecution prepares, the same one
// attnres-compile writes to a shared library, and hands its packed entry to
// the runtime; the compiled code finds the runtime's functions in this
// process, which links libattnres_runtime.
//
//===----------------------------------------------------------------------===//

#include "attnres/Executor/CPUExecutor.h"

#include "attnres/Runtime/Artifact.h"
#include "attnres/Target/Artifact/Artifact.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <cstring>

using namespace mlir::attnres;
using namespace mlir;

// The runtime numbers element types as NumpyIO does.
static_assert(int(DType::F16) == ATTNRES_F16 &&
              int(DType::F32) == ATTNRES_F32 &&
              int(DType::F64) == ATTNRES_F64 && int(DType::I8) == ATTNRES_I8 &&
              int(DType::I16) == ATTNRES_I16 &&
              int(DType::I32) == ATTNRES_I32 &&
              int(DType::I64) == ATTNRES_I64 && int(DType::U8) == ATTNRES_U8 &&
              int(DType::Bool) == ATTNRES_BOOL);

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

CPUExecutor::~CPUExecutor() {
  // The model's entry lives in the engine's memory.
  attnres_model_destroy(model);
}

void CPUExecutor::describe() {
  auto read = [](const attnres_tensor_info *info) {
    return TensorSignature{
        info->name, DType(info->dtype),
        std::vector<int64_t>(info->shape, info->shape + info->rank)};
  };
  for (int i = 0, e = attnres_model_num_inputs(model); i < e; ++i)
    inputSigs.push_back(read(attnres_model_input(model, i)));
  for (int i = 0, e = attnres_model_num_outputs(model); i < e; ++i)
    outputSigs.push_back(read(attnres_model_output(model, i)));
}

llvm::Expected<std::unique_ptr<CPUExecutor>>
CPUExecutor::create(ModuleOp module, StringRef entry, StringRef pipeline,
                    unsigned optLevel) {
  if (optLevel > 3)
    return makeError("the optimization level must be 0 to 3, got " +
                     llvm::Twine(optLevel));
  auto signature = lowerForExecution(module, entry, pipeline);
  if (!signature)
    return signature.takeError();
  if (signature->needsBLAS)
    if (std::string error = runtime::loadBLAS(); !error.empty())
      return makeError(error);

  // The weights leave the module as they do for attnres-compile: LLVM
  // compiles less, and the runtime knows them as weights.
  ExternalWeights external = externalizeWeights(module, /*minBytes=*/1024);
  std::unique_ptr<char, void (*)(void *)> weights{nullptr, std::free};
  if (external.size) {
    weights.reset(static_cast<char *>(
        std::aligned_alloc(64, llvm::alignTo(external.size, 64))));
    if (!weights)
      return makeError("out of memory for the model's weights (" +
                       llvm::Twine(external.size) + " bytes)");
    for (auto [bytes, offset] : external.pieces)
      std::memcpy(weights.get() + offset, bytes.data(), bytes.size());
  }

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  // Optimized for this machine as attnres-compile's "native" is: without a
  // target machine LLVM's vectorizer knows no vector width, and the JIT's
  // loops ran slower than the same model's artifact.
  auto machine = createTargetMachine("native", optLevel);
  if (!machine)
    return machine.takeError();
  // The options hold a function_ref: the transformer must outlive them.
  auto optimize =
      makeOptimizingTransformer(optLevel, /*sizeLevel=*/0, machine->get());
  ExecutionEngineOptions options;
  options.transformer = optimize;
  options.jitCodeGenOptLevel = llvm::CodeGenOpt::getLevel(int(optLevel))
                                   .value_or(llvm::CodeGenOptLevel::Default);
  auto engine = ExecutionEngine::create(module, options);
  if (!engine)
    return makeError("JIT compilation failed: " +
                     llvm::toString(engine.takeError()));
  auto entryAddress = (*engine)->lookup(runtime::kEntrySymbol);
  if (!entryAddress)
    return makeError("compiled module lacks its entry point: " +
                     llvm::toString(entryAddress.takeError()));
  if (weights) {
    auto bind = (*engine)->lookup(runtime::kBindWeightsSymbol);
    if (!bind)
      return makeError("compiled module lacks its weights' binding: " +
                       llvm::toString(bind.takeError()));
    reinterpret_cast<void (*)(const char *)> (*bind)(weights.get());
  }
  std::unique_ptr<CPUExecutor> executor(new CPUExecutor());
  executor->engine = std::move(*engine);
  executor->model = runtime::makeModel(
      *signature, reinterpret_cast<runtime::PackedEntry>(*entryAddress),
      /*release=*/nullptr, /*owner=*/nullptr);
  if (weights)
    runtime::attachWeights(executor->model, weights.get(), external.size);
  executor->weights = std::move(weights);
  executor->describe();
  return executor;
}

llvm::Expected<std::unique_ptr<CPUExecutor>> CPUExecutor::load(StringRef path) {
  attnres_model *model = attnres_model_load(path.str().c_str());
  if (!model)
    return makeError(attnres_last_error());
  std::unique_ptr<CPUExecutor> executor(new CPUExecutor());
  executor->model = model;
  executor->describe();
  return executor;
}

llvm::Expected<std::vector<HostArray>>
CPUExecutor::run(const NamedArrays &inputs) {
  // Match the arrays to the signature by name before touching anything.
  std::vector<attnres_tensor> ordered;
  if (std::string error = npz::orderInputs(model, inputs, ordered);
      !error.empty())
    return makeError(error);

  std::vector<attnres_tensor> results(outputSigs.size());
  if (attnres_model_run(model, ordered.data(), results.data()))
    return makeError(attnres_last_error());
  std::vector<HostArray> outputs;
  for (attnres_tensor &result : results)
    outputs.push_back(npz::takeTensor(result));
  return outputs;
}

std::string CPUExecutor::device() const { return attnres_model_device(model); }

size_t CPUExecutor::packedWeightBytes() const {
  return attnres_model_packed_weight_bytes(model);
}
