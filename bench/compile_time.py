#!/usr/bin/env python3
"""Compile time against depth: Llama-style models (bench/make_llama.py) of
L = 4, 8, 16, 32, 48 layers at D = 512, compiled by attnres-compile, with
the time of each stage, then run by attnres-run from the .so against
onnxruntime (one thread each, same inputs, outputs checked first), and the
start of a cached model.

    bench/compile_time.py [--layers 4,8,16,32,48] [--dim 512] [--seq 128]
                          [--runs 10] [--baseline-layers 4,8]
                          [--plot bench/compile_time.png]

--baseline-layers also compiles those models without outlining
(attnres-cpu-pipeline{outline=false}: the model as one function, as before
--attnres-outline-layers), the baseline measured in the same run. Models
are written to build/bench/ and kept there.
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
BIN = os.path.join(ROOT, "build", "bin")


def compile_model(model, out, pipeline=None):
    command = [os.path.join(BIN, "attnres-compile"), model, "-o", out,
               "--print-timing"]
    if pipeline:
        command += ["--pipeline", pipeline]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode:
        sys.exit(f"attnres-compile failed:\n{run.stderr}")
    m = re.search(r"import ([0-9.]+) s, lowering ([0-9.]+) s, codegen "
                  r"([0-9.]+) s, total ([0-9.]+) s", run.stderr)
    return {"import": float(m.group(1)), "lowering": float(m.group(2)),
            "codegen": float(m.group(3)), "total": float(m.group(4)),
            "wall": wall}


def run_model(model, inputs, outputs, runs, extra=()):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    command = [os.path.join(BIN, "attnres-run"), model, "--inputs", inputs,
               "--outputs", outputs, "--print-timing", "--repeat", str(runs),
               *extra]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if run.returncode:
        sys.exit(f"attnres-run failed:\n{run.stderr}")
    m = re.search(r"compile ([0-9.]+) s \(([^)]*)\), run ([0-9.]+) ms "
                  r"\(mean of \d+\), best ([0-9.]+) ms", run.stderr)
    return {"compile": float(m.group(1)), "how": m.group(2),
            "mean": float(m.group(3)), "best": float(m.group(4)),
            "wall": wall}


def ort_time(model, feeds, runs):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, so)
    want = session.run(None, feeds)[0]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return want, 1e3 * float(np.mean(times))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default="4,8,16,32,48")
    parser.add_argument("--baseline-layers", default="4,8")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--plot", default=os.path.join(HERE,
                                                       "compile_time.png"))
    opts = parser.parse_args()
    layers = [int(x) for x in opts.layers.split(",")]
    baseline = [int(x) for x in opts.baseline_layers.split(",") if x]

    out = os.path.join(ROOT, "build", "bench")
    os.makedirs(out, exist_ok=True)
    feeds = {"input_ids": np.random.default_rng(0).integers(
        0, opts.vocab, (1, opts.seq)).astype(np.int64)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, **feeds)
        for n in layers:
            model = os.path.join(out, f"llama_d{opts.dim}_l{n}_t{opts.seq}"
                                      f"_v{opts.vocab}.onnx")
            if not os.path.exists(model):
                subprocess.run([sys.executable,
                                os.path.join(HERE, "make_llama.py"), model,
                                "--dim", str(opts.dim), "--layers", str(n),
                                "--seq", str(opts.seq), "--vocab",
                                str(opts.vocab)], check=True)
            so = os.path.join(tmp, f"l{n}.so")
            stages = compile_model(model, so)
            old = (compile_model(model, so + ".one.so",
                                 "builtin.module(attnres-cpu-pipeline"
                                 "{outline=false})")
                   if n in baseline else None)
            want, ort_ms = ort_time(model, feeds, opts.runs)
            outputs = os.path.join(tmp, "outputs.npz")
            timing = run_model(so, inputs, outputs, opts.runs)
            got = np.load(outputs)["logits"].astype(np.float64)
            err = np.abs(got - want)
            # A benchmark of wrong results is not reported.
            if not np.all(err <= 1e-5 + 1e-4 * np.abs(want)):
                sys.exit(f"L={n}: attnres disagrees with onnxruntime: max "
                         f"abs error {err.max():.3g}")
            # The cached start: attnres-run on the .onnx, second time.
            cache = os.path.join(tmp, "cache")
            run_model(model, inputs, outputs, 1, ["--cache-dir", cache])
            cached = run_model(model, inputs, outputs, 1,
                               ["--cache-dir", cache])
            assert cached["how"] == "cache hit", cached
            rows.append({"layers": n, "mb": os.path.getsize(model) / 2**20,
                         **stages, "one": old, "ort": ort_ms,
                         "run": timing["mean"], "err": float(err.max()),
                         "cached": cached["compile"]})
            r = rows[-1]
            print(f"L={n}: compile {r['total']:.2f} s, run {r['run']:.1f} ms "
                  f"(onnxruntime {ort_ms:.1f} ms), cached start "
                  f"{1e3 * r['cached']:.1f} ms", file=sys.stderr)

    core = os.environ.get("OPENBLAS_CORETYPE", "auto-detected")
    print(f"model: Llama-style D={opts.dim}, T={opts.seq}, vocabulary "
          f"{opts.vocab}, batch 1 (bench/make_llama.py)")
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; runs on one thread each; OpenBLAS core "
          f"{core}; onnxruntime {onnxruntime.__version__}")
    print()
    print("| L | model MB | import s | lowering s | codegen s | total s | "
          "one function s | run ms | onnxruntime ms | ratio | cached start "
          "ms |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        one = f"{r['one']['total']:.2f}" if r["one"] else "-"
        print(f"| {r['layers']} | {r['mb']:.0f} | {r['import']:.2f} | "
              f"{r['lowering']:.2f} | {r['codegen']:.2f} | {r['total']:.2f} | "
              f"{one} | {r['run']:.1f} | {r['ort']:.1f} | "
              f"{r['run'] / r['ort']:.2f} | {1e3 * r['cached']:.1f} |")
    print()
    print(f"outputs agree with onnxruntime: max abs error "
          f"{max(r['err'] for r in rows):.3g}")
    if opts.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        xs = [r["layers"] for r in rows]
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, label in (("total", "total"), ("codegen", "codegen (LLVM)"),
                           ("lowering", "MLIR lowering"),
                           ("import", "ONNX import")):
            ax.plot(xs, [r[key] for r in rows], marker="o", label=label)
        one = [(r["layers"], r["one"]["total"]) for r in rows if r["one"]]
        if one:
            ax.plot(*zip(*one), marker="x", linestyle="--",
                    label="one function (outline=false)")
        ax.set_xlabel("layers L (D=%d)" % opts.dim)
        ax.set_ylabel("seconds")
        ax.set_title("attnres-compile time against depth")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(opts.plot, dpi=100)
        print(f"plot: {os.path.relpath(opts.plot, ROOT)}")


if __name__ == "__main__":
    main()
