#!/usr/bin/env python3
"""Each ONNX op that the f16/bf16 transformers fixtures compute in half
precision, run by attnres-run in that format, against float64 NumPy on the
same (rounded) inputs.

    half_ops.py WORKDIR --attnres-run PATH --dtype f16|bf16

One model per format: a float32 input per operand, cast to the format
(exactly: the inputs are rounded first), each op, its result cast back to
float32 as an output. The question is whether attnres rounds where the
graph says and nowhere else: an op whose result is stored in the format
should be computed as exactly as float32 allows and rounded once, as
torch's CPU kernels and onnxruntime's do. Bound per element:

    |attnres - exact| <= ulp(exact) + 2^-14 S

ulp(x) the format's spacing at |x| (2^-7 |x| for bf16, 2^-10 |x| for f16,
rounded down to a power of two; a correctly rounded result is within half
of it, the other half allows for float32 math functions and a second
rounding near a tie), S the size of the terms a reduction adds (sum of
|a_k b_k| (+ |bias|) for a product, of |x| for a sum, |x - mean| / sigma
|scale| + |bias| for a norm; 0 for elementwise ops): float32 accumulation
of K = 64 terms errs by at most K 2^-24 S = 2^-18 S, while a sum carried
in the half format errs by about sqrt(K) u S (2^-5 S in bf16, 2^-8 S in
f16) and a product rounded before its bias is added by up to u S.

KNOWN lists the ops that attnres computes today in several steps each
rounded to the format (seen in onnx-import's output): they are printed
as KNOWN when outside the bound and do not fail; every other op must be
within it. The largest error is printed in ulps.
"""

import argparse
import math
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FORMATS = {"f16": (TensorProto.FLOAT16, 11), "bf16": (TensorProto.BFLOAT16, 8)}
M, K, N = 8, 64, 24
# Where the importer splits one ONNX op into steps whose results are
# rounded to the format (torch and onnxruntime round once).
KNOWN = {
    "Gemm": "the product is rounded, then the bias added and rounded again",
    "Softmax": "x - max, exp, the sum, its reciprocal and the product are "
               "each rounded",
    "Sigmoid": "1 / (1 + exp(-x)), each step rounded",
    "Div": "a reciprocal, rounded, then a product",
    "Pow": "x^3 as x * x * x, each product rounded",
    "Erf": "f16: math.erf's polynomial is evaluated in f16",
}


def round_to(fmt, x):
    x = np.asarray(x, np.float64)
    if fmt == "f16":
        return x.astype(np.float16).astype(np.float64)
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def ulp(fmt, x):
    precision = FORMATS[fmt][1]
    smallest = 2.0 ** (-14 if fmt == "f16" else -126)
    exponent = np.floor(np.log2(np.maximum(np.abs(x), smallest)))
    return 2.0 ** (exponent - (precision - 1))


