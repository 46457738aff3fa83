#!/usr/bin/env python3
"""Which nodes of a model does the engine support?  One-node probes through `zkopml run`.

    .venv/bin/python testdata/probe_nodes.py [--bin target/debug/zkopml] DIR [DIR ...]

Each DIR holds model.onnx + input.json (e.g. testdata/bert_tiny).  `zkopml run` stops
at the first unsupported node; this runs every node on its own instead.  The model is
evaluated once in ONNX Runtime with every intermediate tensor exposed; then each distinct
node signature (op type, attributes, input shapes/dtypes, which inputs are constant) is
cut out as a one-node model: constant inputs (initializers, Constant outputs and outputs
of all-constant nodes) stay initializers, the others become graph inputs fed with the
real intermediate values, and ORT's value of the node's output is the --reference.
Prints one line per signature:

    OK|ERR  C?  op  models  input shapes  attrs :: engine's fidelity or error line

`C` marks nodes whose inputs are all constant (foldable at import).  Outputs that are
bool or non-finite get no reference (the probe then only checks that the node runs).
Needs onnx + onnxruntime + numpy only (the main .venv).  Writes probes to a temp dir.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_models import dump_json, tensor_json  # noqa: E402


def all_values(m: onnx.ModelProto, feeds: dict) -> dict:
    """Every tensor of the graph for these feeds (ORT, no graph optimisations)."""
    inferred = onnx.shape_inference.infer_shapes(m)
    vi = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    names = [o for n in m.graph.node for o in n.output if o]
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    del m2.graph.output[:]
    m2.graph.output.extend([vi.get(o) or helper.make_empty_tensor_value_info(o) for o in names])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(m2.SerializeToString(), so, providers=["CPUExecutionProvider"])
    vals = dict(zip(names, sess.run(names, feeds)))
    vals.update(feeds)
    for t in m.graph.initializer:
        vals[t.name] = numpy_helper.to_array(t)
    return vals


def load_feeds(m: onnx.ModelProto, path: str) -> dict:
    inp = json.load(open(path))["inputs"]
    types = {i.name: i.type.tensor_type.elem_type for i in m.graph.input}
    return {
        k: np.array(v["data"], dtype=helper.tensor_dtype_to_np_dtype(types[k])).reshape(v["shape"])
        for k, v in inp.items()
    }


def probe(dirs: list[str], binary: str, work: str) -> list[dict]:
    results: dict[tuple, dict] = {}
    for d in dirs:
        name = os.path.basename(os.path.normpath(d))
        m = onnx.load(os.path.join(d, "model.onnx"))
        opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        vals = all_values(m, load_feeds(m, os.path.join(d, "input.json")))
        const = {t.name for t in m.graph.initializer}
        for n in m.graph.node:
            constonly = all(i == "" or i in const for i in n.input)
            if constonly:
                const.update(n.output)
            if n.op_type == "Constant":
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            shapes = [(tuple(np.shape(vals[i])), str(np.asarray(vals[i]).dtype), i in const) if i else None for i in n.input]
            sig = (n.domain, n.op_type, repr(sorted(attrs.items())), tuple(shapes))
            if sig in results:
                results[sig]["models"].add(name)
                continue
            case = os.path.join(work, f"case{len(results)}")
            os.makedirs(case)
            ins, inits, feeds, new_in = [], [], {}, []
            for j, i in enumerate(n.input):
                if not i:
                    new_in.append("")
                    continue
                a = np.asarray(vals[i])
                if i in const:
                    inits.append(numpy_helper.from_array(a, f"c{j}"))
                    new_in.append(f"c{j}")
                else:
                    ins.append(helper.make_tensor_value_info(f"x{j}", helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
                    feeds[f"x{j}"] = a
                    new_in.append(f"x{j}")
            outs, refs = [], {}
            for j, o in enumerate(n.output):
                a = np.asarray(vals[o])
                outs.append(helper.make_tensor_value_info(f"y{j}", helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
                if a.dtype in (np.float32, np.int64) and np.all(np.isfinite(a)):
                    refs[f"y{j}"] = tensor_json(a)
            node = helper.make_node(n.op_type, new_in, [f"y{j}" for j in range(len(n.output))], name=n.name, domain=n.domain, **attrs)
            g = helper.make_graph([node], "probe", ins, outs, inits)
            mm = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=m.ir_version)
            onnx.save(mm, os.path.join(case, "model.onnx"))
            dump_json(os.path.join(case, "input.json"), {"inputs": {k: tensor_json(v) for k, v in feeds.items()}})
            cmd = [binary, "run", "--model", os.path.join(case, "model.onnx"), "--input", os.path.join(case, "input.json")]
            if len(refs) == len(n.output):
                dump_json(os.path.join(case, "ref.json"), {"outputs": refs})
                cmd += ["--reference", os.path.join(case, "ref.json")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            lines = (r.stdout + r.stderr).strip().splitlines()
            msg = next((x for x in lines if x.startswith("error") or x.startswith("fidelity")), None)
            if msg is None:
                msg = "ran (no float reference): " + (lines[0] if lines else "")
            results[sig] = {
                "op": n.op_type if not n.domain else f"{n.domain}::{n.op_type}",
                "node": n.name,
                "ok": r.returncode == 0,
                "constonly": constonly,
                "models": {name},
                "shapes": [s[0] if s else None for s in shapes],
                "attrs": {k: v for k, v in attrs.items() if not isinstance(v, onnx.TensorProto)},
                "msg": msg,
            }
    return list(results.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="model dirs with model.onnx + input.json")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "debug", "zkopml"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        res = probe(args.dirs, args.bin, work)
    for r in res:
        print(
            f"{'OK ' if r['ok'] else 'ERR'} {'C' if r['constonly'] else ' '} {r['op']:18s} "
            f"{','.join(sorted(r['models'])):30s} {r['shapes']} {r['attrs']} :: {r['msg']}"
        )
    bad = sorted({r["op"] for r in res if not r["ok"]})
    print(f"{sum(r['ok'] for r in res)}/{len(res)} node signatures run; failing op types: {', '.join(bad) or '-'}")


if __name__ == "__main__":
    main()
