"""attnres from Python: compile, run, convert and generate.

    import attnres, numpy as np
    model = attnres.compile("model.onnx", num_blocks=4)   # Block AttnRes, compiled
    out = model.run(input_ids=np.arange(16).reshape(1, 16))
    proto = attnres.convert("model.onnx", num_blocks=4)  # onnx.ModelProto

Everything here is also a command-line tool (attnres-compile, attnres-run,
attnres-convert); this package calls the same code in-process. Errors are
exceptions carrying the compiler's or the runtime's message.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Mapping, Sequence

import numpy as np

from . import _attnres
from ._attnres import set_num_threads

__all__ = ["Model", "compile", "convert", "report", "depth_weights",
           "plot_depth_weights", "generate", "set_num_threads"]

_DEPTH_WEIGHTS = "attnres.depth_weights."


class Model:
    """A compiled model (a shared library written by attnres-compile or
    attnres.compile), run through libattnres_runtime.

    `inputs` and `outputs` list (name, dtype, shape) with None for dynamic
    sizes; `run` takes arrays by name and returns a dict of NumPy arrays
    that own the runtime's buffers (no copies). Runs release the GIL, so
    threads may run models concurrently.
    """

    def __init__(self, path: str | os.PathLike):
        self._model = _attnres.Model(os.fspath(path))

    @property
    def path(self) -> str:
        return self._model.path

    @property
    def inputs(self) -> list[tuple[str, str, tuple]]:
        return self._model.inputs

    @property
    def outputs(self) -> list[tuple[str, str, tuple]]:
        return self._model.outputs

    @property
    def device(self) -> str:
        return self._model.device

    def run(self, inputs: Mapping[str, np.ndarray] | None = None,
            **kwargs: np.ndarray) -> dict[str, np.ndarray]:
        """Runs the model on `inputs` (and/or keyword arrays) by name."""
        given = dict(inputs or {}, **kwargs)
        names = [name for name, _, _ in self.inputs]
        missing = [n for n in names if n not in given]
        if missing:
            raise ValueError(
                f"missing input '{missing[0]}'; the model takes: "
                + ", ".join(f"{n}: {d}{list(s)}" for n, d, s in self.inputs))
        extra = sorted(set(given) - set(names))
        if extra:
            raise ValueError(f"unexpected input '{extra[0]}': the model has "
                             f"no input of that name")
        # In place when already C-contiguous; the runtime checks the dtypes
        # and shapes and says what does not fit.
        arrays = [np.ascontiguousarray(given[n]) for n in names]
        results = self._model.run(arrays)
        return {name: array for (name, _, _), array in
                zip(self.outputs, results)}

    def __call__(self, inputs=None, **kwargs):
        return self.run(inputs, **kwargs)

    def __repr__(self) -> str:
        def sig(infos):
            return ", ".join(
                f"{n}: {d}[{', '.join('?' if x is None else str(x) for x in s)}]"
                for n, d, s in infos)
        return (f"attnres.Model('{self.path}', {self.device}, "
                f"({sig(self.inputs)}) -> ({sig(self.outputs)}))")


def _model_file(model, tmp: str) -> str:
    """A path for `model`: a path as it is, an onnx.ModelProto saved into
    `tmp`."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model: '{path}'")
        return path
    import onnx
    if isinstance(model, onnx.ModelProto):
        path = os.path.join(tmp, "model.onnx")
        onnx.save(model, path)
        return path
    raise TypeError("expected a path or an onnx.ModelProto, got "
                    f"{type(model).__name__}")


def _rewrite(num_blocks, block_sizes, pseudo_queries) -> str:
    """The --attnres-residual-to-block options, "" for none."""
    if num_blocks is None and not block_sizes and pseudo_queries is None:
        return ""
    options = [f"num-blocks={num_blocks or 0}"]
    if block_sizes:
        options.append("block-sizes=" + ",".join(map(str, block_sizes)))
    if pseudo_queries is not None:
        options.append(f"pseudo-queries={os.fspath(pseudo_queries)}")
    return "attnres-residual-to-block{" + " ".join(options) + "}"


def _shape_specs(input_shapes) -> list[str]:
    return [f"{name}={'x'.join('?' if d is None else str(d) for d in dims) or 'scalar'}"
            for name, dims in (input_shapes or {}).items()]


