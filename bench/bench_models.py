#!/usr/bin/env python3
"""Times attnres-run against onnxruntime on whole models, on one thread and
on all cores, and prints one table: model, threads, onnxruntime ms,
attnres ms, ratio (attnres / onnxruntime; lower is better).

    bench/bench_models.py [--runs 30] [--rounds 3] [--threads 1,N] [--only NAME,...]

Models: the benchmark's Llama-style decoder (bench/make_llama.py: D=512,
8 layers, T=128, written to build/bench/ on the first run); two
convolution front ends at their real sizes, random weights (written by
conv_models() to build/bench/): ViT-B/16's patch embedding (pixel_values
[1, 3, 224, 224], 768 filters of 16x16, stride 16) and Whisper-base's
(input_features [1, 80, 3000], two Conv1d of 512 filters, kernel 3, the
second with stride 2, GELU after each); and the TorchScript export of every
transformers architecture among the test fixtures
(test/fixtures/transformers/*_torchscript.onnx and
test/fixtures/architectures/*_torchscript.onnx: tiny, random weights, 16
tokens). Each model is compiled once with attnres-compile;
attnres-run's time is its steady-state run time (--repeat, after a
warm-up), onnxruntime's is session.run after two warm-up runs, each with
the same inputs. Each configuration is measured in --rounds rounds, each
timing onnxruntime then attnres, and the round with the median ratio is
reported: on a shared machine whose speed drifts (steal time), both sides
of a round run under the same conditions. Before a time is reported, the
outputs of that configuration are compared with onnxruntime's (|x - ort|
<= 1e-5 + 1e-4 |ort|); a benchmark of wrong results stops the script.
"""

import argparse
import glob
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from compare_ort import random_inputs  # noqa: E402


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ort_time(model, feeds, threads, runs):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, so,
                                           providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)
    session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    names = [o.name for o in session.get_outputs()]
    return 1e3 * float(np.mean(times)), dict(zip(names, want))


def attnres_time(opts, library, inputs, outputs, threads, runs):
    command = [opts.attnres_run, library, "--inputs", inputs, "--outputs",
               outputs, "--print-timing", "--repeat", str(runs), "--threads",
               str(threads)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"attnres-run failed:\n{run.stderr}")
    m = re.search(r"run ([0-9.]+) ms \(mean", run.stderr)
    return float(m.group(1))


def check(name, threads, outputs, want):
    got = np.load(outputs)
    worst = 0.0
    for key, expected in want.items():
        if key not in got.files:
            sys.exit(f"{name}: attnres-run wrote no output '{key}'")
        y = got[key].astype(np.float64)
        w = np.asarray(expected).astype(np.float64)
        err = np.abs(y - w)
        if not np.all(err <= 1e-5 + 1e-4 * np.abs(w)):
            sys.exit(f"{name}, {threads} thread(s): attnres-run disagrees with "
                     f"onnxruntime on '{key}': max abs error {err.max():.3g}")
        worst = max(worst, float(err.max()) if err.size else 0.0)
    return worst


