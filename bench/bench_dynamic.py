#!/usr/bin/env python3
"""One artifact for every shape, timed: the Llama-style benchmark model
(bench/make_llama.py --dynamic: dynamic batch and sequence, shapes computed
from Shape(input_ids) as exporters do) compiled once with its dynamic dims,
against the same model compiled for each length (--input-shape, the static
baseline) and onnxruntime on the dynamic model, at each length T and thread
count; then the decode step (make_llama.py --decode, a KV cache of dynamic
length) per generated token at several past lengths, attnres against
onnxruntime.

    bench/bench_dynamic.py [--lengths 1 16 128 512] [--threads 1 2]
        [--pasts 16 64 256 1024] [--rounds 3] [--runs 10]
        [--dim 512 --layers 8]

Every configuration's output is checked against onnxruntime first
(|x - want| <= 1e-5 + 1e-4 |want|, scaled by the logits' magnitude for the
decode step). Rounds alternate the configurations (static, dynamic,
onnxruntime, then again) so that the noise of this shared machine spreads
over all of them; each figure is the best over rounds of the best of
--runs runs (attnres-run --repeat's steady state, after a warm-up; the same
for onnxruntime), compile time excluded.
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
BIN = os.path.join(HERE, "..", "build", "bin")


def tool(opts, name):
    return os.path.join(opts.bin, name)


def compile_model(opts, model, out, *extra):
    run = subprocess.run([tool(opts, "attnres-compile"), model, "-o", out,
                          *extra], capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"attnres-compile failed:\n{run.stderr}")


def run_attnres(opts, artifact, inputs, outputs, threads):
    run = subprocess.run(
        [tool(opts, "attnres-run"), artifact, "--inputs", inputs, "--outputs",
         outputs, "--print-timing", "--repeat", str(opts.runs), "--threads",
         str(threads)], capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"attnres-run failed:\n{run.stderr}")
    m = re.search(r"best ([0-9.]+) ms", run.stderr)
    return float(m.group(1)), dict(np.load(outputs))


def run_ort(opts, session, feeds):
    session.run(None, feeds)
    best = float("inf")
    for _ in range(opts.runs):
        start = time.perf_counter()
        out = session.run(None, feeds)
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best, out


def check(name, got, want, scale=None):
    got, want = got.astype(np.float64), want.astype(np.float64)
    tol = 1e-5 + 1e-4 * (np.abs(want) if scale is None else scale)
    if got.shape != want.shape or not np.all(np.abs(got - want) <= tol):
        sys.exit(f"{name}: differs from onnxruntime (max abs error "
                 f"{np.abs(got - want).max():.3g}); not timing it")


def session(path, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--lengths", type=int, nargs="+",
                        default=[1, 16, 128, 512])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pasts", type=int, nargs="+",
                        default=[16, 64, 256, 1024])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    size = ["--dim", str(opts.dim), "--layers", str(opts.layers)]

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "dynamic.onnx")
        decode = os.path.join(tmp, "decode.onnx")
        maker = [sys.executable, os.path.join(HERE, "make_llama.py")]
        subprocess.run(maker + [model, "--dynamic"] + size, check=True)
        subprocess.run(maker + [decode, "--decode"] + size, check=True)
        dynamic = os.path.join(tmp, "dynamic.so")
        compile_model(opts, model, dynamic)
        static, inputs, sessions, best = {}, {}, {}, {}
        for t in opts.lengths:
            static[t] = os.path.join(tmp, f"static{t}.so")
            compile_model(opts, model, static[t], "--input-shape",
                          f"input_ids=1x{t}")
            feeds = {"input_ids": rng.integers(0, 1024, (1, t))}
            inputs[t] = (feeds, os.path.join(tmp, f"in{t}.npz"))
            np.savez(inputs[t][1], **feeds)
        for th in opts.threads:
            sessions[th] = session(model, th)
        out = os.path.join(tmp, "out.npz")

        for r in range(opts.rounds):
            for t in opts.lengths:
                feeds, path = inputs[t]
                for th in opts.threads:
                    s_ms, s_out = run_attnres(opts, static[t], path, out, th)
                    d_ms, d_out = run_attnres(opts, dynamic, path, out, th)
                    o_ms, o_out = run_ort(opts, sessions[th], feeds)
                    if r == 0:
                        check(f"static T={t}", s_out["logits"], o_out[0])
                        check(f"dynamic T={t}", d_out["logits"], o_out[0])
                    for name, ms in (("static", s_ms), ("dynamic", d_ms),
                                     ("ort", o_ms)):
                        key = (t, th, name)
                        best[key] = min(best.get(key, float("inf")), ms)

        print(f"machine: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores; D={opts.dim}, {opts.layers} layers; "
              f"best of {opts.rounds} rounds x {opts.runs} runs")
        print(f"{'T':>5}{'threads':>8}{'static ms':>11}{'dynamic ms':>12}"
              f"{'ort ms':>9}{'dyn/static':>12}{'dyn/ort':>9}")
        for t in opts.lengths:
            for th in opts.threads:
                s, d, o = (best[(t, th, n)]
                           for n in ("static", "dynamic", "ort"))
                print(f"{t:5d}{th:8d}{s:11.3f}{d:12.3f}{o:9.3f}"
                      f"{d / s:12.3f}{d / o:9.3f}")

        # The decode step: one new token after `past` cached ones.
        artifact = os.path.join(tmp, "decode.so")
        compile_model(opts, decode, artifact)
        heads, head_dim = 8, opts.dim // 8
        decode_session = session(decode, 1)
        names = [i.name for i in decode_session.get_inputs()]
        rows = []
        for past in opts.pasts:
            feeds = {"input_ids": rng.integers(0, 1024, (1, 1))}
            for name in names[1:]:
                feeds[name] = rng.standard_normal(
                    (1, heads, past, head_dim)).astype(np.float32)
            path = os.path.join(tmp, f"past{past}.npz")
            np.savez(path, **feeds)
            a_best = o_best = float("inf")
            for r in range(opts.rounds):
                a_ms, a_out = run_attnres(opts, artifact, path, out, 1)
                o_ms, o_out = run_ort(opts, decode_session, feeds)
                if r == 0:
                    check(f"decode past={past}", a_out["logits"], o_out[0],
                          scale=np.abs(o_out[0]).max())
                a_best, o_best = min(a_best, a_ms), min(o_best, o_ms)
            rows.append((past, a_best, o_best))
        print(f"\ndecode step, 1 thread, one new token:")
        print(f"{'past':>6}{'attnres ms/token':>18}{'ort ms/token':>14}"
              f"{'ratio':>8}")
        for past, a, o in rows:
            print(f"{past:6d}{a:18.3f}{o:14.3f}{a / o:8.3f}")


if __name__ == "__main__":
    main()
