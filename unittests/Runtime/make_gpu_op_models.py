#!/usr/bin/env python3
"""Writes small ONNX models, one kind of computation each, for the GPU model
tests (CUDAModelsTest): where a whole model disagrees with the CPU, these
say which lowering is wrong. Each takes the shapes a lowering finds hardest:
sizes that no tile divides, reductions over inner and outer axes, products
through cuBLAS with every operand layout, gathers.

With a model after OUT_DIR, also writes OUT_DIR/steps_<model>.onnx: the
model with each float intermediate as an output too, in the graph's order,
so that the first output that disagrees names the node that went wrong.

Usage: make_gpu_op_models.py OUT_DIR [MODEL.onnx...]"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def model(name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(m)
    return m


def models():
    rng = np.random.default_rng(3)

    def w(*shape):
        return rng.standard_normal(shape).astype(np.float32) * 0.3

    x = ("x", F, [3, 5, 67])
    yield "elementwise", model("elementwise", [
        helper.make_node("Add", ["x", "b"], ["s"]),
        helper.make_node("Mul", ["s", "x"], ["p"]),
        helper.make_node("Tanh", ["p"], ["y"]),
    ], [x], [("y", F, [3, 5, 67])], [("b", w(67))])
    yield "softmax", model("softmax", [
        helper.make_node("Softmax", ["x"], ["y"], axis=-1),
    ], [x], [("y", F, [3, 5, 67])])
    yield "layernorm", model("layernorm", [
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"],
                         axis=-1, epsilon=1e-5),
    ], [x], [("y", F, [3, 5, 67])], [("g", w(67) + 1), ("b", w(67))])
    yield "reduce_outer", model("reduce_outer", [
        helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0),
    ], [x], [("y", F, [3, 67])], [("axes", np.array([1], np.int64))])
    yield "transpose", model("transpose", [
        helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
        helper.make_node("Add", ["t", "t"], ["y"]),
    ], [x], [("y", F, [67, 3, 5])])
    yield "matmul_weight", model("matmul_weight", [
        helper.make_node("MatMul", ["x", "w"], ["y"]),
    ], [x], [("y", F, [3, 5, 19])], [("w", w(67, 19))])
    yield "matmul_batched", model("matmul_batched", [
        helper.make_node("MatMul", ["a", "b"], ["y"]),
    ], [("a", F, [2, 3, 7, 16]), ("b", F, [2, 3, 16, 9])],
        [("y", F, [2, 3, 7, 9])])
    yield "matmul_transposed", model("matmul_transposed", [
        helper.make_node("Transpose", ["b"], ["bt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["a", "bt"], ["y"]),
    ], [("a", F, [2, 7, 33]), ("b", F, [2, 19, 33])], [("y", F, [2, 7, 19])])
    yield "gemm", model("gemm", [
        helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1),
    ], [("a", F, [7, 33])], [("y", F, [7, 19])], [("w", w(19, 33)),
                                                  ("c", w(19))])
    yield "gather", model("gather", [
        helper.make_node("Gather", ["table", "ids"], ["y"], axis=0),
    ], [("ids", TensorProto.INT64, [2, 5])], [("y", F, [2, 5, 16])],
        [("table", w(11, 16))])


def with_steps(path):
    m = onnx.shape_inference.infer_shapes(onnx.load(path))
    known = {v.name: v for v in m.graph.value_info}
    outputs = {o.name for o in m.graph.output}
    steps = []
    for node in m.graph.node:
        if node.op_type == "Constant":
            continue
        for name in node.output:
            v = known.get(name)
            if v is not None and name not in outputs and \
                    v.type.tensor_type.elem_type == F:
                steps.append(v)
    # The steps first: the model's own outputs stay last.
    model_outputs = list(m.graph.output)
    del m.graph.output[:]
    m.graph.output.extend(steps + model_outputs)
    return m


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, m in models():
        onnx.save(m, os.path.join(out, f"op_{name}.onnx"))
    for path in sys.argv[2:]:
        name = os.path.splitext(os.path.basename(path))[0]
        onnx.save(with_steps(path), os.path.join(out, f"steps_{name}.onnx"))


if __name__ == "__main__":
    main()
