"""ONNX Runtime f32 inference time on one thread, median of N runs: the peer for bench/engine.sh.

MODEL_DIR holds model.onnx and either input.json ({"inputs": ...}) or cases.json
({"cases": [{"inputs": ...}, ...]}; the first case is timed). Each input is fed in the type
the graph declares (int64 token ids, float features, ...).

Usage: python bench/ort.py MODEL_DIR [ITERATIONS]
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(os.path.join(d, "model.onnx"), opts, providers=["CPUExecutionProvider"])
if os.path.exists(os.path.join(d, "input.json")):
    inputs = json.load(open(os.path.join(d, "input.json")))["inputs"]
else:
    inputs = json.load(open(os.path.join(d, "cases.json")))["cases"][0]["inputs"]
feeds = {
    i.name: np.asarray(
        [np.nan if x is None else x for x in inputs[i.name]["data"]], dtype=np.float64
    )
    .astype(TYPES[i.type])
    .reshape(inputs[i.name]["shape"])
    for i in sess.get_inputs()
}
sess.run(None, feeds)
ts = []
for _ in range(n):
    s = time.perf_counter()
    sess.run(None, feeds)
    ts.append((time.perf_counter() - s) * 1e3)
ts.sort()
print(json.dumps({"model": os.path.basename(d.rstrip("/")), "ort_version": ort.__version__, "ort_ms": ts[n // 2]}))
