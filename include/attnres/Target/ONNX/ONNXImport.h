//===- ONNXImport.h - ONNX model importer -----------------------*- C++ -*-===//
//
// Imports ONNX models into MLIR (func + TOSA, with linalg/tensor/arith where
// TOSA has no fitting op, and attnres.rms_norm for RMS normalization).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TARGET_ONNX_ONNXIMPORT_H
#define ATTNRES_TARGET_ONNX_ONNXIMPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/IR/Types.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace mlir {
class DialectRegistry;
class MLIRContext;

namespace attnres {

/// Function argument attributes the importer writes and the artifact
/// writer reads: the model's names of a graph input's dynamic dims ("" where
/// it has none; dims of one name are one size at run time), and their upper
/// bounds (--max-dims, -1 for none).
constexpr llvm::StringLiteral kDimNamesAttrName = "onnx.dims";
constexpr llvm::StringLiteral kMaxDimsAttrName = "onnx.max_dims";

/// The oldest default-domain opset the importer accepts; the newest is the
/// one the onnx package found at configure time defines.
constexpr int64_t kMinONNXOpset = 13;
int64_t getMaxONNXOpset();

struct ONNXImportOptions {
  /// Name of the imported function.
  std::string entryName = "main";
  /// Static shapes for graph inputs, by input name; they replace the model's
  /// dimensions (dynamic or not) and must keep the input's rank.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Upper bounds of dynamic dims, by the model's name of the dim
  /// (dim_param): recorded on the function's arguments (onnx.max_dims) and
  /// checked by the runtime before each run.
  llvm::StringMap<int64_t> maxDims;
  /// Initializers of at least this many bytes are stored as dense_resource
  /// blobs instead of inline dense attributes.
  uint64_t resourceThresholdBytes = 64 * 1024;
  /// Name the ops' results after the ONNX tensors they compute (the
  /// kTensorNamesAttrName attribute), for tools that map IR back onto the
  /// model (attnres-convert).
  bool annotateTensorNames = false;
  /// When set, receives the type of every tensor the import defines, by its
  /// ONNX name.
  llvm::StringMap<Type> *tensorTypes = nullptr;
};

/// With ONNXImportOptions::annotateTensorNames: on an op, the ONNX tensor
/// each of its results computes ("" for none), the first name a result got,
/// and the type the result had then (a copy of the op in another type is
/// not that tensor).
constexpr llvm::StringLiteral kTensorNamesAttrName = "onnx.tensor_names";
constexpr llvm::StringLiteral kTensorTypesAttrName = "onnx.tensor_types";

/// Parses `spec` ("NAME=1x16x?", dims separated by 'x') into `options`.
/// Returns an error message on malformed input, an empty string on success.
std::string parseInputShapeSpec(llvm::StringRef spec,
                                ONNXImportOptions &options);

/// The tools' help for --max-dims, which parseMaxDimsSpec reads.
inline constexpr const char *kMaxDimsHelp =
    "Upper bounds of a .onnx model's dynamic dims, by the model's names for "
    "them (seq=4096,batch=8): each run checks its inputs against them and "
    "refuses larger ones with the reason";

/// Parses `spec` ("seq=4096,batch=8": names of dynamic dims and their upper
/// bounds) into `options`. Returns an error message or "".
std::string parseMaxDimsSpec(llvm::StringRef spec, ONNXImportOptions &options);

/// Registers the dialects that imported modules use.
void registerONNXImportDialects(DialectRegistry &registry);

/// Imports the model at `path`. External data files are resolved relative to
/// the model's folder and may not leave it. On failure, emits located
/// diagnostics through `context` and returns null.
OwningOpRef<ModuleOp> importONNXFile(llvm::StringRef path, MLIRContext *context,
                                     const ONNXImportOptions &options);

/// Registers the importer as the `--import-onnx` translation of
/// mlir-translate-style drivers (mlirTranslateMain). Idempotent.
void registerFromONNXTranslation();

/// The ops the importer handles as a Markdown table: op type, domain, the
/// opsets it imports, its family (lib/Target/ONNX/Ops/), and the opsets at
/// which its handler changes. docs/onnx.md includes it verbatim; a test
/// keeps the two in step.
std::string getONNXOpCoverageTable();

/// Imports a model held in memory. `path` names it in diagnostics and
/// locates its external data (its folder), like importONNXFile's.
OwningOpRef<ModuleOp> importONNXBuffer(llvm::StringRef bytes,
                                       llvm::StringRef path,
                                       MLIRContext *context,
                                       const ONNXImportOptions &options);

} // namespace attnres
} // namespace mlir

#endif // ATTNRES_TARGET_ONNX_ONNXIMPORT_H