def _external_data(path: str) -> list[str]:
    """The external data files an .onnx model names."""
    if not path.endswith(".onnx"):
        return []
    import onnx
    model = onnx.load(path, load_external_data=False)
    folder = os.path.dirname(os.path.abspath(path))
    return sorted({os.path.join(folder, entry.value)
                   for tensor in model.graph.initializer
                   if tensor.data_location == onnx.TensorProto.EXTERNAL
                   for entry in tensor.external_data
                   if entry.key == "location"})


def _stamp(path: str) -> tuple:
    status = os.stat(path)
    return (path, status.st_size, status.st_mtime_ns)


def _cache_dir(cache_dir) -> str:
    if cache_dir is not None:
        return os.fspath(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "attnres", "python")


def compile(model, *, target: str = "cpu", num_blocks: int | None = None,
            block_sizes: Sequence[int] | None = None,
            pseudo_queries: str | os.PathLike | None = None,
            input_shapes: Mapping[str, Sequence[int | None]] | None = None,
            cache_dir: str | os.PathLike | None = None,
            _passes: Sequence[str] = ()) -> Model:
    """Compiles a .onnx/.mlir model (or an onnx.ModelProto) and loads it.

    num_blocks / block_sizes / pseudo_queries rewrite a PreNorm model into
    Block AttnRes first (num_blocks=0: Full AttnRes; zero queries without a
    file). input_shapes fixes dynamic inputs ({"input_ids": (1, 16)}, None
    keeps a dim dynamic). The shared library is kept in cache_dir (default
    $XDG_CACHE_HOME/attnres/python) under a key of the model's bytes and
    these options, so compiling the same thing again only loads it.
    """
    if target != "cpu":
        raise ValueError(f"target='{target}': attnres.compile builds CPU "
                         "models; use attnres-compile --target=cuda")
    with tempfile.TemporaryDirectory() as tmp:
        path = _model_file(model, tmp)
        rewrite = _rewrite(num_blocks, block_sizes, pseudo_queries)
        passes = ["attnres-raise-norms", rewrite] if rewrite else []
        passes += list(_passes)
        pipeline = ",".join(passes)
        specs = _shape_specs(input_shapes)
        key = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                key.update(chunk)
        if pseudo_queries is not None:
            with open(pseudo_queries, "rb") as f:
                key.update(f.read())
        # As attnres-run's cache: the external data files and the compiler
        # by size and modification time.
        stamps = [_stamp(f) for f in _external_data(path)]
        stamps.append(_stamp(_attnres.__file__))
        key.update(repr((pipeline, specs, stamps)).encode())
        directory = _cache_dir(cache_dir)
        os.makedirs(directory, exist_ok=True)
        artifact = os.path.join(directory, key.hexdigest()[:32] + ".so")
        if not os.path.exists(artifact):
            _attnres.compile_model(path, artifact, specs, pipeline)
        return Model(artifact)


def convert(model, *, num_blocks: int = 0,
            block_sizes: Sequence[int] | None = None,
            pseudo_queries: str | os.PathLike | None = None,
            canonicalize: bool = False):
    """attnres-convert in-process: the Block AttnRes model as an
    onnx.ModelProto (each aggregation a call of ai.attnres.BlockAttnRes<N>),
    or with canonicalize=True an AttnRes model's aggregations as calls."""
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "converted.onnx")
        _attnres.convert_model(_model_file(model, tmp), out, num_blocks,
                               list(block_sizes or []),
                               os.fspath(pseudo_queries or ""), canonicalize)
        return onnx.load(out)


def report(model, *, num_blocks: int = 0,
           block_sizes: Sequence[int] | None = None,
           canonicalize: bool = False) -> str:
    """The conversion's report: the blocks and a Markdown table of the
    aggregations (their sources, the node that reads each, the norm's
    epsilon), as `attnres-convert --report` prints it."""
    with tempfile.TemporaryDirectory() as tmp:
        return _attnres.convert_model(
            _model_file(model, tmp), os.path.join(tmp, "converted.onnx"),
            num_blocks, list(block_sizes or []), "", canonicalize)


