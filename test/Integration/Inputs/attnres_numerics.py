#!/usr/bin/env python3
"""Runs attnres ops through the CPU lowering (the row loops of
--attnres-to-vector for the aggregations by default; --pipeline-options
row-loops=false for --attnres-to-linalg), executes them with mlir-runner,
and compares every result with a NumPy reference of the formulas in the
ops' descriptions (docs/reference/Dialects), computed in float64 from the
inputs as the op sees them: rounded to f16 or bf16 for the half-precision
cases.

Tolerance: |got - want| <= ATOL + RTOL * |want| element-wise, with
ATOL = RTOL = 1e-4 for f32; printMemrefF32 prints six significant digits, so
this is about 20x the printing error and far below any formula mistake. The
half-precision results are rounded once more on the way out: 1e-3 for f16
(half an ulp is 4.9e-4 relative), 8e-3 for bf16 (3.9e-3).

Exit status 1 if any case is outside the tolerance or fails to compile.
"""

import argparse
import sys

import numpy as np

from mlir_cpu import add_tool_arguments, print_result, run, tensor_type

TOLERANCE = {"f32": 1e-4, "f16": 1e-3, "bf16": 8e-3}

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


def round_to(x, element):
    """x as the op sees it when stored as `element`, back in float64."""
    if element == "f16":
        return x.astype(np.float16).astype(np.float64)
    if element == "bf16":
        # Round to nearest even on the upper 16 bits of the f32 pattern.
        bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return x


def program(kernel_body, args, arg_shapes, result_shape, element="f32"):
    """A module with @kernel(args) -> result and a @main that calls it on
    constants (converted to `element`) and prints the result."""
    params = ", ".join(f"%a{i}: {tensor_type(s, element)}"
                       for i, s in enumerate(arg_shapes))
    # A body of several ops defines %r itself.
    body = kernel_body if "%r = " in kernel_body else f"%r = {kernel_body}"
    lines = [
        "func.func private @printMemrefF32(memref<*xf32>)",
        f"func.func @kernel({params}) -> {tensor_type(result_shape, element)} {{",
        f"  {body}",
        f"  return %r : {tensor_type(result_shape, element)}",
        "}",
        "func.func @main() {",
    ]
    operands = []
    for i, (arg, shape) in enumerate(zip(args, arg_shapes)):
        lines.append(f"  %c{i} = arith.constant {dense(arg)}")
        name = f"%c{i}"
        if element != "f32":
            lines.append(f"  %h{i} = tosa.cast %c{i} : ({tensor_type(arg.shape)})"
                         f" -> {tensor_type(arg.shape, element)}")
            name = f"%h{i}"
        if tuple(shape) != arg.shape:
            lines.append(f"  %d{i} = tensor.cast {name} : "
                         f"{tensor_type(arg.shape, element)} to "
                         f"{tensor_type(shape, element)}")
            name = f"%d{i}"
        operands.append(name)
    types = ", ".join(tensor_type(s, element) for s in arg_shapes)
    rtype = tensor_type(result_shape, element)
    lines.append(
        f"  %k = call @kernel({', '.join(operands)}) : ({types}) -> {rtype}")
    if element == "f32":
        lines.append(f"  %r = tensor.cast %k : {rtype} to {rtype}")
    else:
        lines.append(f"  %r = tosa.cast %k : ({rtype}) -> "
                     f"{tensor_type(result_shape)}")
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
           [x, g], [(b, t, d), (d,)], rms_norm(x, g, 1e-5), "f32")

    # A large mean and a small spread: the two-pass variance must not cancel.
    xl = rng.standard_normal((b, t, d)) * 0.5 + 40.0
    bias = rng.standard_normal(d)
    yield ("layer_norm", f"attnres.layer_norm %a0, %a1, %a2 epsilon = 1.0e-05 : "
           f"{tensor_type((b, t, d))}, {tensor_type((d,))}",
           [xl, g, bias], [(b, t, d), (d,), (d,)],
           layer_norm(xl, g, bias, 1e-5), "f32")

    def block_case(name, sources, w, gk, shapes=None, expect=None,
                   element="f32"):
        n = len(sources)
        operands = ", ".join(f"%a{i}" for i in range(n))
        shape = sources[0].shape
        shapes = shapes or [shape] * n + [(shape[-1],)] * 2
        body = (f"attnres.block_attn_res {operands} query %a{n} key_norm "
                f"%a{n + 1} epsilon = 1.0e-06 : "
                f"{tensor_type(shapes[0], element)}, "
                f"{tensor_type(shapes[-1], element)}")
        seen = [round_to(a, element) for a in [*sources, w, gk]]
        want = block_attn_res(seen[:n], seen[n], seen[n + 1], 1e-6)
        if expect is not None:
            assert np.allclose(want, expect), "reference disagrees with itself"
        return (name, body, [*sources, w, gk], shapes, want, element)

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

    # D = 40: two whole vectors of 16 and a masked tail of 8; D = 7: the
    # tail alone; the tail of a dynamic D.
    for dt in (40, 7):
        tail = [rng.standard_normal((b, t, dt)) * s for s in (1.0, 3.0, 0.5)]
        yield block_case(f"block_attn_res_d{dt}", tail,
                         rng.standard_normal(dt), rng.uniform(0.5, 1.5, dt))
    yield block_case("block_attn_res_d40_dynamic",
                     [rng.standard_normal((b, t, 40)) for _ in range(3)],
                     rng.standard_normal(40), rng.uniform(0.5, 1.5, 40),
                     shapes=[dyn] * 3 + [(None,)] * 2)
    for element in ("f16", "bf16"):
        yield block_case(f"block_attn_res_{element}", srcs, w, gk,
                         element=element)

    yield from two_phase_cases(rng, srcs, w, gk)
    yield from summed_partial_cases(rng)
    s40 = [rng.standard_normal((b, t, 40)) * s for s in (1.0, 2.0, 4.0, 0.5)]
    yield from two_phase_cases(rng, s40, rng.standard_normal(40),
                               rng.uniform(0.5, 1.5, 40), suffix="_d40")


