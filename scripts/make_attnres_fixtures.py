#!/usr/bin/env python3
"""Generates the Block AttnRes fixtures in test/fixtures/attnres/: small
PreNorm transformers written in PyTorch, exported once as the standard
model and once per block count as a Block AttnRes model with the same layer
weights and nonzero pseudo-queries (the official pseudocode:
docs/design.md, "The method").

    <arch>_standard.onnx          h = h + f(norm(h)), final norm, LM head
    <arch>_attnres_n1.onnx        Block AttnRes, N = 1
    <arch>_attnres_n4.onnx        N = 4 (blocks of 2, 2, 1, 1 layers)
    <arch>_attnres_full.onnx      Full AttnRes (N = L = 6)
    <arch>_queries.npz            queries f32[L+1, D], key_norm_weights
                                  f32[L+1, D]: --attnres-residual-to-block's
                                  pseudo-queries format

Architectures: `llama` (RMSNorm eps 1e-6, SwiGLU MLP, no biases) and
`gpt2` (nn.LayerNorm eps 1e-5, GELU MLP, biases, learned positions). Both
have 3 decoder layers (L = 6 sublayers), hidden 32, 4 heads, vocab 64,
sequence 8; input `input_ids` int64[1, 8], output `logits` f32[1, 8, 64].
Embeddings are drawn with std 1 so that the stream's mean square is about 1
(as in trained models; transformers' 0.02 init makes it 4e-4, where the
norms' epsilon is no longer negligible).

Each AttnRes model is checked against scripts/attnres_reference.py (the
NumPy reference) before it is written. The test suite rewrites the standard
model with the npz and compares with onnxruntime on the AttnRes model
(test/Integration/residual-to-block/attnres-fixtures.test).

Needs torch (any 2.x with the TorchScript exporter); onnx. Run with a
Python that has them:  python3 scripts/make_attnres_fixtures.py
"""

import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import attnres_reference as ref  # noqa: E402

OUT = os.path.join(HERE, "..", "test", "fixtures", "attnres")
VOCAB, HIDDEN, HEADS, FFN, DECODER_LAYERS, SEQ = 64, 32, 4, 64, 3, 8
LAYERS = 2 * DECODER_LAYERS
KEY_EPS = 1e-6


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim).uniform_(0.5, 1.5))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) \
            * self.weight