def erf(x):
    return np.vectorize(math.erf)(x)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def cases(rng):
    """(name, op node builder args, inputs {name: array}, initializers,
    exact(inputs, inits), terms(inputs, inits))."""
    a = rng.standard_normal((M, K))
    b = rng.standard_normal((K, N)) / 8
    bt = rng.standard_normal((N, K)) / 8
    c = rng.standard_normal(N)
    x = rng.standard_normal((M, K)) * 2
    pos = rng.uniform(0.1, 4, (M, K))
    gamma = rng.uniform(0.5, 1.5, K)
    beta = rng.standard_normal(K) * 0.1
    logits = rng.standard_normal((M, K)) * 3
    ln_mean = x.mean(-1, keepdims=True)
    ln_sigma = np.sqrt(((x - ln_mean) ** 2).mean(-1, keepdims=True) + 1e-5)
    return [
        ("MatMul", dict(op="MatMul", ins=["a", "b"]), {"a": a}, {"b": b},
         lambda v: v["a"] @ v["b"], lambda v: np.abs(v["a"]) @ np.abs(v["b"])),
        ("Gemm", dict(op="Gemm", ins=["a", "bt", "c"], transB=1), {"a": a},
         {"bt": bt, "c": c}, lambda v: v["a"] @ v["bt"].T + v["c"],
         lambda v: np.abs(v["a"]) @ np.abs(v["bt"]).T + np.abs(v["c"])),
        ("Softmax", dict(op="Softmax", ins=["logits"], axis=-1),
         {"logits": logits}, {}, lambda v: softmax(v["logits"]),
         lambda v: softmax(v["logits"])),
        ("LayerNormalization", dict(op="LayerNormalization",
                                    ins=["x", "gamma", "beta"], axis=-1,
                                    epsilon=1e-5),
         {"x": x}, {"gamma": gamma, "beta": beta},
         lambda v: (v["x"] - v["x"].mean(-1, keepdims=True)) / np.sqrt(
             v["x"].var(-1, keepdims=True) + 1e-5) * v["gamma"] + v["beta"],
         lambda v: np.abs(v["x"] - ln_mean) / ln_sigma * np.abs(v["gamma"])
         + np.abs(v["beta"])),
        ("ReduceSum", dict(op="ReduceSum", ins=["x", "axes"], keepdims=1),
         {"x": x}, {"axes": np.array([1], np.int64)},
         lambda v: v["x"].sum(-1, keepdims=True),
         lambda v: np.abs(v["x"]).sum(-1, keepdims=True)),
        ("ReduceMean", dict(op="ReduceMean", ins=["x", "axes"], keepdims=1),
         {"x": x}, {"axes": np.array([1], np.int64)},
         lambda v: v["x"].mean(-1, keepdims=True),
         lambda v: np.abs(v["x"]).mean(-1, keepdims=True)),
        ("Erf", dict(op="Erf", ins=["x"]), {"x": x}, {},
         lambda v: erf(v["x"]), None),
        ("Tanh", dict(op="Tanh", ins=["x"]), {"x": x}, {},
         lambda v: np.tanh(v["x"]), None),
        ("Sigmoid", dict(op="Sigmoid", ins=["x"]), {"x": x}, {},
         lambda v: 1 / (1 + np.exp(-v["x"])), None),
        ("Exp", dict(op="Exp", ins=["x"]), {"x": x}, {},
         lambda v: np.exp(v["x"]), None),
        ("Sqrt", dict(op="Sqrt", ins=["pos"]), {"pos": pos}, {},
         lambda v: np.sqrt(v["pos"]), None),
        ("Pow", dict(op="Pow", ins=["x", "three"]), {"x": x},
         {"three": np.array(3.0)}, lambda v: v["x"] ** 3, None),
        ("Div", dict(op="Div", ins=["x", "pos"]), {"x": x, "pos": pos}, {},
         lambda v: v["x"] / v["pos"], None),
        ("Mul", dict(op="Mul", ins=["x", "pos"]), {"x": x, "pos": pos}, {},
         lambda v: v["x"] * v["pos"], None),
        ("Add", dict(op="Add", ins=["x", "logits"]),
         {"x": x, "logits": logits}, {},
         lambda v: v["x"] + v["logits"], None),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir")
    parser.add_argument("--attnres-run", required=True)
    parser.add_argument("--dtype", required=True, choices=sorted(FORMATS))
    opts = parser.parse_args()
    fmt = opts.dtype
    elt = FORMATS[fmt][0]
    os.makedirs(opts.workdir, exist_ok=True)
    table = cases(np.random.default_rng(0))

    nodes, inputs, outputs, inits, feeds, values = [], {}, [], {}, {}, {}
    for name, spec, ins, consts, _, _ in table:
        for key, value in ins.items():
            if key not in inputs:
                value = round_to(fmt, value)
                values[key] = value
                feeds[key] = value.astype(np.float32)
                inputs[key] = helper.make_tensor_value_info(
                    key, TensorProto.FLOAT, list(value.shape))
                nodes.append(helper.make_node("Cast", [key], [key + "_h"],
                                              to=elt))
        for key, value in consts.items():
            if key not in inits:
                if value.dtype == np.int64:
                    inits[key] = numpy_helper.from_array(value, key + "_h")
                    values[key] = value
                    continue
                value = round_to(fmt, value)
                values[key] = value
                t = numpy_helper.from_array(value.astype(np.float32), key)
                inits[key] = t
                nodes.append(helper.make_node("Cast", [key], [key + "_h"],
                                              to=elt))
        attrs = {k: v for k, v in spec.items() if k not in ("op", "ins")}
        nodes.append(helper.make_node(spec["op"],
                                      [i + "_h" for i in spec["ins"]],
                                      [name + "_h"], **attrs))
        nodes.append(helper.make_node("Cast", [name + "_h"], [name],
                                      to=TensorProto.FLOAT))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                     None))
    graph = helper.make_graph(nodes, "half_ops", list(inputs.values()),
                              outputs, list(inits.values()))
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = os.path.join(opts.workdir, f"half_ops_{fmt}.onnx")
    onnx.save(model, path)
    in_path = os.path.join(opts.workdir, "in.npz")
    out_path = os.path.join(opts.workdir, "out.npz")
    np.savez(in_path, **feeds)
    run = subprocess.run([opts.attnres_run, path, "--inputs", in_path,
                          "--outputs", out_path], capture_output=True,
                         text=True)
    if run.returncode:
        sys.stderr.write(run.stderr)
        return 2
    got = np.load(out_path)
    ok = True
    for name, _, _, _, exact, terms in table:
        want = exact(values)
        g = got[name].astype(np.float64)
        err = np.abs(g - want)
        size = terms(values) if terms else 0
        bound = ulp(fmt, want) + 2.0 ** -14 * size
        within = g.shape == want.shape and bool(np.all(err <= bound))
        verdict = "OK" if within else "FAIL"
        if not within and name in KNOWN:
            verdict = f"KNOWN ({KNOWN[name]})"
        else:
            ok &= within
        print(f"{fmt} {name}: largest error "
              f"{(err / ulp(fmt, want)).max():.2f} ulp {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
