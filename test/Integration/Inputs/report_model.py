#!/usr/bin/env python3
"""Checks --attnres-report-aggregation's table against a model of it written
here from its documented definition (docs/reference/
AttnResTransformsPasses.md, "-attnres-report-aggregation" and
"-attnres-two-phase") and the paper's budget, not from the pass's code.

    report_model.py WORKDIR --attnres-opt PATH

For each (L, N) below, a stream of L layers (the hand-written stream of
residual-to-block/Inputs/numpy_reference.py, D = 8) is rewritten by
--attnres-residual-to-block and reported three ways: unsplit, after
--attnres-two-phase, and after --attnres-two-phase --attnres-fuse-norm.
The model, from the block sizes of scripts/attnres_reference.py's
partition() alone: a layer in block n (0-based) attends over c = n + 1
completed blocks (b_0 the embedding), has a partial sum unless it is its
block's first layer, and that partial is a sum (one add) from the block's
third layer on; the final aggregation attends over c = N completed blocks
and the last block's sum. A phase-1 group is one block's layers, the
final aggregation joining the last block's. Per token, in rows of D:

    add        3 if the partial is a sum (read two, write one), else 0
    unsplit    add + (c + partial) sources read + 1 written + norm 2
    two-phase  add + c / S (completed blocks read once per group of S)
               + 1 state written (0 for one completed block: phase 1's
               output is that block) + 3 if partial (phase 2: state and
               partial in, result out) + norm 2
    fused      two-phase - 2 where there is a phase 2 (the norm is fused)
    budget     c / S + 5 (the paper's (N/S + 5) d)

and its arithmetic in the layer's form, in units of D flops: add 1 if the
partial is a sum, norm 4, and unsplit 6 (c + partial) (per source: squares
and query-weighted sum 4, weighted sum 2); two-phase and fused alike
c (2 + 2 S) / S (each completed block scored once for the group's S
layers) + 2 c if c > 1 (the weighted sum) + 7 if partial (phase 2: the
partial scored, 4, and merged, 3); phase 1 is two-phase without a partial.

and the form: `unsplit` before the split; after it, a layer without a
partial is `phase 1` unless it is alone in its group (then it stays
unsplit, as the two-phase pass documents for Full AttnRes), one with a
partial is `two-phase`, or `fused` after --attnres-fuse-norm. The last
row is the mean of each column; the header's counts: L + 1 aggregations,
up to N completed blocks, N + 1 rows kept against Full AttnRes's L + 1.
Printed figures have two decimals: each must lie within 0.005 of the
model's.
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "residual-to-block", "Inputs"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts"))
import attnres_reference as ref  # noqa: E402
from numpy_reference import module  # noqa: E402

D = 8
CASES = [(4, "num-blocks=2"), (7, "num-blocks=3"), (7, "num-blocks=0"),
         (7, "num-blocks=1"), (6, "block-sizes=1,3,2"), (13, "num-blocks=4"),
         (128, "num-blocks=8")]
PIPELINES = {
    "unsplit": [],
    "two-phase": ["--attnres-two-phase"],
    "fused": ["--attnres-two-phase", "--attnres-fuse-norm"],
}
ROW = re.compile(r"\s*(\d+|final)\s+(\d+)\s+(yes|no)\s+(\d+)\s+"
                 r"(unsplit|phase 1|two-phase|fused)\s+([\d.]+)d\s+"
                 r"([\d.]+)d\s+([\d.]+)d\s+([\d.]+)d\s+([\d.]+)d\s*$")
MEAN = re.compile(r"\s*mean\s+([\d.]+)d\s+([\d.]+)d\s+([\d.]+)d\s+"
                  r"([\d.]+)d\s+([\d.]+)d\s*$")


def model(sizes, pipeline):
    """[(layer, completed, partial, group, form, unsplit, two-phase, fused,
    budget, flops)] from the block sizes alone."""
    rows = []
    last = len(sizes) - 1
    for n, size in enumerate(sizes):
        group = size + (1 if n == last else 0)
        for i in range(size):
            rows.append((n + 1, i > 0, i > 1, group))
    rows.append((len(sizes), True, sizes[-1] > 1, sizes[-1] + 1))
    table = []
    for index, (c, partial, is_sum, group) in enumerate(rows):
        add = 3 if is_sum else 0
        unsplit = add + c + partial + 1 + 2
        phase1 = c / group + (1 if c > 1 else 0)
        two_phase = add + phase1 + (3 if partial else 0) + 2
        fused = two_phase - (2 if partial else 0)
        if pipeline == "unsplit" or (not partial and group == 1):
            form = "unsplit"
        elif not partial:
            form = "phase 1"
        else:
            form = pipeline
        name = "final" if index == len(rows) - 1 else str(index)
        flop_add = 1 if is_sum else 0
        if form == "unsplit":
            flops = flop_add + 6 * (c + partial) + 4
        else:
            flops = (flop_add + c * (2 + 2 * group) / group
                     + (2 * c if c > 1 else 0) + (7 if partial else 0) + 4)
        table.append((name, c, "yes" if partial else "no", group, form,
                      unsplit, two_phase, fused, c / group + 5, flops))
    return table


def check(layers, option, pipeline, workdir, attnres_opt):
    sizes = (ref.partition(layers, int(option.split("=")[1]))
             if option.startswith("num-blocks")
             else [int(s) for s in option.split("=")[1].split(",")])
    path = os.path.join(workdir, f"stream_{layers}.mlir")
    with open(path, "w") as f:
        f.write(module("f32", (1, 2, D), np.ones((layers, D)),
                       np.ones((layers, D)), np.ones(D)))
    run = subprocess.run(
        [attnres_opt, path, f"--attnres-residual-to-block={option}",
         *PIPELINES[pipeline], "--attnres-report-aggregation",
         "-o", os.devnull], capture_output=True, text=True)
    if run.returncode:
        sys.stderr.write(run.stderr)
        sys.exit(2)
    text = run.stdout
    problems = []
    n = len(sizes)
    header = (f"{layers + 1} aggregations (the last is the final one), "
              f"D = {D}, up to {n} completed blocks")
    memory = (f"memory per token: {n + 1} rows of D kept for the "
              f"aggregations (up to {n} completed blocks and a partial sum, "
              f"O(N D)); Full AttnRes over these {layers} layers keeps "
              f"{layers + 1} (O(L D))")
    for want in (header, memory):
        if want not in text:
            problems.append(f"no line '{want}'")
    got = [m.groups() for m in map(ROW.match, text.splitlines()) if m]
    want = model(sizes, pipeline)
    if len(got) != len(want):
        problems.append(f"{len(got)} rows, the model has {len(want)}")
    for g, w in zip(got, want):
        same = (g[0] == w[0] and int(g[1]) == w[1] and g[2] == w[2]
                and int(g[3]) == w[3] and g[4] == w[4]
                and all(abs(float(a) - b) <= 0.005 + 1e-9
                        for a, b in zip(g[5:], w[5:])))
        if not same:
            problems.append(f"row {g} vs the model's "
                            f"{w[:5] + tuple(round(x, 3) for x in w[5:])}")
    means = [m.groups() for m in map(MEAN.match, text.splitlines()) if m]
    want_means = [sum(r[k] for r in want) / len(want) for k in range(5, 10)]
    if len(means) != 1 or any(abs(float(a) - b) > 0.005 + 1e-9
                              for a, b in zip(means[0], want_means)):
        problems.append(f"mean {means} vs the model's "
                        f"{[round(x, 3) for x in want_means]}")
    return sizes, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("--attnres-opt", required=True)
    opts = parser.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    ok = True
    for layers, option in CASES:
        for pipeline in PIPELINES:
            sizes, problems = check(layers, option, pipeline, opts.workdir,
                                    opts.attnres_opt)
            ok &= not problems
            shown = sizes if len(sizes) <= 8 and layers < 100 else \
                f"{len(sizes)} blocks of {sizes[0]}"
            print(f"L = {layers}, {option} (blocks {shown}), {pipeline}: "
                  f"{'OK' if not problems else 'FAIL'}")
            for problem in problems[:4]:
                print(f"  {problem}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
