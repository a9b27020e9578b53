#!/usr/bin/env python3
"""Writes the attnres ops whose kernels bench/gpu measures: for bf16 and f32
storage and D = 2048, 4096, 7168, phase 1 over N = 8 completed blocks for
S = 2, 4, 8, 16 layers, phase 2 with its norm (merged row unread), and the
unfused baseline: the one-shot aggregation over the N blocks and the partial
sum, and a separate RMSNorm. The build turns them into PTX. The token count
is dynamic, as in a model, so that each op gets its unsplit kernel and the
split kernels of decode sizes (a row across several CTAs)."""
import sys

N = 8
LAYERS = (2, 4, 8, 16)


def block(dtype, dim):
    t = f"tensor<?x{dim}x{dtype}>"
    v = f"tensor<{dim}x{dtype}>"
    out = []
    for s in LAYERS:
        blocks = ", ".join(f"%b{i}" for i in range(N))
        params = ", ".join(f"%b{i}: {t}" for i in range(N))
        queries = ", ".join(["%q"] * s)
        out.append(f"""func.func @phase1_{dtype}_{dim}_{s}({params}, %q: {v}) -> {t} {{
  %o:{s}, %lse:{s} = attnres.phase1 {blocks} queries({queries}) key_norms({queries}) epsilon = 1.0e-06 : {t}, {v}
  return %o#0 : {t}
}}""")
    sources = ", ".join(f"%b{i}" for i in range(N + 1))
    params = ", ".join(f"%b{i}: {t}" for i in range(N + 1))
    out.append(f"""func.func @layer_{dtype}_{dim}({params}, %lse: tensor<?xf32>, %q: {v}) -> ({t}, {t}, {t}) {{
  %h, %y = attnres.phase2 %b0, %lse, %b1 query %q key_norm %q epsilon = 1.0e-06 norm %q epsilon = 1.0e-05 : {t}, {v}
  %a = attnres.block_attn_res {sources} query %q key_norm %q epsilon = 1.0e-06 : {t}, {v}
  %n = attnres.rms_norm %a, %q epsilon = 1.0e-05 : {t}, {v}
  return %y, %a, %n : {t}, {t}, {t}
}}""")
    return out


def main():
    funcs = []
    for dtype in ("bf16", "f32"):
        for dim in (2048, 4096, 7168):
            funcs += block(dtype, dim)
    text = "\n\n".join(funcs) + "\n"
    if len(sys.argv) > 1:
        open(sys.argv[1], "w").write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
