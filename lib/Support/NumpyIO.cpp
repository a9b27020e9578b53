//===- NumpyIO.cpp - .npy and .npz files with LLVM's errors ---------------===//

#include "attnres/Support/NumpyIO.h"

using namespace mlir::attnres;
using llvm::StringRef;

static llvm::Error makeError(const std::string &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string_view view(StringRef s) { return {s.data(), s.size()}; }

llvm::Expected<HostArray> mlir::attnres::parseNpy(StringRef bytes,
                                                  StringRef what) {
  HostArray array;
  if (std::string error = npz::parseNpy(view(bytes), view(what), array);
      !error.empty())
    return makeError(error);
  return array;
}

llvm::Expected<NamedArrays> mlir::attnres::parseNpz(StringRef bytes,
                                                    StringRef what) {
  NamedArrays arrays;
  if (std::string error = npz::parseNpz(view(bytes), view(what), arrays);
      !error.empty())
    return makeError(error);
  return arrays;
}

llvm::Expected<NamedArrays> mlir::attnres::readNpz(StringRef path) {
  std::string bytes;
  if (std::string error = npz::readFile(path.str(), bytes); !error.empty())
    return makeError(error);
  return parseNpz(bytes, path);
}

llvm::Expected<HostArray> mlir::attnres::readNpy(StringRef path) {
  std::string bytes;
  if (std::string error = npz::readFile(path.str(), bytes); !error.empty())
    return makeError(error);
  return parseNpy(bytes, path);
}

llvm::Expected<std::string>
mlir::attnres::serializeNpz(const NamedArrays &arrays) {
  std::string bytes;
  if (std::string error = npz::serializeNpz(arrays, bytes); !error.empty())
    return makeError(error);
  return bytes;
}

llvm::Error mlir::attnres::writeNpz(StringRef path, const NamedArrays &arrays) {
  std::string bytes;
  if (std::string error = npz::serializeNpz(arrays, bytes); !error.empty())
    return makeError(path.str() + ": " + error);
  if (std::string error = npz::writeFile(path.str(), bytes); !error.empty())
    return makeError(error);
  return llvm::Error::success();
}

llvm::Error mlir::attnres::writeNpy(StringRef path, const HostArray &array) {
  if (std::string error = npz::writeFile(path.str(), serializeNpy(array));
      !error.empty())
    return makeError(error);
  return llvm::Error::success();
}
