#!/usr/bin/env python3
"""Generates tiny randomly initialised `transformers` models as ONNX fixtures
in test/fixtures/transformers/ (issue 8, "Real models").

Eleven architectures (GPT-2, Llama, Qwen2, Mistral, Gemma, Phi-3, OPT,
GPT-NeoX, BERT, Falcon, StableLM), each built from its config class alone:
random weights with a fixed seed, nothing downloaded from a hub
(HF_HUB_OFFLINE=1 is set before transformers is imported). Every parameter
is drawn (randomize()), norm weights and biases included: Hugging Face
initialises norms to ones and zeros and biases to zeros, so every norm of a
model would share one constant, the importer would merge GPT-NeoX's and
Falcon's two parallel norms into one op (a structure no trained checkpoint
has), and no test would notice a dropped norm weight or bias. Each is
exported by both PyTorch exporters, with and without an attention-mask
input:

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
exports add their Constant nodes and long node names), 5.8 MB for all 44.
Hidden 64 / intermediate 128 / vocab 128 would put about 360 KB of weights in
each, some 16 MB in all.

Half precision (--dtypes, default f32,fp16,bf16): each architecture is
also exported in float16 and bfloat16, from the same model as the float32
fixtures (same seed and config, then model.to(dtype): the same weights,
rounded), input_ids only (no mask file), by both exporters where they can:

    <arch>_torchscript_fp16.onnx   <arch>_dynamo_fp16.onnx
    <arch>_torchscript_bf16.onnx   <arch>_dynamo_bf16.onnx

The model computes in half precision throughout; only its final logits are
widened (the wrapper returns logits.float(), a Cast to float32 at the end
of the graph), so the output is float32 [1, 16, VOCAB] like the float32
fixture's and compares with it directly (scripts/compare_half.py). Each
half file is checked with onnx.checker; the script then prints how far
torch's half model lies from the float32 one on the traced inputs (more
than 1e-2 of the logits' largest magnitude for fp16, 5e-2 for bf16, fails:
the conversion would be wrong) and, where onnxruntime runs the file, how
far onnxruntime lies from both. onnxruntime 1.32 has no CPU kernels for
bfloat16 Add, Mul and MatMul, so it runs none of the bf16 files (reported,
not failed). With torch 2.15.0 and transformers 5.24.0, 30 half files come
out (2.3 MB in all, 55-153 KB each):

  - dynamo: all 11 in fp16 and bf16.
  - TorchScript fp16: 7 (Llama, Qwen2, Mistral, Gemma, Phi-3, BERT,
    Falcon). For GPT-2, OPT, GPT-NeoX and StableLM the exported file is
    invalid and is removed: the exporter's scaled_dot_product_attention
    symbolic builds its boolean-mask Where from float32 constants, so the
    attention output, and the residual stream after it, turn float32 while
    the next LayerNormalization's scale and bias stay float16 (onnx.checker:
    "LayerNormalization ... Scale has inconsistent type tensor(float16)";
    onnxruntime refuses to load it likewise). Llama-style RMSNorm is
    decomposed into elementwise ops, where the exporter's implicit casts
    reconcile the types, so those files are valid (with float32 islands).
  - TorchScript bf16: only Falcon. The other 10 stop in the exporter
    itself with "RuntimeError: ScalarType ComplexDouble is an unexpected
    tensor scalar type", raised while serializing the graph after its
    constant folding, and only with sdpa attention (eager attention
    exports). Exporting with do_constant_folding=False avoids it, but
    leaves every shape computation unfolded (larger files, not what a
    user's default export gives), so those are left out.

A failed export, or one whose file fails its check, is reported and its
file removed (no invalid or stale fixture stays behind).

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
the check below; under two minutes for all 74 files on one core):

    python3 -m venv /tmp/fx
    /tmp/fx/bin/pip install torch transformers onnx onnxscript onnxruntime
    /tmp/fx/bin/python scripts/make_transformers_fixtures.py \
        [--dtypes f32,fp16,bf16] [ARCH ...]

With ARCH names (gpt2 llama qwen2 mistral gemma phi3 opt gpt_neox bert falcon
stablelm) only those are regenerated; --dtypes fp16,bf16 regenerates only
the half-precision files (--dtypes f32 only the float32 ones). Tested with
torch 2.15.0 and transformers 5.24.0 (with transformers 5.25.0 Falcon's
TorchScript bf16 export stops with the ComplexDouble error above too, and
its file is removed). Each file is checked with
onnx.checker (full_check) and, where onnxruntime is installed, its logits
are compared with torch's on the traced inputs (max abs error printed,
more than 1e-4 fails; the half files are checked as described above). An
export that fails is reported and the others go on (exit status 1 at the
end); the 14 TorchScript half exports above are reported as expected
failures (EXPECTED_FAILURES) and do not count.
"""

