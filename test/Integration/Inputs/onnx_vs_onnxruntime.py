#!/usr/bin/env python3
"""Imports an ONNX model with onnx-import, runs it on the CPU through the
baseline lowering under mlir-runner, and compares its first output with
onnxruntime's on the same random input.

Tolerance: |got - want| <= 1e-4 + 1e-4 * |want| element-wise (fp32; the
results are read back with six significant digits). Exit status 1 above it.

    onnx_vs_onnxruntime.py MODEL --onnx-import ... --attnres-opt ...
        --mlir-runner ... --lib-dir ... [--input-shape NAME=DIMS]
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnxruntime

from mlir_cpu import add_tool_arguments, print_result, run, tensor_type

# The same random inputs as scripts/compare_ort.py gives attnres-run.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "scripts"))
from compare_ort import random_inputs  # noqa: E402

ATOL = RTOL = 1e-4


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--onnx-import", required=True)
    parser.add_argument("--input-shape", action="append", default=[],
                        help="NAME=DIMS for a model with dynamic axes")
    add_tool_arguments(parser)
    opts = parser.parse_args()

    fixed = {name: [int(d) for d in dims.split("x")]
             for name, dims in (spec.split("=") for spec in opts.input_shape)}
    feeds = random_inputs(opts.model, fixed)
    elements = {np.dtype(np.int64): "i64", np.dtype(np.float32): "f32"}
    constants = [(x, tensor_type(x.shape, elements[x.dtype]))
                 for x in feeds.values()]
    want = onnxruntime.InferenceSession(opts.model).run(None, feeds)[0]
    if want.dtype != np.float32:
        print(f"{opts.model}: the first output must be float32")
        return 1

    command = [opts.onnx_import, opts.model, "--entry", "forward",
               "--print-locations=false"]
    for spec in opts.input_shape:
        command += ["--input-shape", spec]
    imported = subprocess.run(command, capture_output=True, text=True)
    if imported.returncode:
        print(imported.stderr)
        return 1
    rt = tensor_type(want.shape)
    main_fn = ["func.func private @printMemrefF32(memref<*xf32>)",
               "func.func @main() {"]
    for i, (x, xt) in enumerate(constants):
        values = np.array2string(x, separator=",", threshold=sys.maxsize,
                                 floatmode="unique")
        main_fn.append(f"  %x{i} = arith.constant dense<{values}> : {xt}")
    args = ", ".join(f"%x{i}" for i in range(len(constants)))
    types = ", ".join(xt for _, xt in constants)
    main_fn += [f"  %r = call @forward({args}) : ({types}) -> {rt}",
                *print_result("%r", want.shape), "  return", "}"]
    text = imported.stdout.rstrip()
    # Append @main inside the imported module, before its closing brace.
    close = text.rindex("\n}")
    module = text[:close] + "\n" + "\n".join(main_fn) + text[close:] + "\n"
    got = run(opts, module, want.shape)
    err = np.abs(got - want)
    ok = bool(np.all(err <= ATOL + RTOL * np.abs(want)))
    print(f"{opts.model}: max_abs_err={err.max():.3g} "
          f"max_abs_ref={np.abs(want).max():.3g} {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
