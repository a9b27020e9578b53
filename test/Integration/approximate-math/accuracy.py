#!/usr/bin/env python3
"""Measures the CPU pipeline's f32 math functions against libm in double
precision, and fails when one is off by more than its bound.

    accuracy.py WORKDIR [--bin-dir DIR] [--approximate OPS] [--only F,G]
                [--report]

Writes a module that applies each function elementwise to one input
vector, runs it with attnres-run (default pipeline: the polynomial
approximations of --attnres-approximate-math for the functions it
approximates by default; with --approximate, attnres-opt approximates
exactly OPS first and everything else calls libm), and compares each result
with Python's math module on the same f32 inputs, rounded to f32: error in
units in the last place (ulps) of the f32 reference. Inputs: a dense sweep
of each function's domain, the edges of its range (overflow, underflow,
subnormals), signed zeros, infinities and NaN. Special values must match
exactly (NaN where libm gives NaN, the same infinity, the same zero).
"""

import argparse
import math
import os
import subprocess
import sys

import numpy as np

N = 1 << 16


def inputs():
    rng = np.random.default_rng(7)
    f32 = np.finfo(np.float32)
    parts = [
        np.linspace(-10, 10, 8192),
        np.linspace(-100, 100, 8192),
        np.linspace(-1e-3, 1e-3, 2048),
        # exp's edges: ln(FLT_MAX) = 88.72, subnormal results below -87.3,
        # zero below -103.97.
        np.linspace(80, 95, 2048),
        np.linspace(-110, -80, 4096),
        # log's: subnormal and tiny inputs, numbers near 1, huge ones.
        np.geomspace(1e-45, 1e-30, 1024),
        np.geomspace(1e-30, 1e30, 8192),
        np.geomspace(1e30, float(f32.max), 512),
        1 + np.linspace(-1e-4, 1e-4, 2048),
        # tanh saturates past 9.01; expm1 and log1p near zero and -1.
        np.linspace(-1 + 1e-6, -0.5, 1024),
        rng.standard_normal(8192) * 4,
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, f32.max, -f32.max,
                  f32.tiny, -f32.tiny, 1e-45, -1e-45, 1.0, -1.0]),
    ]
    x = np.concatenate(parts).astype(np.float32)
    pad = N - x.size
    assert pad >= 0
    return np.concatenate([x, rng.uniform(-20, 20, pad).astype(np.float32)])


def safe(fn):
    def apply(v):
        try:
            return fn(v)
        except OverflowError:
            return math.inf
        except ValueError:  # outside the domain: libm gives NaN or -inf
            if v == 0 and fn in (math.log, math.log2):
                return -math.inf
            if v == -1 and fn is math.log1p:
                return -math.inf
            return math.nan
    return apply


FUNCTIONS = {
    # name: (reference, bound in f32 ulps over normal arguments and results)
    # Seen with --attnres-approximate-math (2026-12-03): exp 4.55 (next to
    # overflow), expm1 4.55, tanh 4.04, erf 3.58, log1p
    # 1.85, log 0.77, log2 1.40.
    "exp": (math.exp, 5),
    "expm1": (math.expm1, 5),
    "tanh": (math.tanh, 5),
    "erf": (math.erf, 4),
    "log1p": (math.log1p, 2),
    "log": (math.log, 1),
    "log2": (math.log2, 2),
}


def module(names):
    n = N
    body = []
    results = []
    for i, name in enumerate(names):
        body.append(f"""
    %e{i} = tensor.empty() : tensor<{n}xf32>
    %r{i} = linalg.generic {{indexing_maps = [#id, #id],
        iterator_types = ["parallel"]}}
        ins(%x : tensor<{n}xf32>) outs(%e{i} : tensor<{n}xf32>) {{
    ^bb0(%a: f32, %b: f32):
      %y = math.{name} %a : f32
      linalg.yield %y : f32
    }} -> tensor<{n}xf32>""")
        results.append(f"%r{i}")
    types = ", ".join([f"tensor<{n}xf32>"] * len(names))
    return (f"#id = affine_map<(d0) -> (d0)>\n"
            f"func.func @main(%x: tensor<{n}xf32>) -> ({types}) {{"
            + "".join(body) +
            f"\n    return {', '.join(results)} : {types}\n}}\n")


