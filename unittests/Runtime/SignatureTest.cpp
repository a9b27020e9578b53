//===- SignatureTest.cpp - The artifact signature's text ------------------===//
//
// The signature is what a runtime trusts about an artifact's buffers, so a
// damaged or foreign one must be refused, never half-read.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Artifact.h"

#include "gtest/gtest.h"

#include <cstring>

using namespace mlir::attnres::runtime;

namespace {

TensorInfo tensor(std::string name, attnres_dtype dtype,
                  std::vector<int64_t> shape) {
  TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

Signature sample() {
  Signature s;
  s.needsBLAS = true;
  s.inputs.push_back(tensor("input_ids", ATTNRES_I64, {1, -1}));
  s.inputs.push_back(
      tensor("name with spaces\nand a newline", ATTNRES_F16, {}));
  s.outputs.push_back(tensor("logits", ATTNRES_F32, {1, -1, 32000}));
  return s;
}

std::string decode(const std::string &text, Signature &out) {
  return decodeSignature(text.data(), text.size(), out);
}

TEST(SignatureTest, RoundTripsAnyName) {
  Signature in = sample(), out;
  ASSERT_EQ(decode(encodeSignature(in), out), "");
  EXPECT_TRUE(out.needsBLAS);
  ASSERT_EQ(out.inputs.size(), 2u);
  ASSERT_EQ(out.outputs.size(), 1u);
  EXPECT_EQ(out.inputs[1].name, in.inputs[1].name);
  EXPECT_EQ(out.inputs[0].shape, in.inputs[0].shape);
  EXPECT_EQ(out.outputs[0].dtype, ATTNRES_F32);
  EXPECT_EQ(out.outputs[0].shape, in.outputs[0].shape);
}

// A CUDA artifact's needs travel too; each alone.
TEST(SignatureTest, RoundTripsNeeds) {
  for (int needs = 0; needs < 8; ++needs) {
    Signature in = sample(), out;
    in.needsBLAS = needs & 1;
    in.needsCUDA = needs & 2;
    in.needsCUBLAS = needs & 4;
    ASSERT_EQ(decode(encodeSignature(in), out), "");
    EXPECT_EQ(out.needsBLAS, in.needsBLAS) << needs;
    EXPECT_EQ(out.needsCUDA, in.needsCUDA) << needs;
    EXPECT_EQ(out.needsCUBLAS, in.needsCUBLAS) << needs;
  }
  Signature out;
  EXPECT_EQ(decode("attnres-artifact 1\nneeds rocm\n", out),
            "needs 'rocm', which this runtime does not provide");
}

// Inputs' dim names (any bytes) and bounds travel; unnamed, unbounded dims
// write nothing, and a dim entry for an input or axis that is not there is
// damage.
TEST(SignatureTest, RoundTripsDimNamesAndBounds) {
  Signature in = sample(), out;
  in.inputs[0].dimNames = {"", "seq len"};
  in.inputs[0].maxShape = {-1, 4096};
  std::string text = encodeSignature(in);
  ASSERT_EQ(decode(text, out), "");
  EXPECT_EQ(out.inputs[0].dimNames, in.inputs[0].dimNames);
  EXPECT_EQ(out.inputs[0].maxShape, in.inputs[0].maxShape);
  EXPECT_TRUE(out.inputs[1].dimNames.empty());
  EXPECT_EQ(text.find("dim 0 0"), std::string::npos);
  Signature axis, input;
  EXPECT_EQ(decode("attnres-artifact 1\nin 6 1 -1 1:x\ndim 0 1 -1 1:s\n", axis),
            "bad dim entry");
  EXPECT_EQ(
      decode("attnres-artifact 1\nin 6 1 -1 1:x\ndim 1 0 -1 1:s\n", input),
      "bad dim entry");
}

TEST(SignatureTest, RefusesOtherVersionsAndDamage) {
  Signature out;
  std::string text = encodeSignature(sample());
  std::string other = text;
  other.replace(other.find(" 1\n"), 3, " 99\n");
  EXPECT_NE(decode(other, out).find("ABI version 99"), std::string::npos);
  EXPECT_EQ(decode("not a signature", out), "no attnres signature");
  // A truncation is refused or decodes to the whole tensors before the cut,
  // never to a tensor with a cut name or shape.
  Signature whole = sample();
  for (size_t n = 0; n < text.size(); ++n) {
    Signature cut;
    if (!decode(text.substr(0, n), cut).empty())
      continue;
    ASSERT_LE(cut.inputs.size(), whole.inputs.size()) << n;
    for (size_t i = 0; i < cut.inputs.size(); ++i) {
      EXPECT_EQ(cut.inputs[i].name, whole.inputs[i].name) << n;
      EXPECT_EQ(cut.inputs[i].shape, whole.inputs[i].shape) << n;
    }
    if (!cut.outputs.empty()) {
      EXPECT_EQ(cut.outputs[0].shape, whole.outputs[0].shape) << n;
    }
  }
  EXPECT_NE(
      decode(std::string(text).replace(text.find("in 6"), 4, "in 42"), out),
      "");
}

TEST(SignatureTest, DTypeNamesAndSizes) {
  EXPECT_STREQ(attnres_dtype_name(ATTNRES_BOOL), "bool");
  EXPECT_EQ(attnres_dtype_size(ATTNRES_F16), 2u);
  EXPECT_EQ(attnres_dtype_size(ATTNRES_I64), 8u);
  EXPECT_STREQ(attnres_dtype_name(attnres_dtype(77)), "?");
}

} // namespace
