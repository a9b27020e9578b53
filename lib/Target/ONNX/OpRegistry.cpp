//===- OpRegistry.cpp - ONNX op handlers by (op, since version) -----------===//
//
// Collects the handlers of every op family and finds the one in force for a
// node's op and opset.
//
//===----------------------------------------------------------------------===//

#include "ImporterInternal.h"
#include "attnres/Target/ONNX/ONNXImport.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <tuple>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

void OpRegistry::add(StringRef opType, int64_t sinceVersion, OpHandler handler,
                     StringRef domain) {
  Entry entry{domain.str(), opType.str(), sinceVersion, std::move(handler),
              family};
  auto key = [](const Entry &e) {
    return std::tie(e.domain, e.opType, e.sinceVersion);
  };
  auto *pos =
      llvm::upper_bound(registered, entry, [&](const Entry &a, const Entry &b) {
        return key(a) < key(b);
      });
  registered.insert(pos, std::move(entry));
}

const OpHandler *OpRegistry::lookup(StringRef domain, StringRef opType,
                                    int64_t opset) const {
  // An op type registered as "Name<N>" stands for Name1, Name2, ...: ops
  // whose arity is part of their name (ai.attnres.BlockAttnRes<N>).
  auto matches = [&](StringRef registeredType) {
    if (!registeredType.consume_back("<N>"))
      return registeredType == opType;
    StringRef arity = opType;
    unsigned n;
    return arity.consume_front(registeredType) && !arity.starts_with("0") &&
           !arity.getAsInteger(10, n) && n > 0;
  };
  const OpHandler *found = nullptr;
  for (const Entry &entry : registered)
    if (entry.domain == domain && matches(entry.opType) &&
        entry.sinceVersion <= opset)
      found = &entry.handler;
  return found;
}

const OpRegistry &mlir::attnres::onnx_import::getOpRegistry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    r.setFamily("Elementwise");
    registerElementwiseOps(r);
    r.setFamily("Normalization");
    registerNormalizationOps(r);
    r.setFamily("MatrixProducts");
    registerMatrixProductOps(r);
    r.setFamily("Convolution");
    registerConvolutionOps(r);
    r.setFamily("ShapeOps");
    registerShapeOps(r);
    r.setFamily("Indexing");
    registerIndexingOps(r);
    r.setFamily("Constants");
    registerConstantOps(r);
    r.setFamily("Control");
    registerControlOps(r);
    r.setFamily("AttnRes");
    registerAttnResOps(r);
    return r;
  }();
  return registry;
}

std::string mlir::attnres::getONNXOpCoverageTable() {
  std::string table;
  llvm::raw_string_ostream os(table);
  os << "| op | domain | opsets | family | handler changes at |\n"
     << "|---|---|---|---|---|\n";
  ArrayRef<OpRegistry::Entry> entries = getOpRegistry().entries();
  for (size_t i = 0; i < entries.size();) {
    size_t j = i;
    SmallVector<std::string> versions;
    while (j < entries.size() && entries[j].domain == entries[i].domain &&
           entries[j].opType == entries[i].opType)
      versions.push_back(std::to_string(entries[j++].sinceVersion));
    const OpRegistry::Entry &first = entries[i];
    // Contrib-domain ops follow their own versioning, not ai.onnx's.
    bool contrib = !first.domain.empty();
    // Markdown would read "<N>" as an HTML tag.
    std::string opType = first.opType;
    if (StringRef(opType).ends_with("<N>"))
      opType = opType.substr(0, opType.size() - 3) + "\\<N\\>";
    os << "| " << opType << " | "
       << (contrib ? first.domain : std::string("ai.onnx")) << " | "
       << (contrib ? versions.front() + "+"
                   : std::to_string(
                         std::max<int64_t>(first.sinceVersion, kMinONNXOpset)) +
                         "-" + std::to_string(getMaxONNXOpset()))
       << " | " << first.family << " | "
       << (versions.size() > 1
               ? llvm::join(ArrayRef(versions).drop_front(), ", ")
               : std::string("-"))
       << " |\n";
    i = j;
  }
  return table;
}
