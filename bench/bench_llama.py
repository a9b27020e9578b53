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
lowering with loops instead of BLAS calls (blas=false), once.
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
    m = re.search(r"compile ([0-9.]+) s, run ([0-9.]+) ms \(mean of \d+\), "
                  r"best ([0-9.]+) ms", run.stderr)
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
    parser.add_argument("--skip-loops", action="store_true",
                        help="do not time the blas=false lowering")
    opts = parser.parse_args()

    out = os.path.join(ROOT, "build", "bench")
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, f"llama_d{opts.dim}_l{opts.layers}_t{opts.seq}.onnx")
    if not os.path.exists(model):
        subprocess.run([sys.executable, os.path.join(HERE, "make_llama.py"),
                        model, "--dim", str(opts.dim), "--layers",
                        str(opts.layers), "--seq", str(opts.seq)], check=True)
    feeds = {"input_ids": np.random.default_rng(0).integers(
        0, 1000, (1, opts.seq)).astype(np.int64)}
    inputs = os.path.join(out, "inputs.npz")
    np.savez(inputs, **feeds)

    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, so)
    want = session.run(None, feeds)[0]
    session.run(None, feeds)
    times = []
    for _ in range(opts.runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    ort_mean, ort_best = 1e3 * np.mean(times), 1e3 * min(times)

    compile_s, mean, best = attnres_time(opts, model, inputs, opts.runs)
    got = np.load(inputs.replace("inputs", "outputs"))["logits"]
    err = np.abs(got.astype(np.float64) - want)
    if not np.all(err <= 1e-5 + 1e-4 * np.abs(want)):
        sys.exit(f"attnres-run disagrees with onnxruntime: max abs error "
                 f"{err.max():.3g}")

    core = os.environ.get("OPENBLAS_CORETYPE", "auto-detected")
    print(f"model: Llama-style D={opts.dim}, {opts.layers} layers, "
          f"T={opts.seq}, batch 1 ({os.path.basename(model)})")
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; one thread each; OpenBLAS core "
          f"{core}; onnxruntime {onnxruntime.__version__}")
    print(f"outputs agree: max abs error {err.max():.3g}")
    print(f"{'':24}{'mean ms':>10}{'best ms':>10}{'ratio':>8}")
    print(f"{'onnxruntime':24}{ort_mean:10.2f}{ort_best:10.2f}{1.0:8.2f}")
    print(f"{'attnres-run (BLAS)':24}{mean:10.2f}{best:10.2f}"
          f"{mean / ort_mean:8.2f}")
    if not opts.skip_loops:
        _, lmean, lbest = attnres_time(opts, model, inputs, 1,
                                       "attnres-cpu-pipeline{blas=false}")
        print(f"{'attnres-run (loops)':24}{lmean:10.2f}{lbest:10.2f}"
              f"{lmean / ort_mean:8.2f}")
    print(f"attnres-run compile time: {compile_s:.2f} s")
    print(f"ratio attnres-run / onnxruntime: {mean / ort_mean:.2f}")


if __name__ == "__main__":
    main()
