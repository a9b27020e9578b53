//===- CUDAModelsTest.cpp - Whole models on a GPU, against the CPU path ---===//
//
// Runs artifacts that attnres-compile --target=cuda built at build time
// (gpu-models/, beside this binary: the GPU machines have no LLVM) and the
// same models compiled for the CPU, on the same inputs, through the C ABI a
// user links; every output must agree. Skips, saying why, where the runtime
// finds no CUDA device, or one without cubins here (sm_8x and sm_9x).
//
// Tolerance, of the largest reference magnitude per output: 2e-3 for f32
// models (the GPU's exp, log and rsqrt are the hardware's approximations
// and its sums run in another order), 1e-2 for f16 and 3e-2 for bf16
// streams, about ten times what another fusion of the same model gives on
// the CPU (6.5e-4 and 3.7e-3 with the split and fused norm off). A wrong
// buffer, a skipped launch or a kernel reading stale memory gives errors of
// the outputs' own size.
//
//===----------------------------------------------------------------------===//

#include "BesideTest.h"
#include "attnres/Runtime/CUDA.h"
#include "attnres/Runtime/Model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

struct ModelDeleter {
  void operator()(attnres_model *m) const { attnres_model_destroy(m); }
};
using ModelPtr = std::unique_ptr<attnres_model, ModelDeleter>;

/// The suffix of the cubins built for the device, or "" when none fits: a
/// cubin runs on its own major architecture only.
std::string cubinSuffix(int capability) {
  if (capability >= 80 && capability < 90)
    return "sm80";
  if (capability >= 90 && capability < 100)
    return "sm90";
  return "";
}

/// Owned input tensors, filled from the signature: token ids in [0, 11),
/// masks of ones, smooth floats.
struct Inputs {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<char>> data;
  std::vector<attnres_tensor> tensors;

  explicit Inputs(const attnres_model *model) {
    int n = attnres_model_num_inputs(model);
    shapes.resize(n);
    data.resize(n);
    for (int i = 0; i < n; ++i) {
      const attnres_tensor_info *info = attnres_model_input(model, i);
      int64_t count = 1;
      for (int d = 0; d < info->rank; ++d) {
        int64_t size = info->shape[d] < 0 ? (d == 0 ? 1 : 8) : info->shape[d];
        shapes[i].push_back(size);
        count *= size;
      }
      data[i].resize(
          std::max<size_t>(count * attnres_dtype_size(info->dtype), 1));
      bool mask = std::string(info->name).find("mask") != std::string::npos;
      for (int64_t e = 0; e < count; ++e)
        fill(data[i].data(), info->dtype, e, mask);
      tensors.push_back(
          {info->dtype, info->rank, shapes[i].data(), data[i].data()});
    }
  }

private:
  static void fill(char *at, attnres_dtype dtype, int64_t e, bool mask) {
    int64_t id = mask ? 1 : (e * 5 + 1) % 11;
    switch (dtype) {
    case ATTNRES_I64:
      reinterpret_cast<int64_t *>(at)[e] = id;
      break;
    case ATTNRES_I32:
      reinterpret_cast<int32_t *>(at)[e] = int32_t(id);
      break;
    case ATTNRES_BOOL:
      at[e] = 1;
      break;
    case ATTNRES_F32:
      reinterpret_cast<float *>(at)[e] = mask ? 1.0f : std::sin(float(e));
      break;
    default:
      ADD_FAILURE() << "no input of type " << attnres_dtype_name(dtype)
                    << " in the test models";
    }
  }
};

struct Outputs {
  std::vector<attnres_tensor> tensors;
  explicit Outputs(int n) : tensors(n) {}
  ~Outputs() {
    for (attnres_tensor &t : tensors)
      attnres_tensor_free(&t);
  }
};

struct TestModel {
  const char *name;
  double tolerance;
};

// What gtest prints of a parameter, in test listings too.
void PrintTo(const TestModel &model, std::ostream *os) { *os << model.name; }

class CUDAModelsTest : public ::testing::TestWithParam<TestModel> {
protected:
  void SetUp() override {
    char what[256];
    if (!attnres_cuda_available(what, sizeof(what)))
      GTEST_SKIP() << "needs a GPU: " << what;
    suffix = cubinSuffix(attnres_cuda_compute_capability());
    if (suffix.empty())
      GTEST_SKIP() << "no cubins for compute capability "
                   << attnres_cuda_compute_capability()
                   << " (built: sm_80, sm_90)";
  }
  std::string suffix;
};

