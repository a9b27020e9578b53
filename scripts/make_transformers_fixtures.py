#!/usr/bin/env python3
"""Generates tiny randomly initialised `transformers` models as ONNX fixtures
in test/fixtures/transformers/ (issue 8, "Real models").

Eleven architectures (GPT-2, Llama, Qwen2, Mistral, Gemma, Phi-3, OPT,
GPT-NeoX, BERT, Falcon, StableLM), each built from its config class alone:
random weights with a fixed seed, nothing downloaded from a hub
(HF_HUB_OFFLINE=1 is set before transformers is imported). Each is exported
by both PyTorch exporters, with and without an attention-mask input:

    <arch>_torchscript.onnx        torch.onnx.export(dynamo=False), opset 17
    <arch>_torchscript_mask.onnx
    <arch>_dynamo.onnx             torch.onnx.export(dynamo=True), opset 18,
    <arch>_dynamo_mask.onnx        per-node metadata and value_info stripped

Inputs: `input_ids` [1, 16] int64 and, in the *_mask files,
`attention_mask` [1, 16] int64 (traced with all ones). Output: `logits`
[1, 16, VOCAB] float32 (BERT: BertForMaskedLM's logits). Shapes are static,
use_cache=False, and the attention implementation is transformers' default
(sdpa), which is what a user's export gets.

Model size: 2 layers, hidden 32, 4 heads (2 KV heads where the architecture
has grouped-query attention: Llama, Qwen2, Mistral, Gemma, Phi-3, Falcon with
new_decoder_architecture, StableLM), intermediate 64, vocab 96, 64 positions.
At this size a file is 95-180 KB (about 100 KB of weights; the TorchScript
exports add their Constant nodes and long node names), 5.6 MB for all 44.
Hidden 64 / intermediate 128 / vocab 128 would put about 360 KB of weights in
each, some 16 MB in all.
Falcon uses new_decoder_architecture=True (Falcon-40B layout: grouped KV
heads, fused QKV split with x[..., [-2], :]). Gemma's head_dim is set to
hidden / heads (its default is 256). Token ids pad/bos/eos are 0/1/2 so that
every embedding's padding_idx lies inside the small vocabulary.

aten::diff: with transformers 5 and no attention mask, the mask builder
(transformers.masking_utils._preprocess_mask_arguments) checks position_ids
for packed sequences with find_packed_sequence_indices, which calls
torch.diff(position_ids, prepend=...). The TorchScript exporter has no
symbolic for aten::diff and stops ("Exporting the operator 'aten::diff' to
ONNX opset version 17 is not supported"): with transformers 5.24.0 and
torch 2.15.0, 9 of the 11 (all but OPT, which builds an all-ones mask
itself, and BERT, which has no such check). For the TorchScript exports this
script replaces masking_utils.find_packed_sequence_indices, for the duration
of each export only, by an equivalent that writes the difference as a
concatenation and two slices (cat([first - 1, p]) then x[:, 1:] - x[:, :-1]),
which exports as Concat/Slice/Sub, and casts the comparison to int64 before
cumsum (torch promotes a bool cumsum to int64 itself, but the TorchScript
exporter would write CumSum on the bool tensor, which ONNX and onnxruntime
reject). The graph keeps transformers' packed-sequence check (Sub, Equal,
Not, CumSum) as the library computes it; only the spelling changes. The
*_mask exports never reach that function, and the dynamo exporter
decomposes diff itself, so neither uses the replacement.

Run (torch, transformers, onnx and onnxscript; onnxruntime optional, for
the check below; under a minute for all 44 files on one core):

    python3 -m venv /tmp/fx
    /tmp/fx/bin/pip install torch transformers onnx onnxscript onnxruntime
    /tmp/fx/bin/python scripts/make_transformers_fixtures.py [ARCH ...]

With ARCH names (gpt2 llama qwen2 mistral gemma phi3 opt gpt_neox bert falcon
stablelm) only those are regenerated. Tested with torch 2.15.0 and
transformers 5.24.0. Each file is checked with onnx.checker (full_check)
and, where onnxruntime is installed, its logits are compared with torch's on
the traced inputs (max abs error printed, more than 1e-4 fails). An export
that fails is reported and the others go on (exit status 1 at the end).
"""

import os
import sys
import traceback

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import transformers  # noqa: E402
from transformers import masking_utils  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures", "transformers")

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, POSITIONS, SEQ = \
    96, 32, 2, 4, 2, 64, 64, 16
TOKENS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)


def decoder(**extra):
    """The arguments that Llama-like configs share."""
    return dict(vocab_size=VOCAB, hidden_size=HIDDEN,
                intermediate_size=FFN, num_hidden_layers=LAYERS,
                num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                max_position_embeddings=POSITIONS, **TOKENS, **extra)