def depth_weights(model, inputs: Mapping[str, np.ndarray], *,
                  num_blocks: int | None = None,
                  pseudo_queries: str | os.PathLike | None = None,
                  per_token: bool = False,
                  cache_dir: str | os.PathLike | None = None
                  ) -> list[np.ndarray]:
    """The softmax weights over depth of every aggregation of `model` (an
    AttnRes model, or a PreNorm one with num_blocks), run on `inputs`:
    one float32[n] array per aggregation over its n sources, averaged over
    the tokens (per_token=True keeps [n, tokens...])."""
    shapes = {name: np.shape(value) for name, value in inputs.items()}
    passes = ["attnres-raise-norms", "attnres-raise-aggregation"]
    rewrite = _rewrite(num_blocks, None, pseudo_queries)
    passes += [rewrite] if rewrite else []
    compiled = compile(model, input_shapes=shapes, cache_dir=cache_dir,
                       _passes=passes + ["attnres-expose-depth-weights"])
    outputs = compiled.run(inputs)
    weights = [outputs[name] for name, _, _ in compiled.outputs
               if name.startswith(_DEPTH_WEIGHTS)]
    if not weights:
        raise ValueError("the model has no depth aggregation: give a PreNorm "
                         "model num_blocks to rewrite it")
    if per_token:
        return weights
    return [w.reshape(w.shape[0], -1).mean(axis=1) for w in weights]


def plot_depth_weights(weights: Sequence[np.ndarray], path=None, title=None):
    """A heatmap of depth_weights(): one row per aggregation, one column per
    source. Saves it to `path` when given; returns the matplotlib figure."""
    import matplotlib
    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    width = max(len(w) for w in weights)
    grid = np.full((len(weights), width), np.nan)
    for row, w in enumerate(weights):
        grid[row, :len(w)] = w
    fig, ax = plt.subplots(figsize=(1 + 0.5 * width, 1 + 0.35 * len(weights)))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xlabel("source (0: embedding, then blocks, last: partial sum)")
    ax.set_ylabel("aggregation (layer; last: final)")
    ax.set_title(title or "softmax weights over depth")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def generate(model: Model, input_ids, max_new_tokens: int,
             eos_token_id: int | None = None) -> np.ndarray:
    """Greedy decoding with a decode-step export that follows the usual
    names: inputs input_ids, attention_mask (optional) and
    past_key_values.<i>.key/.value (their length dynamic), outputs logits
    and present.<i>.key/.value. The prompt is the first step (one token a
    step for an export traced at one new token, TorchScript's), then each
    step feeds the last token and the presents back as pasts, as
    examples/generate.c does. Returns the new tokens, int64[batch, n]
    (fewer than max_new_tokens once every row has ended with
    eos_token_id)."""
    infos = {name: (dtype, shape) for name, dtype, shape in model.inputs}
    outputs = {name for name, _, _ in model.outputs}
    if "input_ids" not in infos or "logits" not in outputs:
        raise ValueError("generate needs a model with an input 'input_ids' "
                         "and an output 'logits'")
    tokens = np.array(input_ids, dtype=np.int64, ndmin=2)
    batch = tokens.shape[0]
    state = {}
    for name, (dtype, shape) in infos.items():
        if name in ("input_ids", "attention_mask", "position_ids"):
            continue
        present = name.replace("past_key_values.", "present.")
        axes = [d for d in range(1, len(shape)) if shape[d] is None]
        if not name.startswith("past_key_values.") or present not in outputs \
                or not axes:
            raise ValueError(f"generate: input '{name}' is no past with a "
                             f"dynamic length and an output '{present}'")
        dims = [batch if d == 0 else 0 if d == axes[-1] else shape[d]
                for d in range(len(shape))]
        state[name] = np.zeros(dims, dtype=np.dtype(dtype))
    chunk = infos["input_ids"][1][1] if len(infos["input_ids"][1]) > 1 \
        else None
    past, new = 0, []
    done = np.zeros(batch, dtype=bool)
    while len(new) < max_new_tokens:
        fresh = tokens.shape[1] - past
        if chunk:
            fresh = min(fresh, chunk)
        feeds = {"input_ids": tokens[:, past:past + fresh], **state}
        if "attention_mask" in infos:
            feeds["attention_mask"] = np.ones(
                (batch, past + fresh),
                dtype=np.dtype(infos["attention_mask"][0]))
        if "position_ids" in infos:
            feeds["position_ids"] = np.broadcast_to(
                np.arange(past, past + fresh, dtype=np.int64),
                (batch, fresh)).copy()
        out = model.run(feeds)
        past += fresh
        for name in state:
            state[name] = out[name.replace("past_key_values.", "present.")]
        if past < tokens.shape[1]:
            continue
        nxt = out["logits"][:, -1, :].argmax(axis=-1).astype(np.int64)
        if eos_token_id is not None:
            nxt = np.where(done, eos_token_id, nxt)
            done |= nxt == eos_token_id
        new.append(nxt)
        tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
        if eos_token_id is not None and done.all():
            break
    return np.stack(new, axis=1) if new else np.zeros((batch, 0), np.int64)
