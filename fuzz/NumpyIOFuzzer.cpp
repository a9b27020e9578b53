//===- NumpyIOFuzzer.cpp - libFuzzer target for the .npy/.npz readers -----===//
//
// Feeds bytes to parseNpy (npy-fuzzer) or parseNpz (npz-fuzzer); whatever
// parses must serialize and parse back to the same arrays, so the writer is
// checked along with the reader.
//
//===----------------------------------------------------------------------===//

#include "attnres/Support/NumpyIO.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace mlir::attnres;

static bool sameArray(const HostArray &a, const HostArray &b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.data == b.data;
}

[[noreturn]] static void roundTripFailed(const char *why) {
  std::fprintf(stderr, "round trip failed: %s\n", why);
  std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
#if defined(ATTNRES_FUZZ_NPY)
  llvm::Expected<HostArray> array = parseNpy(bytes, "input");
  if (!array) {
    llvm::consumeError(array.takeError());
    return 0;
  }
  llvm::Expected<HostArray> back = parseNpy(serializeNpy(*array), "again");
  if (!back)
    roundTripFailed(llvm::toString(back.takeError()).c_str());
  if (!sameArray(*array, *back))
    roundTripFailed("a different array");
#elif defined(ATTNRES_FUZZ_NPZ)
  llvm::Expected<NamedArrays> arrays = parseNpz(bytes, "input");
  if (!arrays) {
    llvm::consumeError(arrays.takeError());
    return 0;
  }
  llvm::Expected<std::string> written = serializeNpz(*arrays);
  if (!written) {
    // Names that were 65,535 bytes without a ".npy" suffix cannot get one.
    llvm::consumeError(written.takeError());
    return 0;
  }
  llvm::Expected<NamedArrays> back = parseNpz(*written, "again");
  if (!back)
    roundTripFailed(llvm::toString(back.takeError()).c_str());
  if (back->size() != arrays->size())
    roundTripFailed("a different number of arrays");
  for (size_t i = 0; i < back->size(); ++i)
    if ((*back)[i].first != (*arrays)[i].first ||
        !sameArray((*back)[i].second, (*arrays)[i].second))
      roundTripFailed("a different array");
#else
#error "define ATTNRES_FUZZ_NPY or ATTNRES_FUZZ_NPZ"
#endif
  return 0;
}
