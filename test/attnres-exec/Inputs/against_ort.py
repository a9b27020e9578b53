"""Runs MODEL.onnx in onnxruntime on the arrays of IN.npz and compares every
output with OUT.npz at 1e-4 of the largest reference magnitude.

    against_ort.py MODEL.onnx IN.npz OUT.npz
"""
import sys

import numpy as np
import onnxruntime as ort

model, inputs, outputs = sys.argv[1:4]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
feed = dict(np.load(inputs))
got = np.load(outputs)
for meta, want in zip(session.get_outputs(), session.run(None, feed)):
    have = got[meta.name]
    if have.shape != want.shape:
        sys.exit(f"{meta.name}: shape {have.shape}, onnxruntime {want.shape}")
    error = float(np.abs(have.astype(np.float64) - want).max())
    scale = max(float(np.abs(want).max()), 1e-30)
    if error > 1e-4 * scale:
        sys.exit(f"{meta.name}: max abs error {error:.3g} at scale {scale:.3g}")
    print(f"{meta.name} {have.dtype} matches onnxruntime within 1e-4")
