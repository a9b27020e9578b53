//===- NumpyIO.cpp - .npy and .npz files ----------------------------------===//
//
// A small reader and writer of NumPy's formats: the .npy header is a Python
// dict literal, .npz a zip archive of .npy members.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/NumpyIO.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <zlib.h>

using namespace mlir::attnres;
using llvm::StringRef;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

StringRef mlir::attnres::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "float16";
  case DType::F32:
    return "float32";
  case DType::F64:
    return "float64";
  case DType::I8:
    return "int8";
  case DType::I16:
    return "int16";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  case DType::U8:
    return "uint8";
  case DType::Bool:
    return "bool";
  }
  return "?";
}

size_t mlir::attnres::dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::I16:
    return 2;
  default:
    return 1;
  }
}

/// NumPy's descr strings, little-endian ('|' where byte order is moot).
static const std::pair<const char *, DType> kDescrs[] = {
    {"<f2", DType::F16}, {"<f4", DType::F32}, {"<f8", DType::F64},
    {"|i1", DType::I8},  {"<i2", DType::I16}, {"<i4", DType::I32},
    {"<i8", DType::I64}, {"|u1", DType::U8},  {"|b1", DType::Bool}};

int64_t HostArray::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string HostArray::describe() const {
  std::string s = dtypeName(dtype).str() + "[";
  llvm::raw_string_ostream os(s);
  llvm::interleaveComma(shape, os);
  return s + "]";
}

/// Finds `'key': value` in the header dict and returns the value text.
static std::optional<StringRef> headerField(StringRef header, StringRef key) {
  size_t at = header.find(("'" + key + "'").str());
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(at + key.size() + 2).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  return rest.ltrim();
}

llvm::Expected<HostArray> mlir::attnres::parseNpy(StringRef bytes,
                                                  StringRef what) {
  if (!bytes.consume_front("\x93NUMPY") || bytes.size() < 4)
    return makeError(what + ": not a .npy file (bad magic)");
  uint8_t major = bytes[0];
  bytes = bytes.drop_front(2);
  uint32_t headerLen;
  if (major == 1) {
    headerLen = llvm::support::endian::read16le(bytes.data());
    bytes = bytes.drop_front(2);
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 4)
      return makeError(what + ": truncated .npy header");
    headerLen = llvm::support::endian::read32le(bytes.data());
    bytes = bytes.drop_front(4);
  } else {
    return makeError(what + ": unsupported .npy format version " +
                     llvm::Twine(int(major)));
  }
  if (bytes.size() < headerLen)
    return makeError(what + ": truncated .npy header");
  StringRef header = bytes.take_front(headerLen);
  StringRef payload = bytes.drop_front(headerLen);

  HostArray array;
  std::optional<StringRef> descr = headerField(header, "descr");
  std::optional<StringRef> fortran = headerField(header, "fortran_order");
  std::optional<StringRef> shape = headerField(header, "shape");
  if (!descr || !fortran || !shape)
    return makeError(what + ": malformed .npy header '" + header.trim() + "'");
  StringRef d = descr->drop_front().split('\'').first;
  auto known = llvm::find_if(kDescrs, [&](auto &e) { return d == e.first; });
  if (known == std::end(kDescrs))
    return makeError(what + ": unsupported dtype '" + d +
                     "' (supported: little-endian float16/32/64, int8/16/32/"
                     "64, uint8, bool)");
  array.dtype = known->second;
  if (fortran->starts_with("True"))
    return makeError(what + ": Fortran-ordered arrays are not supported; "
                            "save with np.ascontiguousarray");
  StringRef dims = shape->drop_front().split(')').first;
  llvm::SmallVector<StringRef> parts;
  dims.split(parts, ',', -1, /*KeepEmpty=*/false);
  uint64_t elements = 1;
  for (StringRef part : parts) {
    int64_t v;
    if (part.trim().getAsInteger(10, v) || v < 0)
      return makeError(what + ": bad shape '(" + dims + ")' in .npy header");
    // Bound the element count before it is multiplied into a byte size.
    if (v != 0 && elements > (uint64_t(1) << 40) / uint64_t(v))
      return makeError(what + ": shape '(" + dims + ")' is absurdly large");
    elements *= v;
    array.shape.push_back(v);
  }
  uint64_t bytesNeeded = uint64_t(array.numElements()) * dtypeSize(array.dtype);
  if (payload.size() < bytesNeeded)
    return makeError(what + ": truncated .npy data: " + array.describe() +
                     " needs " + llvm::Twine(bytesNeeded) + " bytes, found " +
                     llvm::Twine(payload.size()));
  array.data.assign(payload.begin(), payload.begin() + bytesNeeded);
  return array;
}

