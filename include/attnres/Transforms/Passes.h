//===- Passes.h - attnres transformation passes -----------------*- C++ -*-===//
//
// Declares the attnres transformation passes generated from Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TRANSFORMS_PASSES_H
#define ATTNRES_TRANSFORMS_PASSES_H

#include "attnres/Dialect/AttnRes/AttnResDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attnres {

#define GEN_PASS_DECL
#include "attnres/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attnres/Transforms/Passes.h.inc"

} // namespace mlir::attnres

#endif // ATTNRES_TRANSFORMS_PASSES_H
