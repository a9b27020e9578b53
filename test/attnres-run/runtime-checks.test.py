"""Compares a block_attn_res over two sources (query q, key norm q) with its
definition in float64: softmax over the sources of q . (k * rmsnorm(x))."""
import sys

import numpy as np

inputs, outputs = np.load(sys.argv[1]), np.load(sys.argv[2])
a, b, q = (inputs[n].astype(np.float64) for n in ("arg0", "arg1", "arg2"))
sources = np.stack([a, b])
rms = np.sqrt((sources ** 2).mean(-1, keepdims=True) + 1e-6)
logits = ((sources / rms) * q * q).sum(-1)
w = np.exp(logits - logits.max(0))
w /= w.sum(0)
want = (w[..., None] * sources).sum(0)
got = next(iter(outputs.values())).astype(np.float64)
err = np.abs(got - want).max()
if err > 1e-5 * max(1.0, np.abs(want).max()):
    sys.exit(f"max abs error {err:.3g}")
print("matches the NumPy aggregation within 1e-5")
