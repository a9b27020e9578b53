#!/usr/bin/env python3
"""Builds .onnx files from ONNX text models embedded in a lit test.

A test writes each model on lines starting with `## `; a line `## -----`
separates models. Model K is written to OUT/K.onnx:

    RUN: %python %S/Inputs/onnxtext.py %s %t && onnx-import %t/0.onnx | ...
    ## <ir_version: 8, opset_import: ["" : 18]>
    ## g (float[2, 4] x) => (float[2, 4] y) { y = Relu(x) }

The text syntax is onnx.parser's (the one onnx-mlir's tests use).
"""

import os
import sys

import onnx
import onnx.parser


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
        model = onnx.parser.parse_model("\n".join(lines))
        onnx.save(model, os.path.join(out, f"{i}.onnx"))


if __name__ == "__main__":
    main(*sys.argv[1:])
