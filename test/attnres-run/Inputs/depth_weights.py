#!/usr/bin/env python3
"""Checks attnres-run --dump-depth-weights and scripts/plot_depth_weights.py.

    depth_weights.py WORKDIR --attnres-run PATH --fixtures DIR

1. single_separate.onnx (one aggregation of three inputs): the dumped
   weights, float32[3], must equal a NumPy reference computed from the
   model's initializers (the key-norm 'weight' [32], and the Linear(D, 1)
   query, the other 32-element initializer) and the inputs, softmax_i(w . rms_norm(v_i)) averaged over
   tokens, within 1e-5 + 1e-4 |ref|; they sum to one.
2. llama_n2_einsum_dy.onnx with --per-token: one array per aggregation,
   float32[n, 1, 8] with n = 1, 2, 2, 2, 3, 3, 3 (blocks [3, 3]; the final
   aggregation last), each summing to one per token; the logits still match
   onnxruntime (the weights are extra results); the heatmap is a PNG.
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
PLOT = os.path.join(HERE, "..", "..", "..", "scripts", "plot_depth_weights.py")


def run(opts, model, inputs, extra):
    out = os.path.join(opts.workdir, "out.npz")
    weights = os.path.join(opts.workdir, "weights.npz")
    subprocess.run([opts.attnres_run, model, "--inputs", inputs, "--outputs",
                    out, "--dump-depth-weights", weights, *extra], check=True)
    return dict(np.load(out)), dict(np.load(weights))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("--attnres-run", required=True)
    parser.add_argument("--fixtures", required=True)
    opts = parser.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    rng = np.random.default_rng(0)
    ok = True

    model = os.path.join(opts.fixtures, "single_separate.onnx")
    feeds = {f"v{i}": rng.standard_normal((1, 8, 32)).astype(np.float32)
             for i in range(3)}
    inputs = os.path.join(opts.workdir, "single.npz")
    np.savez(inputs, **feeds)
    _, weights = run(opts, model, inputs, [])
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64)
             for t in onnx.load(model).graph.initializer}
    g = inits.pop("weight")
    (w,) = [a.reshape(-1) for a in inits.values() if a.size == 32]
    v = np.stack([feeds[f"v{i}"].astype(np.float64) for i in range(3)])
    k = v / np.sqrt(np.mean(v * v, -1, keepdims=True) + 1e-6) * g
    logits = np.einsum("d,nbtd->nbt", w, k)
    alpha = np.exp(logits - logits.max(0))
    alpha /= alpha.sum(0)
    want = alpha.reshape(3, -1).mean(1)
    got = weights["aggregation_0"].astype(np.float64)
    err = np.abs(got - want)
    within = got.shape == (3,) and bool(np.all(err <= 1e-5 + 1e-4 * want))
    ok &= within
    print(f"single_separate: weights {np.round(got, 4).tolist()} vs NumPy "
          f"{np.round(want, 4).tolist()}: max_abs_err={err.max():.3g}, sum "
          f"{got.sum():.6f} {'OK' if within else 'FAIL'}")

    model = os.path.join(opts.fixtures, "llama_n2_einsum_dy.onnx")
    feeds = {"input_ids": rng.integers(0, 64, (1, 8)).astype(np.int64)}
    inputs = os.path.join(opts.workdir, "ids.npz")
    np.savez(inputs, **feeds)
    outputs, weights = run(opts, model, inputs, ["--per-token"])
    names = sorted(weights, key=lambda n: int(n.split("_")[1]))
    shapes = [weights[n].shape for n in names]
    sums = [float(np.abs(weights[n].sum(0) - 1).max()) for n in names]
    within = (shapes == [(n, 1, 8) for n in (1, 2, 2, 2, 3, 3, 3)] and
              max(sums) <= 1e-5)
    ok &= within
    print(f"llama_n2_einsum_dy: {len(names)} aggregations, shapes "
          f"{[s[0] for s in shapes]} sources, |sum - 1| <= {max(sums):.2g} "
          f"per token {'OK' if within else 'FAIL'}")
    want = onnxruntime.InferenceSession(model).run(None, feeds)[0]
    err = np.abs(outputs["logits"] - want)
    within = list(outputs) == ["logits"] and bool(
        np.all(err <= 1e-5 + 1e-4 * np.abs(want)))
    ok &= within
    print(f"llama_n2_einsum_dy: logits vs onnxruntime max_abs_err="
          f"{err.max():.3g} {'OK' if within else 'FAIL'}")
    png = os.path.join(opts.workdir, "weights.png")
    subprocess.run([sys.executable, PLOT,
                    os.path.join(opts.workdir, "weights.npz"), "-o", png],
                   check=True)
    with open(png, "rb") as f:
        head = f.read(8)
    within = head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 1000
    ok &= within
    print(f"heatmap: {os.path.getsize(png)} bytes "
          f"{'OK' if within else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
