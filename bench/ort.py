"""ONNX Runtime f32 inference time on one thread, median of N runs: the peer for bench/engine.sh.

Usage: python bench/ort.py MODEL_DIR [ITERATIONS]
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(os.path.join(d, "model.onnx"), opts, providers=["CPUExecutionProvider"])
inputs = json.load(open(os.path.join(d, "input.json")))["inputs"]
feeds = {k: np.asarray(v["data"], dtype=np.float32).reshape(v["shape"]) for k, v in inputs.items()}
sess.run(None, feeds)
ts = []
for _ in range(n):
    s = time.perf_counter()
    sess.run(None, feeds)
    ts.append((time.perf_counter() - s) * 1e3)
ts.sort()
print(json.dumps({"model": os.path.basename(d.rstrip("/")), "ort_version": ort.__version__, "ort_ms": ts[n // 2]}))
