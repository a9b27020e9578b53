#!/usr/bin/env python3
"""Writes a copy of a model whose graph also outputs the raw residual stream:
the tensor the final norm reads (TorchScript's `/model/model/norm/Cast`
input), as an extra output named `stream`. The rewrite must refuse it:
Block AttnRes rescales the stream and nothing undoes that on this output.

    expose_stream.py IN.onnx OUT.onnx
"""
import sys

import onnx
from onnx import TensorProto, helper

model = onnx.load(sys.argv[1])
node = next(n for n in model.graph.node if n.name == "/model/model/norm/Cast")
model.graph.output.append(helper.make_tensor_value_info(
    node.input[0], TensorProto.FLOAT, None))
onnx.save(model, sys.argv[2])
