#!/usr/bin/env python3
"""Runs a half-precision (float16 or bfloat16) model with attnres-run and
compares its outputs with onnxruntime's on the float32 model it was
converted from (issue 8, "Half precision").

    scripts/compare_half.py HALF.onnx F32.onnx [--attnres-run PATH]
        [--rtol R] [--atol A] [--input-shape NAME=DIMS ...]

HALF and F32 must take the same inputs (names, types, shapes) and give the
same outputs; scripts/make_transformers_fixtures.py writes such pairs
(<arch>_<exporter>_fp16.onnx / _bf16.onnx beside <arch>_<exporter>.onnx:
the same weights rounded to the half format, logits widened to float32 at
the end). The inputs are scripts/compare_ort.py's random ones (drawn from
F32's input types: token ids in [0, 3), floats standard normal), so that
both scripts see the same data. onnxruntime on F32 is the oracle; HALF runs
under `attnres-run HALF --inputs in.npz --outputs out.npz`. Outputs are
compared in float64 whatever their type (a half output is widened).

Tolerance: every element must satisfy |attnres - ort_f32| <= atol + rtol *
|ort_f32|. The defaults depend on HALF's weight type (its initializers and
Constant nodes; bfloat16 wins when both appear):

    float16:  rtol = 1e-2, atol = 5e-3
    bfloat16: rtol = 5e-2, atol = 2.5e-2

Why these: the error here is not attnres's but the half format's. A model
run in half precision rounds every weight and intermediate to 11
significant bits (float16, unit roundoff u = 2^-11 = 4.9e-4) or 8
(bfloat16, u = 2^-8 = 3.9e-3), and the roundings add up through the
layers, so the reference for "correct" is how far the half model of any
faithful implementation lies from the float32 one. Measured on the 11 tiny
transformers fixtures (2 layers, largest |logit| 0.29-0.74) with these
inputs, as the largest absolute error divided by the largest |logit|
(`scale_err` below):

                                          float16          bfloat16
    torch's half model vs its f32 model   0.46-1.7e-3      3.8-9.3e-3
    onnxruntime on HALF vs on F32         0.23-0.83e-3     cannot run it
    attnres-run on HALF vs ort on F32     0.39-2.8e-3      0.94-2.2e-2
    attnres-run, in units of u            (1-6 u)          (2.4-5.6 u)

(onnxruntime 1.32 has no CPU kernels for bfloat16 Add, Mul or MatMul.) In
absolute terms attnres's largest errors are 1.1e-3 (float16) and 8.2e-3
(bfloat16). Element by element the relative error is unbounded (logits
near zero keep an absolute error of a few u times the logits' scale),
hence atol. atol is about 10 u (float16) or 6 u (bfloat16) times a logit
scale of 0.5, i.e. 1e-2 / 5e-2 of the logits' scale, 3-5
times the largest error measured; rtol is 20 u / 13 u. Mistakes of the
kind an importer makes mostly stay far outside: shifting positions by one
changes GPT-2's and BERT's logits by 78-91% of their scale, masking out the
first token changes Llama's by 47% and GPT-2's by 12% (float32, torch).
Not all: the same mask changes this random BERT's by only 4e-4 of its
scale, below any tolerance the half formats allow; such errors are for the
float32 fixtures to catch (compare_ort.py, 1e-4). The defaults
are absolute and fit logits of magnitude about 1: for a model whose logits
are much larger, pass --atol scaled with them, and read `scale_err`, the
error relative to the output's largest magnitude, against u.

For reference each output's line is followed by onnxruntime's own error on
HALF against F32 where onnxruntime can run HALF (not counted in the exit
status).

Exits 1 when an output is outside the tolerance, missing or of another
shape, 2 when a tool fails (attnres-run's first error line is printed).
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_ort import DEFAULT_RUN, random_inputs  # noqa: E402

DEFAULTS = {  # (rtol, atol): see the docstring.
    "float16": (1e-2, 5e-3),
    "bfloat16": (5e-2, 2.5e-2),
}


def half_format(path):
    """'bfloat16' or 'float16' after HALF's initializers and Constant
    nodes, None when it has neither."""
    model = onnx.load(path, load_external_data=False)
    types = {t.data_type for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types.add(attr.t.data_type)
    if onnx.TensorProto.BFLOAT16 in types:
        return "bfloat16"
    if onnx.TensorProto.FLOAT16 in types:
        return "float16"
    return None


def signature(path):
    graph = onnx.load(path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    return [(i.name, i.type.tensor_type.elem_type)
            for i in graph.input if i.name not in initializers]


def session(path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options)


def errors(got, want):
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    err = np.abs(g64 - w64)
    scale = max(float(np.abs(w64).max()), np.finfo(np.float32).tiny)
    rel = err / np.maximum(np.abs(w64), np.finfo(np.float32).tiny)
    return err, float(err.max()), float(rel.max()), float(err.max()) / scale


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("half", metavar="HALF.onnx")
    parser.add_argument("f32", metavar="F32.onnx")
    parser.add_argument("--attnres-run", default=DEFAULT_RUN)
    parser.add_argument("--rtol", type=float, default=None)
    parser.add_argument("--atol", type=float, default=None)
    parser.add_argument("--pipeline", default=None,
                        help="passed to attnres-run --pipeline")
    parser.add_argument("--input-shape", action="append", default=[],
                        metavar="NAME=DIMS")
    opts = parser.parse_args()

    fmt = half_format(opts.half)
    rtol, atol = DEFAULTS.get(fmt, DEFAULTS["bfloat16"])
    if opts.rtol is not None:
        rtol = opts.rtol
    if opts.atol is not None:
        atol = opts.atol
    if signature(opts.half) != signature(opts.f32):
        print(f"compare_half: {opts.half} and {opts.f32} take different "
              f"inputs: {signature(opts.half)} vs {signature(opts.f32)}")
        return 2

    fixed = {}
    for spec in opts.input_shape:
        name, dims = spec.split("=")
        fixed[name] = [int(d) for d in dims.split("x")]
    feeds = random_inputs(opts.f32, fixed)

    oracle = session(opts.f32)
    names = [o.name for o in oracle.get_outputs()]
    want = dict(zip(names, oracle.run(None, feeds)))
    try:
        ort_half = dict(zip(names, session(opts.half).run(None, feeds)))
        ort_note = None
    except Exception as error:  # no kernel for a half type, typically
        ort_half = {}
        ort_note = str(error).splitlines()[0][:160]

    with tempfile.TemporaryDirectory() as tmp:
        inputs_path = os.path.join(tmp, "inputs.npz")
        np.savez(inputs_path, **feeds)
        out_path = os.path.join(tmp, "outputs.npz")
        command = [opts.attnres_run, opts.half, "--inputs", inputs_path,
                   "--outputs", out_path]
        for spec in opts.input_shape:
            command += ["--input-shape", spec]
        if opts.pipeline:
            command += ["--pipeline", opts.pipeline]
        try:
            run = subprocess.run(command, capture_output=True, text=True)
        except OSError as error:
            print(f"compare_half: cannot run {opts.attnres_run}: {error}")
            return 2
        if run.returncode:
            sys.stderr.write(run.stderr)
            first = next((line for line in run.stderr.splitlines()
                          if line.strip()), "")
            print(f"compare_half: attnres-run failed with status "
                  f"{run.returncode}: {first}")
            return 2
        got = dict(np.load(out_path))

    ok = True
    for name in names:
        w = want[name]
        if name not in got:
            print(f"{name}: missing from attnres-run's outputs FAIL")
            ok = False
            continue
        g = got[name]
        if w.shape != g.shape:
            print(f"{name}: attnres-run gives {g.dtype}{list(g.shape)}, "
                  f"onnxruntime (f32 model) {w.dtype}{list(w.shape)} FAIL")
            ok = False
            continue
        err, max_abs, max_rel, scaled = errors(g, w)
        within = bool(np.all(err <= atol + rtol * np.abs(w.astype(
            np.float64))))
        print(f"{name}: {g.dtype}{list(g.shape)} vs f32 "
              f"max_abs_err={max_abs:.3g} max_rel_err={max_rel:.3g} "
              f"scale_err={scaled:.3g} "
              f"({fmt or 'no half weights'}: atol={atol:g}, rtol={rtol:g}) "
              f"{'OK' if within else 'FAIL'}")
        ok &= within
        if name in ort_half:
            _, r_abs, r_rel, r_scaled = errors(ort_half[name], w)
            print(f"  onnxruntime on the half model vs f32: "
                  f"max_abs_err={r_abs:.3g} max_rel_err={r_rel:.3g} "
                  f"scale_err={r_scaled:.3g}")
        elif ort_note:
            print(f"  onnxruntime cannot run the half model: {ort_note}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
