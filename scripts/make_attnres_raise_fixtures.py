#!/usr/bin/env python3
"""Generates test/fixtures/attnres_raise/: models that contain Block AttnRes
aggregations spelled out, as PyTorch exports them, for
--attnres-raise-aggregation.

    llama_<n1|n2|n4|full>_<spelling>_<exporter>.onnx
        the Llama-style AttnRes decoder of scripts/make_attnres_fixtures.py
        (3 decoder layers, L = 6 aggregations plus the final one, D = 32,
        trained-looking nonzero pseudo-queries), its aggregation written as
          einsum   the official pseudocode, equations with spaces
                   ('d, n b t d -> n b t'), the query a Linear(D, 1) weight
          matmul   the scores as K @ w[:, None], the sum as alpha[..., None]
                   * V summed over the source axis
          mulsum   the scores as (K * w).sum(-1), the sum as an einsum
        exported by TorchScript (ts) and dynamo (dy).
    single_<stacked|separate>.onnx
        one aggregation of graph inputs: one stacked input v f32[3, 1, 8, 32],
        or three inputs v0, v1, v2 f32[1, 8, 32].
    near_<axis|query|layernorm|sources>.onnx
        one aggregation that is not Block AttnRes: softmax over the token
        axis, a query computed from the input, a LayerNorm key norm, a
        weighted sum over other sources than the scores.

Run with a Python that has torch, onnxscript and onnx:
    python3 scripts/make_attnres_raise_fixtures.py
"""

import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import attnres_reference as ref  # noqa: E402
import make_attnres_fixtures as base  # noqa: E402

OUT = os.path.join(HERE, "..", "test", "fixtures", "attnres_raise")
EPS = base.KEY_EPS


def key_norm(v, weight):
    return v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + EPS) * weight


def aggregate(spelling, sources, proj, weight):
    """One aggregation; `proj` is a Linear(D, 1), as in the official code."""
    v = torch.stack(sources)                                   # [n,B,T,D]
    k = key_norm(v, weight)
    if spelling == "einsum":
        logits = torch.einsum("d, n b t d -> n b t", proj.weight.reshape(-1), k)
        return torch.einsum("n b t, n b t d -> b t d", logits.softmax(0), v)
    if spelling == "matmul":
        logits = (k @ proj.weight.t()).squeeze(-1)               # [n,B,T]
        return (logits.softmax(0).unsqueeze(-1) * v).sum(0)
    logits = (k * proj.weight.squeeze()).sum(-1)
    return torch.einsum("nbt,nbtd->btd", logits.softmax(0), v)


class Model(base.Model):
    def __init__(self, spelling):
        super().__init__("llama")
        self.spelling = spelling
        self.projs = nn.ModuleList(nn.Linear(base.HIDDEN, 1, bias=False)
                                   for _ in range(base.LAYERS + 1))

    def aggregate(self, sources, index):
        return aggregate(self.spelling, sources, self.projs[index],
                         self.key_norms[index])


class Single(nn.Module):
    """One aggregation of graph inputs, or a near miss of one."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.proj = nn.Linear(base.HIDDEN, 1, bias=False)
        self.weight = nn.Parameter(torch.empty(base.HIDDEN).uniform_(0.5, 1.5))
        self.ln = nn.LayerNorm(base.HIDDEN)
        # Not the ones and zeros LayerNorm starts with (a dropped scale or
        # shift would go unnoticed), drawn from a generator of their own so
        # that the other models' draws stay what they were.
        generator = torch.Generator().manual_seed(11)
        with torch.no_grad():
            self.ln.weight.copy_(1 + 0.1 * torch.randn(
                base.HIDDEN, generator=generator))
            self.ln.bias.copy_(0.1 * torch.randn(base.HIDDEN,
                                                 generator=generator))

    def forward(self, *inputs):
        sources = (list(inputs[0].unbind(0)) if self.kind == "stacked"
                   else list(inputs))
        v = torch.stack(sources)
        w = self.proj.weight.reshape(-1)
        if self.kind == "query":
            w = w * inputs[0].mean()
        k = self.ln(v) if self.kind == "layernorm" else key_norm(v, self.weight)
        logits = torch.einsum("d, n b t d -> n b t", w, k)
        alpha = logits.softmax(2 if self.kind == "axis" else 0)
        if self.kind == "sources":
            v = torch.stack(sources[::-1])
        return torch.einsum("n b t, n b t d -> b t d", alpha, v)


def export(model, args, names, path, dynamo):
    torch.onnx.export(model, args, path, input_names=names,
                      output_names=["output" if names[0] != "input_ids"
                                    else "logits"],
                      opset_version=18 if dynamo else 17, dynamo=dynamo,
                      external_data=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    ids = torch.randint(0, base.VOCAB, (1, base.SEQ),
                        generator=torch.Generator().manual_seed(0))
    for seed, spelling in enumerate(("einsum", "matmul", "mulsum")):
        torch.manual_seed(seed)
        model = Model(spelling).eval()
        with torch.no_grad():
            for proj in model.projs:
                proj.weight.normal_(0, 1.0)
            model.key_norms.uniform_(0.5, 1.5)
            model.queries.copy_(torch.cat([p.weight for p in model.projs]))
            model.mode = "attnres"
            for name, blocks in (("n1", 1), ("n2", 2), ("n4", 4),
                                 ("full", base.LAYERS)):
                if spelling != "einsum" and name in ("n1", "n4"):
                    continue
                model.sizes = ref.block_sizes(base.LAYERS, blocks)
                got = model(ids).double().numpy()
                want = base.numpy_reference(model, ids)
                err = np.abs(got - want).max()
                if err > 1e-4 * np.abs(want).max():
                    sys.exit(f"{spelling} {name}: PyTorch and the NumPy "
                             f"reference differ by {err:.3g}")
                for exporter, dynamo in (("ts", False), ("dy", True)):
                    path = os.path.join(
                        OUT, f"llama_{name}_{spelling}_{exporter}.onnx")
                    export(model, (ids,), ["input_ids"], path, dynamo)
                    print(f"{os.path.basename(path)}: blocks {model.sizes}")
    torch.manual_seed(7)
    shape = (1, base.SEQ, base.HIDDEN)
    for kind in ("stacked", "separate", "axis", "query", "layernorm",
                 "sources"):
        model = Single(kind).eval()
        if kind == "stacked":
            args, names = (torch.randn(3, *shape),), ["v"]
        else:
            args = tuple(torch.randn(*shape) for _ in range(3))
            names = ["v0", "v1", "v2"]
        prefix = "single" if kind in ("stacked", "separate") else "near"
        path = os.path.join(OUT, f"{prefix}_{kind}.onnx")
        with torch.no_grad():
            export(model, args, names, path, False)
        print(os.path.basename(path))


if __name__ == "__main__":
    main()
