"""EZKL on one operator of a model: the peer measurement for the leaf-proof benchmark.

Cuts the named ONNX node out of the model as a one-operator graph, feeds it the tensor
the full model really produces at that point (ONNX Runtime on testdata/<model>/input.json),
and runs EZKL's pipeline with a locally generated SRS: settings, calibration, compile,
SRS, witness, key setup, prove, verify. Prints one JSON object with every phase's time,
the circuit size EZKL chose and the process's peak RSS.

Visibility mirrors what our step circuit proves: the operator's input and output are
Poseidon-hashed public commitments, the weights are fixed in the circuit.

Usage: python bench/ezkl_op.py MODEL NODE_NAME [--workdir DIR] [--input FILE]
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import ezkl
import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort


def intermediate_inputs(model_path, node, data):
    """The values of `node`'s dynamic inputs when the full model runs on `data`."""
    model = onnx.load(model_path)
    inits = {i.name for i in model.graph.initializer}
    names = [n for n in node.input if n and n not in inits]
    graph_inputs = {i.name for i in model.graph.input}
    extra = [n for n in names if n not in graph_inputs]
    if extra:
        inferred = onnx.shape_inference.infer_shapes(model)
        infos = {v.name: v for v in inferred.graph.value_info}
        for n in extra:
            model.graph.output.append(infos[n])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts)
    elem = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    dtype = lambda k: onnx.helper.tensor_dtype_to_np_dtype(elem.get(k, onnx.TensorProto.FLOAT))  # noqa: E731
    feeds = {k: np.asarray(v["data"], dtype=dtype(k)).reshape(v["shape"]) for k, v in data.items()}
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    outs.update(feeds)
    return names, [outs[n] for n in names]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("node")
    ap.add_argument("--workdir")
    ap.add_argument("--scale", type=int, default=7, help="EZKL input/param scale (bits)")
    ap.add_argument("--input", help="tensor JSON of the model's inputs (default testdata/MODEL/input.json)")
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(__file__), "..")
    model_path = os.path.join(root, "testdata", a.model, "model.onnx")
    data = json.load(open(a.input or os.path.join(root, "testdata", a.model, "input.json")))["inputs"]
    work = a.workdir or tempfile.mkdtemp(prefix=f"ezkl-{a.model}-")
    os.makedirs(work, exist_ok=True)
    p = lambda n: os.path.join(work, n)  # noqa: E731

    model = onnx.load(model_path)
    node = next((n for n in model.graph.node if n.name == a.node), None)
    if node is None:
        sys.exit(f"error: no node named {a.node!r} in {model_path}")
    in_names, in_values = intermediate_inputs(model_path, node, data)
    onnx.utils.extract_model(model_path, p("op.onnx"), in_names, list(node.output))
    json.dump({"input_data": [v.reshape(-1).tolist() for v in in_values]}, open(p("input.json"), "w"))

    t = {}

    def timed(name, f, *args, **kw):
        s = time.perf_counter()
        r = f(*args, **kw)
        t[name] = round(time.perf_counter() - s, 3)
        if r is False:
            sys.exit(f"error: ezkl {name} failed")
        return r

    args = ezkl.PyRunArgs()
    args.input_visibility = "hashed"
    args.output_visibility = "hashed"
    args.param_visibility = "fixed"
    args.input_scale = a.scale
    args.param_scale = a.scale
    timed("gen_settings", ezkl.gen_settings, p("op.onnx"), p("settings.json"), py_run_args=args)
    timed("calibrate", ezkl.calibrate_settings, p("input.json"), p("op.onnx"), p("settings.json"),
          "resources", scales=[a.scale])
    timed("compile", ezkl.compile_circuit, p("op.onnx"), p("op.ezkl"), p("settings.json"))
    settings = json.load(open(p("settings.json")))
    logrows = settings["run_args"]["logrows"]
    timed("gen_srs", ezkl.gen_srs, p("kzg.srs"), logrows)
    timed("gen_witness", ezkl.gen_witness, p("input.json"), p("op.ezkl"), p("witness.json"))
    timed("setup", ezkl.setup, p("op.ezkl"), p("vk.key"), p("pk.key"), p("kzg.srs"))
    timed("prove", ezkl.prove, p("witness.json"), p("op.ezkl"), p("pk.key"), p("proof.json"), p("kzg.srs"))
    timed("verify", ezkl.verify, p("proof.json"), p("settings.json"), p("vk.key"), p("kzg.srs"))
    print(json.dumps({
        "model": a.model,
        "node": a.node,
        "op": node.op_type,
        "ezkl": ezkl.__version__,
        "logrows": logrows,
        "num_rows": settings.get("num_rows"),
        "total_assignments": settings.get("total_assignments"),
        "scale": a.scale,
        "times_s": t,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "workdir": work,
    }))


if __name__ == "__main__":
    main()
