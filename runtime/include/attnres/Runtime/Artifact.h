//===- Artifact.h - What attnres-compile puts in a shared library -*- C++
//-*-===//
//
// The contract between the compiler (lib/Target/Artifact) and the runtime:
// the symbols of a compiled model and the text that describes its
// signature. Plain C++ so that the runtime needs no LLVM.
//
// An artifact defines
//   const char attnres_artifact_signature[];  // encodeSignature's text
//   void attnres_artifact_entry(void **args);  // the packed entry point
// and calls, besides the C library, only the runtime's functions
// (runtimeFunctionNames). The JIT exposes the same two symbols, so both
// paths run through attnres_model_run.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_ARTIFACT_H
#define ATTNRES_RUNTIME_ARTIFACT_H

#include "attnres/Runtime/Model.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace mlir::attnres::runtime {

inline constexpr const char kSignatureSymbol[] = "attnres_artifact_signature";
inline constexpr const char kEntrySymbol[] = "attnres_artifact_entry";
/// void attnres_artifact_bind_weights(const char *weights): defined when the
/// file carries weights after the library, which the runtime maps and
/// passes to it before the first run.
inline constexpr const char kBindWeightsSymbol[] =
    "attnres_artifact_bind_weights";

/// The last bytes of an artifact with weights: where they are in the file
/// (offset a multiple of kWeightsAlignment) and how many bytes they take.
struct WeightsTrailer {
  char magic[8];
  uint64_t offset;
  uint64_t size;
  uint64_t reserved = 0;
};
inline constexpr const char kWeightsTrailerMagic[8] = {'A', 'T', 'T', 'N',
                                                       'R', 'E', 'S', 'W'};
inline constexpr uint64_t kWeightsAlignment = 65536;

/// The packed entry: args[0] points to the result struct's pointer (when
/// there are results), then one pointer per input to the pointer of its
/// memref descriptor, as MLIR's C interface wrappers take them.
using PackedEntry = void (*)(void **);

struct TensorInfo {
  std::string name;
  attnres_dtype dtype;
  std::vector<int64_t> shape; // -1: dynamic
  /// Per dim of an input, empty or none at all: the model's name of a
  /// dynamic dim (inputs' dims of one name must agree at run time: the
  /// compiled code takes them as one size) ...
  std::vector<std::string> dimNames;
  /// ... and its upper bound (attnres-compile --max-dims), -1 for none.
  std::vector<int64_t> maxShape;
};

struct Signature {
  std::vector<TensorInfo> inputs, outputs;
  /// The compiled code calls cblas_sgemm through the runtime.
  bool needsBLAS = false;
  /// The compiled code launches CUDA kernels (attnres-compile
  /// --target=cuda): its inputs, weights and buffers live in device memory.
  bool needsCUDA = false;
  /// ... and calls cuBLAS for its matrix products.
  bool needsCUBLAS = false;
};

/// One line per tensor after a version line, names length-prefixed so any
/// byte may appear in them.
std::string encodeSignature(const Signature &signature);
/// Returns "" or what is wrong with `text`.
std::string decodeSignature(const char *text, size_t size,
                            Signature &signature);

/// The functions of libattnres_runtime that compiled code may call: the
/// allocator MLIR's generic-function lowering names, strided copies, BLAS.
const std::vector<std::string> &runtimeFunctionNames();

/// Makes a model from an entry point already in memory (the JIT's); `owner`
/// is released with the model. The runtime copies the signature.
attnres_model *makeModel(const Signature &signature, PackedEntry entry,
                         void (*release)(void *), void *owner);

/// Tells `model` where its weights are (`size` bytes the caller keeps,
/// unchanged, for the model's life): products that read them then run on
/// packed copies. Artifacts' are attached when loaded.
void attachWeights(attnres_model *model, const void *weights, size_t size);

/// Finds OpenBLAS (ATTNRES_BLAS, then the usual sonames); "" or why not.
std::string loadBLAS();

/// Finds cuBLAS (ATTNRES_CUBLAS, then the sonames of CUDA 13 to 11, then
/// the nvidia/cublas/lib folders of Python installations); "" or why not.
std::string loadCUBLAS();

/// The threads a run uses, for its parallel loops and its matrix products:
/// what attnres_set_num_threads asked for, else OpenBLAS's count (all cores,
/// or OPENBLAS_NUM_THREADS), else the machine's cores.
int numThreads();

} // namespace mlir::attnres::runtime

/// Runs body(ctx, begin, end) over pieces of [0, n) on the runtime's threads
/// (what --attnres-parallel-to-runtime calls); on the calling thread alone
/// when one thread is asked for, or inside another such call.
extern "C" void attnres_parallel_for(void (*body)(void *, int64_t, int64_t),
                                     void *ctx, int64_t n);

namespace mlir::attnres::runtime {

/// attnres_parallel_for with a C++ callable f(begin, end).
template <typename F> void parallelFor(int64_t n, F &&f) {
  attnres_parallel_for(
      [](void *ctx, int64_t begin, int64_t end) {
        (*static_cast<std::remove_reference_t<F> *>(ctx))(begin, end);
      },
      &f, n);
}

/// Sets the message attnres_last_error returns on this thread.
void setLastError(std::string message);

} // namespace mlir::attnres::runtime

#endif // ATTNRES_RUNTIME_ARTIFACT_H
