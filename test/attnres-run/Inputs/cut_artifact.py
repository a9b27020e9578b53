"""Cuts an artifact at several points (inside the ELF header, the program
headers, the code, the data, one byte short) and checks that attnres-run
refuses each with a "cannot load" message and status 1, not a signal.

    cut_artifact.py ATTNRES_RUN MODEL.so INPUTS.npz
"""
import os
import subprocess
import sys
import tempfile

run, model, inputs = sys.argv[1:4]
data = open(model, "rb").read()
cuts = [0, 10, 63, 64, 200, 4096, len(data) // 3, len(data) // 2,
        len(data) - 1]
refused = 0
with tempfile.TemporaryDirectory() as tmp:
    for n in cuts:
        path = os.path.join(tmp, f"cut{n}.so")
        with open(path, "wb") as f:
            f.write(data[:n])
        r = subprocess.run([run, path, "--inputs", inputs],
                           capture_output=True, text=True)
        if r.returncode == 1 and "cannot load" in r.stderr:
            refused += 1
        else:
            print(f"cut at {n}: status {r.returncode}: {r.stderr.strip()}")
print(f"{refused} cuts refused with a message")
