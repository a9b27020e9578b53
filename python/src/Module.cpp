//===- Module.cpp - The attnres Python extension --------------------------===//
//
// nanobind over the runtime's C ABI (attnres/Runtime/Model.h) and the
// compiler's entry points (Compiler.h). Inputs are read in place when they
// are C-contiguous CPU arrays; outputs are the runtime's buffers, handed to
// NumPy with a capsule that frees them. Runs, compilations and conversions
// release the GIL.
//
//===----------------------------------------------------------------------===//

#include "Compiler.h"

#include "attnres/Runtime/Model.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

using Array = nb::ndarray<nb::c_contig, nb::device::cpu>;

std::optional<attnres_dtype> toAttnRes(nb::dlpack::dtype t) {
  using nb::dlpack::dtype_code;
  if (t.lanes != 1)
    return std::nullopt;
  if (t.code == uint8_t(dtype_code::Float))
    return t.bits == 16   ? std::optional(ATTNRES_F16)
           : t.bits == 32 ? std::optional(ATTNRES_F32)
           : t.bits == 64 ? std::optional(ATTNRES_F64)
                          : std::nullopt;
  if (t.code == uint8_t(dtype_code::Int))
    return t.bits == 8    ? std::optional(ATTNRES_I8)
           : t.bits == 16 ? std::optional(ATTNRES_I16)
           : t.bits == 32 ? std::optional(ATTNRES_I32)
           : t.bits == 64 ? std::optional(ATTNRES_I64)
                          : std::nullopt;
  if (t.code == uint8_t(dtype_code::UInt) && t.bits == 8)
    return ATTNRES_U8;
  if (t.code == uint8_t(dtype_code::Bool))
    return ATTNRES_BOOL;
  return std::nullopt;
}

nb::dlpack::dtype toDLPack(attnres_dtype t) {
  switch (t) {
  case ATTNRES_F16:
    return nb::dlpack::dtype{uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
  case ATTNRES_F32:
    return nb::dtype<float>();
  case ATTNRES_F64:
    return nb::dtype<double>();
  case ATTNRES_I8:
    return nb::dtype<int8_t>();
  case ATTNRES_I16:
    return nb::dtype<int16_t>();
  case ATTNRES_I32:
    return nb::dtype<int32_t>();
  case ATTNRES_I64:
    return nb::dtype<int64_t>();
  case ATTNRES_U8:
    return nb::dtype<uint8_t>();
  default:
    return nb::dtype<bool>();
  }
}

/// An input or output as Python sees it: (name, dtype, shape), None for a
/// size fixed only when the model runs.
nb::tuple describe(const attnres_tensor_info *info) {
  nb::list shape;
  for (int d = 0; d < info->rank; ++d)
    shape.append(info->shape[d] < 0 ? nb::object(nb::none())
                                    : nb::object(nb::int_(info->shape[d])));
  return nb::make_tuple(std::string(info->name),
                        std::string(attnres_dtype_name(info->dtype)),
                        nb::tuple(shape));
}

class Model {
public:
  explicit Model(const std::string &path) : path(path) {
    model = attnres_model_load(path.c_str());
    if (!model)
      throw std::runtime_error(attnres_last_error());
  }
  Model(const Model &) = delete;
  ~Model() {
    if (model)
      attnres_model_destroy(model);
  }

  nb::list inputs() const {
    nb::list result;
    for (int i = 0, e = attnres_model_num_inputs(model); i < e; ++i)
      result.append(describe(attnres_model_input(model, i)));
    return result;
  }
  nb::list outputs() const {
    nb::list result;
    for (int i = 0, e = attnres_model_num_outputs(model); i < e; ++i)
      result.append(describe(attnres_model_output(model, i)));
    return result;
  }
  std::string device() const { return attnres_model_device(model); }

  /// Runs on `arrays`, in the order of inputs(); returns the outputs in the
  /// order of outputs().
  nb::list run(const std::vector<Array> &arrays) {
    int n = attnres_model_num_inputs(model);
    int m = attnres_model_num_outputs(model);
    if (int(arrays.size()) != n)
      throw nb::value_error(("the model takes " + std::to_string(n) +
                             " inputs, got " + std::to_string(arrays.size()))
                                .c_str());
    std::vector<std::vector<int64_t>> shapes(n);
    std::vector<attnres_tensor> in(n);
    for (int i = 0; i < n; ++i) {
      const Array &a = arrays[i];
      std::optional<attnres_dtype> dtype = toAttnRes(a.dtype());
      if (!dtype)
        throw nb::type_error((std::string("input '") +
                              attnres_model_input(model, i)->name +
                              "' has an element type the runtime does not take")
                                 .c_str());
      for (size_t d = 0; d < a.ndim(); ++d)
        shapes[i].push_back(int64_t(a.shape(d)));
      in[i] = attnres_tensor{*dtype, int32_t(a.ndim()), shapes[i].data(),
                             const_cast<void *>(a.data())};
    }
    std::vector<attnres_tensor> out(m);
    int status;
    {
      nb::gil_scoped_release release;
      status = attnres_model_run(model, in.data(), out.data());
    }
    if (status)
      throw std::runtime_error(attnres_last_error());
    nb::list result;
    for (attnres_tensor &t : out) {
      auto owned = std::make_unique<attnres_tensor>(t);
      std::vector<size_t> shape(t.shape, t.shape + t.rank);
      void *data = t.data;
      nb::capsule owner(owned.get(), [](void *p) noexcept {
        auto *tensor = static_cast<attnres_tensor *>(p);
        attnres_tensor_free(tensor);
        delete tensor;
      });
      owned.release();
      result.append(nb::ndarray<nb::numpy>(data, shape.size(), shape.data(),
                                           owner, nullptr, toDLPack(t.dtype))
                        .cast());
    }
    return result;
  }

  std::string path;

private:
  attnres_model *model = nullptr;
};

} // namespace