def ulps(got, want):
    """Distance in f32 ulps of `want` (double) from `got` (f32)."""
    with np.errstate(over="ignore"):
        want32 = want.astype(np.float32)
    spacing = np.spacing(np.abs(want32)).astype(np.float64)
    spacing = np.maximum(spacing, np.float64(np.finfo(np.float32).smallest_subnormal))
    return np.abs(got.astype(np.float64) - want) / spacing


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workdir")
    p.add_argument("--bin-dir", default="",
                   help="where attnres-run and attnres-opt are (default: PATH)")
    p.add_argument("--approximate", metavar="OPS",
                   help="comma-separated functions to approximate")
    p.add_argument("--only", help="comma-separated functions")
    p.add_argument("--report", action="store_true",
                   help="print every function's figures, and do not fail")
    opts = p.parse_args()
    names = opts.only.split(",") if opts.only else list(FUNCTIONS)
    os.makedirs(opts.workdir, exist_ok=True)
    src = os.path.join(opts.workdir, "math.mlir")
    with open(src, "w") as f:
        f.write(module(names))
    x = inputs()
    np.savez(os.path.join(opts.workdir, "in.npz"), arg0=x)
    out = os.path.join(opts.workdir, "out.npz")
    cmd = [os.path.join(opts.bin_dir, "attnres-run"), src, "--no-cache",
           "--inputs", os.path.join(opts.workdir, "in.npz"), "--outputs", out]
    if opts.approximate is not None:
        subprocess.run([os.path.join(opts.bin_dir, "attnres-opt"), src, "-o",
                        src, f"--attnres-approximate-math=ops={opts.approximate}"],
                       check=True)
        cmd += ["--pipeline",
                "builtin.module(attnres-cpu-pipeline{approximate-math=false})"]
    subprocess.run(cmd, check=True)
    got = np.load(out)
    keys = sorted(got.files, key=lambda k: int(k.split("_")[-1]) if k.split("_")[-1].isdigit() else 0)
    failed = False
    for name, key in zip(names, keys):
        ref, bound = FUNCTIONS[name]
        want = np.array([safe(ref)(float(v)) for v in x])
        y = got[key]
        with np.errstate(over="ignore"):
            want32 = want.astype(np.float32)
        nan_want, nan_got = np.isnan(want), np.isnan(y)
        # Overflow, underflow to zero, infinities and NaN.
        special = ~np.isfinite(want32) | (want32 == 0)
        # Subnormal arguments and results: the approximations flush them
        # (checked below in absolute terms).
        tiny = np.float32(np.finfo(np.float32).tiny)
        subnormal = ~special & ((np.abs(want32) < tiny) |
                                ((x != 0) & (np.abs(x) < tiny)))
        finite = ~special & ~subnormal
        flushed = subnormal & (np.abs(want) < tiny)
        flush_err = np.abs(y[flushed].astype(np.float64) - want[flushed])
        sub_args = subnormal & ~flushed
        err = ulps(y[finite], want[finite])
        worst = int(np.argmax(err))
        bad_special = special & ~((nan_want & nan_got) |
                                  ((want32 == y) &
                                   (np.signbit(want32) == np.signbit(y))))
        # A result that underflows to zero in f32 may be the smallest
        # subnormal: compare those in ulps too.
        with np.errstate(invalid="ignore", over="ignore"):
            near = np.isfinite(want32) & (ulps(y, want) <= bound)
        bad_special &= ~near
        print(f"{name:6} max {err.max():7.2f} ulp at x={x[finite][worst]:.9g} "
              f"(got {y[finite][worst]:.9g}, libm {want[finite][worst]:.9g}); "
              f"mean {err.mean():.3f} ulp; subnormal results: max abs error "
              f"{(flush_err.max() if flush_err.size else 0):.3g}; special "
              f"values wrong: {int(bad_special.sum())}")
        if sub_args.any():
            i = np.flatnonzero(sub_args)[np.argmax(np.abs(
                y[sub_args].astype(np.float64) - want[sub_args]))]
            print(f"    subnormal arguments: worst x={x[i]!r}: got {y[i]!r}, "
                  f"libm {want[i]!r}")
        for i in np.flatnonzero(bad_special)[:5]:
            print(f"    x={x[i]!r}: got {y[i]!r}, libm {want[i]!r}")
        if (err.max() > bound or bad_special.any() or
                (flush_err.size and flush_err.max() > tiny)):
            failed = True
            print(f"  FAIL: {name} is outside {bound} ulp or mishandles "
                  "special values")
    if failed and not opts.report:
        sys.exit(1)


if __name__ == "__main__":
    main()
