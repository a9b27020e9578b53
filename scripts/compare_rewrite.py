#!/usr/bin/env python3
"""Checks that --attnres-residual-to-block preserves a model's function at
zero pseudo-queries, against onnxruntime on the unmodified model.

    scripts/compare_rewrite.py MODEL.onnx --num-blocks N [--attnres-run PATH]
        [--rtol 1e-4] [--atol 1e-5]
    scripts/compare_rewrite.py MODEL.onnx --num-blocks N
        --pseudo-queries Q.npz --oracle ATTNRES.onnx [--against-unsplit]

attnres-run imports MODEL, raises its norms, rewrites its residual stream
into Block AttnRes with N blocks (0: one per layer, Full AttnRes) and zero
pseudo-queries, and runs it on random inputs.

Why it must match: with zero queries every aggregation is the mean of its
c sources, i.e. the standard residual stream h divided by c. Each reader is
a norm over the last axis, and for RMSNorm and LayerNorm alike
norm(h / c; eps) = norm(h; c^2 eps) exactly; the rewrite divides each
reader's epsilon by c^2, so the rewritten model computes the original. The
oracle is onnxruntime on the unmodified model, compared at fp32 tolerance
|attnres - ort| <= atol + rtol |ort|.

With --pseudo-queries and --oracle, the rewrite uses those queries (and
keeps the norms' epsilons, as a trained model's norms expect) and the
oracle is onnxruntime on ORACLE, a Block AttnRes model with the same layer
weights and queries (scripts/make_attnres_fixtures.py); compared at the
same fp32 tolerance.

attnres-run lowers with the default attnres-cpu-pipeline, which splits the
aggregations into two phases and fuses the RMSNorms (--attnres-two-phase,
--attnres-fuse-norm). With --against-unsplit it also lowers with
two-phase=false and compares the two results at the same tolerance.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_ort  # noqa: E402
from attnres_reference import block_sizes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "build", "bin")


def stream_layers(attnres_opt, model_path):
    run = subprocess.run(
        [attnres_opt, model_path, "--attnres-raise-norms",
         "--attnres-detect-residuals=report=true", "-o", os.devnull],
        capture_output=True, text=True)
    found = re.findall(r"residual stream of @\w+: (\d+) layers", run.stdout)
    if run.returncode or not found:
        sys.stderr.write(run.stderr)
        sys.exit("compare_rewrite: --attnres-detect-residuals found no stream")
    # One count per stream (an encoder-decoder has two).
    return [int(layers) for layers in found]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--num-blocks", type=int, default=0)
    parser.add_argument("--attnres-run", default=os.path.join(BIN,
                                                              "attnres-run"))
    parser.add_argument("--attnres-opt", default=os.path.join(BIN,
                                                              "attnres-opt"))
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--pseudo-queries", default=None)
    parser.add_argument("--oracle", default=None)
    parser.add_argument("--input-shape", action="append", default=[],
                        metavar="NAME=DIMS",
                        help="the shape of the random input NAME (a model "
                        "with dynamic dims is compiled with them dynamic; "
                        "default 1 for each dynamic dim)")
    parser.add_argument("--against-unsplit", action="store_true",
                        help="also lower with attnres-cpu-pipeline"
                        "{two-phase=false} and compare the default (two-phase,"
                        " fused) result with it at the same tolerance")
    opts = parser.parse_args()
    if bool(opts.pseudo_queries) != bool(opts.oracle):
        sys.exit("compare_rewrite: --pseudo-queries and --oracle go together")

    streams = stream_layers(opts.attnres_opt, opts.model)

    with tempfile.TemporaryDirectory() as tmp:
        feeds = compare_ort.random_inputs(
            opts.model, compare_ort.parse_shapes(opts.input_shape))
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, **feeds)
        import onnxruntime
        session = onnxruntime.InferenceSession(opts.oracle or opts.model)
        names = [o.name for o in session.get_outputs()]
        want = session.run(None, feeds)
        queries = (f" pseudo-queries={opts.pseudo_queries}"
                   if opts.pseudo_queries else "")

        def run_attnres(lowering, tag):
            outputs = os.path.join(tmp, f"outputs_{tag}.npz")
            pipeline = (f"builtin.module(attnres-raise-norms,"
                        f"attnres-residual-to-block{{num-blocks="
                        f"{opts.num_blocks}{queries}}},{lowering})")
            run = subprocess.run([opts.attnres_run, opts.model, "--inputs",
                                  inputs, "--outputs", outputs, "--pipeline",
                                  pipeline], capture_output=True, text=True)
            if run.returncode:
                sys.stderr.write(run.stderr)
                sys.exit(f"compare_rewrite: attnres-run failed with status "
                         f"{run.returncode}")
            results = dict(np.load(outputs))
            missing = [n for n in names if n not in results]
            if missing:
                sys.exit(f"compare_rewrite: attnres-run did not write "
                         f"{missing}")
            return [results[n] for n in names]

        # The default lowering: two-phase split and fused norms.
        got = run_attnres("attnres-cpu-pipeline", "default")
        unsplit = (run_attnres("attnres-cpu-pipeline{two-phase=false}",
                               "unsplit") if opts.against_unsplit else None)

    ok = True
    for layers in streams:
        print(f"{layers} layers, blocks {block_sizes(layers, opts.num_blocks)}")
    for name, g, w in zip(names, got, want):
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        err = np.abs(g64 - w64)
        within = bool(np.all(err <= opts.atol + opts.rtol * np.abs(w64)))
        what = ("on the Block AttnRes model" if opts.oracle
                else "unmodified model")
        print(f"{name}: vs onnxruntime, {what}: "
              f"max_abs_err={err.max():.3g} (atol={opts.atol:g}, "
              f"rtol={opts.rtol:g}) {'OK' if within else 'FAIL'}")
        ok &= within
    for name, g, u in zip(names, got, unsplit or []):
        g64, u64 = g.astype(np.float64), u.astype(np.float64)
        err = np.abs(g64 - u64)
        within = bool(np.all(err <= opts.atol + opts.rtol * np.abs(u64)))
        print(f"{name}: two-phase and fused vs unsplit: max_abs_err="
              f"{err.max():.3g} {'OK' if within else 'FAIL'}")
        ok &= within
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
