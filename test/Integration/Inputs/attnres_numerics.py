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
import sys

import numpy as np

from mlir_cpu import add_tool_arguments, print_result, run, tensor_type

ATOL = 1e-4
RTOL = 1e-4

# --- NumPy reference ----------------------------------------------------------

def rms_norm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def layer_norm(x, g, b, eps):
    centered = x - np.mean(x, axis=-1, keepdims=True)
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + eps) * g + b


def block_attn_res(sources, w, g, eps):
    v = np.stack(sources)                       # [n+1, ..., D]
    k = rms_norm(v, g, eps)
    logits = np.einsum("d,n...d->n...", w, k)   # [n+1, ...]
    logits = logits - logits.max(axis=0, keepdims=True)
    alpha = np.exp(logits)
    alpha /= alpha.sum(axis=0, keepdims=True)
    return np.einsum("n...,n...d->...d", alpha, v)


# --- MLIR generation ----------------------------------------------------------

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
    lines.append(
        f"  %r = call @kernel({', '.join(operands)}) : ({types}) -> {rtype}")
    lines += print_result("%r", result_shape)
    lines += ["  return", "}"]
    return "\n".join(lines) + "\n"


# --- Cases --------------------------------------------------------------------

def cases(rng):
    b, t, d = 2, 5, 16

    x = rng.standard_normal((b, t, d)) * 3.0
    g = rng.uniform(0.5, 1.5, d)
    yield ("rms_norm", f"attnres.rms_norm %a0, %a1 epsilon = 1.0e-05 : "
           f"{tensor_type((b, t, d))}, {tensor_type((d,))}",
           [x, g], [(b, t, d), (d,)], rms_norm(x, g, 1e-5))

    # A large mean and a small spread: the two-pass variance must not cancel.
    xl = rng.standard_normal((b, t, d)) * 0.5 + 40.0
    bias = rng.standard_normal(d)
    yield ("layer_norm", f"attnres.layer_norm %a0, %a1, %a2 epsilon = 1.0e-05 : "
           f"{tensor_type((b, t, d))}, {tensor_type((d,))}",
           [xl, g, bias], [(b, t, d), (d,), (d,)],
           layer_norm(xl, g, bias, 1e-5))

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
    add_tool_arguments(parser)
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
