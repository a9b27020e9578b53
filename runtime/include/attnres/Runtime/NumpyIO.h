//===- NumpyIO.h - .npy and .npz files --------------------------*- C++ -*-===//
//
// Host arrays and the NumPy file formats attnres-run reads and writes:
// .npy (format versions 1-3, C order) and .npz (zip, stored or deflated).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_NUMPYIO_H
#define ATTNRES_RUNTIME_NUMPYIO_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mlir::attnres {

enum class DType { F16, F32, F64, I8, I16, I32, I64, U8, Bool };

/// NumPy's name of a dtype ("float32", "int64", ...).
llvm::StringRef dtypeName(DType dtype);
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
llvm::Expected<HostArray> parseNpy(llvm::StringRef bytes, llvm::StringRef what);
std::string serializeNpy(const HostArray &array);

/// Reads a .npz archive (np.savez or np.savez_compressed); the `.npy`
/// suffix is dropped from the names. Zip64 archives and encrypted members
/// are rejected; checksums are verified.
llvm::Expected<NamedArrays> readNpz(llvm::StringRef path);
/// readNpz on bytes already in memory (fuzzers, embedded data); `what` names
/// them in errors.
llvm::Expected<NamedArrays> parseNpz(llvm::StringRef bytes,
                                     llvm::StringRef what);
/// Writes an uncompressed .npz that np.load reads. Zip64 is not written:
/// more than 65,535 arrays, a name over 65,531 bytes or 4 GiB of contents
/// is an error, and no file is written then.
llvm::Error writeNpz(llvm::StringRef path, const NamedArrays &arrays);
/// The bytes writeNpz writes.
llvm::Expected<std::string> serializeNpz(const NamedArrays &arrays);

llvm::Expected<HostArray> readNpy(llvm::StringRef path);
llvm::Error writeNpy(llvm::StringRef path, const HostArray &array);

} // namespace mlir::attnres

#endif // ATTNRES_RUNTIME_NUMPYIO_H