def layer_norm(dim):
    norm = nn.LayerNorm(dim, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_(0, 0.1)
    return norm


class Attention(nn.Module):
    def __init__(self, bias):
        super().__init__()
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN, bias=bias)
        self.out = nn.Linear(HIDDEN, HIDDEN, bias=bias)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        heads = lambda y: y.view(b, t, HEADS, d // HEADS).transpose(1, 2)  # noqa
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // HEADS)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        scores = scores.masked_fill(mask, float("-inf"))
        y = torch.softmax(scores, -1) @ v
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class SwiGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(HIDDEN, FFN, bias=False)
        self.up = nn.Linear(HIDDEN, FFN, bias=False)
        self.down = nn.Linear(FFN, HIDDEN, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class GeluMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(HIDDEN, FFN)
        self.proj = nn.Linear(FFN, HIDDEN)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Model(nn.Module):
    """A PreNorm decoder; `mode` picks the standard residual stream or
    Block AttnRes with `sizes` blocks and the given pseudo-queries."""

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        nn.init.normal_(self.embed.weight, std=1.0)
        norm = (lambda: RMSNorm(HIDDEN)) if arch == "llama" else \
            (lambda: layer_norm(HIDDEN))
        if arch == "gpt2":
            self.positions = nn.Parameter(torch.randn(SEQ, HIDDEN) * 0.5)
        self.norms = nn.ModuleList(norm() for _ in range(LAYERS))
        self.sublayers = nn.ModuleList()
        for _ in range(DECODER_LAYERS):
            self.sublayers.append(Attention(bias=arch == "gpt2"))
            self.sublayers.append(SwiGLU() if arch == "llama" else GeluMLP())
        self.final_norm = norm()
        self.head = nn.Linear(HIDDEN, VOCAB, bias=False)
        self.mode, self.sizes = "standard", None
        self.register_buffer("queries", torch.zeros(LAYERS + 1, HIDDEN))
        self.register_buffer("key_norms", torch.ones(LAYERS + 1, HIDDEN))

    def embedding(self, ids):
        h = self.embed(ids)
        if self.arch == "gpt2":
            h = h + self.positions[: ids.shape[1]]
        return h

    def aggregate(self, sources, index):
        # The official pseudocode: stack, key RMSNorm, one logit per source,
        # softmax over depth, weighted sum.
        v = torch.stack(sources)                                 # [n,B,T,D]
        k = v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + KEY_EPS) \
            * self.key_norms[index]
        logits = torch.einsum("d,nbtd->nbt", self.queries[index], k)
        return torch.einsum("nbt,nbtd->btd", logits.softmax(0), v)

    def forward(self, ids):
        h = self.embedding(ids)
        if self.mode == "standard":
            for norm, sublayer in zip(self.norms, self.sublayers):
                h = h + sublayer(norm(h))
            return self.head(self.final_norm(h))
        blocks, index = [h], 0
        for size in self.sizes:
            partial = None
            for _ in range(size):
                sources = blocks + ([partial] if partial is not None else [])
                x = self.aggregate(sources, index)
                out = self.sublayers[index](self.norms[index](x))
                partial = out if partial is None else partial + out
                index += 1
            blocks.append(partial)
        return self.head(self.final_norm(self.aggregate(blocks, LAYERS)))


def numpy_reference(model, ids):
    """The AttnRes forward pass of `model` through attnres_reference.py,
    with the model's own modules as the norms and sublayers."""
    def wrap(module):
        return lambda x: module(torch.from_numpy(x).float()).double().numpy()
    layers = [(wrap(n), wrap(s)) for n, s in zip(model.norms, model.sublayers)]
    final = lambda x: wrap(model.head)(wrap(model.final_norm)(x))  # noqa
    return ref.block_attnres_forward(
        model.embedding(ids).double().numpy(), layers, final,
        model.queries.double().numpy(), model.key_norms.double().numpy(),
        model.sizes, eps=KEY_EPS)


def export(model, ids, path):
    torch.onnx.export(model, (ids,), path, input_names=["input_ids"],
                      output_names=["logits"], opset_version=17,
                      dynamo=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    ids = torch.randint(0, VOCAB, (1, SEQ),
                        generator=torch.Generator().manual_seed(0))
    for seed, arch in enumerate(("llama", "gpt2")):
        torch.manual_seed(seed)
        model = Model(arch).eval()
        with torch.no_grad():
            model.queries.normal_(0, 1.0)
            model.key_norms.uniform_(0.5, 1.5)
            export(model, ids, os.path.join(OUT, f"{arch}_standard.onnx"))
            np.savez(os.path.join(OUT, f"{arch}_queries.npz"),
                     queries=model.queries.numpy(),
                     key_norm_weights=model.key_norms.numpy())
            model.mode = "attnres"
            for name, blocks in (("n1", 1), ("n4", 4), ("full", LAYERS)):
                model.sizes = ref.block_sizes(LAYERS, blocks)
                got = model(ids).double().numpy()
                want = numpy_reference(model, ids)
                err = np.abs(got - want).max()
                if err > 1e-4 * np.abs(want).max():
                    sys.exit(f"{arch} {name}: PyTorch and the NumPy reference "
                             f"differ by {err:.3g}")
                export(model, ids,
                       os.path.join(OUT, f"{arch}_attnres_{name}.onnx"))
                print(f"{arch}_attnres_{name}.onnx: blocks {model.sizes}, "
                      f"matches the NumPy reference ({err:.2g})")
            model.mode = "standard"


if __name__ == "__main__":
    main()
