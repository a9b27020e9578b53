//===- NumpyIOTest.cpp - .npy/.npz round trips and malformed files --------===//
//
// Checks the runtime's NumPy readers and writers against each other and
// against hand-made bytes in NumPy's format.
//
//===----------------------------------------------------------------------===//

#include "attnres/Support/NumpyIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <sys/resource.h>
#include <zlib.h>

#include <cstring>
#include <optional>

using namespace mlir::attnres;

namespace {

HostArray makeArray(DType dtype, std::vector<int64_t> shape) {
  HostArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.data.resize(a.numElements() * dtypeSize(dtype));
  for (size_t i = 0; i < a.data.size(); ++i)
    a.data[i] = char(i * 7 + 3);
  return a;
}

TEST(NumpyIOTest, NpyRoundTripKeepsDtypeShapeAndBytes) {
  for (auto [dtype, shape] :
       std::vector<std::pair<DType, std::vector<int64_t>>>{
           {DType::F32, {2, 3}},
           {DType::I64, {5}},
           {DType::Bool, {}},
           {DType::F16, {1, 2, 3}},
           {DType::I32, {0, 4}}}) {
    HostArray a = makeArray(dtype, shape);
    std::string bytes = serializeNpy(a);
    // NumPy aligns the data to 64 bytes.
    EXPECT_EQ((bytes.size() - a.data.size()) % 64, 0u);
    auto b = parseNpy(bytes, "test");
    ASSERT_TRUE(bool(b)) << llvm::toString(b.takeError());
    EXPECT_EQ(b->dtype, a.dtype);
    EXPECT_EQ(b->shape, a.shape);
    EXPECT_EQ(b->data, a.data);
  }
}

TEST(NumpyIOTest, ParsesNumpyHeaderText) {
  std::string header = "{'descr': '<i8', 'fortran_order': False, "
                       "'shape': (2, 1), }";
  header.append(118 - header.size(), ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += char(header.size());
  bytes += char(0);
  bytes += header;
  int64_t values[2] = {-7, 42};
  bytes.append(reinterpret_cast<char *>(values), sizeof(values));
  auto a = parseNpy(bytes, "hand-made");
  ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
  EXPECT_EQ(a->dtype, DType::I64);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 1}));
  int64_t back[2];
  std::memcpy(back, a->data.data(), sizeof(back));
  EXPECT_EQ(back[0], -7);
  EXPECT_EQ(back[1], 42);
}

TEST(NumpyIOTest, RejectsMalformedNpy) {
  auto expectError = [](const std::string &bytes, const std::string &text) {
    auto a = parseNpy(bytes, "bad.npy");
    ASSERT_FALSE(bool(a));
    std::string message = llvm::toString(a.takeError());
    EXPECT_NE(message.find(text), std::string::npos) << message;
  };
  expectError("not numpy", "bad magic");
  std::string good = serializeNpy(makeArray(DType::F32, {4}));
  expectError(good.substr(0, good.size() - 3), "truncated .npy data");
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  expectError(fortran, "Fortran-ordered");
  std::string huge = good;
  huge.replace(huge.find("(4,)"), 4, "(1099511627776, 1099511627776)");
  expectError(huge, "absurdly large");
  std::string complex = good;
  complex.replace(complex.find("<f4"), 3, "<c8");
  expectError(complex, "unsupported dtype '<c8'");
}

TEST(NumpyIOTest, NpzRoundTripKeepsNamesAndOrder) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("npz-test", dir));
  llvm::SmallString<128> path(dir);
  llvm::sys::path::append(path, "arrays.npz");
  NamedArrays arrays;
  arrays.emplace_back("logits", makeArray(DType::F32, {1, 2, 3}));
  arrays.emplace_back("input_ids", makeArray(DType::I64, {1, 4}));
  ASSERT_FALSE(bool(writeNpz(path, arrays)));
  auto back = readNpz(path);
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*back)[i].first, arrays[i].first);
    EXPECT_EQ((*back)[i].second.shape, arrays[i].second.shape);
    EXPECT_EQ((*back)[i].second.data, arrays[i].second.data);
  }
  llvm::sys::fs::remove_directories(dir);
}

//===----------------------------------------------------------------------===//
// Hand-made zip archives, for the reader's handling of lying headers
//===----------------------------------------------------------------------===//

