#!/usr/bin/env python3
"""attnres-run --dump-depth-weights on whole AttnRes models against a NumPy
softmax over depth computed from the models' own tensors.

    depth_weights_oracle.py WORKDIR --attnres-run PATH MODEL.onnx ...

MODEL is a raised AttnRes fixture in the einsum spelling
(test/fixtures/attnres_raise/llama_*_einsum_*.onnx). For every aggregation
of the graph (a Softmax over axis 0) the script finds, by walking the
graph back from the Softmax: the query w (the logits Einsum's first input,
an initializer [D]), the key-norm weight g (the initializer the normalized
sources are multiplied by) and the stacked sources V [n, B, T, D] (the
tensor the key norm reads). onnxruntime evaluates V, the only intermediate
it provides; NumPy computes, in float64,

    alpha = softmax_0( w . V / sqrt(mean_D(V^2) + 1e-6) * g )

(eps 1e-6: scripts/make_attnres_fixtures.py's KEY_EPS). attnres-run dumps
the weights with --per-token (float32[n, B, T] per aggregation, in program
order: the Softmax nodes' order) and without it (float32[n], the mean over
tokens); both must match alpha at |attnres - numpy| <= 1e-5 + 1e-4 |numpy|,
the float32 fixtures' tolerance (attnres computes the logits from its own
f32 stream, which lies within about 1e-6 of onnxruntime's). The per-token
weights must differ between tokens (else a dump of the mean or of one
token would pass).
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import helper, numpy_helper

EPS = 1e-6


def aggregations(model):
    """[(query, key-norm weight, name of V)] per depth Softmax, in order."""
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64)
             for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    found = []
    for node in graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), None)
        if node.op_type != "Softmax" or axis != 0:
            continue
        logits = producer[node.input[0]]
        assert logits.op_type == "Einsum", logits.op_type
        query = inits[logits.input[0]].reshape(-1)
        scaled = producer[logits.input[1]]          # normalized V * g
        assert scaled.op_type == "Mul", scaled.op_type
        gain = inits[scaled.input[1]].reshape(-1)
        normalized = producer[scaled.input[0]]      # V * rsqrt(...)
        assert normalized.op_type == "Mul", normalized.op_type
        found.append((query, gain, normalized.input[0]))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("--attnres-run", required=True)
    parser.add_argument("models", nargs="+")
    opts = parser.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    rng = np.random.default_rng(0)
    ok = True
    for path in opts.models:
        name = os.path.splitext(os.path.basename(path))[0]
        model = onnx.load(path)
        found = aggregations(model)
        for _, _, v in found:
            model.graph.output.append(helper.make_empty_tensor_value_info(v))
        session = onnxruntime.InferenceSession(model.SerializeToString())
        seq = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
        feeds = {"input_ids": rng.integers(0, 64, (1, seq)).astype(np.int64)}
        values = dict(zip([o.name for o in session.get_outputs()],
                          session.run(None, feeds)))
        want = []
        for query, gain, v in found:
            v = values[v].astype(np.float64)
            k = v / np.sqrt(np.mean(v * v, -1, keepdims=True) + EPS) * gain
            logits = np.einsum("d,nbtd->nbt", query, k)
            alpha = np.exp(logits - logits.max(0))
            want.append(alpha / alpha.sum(0))

        inputs = os.path.join(opts.workdir, f"{name}.in.npz")
        np.savez(inputs, **feeds)
        for mode, extra in (("per token", ["--per-token"]), ("mean", [])):
            dump = os.path.join(opts.workdir, f"{name}.{len(extra)}.npz")
            subprocess.run([opts.attnres_run, path, "--inputs", inputs,
                            "--dump-depth-weights", dump, *extra],
                           check=True)
            dumped = np.load(dump)
            names = sorted(dumped.files, key=lambda n: int(n.split("_")[1]))
            errs, shapes_ok = [], len(names) == len(want)
            for n, w in zip(names, want):
                w = w if extra else w.reshape(w.shape[0], -1).mean(1)
                got = dumped[n].astype(np.float64)
                if got.shape != w.shape:
                    shapes_ok = False
                    continue
                err = np.abs(got - w)
                errs.append(float((err / (1e-5 + 1e-4 * w)).max()))
            varies = all(np.ptp(w.reshape(w.shape[0], -1), axis=1).max() >
                         1e-3 for w in want if w.shape[0] > 1)
            within = shapes_ok and max(errs) <= 1 and varies
            ok &= within
            print(f"{name}: {len(names)} aggregations of "
                  f"{[w.shape[0] for w in want]} sources, {mode}: largest "
                  f"error {max(errs):.2g} of the tolerance, weights vary "
                  f"over tokens: {varies} {'OK' if within else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