import copy
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
DTYPES = {"f32": torch.float32, "fp16": torch.float16,
          "bf16": torch.bfloat16}
# check_half: the largest error of torch's half model against its float32
# original, relative to the largest |logit|, before the export is failed.
HALF_SANITY = {"fp16": 1e-2, "bf16": 5e-2}
# The TorchScript half exports that fail with torch 2.15.0 (see the
# docstring): reported as expected, not counted in the exit status.
EXPECTED_FAILURES = (
    {(a, "fp16") for a in ("gpt2", "opt", "gpt_neox", "stablelm")}
    | {(a, "bf16") for a in ("gpt2", "llama", "qwen2", "mistral", "gemma",
                             "phi3", "opt", "gpt_neox", "bert",
                             "stablelm")})


def randomize(model, seed):
    """Draws every parameter at a realistic scale, from a generator of its
    own (the draws do not depend on how many numbers the model's
    construction took from torch's global one): weights and embeddings
    N(0, 0.02) (transformers' initializer_range, for GPT-2's down-scaled
    residual projections too), norm weights N(c, 0.1) around the centre c
    the model initialised them to (1, or 0 for Gemma, whose RMSNorm scales
    by 1 + weight), biases and norm biases N(0, 0.1). Tied weights are one
    parameter and drawn once. make_dynamic_fixtures.py draws its models
    with this too."""
    generator = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner = modules[name.rpartition(".")[0]]
            noise = torch.randn(p.shape, generator=generator)
            if type(owner).__name__.endswith("Norm"):
                centre = float(p.mean()) if name.endswith("weight") else 0.0
                p.copy_(centre + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.02 * noise)
    return model


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
    """Calls the model without a cache and returns only its logits,
    widened to float32 when the model computes in half precision."""

    def __init__(self, model, widen=False):
        super().__init__()
        self.model = model
        self.widen = widen

    def forward(self, input_ids, attention_mask=None):
        logits = self.model(input_ids=input_ids,
                            attention_mask=attention_mask,
                            use_cache=False).logits
        return logits.float() if self.widen else logits


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


def export(model, arch, exporter, mask, dtype="f32", reference=None):
    """Exports `model` (already converted to `dtype`) to
    <arch>_<exporter>[_mask][_<dtype>].onnx. `reference` is the float32
    model a half-precision one was converted from, for check()."""
    suffix = "" if dtype == "f32" else f"_{dtype}"
    name = f"{arch}_{exporter}{'_mask' if mask else ''}{suffix}.onnx"
    path = os.path.join(OUT, name)
    ids = torch.randint(3, VOCAB, (1, SEQ), generator=torch.Generator()
                        .manual_seed(0))
    widen = dtype != "f32"
    if mask:
        wrapper = WithMask(model, widen)
        args = (ids, torch.ones(1, SEQ, dtype=torch.int64))
        input_names = ["input_ids", "attention_mask"]
    else:
        wrapper = WithoutMask(model, widen)
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
    if reference is None:
        result = check(path, wrapper, args, input_names)
    else:
        result = check_half(path, wrapper, WithoutMask(reference), args,
                            input_names, dtype)
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes",
          result, flush=True)


def run_onnxruntime(path, args, input_names):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options)
    return session.run(None, {name: arg.numpy()
                              for name, arg in zip(input_names, args)})[0]


def check(path, wrapper, args, input_names):
    """Checks the file with onnx's checker and, where onnxruntime is
    installed, its logits against torch's on the traced inputs."""
    import onnx
    onnx.checker.check_model(onnx.load(path), full_check=True)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "(onnx checker ok; no onnxruntime to run it)"
    got = run_onnxruntime(path, args, input_names)
    with torch.no_grad():
        want = wrapper(*args).numpy()
    error = float(abs(got - want).max())
    if error > 1e-4:
        raise RuntimeError(f"{path}: onnxruntime differs from torch by "
                           f"{error:g}")
    return f"(onnxruntime vs torch: max abs error {error:.3g})"


