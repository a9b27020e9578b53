#!/usr/bin/env python3
"""Writes a Llama-style decoder as ONNX, the shape of the test fixture
llama_decomposed.onnx (RMSNorm written out as Pow/ReduceMean/Sqrt/Div, SwiGLU
MLP, causal attention) at benchmark size, without torch:

    make_llama.py OUT.onnx [--dim 512] [--layers 8] [--seq 128] ...
    make_llama.py OUT.onnx --dynamic            # batch and seq dynamic
    make_llama.py OUT.onnx --decode             # a KV-cache decode step

--dynamic computes the head reshapes and the causal mask from
Shape(input_ids) as exporters do, so one model serves every batch and
length. --decode writes a decode step instead: input_ids [batch, seq] and
past_key_values.<l>.key/value [batch, heads, past, head_dim] in, logits and
present.<l>.key/value (the pasts with the new keys and values appended) out,
the new tokens attending to every past one and causally among themselves.

Weights are random (seed 0); with D=512 and 8 layers the file is ~110 MB, so
it is generated when the benchmark runs and never committed.
"""

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(dim, layers, heads, ffn, vocab, seq, batch, dynamic=False,
          decode=False, levels=0):
    dynamic = dynamic or decode
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

    def normal(shape):
        w = rng.standard_normal(shape)
        if levels:
            # Few distinct values, evenly spaced over +-2 sigma: the same
            # scale and work, and artifacts that compress for carrying.
            w = np.round(np.clip(w, -2, 2) * (levels - 1) / 4) * 4 / (levels - 1)
        return w

    def weight(rows, cols):
        return const((normal((rows, cols)) / np.sqrt(rows)).astype(np.float32),
                     "w")

    two, eps = const(np.float32(2.0)), const(np.float32(1e-6))
    last = const(np.array([-1], np.int64))

    def rms_norm(x):
        g = const((rng.random(dim) + 0.5).astype(np.float32), "g")
        ms = node("ReduceMean", [node("Pow", [x, two]), last], keepdims=1)
        rms = node("Sqrt", [node("Add", [ms, eps])])
        return node("Mul", [node("Div", [x, rms]), g])

    head_dim = dim // heads
    scale = const(np.float32(np.sqrt(head_dim)))
    neg_inf = const(np.float32(-np.inf))
    inputs = [helper.make_tensor_value_info(
        "input_ids", TensorProto.INT64,
        ["batch", "seq"] if dynamic else [batch, seq])]
    outputs = [helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT,
        ["batch", "seq", vocab] if dynamic else [batch, seq, vocab])]
    if dynamic:
        ids_shape = node("Shape", ["input_ids"])
        split_heads = node("Concat", [ids_shape, const(np.array(
            [heads, head_dim], np.int64))], axis=0)
        merge_heads = node("Concat", [ids_shape, const(np.array(
            [dim], np.int64))], axis=0)
        t = node("Slice", [ids_shape, const(np.array([1], np.int64)),
                           const(np.array([2], np.int64))])
        cols = t
        if decode:
            # The new tokens see every past one: the mask's columns start
            # `past` further on.
            past_shape = node("Shape", ["past_key_values.0.key"])
            past = node("Slice", [past_shape, const(np.array([2], np.int64)),
                                  const(np.array([3], np.int64))])
            cols = node("Add", [t, past])
        ones = node("ConstantOfShape", [node("Concat", [t, cols], axis=0)],
                    value=helper.make_tensor("one", TensorProto.BOOL, [1],
                                             [True]))
        diagonal = node("Add", [past, const(np.array(1, np.int64))]) \
            if decode else const(np.array(1, np.int64))
        mask = node("Trilu", [ones, node("Squeeze", [diagonal])]
                    if decode else [ones, diagonal], upper=1)
    else:
        split_heads = const(np.array([batch, seq, heads, head_dim], np.int64))
        merge_heads = const(np.array([batch, seq, dim], np.int64))
        mask = const(np.triu(np.ones((seq, seq), bool), 1))

    h = node("Gather", [const(normal((vocab, dim)).astype(np.float32),
                              "embed"), "input_ids"])
    for layer in range(layers):
        x = rms_norm(h)
        q, k, v = (node("Transpose",
                        [node("Reshape", [node("MatMul", [x, weight(dim, dim)]),
                                          split_heads])], perm=[0, 2, 1, 3])
                   for _ in range(3))
        if decode:
            cache = []
            for kind, new in (("key", k), ("value", v)):
                past_name = f"past_key_values.{layer}.{kind}"
                inputs.append(helper.make_tensor_value_info(
                    past_name, TensorProto.FLOAT,
                    ["batch", heads, "past", head_dim]))
                full = node("Concat", [past_name, new], axis=2)
                present = f"present.{layer}.{kind}"
                nodes.append(helper.make_node("Identity", [full], [present],
                                              name=present))
                outputs.append(helper.make_tensor_value_info(
                    present, TensorProto.FLOAT,
                    ["batch", heads, "total", head_dim]))
                cache.append(full)
            k, v = cache
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
    graph = helper.make_graph(nodes, "llama", inputs, outputs, inits)
    # IR version 9 (what opset 18 needs): newer onnx packages write a newer
    # one by default, which older onnxruntime releases refuse to load.
    return helper.make_model(graph, ir_version=9,
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
    parser.add_argument("--dynamic", action="store_true")
    parser.add_argument("--decode", action="store_true")
    parser.add_argument("--weight-levels", type=int, default=0,
                        help="draw the matrices' weights from this many "
                        "values (so that compiled models compress well for "
                        "carrying to another machine); 0: unquantized")
    a = parser.parse_args()
    model = build(a.dim, a.layers, a.heads, a.ffn, a.vocab, a.seq, a.batch,
                  a.dynamic, a.decode, a.weight_levels)
    onnx.save(model, a.out)


if __name__ == "__main__":
    main()
