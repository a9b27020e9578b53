#!/usr/bin/env python3
"""What Block AttnRes costs on the CPU: the Llama-style benchmark model
(bench/make_llama.py --dynamic) as it is, against the same model rewritten
into Block AttnRes (--attnres-residual-to-block, zero pseudo-queries, which
the rewrite makes exact: the output must equal the unmodified model's) with
N blocks and as Full AttnRes (one block per sublayer), each lowered two
ways: the row loops (--attnres-to-vector, the default) and the linalg
lowering of the aggregations (attnres-cpu-pipeline{row-loops=false}).

    bench/bench_block_overhead.py [--dims 512 2048] [--lengths 1 128 1024]
        [--threads 1 2] [--num-blocks 2 4 8 0] [--rounds 3] [--runs 5]
        [--layers 8] [--max-tokens-x-dim 600000]

Every artifact is compiled ahead of time once per D (attnres-compile, its
dynamic token dim kept) and run by attnres-run. Before timing, each output
is checked against onnxruntime on the unmodified model (|x - want| <= 1e-5
+ 1e-4 |want|). Rounds alternate every configuration of one (D, T,
threads); a round's figure is attnres-run's best of --runs steady-state
runs, and the table shows the median over rounds, with the ratio to the
unmodified model of the same round (median of those ratios). Lengths whose
T * D exceeds --max-tokens-x-dim are skipped (a D=2048, T=1024 run takes
seconds on a 2-core machine). num-blocks 0 is Full AttnRes.
"""

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "build", "bin")


def compile_model(opts, model, out, pipeline=None):
    command = [os.path.join(opts.bin, "attnres-compile"), model, "-o", out]
    if pipeline:
        command.append(f"--pipeline={pipeline}")
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"attnres-compile failed:\n{run.stderr}")


def run_attnres(opts, artifact, inputs, outputs, threads):
    run = subprocess.run(
        [os.path.join(opts.bin, "attnres-run"), artifact, "--inputs", inputs,
         "--outputs", outputs, "--print-timing", "--repeat", str(opts.runs),
         "--threads", str(threads)],
        capture_output=True, text=True,
        env=dict(os.environ, OPENBLAS_NUM_THREADS=str(threads)))
    if run.returncode:
        sys.exit(f"attnres-run failed:\n{run.stderr}")
    best = float(re.search(r"best ([0-9.]+) ms", run.stderr).group(1))
    return best, np.load(outputs)["logits"]


def check(name, got, want):
    got, want = got.astype(np.float64), want.astype(np.float64)
    err = np.abs(got - want)
    if got.shape != want.shape or not np.all(err <= 1e-5 + 1e-4 * np.abs(want)):
        sys.exit(f"{name}: differs from onnxruntime on the unmodified model "
                 f"(max abs error {err.max():.3g}); not timing it")
    return float(err.max())


def variants(opts):
    """(name, pipeline) of every lowering timed; None is the default one."""
    result = [("unmodified", None)]
    for n in opts.num_blocks:
        label = "Full" if n == 0 else f"N={n}"
        rewrite = (f"builtin.module(attnres-raise-norms,"
                   f"attnres-residual-to-block{{num-blocks={n}}},")
        result.append((f"{label}, row loops",
                       rewrite + "attnres-cpu-pipeline)"))
        result.append((f"{label}, linalg",
                       rewrite + "attnres-cpu-pipeline{row-loops=false})"))
    return result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--lengths", type=int, nargs="+",
                        default=[1, 128, 1024])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--num-blocks", type=int, nargs="+",
                        default=[2, 4, 8, 0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens-x-dim", type=int, default=600000)
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; {opts.layers} layers "
          f"({2 * opts.layers} residual sublayers); median over "
          f"{opts.rounds} rounds of the best of {opts.runs} runs")

    with tempfile.TemporaryDirectory() as tmp:
        for dim in opts.dims:
            model = os.path.join(tmp, f"llama{dim}.onnx")
            subprocess.run(
                [sys.executable, os.path.join(HERE, "make_llama.py"), model,
                 "--dynamic", "--dim", str(dim), "--layers", str(opts.layers),
                 "--ffn", str(dim * 43 // 16)], check=True)
            artifacts = []
            for i, (name, pipeline) in enumerate(variants(opts)):
                path = os.path.join(tmp, f"d{dim}_{i}.so")
                compile_model(opts, model, path, pipeline)
                artifacts.append((name, path))
            print(f"\nD={dim}, FFN {dim * 43 // 16}")
            print(f"{'T':>5}{'thr':>4}  {'':24}{'ms':>10}{'vs unmodified':>15}")
            for t in opts.lengths:
                if t * dim > opts.max_tokens_x_dim:
                    continue
                feeds = {"input_ids": rng.integers(0, 1024, (1, t))}
                inputs = os.path.join(tmp, "in.npz")
                outputs = os.path.join(tmp, "out.npz")
                np.savez(inputs, **feeds)
                want = onnxruntime.InferenceSession(model).run(None, feeds)[0]
                for threads in opts.threads:
                    times = {name: [] for name, _ in artifacts}
                    ratios = {name: [] for name, _ in artifacts}
                    for r in range(opts.rounds):
                        base = None
                        for name, path in artifacts:
                            ms, got = run_attnres(opts, path, inputs, outputs,
                                                  threads)
                            if r == 0:
                                check(f"D={dim} T={t} {name}", got, want)
                            base = base or ms
                            times[name].append(ms)
                            ratios[name].append(ms / base)
                    for name, _ in artifacts:
                        print(f"{t:5d}{threads:4d}  {name:24}"
                              f"{statistics.median(times[name]):10.3f}"
                              f"{statistics.median(ratios[name]):15.3f}")
                    sys.stdout.flush()
    print("outputs checked against onnxruntime on the unmodified model "
          "(|x - want| <= 1e-5 + 1e-4 |want|)")


if __name__ == "__main__":
    main()
