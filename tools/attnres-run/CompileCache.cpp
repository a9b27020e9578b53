//===- CompileCache.cpp - attnres-run's cache of compiled models ----------===//

#include "CompileCache.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/xxhash.h"

#include <algorithm>

using namespace mlir::attnres;
using llvm::StringRef;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string mlir::attnres::defaultCacheDir() {
  llvm::SmallString<256> dir;
  if (auto xdg = llvm::sys::Process::GetEnv("XDG_CACHE_HOME");
      xdg && !xdg->empty()) {
    dir = *xdg;
  } else if (auto home = llvm::sys::Process::GetEnv("HOME");
             home && !home->empty()) {
    dir = *home;
    llvm::sys::path::append(dir, ".cache");
  } else {
    return "";
  }
  llvm::sys::path::append(dir, "attnres");
  return dir.str().str();
}

namespace {
/// Reads just enough of the protobuf wire format to find the `location` of
/// every tensor with external data, without parsing (or copying) the
/// weights: ModelProto.graph, GraphProto.{node, initializer,
/// sparse_initializer}, NodeProto.attribute, AttributeProto.{t, g, tensors,
/// graphs, sparse_tensor(s)}, SparseTensorProto.{values, indices},
/// TensorProto.external_data. Malformed bytes end the walk quietly: the
/// importer reports them when the model is compiled.
class ExternalDataScanner {
public:
  std::vector<std::string> locations;

  void model(StringRef bytes) { walk(bytes, Kind::Model, 0); }

private:
  enum class Kind { Model, Graph, Node, Attribute, Tensor, Sparse, Entry };

  static bool varint(StringRef &bytes, uint64_t &value) {
    value = 0;
    for (unsigned shift = 0; shift < 64 && !bytes.empty(); shift += 7) {
      uint8_t byte = bytes.front();
      bytes = bytes.drop_front();
      value |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        return true;
    }
    return false;
  }

  static std::optional<Kind> child(Kind parent, uint64_t field) {
    switch (parent) {
    case Kind::Model:
      return field == 7 ? std::optional(Kind::Graph) : std::nullopt;
    case Kind::Graph:
      if (field == 1)
        return Kind::Node;
      if (field == 5)
        return Kind::Tensor;
      return field == 15 ? std::optional(Kind::Sparse) : std::nullopt;
    case Kind::Node:
      return field == 5 ? std::optional(Kind::Attribute) : std::nullopt;
    case Kind::Attribute:
      if (field == 5 || field == 10)
        return Kind::Tensor;
      if (field == 6 || field == 11)
        return Kind::Graph;
      return field == 22 || field == 23 ? std::optional(Kind::Sparse)
                                        : std::nullopt;
    case Kind::Sparse:
      return field == 1 || field == 2 ? std::optional(Kind::Tensor)
                                      : std::nullopt;
    case Kind::Tensor:
      return field == 13 ? std::optional(Kind::Entry) : std::nullopt;
    case Kind::Entry:
      return std::nullopt;
    }
    return std::nullopt;
  }

  void walk(StringRef bytes, Kind kind, unsigned depth) {
    if (depth > 64)
      return;
    StringRef key, value;
    while (!bytes.empty()) {
      uint64_t tag, size;
      if (!varint(bytes, tag))
        return;
      switch (tag & 7) {
      case 0:
        if (!varint(bytes, size))
          return;
        continue;
      case 1:
        if (bytes.size() < 8)
          return;
        bytes = bytes.drop_front(8);
        continue;
      case 5:
        if (bytes.size() < 4)
          return;
        bytes = bytes.drop_front(4);
        continue;
      case 2:
        break;
      default:
        return;
      }
      if (!varint(bytes, size) || size > bytes.size())
        return;
      StringRef payload = bytes.take_front(size);
      bytes = bytes.drop_front(size);
      uint64_t field = tag >> 3;
      if (kind == Kind::Entry) {
        (field == 1 ? key : value) = payload;
        continue;
      }
      if (std::optional<Kind> next = child(kind, field))
        walk(payload, *next, depth + 1);
    }
    if (kind == Kind::Entry && key == "location")
      locations.push_back(value.str());
  }
};

void hashFileStatus(std::string &text, StringRef path) {
  llvm::sys::fs::file_status status;
  if (llvm::sys::fs::status(path, status)) {
    text += "missing:" + path.str() + "\n";
    return;
  }
  text += path.str() + ":" + std::to_string(status.getSize()) + ":" +
          std::to_string(
              status.getLastModificationTime().time_since_epoch().count()) +
          "\n";
}
} // namespace

