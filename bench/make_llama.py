#!/usr/bin/env python3
"""Writes a Llama-style decoder as ONNX, the shape of the test fixture
llama_decomposed.onnx (RMSNorm written out as Pow/ReduceMean/Sqrt/Div, SwiGLU
MLP, causal attention) at benchmark size, without torch:

    make_llama.py OUT.onnx [--dim 512] [--layers 8] [--seq 128] ...

Weights are random (seed 0); with D=512 and 8 layers the file is ~110 MB, so
it is generated when the benchmark runs and never committed.
"""

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(dim, layers, heads, ffn, vocab, seq, batch):
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(array, prefix="c"):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(op, inputs, **attrs):
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def weight(rows, cols):
        return const((rng.standard_normal((rows, cols)) / np.sqrt(rows))
                     .astype(np.float32), "w")

    two, eps = const(np.float32(2.0)), const(np.float32(1e-6))
    last = const(np.array([-1], np.int64))

    def rms_norm(x):
        g = const((rng.random(dim) + 0.5).astype(np.float32), "g")
        ms = node("ReduceMean", [node("Pow", [x, two]), last], keepdims=1)
        rms = node("Sqrt", [node("Add", [ms, eps])])
        return node("Mul", [node("Div", [x, rms]), g])

    head_dim = dim // heads
    split_heads = const(np.array([batch, seq, heads, head_dim], np.int64))
    merge_heads = const(np.array([batch, seq, dim], np.int64))
    scale = const(np.float32(np.sqrt(head_dim)))
    mask = const(np.triu(np.ones((seq, seq), bool), 1))
    neg_inf = const(np.float32(-np.inf))

    h = node("Gather", [const(rng.standard_normal((vocab, dim))
                              .astype(np.float32), "embed"), "input_ids"])
    for _ in range(layers):
        x = rms_norm(h)
        q, k, v = (node("Transpose",
                        [node("Reshape", [node("MatMul", [x, weight(dim, dim)]),
                                          split_heads])], perm=[0, 2, 1, 3])
                   for _ in range(3))
        kt = node("Transpose", [k], perm=[0, 1, 3, 2])
        scores = node("Div", [node("MatMul", [q, kt]), scale])
        scores = node("Where", [mask, neg_inf, scores])
        attn = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        attn = node("Reshape", [node("Transpose", [attn], perm=[0, 2, 1, 3]),
                                merge_heads])
        h = node("Add", [h, node("MatMul", [attn, weight(dim, dim)])])
        x = rms_norm(h)
        gate = node("MatMul", [x, weight(dim, ffn)])
        up = node("MatMul", [x, weight(dim, ffn)])
        silu = node("Mul", [gate, node("Sigmoid", [gate])])
        h = node("Add", [h, node("MatMul", [node("Mul", [silu, up]),
                                            weight(ffn, dim)])])
    logits = node("MatMul", [rms_norm(h), weight(dim, vocab)])
    nodes.append(helper.make_node("Identity", [logits], ["logits"],
                                  name="output"))
    graph = helper.make_graph(
        nodes, "llama",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                       [batch, seq])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       [batch, seq, vocab])], inits)
    return helper.make_model(graph,
                             opset_imports=[helper.make_opsetid("", 18)])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--ffn", type=int, default=1376)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    a = parser.parse_args()
    model = build(a.dim, a.layers, a.heads, a.ffn, a.vocab, a.seq, a.batch)
    onnx.save(model, a.out)


if __name__ == "__main__":
    main()
