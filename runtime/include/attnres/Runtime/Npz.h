//===- Npz.h - .npy and .npz files without LLVM -----------------*- C++ -*-===//
//
// Host arrays and NumPy's file formats, .npy (format versions 1-3, C order)
// and .npz (zip, stored or deflated), in plain C++ for libattnres_runtime.
// Functions that can fail return "" or the message. NumpyIO.h gives the
// same with LLVM's error types to code that has LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_NPZ_H
#define ATTNRES_RUNTIME_NPZ_H

#include "attnres/Runtime/Model.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlir::attnres::npz {

enum class DType { F16, F32, F64, I8, I16, I32, I64, U8, Bool };

/// NumPy's name of a dtype ("float32", "int64", ...).
const char *dtypeName(DType dtype);
size_t dtypeSize(DType dtype);

/// A dense, C-ordered array in host memory.
struct HostArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> data;

  int64_t numElements() const;
  /// "float32[1, 16]", for messages.
  std::string describe() const;
};

using NamedArrays = std::vector<std::pair<std::string, HostArray>>;

/// Parses the bytes of a .npy file; `what` names it in errors. Shapes whose
/// nonzero dims multiply past 2^40 are rejected, so element counts and
/// strides derived from a shape cannot overflow.
std::string parseNpy(std::string_view bytes, std::string_view what,
                     HostArray &array);
std::string serializeNpy(const HostArray &array);

/// Reads a .npz archive (np.savez or np.savez_compressed; deflated members
/// need zlib, opened when one is met); the `.npy` suffix is dropped from the
/// names. Zip64 archives and encrypted members are rejected; checksums are
/// verified.
std::string parseNpz(std::string_view bytes, std::string_view what,
                     NamedArrays &arrays);
/// The bytes of an uncompressed .npz that np.load reads. Zip64 is not
/// written: more than 65,535 arrays, a name over 65,531 bytes or 4 GiB of
/// contents is an error.
std::string serializeNpz(const NamedArrays &arrays, std::string &bytes);

std::string readFile(const std::string &path, std::string &bytes);
/// `inputs` as tensors in `model`'s input order, matched by name, into
/// `ordered` (they point into `inputs`); "" or why not: a missing input
/// (with every input the model takes) or one the model has no input of.
std::string orderInputs(const attnres_model *model, const NamedArrays &inputs,
                        std::vector<attnres_tensor> &ordered);

/// Moves a result of attnres_model_run into a HostArray (the tensor is
/// freed).
HostArray takeTensor(attnres_tensor &tensor);

/// Writes `bytes` to `path`.
std::string writeFile(const std::string &path, std::string_view bytes);

} // namespace mlir::attnres::npz

#endif // ATTNRES_RUNTIME_NPZ_H
