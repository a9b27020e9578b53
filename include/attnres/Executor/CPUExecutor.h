//===- CPUExecutor.h - Run a model on the CPU -------------------*- C++ -*-===//
//
// attnres-run's view of a compiled model, whichever way it was compiled:
// JIT-compiled in this process from a module, or an artifact written by
// attnres-compile and loaded with libattnres_runtime. Both run through the
// runtime's attnres_model_run.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_EXECUTOR_CPUEXECUTOR_H
#define ATTNRES_EXECUTOR_CPUEXECUTOR_H

#include "attnres/Runtime/Model.h"
#include "attnres/Support/NumpyIO.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::attnres {

/// One argument or result of the entry function. Dynamic dims are -1.
struct TensorSignature {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

class CPUExecutor {
public:
  /// Lowers `module` (consumed) with `pipeline` (a textual pass pipeline; the
  /// default is --attnres-cpu-pipeline) and JIT-compiles it with LLVM's
  /// optimizations and code generation at `optLevel` (0 to 3).
  static llvm::Expected<std::unique_ptr<CPUExecutor>>
  create(mlir::ModuleOp module, llvm::StringRef entry,
         llvm::StringRef pipeline = "", unsigned optLevel = 2);
  /// Loads an artifact written by attnres-compile.
  static llvm::Expected<std::unique_ptr<CPUExecutor>>
  load(llvm::StringRef path);
  ~CPUExecutor();

  const std::vector<TensorSignature> &inputs() const { return inputSigs; }
  const std::vector<TensorSignature> &outputs() const { return outputSigs; }

  /// Matches `inputs` to the signature by name, checks dtypes and shapes,
  /// then runs the model.
  llvm::Expected<std::vector<HostArray>> run(const NamedArrays &inputs);

  /// Bytes of weights packed for the products so far
  /// (attnres_model_packed_weight_bytes).
  size_t packedWeightBytes() const;
  /// Where the model runs: "cpu", or "cuda" for an artifact compiled with
  /// --target=cuda (attnres_model_device).
  std::string device() const;

private:
  CPUExecutor() = default;
  void describe();

  std::unique_ptr<mlir::ExecutionEngine> engine;
  /// The JIT-compiled model's weights (externalizeWeights'), which its code
  /// reads.
  std::unique_ptr<char, void (*)(void *)> weights{nullptr, std::free};
  attnres_model *model = nullptr;
  std::vector<TensorSignature> inputSigs, outputSigs;
};

} // namespace mlir::attnres

#endif // ATTNRES_EXECUTOR_CPUEXECUTOR_H