std::string mlir::attnres::serializeNpy(const HostArray &array) {
  // A Python tuple: (), (5,), (2, 3).
  std::string shape;
  for (size_t i = 0, n = array.shape.size(); i < n; ++i)
    shape += std::to_string(array.shape[i]) + (n == 1      ? ","
                                               : i + 1 < n ? ", "
                                                           : "");
  const char *descr = "";
  for (auto &[name, dtype] : kDescrs)
    if (dtype == array.dtype)
      descr = name;
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad so that the data starts 64-byte aligned, header ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  out.append(array.data.begin(), array.data.end());
  return out;
}

llvm::Expected<HostArray> mlir::attnres::readNpy(StringRef path) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return makeError("cannot read '" + path +
                     "': " + file.getError().message());
  return parseNpy((*file)->getBuffer(), path);
}

static llvm::Error writeFile(StringRef path, StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError("cannot write '" + path + "': " + ec.message());
  os << bytes;
  os.close();
  if (os.has_error())
    return makeError("cannot write '" + path + "': " + os.error().message());
  return llvm::Error::success();
}

llvm::Error mlir::attnres::writeNpy(StringRef path, const HostArray &array) {
  return writeFile(path, serializeNpy(array));
}

//===----------------------------------------------------------------------===//
// Zip
//===----------------------------------------------------------------------===//

using llvm::support::endian::read16le;
using llvm::support::endian::read32le;

static llvm::Expected<std::string> inflateRaw(StringRef compressed,
                                              uint64_t size, StringRef what) {
  std::string out(size, '\0');
  z_stream stream = {};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK)
    return makeError(what + ": cannot initialize zlib");
  stream.next_in =
      reinterpret_cast<Bytef *>(const_cast<char *>(compressed.data()));
  stream.avail_in = compressed.size();
  stream.next_out = reinterpret_cast<Bytef *>(out.data());
  stream.avail_out = out.size();
  int status = inflate(&stream, Z_FINISH);
  inflateEnd(&stream);
  if (status != Z_STREAM_END || stream.total_out != size)
    return makeError(what + ": corrupt deflate data");
  return out;
}

