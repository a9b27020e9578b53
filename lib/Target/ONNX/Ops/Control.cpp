//===- Control.cpp - Identity and inference-time no-ops
//---------------------===//
//
// Ops that forward their input: Identity, and Dropout at inference.
//
//===----------------------------------------------------------------------===//

#include "OpBuilders.h"

#include "attnres/Dialect/AttnRes/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;
using namespace mlir::attnres::onnx_import;

namespace {

LogicalResult importIdentity(NodeImporter &n) {
  FailureOr<SmallVector<Value>> in = requiredInputs(n, 1);
  if (failed(in))
    return failure();
  if (const HostTensor *c = n.constant(0))
    n.setConstantOutput(0, *c);
  else
    n.setOutput(0, (*in)[0]);
  return success();
}

LogicalResult importDropout(NodeImporter &n) {
  if (n.hasOutput(1))
    return n.error() << "the mask output is not supported (inference only)";
  return importIdentity(n);
}

} // namespace

void mlir::attnres::onnx_import::registerControlOps(OpRegistry &r) {
  r.add("Identity", 13, importIdentity);
  r.add("Dropout", 13, importDropout);
}
