#!/usr/bin/env python3
"""Checks that a model's vector parameters of the model width (norm weights
and biases, the biases of projections back to the width) are pairwise
distinct, each read by one node, and that each survives import as a
constant that the imported function uses. Prints how many there are (the
test checks the count: two per LayerNorm, one per RMSNorm, one per bias).

    vector_params.py MODEL --width D --onnx-import PATH

A fixture left with the default ones and zeros fails the first checks (or
the count: exporters store equal initializers once): every norm would share
one constant, and an importer that dropped or merged a norm weight would
still match onnxruntime. An importer that drops a weight, or
merges two norms that differ, fails the second. The parameters are the
rank-1 float32 initializers of length D (exporters keep Gemma's 1 + w folded
into one such initializer); the constants are parsed from onnx-import's
output, as lists or hex, whatever their shape.

Prints one line and exits 0 when both hold; else a line per failure and 1.
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

CONSTANT = re.compile(r"(%[\w#]+) = .*?dense<([^>]*)> : tensor<([0-9x]*)f32>")


def parse(body, count):
    """The values of a dense<...> body as a float32 vector of `count`."""
    if body.startswith('"0x'):
        return np.frombuffer(bytes.fromhex(body[3:-1]), "<f4")
    # Non-finite elements print as their bits (0xFF800000 for -inf).
    array = np.array([np.uint32(int(v, 16)).view(np.float32)
                      if v.startswith("0x") else np.float32(v)
                      for v in re.split(r"[\s,\[\]]+", body) if v],
                     np.float32)
    return np.full(count, array[0]) if array.size == 1 else array


def constants(text):
    """[(name, values)] of every f32 constant the function uses."""
    found = []
    for match in CONSTANT.finditer(text):
        name, body, dims = match.groups()
        count = int(np.prod([int(d) for d in dims.split("x") if d]))
        uses = len(re.findall(re.escape(name) + r"(?![\w#])", text))
        if uses > 1:
            found.append((name, parse(body, count)))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--onnx-import", required=True)
    opts = parser.parse_args()

    graph = onnx.load(opts.model).graph
    params = [(t.name, numpy_helper.to_array(t)) for t in graph.initializer
              if t.data_type == onnx.TensorProto.FLOAT and
              list(t.dims) == [opts.width]]
    label = os.path.basename(opts.model)
    if not params:
        print(f"{label}: no float32 vector parameters of width "
              f"{opts.width} FAIL")
        return 1
    failures = []
    readers = {name: 0 for name, _ in params}
    for node in graph.node:
        for name in set(node.input):
            if name in readers:
                readers[name] += 1
    for name, count in readers.items():
        if count > 1:
            # Exporters store equal parameters once: the norms of a model
            # left at its default ones and zeros all read one initializer.
            failures.append(f"'{name}' is read by {count} nodes (one "
                            f"parameter for several: default weights?)")
    for i, (a, x) in enumerate(params):
        for b, y in params[i + 1:]:
            if np.array_equal(x, y):
                failures.append(f"'{a}' and '{b}' are equal (default "
                                f"weights?)")

    imported = subprocess.run([opts.onnx_import, opts.model,
                               "--print-locations=false"],
                              capture_output=True, text=True)
    if imported.returncode:
        sys.stderr.write(imported.stderr)
        print(f"{label}: onnx-import failed FAIL")
        return 1
    used = [v for _, v in constants(imported.stdout)
            if v.size == opts.width]
    for name, x in params:
        if not any(np.array_equal(x, v) for v in used):
            failures.append(f"'{name}' is no constant the import uses "
                            f"(dropped or merged?)")
    for line in failures:
        print(f"{label}: {line} FAIL")
    if failures:
        return 1
    print(f"{label}: {len(params)} vector parameters of width {opts.width}, "
          f"pairwise distinct, each read by one node and a constant the "
          f"import uses OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
