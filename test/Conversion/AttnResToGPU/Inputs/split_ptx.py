#!/usr/bin/env python3
"""The kernels of decode-sized launches (rows split across CTAs) and what
ptxas makes of them (lit test split-d-ptx.test).

  split_ptx.py gen OUT.mlir
      Writes, for bf16 and f32 and D = 4096 and 7168, at 1, 8 and 64 tokens
      and at a dynamic token count: phase 1 over N = 8 blocks for S = 16
      layers (each with its own query and key norm), phase 2 with its norm
      (the merged row read, and not), phase 2 without it, and the one-shot
      aggregation over N + 1 sources (which the GPU pipeline splits into
      phase 1 for one layer and phase 2).
  split_ptx.py check KERNELS.ptx PTXAS_V.txt
      Prints a line per split kernel (`<kernel>_split_sums`,
      `<kernel>_split`), sorted by name: ptxas's registers, stack frame and
      spills, and whether every load of a row or a parameter is 128-bit
      (the scalar loads are lse's and the partial sums').
"""
import re
import sys

from ptxas_report import kernel_properties

N = 8
S = 16
SHAPES = [(dtype, dim) for dtype in ("bf16", "f32") for dim in (4096, 7168)]
TOKENS = ("1", "8", "64", "?")


def functions(dtype, dim, tokens):
    t = f"tensor<{tokens}x{dim}x{dtype}>"
    v = f"tensor<{dim}x{dtype}>"
    lse = f"tensor<{tokens}xf32>"
    name = f"{dtype}_{dim}_{'dyn' if tokens == '?' else tokens}"
    blocks = ", ".join(f"%b{i}" for i in range(N))
    args = ", ".join(f"%b{i}: {t}" for i in range(N))
    args += "".join(f", %q{j}: {v}, %k{j}: {v}" for j in range(S))
    queries = ", ".join(f"%q{j}" for j in range(S))
    keys = ", ".join(f"%k{j}" for j in range(S))
    return f"""func.func @phase1_{name}({args}) -> ({t}, {lse}) {{
  %o:{S}, %lse:{S} = attnres.phase1 {blocks} queries({queries}) key_norms({keys}) epsilon = 1.0e-06 : {t}, {v}
  return %o#{S - 1}, %lse#{S - 1} : {t}, {lse}
}}

func.func @phase2_{name}(%o: {t}, %lse: {lse}, %p: {t}, %q: {v}, %k: {v}, %g: {v}) -> ({t}, {t}, {t}, {t}) {{
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %k epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : {t}, {v}
  %h2, %y2 = attnres.phase2 %o, %lse, %p query %k key_norm %q epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : {t}, {v}
  %z = attnres.phase2 %o, %lse, %p query %q key_norm %k epsilon = 1.0e-06 : {t}, {v}
  return %h, %y, %y2, %z : {t}, {t}, {t}, {t}
}}

func.func @block_attn_res_{name}({", ".join(f"%b{i}: {t}" for i in range(N + 1))}, %q: {v}, %k: {v}) -> {t} {{
  %h = attnres.block_attn_res {", ".join(f"%b{i}" for i in range(N + 1))} query %q key_norm %k epsilon = 1.0e-06 : {t}, {v}
  return %h : {t}
}}
"""


def check(ptx_path, ptxas_path):
    ptx = open(ptx_path).read()
    bodies = {}
    for body in re.split(r"(?=\.visible \.entry )", ptx):
        m = re.match(r"\.visible \.entry (\w+_split(?:_sums)?)\(", body)
        if m:
            bodies[m.group(1)] = body
    props = kernel_properties(ptxas_path)
    for name in sorted(bodies):
        loads = re.findall(r"\bld\.global\.(\S+)", bodies[name])
        narrow = [l for l in loads if not l.startswith("v4.") and l != "b32"]
        stack, stores, spilled, registers = props[name]
        verdict = "ok" if not narrow else f"NARROW {sorted(set(narrow))}"
        print(f"{name}: {registers} registers, {stack} bytes stack, "
              f"spills {stores}/{spilled}, loads {verdict}")


def main():
    if sys.argv[1] == "gen":
        with open(sys.argv[2], "w") as out:
            out.write("\n".join(functions(dtype, dim, tokens)
                                for dtype, dim in SHAPES
                                for tokens in TOKENS))
    else:
        check(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
