#!/usr/bin/env python3
"""Prints what attnres-convert changed in a model, for FileCheck:

    describe_edit.py ORIGINAL.onnx CONVERTED.onnx

The original's nodes are matched by their outputs: a node is `kept` when it
is byte-identical, `rewired` when only its inputs changed (the norms now
read the aggregations), `edited` when an attribute changed (a norm's
epsilon), `removed` when it is gone. Initializers, metadata, the producer
and the opsets are compared the same way.
"""
import sys

import onnx


def main(original_path, converted_path):
    a = onnx.load(original_path, load_external_data=False)
    b = onnx.load(converted_path, load_external_data=False)
    by_output = {tuple(n.output): n for n in b.graph.node}
    counts = {"kept": 0, "rewired": 0, "edited": 0, "removed": 0}
    removed = []
    for node in a.graph.node:
        new = by_output.get(tuple(node.output))
        if new is None:
            counts["removed"] += 1
            removed.append(node.op_type)
        elif new == node:
            counts["kept"] += 1
        else:
            stripped_old, stripped_new = onnx.NodeProto(), onnx.NodeProto()
            stripped_old.CopyFrom(node)
            stripped_new.CopyFrom(new)
            del stripped_old.input[:]
            del stripped_new.input[:]
            counts["rewired" if stripped_old == stripped_new else
                   "edited"] += 1
    print("nodes: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("removed ops: " + ", ".join(sorted(set(removed))))
    old_names = {n.name for n in a.graph.node}
    added = [n for n in b.graph.node
             if tuple(n.output) not in {tuple(m.output) for m in
                                        a.graph.node}]
    calls = [n for n in added if n.domain == "ai.attnres"]
    print(f"added: {len(added)} nodes, {len(calls)} calls: "
          + " ".join(f"{n.op_type}({len(n.input)})" for n in calls))
    print("added names clash with the original's: "
          + str(any(n.name in old_names for n in added)))
    inits = {t.name: t for t in b.graph.initializer}
    same = sum(1 for t in a.graph.initializer if inits.get(t.name) == t)
    print(f"initializers: {same} of {len(a.graph.initializer)} unchanged, "
          f"{len(b.graph.initializer) - len(a.graph.initializer)} added: "
          + " ".join(sorted({t.name.rsplit('.', 1)[0] for t in
                             b.graph.initializer
                             if t.name not in {u.name for u in
                                               a.graph.initializer}})))
    print(f"graph inputs/outputs unchanged: "
          f"{list(a.graph.input) == list(b.graph.input)}/"
          f"{list(a.graph.output) == list(b.graph.output)}")
    print(f"metadata unchanged: "
          f"{list(a.metadata_props) == list(b.metadata_props)}, producer "
          f"{b.producer_name!r} {b.producer_version!r} unchanged: "
          f"{(a.producer_name, a.producer_version) == (b.producer_name, b.producer_version)}")
    print("opsets: " + ", ".join(f"{o.domain or 'ai.onnx'} {o.version}"
                                 for o in b.opset_import))
    for f in b.functions:
        print(f"function {f.domain}.{f.name}: inputs "
              f"{list(f.input)} outputs {list(f.output)} attributes "
              f"{list(f.attribute)} opset "
              + ", ".join(f"{o.domain or 'ai.onnx'} {o.version}"
                          for o in f.opset_import))


if __name__ == "__main__":
    main(*sys.argv[1:])
