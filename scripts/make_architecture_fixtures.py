#!/usr/bin/env python3
"""Generates tiny randomly initialised `transformers` models of the
architectures beyond the decoder-only text models of
make_transformers_fixtures.py, as ONNX fixtures in
test/fixtures/architectures/:

    vit              ViTForImageClassification     pixel_values [1,3,32,32]
                     -> logits [1,10]              (Conv patch embedding)
    clip_vision      CLIPVisionModel               pixel_values [1,3,32,32]
                     -> pooler_output [1,32]       (pre_layrnorm: an
                                                   embedding norm; the
                                                   final norm reads token 0)
    whisper_encoder  WhisperModel's encoder        input_features [1,8,32]
                     -> last_hidden_state [1,16,32] (two 1-D Convs)
    whisper          WhisperForConditional-        input_features [1,8,32],
                     Generation -> logits [1,8,96] decoder_input_ids [1,8]
                                                   (two streams)
    t5               T5ForConditionalGeneration    input_ids [1,16],
                     -> logits [1,8,96]            decoder_input_ids [1,8]
                                                   (two streams; relative
                                                   position bias)
    cohere           CohereForCausalLM             input_ids [1,16]
                     -> logits [1,16,96]           (parallel block, one
                                                   shared norm, adds
                                                   `(h + attn) + mlp`)
    bloom            BloomForCausalLM              input_ids [1,16]
                     -> logits [1,16,96]           (word_embeddings_layernorm)
    olmo2            Olmo2ForCausalLM              input_ids [1,16]
                     -> logits [1,16,96]           (norms after the
                                                   sublayers: refused)

each as <arch>_torchscript.onnx (torch.onnx.export(dynamo=False), opset 17)
and <arch>_dynamo.onnx (dynamo=True, opset 18, metadata stripped), and for
ViT and BLOOM <arch>_dynamic_dynamo.onnx with a dynamic batch (and length),
float32,
2 layers, hidden 32, 4 heads, from the config class alone with every
parameter drawn by make_transformers_fixtures.randomize (nothing is
downloaded). Each file is checked with onnx.checker (full_check) and
onnxruntime against torch on the traced inputs (more than 1e-4 fails; the
file is then removed).

Run with torch, transformers, onnx, onnxscript and onnxruntime:

    python scripts/make_architecture_fixtures.py [ARCH ...]

Tested with torch 2.15.0 and transformers 5.25.0.
"""

import os
import sys
import traceback

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_transformers_fixtures import (  # noqa: E402
    check, find_packed_sequence_indices_without_diff, randomize,
    strip_metadata)
from transformers import masking_utils  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures", "architectures")

VOCAB, HIDDEN, LAYERS, HEADS, FFN, POSITIONS, SEQ = 96, 32, 2, 4, 64, 64, 16
TOKENS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
# Exports that fail in torch itself (see the docstring): reported, not
# counted in the exit status.
EXPECTED_FAILURES = {("cohere", "torchscript")}
# Also exported with dynamic axes (<arch>_dynamic_dynamo.onnx: batch, and
# the length of token ids): a ViT at any batch, a BLOOM at any batch and
# length (its ALiBi slopes are tiled by the batch size at run time).
DYNAMIC = {"vit", "bloom"}


class Output(nn.Module):
    """Calls `model` with named inputs and returns one named output."""

    def __init__(self, model, names, output, extra=None):
        super().__init__()
        self.model, self.names, self.output = model, names, output
        self.extra = extra or {}

    def forward(self, *args):
        result = self.model(**dict(zip(self.names, args)), **self.extra)
        return getattr(result, self.output)


def ids(length, seed=0):
    return torch.randint(3, VOCAB, (1, length),
                         generator=torch.Generator().manual_seed(seed))


def features():
    """A log-mel spectrogram's shape: 8 bins x 32 frames (the encoder's two
    convolutions, the second with stride 2, make 16 positions)."""
    return torch.randn(1, 8, 2 * SEQ,
                       generator=torch.Generator().manual_seed(0))


def pixels():
    return torch.randn(1, 3, 32, 32,
                       generator=torch.Generator().manual_seed(0))