llvm::Expected<NamedArrays> mlir::attnres::readNpz(StringRef path) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return makeError("cannot read '" + path +
                     "': " + file.getError().message());
  StringRef zip = (*file)->getBuffer();
  // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
  size_t eocd = StringRef::npos;
  for (size_t i = zip.size() >= 22 ? zip.size() - 22 : 0;
       zip.size() >= 22 && i + 65557 >= zip.size(); --i) {
    if (read32le(zip.data() + i) == 0x06054b50) {
      eocd = i;
      break;
    }
    if (i == 0)
      break;
  }
  if (eocd == StringRef::npos)
    return makeError(path + ": not a .npz file (no zip directory)");
  uint16_t entries = read16le(zip.data() + eocd + 10);
  uint32_t dirOffset = read32le(zip.data() + eocd + 16);
  NamedArrays arrays;
  size_t at = dirOffset;
  for (uint16_t e = 0; e < entries; ++e) {
    if (at + 46 > zip.size() || read32le(zip.data() + at) != 0x02014b50)
      return makeError(path + ": corrupt zip directory");
    const char *h = zip.data() + at;
    uint16_t method = read16le(h + 10);
    uint32_t compressedSize = read32le(h + 20);
    uint32_t size = read32le(h + 24);
    uint16_t nameLen = read16le(h + 28), extraLen = read16le(h + 30),
             commentLen = read16le(h + 32);
    uint32_t local = read32le(h + 42);
    std::string name(h + 46, nameLen);
    at += 46 + nameLen + extraLen + commentLen;
    if (compressedSize == 0xffffffff || local == 0xffffffff)
      return makeError(path + ": zip64 archives are not supported");
    if (local + 30 > zip.size() || read32le(zip.data() + local) != 0x04034b50)
      return makeError(path + ": corrupt zip entry '" + name + "'");
    size_t dataAt = local + 30 + read16le(zip.data() + local + 26) +
                    read16le(zip.data() + local + 28);
    if (dataAt + compressedSize > zip.size())
      return makeError(path + ": truncated zip entry '" + name + "'");
    StringRef stored(zip.data() + dataAt, compressedSize);
    std::string what = (path + ":" + name).str();
    std::string inflated;
    if (method == 8) {
      auto data = inflateRaw(stored, size, what);
      if (!data)
        return data.takeError();
      inflated = std::move(*data);
      stored = inflated;
    } else if (method != 0) {
      return makeError(what + ": unsupported zip compression method " +
                       llvm::Twine(method));
    }
    auto array = parseNpy(stored, what);
    if (!array)
      return array.takeError();
    StringRef key(name);
    key.consume_back(".npy");
    arrays.emplace_back(key.str(), std::move(*array));
  }
  return arrays;
}

llvm::Error mlir::attnres::writeNpz(StringRef path, const NamedArrays &arrays) {
  std::string out, directory;
  auto put16 = [](std::string &s, uint16_t v) {
    s += char(v & 0xff);
    s += char(v >> 8);
  };
  auto put32 = [&](std::string &s, uint32_t v) {
    put16(s, v & 0xffff);
    put16(s, v >> 16);
  };
  for (const auto &[name, array] : arrays) {
    std::string member = name + ".npy";
    std::string data = serializeNpy(array);
    if (data.size() >= 0xffffffffu || out.size() >= 0xffffffffu)
      return makeError(path + ": arrays over 4 GiB need zip64, which is not "
                              "supported");
    uint32_t crc =
        crc32(0, reinterpret_cast<const Bytef *>(data.data()), data.size());
    uint32_t offset = out.size();
    put32(out, 0x04034b50);
    put16(out, 20); // version needed
    put16(out, 0);  // flags
    put16(out, 0);  // stored
    put16(out, 0);  // time
    put16(out, 33); // date: 1980-01-01
    put32(out, crc);
    put32(out, data.size());
    put32(out, data.size());
    put16(out, member.size());
    put16(out, 0);
    out += member;
    out += data;

    put32(directory, 0x02014b50);
    put16(directory, 20); // made by
    put16(directory, 20); // needed
    put16(directory, 0);
    put16(directory, 0);
    put16(directory, 0);
    put16(directory, 33);
    put32(directory, crc);
    put32(directory, data.size());
    put32(directory, data.size());
    put16(directory, member.size());
    put16(directory, 0); // extra
    put16(directory, 0); // comment
    put16(directory, 0); // disk
    put16(directory, 0); // internal attributes
    put32(directory, 0); // external attributes
    put32(directory, offset);
    directory += member;
  }
  uint32_t dirOffset = out.size();
  out += directory;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, arrays.size());
  put16(out, arrays.size());
  put32(out, directory.size());
  put32(out, dirOffset);
  put16(out, 0);
  return writeFile(path, out);
}
