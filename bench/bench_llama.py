#!/usr/bin/env python3
"""Times attnres-run against onnxruntime on the same Llama-style model and
inputs, one thread each, and prints the ratio (attnres / onnxruntime; lower
is better).

    bench/bench_llama.py [--attnres-run build/bin/attnres-run] [--runs 20]
                         [--dim 512 --layers 8 --seq 128]

The model comes from bench/make_llama.py (written to build/bench/ on the
first run). Before timing, both outputs are compared (rtol 1e-4, atol 1e-5);
a benchmark of wrong results is not reported. attnres-run's time is its
steady-state run time (--repeat, after a warm-up), without compilation;
onnxruntime's is session.run after two warm-up runs. Also timed: the same
lowering with loops instead of BLAS calls (blas=false), once, and with the
GEMMs tiled and vectorized by upstream transforms instead of BLAS
(bench/tile_vectorize_matmul.mlir), the alternative the CPU path was
measured against.
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")


def vectorized_pipeline():
    """The CPU pipeline with transform-dialect tiling and vectorization of
    the matrix products in place of the BLAS rewrite."""
    script = os.path.join(HERE, "tile_vectorize_matmul.mlir")
    return ("builtin.module("
            f"transform-preload-library{{transform-library-paths={script}}},"
            "func.func(tosa-to-linalg-named,tosa-to-linalg,tosa-to-arith,"
            "tosa-to-tensor),attnres-to-linalg,canonicalize,"
            "attnres-fuse-elementwise,cse,"
            "transform-interpreter{entry-point=tile_vectorize},canonicalize,"
            "one-shot-bufferize{bufferize-function-boundaries "
            "function-boundary-type-conversion=identity-layout-map},"
            "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
            "transform-interpreter{entry-point=hoist},canonicalize,"
            "convert-linalg-to-loops,convert-vector-to-scf,convert-scf-to-cf,"
            "expand-strided-metadata,lower-affine,convert-vector-to-llvm,"
            "finalize-memref-to-llvm,convert-math-to-llvm,convert-math-to-libm,"
            "convert-arith-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
            "convert-ub-to-llvm,reconcile-unrealized-casts)")


def attnres_time(opts, model, inputs, runs, pipeline=None):
    command = [opts.attnres_run, model, "--inputs", inputs, "--outputs",
               inputs.replace("inputs", "outputs"), "--print-timing",
               "--repeat", str(runs)]
    if pipeline:
        command += ["--pipeline", pipeline]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode:
        sys.exit(f"attnres-run failed:\n{run.stderr}")
    m = re.search(r"compile ([0-9.]+) s(?: \([^)]*\))?, run ([0-9.]+) ms "
                  r"\(mean of \d+\), "
                  r"best ([0-9.]+) ms", run.stderr)
    # A benchmark of wrong results is not reported.
    got = np.load(inputs.replace("inputs", "outputs"))["logits"]
    err = np.abs(got.astype(np.float64) - opts.want)
    if not np.all(err <= 1e-5 + 1e-4 * np.abs(opts.want)):
        sys.exit(f"attnres-run ({pipeline or 'default'}) disagrees with "
                 f"onnxruntime: max abs error {err.max():.3g}")
    opts.max_err = max(getattr(opts, "max_err", 0.0), float(err.max()))
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attnres-run",
                        default=os.path.join(ROOT, "build", "bin", "attnres-run"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--skip-loops", action="store_true",
                        help="do not time the blas=false lowering")
    parser.add_argument("--skip-vectorized", action="store_true",
                        help="do not time the tiled and vectorized GEMMs")
    opts = parser.parse_args()

    out = os.path.join(ROOT, "build", "bench")
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, f"llama_d{opts.dim}_l{opts.layers}_t{opts.seq}"
                              f"_v{opts.vocab}.onnx")
    if not os.path.exists(model):
        subprocess.run([sys.executable, os.path.join(HERE, "make_llama.py"),
                        model, "--dim", str(opts.dim), "--layers",
                        str(opts.layers), "--seq", str(opts.seq), "--vocab",
                        str(opts.vocab)], check=True)
    feeds = {"input_ids": np.random.default_rng(0).integers(
        0, opts.vocab, (1, opts.seq)).astype(np.int64)}
    inputs = os.path.join(out, "inputs.npz")
    np.savez(inputs, **feeds)

    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, so)
    want = session.run(None, feeds)[0]
    opts.want = want
    session.run(None, feeds)
    times = []
    for _ in range(opts.runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    ort_mean, ort_best = 1e3 * np.mean(times), 1e3 * min(times)

    compile_s, mean, best = attnres_time(opts, model, inputs, opts.runs)

    core = os.environ.get("OPENBLAS_CORETYPE", "auto-detected")
    print(f"model: Llama-style D={opts.dim}, {opts.layers} layers, "
          f"T={opts.seq}, vocabulary {opts.vocab}, batch 1")
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; one thread each; OpenBLAS core "
          f"{core}; onnxruntime {onnxruntime.__version__}")
    print(f"{'':24}{'mean ms':>10}{'best ms':>10}{'ratio':>8}")
    print(f"{'onnxruntime':24}{ort_mean:10.2f}{ort_best:10.2f}{1.0:8.2f}")
    print(f"{'attnres-run (BLAS)':24}{mean:10.2f}{best:10.2f}"
          f"{mean / ort_mean:8.2f}")
    if not opts.skip_loops:
        _, lmean, lbest = attnres_time(opts, model, inputs, 1,
                                       "attnres-cpu-pipeline{blas=false}")
        print(f"{'attnres-run (loops)':24}{lmean:10.2f}{lbest:10.2f}"
              f"{lmean / ort_mean:8.2f}")
    if not opts.skip_vectorized:
        _, vmean, vbest = attnres_time(opts, model, inputs, opts.runs,
                                       vectorized_pipeline())
        print(f"{'attnres-run (vectorized)':24}{vmean:10.2f}{vbest:10.2f}"
              f"{vmean / ort_mean:8.2f}")
    print(f"outputs agree with onnxruntime: max abs error {opts.max_err:.3g}")
    print(f"attnres-run compile time: {compile_s:.2f} s")
    print(f"ratio attnres-run / onnxruntime: {mean / ort_mean:.2f}")


if __name__ == "__main__":
    main()
