#!/usr/bin/env python3
"""Checks attnres-convert: the ONNX it writes is valid, onnxruntime runs it
with the rewrite's numbers, and attnres reads back the rewrite's structure.

    scripts/compare_convert.py MODEL.onnx --num-blocks N
        [--pseudo-queries Q.npz --oracle ATTNRES.onnx] [--bin DIR]
    scripts/compare_convert.py ATTNRES.onnx --canonicalize [--bin DIR]

Steps, each printed with OK or FAIL:

1. `attnres-convert MODEL -o OUT --num-blocks N [--pseudo-queries Q]`;
   `onnx.checker.check_model(OUT, full_check=True)` (which also runs ONNX
   shape inference through the ai.attnres functions).
2. Size: OUT is no bigger than MODEL plus the parameters (2 (L+1) D
   elements) plus the definitions the conversion adds: a bound of 2 KiB per
   BlockAttnRes<N> function and 256 bytes per new node.
3. Numerics: onnxruntime on OUT against `attnres-run` of the same rewrite
   (--attnres-residual-to-block, the default CPU pipeline) on MODEL, on one
   set of random inputs (scripts/compare_ort.py's; --input-shape gives a
   dynamic input's shape, the models staying dynamic). bf16 models, which
   onnxruntime cannot run on a CPU: attnres-run on OUT instead. f32 models:
   |ort - attnres| <= 1e-5 + 1e-4 |attnres|. Half models (f16, bf16), whose
   two runtimes round differently at every op: the error may be at most
   twice the one between onnxruntime on MODEL and attnres-run on MODEL
   (unconverted, the same inputs), plus 1e-3 max|attnres|: conversion may
   not add more disagreement than the two runtimes already have.
   With --oracle (a Block AttnRes model with the same weights and queries,
   scripts/make_attnres_fixtures.py), onnxruntime on OUT is also compared
   with onnxruntime on ORACLE at the f32 tolerance.
With --canonicalize (a model that already is AttnRes, its aggregations
spelled out as PyTorch exports them): step 2 requires fewer nodes than
MODEL, step 3 compares onnxruntime on OUT with onnxruntime on MODEL at the
f32 tolerance, and step 4 compares with --attnres-raise-aggregation on
MODEL.

4. Structure: `attnres-opt OUT --attnres-raise-norms` must give the
   rewrite's attnres.block_attn_res ops (sources, epsilon, types, in
   order), the same norms with the same epsilons (within 1% + 2^-24: half
   models round them on import), and the same --attnres-report-aggregation table
   as --attnres-residual-to-block on MODEL.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_ort  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        sys.stderr.write(result.stderr)
        sys.exit(f"compare_convert: {os.path.basename(cmd[0])} failed with "
                 f"status {result.returncode}")
    return result.stdout


def structure(attnres_opt, model, passes):
    """The aggregations and norm epsilons of MODEL after PASSES, with SSA
    names removed, and the aggregation report."""
    ir = run([attnres_opt, model, "--attnres-raise-norms"] + passes +
             ["--mlir-print-debuginfo=false"])
    ops = []
    for line in ir.splitlines():
        match = re.search(r"attnres\.(block_attn_res|rms_norm|layer_norm) (.*)"
                          r"epsilon = ([-+.eE0-9]+) : (.*)", line)
        if not match:
            continue
        kind, operands, eps, types = match.groups()
        sources = (operands.split("query", 1)[0].count("%")
                   if kind == "block_attn_res" else 1)
        # Unit dims aside: where a reshape to or from a unit axis lands
        # (before or after a norm) depends on the spelling of the graph.
        types = re.sub(r"(?<=[<x])(1x)+", "", types.split(" loc(")[0])
        ops.append((kind, sources, float(eps), types))
    return ops, table_of(attnres_opt, model, passes)


def same_structure(a, b):
    """Equal kinds, source counts and types (but for unit dims); epsilons
    within 1% plus 2^-24,
    the spacing of f16's subnormals (a half model's norm epsilon is rounded
    to its format when imported: before the rewrite scales it, after the
    conversion did). Compared in a canonical order: the ops of two streams
    (an encoder's and a decoder's) may interleave differently in the
    converted graph."""
    a, b = sorted(a), sorted(b)
    return len(a) == len(b) and all(
        x[0] == y[0] and x[1] == y[1] and x[3] == y[3]
        and abs(x[2] - y[2]) <= 1e-2 * abs(y[2]) + 2 ** -24
        for x, y in zip(a, b))


def table_of(attnres_opt, model, passes):
    return run([attnres_opt, model, "--attnres-raise-norms"] + passes +
               ["--attnres-report-aggregation", "-o", os.devnull])


def as_f64(a):
    return np.asarray(a).astype(np.float64)


def canonicalized(opts, tool, out, converted, original, verdict):
    """Steps 2-4 for --canonicalize; returns whether all passed."""
    import onnxruntime
    before, after = len(original.graph.node), len(converted.graph.node)
    good = verdict("nodes", after < before, f"{after} < {before}")
    feeds = compare_ort.random_inputs(opts.model, {})
    want = onnxruntime.InferenceSession(opts.model)
    got = dict(zip([o.name for o in want.get_outputs()],
                   onnxruntime.InferenceSession(out).run(None, feeds)))
    for o, w in zip(want.get_outputs(), want.run(None, feeds)):
        g, w = as_f64(got[o.name]), as_f64(w)
        err = np.abs(g - w)
        good &= verdict(f"{o.name}: onnxruntime on the canonicalized model "
                        f"vs on the original",
                        np.all(err <= 1e-5 + 1e-4 * np.abs(w)),
                        f"max_abs_err={err.max():.3g} (atol=1e-05, "
                        f"rtol=0.0001)")
    back, _ = structure(tool("attnres-opt"), out, [])
    ref, _ = structure(tool("attnres-opt"), opts.model,
                       ["--attnres-raise-aggregation"])
    aggregations = sum(op[0] == "block_attn_res" for op in ref)
    same = same_structure(back, ref)
    good &= verdict("re-imported structure", same and aggregations > 0,
                    f"{aggregations} aggregations "
                    + ("as the raise's" if same else
                       f"differ:\n  converted: {back}\n  raised: {ref}\n"))
    return good


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--num-blocks", type=int, default=0)
    parser.add_argument("--pseudo-queries", default=None)
    parser.add_argument("--oracle", default=None)
    parser.add_argument("--canonicalize", action="store_true")
    parser.add_argument("--input-shape", action="append", default=[],
                        metavar="NAME=DIMS",
                        help="the shape of the random input NAME (default 1 "
                        "for each dynamic dim); the model stays dynamic")
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "build",
                                                      "bin"))
    opts = parser.parse_args()
    tool = lambda name: os.path.join(opts.bin, name)  # noqa: E731
    ok = True

    def verdict(what, good, detail=""):
        nonlocal ok
        ok &= bool(good)
        print(f"{what}: {detail}{' ' if detail else ''}"
              f"{'OK' if good else 'FAIL'}")
        return bool(good)

    import onnxruntime
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "converted.onnx")
        convert = [tool("attnres-convert"), opts.model, "-o", out]
        if not opts.canonicalize:
            convert += ["--num-blocks", str(opts.num_blocks)]
        else:
            convert += ["--canonicalize"]
        rewrite = f"num-blocks={opts.num_blocks}"
        if opts.pseudo_queries:
            convert += ["--pseudo-queries", opts.pseudo_queries]
            rewrite += f" pseudo-queries={opts.pseudo_queries}"
        print(run(convert + ["--report"]).splitlines()[0])

        # 1. A valid model.
        converted = onnx.load(out)
        try:
            onnx.checker.check_model(converted, full_check=True)
            verdict("check_model(full_check=True)", True)
        except Exception as e:  # noqa: BLE001
            verdict("check_model(full_check=True)", False, str(e))

        # 2. Size.
        original = onnx.load(opts.model, load_external_data=False)
        # Every stream's: attnres.query.<l>, attnres.stream1.query.<l>, ...
        params = [t for t in converted.graph.initializer
                  if re.match(r"attnres\.(stream\d+\.)?(query|key_norm)\.",
                              t.name)]
        param_bytes = sum(len(t.raw_data) for t in params)
        new_nodes = len(converted.graph.node) - len(original.graph.node)
        bound = (os.path.getsize(opts.model) + param_bytes +
                 2048 * len(converted.functions) + 256 * max(new_nodes, 0))
        size = os.path.getsize(out)
        verdict("size", size <= bound,
                f"{size} bytes <= {bound} (model {os.path.getsize(opts.model)}"
                f" + parameters {param_bytes} + {len(converted.functions)} "
                f"functions + {new_nodes} nodes)")

        if opts.canonicalize:
            canonicalized(opts, tool, out, converted, original, verdict)
            return 0 if ok else 1

        # 3. Numerics.
        feeds = compare_ort.random_inputs(
            opts.model, compare_ort.parse_shapes(opts.input_shape))
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, **feeds)

        def attnres_run(model, pipeline, tag):
            path = os.path.join(tmp, f"{tag}.npz")
            run([tool("attnres-run"), model, "--inputs", inputs,
                 "--outputs", path, "--pipeline", pipeline])
            return dict(np.load(path))

        want = attnres_run(
            opts.model,
            f"builtin.module(attnres-raise-norms,attnres-residual-to-block{{"
            f"{rewrite}}},attnres-cpu-pipeline)", "rewrite")
        stream_type = params[0].data_type
        half = stream_type in (onnx.TensorProto.FLOAT16,
                               onnx.TensorProto.BFLOAT16)
        if stream_type == onnx.TensorProto.BFLOAT16:
            # onnxruntime has no CPU kernels for bfloat16 arithmetic (it
            # cannot run the original either): the converted file is run by
            # attnres, which imports the calls, against the rewrite at f32
            # tolerance (the same ops; only the file in between differs).
            names = list(want)
            got = attnres_run(out, "builtin.module(attnres-raise-norms,"
                              "attnres-cpu-pipeline)", "converted")
            half = False
            runtime = "attnres-run"
        else:
            session = onnxruntime.InferenceSession(out)
            names = [o.name for o in session.get_outputs()]
            got = dict(zip(names, session.run(None, feeds)))
            runtime = "onnxruntime"
        if half:
            plain = attnres_run(opts.model,
                                "builtin.module(attnres-cpu-pipeline)",
                                "plain")
            reference = dict(zip(names, onnxruntime.InferenceSession(
                opts.model).run(None, feeds)))
        for name in names:
            g, w = as_f64(got[name]), as_f64(want[name])
            err = np.abs(g - w)
            if half:
                base = np.abs(as_f64(reference[name]) -
                              as_f64(plain[name])).max()
                atol = 2 * base + 1e-3 * np.abs(w).max()
                within = bool(np.all(err <= atol))
                detail = (f"max_abs_err={err.max():.3g} (half: atol = 2 x "
                          f"{base:.3g} between the runtimes on the original "
                          f"+ 1e-3 max|attnres| = {atol:.3g})")
            elif stream_type == onnx.TensorProto.BFLOAT16:
                # The two programs differ in the norms' epsilons, rounded
                # to bf16 at different points: two bf16 ulps of the largest
                # output.
                atol = 2 ** -7 * np.abs(w).max()
                within = bool(np.all(err <= atol))
                detail = (f"max_abs_err={err.max():.3g} (bf16: atol = 2^-7 "
                          f"max|attnres| = {atol:.3g})")
            else:
                within = bool(np.all(err <= 1e-5 + 1e-4 * np.abs(w)))
                detail = (f"max_abs_err={err.max():.3g} (atol=1e-05, "
                          f"rtol=0.0001)")
            verdict(f"{name}: {runtime} on the converted model vs "
                    f"attnres-run of the rewrite", within, detail)
        if opts.oracle:
            oracle = onnxruntime.InferenceSession(opts.oracle)
            for name, w in zip([o.name for o in oracle.get_outputs()],
                               oracle.run(None, feeds)):
                g, w = as_f64(got[name]), as_f64(w)
                err = np.abs(g - w)
                verdict(f"{name}: onnxruntime on the converted model vs the "
                        f"PyTorch Block AttnRes model",
                        np.all(err <= 1e-5 + 1e-4 * np.abs(w)),
                        f"max_abs_err={err.max():.3g}")

        # 4. Structure after re-import.
        back, back_table = structure(tool("attnres-opt"), out, [])
        ref, ref_table = structure(
            tool("attnres-opt"), opts.model,
            [f"--attnres-residual-to-block={rewrite}"])
        aggregations = sum(op[0] == "block_attn_res" for op in ref)
        same = same_structure(back, ref)
        verdict("re-imported structure", same and aggregations > 0,
                f"{aggregations} aggregations and "
                f"{len(ref) - aggregations} norms "
                + ("as the rewrite's" if same else
                   f"differ:\n  converted: {back}\n  rewrite:   {ref}\n"))
        verdict("re-imported aggregation report", back_table == ref_table)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