NB_MODULE(_attnres, m) {
  m.doc() = "attnres's runtime and compiler, for the attnres package";

  nb::class_<Model>(m, "Model")
      .def(nb::init<const std::string &>(), nb::arg("path"),
           "Loads a model compiled by attnres-compile (a shared library).")
      .def_prop_ro("inputs", &Model::inputs,
                   "(name, dtype, shape) of each input; None for a dynamic "
                   "size")
      .def_prop_ro("outputs", &Model::outputs,
                   "(name, dtype, shape) of each output")
      .def_prop_ro("device", &Model::device, "'cpu' or 'cuda'")
      .def_ro("path", &Model::path)
      .def("run", &Model::run, nb::arg("arrays"),
           "Runs on C-contiguous arrays in the order of `inputs`; returns the "
           "outputs in the order of `outputs`. Releases the GIL.");

  m.def(
      "set_num_threads", [](int n) { return attnres_set_num_threads(n); },
      nb::arg("n"),
      "Threads of later runs, for every model; 0 leaves it as it is. "
      "Returns the count in effect.");

  m.def(
      "compile_model",
      [](const std::string &model, const std::string &output,
         const std::vector<std::string> &inputShapes,
         const std::string &rewrite) {
        std::string error;
        {
          nb::gil_scoped_release release;
          error =
              attnres_python::compileModel(model, output, inputShapes, rewrite);
        }
        if (!error.empty())
          throw std::runtime_error(error);
      },
      nb::arg("model"), nb::arg("output"), nb::arg("input_shapes"),
      nb::arg("rewrite"),
      "Compiles a .onnx or .mlir model into a shared library: the `rewrite` "
      "pipeline (may be empty), then the CPU lowering.");

  m.def(
      "convert_model",
      [](const std::string &input, const std::string &output,
         unsigned numBlocks, const std::vector<unsigned> &blockSizes,
         const std::string &pseudoQueries, bool canonicalize) {
        std::string error, report;
        {
          nb::gil_scoped_release release;
          error =
              attnres_python::convertModel(input, output, numBlocks, blockSizes,
                                           pseudoQueries, canonicalize, report);
        }
        if (!error.empty())
          throw std::runtime_error(error);
        return report;
      },
      nb::arg("input"), nb::arg("output"), nb::arg("num_blocks"),
      nb::arg("block_sizes"), nb::arg("pseudo_queries"),
      nb::arg("canonicalize"),
      "attnres-convert: writes the converted model, returns its report.");
}
