#!/usr/bin/env python3
"""Extracts the quick start of README.md and runs it as written, so that the
commands a newcomer copies stay true (test/docs/quick-start*.test).

A fenced block belongs to the quick start when the line before its fence is
`<!-- quick-start -->`; a block after `<!-- quick-start output -->` is what
the code blocks before it print. Unmarked blocks (setting up PATH, exporting
with torch) are for the reader only.

    readme_quickstart.py README.md --lang sh            # print the sh blocks
    readme_quickstart.py README.md --lang sh --run DIR  # run them in DIR
    readme_quickstart.py README.md --lang python --run DIR

--run writes the blocks of that language, in order, to one script in DIR,
runs it there (sh: bash -e -o pipefail, so the first failing command fails
the run; python: this interpreter) with this interpreter's folder first on
PATH, as an activated venv would put it, echoes what it printed, and fails
when the script fails or when a line of the language's output blocks is not
printed in order (a `...` line stands for lines left out). Python 3,
standard library only.
"""

import argparse
import os
import subprocess
import sys

MARK = "<!-- quick-start -->"
OUTPUT_MARK = "<!-- quick-start output -->"
SUFFIX = {"sh": ".sh", "python": ".py"}


def blocks(path):
    """The marked blocks of `path` as (language, text, is_output), in order;
    an output block takes the language of the code block before it."""
    lines = open(path).read().split("\n")
    found, language = [], None
    i = 0
    while i < len(lines):
        mark = lines[i].strip()
        if mark in (MARK, OUTPUT_MARK) and i + 1 < len(lines) \
                and lines[i + 1].startswith("```"):
            fence_language = lines[i + 1][3:].strip()
            end = i + 2
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            if end == len(lines):
                sys.exit(f"{path}:{i + 2}: the marked block has no end")
            text = "\n".join(lines[i + 2:end]) + "\n"
            if mark == MARK:
                language = fence_language
                found.append((language, text, False))
            elif language is None:
                sys.exit(f"{path}:{i + 1}: an output block before any code")
            else:
                found.append((language, text, True))
            i = end
        i += 1
    return found


def check_output(printed, expected):
    """Returns the first expected line not printed in order, or None."""
    got = printed.split("\n")
    at = 0
    for want in expected:
        if want.strip() in ("", "..."):
            continue
        while at < len(got) and want.strip() not in got[at]:
            at += 1
        if at == len(got):
            return want
        at += 1
    return None


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("markdown")
    parser.add_argument("--lang", required=True, choices=sorted(SUFFIX))
    parser.add_argument("--run", metavar="DIR")
    opts = parser.parse_args()
    marked = [(text, out) for language, text, out in blocks(opts.markdown)
              if language == opts.lang]
    code = "".join(text for text, out in marked if not out)
    expected = [line for text, out in marked if out
                for line in text.split("\n")]
    if not code:
        sys.exit(f"{opts.markdown}: no {opts.lang} block marked {MARK}")
    if opts.run is None:
        sys.stdout.write(code)
        return
    script = os.path.join(opts.run, "quick-start" + SUFFIX[opts.lang])
    with open(script, "w") as f:
        f.write(code)
    command = (["bash", "-e", "-o", "pipefail", script] if opts.lang == "sh"
               else [sys.executable, script])
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    result = subprocess.run(command, cwd=opts.run, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        sys.exit(f"readme_quickstart: the {opts.lang} quick start failed "
                 f"(exit status {result.returncode}); its script is {script}")
    missing = check_output(result.stdout, expected)
    if missing is not None:
        sys.exit(f"readme_quickstart: the {opts.lang} quick start did not "
                 f"print what {opts.markdown} shows: {missing.strip()!r}")


if __name__ == "__main__":
    main()
