#!/usr/bin/env python3
"""Writes a malformed ONNX model of one KIND into folder OUT as model.onnx
(plus whatever files the kind needs), for the importer's bad-input tests.

    bad_model.py KIND OUT
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def good_model(weight=None, **kw):
    """y = x + w over [2, 4] floats."""
    w = numpy_helper.from_array(
        weight if weight is not None else np.ones((2, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                             **kw)


def external(model, out, location, nbytes=None):
    """Moves initializer w into external data at `location`."""
    w = model.graph.initializer[0]
    raw = w.raw_data or numpy_helper.to_array(w).tobytes()
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    target = os.path.join(out, location)
    if nbytes is not None:
        with open(target, "wb") as f:
            f.write(raw[:nbytes])
    return model


def main(kind, out):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.onnx")
    model = good_model()
    if kind == "not-protobuf":
        open(path, "w").write("this is not an ONNX model\n")
        return
    if kind == "truncated":
        data = model.SerializeToString()
        open(path, "wb").write(data[: len(data) // 2])
        return
    if kind == "empty-file":
        open(path, "wb").close()
        return
    if kind == "empty-graph":
        del model.graph.node[:]
    elif kind == "negative-dim":
        model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -3
    elif kind == "huge-dim":
        model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1 << 50
    elif kind == "huge-initializer":
        del model.graph.initializer[0].dims[:]
        model.graph.initializer[0].dims.extend([1 << 30, 1 << 30])
    elif kind == "raw-data-size":
        model.graph.initializer[0].raw_data = b"\0" * 12
    elif kind == "external-dotdot":
        external(model, out, "../outside.bin")
    elif kind == "external-absolute":
        external(model, out, "/etc/passwd")
    elif kind == "external-symlink":
        secret = os.path.join(os.path.dirname(os.path.abspath(out)),
                              "secret.bin")
        open(secret, "wb").write(b"\0" * 32)
        link = os.path.join(out, "weights.bin")
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(secret, link)
        external(model, out, "weights.bin")
    elif kind == "external-missing":
        external(model, out, "missing.bin")
    elif kind == "external-short":
        external(model, out, "short.bin", nbytes=20)
    elif kind == "input-2e40":
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[0].dim_value = 1 << 40
        dims[1].dim_value = 64
    elif kind == "input-too-many-elements":
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[0].dim_value = 1 << 20
        dims[1].dim_value = 1 << 20
    elif kind == "input-zero-dim":
        model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 0
    elif kind == "concat-no-inputs":
        model.graph.node.append(
            helper.make_node("Concat", ["", ""], ["z"], name="cat", axis=0))
    elif kind == "concat-empty-huge":
        # Two empty constants of 2^31 x 0 concatenated on their empty axis:
        # the host fold must not walk 2^31 outer blocks of nothing.
        empty = helper.make_tensor("e", TensorProto.FLOAT, [1 << 31, 0], [])
        model.graph.node.append(helper.make_node(
            "Constant", [], ["e"], name="empty", value=empty))
        model.graph.node.append(
            helper.make_node("Concat", ["e", "e"], ["z"], name="cat", axis=1))
        model.graph.output.append(helper.make_tensor_value_info(
            "z", TensorProto.FLOAT, [1 << 31, 0]))
    elif kind == "required-input-empty":
        model.graph.node[0].input[1] = ""
    else:
        sys.exit(f"unknown kind {kind}")
    onnx.save(model, path)


if __name__ == "__main__":
    main(*sys.argv[1:])
