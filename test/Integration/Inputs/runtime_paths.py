#!/usr/bin/env python3
"""Runs one ONNX model every way attnres can (the JIT, the compile cache's
miss and hit, an artifact from attnres-compile on one thread, two threads
and run after run, a portable -O0 artifact, another -O level) and compares
each run's outputs with onnxruntime's.

    runtime_paths.py WORKDIR MODEL.onnx --attnres-run PATH
        --attnres-compile PATH

The inputs are standard normal (seed 0). Every path must write an .npz
holding exactly onnxruntime's output names, each with onnxruntime's dtype
and shape, within |attnres - ort| <= 1e-5 + 1e-4 |ort| (the float32
fixtures' tolerance, scripts/compare_ort.py). The cache runs must report a
miss, then a hit.
"""

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "scripts"))
from compare_ort import random_inputs  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("model")
    parser.add_argument("--attnres-run", required=True)
    parser.add_argument("--attnres-compile", required=True)
    opts = parser.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    path = lambda name: os.path.join(opts.workdir, name)  # noqa: E731

    feeds = random_inputs(opts.model, {})
    np.savez(path("in.npz"), **feeds)
    session = onnxruntime.InferenceSession(opts.model)
    names = [o.name for o in session.get_outputs()]
    want = dict(zip(names, session.run(None, feeds)))

    def compile_so(name, extra):
        subprocess.run([opts.attnres_compile, opts.model, "-o", path(name),
                        *extra], check=True, capture_output=True)
        return path(name)

    native = compile_so("native.so", [])
    generic = compile_so("generic.so", ["--cpu", "x86-64", "--opt-level",
                                        "0"])
    # A cache left by an earlier run would turn the miss into a hit.
    shutil.rmtree(path("cache"), ignore_errors=True)
    cache = ["--cache-dir", path("cache"), "--print-timing"]
    runs = [
        ("JIT", opts.model, ["--no-cache"], None),
        ("JIT -O1", opts.model, ["--no-cache", "--opt-level", "1"], None),
        ("cache miss", opts.model, cache, "cache miss"),
        ("cache hit", opts.model, cache, "cache hit"),
        ("artifact", native, [], None),
        ("artifact, 1 thread, 3 runs", native,
         ["--threads", "1", "--repeat", "3"], None),
        ("artifact, 2 threads, 3 runs", native,
         ["--threads", "2", "--repeat", "3"], None),
        ("portable -O0 artifact", generic, [], None),
    ]
    ok = True
    for index, (label, model, extra, timing) in enumerate(runs):
        out = path(f"out{index}.npz")
        run = subprocess.run([opts.attnres_run, model, "--inputs",
                              path("in.npz"), "--outputs", out, *extra],
                             capture_output=True, text=True)
        if run.returncode:
            sys.stderr.write(run.stderr)
            return 2
        got = dict(np.load(out))
        problems = []
        if timing and f"({timing})" not in run.stderr:
            problems.append(f"no '{timing}' in {run.stderr.strip()!r}")
        if sorted(got) != sorted(names):
            problems.append(f"outputs {sorted(got)}, onnxruntime's "
                            f"{sorted(names)}")
        worst = 0.0
        for name in names:
            if name not in got:
                continue
            g, w = got[name], want[name]
            if g.dtype != w.dtype or g.shape != w.shape:
                problems.append(f"{name}: {g.dtype}{list(g.shape)} vs "
                                f"{w.dtype}{list(w.shape)}")
                continue
            w64 = w.astype(np.float64)
            err = np.abs(g.astype(np.float64) - w64)
            worst = max(worst, float((err / (1e-5 + 1e-4 * np.abs(w64)))
                                     .max()))
        within = not problems and worst <= 1
        ok &= within
        shapes = ", ".join(f"{n} {want[n].dtype}{list(want[n].shape)}"
                           for n in names)
        print(f"{label}: {shapes} vs onnxruntime, largest error "
              f"{worst:.2g} of the tolerance {'OK' if within else 'FAIL'}")
        for problem in problems:
            print(f"  {problem}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
