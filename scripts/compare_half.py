#!/usr/bin/env python3
"""Runs a half-precision (float16 or bfloat16) model with attnres-run and
compares its outputs with onnxruntime's on the float32 model it was
converted from (issue 8, "Half precision").

    scripts/compare_half.py HALF.onnx F32.onnx [--attnres-run PATH]
        [--rtol R] [--atol A] [--input-shape NAME=DIMS ...]
    scripts/compare_half.py --measure-torch FIXTURES_DIR

HALF and F32 must take the same inputs (names, types, shapes) and give the
same outputs; scripts/make_transformers_fixtures.py writes such pairs
(<arch>_<exporter>_fp16.onnx / _bf16.onnx beside <arch>_<exporter>.onnx:
the same weights rounded to the half format, logits widened to float32 at
the end). The inputs are scripts/compare_ort.py's random ones (drawn from
F32's input types: token ids over the embedding's rows, floats standard
normal, seed 0), so that both scripts see the same data. onnxruntime on
F32 is the oracle; HALF runs under `attnres-run HALF --inputs in.npz
--outputs out.npz`. Outputs are compared in float64 whatever their type (a
half output is widened).

Tolerance: every element must satisfy |attnres - ort_f32| <= atol + rtol *
|ort_f32|, with rtol = 0 and atol twice torch's own error on the same
model in the same format (TORCH_ERRORS below): attnres running the half
model may be at most twice as far from the float32 model as PyTorch's
half model is.

Why torch: the error here is mostly not attnres's but the half format's.
A model run in half precision rounds every weight and intermediate to 11
significant bits (float16, unit roundoff u = 2^-11) or 8 (bfloat16,
u = 2^-8), and the roundings add up through the layers; how far they
carry the logits depends on the model, so the yardstick is how far the
half model of a trusted implementation lies from the float32 one, on the
same weights and inputs: PyTorch, which the fixtures were exported from
(onnxruntime 1.32 has no CPU kernels for bfloat16 Add, Mul or MatMul).

How TORCH_ERRORS was measured (`compare_half.py --measure-torch DIR`,
which prints the table; torch 2.15.0, transformers 5.25.0, CPU, one
thread): each architecture is rebuilt as
scripts/make_transformers_fixtures.py builds it (its config, seed 1000 +
its index, randomize()), which must reproduce onnxruntime's logits on
DIR/<arch>_dynamo.onnx within 1e-4 of their scale (the same weights),
then converted with model.to(float16 / bfloat16) as the fixtures were; on
this script's inputs (compare_ort.py's random ones for that file, seed 0)
the recorded number is max |torch_half - ort_f32| over the logits, with
max |ort_f32| beside it. At test time
that scale must match the model's (to 1e-4): a fixture regenerated with
other weights, or other inputs, fails with a request to measure again
rather than borrow a number from another model. Torch's error is the
architecture's, whichever exporter wrote HALF.

Measured (max abs error of the logits; max |logit| 0.32-0.74):

                     float16            bfloat16
    torch            2.2-3.3e-4         2.0-3.4e-3
    attnres-run      1.8-5.3e-4         2.1-3.4e-3
    attnres / torch  0.59-1.60          0.89-1.27

Where attnres is above torch the exported graph is the reason, not
attnres: run in onnxruntime with every op computed in float32 and its
result rounded once to the format (the graph's own semantics), the models
lie as far from the float32 model as attnres does (BERT fp16: 5.33e-4
both; bf16 BERT, OPT and StableLM to three digits, GPT-2 once Softmax,
Div and Gemm are rounded in steps as attnres computes them), while torch's
fused kernels (attention, GELU, LayerNorm) keep in float32 what the
export stores in half precision. The factor 2 leaves room for that and
for a different but equally valid placement of the roundings.

History: the bf16 defaults were rtol = 5e-2, atol = 2.5e-2, fitted to
attnres when it measured 0.94-2.2e-2 of the logits' scale, 2-6x torch.
That was before attnres accumulated f16/bf16 matrix products and sums in
f32 (commit 51e36d8). Rounding every partial sum of torch's Linear layers
to bf16 gives 1.7-7.3x torch's error on these models, so this check
catches such a regression on some models only; the per-op test
(test/Integration/half-ops-vs-numpy.test) catches it on each op.

A model without a recorded torch error (not one of the fixtures) gets
atol = 2 x the largest recorded torch error relative to the logits' scale
(float16 1.0e-3, bfloat16 8.4e-3) times the output's largest magnitude;
--atol and --rtol override (the missing one is 0). Element by element the
relative error is unbounded (logits near zero keep an absolute error of a
few u times the logits' scale), hence an absolute tolerance. Mistakes of
the kind an importer makes mostly stay far outside: shifting positions by
one changes GPT-2's and BERT's logits by 78-91% of their scale, masking out
the first token changes Llama's by 47% and GPT-2's by 12% (float32, torch,
measured on the fixtures before their parameters were randomized). Small
ones need not: such errors are for the float32 fixtures to catch
(compare_ort.py, 1e-4).

For reference each output's line is followed by onnxruntime's own error on
HALF against F32 where onnxruntime can run HALF (not counted in the exit
status).

Exits 1 when an output is outside the tolerance, missing or of another
shape, 2 when a tool fails (attnres-run's first error line is printed).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_ort import DEFAULT_RUN, random_inputs  # noqa: E402

# max |torch_half - ort_f32| and max |ort_f32| of each architecture's
# logits, by `--measure-torch test/fixtures/transformers` (see the
# docstring).
TORCH_ERRORS = {
    "float16": {
        "gpt2": (0.00022, 0.335004), "llama": (0.000279, 0.375377),
        "qwen2": (0.000287, 0.461872), "mistral": (0.000318, 0.364217),
        "gemma": (0.000298, 0.740924), "phi3": (0.00031, 0.346582),
        "opt": (0.000332, 0.322467), "gpt_neox": (0.000216, 0.366534),
        "bert": (0.000333, 0.504578), "falcon": (0.000283, 0.742185),
        "stablelm": (0.000275, 0.419992),
    },
    "bfloat16": {
        "gpt2": (0.00227, 0.335004), "llama": (0.00197, 0.375377),
        "qwen2": (0.00274, 0.461872), "mistral": (0.00251, 0.364217),
        "gemma": (0.00207, 0.740924), "phi3": (0.0029, 0.346582),
        "opt": (0.00235, 0.322467), "gpt_neox": (0.00221, 0.366534),
        "bert": (0.00344, 0.504578), "falcon": (0.00269, 0.742185),
        "stablelm": (0.00241, 0.419992),
    },
}
# attnres may lie at most this many times as far as torch from the f32
# model.
TORCH_FACTOR = 2.0
FIXTURE_NAME = re.compile(
    r"^(?P<arch>.+)_(dynamo|torchscript)(_mask)?_(fp16|bf16)\.onnx$")


def torch_tolerance(fmt, half_path, scale):
    """(atol, how it was derived), or (None, why not) when the recorded
    torch error belongs to another model than this one."""
    fmt = fmt or "bfloat16"
    match = FIXTURE_NAME.match(os.path.basename(half_path))
    recorded = TORCH_ERRORS[fmt].get(match.group("arch")) if match else None
    if recorded is None:
        relative = max(e / s for e, s in TORCH_ERRORS[fmt].values())
        return (TORCH_FACTOR * relative * scale,
                f"{TORCH_FACTOR:g} x the largest torch {fmt} error over the "
                f"fixtures, {relative:.2g} of the logits' scale")
    error, torch_scale = recorded
    if abs(torch_scale - scale) > 1e-4 * scale:
        return None, (f"torch's {fmt} error was recorded for a model whose "
                      f"max |logit| is {torch_scale:g}, this one's is "
                      f"{scale:g}: the fixture or the inputs changed; run "
                      f"scripts/compare_half.py --measure-torch and update "
                      f"TORCH_ERRORS")
    return (TORCH_FACTOR * error,
            f"{TORCH_FACTOR:g} x torch's own {fmt} error on "
            f"{match.group('arch')}, {error:.3g}")


def measure_torch(fixtures):
    """Prints TORCH_ERRORS, measured as the docstring says (needs torch and
    transformers; imports scripts/make_transformers_fixtures.py)."""
    import copy

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import make_transformers_fixtures as maker

    torch.set_num_threads(1)
    table = maker.configs()
    measured = {"float16": {}, "bfloat16": {}}
    for index, arch in enumerate(table):
        f32 = os.path.join(fixtures, f"{arch}_dynamo.onnx")
        feeds = random_inputs(f32, {})
        want = session(f32).run(None, feeds)[0].astype(np.float64)
        scale = float(np.abs(want).max())
        config_class, model_class, kwargs = table[arch]
        ids = torch.from_numpy(feeds["input_ids"])
        # As the generator's main() builds it: its seed, then its own
        # draw of every parameter where it has randomize() (fixtures made
        # before that have the config's initialisation); the one whose
        # logits are the fixture's is measured.
        builds = [False] + ([True] if hasattr(maker, "randomize") else [])
        for randomized in reversed(builds):
            seed = 1000 + index
            torch.manual_seed(seed)
            model = model_class(config_class(**kwargs))
            if randomized:
                model = maker.randomize(model, seed)
            model.eval()
            with torch.no_grad():
                same = np.abs(model(input_ids=ids, use_cache=False).logits
                              .double().numpy() - want).max()
            if same <= 1e-4 * scale:
                break
        else:
            print(f"{arch}: torch's float32 model differs from {f32} by "
                  f"{same:.3g}: not the fixture's weights")
            return 1
        for fmt, dtype in (("float16", torch.float16),
                           ("bfloat16", torch.bfloat16)):
            half = copy.deepcopy(model).to(dtype).eval()
            with torch.no_grad():
                got = half(input_ids=ids, use_cache=False).logits
            error = np.abs(got.double().numpy() - want).max()
            measured[fmt][arch] = (float(f"{error:.3g}"),
                                   float(f"{scale:.6g}"))
    print(f"# torch {torch.__version__}, transformers "
          f"{maker.transformers.__version__}")
    print("TORCH_ERRORS = {")
    for fmt, rows in measured.items():
        print(f'    "{fmt}": {{')
        for arch, row in rows.items():
            print(f'        "{arch}": {row},')
        print("    },")
    print("}")
    return 0


def half_format(path):
    """'bfloat16' or 'float16' after HALF's initializers and Constant
    nodes, None when it has neither."""
    model = onnx.load(path, load_external_data=False)
    types = {t.data_type for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types.add(attr.t.data_type)
    if onnx.TensorProto.BFLOAT16 in types:
        return "bfloat16"
    if onnx.TensorProto.FLOAT16 in types:
        return "float16"
    return None


def signature(path):
    graph = onnx.load(path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    return [(i.name, i.type.tensor_type.elem_type)
            for i in graph.input if i.name not in initializers]


def session(path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options)


def errors(got, want):
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    err = np.abs(g64 - w64)
    scale = max(float(np.abs(w64).max()), np.finfo(np.float32).tiny)
    rel = err / np.maximum(np.abs(w64), np.finfo(np.float32).tiny)
    return err, float(err.max()), float(rel.max()), float(err.max()) / scale


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("half", metavar="HALF.onnx", nargs="?")
    parser.add_argument("f32", metavar="F32.onnx", nargs="?")
    parser.add_argument("--attnres-run", default=DEFAULT_RUN)
    parser.add_argument("--rtol", type=float, default=None)
    parser.add_argument("--atol", type=float, default=None)
    parser.add_argument("--pipeline", default=None,
                        help="passed to attnres-run --pipeline")
    parser.add_argument("--input-shape", action="append", default=[],
                        metavar="NAME=DIMS")
    parser.add_argument("--measure-torch", metavar="FIXTURES_DIR",
                        help="print TORCH_ERRORS measured on the fixtures "
                        "in FIXTURES_DIR (needs torch and transformers)")
    opts = parser.parse_args()
    if opts.measure_torch:
        return measure_torch(opts.measure_torch)
    if not opts.half or not opts.f32:
        parser.error("HALF.onnx and F32.onnx are required")

    fmt = half_format(opts.half)
    if signature(opts.half) != signature(opts.f32):
        print(f"compare_half: {opts.half} and {opts.f32} take different "
              f"inputs: {signature(opts.half)} vs {signature(opts.f32)}")
        return 2

    fixed = {}
    for spec in opts.input_shape:
        name, dims = spec.split("=")
        fixed[name] = [int(d) for d in dims.split("x")]
    feeds = random_inputs(opts.f32, fixed)

    oracle = session(opts.f32)
    names = [o.name for o in oracle.get_outputs()]
    want = dict(zip(names, oracle.run(None, feeds)))
    try:
        ort_half = dict(zip(names, session(opts.half).run(None, feeds)))
        ort_note = None
    except Exception as error:  # no kernel for a half type, typically
        ort_half = {}
        ort_note = str(error).splitlines()[0][:160]

    with tempfile.TemporaryDirectory() as tmp:
        inputs_path = os.path.join(tmp, "inputs.npz")
        np.savez(inputs_path, **feeds)
        out_path = os.path.join(tmp, "outputs.npz")
        command = [opts.attnres_run, opts.half, "--inputs", inputs_path,
                   "--outputs", out_path]
        for spec in opts.input_shape:
            command += ["--input-shape", spec]
        if opts.pipeline:
            command += ["--pipeline", opts.pipeline]
        try:
            run = subprocess.run(command, capture_output=True, text=True)
        except OSError as error:
            print(f"compare_half: cannot run {opts.attnres_run}: {error}")
            return 2
        if run.returncode:
            sys.stderr.write(run.stderr)
            first = next((line for line in run.stderr.splitlines()
                          if line.strip()), "")
            print(f"compare_half: attnres-run failed with status "
                  f"{run.returncode}: {first}")
            return 2
        got = dict(np.load(out_path))

    ok = True
    for name in names:
        w = want[name]
        if name not in got:
            print(f"{name}: missing from attnres-run's outputs FAIL")
            ok = False
            continue
        g = got[name]
        if w.shape != g.shape:
            print(f"{name}: attnres-run gives {g.dtype}{list(g.shape)}, "
                  f"onnxruntime (f32 model) {w.dtype}{list(w.shape)} FAIL")
            ok = False
            continue
        err, max_abs, max_rel, scaled = errors(g, w)
        scale = float(np.abs(w.astype(np.float64)).max())
        if opts.atol is None and opts.rtol is None:
            atol, source = torch_tolerance(fmt, opts.half, scale)
            rtol = 0.0
        else:
            atol, rtol = opts.atol or 0.0, opts.rtol or 0.0
            source = "given"
        if atol is None:
            print(f"{name}: {g.dtype}{list(g.shape)} vs f32 "
                  f"max_abs_err={max_abs:.3g}: no tolerance: {source} FAIL")
            ok = False
            continue
        within = bool(np.all(err <= atol + rtol * np.abs(w.astype(
            np.float64))))
        print(f"{name}: {g.dtype}{list(g.shape)} vs f32 "
              f"max_abs_err={max_abs:.3g} max_rel_err={max_rel:.3g} "
              f"scale_err={scaled:.3g} "
              f"({fmt or 'no half weights'}: atol={atol:.3g}, rtol={rtol:g}"
              f"; {source}) {'OK' if within else 'FAIL'}")
        ok &= within
        if name in ort_half:
            _, r_abs, r_rel, r_scaled = errors(ort_half[name], w)
            print(f"  onnxruntime on the half model vs f32: "
                  f"max_abs_err={r_abs:.3g} max_rel_err={r_rel:.3g} "
                  f"scale_err={r_scaled:.3g}")
        elif ort_note:
            print(f"  onnxruntime cannot run the half model: {ort_note}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