def conv_models(folder):
    """Writes the two convolution front ends (see the docstring) and returns
    their (name, path) pairs."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)

    def weight(name, *shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32),
            name)

    def save(name, nodes, x, y, inits):
        path = os.path.join(folder, name + ".onnx")
        if not os.path.exists(path):
            graph = helper.make_graph(nodes, name, [x], [y], inits)
            model = helper.make_model(
                graph, opset_imports=[helper.make_opsetid("", 17)])
            onnx.save(model, path)
        return path

    vit = save(
        "conv_vit_patch",
        [helper.make_node("Conv", ["x", "w", "b"], ["y"],
                          kernel_shape=[16, 16], strides=[16, 16])],
        helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                      [1, 3, 224, 224]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                      [1, 768, 14, 14]),
        [weight("w", 768, 3, 16, 16), weight("b", 768)])
    gelu = [helper.make_node("Div", ["c", "sqrt2"], ["d"]),
            helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["f"]),
            helper.make_node("Mul", ["c", "f"], ["g"]),
            helper.make_node("Mul", ["g", "half"], ["h"])]
    whisper = save(
        "conv_whisper_front",
        [helper.make_node("Conv", ["x", "w1", "b1"], ["c"],
                          kernel_shape=[3], pads=[1, 1])] + gelu +
        [helper.make_node("Conv", ["h", "w2", "b2"], ["y"],
                          kernel_shape=[3], pads=[1, 1], strides=[2])],
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 80, 3000]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 512, 1500]),
        [weight("w1", 512, 80, 3), weight("b1", 512),
         weight("w2", 512, 512, 3), weight("b2", 512),
         numpy_helper.from_array(np.array(np.sqrt(2), np.float32), "sqrt2"),
         numpy_helper.from_array(np.array(1, np.float32), "one"),
         numpy_helper.from_array(np.array(0.5, np.float32), "half")])
    return [("conv-vit-patch 224x224 /16 -> 768", vit),
            ("conv-whisper-front 80x3000 -> 512", whisper)]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attnres-run",
                        default=os.path.join(ROOT, "build", "bin", "attnres-run"))
    parser.add_argument("--attnres-compile",
                        default=os.path.join(ROOT, "build", "bin",
                                             "attnres-compile"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated thread counts (default: 1 and "
                        "all cores)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate onnxruntime and attnres this many "
                        "times per configuration and report the median "
                        "round (a shared machine's speed drifts: both sides "
                        "of a round see the same conditions)")
    parser.add_argument("--only", help="comma-separated model names")
    opts = parser.parse_args()

    out = os.path.join(ROOT, "build", "bench", "models")
    os.makedirs(out, exist_ok=True)
    llama = os.path.join(ROOT, "build", "bench",
                         "llama_d512_l8_t128_v1024.onnx")
    if not os.path.exists(llama):
        subprocess.run([sys.executable, os.path.join(HERE, "make_llama.py"),
                        llama, "--dim", "512", "--layers", "8", "--seq", "128",
                        "--vocab", "1024"], check=True)
    models = [("bench-llama D=512 L=8 T=128", llama)]
    models += conv_models(os.path.join(ROOT, "build", "bench"))
    for folder in ("transformers", "architectures"):
        for path in sorted(glob.glob(os.path.join(
                ROOT, "test", "fixtures", folder, "*_torchscript.onnx"))):
            models.append((os.path.basename(path)[:-len("_torchscript.onnx")],
                           path))
    if opts.only:
        keep = opts.only.split(",")
        models = [m for m in models if m[0].split()[0] in keep]
    thread_counts = [int(t) for t in opts.threads.split(",")]

    rows = []
    worst = 0.0
    for name, model in models:
        key = name.split()[0]
        library = os.path.join(out, key + ".so")
        subprocess.run([opts.attnres_compile, model, "-o", library],
                       check=True)
        if key == "bench-llama":
            feeds = {"input_ids": np.random.default_rng(0).integers(
                0, 1024, (1, 128)).astype(np.int64)}
        else:
            feeds = random_inputs(model, {})
        inputs = os.path.join(out, key + "_inputs.npz")
        np.savez(inputs, **feeds)
        for threads in thread_counts:
            outputs = os.path.join(out, f"{key}_outputs_{threads}.npz")
            rounds = []
            for _ in range(max(opts.rounds, 1)):
                ort_ms, want = ort_time(model, feeds, threads, opts.runs)
                ms = attnres_time(opts, library, inputs, outputs, threads,
                                  opts.runs)
                worst = max(worst, check(name, threads, outputs, want))
                rounds.append((ms / ort_ms, ort_ms, ms))
            # The round with the median ratio, so that the times shown are
            # the ones the ratio came from.
            rounds.sort()
            _, ort_ms, ms = rounds[len(rounds) // 2]
            rows.append((name, threads, ort_ms, ms))
            print(f"{name:32} {threads:2} thread(s): onnxruntime {ort_ms:8.3f} "
                  f"ms, attnres {ms:8.3f} ms, ratio {ms / ort_ms:5.2f} (rounds "
                  f"{rounds[0][0]:.2f} to {rounds[-1][0]:.2f})",
                  file=sys.stderr)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; onnxruntime "
          f"{onnxruntime.__version__}; mean of {opts.runs} runs, median "
          f"ratio of {max(opts.rounds, 1)} alternating rounds; OpenBLAS "
          f"core {os.environ.get('OPENBLAS_CORETYPE', 'chosen by the runtime')}")
    print()
    print("| model | threads | onnxruntime ms | attnres ms | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, threads, ort_ms, ms in rows:
        print(f"| {name} | {threads} | {ort_ms:.3f} | {ms:.3f} | "
              f"{ms / ort_ms:.2f} |")
    print()
    print(f"every output checked against onnxruntime: max abs error "
          f"{worst:.3g}")


if __name__ == "__main__":
    main()