TEST_P(CUDAModelsTest, MatchesTheCPU) {
  std::string base = besideTest(std::string("gpu-models/") + GetParam().name);
  if (access((base + ".cpu.so").c_str(), R_OK) != 0)
    GTEST_SKIP() << base << ".cpu.so was not built (no ptxas at build time)";
  ModelPtr cpu(attnres_model_load((base + ".cpu.so").c_str()));
  ASSERT_TRUE(cpu) << attnres_last_error();
  ModelPtr gpu(attnres_model_load((base + "." + suffix + ".so").c_str()));
  ASSERT_TRUE(gpu) << attnres_last_error();
  EXPECT_STREQ(attnres_model_device(gpu.get()), "cuda");
  EXPECT_STREQ(attnres_model_device(cpu.get()), "cpu");
  ASSERT_EQ(attnres_model_num_outputs(gpu.get()),
            attnres_model_num_outputs(cpu.get()));

  Inputs inputs(cpu.get());
  int n = attnres_model_num_outputs(cpu.get());
  Outputs expected(n), actual(n);
  ASSERT_EQ(attnres_model_run(cpu.get(), inputs.tensors.data(),
                              expected.tensors.data()),
            0)
      << attnres_last_error();
  // Twice: a second run reuses the loaded modules and the weights' copy.
  for (int run = 0; run < 2; ++run) {
    Outputs got(n);
    ASSERT_EQ(
        attnres_model_run(gpu.get(), inputs.tensors.data(), got.tensors.data()),
        0)
        << attnres_last_error();
    std::swap(actual.tensors, got.tensors);
  }

  for (int i = 0; i < n; ++i) {
    const attnres_tensor &want = expected.tensors[i];
    const attnres_tensor &have = actual.tensors[i];
    const char *name = attnres_model_output(cpu.get(), i)->name;
    ASSERT_EQ(have.rank, want.rank) << name;
    ASSERT_TRUE(std::equal(want.shape, want.shape + want.rank, have.shape))
        << name;
    ASSERT_EQ(want.dtype, ATTNRES_F32) << name << ": f32 outputs only";
    int64_t count = 1;
    for (int d = 0; d < want.rank; ++d)
      count *= want.shape[d];
    auto *w = static_cast<const float *>(want.data);
    auto *h = static_cast<const float *>(have.data);
    double scale = 0, worst = 0;
    int64_t at = 0;
    for (int64_t e = 0; e < count; ++e)
      scale = std::max(scale, std::fabs(double(w[e])));
    for (int64_t e = 0; e < count; ++e) {
      double error = std::fabs(double(h[e]) - double(w[e]));
      if (!(error <= worst)) { // NaN counts as the worst
        worst = std::isnan(error) ? INFINITY : error;
        at = e;
      }
    }
    EXPECT_LE(worst, GetParam().tolerance * scale)
        << name << "[" << at << "]: GPU " << h[at] << ", CPU " << w[at]
        << " (largest |CPU| " << scale << ")";
  }
}

// The models of unittests/CMakeLists.txt: an AttnRes export raised to the
// dialect (phase 1, phase 2, the one-shot aggregation, LayerNorm), and
// exports rewritten to Block AttnRes (phase 2 fused with RMSNorm, RoPE,
// causal masks, grouped-query attention; f16 and bf16 streams).
INSTANTIATE_TEST_SUITE_P(
    Models, CUDAModelsTest,
    ::testing::Values(
        TestModel{"gpt2_attnres_n4", 2e-3}, TestModel{"llama_rope", 2e-3},
        TestModel{"llama_rope_loops", 2e-3},
        TestModel{"llama_rope_linalg", 2e-3},
        TestModel{"llama_rope_plain", 2e-3},
        TestModel{"steps_llama_rope", 2e-3},
        TestModel{"llama_dynamo_mask", 2e-3},
        TestModel{"qwen2_dynamo_fp16", 1e-2},
        TestModel{"falcon_dynamo_bf16", 3e-2},
        TestModel{"op_elementwise", 2e-3}, TestModel{"op_softmax", 2e-3},
        TestModel{"op_layernorm", 2e-3}, TestModel{"op_reduce_outer", 2e-3},
        TestModel{"op_transpose", 2e-3}, TestModel{"op_matmul_weight", 2e-3},
        TestModel{"op_matmul_batched", 2e-3},
        TestModel{"op_matmul_transposed", 2e-3}, TestModel{"op_gemm", 2e-3},
        TestModel{"op_gather", 2e-3}),
    [](const auto &info) { return std::string(info.param.name); });

} // namespace
