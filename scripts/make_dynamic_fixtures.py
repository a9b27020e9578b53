#!/usr/bin/env python3
"""Generates the dynamic-shape fixtures in test/fixtures/dynamic/: tiny
randomly initialised `transformers` models exported with dynamic batch and
sequence axes, and a decoder's KV-cache decode step with a dynamic past
length, by both PyTorch exporters (issue 24, "one artifact for every shape").

Models come from config classes alone (HF_HUB_OFFLINE=1), with the sizes
and the parameter draws of make_transformers_fixtures.py (randomize():
every parameter random, norm weights and biases included, since Hugging
Face initialises norms to ones and zeros, which hides a dropped or merged
norm weight):

    <arch>_dynamo.onnx
        input_ids int64[batch, seq] -> logits float32[batch, seq, VOCAB]
        for llama, gpt2 and bert (BertForMaskedLM: an encoder)
    llama_torchscript.onnx
        the same by the TorchScript exporter (GPT-2's and BERT's exports by
        it trace their position ids at the traced length: onnxruntime
        itself is wrong on them at other lengths)
    llama_mask_dynamo.onnx
        input_ids, attention_mask int64[batch, seq] -> logits
    llama_decode_<exporter>.onnx
        a decode step: input_ids int64[batch, seq], attention_mask
        int64[batch, past + seq], past_key_values.<l>.key/value
        float32[batch, KV_HEADS, past, HEAD] -> logits, present.<l>.key/value
        float32[batch, KV_HEADS, past + seq, HEAD]
    llama_decode_greedy.npz
        prompt int64[1, 5], and torch's greedy `generate` of 12 new tokens
        from it (tokens int64[1, 17]): the oracle of examples/generate.c

Each export is traced at one shape and checked with onnxruntime against
torch at two other shapes (max abs error above 1e-4 fails).

Needs torch and transformers (not in scripts/requirements.txt: the tests
read the committed files, they never run this script).
"""

import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import transformers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_transformers_fixtures as base  # noqa: E402

OUT = os.path.join(HERE, "..", "test", "fixtures", "dynamic")
HEAD = base.HIDDEN // base.HEADS


def build(arch, seed=0, attention="sdpa"):
    config_class, model_class, kwargs = base.configs()[arch]
    torch.manual_seed(seed)
    config = config_class(**kwargs)
    config._attn_implementation = attention
    return base.randomize(model_class(config), seed).eval()


class Logits(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None):
        extra = {}
        if isinstance(self.model, transformers.BertForMaskedLM):
            # BERT slices a registered buffer of zeros to the traced length
            # otherwise, which the TorchScript exporter bakes in.
            extra["token_type_ids"] = torch.zeros_like(input_ids)
        else:
            extra["use_cache"] = False
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          **extra).logits


