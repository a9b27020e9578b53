#!/usr/bin/env python3
"""Checks the Block AttnRes partition three ways.

    partition.py WORKDIR --attnres-opt PATH

1. scripts/attnres_reference.py's partition() (the oracle's own, written
   from the paper's definition) against block_sizes() (the compiler's
   closed form, which the fixture generators import) for every
   1 <= N <= L <= 128 and N = 0 (Full AttnRes).
2. partition() against the paper's definition directly: N blocks of
   consecutive layers covering all L, S = L/N layers each when N divides L,
   otherwise sizes floor(L/N) and ceil(L/N), the larger first
   (docs/design.md), and N > L refused.
3. The compiler's own partition: one module of streams with L = 1..24
   layers rewritten by attnres-opt --attnres-residual-to-block for each
   N = 0..24 (functions with fewer than N layers are left out), the number
   of sources of every attnres.block_attn_res read from the output and
   compared with what partition() implies: a block n layer attends over
   b_0..b_n (n + 1 sources) plus, after its block's first layer, the
   partial sum; the final aggregation over b_0..b_N.
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "scripts"))
import attnres_reference as ref  # noqa: E402
from numpy_reference import module  # noqa: E402


def paper_ok(layers, blocks, sizes):
    n = blocks or layers
    if len(sizes) != n or sum(sizes) != layers or min(sizes) < 1:
        return False
    if layers % n == 0:
        return sizes == [layers // n] * n
    small, large = layers // n, layers // n + 1
    return (set(sizes) == {small, large}
            and sizes == sorted(sizes, reverse=True))


def expected_sources(sizes):
    counts = []
    for n, size in enumerate(sizes):
        counts += [n + 1] + [n + 2] * (size - 1)
    return counts + [len(sizes) + 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("--attnres-opt", required=True)
    opts = parser.parse_args()
    ok = True

    pairs = [(l, n) for l in range(1, 129) for n in range(0, l + 1)]
    differ = [(l, n) for l, n in pairs
              if ref.partition(l, n) != ref.block_sizes(l, n)]
    ok &= not differ
    print(f"partition vs block_sizes: {len(pairs)} (L, N) pairs, "
          f"{len(differ)} differ {differ[:5]} "
          f"{'OK' if not differ else 'FAIL'}")

    wrong = [(l, n) for l, n in pairs
             if not paper_ok(l, n, ref.partition(l, n))]
    refused = 0
    for l in range(1, 17):
        try:
            ref.partition(l, l + 1)
        except ValueError:
            refused += 1
    within = not wrong and refused == 16
    ok &= within
    print(f"partition vs the paper's definition: {len(wrong)} wrong "
          f"{wrong[:5]}, N > L refused {refused}/16 "
          f"{'OK' if within else 'FAIL'}")

    os.makedirs(opts.workdir, exist_ok=True)
    max_layers = 24
    checked, mismatched = 0, []
    for blocks in range(0, max_layers + 1):
        layer_counts = range(max(blocks, 1), max_layers + 1)
        text = "".join(
            module("f32", (1, 2, 4), np.ones((l, 4)), np.ones((l, 4)),
                   np.ones(4)).replace("@main", f"@s{l}")
            for l in layer_counts)
        path = os.path.join(opts.workdir, f"streams_n{blocks}.mlir")
        with open(path, "w") as f:
            f.write(text)
        run = subprocess.run(
            [opts.attnres_opt, path,
             f"--attnres-residual-to-block=num-blocks={blocks}"],
            capture_output=True, text=True)
        if run.returncode:
            sys.stderr.write(run.stderr)
            return 2
        sources = {}
        name = None
        for line in run.stdout.splitlines():
            head = re.match(r"\s*func\.func @s(\d+)", line)
            if head:
                name = int(head.group(1))
                sources[name] = []
            elif "attnres.block_attn_res" in line:
                operands = line.split("attnres.block_attn_res")[1]
                operands = operands.split(" query ")[0]
                sources[name].append(len(operands.split(",")))
        for l in layer_counts:
            checked += 1
            if sources.get(l) != expected_sources(ref.partition(l, blocks)):
                mismatched.append((l, blocks))
    ok &= not mismatched
    print(f"attnres-opt vs partition: {checked} (L, N) pairs, "
          f"{len(mismatched)} differ {mismatched[:5]} "
          f"{'OK' if not mismatched else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
