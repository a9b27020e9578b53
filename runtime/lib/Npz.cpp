//===- Npz.cpp - .npy and .npz files --------------------------------------===//
//
// A small reader and writer of NumPy's formats: the .npy header is a Python
// dict literal, .npz a zip archive of .npy members. Part of the runtime, so
// plain C++: zlib is opened at run time, and only for deflated members.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Npz.h"

#include <dlfcn.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>

using namespace mlir::attnres::npz;
using std::string_view;

const char *mlir::attnres::npz::dtypeName(DType dtype) {
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

size_t mlir::attnres::npz::dtypeSize(DType dtype) {
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
  std::string s = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

namespace {
bool consumeFront(string_view &s, string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix)
    return false;
  s.remove_prefix(prefix.size());
  return true;
}

string_view ltrim(string_view s) {
  size_t at = s.find_first_not_of(" \t\n\v\f\r");
  return at == string_view::npos ? string_view() : s.substr(at);
}

string_view trim(string_view s) {
  s = ltrim(s);
  size_t at = s.find_last_not_of(" \t\n\v\f\r");
  return at == string_view::npos ? string_view() : s.substr(0, at + 1);
}

/// The text before the first `c`, or all of `s`.
string_view before(string_view s, char c) { return s.substr(0, s.find(c)); }

uint16_t read16le(const char *p) {
  auto *b = reinterpret_cast<const unsigned char *>(p);
  return uint16_t(b[0] | (b[1] << 8));
}

uint32_t read32le(const char *p) {
  return uint32_t(read16le(p)) | (uint32_t(read16le(p + 2)) << 16);
}

std::string str(string_view s) { return std::string(s); }

/// Finds `'key': value` in the header dict and returns the value text.
std::optional<string_view> headerField(string_view header, string_view key) {
  size_t at = header.find("'" + str(key) + "'");
  if (at == string_view::npos)
    return std::nullopt;
  string_view rest = ltrim(header.substr(at + key.size() + 2));
  if (!consumeFront(rest, ":"))
    return std::nullopt;
  return ltrim(rest);
}
} // namespace

std::string mlir::attnres::npz::parseNpy(string_view bytes, string_view what,
                                         HostArray &array) {
  std::string name = str(what);
  if (!consumeFront(bytes, "\x93NUMPY") || bytes.size() < 4)
    return name + ": not a .npy file (bad magic)";
  uint8_t major = bytes[0];
  bytes.remove_prefix(2);
  uint32_t headerLen;
  if (major == 1) {
    headerLen = read16le(bytes.data());
    bytes.remove_prefix(2);
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 4)
      return name + ": truncated .npy header";
    headerLen = read32le(bytes.data());
    bytes.remove_prefix(4);
  } else {
    return name + ": unsupported .npy format version " +
           std::to_string(int(major));
  }
  if (bytes.size() < headerLen)
    return name + ": truncated .npy header";
  string_view header = bytes.substr(0, headerLen);
  string_view payload = bytes.substr(headerLen);

  array = HostArray();
  std::optional<string_view> descr = headerField(header, "descr");
  std::optional<string_view> fortran = headerField(header, "fortran_order");
  std::optional<string_view> shape = headerField(header, "shape");
  std::string malformed =
      name + ": malformed .npy header '" + str(trim(header)) + "'";
  if (!descr || !fortran || !shape || !consumeFront(*shape, "("))
    return malformed;
  if (!consumeFront(*descr, "'"))
    return name + ": unsupported dtype: structured dtypes are not supported";
  string_view d = before(*descr, '\'');
  string_view dims = before(*shape, ')');
  if (d.size() == descr->size() || dims.size() == shape->size())
    return malformed;
  auto known = std::find_if(std::begin(kDescrs), std::end(kDescrs),
                            [&](auto &e) { return d == e.first; });
  if (known == std::end(kDescrs))
    return name + ": unsupported dtype '" + str(d) +
           "' (supported: little-endian float16/32/64, int8/16/32/64, uint8, "
           "bool)";
  array.dtype = known->second;
  if (fortran->substr(0, 4) == "True")
    return name + ": Fortran-ordered arrays are not supported; save with "
                  "np.ascontiguousarray";
  if (fortran->substr(0, 5) != "False")
    return malformed;
  // Bound the product of the nonzero dims, not the element count: after a
  // zero dim the count stays 0 whatever follows, but the strides computed
  // from the shape (products of trailing dims) would still overflow.
  constexpr uint64_t kMaxElements = uint64_t(1) << 40;
  uint64_t extent = 1;
  for (string_view rest = dims; !rest.empty();) {
    string_view part = before(rest, ',');
    rest.remove_prefix(std::min(rest.size(), part.size() + 1));
    if (part.empty())
      continue;
    part = trim(part);
    int64_t v = -1;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size() || part.empty() ||
        v < 0)
      return name + ": bad shape '(" + str(dims) + ")' in .npy header";
    if (v != 0 && extent > kMaxElements / uint64_t(v))
      return name + ": shape '(" + str(dims) + ")' is absurdly large";
    extent *= std::max<uint64_t>(v, 1);
    array.shape.push_back(v);
  }
  uint64_t bytesNeeded = uint64_t(array.numElements()) * dtypeSize(array.dtype);
  if (payload.size() < bytesNeeded)
    return name + ": truncated .npy data: " + array.describe() + " needs " +
           std::to_string(bytesNeeded) + " bytes, found " +
           std::to_string(payload.size());
  array.data.assign(payload.begin(), payload.begin() + bytesNeeded);
  return "";
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

