"""Lowers a module to LLVM on the CPU, runs its @main under mlir-runner and
reads back what @main printed with printMemrefF32. Shared by the numerics
tests in this folder."""

import os
import re
import subprocess

import numpy as np

# The project's CPU lowering without BLAS calls, which would need the
# runtime's BLAS libraries; the runtime itself is loaded (--runtime) for the
# run-time checks that dynamic sizes compile to.
CPU_PIPELINE = "builtin.module(attnres-cpu-pipeline{{blas=false parallel=false{}}})"

NUMBER = re.compile(r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:e[-+]?\d+)?)", re.I)


def tensor_type(shape, element="f32"):
    dims = "".join(f"{'?' if d is None else d}x" for d in shape)
    return f"tensor<{dims}{element}>"


def print_result(value, shape):
    """MLIR lines that print tensor `value` of static `shape` (f32)."""
    t = tensor_type(shape)
    m = t.replace("tensor", "memref")
    return [f"  %m = bufferization.to_buffer {value} : {t} to {m}",
            f"  %u = memref.cast %m : {m} to memref<*xf32>",
            "  call @printMemrefF32(%u) : (memref<*xf32>) -> ()"]


def runner_environment():
    """The environment for mlir-runner. In a sanitizer build the runtime it
    loads is instrumented and needs the ASan runtime, which the uninstrumented
    mlir-runner lacks: lit names it in ATTNRES_RUNNER_PRELOAD. Leak checking
    stays off there, since what mlir-runner and libMLIR keep at exit is not
    ours (the runtime's own leaks are checked in the instrumented tools)."""
    env = dict(os.environ)
    preload = env.pop("ATTNRES_RUNNER_PRELOAD", "")
    if preload:
        env["LD_PRELOAD"] = preload
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def run(opts, module, shape):
    """Lowers and runs `module`; returns the printed tensor as `shape`."""
    lowered = subprocess.run(
        [opts.attnres_opt, "--pass-pipeline=" + CPU_PIPELINE.format(
            " " + opts.pipeline_options if opts.pipeline_options else "")],
        input=module,
        capture_output=True, text=True)
    if lowered.returncode:
        raise RuntimeError(f"attnres-opt failed:\n{lowered.stderr[:4000]}")
    libs = ",".join([f"{opts.lib_dir}/lib{name}.so"
                     for name in ("mlir_runner_utils", "mlir_c_runner_utils")]
                    + [opts.runtime])
    ran = subprocess.run([opts.mlir_runner, "-e", "main",
                          "-entry-point-result=void", f"-shared-libs={libs}"],
                         input=lowered.stdout, capture_output=True, text=True,
                         env=runner_environment())
    if ran.returncode:
        raise RuntimeError(f"mlir-runner failed:\n{ran.stderr[:4000]}")
    data = ran.stdout.split("data =", 1)[1]
    values = np.array([float(t) for t in NUMBER.findall(data)], np.float64)
    return values.reshape(shape)


def add_tool_arguments(parser):
    parser.add_argument("--attnres-opt", required=True)
    parser.add_argument("--mlir-runner", required=True)
    parser.add_argument("--lib-dir", required=True,
                        help="folder with libmlir_runner_utils.so")
    parser.add_argument("--runtime", required=True,
                        help="libattnres_runtime.so (attnres_check_failed)")
    parser.add_argument("--pipeline-options", default="",
                        help="more attnres-cpu-pipeline options, e.g. "
                             "row-loops=false")
