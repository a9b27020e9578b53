#!/usr/bin/env python3
"""Writes the seed corpora of the .npy/.npz fuzzers (fuzz/corpus/*) with NumPy.

The seeds are committed; rerun this only to change them:
    .venv/bin/python3 fuzz/make_corpus.py
Small on purpose: libFuzzer mutates short inputs faster, and each seed only
has to reach one path of the reader (a dtype, a format version, stored or
deflated members).
"""
import io
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def npy_bytes(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=False)
    return buf.getvalue()


def npz_bytes(compressed, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    rng = np.random.default_rng(0)
    npy = {
        "f32_2x3.npy": npy_bytes(rng.standard_normal((2, 3)).astype(np.float32)),
        "i64_4.npy": npy_bytes(np.arange(4, dtype=np.int64)),
        "bool_scalar.npy": npy_bytes(np.array(True)),
        "f16_empty_0x3.npy": npy_bytes(np.zeros((0, 3), np.float16)),
        "u8_5_v2.npy": npy_bytes(np.arange(5, dtype=np.uint8), version=(2, 0)),
        "i8_1x1x2_v3.npy": npy_bytes(np.ones((1, 1, 2), np.int8), version=(3, 0)),
        "f64_2.npy": npy_bytes(np.array([0.5, -2.0])),
        "i32_2x2.npy": npy_bytes(np.eye(2, dtype=np.int32)),
        "i16_3.npy": npy_bytes(np.array([1, -1, 7], np.int16)),
    }
    for name, data in npy.items():
        write("npy-fuzzer", name, data)
    npz = {
        "stored_two.npz": npz_bytes(
            False,
            input_ids=np.arange(8, dtype=np.int64).reshape(1, 8),
            mask=np.ones((1, 8), np.bool_)),
        "deflated_two.npz": npz_bytes(
            True,
            queries=np.zeros((3, 4), np.float32),
            key_norm_weights=np.ones((3, 4), np.float32)),
        "deflated_f16.npz": npz_bytes(True, x=np.arange(6, dtype=np.float16)),
        "stored_empty_array.npz": npz_bytes(False, e=np.zeros((0,), np.int32)),
        "empty_archive.npz": npz_bytes(False),
    }
    for name, data in npz.items():
        write("npz-fuzzer", name, data)


if __name__ == "__main__":
    main()
