//===- Artifact.h - Models as shared libraries ------------------*- C++ -*-===//
//
// From an imported module to what libattnres_runtime runs: the lowering for
// execution (shared by the JIT and attnres-compile) and the shared library
// that attnres-compile writes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TARGET_ARTIFACT_ARTIFACT_H
#define ATTNRES_TARGET_ARTIFACT_ARTIFACT_H

#include "attnres/Runtime/Artifact.h"
#include "attnres/Target/ONNX/ONNXImport.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>
#include <utility>
#include <vector>

namespace llvm {
class SourceMgr;
class TargetMachine;
} // namespace llvm

namespace mlir::attnres {

/// Reads a .onnx model (with `options`) or a .mlir module; diagnostics go to
/// the context's handler. Null on failure.
OwningOpRef<ModuleOp> loadModel(llvm::StringRef path, MLIRContext *context,
                                llvm::SourceMgr &sourceMgr,
                                const ONNXImportOptions &options);

/// Lowers `module` in place for execution: reads the signature of `entry`,
/// runs `pipeline` (textual; empty means --attnres-cpu-pipeline), checks
/// that the lowered entry still has that signature, routes allocations
/// through the runtime, checks that every function the code calls is the
/// runtime's or the C library's, and adds the artifact's symbols
/// (attnres/Runtime/Artifact.h).
llvm::Expected<runtime::Signature> lowerForExecution(ModuleOp module,
                                                     llvm::StringRef entry,
                                                     llvm::StringRef pipeline);

/// The large constants of a lowered module, moved out of LLVM's way: code
/// generation would copy each into the object file (and the linker again),
/// seconds for the weights of a deep model. The code reads each through a
/// pointer that attnres_artifact_bind_weights sets (runtime::
/// kBindWeightsSymbol); the runtime maps or copies the bytes, and knows
/// them as the model's weights (products by them use packed copies).
struct ExternalWeights {
  /// Each constant's bytes (owned by the module's context) and its offset
  /// from the start of the weights.
  std::vector<std::pair<llvm::ArrayRef<char>, uint64_t>> pieces;
  uint64_t size = 0;
  /// The bytes of expanded constants, which pieces may point into.
  std::vector<std::vector<char>> expanded;
};

/// Moves every constant global of at least `minBytes` out of `module`, a
/// module lowerForExecution has lowered, and adds the function that binds
/// them; nothing changes when there are none. Splat and i1 constants stay
/// (LLVM makes them cheaply) unless `expand` asks for them too, laid out as
/// LLVM would: a GPU artifact's kernels can read nothing else. Host copies
/// (names ending in kHostGlobalSuffix) stay.
ExternalWeights externalizeWeights(ModuleOp module, uint64_t minBytes,
                                   bool expand = false);

struct SharedLibraryOptions {
  /// LLVM optimization and code generation level, 0 to 3.
  unsigned optLevel = 2;
  /// The CPU to generate code for: "native" (this machine's, with its
  /// features) or an LLVM CPU name ("x86-64-v3").
  std::string cpu = "native";
  /// The C compiler driver that links the object into a shared library.
  std::string linker = "cc";
};

/// Translates a module that lowerForExecution has lowered to LLVM IR,
/// optimizes it, and writes a shared library at `path`. The library is
/// written beside `path` under a temporary name and renamed into place, so
/// `path` is either the whole library or untouched, even with concurrent
/// writers.
llvm::Error writeSharedLibrary(ModuleOp module, llvm::StringRef path,
                               const SharedLibraryOptions &options);

/// Points the NVVM serialization at the CUDA toolkit whose ptxas and
/// libdevice compile a GPU pipeline's kernels: `path` if given, else
/// $CUDA_ROOT, $CUDA_HOME or $CUDA_PATH, else the folder above the ptxas in
/// PATH, else /usr/local/cuda. Fails, saying where it looked, when that
/// folder lacks either; without libdevice, ptxas would only report the
/// math functions as unresolved.
llvm::Error useCUDAToolkit(llvm::StringRef path);

/// This machine's CPU name and features as LLVM sees them: what "native"
/// compiles for.
std::string hostCPUDescription();

/// A target machine for `cpu` ("native" or an LLVM CPU name) on this host's
/// triple, position-independent, at `optLevel`.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createTargetMachine(llvm::StringRef cpu, unsigned optLevel);

} // namespace mlir::attnres

#endif // ATTNRES_TARGET_ARTIFACT_ARTIFACT_H
