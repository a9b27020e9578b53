#!/usr/bin/env python3
"""Generates the small ONNX test models in test/fixtures/ with PyTorch.

Torch is needed only to regenerate them; the committed .onnx files are what
the tests read. Run with a Python that has torch, onnx and onnxscript (PyPI
or Debian's python3-torch), e.g.

    python3 -m venv /tmp/fx && /tmp/fx/bin/pip install torch onnx onnxscript
    /tmp/fx/bin/python scripts/make_fixtures.py

Models (weights random with a fixed seed, norm weights and biases included,
each a few hundred KB at most):
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
  llama_rope.onnx          a narrower decomposed decoder (width 16, 2 heads)
                           with rotary position embeddings on q and k (the
                           last axis sliced into halves, rotate_half, cos/sin
                           tables as buffers), TorchScript exporter, opset 17
  llama_rope_dynamo.onnx   the same, dynamo exporter, opset 18
  encoder_dynamo.onnx      the encoder of prenorm_encoder.onnx, dynamo
                           exporter, opset 18
  encoder_zero_attn_dynamo.onnx
                           a narrower encoder (width 16) whose
                           nn.MultiheadAttention has add_zero_attn=True,
                           dynamo exporter, opset 18
Each model's input is `input_ids` [1, 16] int64 (the encoders: `x`
[1, 16, 32] float32, [1, 16, 16] for the narrow one) and its output `logits`
(the encoders: `y`).

Rotary embeddings concatenate the halves of the last axis, and add_zero_attn
appends a zero key and value along the sequence axis of the per-head
[batch * heads, seq, head_dim] tensors: each writes into a non-contiguous
slice of a buffer, which lowers to a strided copy (memrefCopy) that the other
fixtures never make. (The fused in-projection of nn.MultiheadAttention, as
PyTorch 2.x exports it, splits q, k and v along an outer axis and does not.)
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


def randomize_encoder(encoder, seed):
    """nn.TransformerEncoder's layers are deep copies of one layer, and
    PyTorch initialises their LayerNorms to ones and zeros and their
    attention biases to zeros: every layer would share its weights and every
    norm one constant, which hides a dropped or merged norm weight. Draws
    every parameter instead: norm weights N(1, 0.1), biases and norm biases
    N(0, 0.1), other weights N(0, 1 / fan_in), the scale of PyTorch's
    initialisers, with a generator of their own."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) +
                        0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / p.shape[-1] ** 0.5)
    return encoder


def make_norm(kind, dim=DIM):
    if kind == "decomposed":
        return DecomposedRMSNorm(dim)
    norm = nn.RMSNorm(dim, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(dim) + 0.5)
    return norm


class Attention(nn.Module):
    def __init__(self, dim=DIM, heads=HEADS):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def position(self, q, k):
        return q, k

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(self.dim, dim=-1)
        head = self.dim // self.heads
        shape = (b, t, self.heads, head)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        q, k = self.position(q, k)
        scores = q @ k.transpose(-1, -2) / head ** 0.5
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, t, self.dim))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RotaryAttention(Attention):
    """Attention with Llama's rotary position embeddings on q and k."""

    def __init__(self, dim=DIM, heads=HEADS):
        super().__init__(dim, heads)
        head = dim // heads
        inv_freq = 1.0 / 10000 ** (torch.arange(0, head, 2).float() / head)
        angles = torch.outer(torch.arange(SEQ).float(), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def position(self, q, k):
        t = q.shape[-2]
        cos, sin = self.cos[:t], self.sin[:t]
        return (q * cos + rotate_half(q) * sin,
                k * cos + rotate_half(k) * sin)


class SwiGLU(nn.Module):
    def __init__(self, dim=DIM, ffn=FFN):
        super().__init__()
        self.gate = nn.Linear(dim, ffn, bias=False)
        self.up = nn.Linear(dim, ffn, bias=False)
        self.down = nn.Linear(ffn, dim, bias=False)

    def forward(self, x):
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, norm, attention, dim, heads, ffn):
        super().__init__()
        self.attn_norm = make_norm(norm, dim)
        self.attn = attention(dim, heads)
        self.mlp_norm, self.mlp = make_norm(norm, dim), SwiGLU(dim, ffn)

    def forward(self, h):
        h = h + self.attn(self.attn_norm(h))
        return h + self.mlp(self.mlp_norm(h))


class Llama(nn.Module):
    def __init__(self, norm, attention=Attention, dim=DIM, heads=HEADS,
                 ffn=FFN):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.blocks = nn.ModuleList(Block(norm, attention, dim, heads, ffn)
                                    for _ in range(LAYERS))
        self.norm = make_norm(norm, dim)
        self.head = nn.Linear(dim, VOCAB, bias=False)

    def forward(self, input_ids):
        h = self.embed(input_ids)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def strip_metadata(path):
    """Drops the dynamo exporter's per-node stack traces and value names:
    half of a small model's bytes, and nothing the tests read."""
    import onnx
    model = onnx.load(path)
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    onnx.save_model(model, path)


def export(model, args, path, **kwargs):
    path = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, args, path, **kwargs)
    if kwargs.get("dynamo"):
        strip_metadata(path)
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
    encoder = randomize_encoder(
        nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False), 0)
    x = torch.randn(1, SEQ, DIM)
    export(encoder, (x,), "prenorm_encoder.onnx", dynamo=False,
           opset_version=17, input_names=["x"], output_names=["y"])
    export(encoder, (x,), "encoder_dynamo.onnx", dynamo=True,
           opset_version=18, input_names=["x"], output_names=["y"],
           external_data=False)

    torch.manual_seed(3)
    narrow, narrow_heads = 16, 2
    layer = nn.TransformerEncoderLayer(narrow, narrow_heads, 2 * narrow,
                                       dropout=0.0, batch_first=True,
                                       norm_first=True)
    layer.self_attn = nn.MultiheadAttention(narrow, narrow_heads, dropout=0.0,
                                            batch_first=True,
                                            add_zero_attn=True)
    encoder = randomize_encoder(
        nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False), 3)
    export(encoder, (torch.randn(1, SEQ, narrow),),
           "encoder_zero_attn_dynamo.onnx", dynamo=True, opset_version=18,
           input_names=["x"], output_names=["y"], external_data=False)

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

    # Narrower than the others to keep the files small: the width does not
    # matter for what these test.
    torch.manual_seed(2)
    rope = Llama("decomposed", RotaryAttention, dim=16, heads=2, ffn=32)
    export(rope, (ids,), "llama_rope.onnx", **ts)
    export(rope, (ids,), "llama_rope_dynamo.onnx", dynamo=True,
           opset_version=18, input_names=["input_ids"],
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
