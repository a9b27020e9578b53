#!/usr/bin/env python3
"""Builds .onnx files from ONNX text models embedded in a lit test.

A test writes each model on lines starting with `## `; a line `## -----`
separates models. Model K is written to OUT/K.onnx:

    RUN: %python %S/Inputs/onnxtext.py %s %t && onnx-import %t/0.onnx | ...
    ## <ir_version: 8, opset_import: ["" : 18]>
    ## g (float[2, 4] x) => (float[2, 4] y) { y = Relu(x) }

The text syntax is onnx.parser's (the one onnx-mlir's tests use), plus
one extension: an initializer written `float[8, 3, 4, 4] w = random` is
given standard normal values scaled by 1/sqrt(its fan-in, the product of
all but its first dim), drawn from a generator seeded by the model's index,
so that weights of any size need not be spelled out.
"""

import os
import re
import sys

import numpy as np

import onnx
import onnx.parser


def expand_random(text, seed):
    """`text` with each `random` initializer given its values, drawn from a
    generator seeded by `seed`."""
    rng = np.random.default_rng(seed)

    def values(match):
        dims = [int(d) for d in match.group(2).split(",")]
        fan_in = int(np.prod(dims[1:])) if len(dims) > 1 else 1
        drawn = rng.standard_normal(int(np.prod(dims))) / np.sqrt(fan_in)
        return (f"{match.group(1)}[{match.group(2)}] {match.group(3)} = "
                "{" + ", ".join(f"{v:.6g}" for v in drawn) + "}")

    return re.sub(r"(\w+)\[([\d, ]+)\] (\w+) = random", values, text)


def main(test, out):
    models, current = [], []
    with open(test) as f:
        for line in f:
            if not line.startswith("##"):
                continue
            body = line[2:].strip()
            if body == "-----":
                models.append(current)
                current = []
            else:
                current.append(body)
    models.append(current)
    os.makedirs(out, exist_ok=True)
    for i, lines in enumerate(models):
        text = expand_random("\n".join(lines), i)
        model = onnx.parser.parse_model(text)
        onnx.save(model, os.path.join(out, f"{i}.onnx"))


if __name__ == "__main__":
    main(*sys.argv[1:])