std::string mlir::attnres::npz::serializeNpy(const HostArray &array) {
  std::string out = npyPreamble(array);
  out.append(array.data.begin(), array.data.end());
  return out;
}

std::string mlir::attnres::npz::readFile(const std::string &path,
                                         std::string &bytes) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return "cannot read '" + path + "': " + std::strerror(errno);
  bytes.assign(std::istreambuf_iterator<char>(file),
               std::istreambuf_iterator<char>());
  if (file.bad())
    return "cannot read '" + path + "': " + std::strerror(errno);
  return "";
}

std::string mlir::attnres::npz::writeFile(const std::string &path,
                                          string_view bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file)
    return "cannot write '" + path + "': " + std::strerror(errno);
  file.write(bytes.data(), std::streamsize(bytes.size()));
  file.close();
  if (!file)
    return "cannot write '" + path + "': " + std::strerror(errno);
  return "";
}

//===----------------------------------------------------------------------===//
// Zip
//===----------------------------------------------------------------------===//

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

/// CRC-32 as zip (and zlib's crc32) computes it: reflected, polynomial
/// 0xEDB88320, so that stored archives need no zlib.
uint32_t crc32Update(uint32_t crc, const char *data, size_t size) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = table[(crc ^ uint8_t(data[i])) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/// zlib's inflate functions, from libz opened on first use.
struct Zlib {
  decltype(&inflateInit2_) init = nullptr;
  decltype(&inflate) run = nullptr;
  decltype(&inflateEnd) end = nullptr;
};

const Zlib *openZlib() {
  static Zlib zlib;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char *name : {"libz.so.1", "libz.so"}) {
      void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!lib)
        continue;
      zlib.init = reinterpret_cast<decltype(&inflateInit2_)>(
          dlsym(lib, "inflateInit2_"));
      zlib.run = reinterpret_cast<decltype(&inflate)>(dlsym(lib, "inflate"));
      zlib.end =
          reinterpret_cast<decltype(&inflateEnd)>(dlsym(lib, "inflateEnd"));
      if (zlib.init && zlib.run && zlib.end)
        return;
    }
    zlib = Zlib();
  });
  return zlib.init ? &zlib : nullptr;
}

/// Inflates into a buffer that grows with the output instead of one of the
/// declared size: the size comes from the archive, and a lie there must not
/// cost gigabytes before the data is seen.
std::string inflateRaw(string_view compressed, uint64_t size,
                       const std::string &what, std::string &out) {
  const Zlib *zlib = openZlib();
  if (!zlib)
    return what + ": a compressed .npz needs zlib (libz.so.1), which is not "
                  "installed; save with np.savez instead";
  z_stream stream = {};
  if (zlib->init(&stream, -MAX_WBITS, ZLIB_VERSION, int(sizeof(z_stream))) !=
      Z_OK)
    return what + ": cannot initialize zlib";
  // Sizes come from 32-bit zip fields, so they fit zlib's uInt counters.
  stream.next_in =
      reinterpret_cast<Bytef *>(const_cast<char *>(compressed.data()));
  stream.avail_in = uInt(compressed.size());
  out.assign(std::min<uint64_t>(size, 1 << 20), '\0');
  int status = Z_OK;
  while (true) {
    stream.next_out = reinterpret_cast<Bytef *>(out.data()) + stream.total_out;
    stream.avail_out = uInt(out.size() - stream.total_out);
    status = zlib->run(&stream, Z_NO_FLUSH);
    if (status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR))
      break;
    if (stream.avail_out != 0 || out.size() == size)
      break; // Input ran out, or the output outgrew the declared size.
    out.resize(std::min<uint64_t>(size, 2 * uint64_t(out.size())));
  }
  uint64_t produced = stream.total_out;
  zlib->end(&stream);
  if (status != Z_STREAM_END || produced != size)
    return what + ": corrupt deflate data";
  return "";
}
} // namespace

