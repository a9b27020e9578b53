//===- ONNXSchemas.cpp - ONNX operator arity from the onnx package --------===//
//
// Answers "how many inputs and outputs may this op have at this opset" from a
// table generated out of the installed onnx package's schemas, so that no
// handler ever sees a node whose arity the ONNX spec forbids.
//
//===----------------------------------------------------------------------===//

#include "ImporterInternal.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::attnres::onnx_import;

namespace {
struct SchemaRow {
  const char *opType;
  ONNXSchema schema;
};
} // namespace

static const SchemaRow kSchemas[] = {
#include "ONNXSchemas.inc"
};

const ONNXSchema *
mlir::attnres::onnx_import::lookupONNXSchema(StringRef opType, int64_t opset,
                                             int64_t *firstSince) {
  // Rows are sorted by (name, since): the newest version not after `opset`.
  auto range = llvm::make_range(
      std::lower_bound(std::begin(kSchemas), std::end(kSchemas), opType,
                       [](const SchemaRow &row, StringRef name) {
                         return StringRef(row.opType) < name;
                       }),
      std::upper_bound(std::begin(kSchemas), std::end(kSchemas), opType,
                       [](StringRef name, const SchemaRow &row) {
                         return name < StringRef(row.opType);
                       }));
  if (firstSince)
    *firstSince = range.empty() ? -1 : range.begin()->schema.sinceVersion;
  const ONNXSchema *found = nullptr;
  for (const SchemaRow &row : range)
    if (row.schema.sinceVersion <= opset)
      found = &row.schema;
  return found;
}
