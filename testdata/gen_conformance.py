#!/usr/bin/env python3
"""Write the ONNX backend *node* conformance tests (built in memory by onnx==1.23.2)
to disk in the classic layout:

    <out>/<case>/model.onnx
    <out>/<case>/test_data_set_0/input_0.pb ... output_0.pb ...

Usage:
    .venv/bin/python testdata/gen_conformance.py                       # all cases
    .venv/bin/python testdata/gen_conformance.py --ops Gemm,Relu,Conv  # filter
    .venv/bin/python testdata/gen_conformance.py --ops Gemm --any --list

--ops keeps a case when every op type its graph uses (subgraphs included, default
domain and ai.onnx only) is in the list; with --any, when at least one is.  The
output folder (default testdata/conformance/) is git-ignored: regenerate, never commit.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings

import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests

HERE = os.path.dirname(os.path.abspath(__file__))


def graph_op_types(graph: onnx.GraphProto) -> set[str]:
    ops: set[str] = set()
    for node in graph.node:
        dom = node.domain or ""
        ops.add(node.op_type if dom in ("", "ai.onnx") else f"{dom}.{node.op_type}")
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                ops |= graph_op_types(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    ops |= graph_op_types(g)
    return ops


def value_to_proto(value, vi: onnx.ValueInfoProto) -> bytes:
    t = vi.type
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, vi.name).SerializeToString()
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, vi.name).SerializeToString()
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, vi.name).SerializeToString()
    if isinstance(value, onnx.TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, vi.name).SerializeToString()


def write_case(case, out_dir: str) -> None:
    d = os.path.join(out_dir, case.name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    for i, (inputs, outputs) in enumerate(case.data_sets or []):
        ds = os.path.join(d, f"test_data_set_{i}")
        os.makedirs(ds)
        for j, v in enumerate(inputs):
            with open(os.path.join(ds, f"input_{j}.pb"), "wb") as f:
                f.write(value_to_proto(v, case.model.graph.input[j]))
        for j, v in enumerate(outputs):
            with open(os.path.join(ds, f"output_{j}.pb"), "wb") as f:
                f.write(value_to_proto(v, case.model.graph.output[j]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(HERE, "conformance"), help="output dir (default: testdata/conformance)")
    ap.add_argument("--ops", default="", help="comma-separated op types, e.g. Gemm,Relu,Conv")
    ap.add_argument("--any", action="store_true", help="keep cases using at least one of --ops (default: only those ops)")
    ap.add_argument("--list", action="store_true", help="print the selected case names and their ops; write nothing")
    ap.add_argument("--clean", action="store_true", help="empty the output dir first")
    args = ap.parse_args()

    wanted = {o.strip() for o in args.ops.split(",") if o.strip()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some case builders divide by zero on purpose
        cases = sorted(load_model_tests(kind="node"), key=lambda c: c.name)
    selected = []
    for case in cases:
        if case.model is None:
            continue
        ops = graph_op_types(case.model.graph)
        if wanted:
            if args.any and not (ops & wanted):
                continue
            if not args.any and not ops <= wanted:
                continue
        selected.append((case, ops))

    if args.list:
        for case, ops in selected:
            print(f"{case.name}\t{','.join(sorted(ops))}")
    else:
        if args.clean and os.path.exists(args.out):
            shutil.rmtree(args.out)
        os.makedirs(args.out, exist_ok=True)
        for case, _ in selected:
            write_case(case, args.out)
    all_ops = set().union(*(o for _, o in selected)) if selected else set()
    print(
        f"onnx {onnx.__version__}: {len(selected)} of {len(cases)} node cases, {len(all_ops)} op types"
        + ("" if args.list else f" -> {args.out}"),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