void put16(std::string &s, uint32_t v) {
  s += char(v & 0xff);
  s += char((v >> 8) & 0xff);
}
void put32(std::string &s, uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

std::string deflateRaw(const std::string &data) {
  z_stream stream = {};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  stream.avail_in = data.size();
  stream.next_out = reinterpret_cast<Bytef *>(out.data());
  stream.avail_out = out.size();
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

/// One member of a hand-made archive; the optional fields override what the
/// central directory says, to make it lie.
struct ZipMember {
  ZipMember(std::string name, std::string npy, bool deflated = false)
      : name(std::move(name)), npy(std::move(npy)), deflated(deflated) {}

  std::string name;
  std::string npy;
  bool deflated = false;
  std::optional<uint32_t> declaredSize;
  std::optional<uint16_t> declaredNameLen;
  std::optional<uint32_t> declaredOffset;
};

std::string makeZip(const std::vector<ZipMember> &members) {
  std::string out, directory;
  for (const ZipMember &m : members) {
    std::string stored = m.deflated ? deflateRaw(m.npy) : m.npy;
    uint32_t crc =
        crc32(0, reinterpret_cast<const Bytef *>(m.npy.data()), m.npy.size());
    uint32_t offset = out.size();
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, 0);
    put16(out, m.deflated ? 8 : 0);
    put16(out, 0);
    put16(out, 33);
    put32(out, crc);
    put32(out, stored.size());
    put32(out, m.npy.size());
    put16(out, m.name.size());
    put16(out, 0);
    out += m.name + stored;

    put32(directory, 0x02014b50);
    put16(directory, 20);
    put16(directory, 20);
    put16(directory, 0);
    put16(directory, m.deflated ? 8 : 0);
    put16(directory, 0);
    put16(directory, 33);
    put32(directory, crc);
    put32(directory, stored.size());
    put32(directory, m.declaredSize.value_or(m.npy.size()));
    put16(directory, m.declaredNameLen.value_or(m.name.size()));
    put16(directory, 0);
    put16(directory, 0);
    put16(directory, 0);
    put16(directory, 0);
    put32(directory, 0);
    put32(directory, m.declaredOffset.value_or(offset));
    directory += m.name;
  }
  uint32_t dirOffset = out.size();
  out += directory;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, members.size());
  put16(out, members.size());
  put32(out, directory.size());
  put32(out, dirOffset);
  put16(out, 0);
  return out;
}

std::string npzError(const std::string &zip) {
  auto arrays = parseNpz(zip, "bad.npz");
  if (arrays)
    return "(parsed)";
  return llvm::toString(arrays.takeError());
}

TEST(NumpyIOTest, ParsesStoredAndDeflatedMembers) {
  HostArray a = makeArray(DType::F32, {3, 5});
  HostArray b = makeArray(DType::I8, {100});
  std::string zip = makeZip({{"a.npy", serializeNpy(a)},
                             {"b.npy", serializeNpy(b), /*deflated=*/true}});
  auto arrays = parseNpz(zip, "good.npz");
  ASSERT_TRUE(bool(arrays)) << llvm::toString(arrays.takeError());
  ASSERT_EQ(arrays->size(), 2u);
  EXPECT_EQ((*arrays)[0].first, "a");
  EXPECT_EQ((*arrays)[0].second.data, a.data);
  EXPECT_EQ((*arrays)[1].first, "b");
  EXPECT_EQ((*arrays)[1].second.data, b.data);
}

