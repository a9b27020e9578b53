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
  auto malformed = [&] {
    return makeError(what + ": malformed .npy header '" + header.trim() + "'");
  };
  if (!descr || !fortran || !shape || !shape->consume_front("("))
    return malformed();
  if (!descr->consume_front("'"))
    return makeError(what + ": unsupported dtype: structured dtypes are not "
                            "supported");
  StringRef d = descr->split('\'').first;
  StringRef dims = shape->split(')').first;
  if (d.size() == descr->size() || dims.size() == shape->size())
    return malformed();
  auto known = llvm::find_if(kDescrs, [&](auto &e) { return d == e.first; });
  if (known == std::end(kDescrs))
    return makeError(what + ": unsupported dtype '" + d +
                     "' (supported: little-endian float16/32/64, int8/16/32/"
                     "64, uint8, bool)");
  array.dtype = known->second;
  if (fortran->starts_with("True"))
    return makeError(what + ": Fortran-ordered arrays are not supported; "
                            "save with np.ascontiguousarray");
  if (!fortran->starts_with("False"))
    return malformed();
  llvm::SmallVector<StringRef> parts;
  dims.split(parts, ',', -1, /*KeepEmpty=*/false);
  // Bound the product of the nonzero dims, not the element count: after a
  // zero dim the count stays 0 whatever follows, but the strides computed
  // from the shape (products of trailing dims) would still overflow.
  constexpr uint64_t kMaxElements = uint64_t(1) << 40;
  uint64_t extent = 1;
  for (StringRef part : parts) {
    int64_t v;
    if (part.trim().getAsInteger(10, v) || v < 0)
      return makeError(what + ": bad shape '(" + dims + ")' in .npy header");
    if (v != 0 && extent > kMaxElements / uint64_t(v))
      return makeError(what + ": shape '(" + dims + ")' is absurdly large");
    extent *= std::max<uint64_t>(v, 1);
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

/// Everything of a .npy file before the data.
static std::string npyPreamble(const HostArray &array) {
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
  // Version 1 stores the header length in 16 bits; like NumPy, switch to
  // version 2 (32 bits) only when the header needs it.
  bool v2 = header.size() + 1 + 10 + 63 > 0xffff;
  // Pad so that the data starts 64-byte aligned, header ending in '\n'.
  size_t total = (v2 ? 12 : 10) + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(v2 ? 2 : 1);
  out += char(0);
  for (int i = 0, n = v2 ? 4 : 2; i < n; ++i)
    out += char((header.size() >> (8 * i)) & 0xff);
  out += header;
  return out;
}

std::string mlir::attnres::serializeNpy(const HostArray &array) {
  std::string out = npyPreamble(array);
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

namespace {
/// Signatures of the zip records (APPNOTE.TXT section 4.3).
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kDirectoryHeader = 0x02014b50;
constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint64_t kLocalHeaderSize = 30, kDirectoryHeaderSize = 46,
                   kEndOfDirectorySize = 22;
/// Deflate emits at least 2 bits per 258-byte match, so no stream expands
/// by more than 1032:1; the slack covers block headers of tiny streams.
constexpr uint64_t kMaxDeflateRatio = 1032, kDeflateSlack = 64;
} // namespace

/// Inflates into a buffer that grows with the output instead of one of the
/// declared size: the size comes from the archive, and a lie there must not
/// cost gigabytes before the data is seen.
static llvm::Expected<std::string> inflateRaw(StringRef compressed,
                                              uint64_t size, StringRef what) {
  auto corrupt = [&] { return makeError(what + ": corrupt deflate data"); };
  z_stream stream = {};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK)
    return makeError(what + ": cannot initialize zlib");
  // Sizes come from 32-bit zip fields, so they fit zlib's uInt counters.
  stream.next_in =
      reinterpret_cast<Bytef *>(const_cast<char *>(compressed.data()));
  stream.avail_in = compressed.size();
  std::string out(std::min<uint64_t>(size, 1 << 20), '\0');
  int status = Z_OK;
  while (true) {
    stream.next_out = reinterpret_cast<Bytef *>(out.data()) + stream.total_out;
    stream.avail_out = out.size() - stream.total_out;
    status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR))
      break;
    if (stream.avail_out != 0 || out.size() == size)
      break; // Input ran out, or the output outgrew the declared size.
    out.resize(std::min<uint64_t>(size, 2 * uint64_t(out.size())));
  }
  uint64_t produced = stream.total_out;
  inflateEnd(&stream);
  if (status != Z_STREAM_END || produced != size)
    return corrupt();
  return out;
}

