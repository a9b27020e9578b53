//===- NumpyIOTest.cpp - .npy/.npz round trips and malformed files --------===//
//
// Checks the runtime's NumPy readers and writers against each other and
// against hand-made bytes in NumPy's format.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/NumpyIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cstring>

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

TEST(NumpyIOTest, ReportsMissingAndNonZipFiles) {
  auto missing = readNpz("/nonexistent/attnres/inputs.npz");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError()).find("cannot read"),
            std::string::npos);
}

} // namespace