class DecodeStep(nn.Module):
    """One step with a KV cache, its tensors flat: what decoder exports for
    serving (optimum's, onnxruntime-genai's) look like."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, *past):
        cache = transformers.DynamicCache(config=self.model.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         past_key_values=cache, use_cache=True)
        presents = []
        for layer in range(len(past) // 2):
            presents += [out.past_key_values.layers[layer].keys,
                         out.past_key_values.layers[layer].values]
        return (out.logits, *presents)


def export(wrapper, args, names, outputs, dynamic, path, exporter):
    with torch.no_grad():
        if exporter == "dynamo":
            dims = {}
            shapes = tuple({axis: dims.setdefault(label, torch.export.Dim(
                label, min=1 if label != "past" else 1, max=4096))
                for axis, label in dynamic[name].items()}
                for name in names)
            if isinstance(wrapper, DecodeStep):
                # torch.export sees the varargs as one tuple argument.
                shapes = shapes[:2] + (shapes[2:],)
            torch.onnx.export(wrapper, args, path, dynamo=True,
                              opset_version=18, input_names=names,
                              output_names=outputs, dynamic_shapes=shapes,
                              external_data=False, verbose=False)
            base.strip_metadata(path)
        else:
            original = base.masking_utils.find_packed_sequence_indices
            base.masking_utils.find_packed_sequence_indices = \
                base.find_packed_sequence_indices_without_diff
            try:
                torch.onnx.export(wrapper, args, path, dynamo=False,
                                  opset_version=17, input_names=names,
                                  output_names=outputs, dynamic_axes=dynamic)
            finally:
                base.masking_utils.find_packed_sequence_indices = original


def check(path, wrapper, cases, names):
    import onnx
    import onnxruntime
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = onnxruntime.InferenceSession(path)
    worst = 0.0
    for args in cases:
        got = session.run(None, {n: a.numpy() for n, a in zip(names, args)})
        with torch.no_grad():
            want = wrapper(*args)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            if g.shape != tuple(w.shape):
                raise RuntimeError(f"{path}: onnxruntime gives {g.shape}, "
                                   f"torch {tuple(w.shape)}")
            worst = max(worst, float(abs(g - w.numpy()).max()))
    if worst > 1e-4:
        raise RuntimeError(f"{path}: onnxruntime differs from torch by "
                           f"{worst:g}")
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes",
          f"(onnxruntime vs torch at {len(cases)} shapes: {worst:.3g})",
          flush=True)


def ids(batch, seq, seed):
    return torch.randint(3, base.VOCAB, (batch, seq),
                         generator=torch.Generator().manual_seed(seed))


def logits_fixtures(arch, exporter, mask=False):
    model = build(arch)
    wrapper = Logits(model)
    names = ["input_ids"] + (["attention_mask"] if mask else [])
    dynamic = {n: {0: "batch", 1: "seq"} for n in names}
    dynamic["logits"] = {0: "batch", 1: "seq"}

    def case(batch, seq, seed):
        args = [ids(batch, seq, seed)]
        if mask:
            m = torch.ones(batch, seq, dtype=torch.int64)
            # Right padding in the first row: no query row is masked whole,
            # where torch and onnxruntime legitimately differ.
            m[0, seq - seq // 3:] = 0
            args.append(m)
        return tuple(args)

    name = f"{arch}{'_mask' if mask else ''}_{exporter}.onnx"
    path = os.path.join(OUT, name)
    export(wrapper, case(2, 7, 0), names, ["logits"], dynamic, path, exporter)
    check(path, wrapper, [case(1, 5, 1), case(3, 11, 2)], names)


def decode_case(model, batch, past, seq, seed):
    """Inputs of a decode step after `past` tokens, from the model itself."""
    layers = model.config.num_hidden_layers
    generator = torch.Generator().manual_seed(seed)
    pasts = []
    for _ in range(2 * layers):
        pasts.append(torch.randn(batch, base.KV_HEADS, past, HEAD,
                                 generator=generator))
    mask = torch.ones(batch, past + seq, dtype=torch.int64)
    return (ids(batch, seq, seed), mask, *pasts)


def decode_fixtures(exporter):
    """The TorchScript exporter traces Python-level decisions as constants
    (the batch size of the grouped-query key/value expansion, whether the
    step has one new token and so needs no causal mask): its export serves
    one-token steps of batch 1 with any past, the dynamo one any batch and
    any number of new tokens. torch.export cannot pass sdpa's is_causal,
    computed from the dynamic length, as a bool: the dynamo export uses
    eager attention (the same function)."""
    model = build("llama", attention="eager" if exporter == "dynamo"
                  else "sdpa")
    wrapper = DecodeStep(model)
    layers = model.config.num_hidden_layers
    names = ["input_ids", "attention_mask"]
    outputs = ["logits"]
    batch = {0: "batch"} if exporter == "dynamo" else {}
    dynamic = {"input_ids": {**batch, 1: "seq"},
               "attention_mask": {**batch, 1: "total"},
               "logits": {**batch, 1: "seq"}}
    for layer in range(layers):
        for kind in ("key", "value"):
            names.append(f"past_key_values.{layer}.{kind}")
            outputs.append(f"present.{layer}.{kind}")
            dynamic[names[-1]] = {**batch, 2: "past"}
            dynamic[outputs[-1]] = {**batch, 2: "total"}
    path = os.path.join(OUT, f"llama_decode_{exporter}.onnx")
    if exporter == "dynamo":
        cases = [decode_case(model, 1, 3, 1, 1), decode_case(model, 2, 9, 4, 2),
                 decode_case(model, 1, 1, 5, 3)]
        # Sizes 0 and 1 in the traced inputs would be specialised.
        trace = decode_case(model, 2, 6, 2, 0)
    else:
        del dynamic["input_ids"][1], dynamic["logits"][1]
        cases = [decode_case(model, 1, past, 1, past) for past in (1, 9, 30)]
        trace = decode_case(model, 1, 6, 1, 0)
    export(wrapper, trace, names, outputs,
           {k: v for k, v in dynamic.items()
            if exporter != "dynamo" or k in names}, path, exporter)
    check(path, wrapper, cases, names)


def greedy_fixture():
    model = build("llama")
    prompt = ids(1, 5, 7)
    with torch.no_grad():
        tokens = model.generate(prompt, attention_mask=torch.ones_like(prompt),
                                max_new_tokens=12, do_sample=False,
                                min_new_tokens=12)
    path = os.path.join(OUT, "llama_decode_greedy.npz")
    np.savez(path, prompt=prompt.numpy(), tokens=tokens.numpy())
    print("wrote", os.path.relpath(path), "tokens", tokens.tolist())


def main():
    os.makedirs(OUT, exist_ok=True)
    failed = 0
    jobs = [(logits_fixtures, (a, "dynamo")) for a in ("llama", "gpt2", "bert")]
    jobs += [(logits_fixtures, ("llama", "torchscript"))]
    jobs += [(logits_fixtures, ("llama", "dynamo", True))]
    jobs += [(decode_fixtures, (e,)) for e in ("dynamo", "torchscript")]
    jobs += [(greedy_fixture, ())]
    for fn, args in jobs:
        before = set(os.listdir(OUT))
        try:
            fn(*args)
        except Exception as error:  # report and go on with the others
            failed += 1
            print(f"FAILED {fn.__name__}{args}: {error}", file=sys.stderr)
            for name in set(os.listdir(OUT)) - before:
                os.remove(os.path.join(OUT, name))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