def configs():
    t = transformers
    return {
        "gpt2": (t.GPT2Config, t.GPT2LMHeadModel, dict(
            vocab_size=VOCAB, n_positions=POSITIONS, n_embd=HIDDEN,
            n_layer=LAYERS, n_head=HEADS, n_inner=FFN, **TOKENS)),
        "llama": (t.LlamaConfig, t.LlamaForCausalLM, decoder()),
        "qwen2": (t.Qwen2Config, t.Qwen2ForCausalLM, decoder()),
        "mistral": (t.MistralConfig, t.MistralForCausalLM, decoder()),
        "gemma": (t.GemmaConfig, t.GemmaForCausalLM,
                  decoder(head_dim=HIDDEN // HEADS)),
        "phi3": (t.Phi3Config, t.Phi3ForCausalLM, decoder()),
        "opt": (t.OPTConfig, t.OPTForCausalLM, dict(
            vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
            ffn_dim=FFN, num_attention_heads=HEADS,
            max_position_embeddings=POSITIONS, word_embed_proj_dim=HIDDEN,
            **TOKENS)),
        "gpt_neox": (t.GPTNeoXConfig, t.GPTNeoXForCausalLM, dict(
            vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
            num_attention_heads=HEADS, intermediate_size=FFN,
            max_position_embeddings=POSITIONS, **TOKENS)),
        "bert": (t.BertConfig, t.BertForMaskedLM, dict(
            vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
            num_attention_heads=HEADS, intermediate_size=FFN,
            max_position_embeddings=POSITIONS, **TOKENS)),
        "falcon": (t.FalconConfig, t.FalconForCausalLM, dict(
            vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
            num_attention_heads=HEADS, num_kv_heads=KV_HEADS,
            new_decoder_architecture=True, ffn_hidden_size=FFN,
            max_position_embeddings=POSITIONS, **TOKENS)),
        "stablelm": (t.StableLmConfig, t.StableLmForCausalLM, decoder()),
    }


class Logits(nn.Module):
    """Calls the model without a cache and returns only its logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None):
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          use_cache=False).logits


class WithMask(Logits):
    def forward(self, input_ids, attention_mask):
        return super().forward(input_ids, attention_mask)


class WithoutMask(Logits):
    def forward(self, input_ids):
        return super().forward(input_ids, None)


def find_packed_sequence_indices_without_diff(position_ids):
    """masking_utils.find_packed_sequence_indices with torch.diff written as
    concat and slices, which the TorchScript exporter can export, and the
    bool-to-int64 promotion of cumsum made explicit."""
    first_dummy_value = position_ids[:, :1] - 1
    padded = torch.cat([first_dummy_value, position_ids], dim=-1)
    position_diff = padded[:, 1:] - padded[:, :-1]
    # torch sums a bool tensor in int64; the TorchScript exporter's CumSum
    # would take the bool as is, which ONNX does not allow.
    packed_sequence_mask = (position_diff != 1).to(torch.int64).cumsum(-1)
    if (not masking_utils.is_tracing(packed_sequence_mask)
            and (packed_sequence_mask[:, -1] == 0).all()):
        return None
    return packed_sequence_mask


def strip_metadata(path):
    """Drops the dynamo exporter's per-node stack traces and value names:
    most of a small model's bytes, and nothing the tests read."""
    import onnx
    model = onnx.load(path)
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    del model.metadata_props[:]
    model.doc_string = ""
    onnx.save_model(model, path)


def export(model, arch, exporter, mask):
    name = f"{arch}_{exporter}{'_mask' if mask else ''}.onnx"
    path = os.path.join(OUT, name)
    ids = torch.randint(3, VOCAB, (1, SEQ), generator=torch.Generator()
                        .manual_seed(0))
    if mask:
        wrapper = WithMask(model)
        args = (ids, torch.ones(1, SEQ, dtype=torch.int64))
        input_names = ["input_ids", "attention_mask"]
    else:
        wrapper = WithoutMask(model)
        args = (ids,)
        input_names = ["input_ids"]
    wrapper.eval()
    original = masking_utils.find_packed_sequence_indices
    try:
        with torch.no_grad():
            if exporter == "dynamo":
                torch.onnx.export(wrapper, args, path, dynamo=True,
                                  opset_version=18, input_names=input_names,
                                  output_names=["logits"],
                                  external_data=False, verbose=False)
                strip_metadata(path)
            else:
                masking_utils.find_packed_sequence_indices = \
                    find_packed_sequence_indices_without_diff
                torch.onnx.export(wrapper, args, path, dynamo=False,
                                  opset_version=17, input_names=input_names,
                                  output_names=["logits"])
    finally:
        masking_utils.find_packed_sequence_indices = original
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes",
          check(path, wrapper, args, input_names), flush=True)


def check(path, wrapper, args, input_names):
    """Checks the file with onnx's checker and, where onnxruntime is
    installed, its logits against torch's on the traced inputs."""
    import onnx
    onnx.checker.check_model(onnx.load(path), full_check=True)
    try:
        import onnxruntime
    except ImportError:
        return "(onnx checker ok; no onnxruntime to run it)"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options)
    got = session.run(None, {name: arg.numpy()
                             for name, arg in zip(input_names, args)})[0]
    with torch.no_grad():
        want = wrapper(*args).numpy()
    error = float(abs(got - want).max())
    if error > 1e-4:
        raise RuntimeError(f"{path}: onnxruntime differs from torch by "
                           f"{error:g}")
    return f"(onnxruntime vs torch: max abs error {error:.3g})"


def main(argv):
    torch.set_num_threads(1)
    table = configs()
    archs = argv or list(table)
    unknown = [a for a in archs if a not in table]
    if unknown:
        sys.exit(f"unknown architectures: {' '.join(unknown)}; "
                 f"known: {' '.join(table)}")
    os.makedirs(OUT, exist_ok=True)
    failed = []
    for index, arch in enumerate(archs):
        config_class, model_class, kwargs = table[arch]
        torch.manual_seed(1000 + list(table).index(arch))
        config = config_class(**kwargs)
        model = model_class(config).eval()
        for exporter in ("torchscript", "dynamo"):
            for mask in (False, True):
                try:
                    export(model, arch, exporter, mask)
                except Exception as error:  # report and go on
                    traceback.print_exc()
                    failed.append(f"{arch} {exporter} mask={mask}: "
                                  f"{type(error).__name__}: "
                                  f"{str(error).splitlines()[0][:200]}")
    for line in failed:
        print("FAILED", line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
