"""The attnres Python package against its oracles: onnxruntime on the
original models, PyTorch's greedy generation, and the runtime's own
messages for bad input. Numerics at the project's f32 tolerance,
|attnres - oracle| <= 1e-5 + 1e-4 |oracle|."""

import os
import threading
import time

import numpy as np
import onnx
import onnxruntime
import pytest

import attnres

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
FIXTURES = os.path.join(ROOT, "test", "fixtures")
LLAMA = os.path.join(FIXTURES, "transformers", "llama_dynamo.onnx")
GPT2 = os.path.join(FIXTURES, "transformers", "gpt2_torchscript.onnx")
DYNAMIC = os.path.join(FIXTURES, "dynamic", "llama_dynamo.onnx")
DECODE = os.path.join(FIXTURES, "dynamic", "llama_decode_dynamo.onnx")
ATTNRES = os.path.join(FIXTURES, "attnres", "llama_attnres_n4.onnx")
POSTNORM = os.path.join(FIXTURES, "transformers", "bert_torchscript.onnx")


def close(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape == want.shape and bool(
        np.all(np.abs(got - want) <= 1e-5 + 1e-4 * np.abs(want)))


def ids(shape, vocab=96, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, shape).astype(
        np.int64)


def ort(path, feeds):
    session = onnxruntime.InferenceSession(path)
    return dict(zip([o.name for o in session.get_outputs()],
                    session.run(None, feeds)))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def llama(cache):
    return attnres.compile(LLAMA, cache_dir=cache)


def test_compile_and_run_match_onnxruntime(llama):
    feeds = {"input_ids": ids((1, 16))}
    assert close(llama.run(feeds)["logits"], ort(LLAMA, feeds)["logits"])
    # Keyword arguments, and calling the model, are the same run.
    assert close(llama(input_ids=feeds["input_ids"])["logits"],
                 ort(LLAMA, feeds)["logits"])


def test_signature(llama):
    assert llama.inputs == [("input_ids", "int64", (1, 16))]
    assert llama.outputs == [("logits", "float32", (1, 16, 96))]
    assert llama.device == "cpu"
    assert "input_ids: int64[1, 16]" in repr(llama)


def test_dynamic_shapes_one_artifact(cache):
    model = attnres.compile(DYNAMIC, cache_dir=cache)
    assert model.inputs[0][2] == (None, None)
    for shape in [(1, 5), (3, 9)]:
        feeds = {"input_ids": ids(shape)}
        assert close(model.run(feeds)["logits"], ort(DYNAMIC, feeds)["logits"])


def test_block_attnres_with_zero_queries_keeps_the_function(cache):
    model = attnres.compile(GPT2, num_blocks=2, cache_dir=cache)
    feeds = {"input_ids": ids((1, 16))}
    assert close(model.run(feeds)["logits"], ort(GPT2, feeds)["logits"])


def test_compile_takes_a_model_proto_and_caches(cache):
    proto = onnx.load(LLAMA)
    first = attnres.compile(proto, cache_dir=cache)
    again = attnres.compile(proto, cache_dir=cache)
    assert first.path == again.path and os.path.exists(first.path)


def test_convert_is_an_onnx_model_onnxruntime_runs(cache):
    proto = attnres.convert(LLAMA, num_blocks=2)
    assert isinstance(proto, onnx.ModelProto)
    onnx.checker.check_model(proto, full_check=True)
    assert {f.name for f in proto.functions} == {
        "BlockAttnRes1", "BlockAttnRes2", "BlockAttnRes3"}
    feeds = {"input_ids": ids((1, 16))}
    session = onnxruntime.InferenceSession(proto.SerializeToString())
    want = attnres.compile(LLAMA, num_blocks=2, cache_dir=cache).run(feeds)
    assert close(session.run(None, feeds)[0], want["logits"])


def test_convert_canonicalize(cache):
    proto = attnres.convert(ATTNRES, canonicalize=True)
    assert sum(n.domain == "ai.attnres" for n in proto.graph.node) == 7
    feeds = {"input_ids": ids((1, 8), vocab=64)}
    session = onnxruntime.InferenceSession(proto.SerializeToString())
    assert close(session.run(None, feeds)[0], ort(ATTNRES, feeds)["logits"])


def test_report():
    text = attnres.report(LLAMA, num_blocks=2)
    assert text.startswith("attnres-convert: 4 layers in 2 blocks of [2, 2]")
    assert "| aggregation | sources | read by | norm epsilon |" in text


def test_depth_weights(cache, tmp_path):
    feeds = {"input_ids": ids((1, 16))}
    # Zero queries: every aggregation is the mean of its sources.
    weights = attnres.depth_weights(LLAMA, feeds, num_blocks=2,
                                    cache_dir=cache)
    assert [len(w) for w in weights] == [1, 2, 2, 3, 3]
    for w in weights:
        assert np.allclose(w, 1 / len(w), atol=1e-6)
    # A trained AttnRes model: weights over depth, per token and averaged.
    trained = attnres.depth_weights(ATTNRES, {"input_ids": ids((1, 8), 64)},
                                    cache_dir=cache, per_token=True)
    assert trained[-1].shape[1:] == (1, 8)
    assert np.allclose(trained[-1].sum(axis=0), 1, atol=1e-5)
    assert not np.allclose(trained[-1], 1 / trained[-1].shape[0], atol=1e-3)
    figure = attnres.plot_depth_weights(
        attnres.depth_weights(ATTNRES, {"input_ids": ids((1, 8), 64)},
                              cache_dir=cache), tmp_path / "weights.png")
    assert figure is not None and (tmp_path / "weights.png").stat().st_size


def test_generate_matches_torch(cache):
    greedy = np.load(os.path.join(FIXTURES, "dynamic",
                                  "llama_decode_greedy.npz"))
    model = attnres.compile(DECODE, cache_dir=cache)
    prompt = greedy["prompt"]
    tokens = attnres.generate(model, prompt, 12)
    assert np.array_equal(tokens, greedy["tokens"][:, prompt.shape[1]:])
    # The converted decode step (zero queries) generates the same.
    block = attnres.compile(attnres.convert(DECODE, num_blocks=2),
                            cache_dir=cache)
    assert np.array_equal(attnres.generate(block, prompt, 12), tokens)


def test_bad_inputs_raise_the_runtimes_message(llama):
    with pytest.raises(ValueError, match="missing input 'input_ids'"):
        llama.run({})
    with pytest.raises(ValueError, match="unexpected input 'mask'"):
        llama.run(input_ids=ids((1, 16)), mask=ids((1, 16)))
    with pytest.raises(RuntimeError, match=r"input 'input_ids' is int32\[1, "
                       r"16\] but the model takes int64\[1, 16\]"):
        llama.run(input_ids=ids((1, 16)).astype(np.int32))
    with pytest.raises(RuntimeError, match=r"is int64\[1, 8\] but the model "
                       r"takes int64\[1, 16\]"):
        llama.run(input_ids=ids((1, 8)))
    with pytest.raises(TypeError, match="element type"):
        llama.run(input_ids=np.zeros((1, 16), np.complex64))
    # The process is healthy afterwards.
    feeds = {"input_ids": ids((1, 16))}
    assert close(llama.run(feeds)["logits"], ort(LLAMA, feeds)["logits"])


def test_bad_files_raise(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="no such model"):
        attnres.compile(tmp_path / "missing.onnx", cache_dir=cache)
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"not a shared library")
    with pytest.raises(RuntimeError, match="cannot load"):
        attnres.Model(junk)
    with pytest.raises(RuntimeError, match="PostNorm residual add"):
        attnres.compile(POSTNORM, num_blocks=1, cache_dir=cache)
    with pytest.raises(RuntimeError, match="PostNorm residual add"):
        attnres.convert(POSTNORM)
    with pytest.raises(RuntimeError, match="num-blocks=9 exceeds the 4 "
                       "layers"):
        attnres.compile(LLAMA, num_blocks=9, cache_dir=cache)
    with pytest.raises(TypeError, match="expected a path or an "
                       "onnx.ModelProto"):
        attnres.convert(42)


