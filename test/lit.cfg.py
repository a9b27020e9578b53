# lit configuration for the attnres tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ATTNRES"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = [
    "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "fixtures"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attnres_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%llvm_lib_dir", config.llvm_lib_dir))

llvm_config.use_default_substitutions()
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])

# attnres-run keeps compiled models under $XDG_CACHE_HOME/attnres: the tests
# share one cache in the build tree rather than the user's.
config.environment["XDG_CACHE_HOME"] = os.path.join(config.test_exec_root, "cache")
config.substitutions.append(("%runtime_lib_dir", config.attnres_lib_dir))
config.substitutions.append(
    ("%attnres_build_docs", os.path.join(config.attnres_obj_root, "docs")))
config.substitutions.append(("%attnres_src_root", config.attnres_source_dir))
config.substitutions.append(("%attnres_obj_root", config.attnres_obj_root))
# Debian's own mlir-opt, which loads libAttnResPlugin.so. A sanitizer build's
# plugin would need the sanitizer runtime in that uninstrumented host, and
# its installed libraries would need it in an uninstrumented consumer, so
# the plugin and the install are tested in the plain build only.
config.substitutions.append(
    ("%mlir_opt", os.path.join(config.llvm_tools_dir, "mlir-opt")))
config.substitutions.append(
    ("%attnres_plugin", os.path.join(config.attnres_lib_dir, "libAttnResPlugin.so")))
if not config.sanitize:
    config.available_features.add("uninstrumented")

# Debian's mlir-runner is not instrumented either, but the numerics scripts
# load the instrumented libattnres_runtime into it: they preload the ASan
# runtime (named here) into mlir-runner, and only there (mlir_cpu.py).
if "address" in config.sanitize:
    import subprocess
    config.environment["ATTNRES_RUNNER_PRELOAD"] = subprocess.run(
        [config.c_compiler, "-print-file-name=libclang_rt.asan-x86_64.so"],
        capture_output=True, text=True, check=True).stdout.strip()

# The build's C compiler, instrumented like the build, for programs that link
# libattnres_runtime.
config.substitutions.append(("%cc", config.c_compiler + (
    " -fsanitize=" + config.sanitize if config.sanitize else "")))

# Our tools first, then LLVM 22's FileCheck, not, mlir-runner.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.attnres_tools_dir, append_path=True)

tools = [
    ToolSubst("attnres-opt", unresolved="fatal"),
    ToolSubst("onnx-import", unresolved="fatal"),
    ToolSubst("attnres-run", unresolved="fatal"),
    ToolSubst("attnres-exec", unresolved="fatal"),
    ToolSubst("attnres-compile", unresolved="fatal"),
    ToolSubst("attnres-lsp-server", unresolved="fatal"),
    ToolSubst("attnres-translate", unresolved="fatal"),
    ToolSubst("attnres-convert", unresolved="fatal"),
    ToolSubst("mlir-runner", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(
    tools, [config.attnres_tools_dir, config.llvm_tools_dir])

# ptxas serializes GPU kernels for gpu-module-to-binary; the CUDA toolkit is
# part of the supported set-up, so its absence is a configuration error.
if config.cuda_bin_dir:
    llvm_config.with_environment("PATH", config.cuda_bin_dir, append_path=True)
    config.available_features.add("ptxas")
    # gpu-module-to-binary links libdevice (for the math of the loops the GPU
    # pipeline maps to kernels) from the toolkit CUDA_HOME names.
    config.environment["CUDA_HOME"] = os.path.dirname(config.cuda_bin_dir)

# The host-side CUDA driver of the unit tests: CUDA artifacts run on it
# (kernels do nothing) to test their host side here, without a GPU.
config.substitutions.append(("%fake_libcuda", os.path.join(
    config.attnres_obj_root, "unittests", "libattnres_fake_cuda.so")))
config.substitutions.append(("%fake_libcublas", os.path.join(
    config.attnres_obj_root, "unittests", "libattnres_fake_cublas.so")))
