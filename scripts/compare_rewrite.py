#!/usr/bin/env python3
"""Checks that --attnres-residual-to-block preserves a model's function at
zero pseudo-queries, against onnxruntime.

    scripts/compare_rewrite.py MODEL.onnx --num-blocks N [--attnres-run PATH]
        [--rtol 1e-4] [--atol 1e-5] [--min-mean-square MS]
    scripts/compare_rewrite.py MODEL.onnx --num-blocks N
        --pseudo-queries Q.npz --oracle ATTNRES.onnx [--against-unsplit]

attnres-run imports MODEL, raises its norms, rewrites its residual stream
into Block AttnRes with N blocks (0: one per layer, Full AttnRes) and zero
pseudo-queries, and runs it on random inputs.

Why it must match: with zero queries every aggregation is the mean of its
c sources, i.e. the standard residual stream h divided by c. Each reader is
a norm over the last axis, and for RMSNorm and LayerNorm alike
norm(h / c; eps) = norm(h; c^2 eps) exactly. So the rewritten model is the
original with the epsilon of each stream norm multiplied by c_l^2, where c_l
is the number of sources of layer l's aggregation (1 + the completed blocks
+ 1 for the partial sum unless l starts its block; 1 + N for the final
norm). The oracle is onnxruntime on the original model with those epsilons
(`--check exact`, the default), compared at fp32 tolerance
|attnres - ort| <= atol + rtol |ort|.

The same argument bounds the distance to the unmodified model: each norm's
output changes by a relative (c^2 - 1) eps / (2 ms) at most, where ms is the
mean square (variance, for LayerNorm) of the stream at that norm. The
script prints the normwise relative distance of the logits to onnxruntime
on the unmodified model for the record; it is not a pass criterion, since
ms depends on the weights (about 4e-4 in the tiny random fixtures, 1e-2 to
1e2 in trained models).

With --min-mean-square MS (a lower bound of the stream's mean square that
the fixture guarantees, e.g. 0.5 for embeddings drawn with std 1), that
distance becomes a criterion too: it must stay within the first-order sum
of the per-norm perturbations, sum_l (c_l^2 - 1) eps_l / (2 MS).

With --pseudo-queries and --oracle, the rewrite uses those queries and the
oracle is onnxruntime on ORACLE, a Block AttnRes model with the same layer
weights and queries (scripts/make_attnres_fixtures.py); compared at the
same fp32 tolerance.

attnres-run lowers with the default attnres-cpu-pipeline, which splits the
aggregations into two phases and fuses the RMSNorms (--attnres-two-phase,
--attnres-fuse-norm). With --against-unsplit it also lowers with
two-phase=false and compares the two results at the same tolerance.

Norms are found in the ONNX graph, in graph order: LayerNormalization,
RMSNormalization and SimplifiedLayerNormalization nodes (the epsilon
attribute), and decomposed norms as Add(ReduceMean(..), constant) (the
constant is the epsilon). Their number must be the stream's layer count
plus one, which attnres-opt's --attnres-detect-residuals reports.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_ort  # noqa: E402
from attnres_reference import block_sizes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "build", "bin")
NORM_OPS = {"LayerNormalization", "RMSNormalization",
            "SimplifiedLayerNormalization"}


def source_counts(sizes):
    """c_l for every layer in stream order, then the final aggregation."""
    counts = []
    for block, size in enumerate(sizes):
        for i in range(size):
            counts.append(1 + block + (1 if i > 0 else 0))
    counts.append(1 + len(sizes))
    return counts


def constants(graph):
    values = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = attr.t
    return values


def norm_epsilons(model):
    """(setter, epsilon, input) for every norm of the graph, in graph order
    (input: the normalized tensor's name, None for decomposed norms)."""
    graph = model.graph
    consts = constants(graph)
    producer = {out: node for node in graph.node for out in node.output}
    found = []
    for node in graph.node:
        if node.op_type in NORM_OPS:
            attr = next((a for a in node.attribute if a.name == "epsilon"),
                        None)
            if attr is None:
                attr = node.attribute.add()
                attr.name, attr.type, attr.f = ("epsilon",
                                                onnx.AttributeProto.FLOAT,
                                                1e-5)
            found.append((lambda value, a=attr: setattr(a, "f", value),
                          attr.f, node.input[0]))
            continue
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        for i in (0, 1):
            mean = producer.get(node.input[i])
            eps_name = node.input[1 - i]
            if (mean is None or mean.op_type != "ReduceMean"
                    or eps_name not in consts):
                continue
            eps = numpy_helper.to_array(consts[eps_name])
            if eps.size != 1:
                continue

            def set_eps(value, node=node, index=1 - i, eps=eps):
                name = f"{node.name or node.output[0]}.scaled_epsilon"
                graph.initializer.append(numpy_helper.from_array(
                    np.full(eps.shape, value, dtype=eps.dtype), name))
                node.input[index] = name
            found.append((set_eps, float(eps.reshape(-1)[0]), None))
            break
    return found


def stream_layers(attnres_opt, model_path):
    run = subprocess.run(
        [attnres_opt, model_path, "--attnres-raise-norms",
         "--attnres-detect-residuals=report=true", "-o", os.devnull],
        capture_output=True, text=True)
    match = re.search(r"residual stream of @\w+: (\d+) layers", run.stdout)
    if run.returncode or not match:
        sys.stderr.write(run.stderr)
        sys.exit("compare_rewrite: --attnres-detect-residuals found no stream")
    return int(match.group(1))


def normwise(got, want):
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--num-blocks", type=int, default=0)
    parser.add_argument("--attnres-run", default=os.path.join(BIN,
                                                              "attnres-run"))
    parser.add_argument("--attnres-opt", default=os.path.join(BIN,
                                                              "attnres-opt"))
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--min-mean-square", type=float, default=None)
    parser.add_argument("--pseudo-queries", default=None)
    parser.add_argument("--oracle", default=None)
    parser.add_argument("--input-shape", action="append", default=[],
                        metavar="NAME=DIMS",
                        help="the shape of the random input NAME (a model "
                        "with dynamic dims is compiled with them dynamic; "
                        "default 1 for each dynamic dim)")
    parser.add_argument("--against-unsplit", action="store_true",
                        help="also lower with attnres-cpu-pipeline"
                        "{two-phase=false} and compare the default (two-phase,"
                        " fused) result with it at the same tolerance")
    opts = parser.parse_args()
    if bool(opts.pseudo_queries) != bool(opts.oracle):
        sys.exit("compare_rewrite: --pseudo-queries and --oracle go together")

    layers = stream_layers(opts.attnres_opt, opts.model)
    sizes = block_sizes(layers, opts.num_blocks)
    counts = source_counts(sizes)
    model = onnx.load(opts.model)
    # Norms of one input are one reader of the stream: the importer merges
    # identical ones (a parallel layer whose two norms have equal weights).
    readers = []
    for set_eps, eps, source in norm_epsilons(model):
        if source is not None and readers and readers[-1][0] == source:
            readers[-1][1].append((set_eps, eps))
        else:
            readers.append((source, [(set_eps, eps)]))
    if len(readers) != layers + 1:
        sys.exit(f"compare_rewrite: found {len(readers)} norms in the ONNX "
                 f"graph, the stream has {layers} layers and a final norm")
    bound = 0.0
    for (_, norms), count in zip(readers, counts):
        for set_eps, eps in norms:
            if not opts.oracle:
                set_eps(eps * count * count)
        bound += (count * count - 1) * norms[0][1] / 2

    with tempfile.TemporaryDirectory() as tmp:
        scaled_path = opts.oracle or os.path.join(tmp, "scaled.onnx")
        if not opts.oracle:
            onnx.save(model, scaled_path)
        feeds = compare_ort.random_inputs(
            opts.model, compare_ort.parse_shapes(opts.input_shape))
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, **feeds)
        import onnxruntime
        quiet = onnxruntime.SessionOptions()
        quiet.log_severity_level = 3  # the replaced epsilons stay unused
        session = onnxruntime.InferenceSession(scaled_path, quiet)
        names = [o.name for o in session.get_outputs()]
        exact = session.run(None, feeds)
        original = onnxruntime.InferenceSession(opts.model, quiet).run(
            None, feeds)
        queries = (f" pseudo-queries={opts.pseudo_queries}"
                   if opts.pseudo_queries else "")

        def run_attnres(lowering, tag):
            outputs = os.path.join(tmp, f"outputs_{tag}.npz")
            pipeline = (f"builtin.module(attnres-raise-norms,"
                        f"attnres-residual-to-block{{num-blocks="
                        f"{opts.num_blocks}{queries}}},{lowering})")
            run = subprocess.run([opts.attnres_run, opts.model, "--inputs",
                                  inputs, "--outputs", outputs, "--pipeline",
                                  pipeline], capture_output=True, text=True)
            if run.returncode:
                sys.stderr.write(run.stderr)
                sys.exit(f"compare_rewrite: attnres-run failed with status "
                         f"{run.returncode}")
            results = dict(np.load(outputs))
            missing = [n for n in names if n not in results]
            if missing:
                sys.exit(f"compare_rewrite: attnres-run did not write "
                         f"{missing}")
            return [results[n] for n in names]

        # The default lowering: two-phase split and fused norms.
        got = run_attnres("attnres-cpu-pipeline", "default")
        unsplit = (run_attnres("attnres-cpu-pipeline{two-phase=false}",
                               "unsplit") if opts.against_unsplit else None)

    ok = True
    print(f"{layers} layers, blocks {sizes}, sources per aggregation {counts}")
    for name, g, w, o in zip(names, got, exact, original):
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        err = np.abs(g64 - w64)
        within = bool(np.all(err <= opts.atol + opts.rtol * np.abs(w64)))
        what = ("on the Block AttnRes model" if opts.oracle
                else "epsilons scaled by c^2")
        print(f"{name}: vs onnxruntime, {what}: "
              f"max_abs_err={err.max():.3g} (atol={opts.atol:g}, "
              f"rtol={opts.rtol:g}) {'OK' if within else 'FAIL'}")
        distance = normwise(g64, o.astype(np.float64))
        line = (f"{name}: vs onnxruntime, unmodified model: normwise "
                f"relative distance {distance:.3g}")
        if opts.min_mean_square and not opts.oracle:
            limit = bound / opts.min_mean_square
            within_bound = distance <= limit
            line += (f" (bound {limit:.3g}) "
                     f"{'OK' if within_bound else 'FAIL'}")
            ok &= within_bound
        print(line)
        ok &= within
    for name, g, u in zip(names, got, unsplit or []):
        g64, u64 = g.astype(np.float64), u.astype(np.float64)
        err = np.abs(g64 - u64)
        within = bool(np.all(err <= opts.atol + opts.rtol * np.abs(u64)))
        print(f"{name}: two-phase and fused vs unsplit: max_abs_err="
              f"{err.max():.3g} {'OK' if within else 'FAIL'}")
        ok &= within
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
