//===- NpzModel.cpp - .npz arrays as a model's inputs and results ---------===//
//
// Matches arrays read from an .npz to a loaded model's inputs and takes its
// results back as arrays. Apart from Npz.cpp, whose parser the fuzzers
// compile in without the rest of the runtime.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Npz.h"

#include <algorithm>
#include <cstring>

using namespace mlir::attnres::npz;

std::string
mlir::attnres::npz::orderInputs(const attnres_model *model,
                                const NamedArrays &inputs,
                                std::vector<attnres_tensor> &ordered) {
  int count = attnres_model_num_inputs(model);
  auto describe = [](const attnres_tensor_info *info) {
    std::string s =
        std::string(info->name) + ": " + attnres_dtype_name(info->dtype) + "[";
    for (int d = 0; d < info->rank; ++d)
      s += (d ? ", " : "") + (info->shape[d] < 0
                                  ? std::string("?")
                                  : std::to_string(info->shape[d]));
    return s + "]";
  };
  ordered.clear();
  for (int i = 0; i < count; ++i) {
    const attnres_tensor_info *info = attnres_model_input(model, i);
    auto it = std::find_if(inputs.begin(), inputs.end(),
                           [&](auto &e) { return e.first == info->name; });
    if (it == inputs.end()) {
      std::string expected;
      for (int k = 0; k < count; ++k)
        expected += "\n  " + describe(attnres_model_input(model, k));
      return std::string("missing input '") + info->name +
             "'; the model takes:" + expected;
    }
    const HostArray &array = it->second;
    ordered.push_back({attnres_dtype(array.dtype), int32_t(array.shape.size()),
                       const_cast<int64_t *>(array.shape.data()),
                       const_cast<char *>(array.data.data())});
  }
  for (const auto &[name, array] : inputs) {
    bool known = false;
    for (int i = 0; i < count; ++i)
      known |= name == attnres_model_input(model, i)->name;
    if (!known)
      return "unexpected input '" + name +
             "': the model has no input of that name";
  }
  return "";
}

HostArray mlir::attnres::npz::takeTensor(attnres_tensor &tensor) {
  HostArray out;
  out.dtype = DType(tensor.dtype);
  out.shape.assign(tensor.shape, tensor.shape + tensor.rank);
  out.data.resize(out.numElements() * dtypeSize(out.dtype));
  if (!out.data.empty())
    std::memcpy(out.data.data(), tensor.data, out.data.size());
  attnres_tensor_free(&tensor);
  return out;
}
