#!/usr/bin/env python3
"""Whole models on the GPU (bench/gpu/run.sh runs it there): the Llama-style
decoder that bench/gpu/stage.sh compiled for CUDA, as is, as Block
AttnRes with 4 blocks, as is with a thread per row in its reductions
(warp-reductions=false, the baseline of the warp-per-row lowering), and as
is with every buffer in managed memory (managed-memory=true, the baseline
of device memory), run by attnres-exec at several lengths, alternating them
in rounds; onnxruntime on the CPU runs the ONNX model (made again here from
the same seed) as the reference for the outputs and as a baseline.

Prints, per length: ms per run of each (median over rounds of attnres-exec's
mean), the AttnRes/plain ratio (the paper's promise is under 1.02), the
row-loop/plain and managed/plain ratios (what a warp per row and device
memory gain) and the largest error of each against onnxruntime, relative
to the logits' scale.

    bench_models.py DEVICE_DIR [--lengths 128,512,2048] [--rounds 3]
"""
import argparse
import lzma
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))


def run_exec(device, model, inputs, outputs, repeat):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(device, "lib")
    proc = subprocess.run(
        [os.path.join(device, "bin", "attnres-exec"), model, "--inputs",
         inputs, "--outputs", outputs, "--repeat", str(repeat),
         "--print-timing", "--device", "cuda"],
        env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode:
        sys.exit(f"attnres-exec failed on {model}:\n{proc.stderr}")
    m = re.search(r"run ([0-9.]+) ms", proc.stderr)
    return float(m.group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("device")
    p.add_argument("--lengths", default="128,512,2048")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    device = os.path.abspath(a.device)
    work = tempfile.mkdtemp(prefix="attnres-models-")

    onnx_path = os.path.join(work, "llama.onnx")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "make_llama.py"),
                    onnx_path, "--dynamic", "--weight-levels", "5"],
                   check=True)
    models = {}
    for name in ("llama", "llama_n4", "llama_rowloops", "llama_managed"):
        path = os.path.join(work, name + ".so")
        with lzma.open(os.path.join(device, "models", name + ".sm90.so.xz")) \
                as src, open(path, "wb") as dst:
            dst.write(src.read())
        models[name] = path
    options = ort.SessionOptions()
    session = ort.InferenceSession(onnx_path, options,
                                   providers=["CPUExecutionProvider"])

    print(f"{'tokens':>6} | {'plain ms':>9} {'attnres ms':>10} {'ratio':>6} |"
          f" {'row-loop ms':>11} {'ratio':>6} |"
          f" {'managed ms':>10} {'ratio':>6} |"
          f" {'ORT CPU ms':>10} | {'err plain':>9} {'err attnres':>11}"
          f" {'err rowloop':>11} {'err managed':>11}")
    for t in [int(x) for x in a.lengths.split(",")]:
        ids = (np.arange(t).reshape(1, t) * 7 % 1024).astype(np.int64)
        inputs = os.path.join(work, f"in{t}.npz")
        np.savez(inputs, input_ids=ids)
        times = {name: [] for name in models}
        for _ in range(a.rounds):
            for name, path in models.items():
                times[name].append(run_exec(
                    device, path, inputs,
                    os.path.join(work, f"{name}{t}.npz"), a.repeat))
        start = time.perf_counter()
        want = session.run(None, {"input_ids": ids})[0]
        ort_ms = 1e3 * (time.perf_counter() - start)
        scale = float(np.abs(want).max())
        errors = {}
        for name in models:
            got = np.load(os.path.join(work, f"{name}{t}.npz"))["logits"]
            errors[name] = float(np.abs(got - want).max()) / scale
        plain = float(np.median(times["llama"]))
        attnres = float(np.median(times["llama_n4"]))
        rows = float(np.median(times["llama_rowloops"]))
        managed = float(np.median(times["llama_managed"]))
        print(f"{t:>6} | {plain:>9.3f} {attnres:>10.3f} {attnres / plain:>6.3f}"
              f" | {rows:>11.3f} {rows / plain:>6.3f}"
              f" | {managed:>10.3f} {managed / plain:>6.3f}"
              f" | {ort_ms:>10.1f} | {errors['llama']:>9.2e}"
              f" {errors['llama_n4']:>11.2e} {errors['llama_rowloops']:>11.2e}"
              f" {errors['llama_managed']:>11.2e}", flush=True)
        # The plain model must match onnxruntime; the converted one is the
        # same function up to its norms' epsilons (zero pseudo-queries).
        for name in ("llama", "llama_rowloops", "llama_managed"):
            if errors[name] > 2e-3:
                sys.exit(f"the CUDA model {name} disagrees with onnxruntime "
                         f"at {t} tokens: {errors[name]:.2e} of the logits' "
                         f"scale")


if __name__ == "__main__":
    main()