llvm::Expected<NamedArrays> mlir::attnres::readNpz(StringRef path) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return makeError("cannot read '" + path +
                     "': " + file.getError().message());
  return parseNpz((*file)->getBuffer(), path);
}

// Offsets and lengths below are 64-bit: sums of 32-bit fields must not wrap
// past a bounds check.
llvm::Expected<NamedArrays> mlir::attnres::parseNpz(StringRef zip,
                                                    StringRef path) {
  const uint64_t fileSize = zip.size();
  auto fits = [&](uint64_t offset, uint64_t length) {
    return offset <= fileSize && length <= fileSize - offset;
  };
  // The end-of-central-directory record sits in the last 64 KiB + 22 bytes
  // (its comment is at most 64 KiB).
  std::optional<uint64_t> eocd;
  if (fileSize >= kEndOfDirectorySize) {
    uint64_t last = fileSize - kEndOfDirectorySize;
    uint64_t first = last > 0xffff ? last - 0xffff : 0;
    for (uint64_t i = last + 1; i-- > first;) {
      if (read32le(zip.data() + i) == kEndOfDirectory) {
        eocd = i;
        break;
      }
    }
  }
  if (!eocd)
    return makeError(path + ": not a .npz file (no zip directory)");
  uint16_t entries = read16le(zip.data() + *eocd + 10);
  uint32_t dirSize = read32le(zip.data() + *eocd + 12);
  uint64_t at = read32le(zip.data() + *eocd + 16);
  // Zip64 saturates a field here and puts a locator right before. The
  // locator alone proves nothing: those 20 bytes are the end of the last
  // member's name in a plain archive, and a name may contain anything.
  if ((entries == 0xffff || dirSize == 0xffffffff || at == 0xffffffff) &&
      *eocd >= 20 && read32le(zip.data() + *eocd - 20) == kZip64Locator)
    return makeError(path + ": zip64 archives are not supported");
  NamedArrays arrays;
  for (uint16_t e = 0; e < entries; ++e) {
    if (!fits(at, kDirectoryHeaderSize) ||
        read32le(zip.data() + at) != kDirectoryHeader)
      return makeError(path + ": corrupt zip directory");
    const char *h = zip.data() + at;
    uint16_t flags = read16le(h + 8), method = read16le(h + 10);
    uint32_t crc = read32le(h + 16), compressedSize = read32le(h + 20),
             size = read32le(h + 24);
    uint16_t nameLen = read16le(h + 28), extraLen = read16le(h + 30),
             commentLen = read16le(h + 32);
    uint64_t local = read32le(h + 42);
    uint64_t recordSize =
        kDirectoryHeaderSize + uint64_t(nameLen) + extraLen + commentLen;
    if (!fits(at, recordSize))
      return makeError(path + ": corrupt zip directory");
    std::string name(h + kDirectoryHeaderSize, nameLen);
    at += recordSize;
    if (compressedSize == 0xffffffff || size == 0xffffffff ||
        local == 0xffffffff)
      return makeError(path + ": zip64 archives are not supported");
    if (flags & 1)
      return makeError(path + ": zip entry '" + name + "' is encrypted");
    if (!fits(local, kLocalHeaderSize) ||
        read32le(zip.data() + local) != kLocalHeader)
      return makeError(path + ": corrupt zip entry '" + name + "'");
    uint64_t dataAt = local + kLocalHeaderSize +
                      read16le(zip.data() + local + 26) +
                      read16le(zip.data() + local + 28);
    if (!fits(dataAt, compressedSize))
      return makeError(path + ": truncated zip entry '" + name + "'");
    StringRef stored(zip.data() + dataAt, compressedSize);
    std::string what = (path + ":" + name).str();
    std::string inflated;
    if (method == 8) {
      if (size > compressedSize * kMaxDeflateRatio + kDeflateSlack)
        return makeError(path + ": zip entry '" + name + "' declares " +
                         llvm::Twine(size) + " bytes, more than its " +
                         llvm::Twine(compressedSize) +
                         " deflated bytes can hold");
      auto data = inflateRaw(stored, size, what);
      if (!data)
        return data.takeError();
      inflated = std::move(*data);
      stored = inflated;
    } else if (method != 0) {
      return makeError(what + ": unsupported zip compression method " +
                       llvm::Twine(method));
    } else if (size != compressedSize) {
      return makeError(path + ": stored zip entry '" + name +
                       "': sizes disagree (" + llvm::Twine(compressedSize) +
                       " stored, " + llvm::Twine(size) + " uncompressed)");
    }
    // A fuzzer cannot forge checksums; checking them there would only hide
    // the parser behind them.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (crc32(0, reinterpret_cast<const Bytef *>(stored.data()),
              stored.size()) != crc)
      return makeError(what + ": CRC mismatch, the archive is corrupt");
