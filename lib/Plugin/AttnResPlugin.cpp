//===- AttnResPlugin.cpp - attnres as an mlir-opt plugin ------------------===//
//
// libAttnResPlugin.so gives any mlir-opt built on the same MLIR shared
// library our dialect and passes:
//
//   mlir-opt --load-dialect-plugin=libAttnResPlugin.so \
//            --load-pass-plugin=libAttnResPlugin.so \
//            --pass-pipeline='builtin.module(func.func(attnres-two-phase))'
//
//===----------------------------------------------------------------------===//

#include "attnres/InitAttnRes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnRes", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            mlir::attnres::registerAllDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnRes", LLVM_VERSION_STRING, []() {
            mlir::attnres::registerAllPasses();
            mlir::attnres::registerAllPipelines();
          }};
}
