# `cmake --install build --prefix P` puts attnres where another CMake project
# finds it with find_package(AttnRes CONFIG): headers (with the generated
# .h.inc and the .td files), the libraries, the tools, and
# lib/cmake/attnres/AttnResConfig.cmake with imported targets:
#
#   AttnRes::Dialect      the attnres dialect
#   AttnRes::Transforms   the --attnres-* transforms (and their analyses)
#   AttnRes::Conversion   --attnres-to-linalg, --attnres-to-vector, --attnres-linalg-to-blas
#   AttnRes::Pipelines    --attnres-cpu-pipeline, --attnres-report
#   AttnRes::Registration registerAllDialects/Passes/Pipelines (all of the above)
#   AttnRes::ONNXImport   the ONNX importer
#   AttnRes::ONNXConvert  attnres-convert's library (Block AttnRes models as ONNX)
#   AttnRes::Runtime      libattnres_runtime (Model.h, Npz.h; no LLVM)
#
# examples/consumer is a project that uses them; test/install/ builds it
# against an installed tree.

include(CMakePackageConfigHelpers)

set(ATTNRES_PACKAGE_DIR lib/cmake/attnres)
set(_attnres_exports
  AttnResDialect:Dialect
  AttnResAnalysis:Analysis
  AttnResTransforms:Transforms
  AttnResAllocToGPUManaged:AllocToGPUManaged
  AttnResToGPU:ToGPU
  AttnResToLinalg:ToLinalg
  AttnResToVector:ToVector
  AttnResLinalgToBLAS:LinalgToBLAS
  AttnResParallelToRuntime:ParallelToRuntime
  AttnResSameShapeToLinalg:SameShapeToLinalg
  AttnResChecksToRuntime:ChecksToRuntime
  AttnResPipelines:Pipelines
  AttnResRegistration:Registration
  AttnResONNXProto:ONNXProto
  AttnResONNXImport:ONNXImport
  AttnResONNXConvert:ONNXConvert
  AttnResNumpyIO:NumpyIO
  attnres_runtime:Runtime
)
set(_attnres_targets)
foreach(pair ${_attnres_exports})
  string(REPLACE ":" ";" pair ${pair})
  list(GET pair 0 target)
  list(GET pair 1 export_name)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
  list(APPEND _attnres_targets ${target})
endforeach()

install(TARGETS ${_attnres_targets}
  EXPORT AttnResTargets
  ARCHIVE DESTINATION lib
  LIBRARY DESTINATION lib
  INCLUDES DESTINATION include)
install(EXPORT AttnResTargets
  NAMESPACE AttnRes::
  DESTINATION ${ATTNRES_PACKAGE_DIR})

install(DIRECTORY include/attnres runtime/include/attnres
  DESTINATION include
  FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/attnres
  DESTINATION include
  FILES_MATCHING PATTERN "*.inc")
install(TARGETS attnres-opt attnres-run attnres-exec attnres-compile attnres-lsp-server
                onnx-import attnres-translate attnres-convert
  RUNTIME DESTINATION bin)
if(TARGET AttnResPlugin)
  install(TARGETS AttnResPlugin LIBRARY DESTINATION lib)
endif()
install(DIRECTORY ${PROJECT_BINARY_DIR}/docs/ DESTINATION share/doc/attnres)
install(FILES docs/design.md DESTINATION share/doc/attnres)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/AttnResConfig.cmake.in
  ${PROJECT_BINARY_DIR}/AttnResConfig.cmake
  INSTALL_DESTINATION ${ATTNRES_PACKAGE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/AttnResConfigVersion.cmake
  VERSION ${ATTNRES_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/AttnResConfig.cmake
              ${PROJECT_BINARY_DIR}/AttnResConfigVersion.cmake
  DESTINATION ${ATTNRES_PACKAGE_DIR})
