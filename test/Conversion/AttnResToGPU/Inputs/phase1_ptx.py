#!/usr/bin/env python3
"""Phase-1 kernels at the benchmark's shapes and at deep blocks, and what
ptxas makes of them (lit tests phase1-bench-ptx.test, phase1-deep-ptx.test).

  phase1_ptx.py gen {bench,deep} OUT.mlir
      Writes phase-1 ops over N = 8 blocks of a dynamic number of tokens
      (so that both the unsplit kernel and the split kernels of decode sizes
      are built), each layer with its own query and key norm (function
      arguments, so the products are formed at run time, as for weights not
      known at compile time).
  phase1_ptx.py params DIR
      Runs ptxas (sm_90) on every DIR/*.ptx, the host side's GPU loops
      included, and prints each entry's kernel-parameter bytes (CUDA's
      limit is 4 KB before PTX ISA 8.1); exits 1 if ptxas rejects a file.
  phase1_ptx.py check KERNELS.ptx PTXAS_V.txt
      Prints a line per phase-1 kernel: ptxas's registers, stack frame and
      spills, and whether its global loads are all 128-bit and as many as the
      kernel needs: per vector chunk of a row, one per source in each of the
      two passes and one per 16 bytes of the layers' f32 products. The split
      kernels follow (`<kernel>_split_sums`, `<kernel>_split`): registers,
      stack and spills, and whether every load of a row or of the products
      is 128-bit (the scalar loads are the partial sums').
"""
import pathlib
import re
import subprocess
import sys

from ptxas_report import kernel_properties

N = 8
TOKENS = "?"
BENCH = [(dtype, dim, s) for dtype in ("bf16", "f32")
         for dim in (2048, 4096, 7168) for s in (2, 8, 16)]
DEEP = [("bf16", 4096, 32), ("bf16", 4096, 64), ("f32", 2048, 64)]
MAX_VECTORS_PER_THREAD = 4  # --attnres-to-gpu's default
MAX_THREADS = 256  # per row, for phase 1 (kMaxAggregateThreads)


def phase1(dtype, dim, s):
    t = f"tensor<{TOKENS}x{dim}x{dtype}>"
    v = f"tensor<{dim}x{dtype}>"
    args = [f"%b{i}: {t}" for i in range(N)]
    args += [f"%q{j}: {v}, %k{j}: {v}" for j in range(s)]
    blocks = ", ".join(f"%b{i}" for i in range(N))
    queries = ", ".join(f"%q{j}" for j in range(s))
    keys = ", ".join(f"%k{j}" for j in range(s))
    return (f"func.func @phase1_{dtype}_{dim}_{s}({', '.join(args)}) -> "
            f"({t}, {t}) {{\n"
            f"  %o:{s}, %lse:{s} = attnres.phase1 {blocks} queries({queries}) "
            f"key_norms({keys}) epsilon = 1.0e-06 : {t}, {v}\n"
            f"  return %o#0, %o#{s - 1} : {t}, {t}\n}}\n")


def chunks(dtype, dim):
    width = 8 if dtype == "bf16" else 4
    vecs = dim // width
    threads = 32
    while -(-vecs // threads) > MAX_VECTORS_PER_THREAD and threads < MAX_THREADS:
        threads *= 2
    return -(-vecs // threads), width


def check(ptx_path, ptxas_path):
    ptx = open(ptx_path).read()
    entries, splits = {}, {}
    for body in re.split(r"(?=\.visible \.entry )", ptx):
        m = re.match(r"\.visible \.entry (phase1_(\d+)x(\w+?)_n(\d+)_s(\d+))"
                     r"(_split_sums|_split)?\(", body)
        if not m:
            continue
        key = (m.group(3), int(m.group(2)), int(m.group(5)))
        if m.group(6):
            splits[m.group(1) + m.group(6)] = (body, key, m.group(6))
        else:
            entries[m.group(1)] = (body, m.group(3), int(m.group(2)),
                                   int(m.group(4)), int(m.group(5)))
    props = kernel_properties(ptxas_path)
    for name in sorted(entries, key=lambda n: (entries[n][1], entries[n][2],
                                               entries[n][4])):
        body, dtype, dim, n, s = entries[name]
        c, width = chunks(dtype, dim)
        # Pass 1: the source and the layers' f32 products (width floats, 16
        # bytes per load); pass 2: the n sources.
        expected = c * (1 + s * width // 4 + n)
        loads = len(re.findall(r"\bld\.global\.", body))
        wide = len(re.findall(r"\bld\.global\.v4\.", body))
        stack, stores, spilled, registers = props[name]
        verdict = "ok" if loads == expected == wide else (
            f"MISMATCH ({loads} loads, {wide} of them 128-bit, "
            f"{expected} expected)")
        print(f"{name}: {registers} registers, {stack} bytes stack, "
              f"spills {stores}/{spilled}, loads {verdict}")
    # Split kernels: sums before finish, in the unsplit kernels' order.
    order = {"_split_sums": 0, "_split": 1}
    for name in sorted(splits, key=lambda n: (splits[n][1], order[splits[n][2]])):
        body, _, _ = splits[name]
        loads = re.findall(r"\bld\.global\.(\S+)", body)
        narrow = [l for l in loads if not l.startswith("v4.") and l != "b32"]
        stack, stores, spilled, registers = props[name]
        verdict = "ok" if not narrow else f"NARROW {sorted(set(narrow))}"
        print(f"{name}: {registers} registers, {stack} bytes stack, "
              f"spills {stores}/{spilled}, loads {verdict}")


def params(directory):
    sizes = {"8": 1, "16": 2, "32": 4, "64": 8}
    for path in sorted(pathlib.Path(directory).glob("*.ptx")):
        ptx = path.read_text()
        run = subprocess.run(["ptxas", "-arch=sm_90", str(path), "-o",
                              str(path.with_suffix(".cubin"))],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{path.name}: ptxas failed:\n{run.stderr}")
        for m in re.finditer(r"\.entry (\w+)\((.*?)\)", ptx, re.S):
            offset = 0
            for bits in re.findall(r"\.param \.[a-z]+?(\d+)", m.group(2)):
                size = sizes[bits]
                offset = -(-offset // size) * size + size
            print(f"{m.group(1)}: {offset} parameter bytes")


def main():
    if sys.argv[1] == "params":
        params(sys.argv[2])
    elif sys.argv[1] == "gen":
        shapes = BENCH if sys.argv[2] == "bench" else DEEP
        with open(sys.argv[3], "w") as out:
            out.write("\n".join(phase1(*shape) for shape in shapes))
    else:
        check(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
