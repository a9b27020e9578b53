//===- CPUExecutor.h - Compile and run a module on the CPU ------*- C++ -*-===//
//
// Lowers an imported module with the CPU pipeline, JIT-compiles it with
// MLIR's ExecutionEngine and calls its entry function on host arrays.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_CPUEXECUTOR_H
#define ATTNRES_RUNTIME_CPUEXECUTOR_H

#include "attnres/Runtime/NumpyIO.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <optional>
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

  std::string describe() const;
};

class CPUExecutor {
public:
  /// Lowers `module` (consumed) with `pipeline` (a textual pass pipeline; the
  /// default is --attnres-cpu-pipeline) and JIT-compiles it with LLVM's
  /// optimizations and code generation at `optLevel` (0 to 3).
  static llvm::Expected<std::unique_ptr<CPUExecutor>>
  create(mlir::ModuleOp module, llvm::StringRef entry,
         llvm::StringRef pipeline = "", unsigned optLevel = 2);
  ~CPUExecutor();

  const std::vector<TensorSignature> &inputs() const { return inputSigs; }
  const std::vector<TensorSignature> &outputs() const { return outputSigs; }

  /// Checks `inputs` against the signature (names, dtypes, shapes), then
  /// runs the entry function.
  llvm::Expected<std::vector<HostArray>> run(const NamedArrays &inputs);

private:
  CPUExecutor() = default;

  std::unique_ptr<mlir::ExecutionEngine> engine;
  /// The packed wrapper of the entry's C interface: void(void **args).
  void (*entryFn)(void **) = nullptr;
  std::vector<TensorSignature> inputSigs, outputSigs;
};

/// Runtime functions the compiled code may call (BLAS, memrefCopy for strided
/// copies), by symbol name, for registration with a JIT.
std::vector<std::pair<const char *, void *>> runtimeSymbols();

} // namespace mlir::attnres

#endif // ATTNRES_RUNTIME_CPUEXECUTOR_H
