#!/usr/bin/env python3
"""Runs a model with onnxruntime and with attnres-run on the same inputs and
reports the max absolute and relative error of every output.

    scripts/compare_ort.py MODEL.onnx INPUTS.npz [--attnres-run PATH]
        [--rtol 1e-4] [--atol 1e-5] [--input-shape NAME=DIMS ...]
        [--paths cache,jit,artifact] [--attnres-compile PATH] [--vocab V]

--run-shapes compiles the model once, with its dynamic dims, and runs that
one artifact at each given set of input shapes (repeat the flag; each is
NAME=DIMS[,NAME=DIMS...]), comparing every run with onnxruntime on the same
inputs: one artifact serves every shape.

--paths runs the model more than one way (attnres-run's cache, the JIT of
--no-cache, a .so from attnres-compile); each must be within the tolerance
of onnxruntime and of the first.

INPUTS may be `random`: random inputs are generated from the model's input
types and the dynamic dims fixed by --input-shape (default 1 for each
dynamic dim), with a fixed seed:

  - attention masks (integer or boolean inputs whose name contains "mask"):
    ones with right padding, zero over the last quarter of the first row,
    none of the second, the last half of the third, and so on in turn
    (rounded down; row 0 is padded even at batch 1). Position 0 is never
    padded, so no row is all zeros and no query of a causal model sees
    only padding, a softmax over nothing on which implementations
    legitimately disagree;
  - other integers (token ids) uniform in [0, V): V is --vocab where given,
    else the number of rows of the embedding table the input indexes (a
    Gather on an initializer or Constant, reached through Reshape, Cast and
    the like; the smallest table where there are several), else 3 (small
    indices valid on any axis of 3 or more, which the op tests rely on);
  - booleans uniform; floats standard normal.

--print-inputs prints how each random input is drawn (with --input-shape
and --vocab as given) and stops.

Tolerance (fp32): every element must satisfy
|attnres - ort| <= atol + rtol * |ort|, with rtol = 1e-4 and atol = 1e-5 by
default. Exits 1 when any output is outside it or is missing, 2 when a tool
fails.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RUN = os.path.join(HERE, "..", "build", "bin", "attnres-run")
DEFAULT_COMPILE = os.path.join(HERE, "..", "build", "bin", "attnres-compile")

NUMPY_TYPES = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.BOOL: np.bool_,
}


# Ops that pass token ids on unchanged on their way to an embedding lookup
# (GPT-2's and OPT's exports reshape them first).
PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
                "Cast", "Transpose", "Expand"}
# Without an embedding table, integers are drawn from [0, DEFAULT_RANGE).
DEFAULT_RANGE = 3


def table_rows(graph):
    """{input name: rows of the smallest constant table a Gather reads with
    it as indices}, following PASS_THROUGH ops from the graph inputs."""
    tables = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tables[node.output[0]] = list(attr.t.dims)
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    rows = {}
    for info in graph.input:
        pending, seen = [info.name], set()
        while pending:
            value = pending.pop()
            if value in seen:
                continue
            seen.add(value)
            for node in readers.get(value, []):
                if node.op_type in PASS_THROUGH and node.input[0] == value:
                    pending.extend(node.output)
                elif (node.op_type == "Gather" and len(node.input) > 1
                      and node.input[1] == value
                      and node.input[0] in tables):
                    axis = next((a.i for a in node.attribute
                                 if a.name == "axis"), 0)
                    dims = tables[node.input[0]]
                    if dims:
                        size = dims[axis]
                        rows[info.name] = min(rows.get(info.name, size), size)
    return rows


def padded_mask(shape, dtype):
    """Ones, with the last quarter of row 0, none of row 1, the last half
    of row 2 (and so on in turn) zero: real right padding that leaves every
    row's first position, so no row is all padding."""
    mask = np.ones(shape, dtype)
    if mask.ndim == 0 or mask.size == 0:
        return mask
    length = shape[-1]
    flat = mask.reshape(-1, length)
    for row in range(flat.shape[0]):
        pad = min(length - 1, length * (1, 0, 2)[row % 3] // 4)
        if pad > 0:
            flat[row, length - pad:] = 0
    return flat.reshape(shape)


def random_inputs(model_path, fixed, seed=0, vocab=None):
    """Random inputs for every graph input (see the module's docstring);
    `fixed` gives the shapes of inputs with dynamic dims, `vocab` the range
    of the token ids (default: found from the model)."""
    return described_inputs(model_path, fixed, seed, vocab)[0]


def described_inputs(model_path, fixed, seed=0, vocab=None):
    """random_inputs, and a line for each input that says how it was
    drawn."""
    graph = onnx.load(model_path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    rows = table_rows(graph)
    rng = np.random.default_rng(seed)
    inputs, lines = {}, []
    for info in graph.input:
        if info.name in initializers:
            continue
        tensor = info.type.tensor_type
        if info.name in fixed:
            shape = fixed[info.name]
        else:
            shape = [d.dim_value if d.HasField("dim_value") else 1
                     for d in tensor.shape.dim]
        dtype = NUMPY_TYPES.get(tensor.elem_type)
        if dtype is None:
            sys.exit(f"compare_ort: input '{info.name}' has an unsupported "
                     f"element type")
        if "mask" in info.name.lower() and (
                np.issubdtype(dtype, np.integer) or dtype == np.bool_):
            value = padded_mask(shape, dtype)
            kept = (value.reshape(-1, shape[-1]).sum(-1) if value.size
                    and value.ndim else [])
            how = f"mask, ones per row {[int(k) for k in kept]}"
        elif np.issubdtype(dtype, np.integer):
            if vocab:
                high, why = vocab, "--vocab"
            elif info.name in rows:
                high, why = rows[info.name], "embedding table rows"
            else:
                high, why = DEFAULT_RANGE, "no embedding table"
            value = rng.integers(0, high, shape).astype(dtype)
            how = (f"uniform in [0, {high}) ({why}), drawn "
                   f"{value.min() if value.size else '-'}.."
                   f"{value.max() if value.size else '-'}")
        elif dtype == np.bool_:
            value = rng.integers(0, 2, shape).astype(dtype)
            how = "uniform"
        else:
            value = rng.standard_normal(shape).astype(dtype)
            how = "standard normal"
        inputs[info.name] = value
        lines.append(f"{info.name}: {np.dtype(dtype).name}{list(shape)} "
                     f"{how}")
    return inputs, lines


def compile_artifact(opts, out, extra_args):
    """attnres-compile MODEL -o OUT; prints why and returns False on failure."""
    build = subprocess.run([opts.attnres_compile, opts.model, "-o", out] +
                           extra_args, capture_output=True, text=True)
    if build.returncode:
        sys.stderr.write(build.stderr)
        print(f"compare_ort: attnres-compile failed with status "
              f"{build.returncode}")
    return build.returncode == 0


def parse_shapes(specs):
    """NAME=AxBxC strings as {NAME: [A, B, C]}."""
    fixed = {}
    for spec in specs:
        name, dims = spec.split("=")
        fixed[name] = [int(d) for d in dims.split("x")]
    return fixed


def report(results, want, names, opts, label=""):
    """Prints one line per output and path; whether all are within tolerance."""
    ok = True
    first = next(iter(results))
    for path, got in results.items():
        prefix = f"[{path}] " if len(results) > 1 else ""
        prefix = label + prefix
        for name in names:
            if name not in got:
                print(f"{prefix}{name}: missing from attnres-run's outputs "
                      f"FAIL")
                ok = False
                continue
            w, g = want[name], got[name]
            if w.shape != g.shape or w.dtype != g.dtype:
                print(f"{prefix}{name}: attnres-run gives "
                      f"{g.dtype}{list(g.shape)}, onnxruntime "
                      f"{w.dtype}{list(w.shape)} FAIL")
                ok = False
                continue
            w64, g64 = w.astype(np.float64), g.astype(np.float64)
            err = np.abs(g64 - w64)
            rel = err / np.maximum(np.abs(w64), np.finfo(np.float32).tiny)
            within = bool(np.all(err <= opts.atol + opts.rtol * np.abs(w64)))
            same = ""
            if path != first and name in results[first]:
                # The paths compile the same LLVM IR for the same CPU.
                diff = np.abs(g64 - results[first][name].astype(np.float64))
                same = f" vs {first} max_abs_diff={diff.max():.3g}"
                within &= bool(np.all(diff <= opts.atol +
                                      opts.rtol * np.abs(w64)))
            print(f"{prefix}{name}: {w.dtype}{list(w.shape)} "
                  f"max_abs_err={err.max():.3g} "
                  f"max_rel_err={rel.max():.3g} "
                  f"(atol={opts.atol:g}, rtol={opts.rtol:g}){same} "
                  f"{'OK' if within else 'FAIL'}")
            ok &= within
    return ok


def run_shapes(opts):
    """Compiles the model once and runs the artifact at every shape."""
    with tempfile.TemporaryDirectory() as tmp:
        artifact = os.path.join(tmp, "model.so")
        pipeline_args = ["--pipeline", opts.pipeline] if opts.pipeline else []
        if not compile_artifact(opts, artifact, pipeline_args):
            return 2
        session = onnxruntime.InferenceSession(opts.model)
        names = [o.name for o in session.get_outputs()]
        ok = True
        for index, spec in enumerate(opts.run_shapes):
            feeds = random_inputs(opts.model, parse_shapes(spec.split(",")),
                                  seed=index, vocab=opts.vocab)
            inputs_path = os.path.join(tmp, f"inputs-{index}.npz")
            out_path = os.path.join(tmp, f"outputs-{index}.npz")
            np.savez(inputs_path, **feeds)
            want = dict(zip(names, session.run(None, feeds)))
            run = subprocess.run(
                [opts.attnres_run, artifact, "--inputs", inputs_path,
                 "--outputs", out_path], capture_output=True, text=True)
            if run.returncode:
                sys.stderr.write(run.stderr)
                print(f"compare_ort: attnres-run at {spec} failed with "
                      f"status {run.returncode}")
                return 2
            ok &= report({"artifact": dict(np.load(out_path))}, want, names,
                         opts, label=f"{spec}: ")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("inputs", help=".npz file, or 'random'")
    parser.add_argument("--attnres-run", default=DEFAULT_RUN)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--input-shape", action="append", default=[],
                        metavar="NAME=DIMS")
    parser.add_argument("--vocab", type=int, default=None,
                        help="random token ids (integer inputs not named "
                        "*mask*) in [0, VOCAB); default: the rows of the "
                        "embedding table each indexes, else 3")
    parser.add_argument("--pipeline", default=None,
                        help="passed to attnres-run --pipeline")
    parser.add_argument("--paths", default="cache",
                        help="comma-separated ways to compile and run, each "
                        "compared with onnxruntime and with the first: cache "
                        "(attnres-run's default), jit (attnres-run "
                        "--no-cache), artifact (attnres-compile, then "
                        "attnres-run on the .so)")
    parser.add_argument("--attnres-compile", default=DEFAULT_COMPILE)
    parser.add_argument("--run-shapes", action="append", default=[],
                        metavar="NAME=DIMS[,NAME=DIMS...]",
                        help="compile once, run at each of these shapes")
    parser.add_argument("--print-inputs", action="store_true",
                        help="print how each random input is drawn and stop "
                        "(INPUTS must be 'random')")
    opts = parser.parse_args()
    if opts.run_shapes:
        return run_shapes(opts)

    fixed = parse_shapes(opts.input_shape)
    if opts.print_inputs:
        if opts.inputs != "random":
            print("compare_ort: --print-inputs needs INPUTS 'random'")
            return 2
        for line in described_inputs(opts.model, fixed,
                                     vocab=opts.vocab)[1]:
            print(line)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        if opts.inputs == "random":
            feeds = random_inputs(opts.model, fixed, vocab=opts.vocab)
            inputs_path = os.path.join(tmp, "inputs.npz")
            np.savez(inputs_path, **feeds)
        else:
            inputs_path = opts.inputs
            feeds = dict(np.load(inputs_path))

        session = onnxruntime.InferenceSession(opts.model)
        names = [o.name for o in session.get_outputs()]
        want = dict(zip(names, session.run(None, feeds)))

        shape_args = []
        for spec in opts.input_shape:
            shape_args += ["--input-shape", spec]
        pipeline_args = ["--pipeline", opts.pipeline] if opts.pipeline else []
        results = {}
        for path in opts.paths.split(","):
            out_path = os.path.join(tmp, f"outputs-{path}.npz")
            model = opts.model
            run_args = shape_args + pipeline_args
            if path == "jit":
                run_args = run_args + ["--no-cache"]
            elif path == "artifact":
                model = os.path.join(tmp, "model.so")
                if not compile_artifact(opts, model,
                                        shape_args + pipeline_args):
                    return 2
                run_args = []
            elif path != "cache":
                print(f"compare_ort: unknown path '{path}'")
                return 2
            command = [opts.attnres_run, model, "--inputs", inputs_path,
                       "--outputs", out_path] + run_args
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode:
                sys.stderr.write(run.stderr)
                print(f"compare_ort: attnres-run ({path}) failed with status "
                      f"{run.returncode}")
                return 2
            results[path] = dict(np.load(out_path))

    return 0 if report(results, want, names, opts) else 1


if __name__ == "__main__":
    sys.exit(main())