def check_half(path, wrapper, reference, args, input_names, dtype):
    """Checks a half-precision file with onnx's checker and reports, on the
    traced inputs, how far torch's half model lies from its float32
    original and, where onnxruntime can run the file, how far onnxruntime
    lies from both. Errors are relative to the float32 logits' largest
    magnitude; only torch's own half-vs-f32 error can fail (the weights or
    the conversion would be wrong), above HALF_SANITY[dtype]. onnxruntime
    lacks CPU kernels for some ops in bfloat16 (and a few in float16): such
    a file is reported, not failed."""
    import onnx
    onnx.checker.check_model(onnx.load(path), full_check=True)
    with torch.no_grad():
        half = wrapper(*args).numpy()
        want = reference(*args).numpy()
    scale = float(abs(want).max())
    torch_error = float(abs(half - want).max()) / scale
    if torch_error > HALF_SANITY[dtype]:
        raise RuntimeError(f"{path}: torch's {dtype} model differs from its "
                           f"float32 original by {torch_error:g} of the "
                           f"logits' scale")
    text = f"(torch {dtype} vs f32: {torch_error:.3g}"
    try:
        got = run_onnxruntime(path, args, input_names)
    except ImportError:
        return text + "; no onnxruntime to run it)"
    except Exception as error:  # onnxruntime lacks a kernel
        first = str(error).splitlines()[0][:160]
        return text + f"; onnxruntime cannot run it: {first})"
    return (text + f"; onnxruntime vs torch {dtype}: "
            f"{float(abs(got - half).max()) / scale:.3g}"
            f", vs torch f32: {float(abs(got - want).max()) / scale:.3g};"
            f" of max |logit| {scale:.3g})")


def remove(arch, exporter, mask, dtype):
    """Removes what a failed export left (an invalid file, or a stale one
    from an earlier run), so that no fixture lands that failed its check."""
    suffix = "" if dtype == "f32" else f"_{dtype}"
    path = os.path.join(OUT, f"{arch}_{exporter}{'_mask' if mask else ''}"
                             f"{suffix}.onnx")
    if os.path.exists(path):
        os.remove(path)
        print("removed", os.path.relpath(path), file=sys.stderr)


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archs", nargs="*", metavar="ARCH")
    parser.add_argument("--dtypes", default=",".join(DTYPES),
                        help="comma-separated subset of "
                             f"{','.join(DTYPES)} (default: all)")
    opts = parser.parse_args(argv)
    dtypes = opts.dtypes.split(",")
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        sys.exit(f"unknown dtypes: {' '.join(bad)}; known: "
                 f"{' '.join(DTYPES)}")
    torch.set_num_threads(1)
    table = configs()
    archs = opts.archs or list(table)
    unknown = [a for a in archs if a not in table]
    if unknown:
        sys.exit(f"unknown architectures: {' '.join(unknown)}; "
                 f"known: {' '.join(table)}")
    os.makedirs(OUT, exist_ok=True)
    failed = []
    for index, arch in enumerate(archs):
        config_class, model_class, kwargs = table[arch]
        seed = 1000 + list(table).index(arch)
        torch.manual_seed(seed)
        config = config_class(**kwargs)
        model = randomize(model_class(config), seed).eval()
        for dtype in dtypes:
            if dtype == "f32":
                variant, reference, masks = model, None, (False, True)
            else:
                # The same weights, rounded to the half format.
                variant = copy.deepcopy(model).to(DTYPES[dtype]).eval()
                reference, masks = model, (False,)
            for exporter in ("torchscript", "dynamo"):
                for mask in masks:
                    expected = (exporter == "torchscript"
                                and (arch, dtype) in EXPECTED_FAILURES)
                    try:
                        export(variant, arch, exporter, mask, dtype,
                               reference)
                    except Exception as error:  # report and go on
                        line = (f"{arch} {exporter} mask={mask} {dtype}: "
                                f"{type(error).__name__}: "
                                f"{str(error).splitlines()[0][:200]}")
                        remove(arch, exporter, mask, dtype)
                        if expected:
                            print("expected failure:", line, flush=True)
                        else:
                            traceback.print_exc()
                            failed.append(line)
                    else:
                        if expected:
                            print(f"note: {arch} {exporter} {dtype} was "
                                  f"expected to fail and exported; update "
                                  f"EXPECTED_FAILURES", flush=True)
    for line in failed:
        print("FAILED", line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
