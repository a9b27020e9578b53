#!/usr/bin/env python3
"""Generates the small ONNX test models in test/fixtures/ with PyTorch.

Torch is needed only to regenerate them; the committed .onnx files are what
the tests read. Run with a Python that has torch, onnx and onnxscript (PyPI
or Debian's python3-torch), e.g.

    python3 -m venv /tmp/fx && /tmp/fx/bin/pip install torch onnx onnxscript
    /tmp/fx/bin/python scripts/make_fixtures.py

Models (weights random with a fixed seed, each a few hundred KB at most):
  prenorm_encoder.onnx     nn.TransformerEncoder(norm_first=True), TorchScript
                           exporter, opset 17 (LayerNormalization)
  llama_decomposed.onnx    Llama-style decoder, RMSNorm written out as
                           pow/mean/rsqrt/mul, SwiGLU MLP, causal attention,
                           TorchScript exporter, opset 17
  llama_rmsnorm23.onnx     the same decoder with nn.RMSNorm, dynamo exporter,
                           opset 23 (RMSNormalization)
  llama_dynamic.onnx       the decomposed decoder with dynamic batch and
                           sequence axes
  external_data/model.onnx the decomposed decoder with its weights in
                           external_data/model.onnx.data
Each model's input is `input_ids` [1, 16] int64 (the encoder: `x`
[1, 16, 32] float32) and its output `logits` (the encoder: `y`).
"""

import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures")

VOCAB, DIM, HEADS, LAYERS, FFN, SEQ = 64, 32, 4, 2, 64, 16


class DecomposedRMSNorm(nn.Module):
    """RMSNorm as exporters see it in hand-written Llama code."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x):
        ms = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(ms + self.eps) * self.weight


def make_norm(kind):
    if kind == "decomposed":
        return DecomposedRMSNorm(DIM)
    norm = nn.RMSNorm(DIM, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(DIM) + 0.5)
    return norm


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.out = nn.Linear(DIM, DIM, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(DIM, dim=-1)
        shape = (b, t, HEADS, DIM // HEADS)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / (DIM // HEADS) ** 0.5
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, t, DIM))


class SwiGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(DIM, FFN, bias=False)
        self.up = nn.Linear(DIM, FFN, bias=False)
        self.down = nn.Linear(FFN, DIM, bias=False)

    def forward(self, x):
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, norm):
        super().__init__()
        self.attn_norm, self.attn = make_norm(norm), Attention()
        self.mlp_norm, self.mlp = make_norm(norm), SwiGLU()

    def forward(self, h):
        h = h + self.attn(self.attn_norm(h))
        return h + self.mlp(self.mlp_norm(h))


class Llama(nn.Module):
    def __init__(self, norm):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList(Block(norm) for _ in range(LAYERS))
        self.norm = make_norm(norm)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def forward(self, input_ids):
        h = self.embed(input_ids)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def export(model, args, path, **kwargs):
    path = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, args, path, **kwargs)
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")


def main():
    # The fused inference kernel of nn.TransformerEncoderLayer has no ONNX
    # export; the exporters need the composite ops.
    torch.backends.mha.set_fastpath_enabled(False)
    ids = torch.randint(0, VOCAB, (1, SEQ))
    ts = dict(dynamo=False, opset_version=17, input_names=["input_ids"],
              output_names=["logits"])

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(DIM, HEADS, FFN, dropout=0.0,
                                       batch_first=True, norm_first=True)
    encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
    export(encoder, (torch.randn(1, SEQ, DIM),), "prenorm_encoder.onnx",
           dynamo=False, opset_version=17, input_names=["x"],
           output_names=["y"])

    torch.manual_seed(1)
    decomposed = Llama("decomposed")
    export(decomposed, (ids,), "llama_decomposed.onnx", **ts)
    export(decomposed, (ids,), "llama_dynamic.onnx",
           dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                         "logits": {0: "batch", 1: "seq"}}, **ts)

    torch.manual_seed(1)
    export(Llama("native"), (ids,), "llama_rmsnorm23.onnx", dynamo=True,
           opset_version=23, input_names=["input_ids"],
           output_names=["logits"], external_data=False)

    import onnx
    path = os.path.join(OUT, "external_data", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = onnx.load(os.path.join(OUT, "llama_decomposed.onnx"))
    onnx.save_model(model, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data",
                    size_threshold=1024)
    print("wrote", os.path.relpath(path), "+ model.onnx.data")


if __name__ == "__main__":
    sys.exit(main())
