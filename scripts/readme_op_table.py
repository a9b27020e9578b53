#!/usr/bin/env python3
"""Keeps the ONNX op-coverage table of the documentation (docs/onnx.md,
"Op coverage") equal to what the importer's registry prints (`onnx-import
--list-ops`). The table sits between the lines `<!-- BEGIN op-coverage -->`
and `<!-- END op-coverage -->` of the markdown file given.

    readme_op_table.py docs/onnx.md                  # print the file's table
    readme_op_table.py docs/onnx.md --update TABLE   # replace it with TABLE's text
    build/bin/onnx-import --list-ops > /tmp/t && \\
        scripts/readme_op_table.py docs/onnx.md --update /tmp/t
"""

import argparse
import sys

BEGIN = "<!-- BEGIN op-coverage -->\n"
END = "<!-- END op-coverage -->\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("markdown")
    parser.add_argument("--update", metavar="TABLE")
    opts = parser.parse_args()
    text = open(opts.markdown).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{opts.markdown}: no op-coverage block")
    head, rest = text.split(BEGIN, 1)
    block, tail = rest.split(END, 1)
    if opts.update is None:
        sys.stdout.write(block)
        return
    with open(opts.update) as f:
        table = f.read()
    with open(opts.markdown, "w") as f:
        f.write(head + BEGIN + table + END + tail)


if __name__ == "__main__":
    main()
