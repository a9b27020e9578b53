//===- Compiler.h - The compiler entry points of the Python package -*- C++
//-*-===//
//
// What the nanobind module calls into the compiler, in plain C++ types: the
// module is built with exceptions and RTTI, LLVM and MLIR without, so the
// two meet only here.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_PYTHON_COMPILER_H
#define ATTNRES_PYTHON_COMPILER_H

#include <string>
#include <vector>

namespace attnres_python {

/// Compiles the .onnx or .mlir model at `model` into the shared library
/// `output`: `rewrite` (passes on the module, "a,b{opt=1}", may be empty)
/// first, which may
/// change the model's signature (depth weights as extra outputs), then the
/// default CPU lowering, the dynamic inputs fixed by `inputShapes`
/// ("NAME=1x16"). Returns "" or the diagnostics.
std::string compileModel(const std::string &model, const std::string &output,
                         const std::vector<std::string> &inputShapes,
                         const std::string &rewrite);

/// attnres-convert: writes the Block AttnRes version of `input` (or, with
/// `canonicalize`, its aggregations as calls) to `output`. Returns "" or the
/// diagnostics; `report` receives the conversion's table.
std::string convertModel(const std::string &input, const std::string &output,
                         unsigned numBlocks,
                         const std::vector<unsigned> &blockSizes,
                         const std::string &pseudoQueries, bool canonicalize,
                         std::string &report);

} // namespace attnres_python

#endif // ATTNRES_PYTHON_COMPILER_H