def architectures():
    t = transformers
    vision = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                  num_attention_heads=HEADS, intermediate_size=FFN,
                  image_size=32, patch_size=8, num_channels=3)
    decoder = dict(vocab_size=VOCAB, hidden_size=HIDDEN,
                   intermediate_size=FFN, num_hidden_layers=LAYERS,
                   num_attention_heads=HEADS, num_key_value_heads=2,
                   max_position_embeddings=POSITIONS, **TOKENS)
    causal = (["input_ids"], lambda: (ids(SEQ),), "logits",
              dict(use_cache=False))
    whisper = t.WhisperConfig(
        vocab_size=VOCAB, num_mel_bins=8, d_model=HIDDEN,
        encoder_layers=LAYERS, decoder_layers=LAYERS,
        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN, decoder_ffn_dim=FFN, max_source_positions=SEQ,
        max_target_positions=POSITIONS, **TOKENS, decoder_start_token_id=1)
    return {
        "vit": (lambda: t.ViTForImageClassification(
            t.ViTConfig(num_labels=10, **vision)),
            (["pixel_values"], lambda: (pixels(),), "logits", {})),
        "clip_vision": (lambda: t.CLIPVisionModel(
            t.CLIPVisionConfig(**vision)),
            (["pixel_values"], lambda: (pixels(),), "pooler_output", {})),
        "whisper_encoder": (lambda: t.WhisperModel(whisper).encoder,
                            (["input_features"], lambda: (features(),),
                             "last_hidden_state", {})),
        "t5": (lambda: t.T5ForConditionalGeneration(t.T5Config(
            vocab_size=VOCAB, d_model=HIDDEN, d_kv=HIDDEN // HEADS,
            d_ff=FFN, num_layers=LAYERS, num_decoder_layers=LAYERS,
            num_heads=HEADS, relative_attention_num_buckets=8,
            relative_attention_max_distance=16, decoder_start_token_id=0,
            pad_token_id=0, eos_token_id=1)),
            (["input_ids", "decoder_input_ids"],
             lambda: (ids(SEQ), ids(8, seed=1)), "logits",
             dict(use_cache=False))),
        # logit_scale 1 (default 1/16): logits large enough to compare.
        "cohere": (lambda: t.CohereForCausalLM(t.CohereConfig(
            logit_scale=1.0, **decoder)),
                   causal),
        "bloom": (lambda: t.BloomForCausalLM(t.BloomConfig(
            vocab_size=VOCAB, hidden_size=HIDDEN, n_layer=LAYERS,
            n_head=HEADS, **TOKENS)), causal),
        "olmo2": (lambda: t.Olmo2ForCausalLM(t.Olmo2Config(**decoder)),
                  causal),
        "whisper": (lambda: t.WhisperForConditionalGeneration(whisper),
                    (["input_features", "decoder_input_ids"],
                     lambda: (features(), ids(8, seed=1)), "logits",
                     dict(use_cache=False))),
    }


def dynamic_shapes(names):
    """Dynamic batch for every input, and dynamic length for token ids."""
    from torch.export import Dim
    batch = Dim("batch", max=64)
    return {"args": tuple(
        {0: batch} if name == "pixel_values"
        else {0: batch, 1: Dim(f"{name}_length", min=2, max=POSITIONS)}
        for name in names)}


def export(arch, model, spec, exporter):
    names, make_args, output, extra = spec
    path = os.path.join(OUT, f"{arch}_{exporter}.onnx")
    wrapper = Output(model, names, output, extra).eval()
    args = make_args()
    with torch.no_grad():
        if exporter in ("dynamo", "dynamic_dynamo"):
            shapes = dynamic_shapes(names) if exporter != "dynamo" else None
            torch.onnx.export(wrapper, args, path, dynamo=True,
                              opset_version=18, input_names=names,
                              output_names=[output], external_data=False,
                              dynamic_shapes=shapes, verbose=False)
            strip_metadata(path)
        else:
            # TorchScript cannot export torch.diff (Cohere, OLMo 2).
            original = masking_utils.find_packed_sequence_indices
            masking_utils.find_packed_sequence_indices = \
                find_packed_sequence_indices_without_diff
            try:
                torch.onnx.export(wrapper, args, path, dynamo=False,
                                  opset_version=17, input_names=names,
                                  output_names=[output])
            finally:
                masking_utils.find_packed_sequence_indices = original
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes",
          check(path, wrapper, args, names), flush=True)


def main(argv):
    table = architectures()
    archs = argv or list(table)
    unknown = [a for a in archs if a not in table]
    if unknown:
        sys.exit(f"unknown architectures: {' '.join(unknown)}; "
                 f"known: {' '.join(table)}")
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    failed = []
    for arch in archs:
        make_model, spec = table[arch]
        seed = 2000 + list(table).index(arch)
        torch.manual_seed(seed)
        model = randomize(make_model(), seed).eval()
        exporters = ["torchscript", "dynamo"]
        if arch in DYNAMIC:
            exporters.append("dynamic_dynamo")
        for exporter in exporters:
            try:
                export(arch, model, spec, exporter)
            except Exception as error:  # report and go on
                path = os.path.join(OUT, f"{arch}_{exporter}.onnx")
                if os.path.exists(path):
                    os.remove(path)
                line = (f"{arch} {exporter}: {type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200]}")
                if (arch, exporter) in EXPECTED_FAILURES:
                    print("expected failure:", line, flush=True)
                else:
                    traceback.print_exc()
                    failed.append(line)
    for line in failed:
        print("FAILED", line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