#else
    (void)crc;
#endif
    auto array = parseNpy(stored, what);
    if (!array)
      return array.takeError();
    StringRef key(name);
    key.consume_back(".npy");
    arrays.emplace_back(key.str(), std::move(*array));
  }
  return arrays;
}

namespace {
/// Little-endian fields of a zip record.
struct ZipWriter {
  std::string bytes;
  void put16(uint16_t v) {
    bytes += char(v & 0xff);
    bytes += char(v >> 8);
  }
  void put32(uint32_t v) {
    put16(v & 0xffff);
    put16(v >> 16);
  }
};
} // namespace

llvm::Expected<std::string>
mlir::attnres::serializeNpz(const NamedArrays &arrays) {
  // Without zip64, counts are 16 bits and offsets 32 bits (0xffffffff
  // meaning "see zip64"); check the whole layout before building anything,
  // so a refusal costs no memory.
  auto zip64 = [](const llvm::Twine &what) {
    return makeError(what + "; writing zip64 archives is not supported");
  };
  if (arrays.size() > 0xffff)
    return zip64("cannot write " + llvm::Twine(arrays.size()) +
                 " arrays in one .npz: zip holds at most 65535");
  std::vector<std::string> preambles;
  uint64_t end = 0, directorySize = 0;
  for (const auto &[name, array] : arrays) {
    uint64_t nameLen = name.size() + 4; // ".npy"
    if (nameLen > 0xffff)
      return makeError("cannot write array '" + StringRef(name).take_front(32) +
                       "...' to a .npz: a name of " + llvm::Twine(nameLen) +
                       " bytes does not fit zip's 16-bit length");
    preambles.push_back(npyPreamble(array));
    uint64_t memberSize = preambles.back().size() + array.data.size();
    if (end >= 0xffffffff || memberSize >= 0xffffffff)
      return zip64(".npz contents reach 4 GiB at array '" + name + "'");
    end += kLocalHeaderSize + nameLen + memberSize;
    directorySize += kDirectoryHeaderSize + nameLen;
  }
  if (end >= 0xffffffff || directorySize >= 0xffffffff)
    return zip64(".npz contents reach 4 GiB");

  ZipWriter out, directory;
  out.bytes.reserve(end + directorySize + kEndOfDirectorySize);
  for (size_t i = 0; i < arrays.size(); ++i) {
    const auto &[name, array] = arrays[i];
    std::string member = name + ".npy";
    const std::string &preamble = preambles[i];
    uint32_t crc = crc32(0, reinterpret_cast<const Bytef *>(preamble.data()),
                         preamble.size());
    crc = crc32(crc, reinterpret_cast<const Bytef *>(array.data.data()),
                array.data.size());
    uint32_t size = preamble.size() + array.data.size();
    uint32_t offset = out.bytes.size();
    out.put32(kLocalHeader);
    out.put16(20); // version needed
    out.put16(0);  // flags
    out.put16(0);  // stored
    out.put16(0);  // time
    out.put16(33); // date: 1980-01-01
    out.put32(crc);
    out.put32(size);
    out.put32(size);
    out.put16(member.size());
    out.put16(0);
    out.bytes += member;
    out.bytes += preamble;
    out.bytes.append(array.data.begin(), array.data.end());

    directory.put32(kDirectoryHeader);
    directory.put16(20); // made by
    directory.put16(20); // needed
    directory.put16(0);
    directory.put16(0);
    directory.put16(0);
    directory.put16(33);
    directory.put32(crc);
    directory.put32(size);
    directory.put32(size);
    directory.put16(member.size());
    directory.put16(0); // extra
    directory.put16(0); // comment
    directory.put16(0); // disk
    directory.put16(0); // internal attributes
    directory.put32(0); // external attributes
    directory.put32(offset);
    directory.bytes += member;
  }
  uint32_t dirOffset = out.bytes.size();
  out.bytes += directory.bytes;
  out.put32(kEndOfDirectory);
  out.put16(0);
  out.put16(0);
  out.put16(arrays.size());
  out.put16(arrays.size());
  out.put32(directory.bytes.size());
  out.put32(dirOffset);
  out.put16(0);
  return std::move(out.bytes);
}

llvm::Error mlir::attnres::writeNpz(StringRef path, const NamedArrays &arrays) {
  llvm::Expected<std::string> bytes = serializeNpz(arrays);
  if (!bytes)
    return makeError(path + ": " + llvm::toString(bytes.takeError()));
  return writeFile(path, *bytes);
}
