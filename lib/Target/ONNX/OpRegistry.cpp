//===- OpRegistry.cpp - ONNX op handlers by (op, since version) -----------===//
//
// Collects the handlers of every op family and finds the one in force for a
// node's op and opset.
//
//===----------------------------------------------------------------------===//

#include "ImporterInternal.h"

#include <tuple>

using namespace mlir;
using namespace mlir::attnres::onnx_import;

void OpRegistry::add(StringRef opType, int64_t sinceVersion, OpHandler handler,
                     StringRef domain) {
  Entry entry{domain.str(), opType.str(), sinceVersion, std::move(handler)};
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
  const OpHandler *found = nullptr;
  for (const Entry &entry : registered)
    if (entry.domain == domain && entry.opType == opType &&
        entry.sinceVersion <= opset)
      found = &entry.handler;
  return found;
}

const OpRegistry &mlir::attnres::onnx_import::getOpRegistry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    registerElementwiseOps(r);
    registerNormalizationOps(r);
    registerMatrixProductOps(r);
    registerShapeOps(r);
    registerIndexingOps(r);
    registerConstantOps(r);
    registerControlOps(r);
    return r;
  }();
  return registry;
}
