#!/usr/bin/env python3
"""Runs --attnres-residual-to-block with nonzero pseudo-queries on a
hand-written stream and compares with scripts/attnres_reference.py.

    numpy_reference.py WORKDIR --attnres-run PATH [--num-blocks N |
        --block-sizes A,B,..] [--layers L] [--query-scale S]

The stream: h_{l+1} = h_l + tanh(rms_norm(h_l, g_l) * s_l), L layers, a
final rms_norm; g_l, s_l, the pseudo-queries and key-norm weights are
random (seed 0), the queries large enough that the softmax over depth is
far from uniform; --query-scale multiplies them (the largest |logit| is
printed: above about 88 a softmax without the max subtracted overflows f32).
The stream is lowered twice, with the default attnres-cpu-pipeline (two-phase
split, fused norms) and with two-phase=false (one attnres.block_attn_res per
layer); both must match. Tolerance: |attnres - numpy| <= 1e-5 + 1e-4 |numpy|.
"""

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "..", "scripts"))
import attnres_reference as ref  # noqa: E402

SHAPE = (2, 4, 8)
EPS = 1e-5


def dense(values):
    return "dense<[" + ", ".join(f"{v:.9e}" for v in values) + "]>"


def module(gains, scales, final_gain):
    d = SHAPE[-1]
    t = "tensor<" + "x".join(map(str, SHAPE)) + "xf32>"
    lines = [f"func.func @main(%h0: {t}) -> {t} {{",
             '  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}>'
             ' : () -> tensor<1xi8>']
    for l, (g, s) in enumerate(zip(gains, scales)):
        lines += [
            f'  %g{l} = "tosa.const"() <{{values = {dense(g)} : '
            f'tensor<{d}xf32>}}> : () -> tensor<{d}xf32>',
            f'  %s{l} = "tosa.const"() <{{values = dense<[[[{dense(s)[7:-2]}]]]> : '
            f'tensor<1x1x{d}xf32>}}> : () -> tensor<1x1x{d}xf32>',
            f"  %n{l} = attnres.rms_norm %h{l}, %g{l} epsilon = {EPS:.6e} : "
            f"{t}, tensor<{d}xf32>",
            f"  %m{l} = tosa.mul %n{l}, %s{l}, %shift : ({t}, "
            f"tensor<1x1x{d}xf32>, tensor<1xi8>) -> {t}",
            f"  %f{l} = tosa.tanh %m{l} : ({t}) -> {t}",
            f"  %h{l + 1} = tosa.add %h{l}, %f{l} : ({t}, {t}) -> {t}",
        ]
    n = len(gains)
    lines += [
        f'  %gf = "tosa.const"() <{{values = {dense(final_gain)} : '
        f'tensor<{d}xf32>}}> : () -> tensor<{d}xf32>',
        f"  %y = attnres.rms_norm %h{n}, %gf epsilon = {EPS:.6e} : "
        f"{t}, tensor<{d}xf32>",
        f"  return %y : {t}", "}"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("--attnres-run", required=True)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--num-blocks", type=int, default=0)
    parser.add_argument("--block-sizes", default="")
    parser.add_argument("--query-scale", type=float, default=1.0)
    opts = parser.parse_args()

    rng = np.random.default_rng(0)
    layers, d = opts.layers, SHAPE[-1]
    gains = rng.uniform(0.5, 1.5, (layers, d)).astype(np.float32)
    scales = rng.standard_normal((layers, d)).astype(np.float32)
    final_gain = rng.uniform(0.5, 1.5, d).astype(np.float32)
    queries = (rng.standard_normal((layers + 1, d)) * 1.5 *
               opts.query_scale).astype(np.float32)
    key_norms = rng.uniform(0.5, 1.5, (layers + 1, d)).astype(np.float32)
    h0 = rng.standard_normal(SHAPE).astype(np.float32)

    if opts.block_sizes:
        sizes = [int(s) for s in opts.block_sizes.split(",")]
        option = f"block-sizes={opts.block_sizes}"
    else:
        sizes = ref.block_sizes(layers, opts.num_blocks)
        option = f"num-blocks={opts.num_blocks}"

    os.makedirs(opts.workdir, exist_ok=True)
    path = lambda name: os.path.join(opts.workdir, name)  # noqa: E731
    with open(path("stream.mlir"), "w") as f:
        f.write(module(gains, scales, final_gain))
    np.savez(path("queries.npz"), queries=queries, key_norm_weights=key_norms)
    np.savez(path("inputs.npz"), arg0=h0)
    def run(lowering, tag):
        pipeline = (f"builtin.module(attnres-residual-to-block{{{option} "
                    f"pseudo-queries={path('queries.npz')}}},{lowering})")
        out = path(f"out_{tag}.npz")
        result = subprocess.run([opts.attnres_run, path("stream.mlir"),
                                 "--inputs", path("inputs.npz"), "--outputs",
                                 out, "--pipeline", pipeline],
                                capture_output=True, text=True)
        if result.returncode:
            sys.stderr.write(result.stderr)
            sys.exit(2)
        return np.load(out)["result0"].astype(np.float64)

    results = {"two-phase": run("attnres-cpu-pipeline", "split"),
               "unsplit": run("attnres-cpu-pipeline{two-phase=false}",
                              "unsplit")}

    h = h0.astype(np.float64)
    norm = lambda g: (lambda x: ref.rms_norm(x, g, EPS))  # noqa: E731
    layer_fns = [(norm(g), lambda x, s=s: np.tanh(x * s))
                 for g, s in zip(gains, scales)]
    largest = [0.0]
    depth_logits = ref.depth_logits

    def recording_logits(*args, **kwargs):
        logits = depth_logits(*args, **kwargs)
        largest[0] = max(largest[0], float(np.abs(logits).max()))
        return logits

    ref.depth_logits = recording_logits
    want = ref.block_attnres_forward(h, layer_fns, norm(final_gain),
                                     queries.astype(np.float64),
                                     key_norms.astype(np.float64), sizes,
                                     eps=1e-6)
    ref.depth_logits = depth_logits
    standard = ref.standard_forward(h, layer_fns, norm(final_gain))
    ok = True
    for form, got in results.items():
        err = np.abs(got - want)
        within = bool(np.all(err <= 1e-5 + 1e-4 * np.abs(want)))
        ok &= within
        print(f"blocks {sizes}, {form}: max_abs_err={err.max():.3g} vs the "
              f"NumPy reference {'OK' if within else 'FAIL'}")
    err = np.abs(results["two-phase"] - results["unsplit"])
    within = bool(np.all(err <= 1e-5 + 1e-4 * np.abs(results["unsplit"])))
    ok &= within
    print(f"blocks {sizes}, two-phase vs unsplit: max_abs_err={err.max():.3g} "
          f"{'OK' if within else 'FAIL'}")
    print(f"largest |logit| {largest[0]:.3g}; distance to the standard "
          f"stream {np.abs(want - standard).max():.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