// The inflate buffer grows in steps from 1 MiB: members that end exactly at,
// just before and past a step must all come back whole.
TEST(NumpyIOTest, InflatesMembersAroundTheBufferSteps) {
  for (int64_t total : {(1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20}) {
    HostArray a = makeArray(DType::U8, {1});
    int64_t header = serializeNpy(a).size() - 1;
    a = makeArray(DType::U8, {total - header});
    ASSERT_EQ(int64_t(serializeNpy(a).size()), total);
    std::string zip = makeZip({{"a.npy", serializeNpy(a), /*deflated=*/true}});
    auto arrays = parseNpz(zip, "steps.npz");
    ASSERT_TRUE(bool(arrays))
        << total << ": " << llvm::toString(arrays.takeError());
    EXPECT_EQ((*arrays)[0].second.data, a.data) << total;
    // One byte more than declared is corrupt, not cut off.
    ZipMember under{"a.npy", serializeNpy(a), /*deflated=*/true};
    under.declaredSize = total - 1;
    EXPECT_NE(npzError(makeZip({under})).find("corrupt deflate data"),
              std::string::npos)
        << total;
  }
}

// The name length in the directory was trusted: a 60,000-byte name in a
// small file read that far past the buffer.
TEST(NumpyIOTest, RejectsNameLongerThanTheArchive) {
  ZipMember m{"a.npy", serializeNpy(makeArray(DType::F32, {2}))};
  m.declaredNameLen = 60000;
  EXPECT_NE(npzError(makeZip({m})).find("corrupt zip directory"),
            std::string::npos);
}

// `local + 30` was computed in 32 bits: an offset near 4 GiB wrapped, passed
// the bounds check, and was dereferenced.
TEST(NumpyIOTest, RejectsMemberOffsetNear4GiB) {
  ZipMember m{"a.npy", serializeNpy(makeArray(DType::F32, {2}))};
  m.declaredOffset = 0xfffffff0u;
  EXPECT_NE(npzError(makeZip({m})).find("corrupt zip entry 'a.npy'"),
            std::string::npos);
}

size_t peakResidentKiB() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// The uncompressed size in the directory (up to 4 GiB) was allocated and
// zeroed before the data was looked at.
TEST(NumpyIOTest, DoesNotAllocateADeclaredSizeTheDataCannotHold) {
  ZipMember m{"a.npy", serializeNpy(makeArray(DType::F32, {16})),
              /*deflated=*/true};
  m.declaredSize = 0xfffffff0u;
  size_t before = peakResidentKiB();
  std::string message = npzError(makeZip({m}));
  EXPECT_LT(peakResidentKiB() - before, size_t(256) << 10)
      << "a 4 GiB declared size was allocated";
  EXPECT_NE(message.find("'a.npy' declares 4294967280 bytes"),
            std::string::npos)
      << message;
}

TEST(NumpyIOTest, RejectsStoredMemberWhoseSizesDisagree) {
  ZipMember m{"a.npy", serializeNpy(makeArray(DType::F32, {16}))};
  m.declaredSize = m.npy.size() + 1;
  EXPECT_NE(npzError(makeZip({m})).find("sizes disagree"), std::string::npos);
}

// A zero dim made the element count 0, and the 2^40 bound on it then let any
// later dim through: strides computed from the shape overflowed.
TEST(NumpyIOTest, BoundsEveryDimEvenAfterAZeroDim) {
  std::string npy = serializeNpy(makeArray(DType::F32, {0, 4}));
  npy.replace(npy.find("(0, 4)"), 6,
              "(0, 4611686018427387904, 4611686018427387904)");
  auto a = parseNpy(npy, "zero.npy");
  ASSERT_FALSE(bool(a));
  EXPECT_NE(llvm::toString(a.takeError()).find("absurdly large"),
            std::string::npos);
  // Empty arrays of sane shapes still parse.
  EXPECT_TRUE(bool(parseNpy(serializeNpy(makeArray(DType::F32, {0, 1 << 20})),
                            "empty.npy")));
}

// Found by npz-fuzzer: a name ending 20 bytes before the end-of-directory
// record in "PK\6\7" looked like a zip64 locator, and the archive was refused.
TEST(NumpyIOTest, ANameThatLooksLikeAZip64LocatorIsJustAName) {
  std::string name = std::string("aPK\x06\x07", 5) + std::string(16, 'x');
  std::string zip = makeZip({{name, serializeNpy(makeArray(DType::F32, {2}))}});
  auto arrays = parseNpz(zip, "locator.npz");
  ASSERT_TRUE(bool(arrays)) << llvm::toString(arrays.takeError());
  EXPECT_EQ((*arrays)[0].first, name);
}

TEST(NumpyIOTest, RejectsChecksumMismatch) {
  std::string zip =
      makeZip({{"a.npy", serializeNpy(makeArray(DType::F32, {16}))}});
  zip[zip.find("NUMPY") + 120] ^= 1; // a data byte
  EXPECT_NE(npzError(zip).find("CRC mismatch"), std::string::npos);
}

// Version 1 stores the header length in 16 bits; a longer header was written
// with its length cut to the low bits.
TEST(NumpyIOTest, NpyWithLongHeaderRoundTrips) {
  HostArray a = makeArray(DType::I16, std::vector<int64_t>(30000, 1));
  std::string bytes = serializeNpy(a);
  EXPECT_EQ(bytes[6], 2) << "format version";
  EXPECT_EQ((bytes.size() - a.data.size()) % 64, 0u);
  auto b = parseNpy(bytes, "long.npy");
  ASSERT_TRUE(bool(b)) << llvm::toString(b.takeError());
  EXPECT_EQ(b->shape, a.shape);
  EXPECT_EQ(b->data, a.data);
}

/// Writes `arrays` to a fresh file and returns the error text, or "" when it
/// succeeds; fails the test if a failed write leaves a file behind.
std::string writeNpzError(const NamedArrays &arrays) {
  llvm::SmallString<128> dir;
  EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("npz-test", dir));
  llvm::SmallString<128> path(dir);
  llvm::sys::path::append(path, "out.npz");
  std::string message;
  if (llvm::Error error = writeNpz(path, arrays)) {
    message = llvm::toString(std::move(error));
    EXPECT_FALSE(llvm::sys::fs::exists(path));
  }
  llvm::sys::fs::remove_directories(dir);
  return message;
}

// The entry count is 16 bits in a plain zip; 65,536 members wrote a count of
// 0, an archive that reads back empty.
TEST(NumpyIOTest, WriteNpzRefusesMoreMembersThanZipCounts) {
  NamedArrays arrays;
  for (int i = 0; i < 65536; ++i)
    arrays.emplace_back("a" + std::to_string(i), makeArray(DType::F32, {0}));
  EXPECT_NE(writeNpzError(arrays).find("65536 arrays"), std::string::npos);
  arrays.pop_back();
  EXPECT_EQ(writeNpzError(arrays), "");
}

TEST(NumpyIOTest, WriteNpzRefusesNamesZipCannotHold) {
  NamedArrays arrays;
  arrays.emplace_back(std::string(70000, 'x'), makeArray(DType::F32, {1}));
  EXPECT_NE(writeNpzError(arrays).find("name of 70004 bytes"),
            std::string::npos);
}

TEST(NumpyIOTest, ReportsMissingAndNonZipFiles) {
  auto missing = readNpz("/nonexistent/attnres/inputs.npz");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError()).find("cannot read"),
            std::string::npos);
}

} // namespace
