#!/usr/bin/env python3
"""Runs attnres ops through --attnres-to-linalg and the CPU lowering, executes
them with mlir-runner, and compares every result with a NumPy reference of
the formulas in shared/DESIGN.md (computed in float64).

Tolerance: |got - want| <= ATOL + RTOL * |want| element-wise, with
ATOL = RTOL = 1e-4; printMemrefF32 prints six significant digits, so this is
about 20x the printing error and far below any formula mistake.

Exit status 1 if any case is outside the tolerance or fails to compile.
"""

import argparse
import re
import subprocess
import sys

import numpy as np

ATOL = 1e-4
RTOL = 1e-4

CPU_LOWERING = [
    "--attnres-to-linalg",
    "--one-shot-bufferize=bufferize-function-boundaries",
    "--convert-linalg-to-loops",
    "--convert-scf-to-cf",
    "--expand-strided-metadata",
    "--lower-affine",
    "--finalize-memref-to-llvm",
    "--convert-math-to-llvm",
    "--convert-arith-to-llvm",
    "--convert-func-to-llvm",
    "--convert-cf-to-llvm",
    "--reconcile-unrealized-casts",
]


# --- NumPy reference ----------------------------------------------------------

def rms_norm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def block_attn_res(sources, w, g, eps):
    v = np.stack(sources)                       # [n+1, ..., D]
    k = rms_norm(v, g, eps)
    logits = np.einsum("d,n...d->n...", w, k)   # [n+1, ...]
    logits = logits - logits.max(axis=0, keepdims=True)
    alpha = np.exp(logits)
    alpha /= alpha.sum(axis=0, keepdims=True)
    return np.einsum("n...,n...d->...d", alpha, v)


# --- MLIR generation ----------------------------------------------------------

def tensor_type(shape):
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}xf32>" if dims else "tensor<f32>"


def dense(array):
    body = np.array2string(array.astype(np.float32), separator=", ",
                           threshold=sys.maxsize, floatmode="unique")
    return f"dense<{body}> : {tensor_type(array.shape)}"


def program(kernel_body, args, arg_shapes, result_shape):
    """A module with @kernel(args) -> result and a @main that calls it on
    constants and prints the result."""
    params = ", ".join(f"%a{i}: {tensor_type(s)}" for i, s in enumerate(arg_shapes))
    lines = [
        "func.func private @printMemrefF32(memref<*xf32>)",
        f"func.func @kernel({params}) -> {tensor_type(result_shape)} {{",
        f"  %r = {kernel_body}",
        f"  return %r : {tensor_type(result_shape)}",
        "}",
        "func.func @main() {",
    ]
    operands = []
    for i, (arg, shape) in enumerate(zip(args, arg_shapes)):
        lines.append(f"  %c{i} = arith.constant {dense(arg)}")
        name = f"%c{i}"
        if tuple(shape) != arg.shape:
            lines.append(f"  %d{i} = tensor.cast %c{i} : {tensor_type(arg.shape)}"
                         f" to {tensor_type(shape)}")
            name = f"%d{i}"
        operands.append(name)
    types = ", ".join(tensor_type(s) for s in arg_shapes)
    rtype = tensor_type(result_shape)
    memref = rtype.replace("tensor", "memref")
    lines += [
        f"  %r = call @kernel({', '.join(operands)}) : ({types}) -> {rtype}",
        f"  %m = bufferization.to_buffer %r : {rtype} to {memref}",
        f"  %u = memref.cast %m : {memref} to memref<*xf32>",
        "  call @printMemrefF32(%u) : (memref<*xf32>) -> ()",
        "  return",
        "}",
    ]
    return "\n".join(lines) + "\n"


NUMBER = re.compile(r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:e[-+]?\d+)?)", re.I)