llvm::Expected<std::string>
mlir::attnres::cacheKey(StringRef modelPath,
                        llvm::ArrayRef<std::string> options) {
  auto file = llvm::MemoryBuffer::getFile(modelPath, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return makeError("cannot read '" + modelPath +
                     "': " + file.getError().message());
  StringRef bytes = (*file)->getBuffer();
  auto hash = [](StringRef data) {
    llvm::XXH128_hash_t h = llvm::xxh3_128bits(llvm::ArrayRef(
        reinterpret_cast<const uint8_t *>(data.data()), data.size()));
    return llvm::utohexstr(h.high64) + llvm::utohexstr(h.low64);
  };

  std::string text = "attnres-run cache 1\nLLVM " LLVM_VERSION_STRING "\n";
  // Reading every byte of a model of hundreds of MB would cost more than
  // the cached start is allowed; past kHashWholeBytes the key takes the
  // file's identity and times with its first and last MiB instead.
  constexpr uint64_t kHashWholeBytes = 64 << 20, kEnds = 1 << 20;
  if (bytes.size() <= kHashWholeBytes) {
    text += hash(bytes) + "\n";
  } else {
    llvm::sys::fs::file_status status;
    if (std::error_code ec = llvm::sys::fs::status(modelPath, status))
      return makeError("cannot stat '" + modelPath + "': " + ec.message());
    hashFileStatus(text, modelPath);
    text += std::to_string(status.getUniqueID().getDevice()) + ":" +
            std::to_string(status.getUniqueID().getFile()) + "\n";
    text += hash(bytes.take_front(kEnds)) + hash(bytes.take_back(kEnds)) + "\n";
  }
  // A rebuilt compiler may compile differently.
  hashFileStatus(text, llvm::sys::fs::getMainExecutable(
                           nullptr, reinterpret_cast<void *>(&cacheKey)));
  if (modelPath.ends_with(".onnx")) {
    ExternalDataScanner scanner;
    scanner.model(bytes);
    StringRef folder = llvm::sys::path::parent_path(modelPath);
    for (const std::string &location : scanner.locations) {
      llvm::SmallString<256> path(folder);
      llvm::sys::path::append(path, location);
      hashFileStatus(text, path);
    }
  }
  for (const std::string &option : options)
    text += option + "\n";
  llvm::XXH128_hash_t key = llvm::xxh3_128bits(llvm::ArrayRef(
      reinterpret_cast<const uint8_t *>(text.data()), text.size()));
  std::string hex = llvm::utohexstr(key.high64, /*LowerCase=*/true, 16) +
                    llvm::utohexstr(key.low64, /*LowerCase=*/true, 16);
  return hex;
}

void mlir::attnres::touchCacheEntry(StringRef path) {
  int fd;
  if (llvm::sys::fs::openFileForWrite(path, fd, llvm::sys::fs::CD_OpenExisting,
                                      llvm::sys::fs::OF_Append))
    return;
  (void)llvm::sys::fs::setLastAccessAndModificationTime(
      fd, std::chrono::system_clock::now());
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
}

void mlir::attnres::pruneCache(StringRef dir, uint64_t limitBytes,
                               StringRef keep) {
  struct Entry {
    std::string path;
    uint64_t size;
    llvm::sys::TimePoint<> used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  auto now = std::chrono::system_clock::now();
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::sys::fs::file_status status;
    if (llvm::sys::fs::status(it->path(), status))
      continue;
    StringRef name = llvm::sys::path::filename(it->path());
    // A temporary left by a run that was killed; a live one is younger.
    if (name.contains(".tmp-")) {
      if (now - status.getLastModificationTime() > std::chrono::hours(1))
        llvm::sys::fs::remove(it->path());
      continue;
    }
    if (!name.ends_with(".so"))
      continue;
    total += status.getSize();
    if (name == llvm::sys::path::filename(keep))
      continue;
    entries.push_back(
        {it->path(), status.getSize(), status.getLastModificationTime()});
  }
  llvm::sort(entries,
             [](const Entry &a, const Entry &b) { return a.used < b.used; });
  for (const Entry &entry : entries) {
    if (total <= limitBytes)
      break;
    llvm::sys::fs::remove(entry.path);
    total -= entry.size;
  }
}