def test_two_threads_run_two_models_at_once(llama, cache):
    gpt2 = attnres.compile(GPT2, cache_dir=cache)
    feeds = {"input_ids": ids((1, 16))}
    want = {"llama": llama.run(feeds)["logits"],
            "gpt2": gpt2.run(feeds)["logits"]}
    results, errors = {}, []

    def work(name, model):
        try:
            for _ in range(50):
                out = model.run(feeds)["logits"]
                if not np.array_equal(out, want[name]):
                    errors.append(name)
            results[name] = True
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(n, m))
               for n, m in (("llama", llama), ("gpt2", gpt2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and set(results) == {"llama", "gpt2"}


def test_runs_release_the_gil(cache):
    """While one thread is inside a long run, another runs Python code: if
    the run held the GIL, the main thread could run only in the moments
    before and after it (one switch interval each)."""
    model = attnres.compile(DYNAMIC, cache_dir=cache)
    feeds = {"input_ids": ids((8, 512))}
    model.run(feeds)
    window = []

    def run():
        start = time.perf_counter()
        model.run(feeds)
        window.extend([start, time.perf_counter()])

    thread = threading.Thread(target=run)
    stamps = []
    thread.start()
    while thread.is_alive():
        stamps.append(time.perf_counter())
    thread.join()
    start, end = window
    inside = [t for t in stamps if start < t < end]
    assert end - start > 0.05, "the run is too short to tell"
    assert inside and max(inside) - min(inside) > 0.5 * (end - start)


def test_no_leaks_over_1000_runs(llama):
    feeds = {"input_ids": ids((1, 16))}

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    for _ in range(100):
        llama.run(feeds)
    before = rss()
    for _ in range(1000):
        llama.run(feeds)
    # Each run returns 24 KiB of logits: a leak of them would be 24 MiB.
    assert rss() - before < 4 << 20


def test_the_documented_example_runs_as_written(capsys, monkeypatch,
                                                tmp_path):
    """The first Python block of docs/python.md, run as written from the
    repository's root (its model path is relative to it), so that the page
    people copy from stays true."""
    with open(os.path.join(ROOT, "docs", "python.md")) as f:
        page = f.read()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    exec(compile(code, "docs/python.md", "exec"), {})
    printed = float(capsys.readouterr().out.strip())
    assert printed <= 1e-4


def test_one_artifact_loaded_twice(llama):
    """Both loads share the library's weights: destroying one must not
    unmap what the other reads (the runtime keeps one mapping per file)."""
    feeds = {"input_ids": ids((1, 16))}
    want = llama.run(feeds)["logits"]
    second = attnres.Model(llama.path)
    del second
    import gc
    gc.collect()
    assert np.array_equal(llama.run(feeds)["logits"], want)
    third = attnres.Model(llama.path)
    assert np.array_equal(third.run(feeds)["logits"], want)


def test_the_cache_sees_external_data(tmp_path):
    """Rewriting a model's external data file makes a new compilation."""
    import shutil
    for name in ("model.onnx", "model.onnx.data"):
        shutil.copy(os.path.join(FIXTURES, "external_data", name), tmp_path)
    cache = tmp_path / "cache"
    first = attnres.compile(tmp_path / "model.onnx", cache_dir=cache)
    data = tmp_path / "model.onnx.data"
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 1))
    again = attnres.compile(tmp_path / "model.onnx", cache_dir=cache)
    assert first.path != again.path