def summed_partial_cases(rng):
    """Phase 2 whose partial sum is a tosa.add read again after it: the row
    loops do the add and write the sum; the result uses both."""
    b, t, d = 2, 5, 40
    blocks = [rng.standard_normal((b, t, d)) * s for s in (1.0, 2.0)]
    x, y = (rng.standard_normal((b, t, d)) for _ in range(2))
    w, gk, gn = (rng.standard_normal(d), rng.uniform(0.5, 1.5, d),
                 rng.uniform(0.5, 1.5, d))
    for element in ("f32", "bf16"):
        ty, vty = tensor_type((b, t, d), element), tensor_type((d,), element)
        lines = [f"%o:1, %l:1 = attnres.phase1 %a0, %a1 queries(%a4) "
                 f"key_norms(%a5) epsilon = 1.0e-06 : {ty}, {vty}",
                 f"%p = tosa.add %a2, %a3 : ({ty}, {ty}) -> {ty}",
                 f"%h, %y = attnres.phase2 %o#0, %l#0, %p query %a4 key_norm "
                 f"%a5 epsilon = 1.0e-06 norm %a6 epsilon = 1.0e-05 : "
                 f"{ty}, {vty}",
                 f"%r = tosa.add %y, %p : ({ty}, {ty}) -> {ty}"]
        args = [*blocks, x, y, w, gk, gn]
        seen = [round_to(a, element) for a in args]
        partial = round_to(seen[2] + seen[3], element)
        merged = block_attn_res(seen[:2] + [partial], seen[4], seen[5], 1e-6)
        # The normalized row is rounded before the add, as the op stores it.
        want = round_to(rms_norm(merged, seen[6], 1e-5), element) + partial
        shapes = [(b, t, d)] * 4 + [(d,)] * 3
        yield (f"phase2_summed_partial_{element}", "\n  ".join(lines), args,
               shapes, want, element)


