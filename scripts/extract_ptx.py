#!/usr/bin/env python3
"""Writes the PTX of each gpu.binary in an MLIR file (from
--attnres-gpu-pipeline="format=isa") to <outdir>/<binary>.ptx, so that tests
can run ptxas -v on it and FileCheck the kernels' resource use."""
import argparse
import pathlib
import re
import sys


def unescape(text):
    """MLIR prints string attributes with \\XX hex escapes and \\\\, \\"."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "\\\"":
                out.append(ord(nxt))
                i += 2
                continue
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
            continue
        out.extend(c.encode())
        i += 1
    return out.decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mlir", type=pathlib.Path)
    parser.add_argument("outdir", type=pathlib.Path)
    args = parser.parse_args()
    text = args.mlir.read_text()
    pattern = re.compile(
        r'gpu\.binary @(\w+)\s.*?assembly = "((?:[^"\\]|\\.)*)"', re.S)
    found = pattern.findall(text)
    if not found:
        sys.exit(f"error: {args.mlir}: no gpu.binary with PTX assembly "
                 "(compile with format=isa)")
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, asm in found:
        (args.outdir / f"{name}.ptx").write_text(unescape(asm))
        print(name)


if __name__ == "__main__":
    main()