def run(opts, module, shape):
    lowered = subprocess.run([opts.attnres_opt, *CPU_LOWERING], input=module,
                             capture_output=True, text=True)
    if lowered.returncode:
        raise RuntimeError(f"attnres-opt failed:\n{lowered.stderr}")
    libs = ",".join(f"{opts.lib_dir}/lib{name}.so"
                    for name in ("mlir_runner_utils", "mlir_c_runner_utils"))
    ran = subprocess.run([opts.mlir_runner, "-e", "main",
                          "-entry-point-result=void", f"-shared-libs={libs}"],
                         input=lowered.stdout, capture_output=True, text=True)
    if ran.returncode:
        raise RuntimeError(f"mlir-runner failed:\n{ran.stderr}")
    data = ran.stdout.split("data =", 1)[1]
    values = np.array([float(t) for t in NUMBER.findall(data)], np.float64)
    return values.reshape(shape)


# --- Cases --------------------------------------------------------------------

def cases(rng):
    b, t, d = 2, 5, 16

    x = rng.standard_normal((b, t, d)) * 3.0
    g = rng.uniform(0.5, 1.5, d)
    yield ("rms_norm", f"attnres.rms_norm %a0, %a1 epsilon = 1.0e-05 : "
           f"{tensor_type((b, t, d))}, {tensor_type((d,))}",
           [x, g], [(b, t, d), (d,)], rms_norm(x, g, 1e-5))

    def block_case(name, sources, w, gk, shapes=None, expect=None):
        n = len(sources)
        operands = ", ".join(f"%a{i}" for i in range(n))
        shape = sources[0].shape
        shapes = shapes or [shape] * n + [(shape[-1],)] * 2
        body = (f"attnres.block_attn_res {operands} query %a{n} key_norm "
                f"%a{n + 1} epsilon = 1.0e-06 : {tensor_type(shapes[0])}, "
                f"{tensor_type(shapes[-1])}")
        want = block_attn_res(sources, w, gk, 1e-6)
        if expect is not None:
            assert np.allclose(want, expect), "reference disagrees with itself"
        return (name, body, [*sources, w, gk], shapes, want)

    # Embedding, two block summaries of growing norm and a partial sum.
    srcs = [rng.standard_normal((b, t, d)) * s for s in (1.0, 2.0, 4.0, 0.5)]
    w = rng.standard_normal(d)
    gk = rng.uniform(0.5, 1.5, d)
    yield block_case("block_attn_res", srcs, w, gk)

    # Logits of several hundred: exp overflows unless the max is subtracted.
    yield block_case("block_attn_res_large_logits", srcs, w * 60.0, gk)

    # A zero pseudo-query attends uniformly: the mean of the sources.
    yield block_case("block_attn_res_zero_query", srcs, np.zeros(d), gk,
                     expect=np.mean(np.stack(srcs), axis=0))

    # Dynamic batch, sequence and feature sizes.
    dyn = (None, None, None)
    yield block_case("block_attn_res_dynamic", srcs[:3], w, gk,
                     shapes=[dyn] * 3 + [(None,)] * 2)

    # One token, nine sources (eight blocks plus the partial sum).
    tok = [rng.standard_normal(d) for _ in range(9)]
    yield block_case("block_attn_res_nine_sources", tok, w, gk)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attnres-opt", required=True)
    parser.add_argument("--mlir-runner", required=True)
    parser.add_argument("--lib-dir", required=True,
                        help="folder with libmlir_runner_utils.so")
    opts = parser.parse_args()

    failures = 0
    for name, body, args, shapes, want in cases(np.random.default_rng(0)):
        module = program(body, args, shapes, shapes[0])
        try:
            got = run(opts, module, want.shape)
        except RuntimeError as err:
            print(f"{name}: FAIL ({err})")
            failures += 1
            continue
        err = np.abs(got - want)
        ok = bool(np.all(err <= ATOL + RTOL * np.abs(want)))
        print(f"{name}: max_abs_err={err.max():.3g} "
              f"max_abs_ref={np.abs(want).max():.3g} {'OK' if ok else 'FAIL'}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
