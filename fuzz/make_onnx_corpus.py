#!/usr/bin/env python3
"""Writes the ONNX importer fuzzer's seed corpus: every ONNX text model in
the importer's lit tests (the `## ` lines), serialized, into
fuzz/corpus/onnx-import-fuzzer/. Small seeds keep executions fast; the
mutator grows them. Rerun after adding test models:

    .venv/bin/python3 fuzz/make_onnx_corpus.py
"""

import glob
import hashlib
import os

import sys

import onnx
import onnx.parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "Target", "ONNX", "Inputs"))
from onnxtext import expand_random  # noqa: E402
OUT = os.path.join(ROOT, "fuzz", "corpus", "onnx-import-fuzzer")


def models(path):
    current = []
    with open(path) as f:
        for line in f:
            if not line.startswith("##"):
                continue
            body = line[2:].strip()
            if body == "-----":
                yield current
                current = []
            else:
                current.append(body)
    if current:
        yield current


def main():
    os.makedirs(OUT, exist_ok=True)
    count = 0
    tests = sorted(glob.glob(os.path.join(ROOT, "test", "**", "*.test"),
                             recursive=True))
    for test in tests:
        for index, lines in enumerate(models(test)):
            try:
                # Initializers written `= random` get onnxtext.py's values.
                model = onnx.parser.parse_model(
                    expand_random("\n".join(lines), index))
            except Exception:  # noqa: BLE001 - a test's text may be partial
                continue
            data = model.SerializeToString()
            name = hashlib.sha1(data).hexdigest()[:16] + ".onnx"
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(data)
            count += 1
    print(f"wrote {count} seeds to {OUT}")


if __name__ == "__main__":
    main()
