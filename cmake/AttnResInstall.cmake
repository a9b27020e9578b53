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
  AttnResAllocToGPU:AllocToGPU
  AttnResToGPU:ToGPU
  AttnResToLinalg:ToLinalg
  AttnResToVector:ToVector
  AttnResLinalgToBLAS:LinalgToBLAS
  AttnResParallelToRuntime:ParallelToRuntime
  AttnResReductionsToGPU:ReductionsToGPU
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
# The documentation as the repository lays it out (README.md, docs/ with its
# images, the reference under docs/reference), so that the pages' relative
# links hold in the installed tree. The reference is the one TableGen
# generated for this build, not the repository's copy of it.
install(FILES README.md DESTINATION share/doc/attnres)
install(DIRECTORY docs/ DESTINATION share/doc/attnres/docs
  FILES_MATCHING PATTERN "*.md" PATTERN "*.png"
  PATTERN "reference" EXCLUDE)
install(DIRECTORY ${PROJECT_BINARY_DIR}/docs/
  DESTINATION share/doc/attnres/docs/reference)

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

# `cpack -G DEB` in the build folder (or `ninja package`) makes a Debian
# package of the same tree, installed into /usr: the tools find our
# libraries in /usr/lib through their run path, and MLIR's in Debian's LLVM
# folder (test/install/deb-package.test).
set(CPACK_PACKAGE_NAME attnres)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "attnres developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Block Attention Residuals compiler built on MLIR: ONNX import, the attnres dialect and passes, CPU/GPU lowering and runtime")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# The MLIR and LLVM shared libraries of Debian's LLVM 22 (the tools, the
# plugin); a C compiler links the artifacts attnres-compile writes; OpenBLAS
# and zlib are opened at run time when a model needs them.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libmlir-22, libllvm22, libc6, libstdc++6")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "gcc, libopenblas0, zlib1g")
include(CPack)
