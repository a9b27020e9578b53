//===- NumpyIO.h - .npy and .npz files with LLVM's errors -------*- C++ -*-===//
//
// The runtime's .npy/.npz reader and writer (Npz.h) with llvm::Expected and
// llvm::Error, for the tools and passes, which have LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_SUPPORT_NUMPYIO_H
#define ATTNRES_SUPPORT_NUMPYIO_H

#include "attnres/Runtime/Npz.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace mlir::attnres {

using npz::DType;
using npz::dtypeName;
using npz::dtypeSize;
using npz::HostArray;
using npz::NamedArrays;
using npz::serializeNpy;

/// npz::parseNpy; `what` names the bytes in errors.
llvm::Expected<HostArray> parseNpy(llvm::StringRef bytes, llvm::StringRef what);
/// npz::parseNpz on bytes already in memory (fuzzers, embedded data).
llvm::Expected<NamedArrays> parseNpz(llvm::StringRef bytes,
                                     llvm::StringRef what);
/// Reads a .npz archive (np.savez or np.savez_compressed).
llvm::Expected<NamedArrays> readNpz(llvm::StringRef path);
/// Writes an uncompressed .npz that np.load reads; on a refusal (zip64
/// sizes) no file is written.
llvm::Error writeNpz(llvm::StringRef path, const NamedArrays &arrays);
/// The bytes writeNpz writes.
llvm::Expected<std::string> serializeNpz(const NamedArrays &arrays);

llvm::Expected<HostArray> readNpy(llvm::StringRef path);
llvm::Error writeNpy(llvm::StringRef path, const HostArray &array);

} // namespace mlir::attnres

#endif // ATTNRES_SUPPORT_NUMPYIO_H
