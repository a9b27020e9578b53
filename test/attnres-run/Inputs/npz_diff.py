"""Prints the largest absolute difference between the arrays of two .npz
files with the same names, shapes and dtypes, or why they cannot be compared.

    npz_diff.py A.npz B.npz
"""
import sys

import numpy as np

a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
if sorted(a.files) != sorted(b.files):
    sys.exit(f"names differ: {sorted(a.files)} vs {sorted(b.files)}")
worst = 0.0
for name in a.files:
    x, y = a[name], b[name]
    if x.shape != y.shape or x.dtype != y.dtype:
        sys.exit(f"{name}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
    if x.size:
        worst = max(worst, float(np.abs(x.astype(np.float64) -
                                        y.astype(np.float64)).max()))
print(f"max_abs_diff={worst:g}")