def two_phase_cases(rng, srcs, w, gk, suffix=""):
    """attnres.phase1 over the completed blocks for two layers, then
    attnres.phase2 merging the second layer's partial sum, against the
    unsplit formula; with a `suffix`, the cases that vary in size and type
    only."""
    d = srcs[0].shape[-1]
    w1 = rng.standard_normal(d)
    gk1 = rng.uniform(0.5, 1.5, d)
    gn = rng.uniform(0.5, 1.5, d)

    def case(name, blocks, partial, w0, w1, result, shapes=None,
             element="f32"):
        n = len(blocks)
        shape = blocks[0].shape
        shapes = shapes or [shape] * (n + 1) + [(d,)] * 5
        ty = tensor_type(shapes[0], element)
        vty = tensor_type(shapes[-1], element)
        args = [*blocks, partial, w0, gk, w1, gk1, gn]
        seen = [round_to(a, element) for a in args]
        blocks, partial = seen[:n], seen[n]
        w0, gk_, w1_, gk1_, gn_ = seen[n + 1:]
        ops = ", ".join(f"%a{i}" for i in range(n))
        q0, k0, q1, k1, g = (f"%a{n + 1 + i}" for i in range(5))
        lines = [f"%o:2, %l:2 = attnres.phase1 {ops} queries({q0}, {q1}) "
                 f"key_norms({k0}, {k1}) epsilon = 1.0e-06 : {ty}, {vty}"]
        merge = (f"attnres.phase2 %o#1, %l#1, %a{n} query {q1} key_norm {k1} "
                 f"epsilon = 1.0e-06")
        if result == "first":
            lines.append("%r = tensor.cast %o#0 : " f"{ty} to {ty}")
            want = block_attn_res(blocks, w0, gk_, 1e-6)
        elif result == "merged":
            lines.append(f"%r = {merge} : {ty}, {vty}")
            want = block_attn_res(blocks + [partial], w1_, gk1_, 1e-6)
        else:
            lines.append(f"%h, %y = {merge} norm {g} epsilon = 1.0e-05 : "
                         f"{ty}, {vty}")
            lines.append("%r = tensor.cast %y : " f"{ty} to {ty}" if
                         result == "normalized" else
                         "%r = tensor.cast %h : " f"{ty} to {ty}")
            want = block_attn_res(blocks + [partial], w1_, gk1_, 1e-6)
            if result == "normalized":
                # The merged row the norm sees is f32 in the lowering.
                want = rms_norm(want, gn_, 1e-5)
        return (name, "\n  ".join(lines), args, shapes, want, element)

    blocks, partial = srcs[:3], srcs[3]
    dyn = (None, None, None)
    if suffix:
        yield case("phase1_first_layer" + suffix, blocks, partial, w, w1,
                   "first")
        yield case("phase2_fused_norm_result" + suffix, blocks, partial, w,
                   w1, "fused")
        yield case("phase2_dynamic" + suffix, blocks, partial, w, w1,
                   "normalized", shapes=[dyn] * 4 + [(None,)] * 5)
        for element in ("f16", "bf16"):
            yield case(f"phase2_fused_norm_{element}{suffix}", blocks,
                       partial, w, w1, "normalized", element=element)
            yield case(f"phase1_first_layer_{element}{suffix}", blocks,
                       partial, w, w1, "first", element=element)
        return
    yield case("phase1_first_layer", blocks, partial, w, w1, "first")
    yield case("phase2", blocks, partial, w, w1, "merged")
    yield case("phase2_fused_norm", blocks, partial, w, w1, "normalized")
    yield case("phase2_fused_norm_result", blocks, partial, w, w1, "fused")
    # |logit| in the hundreds on both sides of the merge.
    yield case("phase2_large_logits", blocks, partial, w * 60.0, w1 * 60.0,
               "normalized")
    # One completed block is its own phase-1 output.
    yield case("phase2_single_block", blocks[:1], partial, w, w1, "merged")
    yield case("phase2_dynamic", blocks, partial, w, w1, "normalized",
               shapes=[dyn] * 4 + [(None,)] * 5)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    add_tool_arguments(parser)
    opts = parser.parse_args()

    failures = 0
    for name, body, args, shapes, want, element in cases(
            np.random.default_rng(0)):
        module = program(body, args, shapes, shapes[0], element)
        try:
            got = run(opts, module, want.shape)
        except RuntimeError as err:
            print(f"{name}: FAIL ({err})")
            failures += 1
            continue
        err = np.abs(got - want)
        tol = TOLERANCE[element]
        ok = bool(np.all(err <= tol + tol * np.abs(want)))
        print(f"{name}: max_abs_err={err.max():.3g} "
              f"max_abs_ref={np.abs(want).max():.3g} {'OK' if ok else 'FAIL'}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