// Offsets and lengths below are 64-bit: sums of 32-bit fields must not wrap
// past a bounds check.
std::string mlir::attnres::npz::parseNpz(string_view zip, string_view what,
                                         NamedArrays &arrays) {
  std::string path = str(what);
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
    return path + ": not a .npz file (no zip directory)";
  uint16_t entries = read16le(zip.data() + *eocd + 10);
  uint32_t dirSize = read32le(zip.data() + *eocd + 12);
  uint64_t at = read32le(zip.data() + *eocd + 16);
  // Zip64 saturates a field here and puts a locator right before. The
  // locator alone proves nothing: those 20 bytes are the end of the last
  // member's name in a plain archive, and a name may contain anything.
  if ((entries == 0xffff || dirSize == 0xffffffff || at == 0xffffffff) &&
      *eocd >= 20 && read32le(zip.data() + *eocd - 20) == kZip64Locator)
    return path + ": zip64 archives are not supported";
  arrays.clear();
  for (uint16_t e = 0; e < entries; ++e) {
    if (!fits(at, kDirectoryHeaderSize) ||
        read32le(zip.data() + at) != kDirectoryHeader)
      return path + ": corrupt zip directory";
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
      return path + ": corrupt zip directory";
    std::string name(h + kDirectoryHeaderSize, nameLen);
    at += recordSize;
    if (compressedSize == 0xffffffff || size == 0xffffffff ||
        local == 0xffffffff)
      return path + ": zip64 archives are not supported";
    if (flags & 1)
      return path + ": zip entry '" + name + "' is encrypted";
    if (!fits(local, kLocalHeaderSize) ||
        read32le(zip.data() + local) != kLocalHeader)
      return path + ": corrupt zip entry '" + name + "'";
    uint64_t dataAt = local + kLocalHeaderSize +
                      read16le(zip.data() + local + 26) +
                      read16le(zip.data() + local + 28);
    if (!fits(dataAt, compressedSize))
      return path + ": truncated zip entry '" + name + "'";
    string_view stored(zip.data() + dataAt, compressedSize);
    std::string member = path + ":" + name;
    std::string inflated;
    if (method == 8) {
      if (size > compressedSize * kMaxDeflateRatio + kDeflateSlack)
        return path + ": zip entry '" + name + "' declares " +
               std::to_string(size) + " bytes, more than its " +
               std::to_string(compressedSize) + " deflated bytes can hold";
      if (std::string error = inflateRaw(stored, size, member, inflated);
          !error.empty())
        return error;
      stored = inflated;
    } else if (method != 0) {
      return member + ": unsupported zip compression method " +
             std::to_string(method);
    } else if (size != compressedSize) {
      return path + ": stored zip entry '" + name + "': sizes disagree (" +
             std::to_string(compressedSize) + " stored, " +
             std::to_string(size) + " uncompressed)";
    }
    // A fuzzer cannot forge checksums; checking them there would only hide
    // the parser behind them.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (crc32Update(0, stored.data(), stored.size()) != crc)
      return member + ": CRC mismatch, the archive is corrupt";
#else
    (void)crc;
#endif
    HostArray array;
    if (std::string error = parseNpy(stored, member, array); !error.empty())
      return error;
    string_view key(name);
    if (key.size() >= 4 && key.substr(key.size() - 4) == ".npy")
      key.remove_suffix(4);
    arrays.emplace_back(str(key), std::move(array));
  }
  return "";
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

std::string mlir::attnres::npz::serializeNpz(const NamedArrays &arrays,
                                             std::string &bytes) {
  // Without zip64, counts are 16 bits and offsets 32 bits (0xffffffff
  // meaning "see zip64"); check the whole layout before building anything,
  // so a refusal costs no memory.
  auto zip64 = [](const std::string &what) {
    return what + "; writing zip64 archives is not supported";
  };
  if (arrays.size() > 0xffff)
    return zip64("cannot write " + std::to_string(arrays.size()) +
                 " arrays in one .npz: zip holds at most 65535");
  std::vector<std::string> preambles;
  uint64_t end = 0, directorySize = 0;
  for (const auto &[name, array] : arrays) {
    uint64_t nameLen = name.size() + 4; // ".npy"
    if (nameLen > 0xffff)
      return "cannot write array '" + name.substr(0, 32) +
             "...' to a .npz: a name of " + std::to_string(nameLen) +
             " bytes does not fit zip's 16-bit length";
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
    uint32_t crc = crc32Update(0, preamble.data(), preamble.size());
    crc = crc32Update(crc, array.data.data(), array.data.size());
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
  bytes = std::move(out.bytes);
  return "";
}
