#!/usr/bin/env python3
"""Generate the small ONNX test models, inputs and ONNX Runtime reference outputs.

Run from anywhere:  .venv/bin/python testdata/gen_models.py [--out DIR] [--only a,b] [--check]

Everything is derived from fixed seeds with IEEE-exact numpy operations only
(uniform draws, + - * / sqrt, no exp/sin/log, no BLAS in anything that ends up in
a model or an input), so model.onnx and input.json are byte-identical on every
machine with the pinned package versions.  The *reference outputs* come from
ONNX Runtime (single thread, graph optimisations disabled) and are only
guaranteed byte-identical on the same CPU kind; elsewhere they may move by an
ulp or so.  The one calibration step that depends on ORT numerics (per-layer gain
and last-bias centring, see calibrate()) snaps its results to coarse grids so that
ulp-level noise cannot leak into the model bytes.

Layout per model <name>:
  <name>/model.onnx     opset 13, IR 7, float32, batch 1
  <name>/input.json     {"inputs":  {name: {"shape": [...], "data": [...]}}}
  <name>/output.json    {"outputs": {name: {"shape": [...], "data": [...]}}}
  <name>/fidelity.json  {"cases": [{"inputs": {...}, "outputs": {...}}, ...]}  (100 cases)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 7
PRODUCER = "zkopml-testdata"
PRODUCER_VERSION = "1"
N_FIDELITY = 100
N_CALIB = 256
CALIB_GRID = 2.0**-12  # the calibrated logit mean is rounded to this grid
TARGET_LOGIT_STD = 3.0  # logits end up O(1)..O(10)

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def kaiming_uniform(rng: np.random.Generator, shape, fan_in: int) -> np.ndarray:
    """He/Kaiming-uniform for ReLU nets: U(-sqrt(6/fan_in), +sqrt(6/fan_in))."""
    bound = math.sqrt(6.0 / fan_in)
    return f32(rng.uniform(-bound, bound, size=shape))


def small_bias(rng: np.random.Generator, n: int, fan_in: int) -> np.ndarray:
    """torch's default bias init: U(-1/sqrt(fan_in), +1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return f32(rng.uniform(-bound, bound, size=(n,)))


def snap(a: np.ndarray, grid: float = CALIB_GRID) -> np.ndarray:
    return f32(np.round(np.asarray(a, dtype=np.float64) / grid) * grid)


class GraphBuilder:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count: dict[str, int] = {}

    def init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        k = self._count.get(op, 0)
        self._count[op] = k + 1
        nname = f"{op.lower()}_{k}"
        out = out or f"{nname}_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=nname, **attrs))
        return out

    def add_input(self, name: str, shape, elem=TensorProto.FLOAT):
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))

    def add_output(self, name: str, shape, elem=TensorProto.FLOAT):
        self.outputs.append(helper.make_tensor_value_info(name, elem, list(shape)))

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name=PRODUCER,
            producer_version=PRODUCER_VERSION,
        )
        del m.metadata_props[:]
        for n in m.graph.node:
            del n.metadata_props[:]
        onnx.checker.check_model(m, full_check=True)
        return m


def ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"]
    )


def run_ort(sess: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, feeds)
    return dict(zip(names, outs))


def tensor_json(a: np.ndarray) -> dict:
    a = np.asarray(a)
    if a.dtype == np.float32:
        if not np.all(np.isfinite(a)):
            raise ValueError("non-finite value in test data")
        # float(f32) is exact in f64; Python's repr is the shortest string that
        # round-trips the f64, hence also exactly the f32.
        data = [float(v) for v in a.reshape(-1).tolist()]
    elif a.dtype == np.int64:
        data = [int(v) for v in a.reshape(-1).tolist()]
    else:
        raise TypeError(f"unsupported dtype {a.dtype}")
    return {"shape": [int(d) for d in a.shape], "data": data}


def dump_json(path: str, obj) -> None:
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(json.dumps(obj, separators=(",", ":"), allow_nan=False))
        f.write("\n")


# --------------------------------------------------------------------------------------
# synthetic inputs (IEEE-exact arithmetic only, pixel values k/256 in [0, 1))
# --------------------------------------------------------------------------------------


def quantize_pixels(img: np.ndarray) -> np.ndarray:
    """[0,1] float64 -> k/256, k in 0..255: exact in f32, short decimal repr."""
    k = np.floor(np.clip(img, 0.0, 1.0) * 256.0)
    k = np.minimum(k, 255.0)
    return f32(k / 256.0)


def digit_like(rng: np.random.Generator, h: int = 28, w: int = 28) -> np.ndarray:
    """A handwritten-stroke-ish grey image: 1-3 quadratic Bezier strokes, soft brush."""
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    img = np.zeros((h, w), dtype=np.float64)
    t = np.linspace(0.0, 1.0, 24)
    for _ in range(int(rng.integers(1, 4))):
        p = rng.uniform(4.0, h - 5.0, size=(3, 2))  # control points (y, x), centred box
        radius = rng.uniform(1.2, 2.4)
        intensity = rng.uniform(0.7, 1.0)
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
        cy = a * p[0, 0] + b * p[1, 0] + c * p[2, 0]
        cx = a * p[0, 1] + b * p[1, 1] + c * p[2, 1]
        d2 = np.full((h, w), np.inf)
        for py, px in zip(cy, cx):
            d2 = np.minimum(d2, (yy - py) ** 2 + (xx - px) ** 2)
        stroke = np.maximum(0.0, 1.0 - d2 / (radius * radius)) * intensity
        img = np.maximum(img, stroke)
    return quantize_pixels(img)


def cifar_like(rng: np.random.Generator, h: int = 32, w: int = 32) -> np.ndarray:
    """A 3-channel image: dark background with 1-3 coloured, shaded ellipses/rectangles."""
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    img = np.zeros((3, h, w), dtype=np.float64)
    for _ in range(int(rng.integers(1, 4))):
        color = rng.uniform(0.1, 1.0, size=3)
        cy, cx = rng.uniform(4.0, h - 4.0), rng.uniform(4.0, w - 4.0)
        ry, rx = rng.uniform(3.0, 10.0), rng.uniform(3.0, 10.0)
        if rng.random() < 0.5:
            r2 = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
            mask = r2 <= 1.0
            shade = 1.0 - 0.4 * r2  # brighter in the middle
        else:
            mask = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
            shade = 0.7 + 0.3 * (yy - (cy - ry)) / (2 * ry)  # vertical gradient
        for ch in range(3):
            img[ch] = np.where(mask, color[ch] * shade, img[ch])
    return quantize_pixels(img)


def tabular(rng: np.random.Generator, n_features: int) -> np.ndarray:
    return f32(rng.random(n_features, dtype=np.float32))


# --------------------------------------------------------------------------------------
# last-layer calibration (data-dependent init: centre and scale the logits)
# --------------------------------------------------------------------------------------


def calibrate(build, params: dict, layers: list[tuple[str, str]], make_input, seed: int):
    """Data-dependent init so the logits are O(1)..O(10) and spread over the classes.

    The nets are chains of Conv/Gemm + Relu/MaxPool/Flatten/Reshape, i.e. positively
    homogeneous: multiplying layer i's weight by a and its bias by a**i scales the
    logits by a**L exactly.  We pick a so that the logits over a calibration set have
    std ~TARGET_LOGIT_STD (spreading the gain evenly instead of blowing up one layer)
    and then subtract the per-class mean logit in the last bias (so no class
    dominates).  `a` is snapped to 1/64 and the mean to 2^-12, so ORT's ulp-level
    noise cannot change the model bytes; all other arithmetic is exact-rounded f64.
    Returns (params, a)."""
    rng = np.random.default_rng(seed)
    calib = [make_input(rng) for _ in range(N_CALIB)]
    sess = ort_session(build(params))
    in_name = sess.get_inputs()[0].name
    z = np.stack([run_ort(sess, {in_name: x})["output"].reshape(-1) for x in calib]).astype(np.float64)
    mean = z.mean(axis=0)
    std = (z - mean).std()
    n = len(layers)
    a = round((TARGET_LOGIT_STD / std) ** (1.0 / n) * 64.0) / 64.0
    params = dict(params)
    for i, (wk, bk) in enumerate(layers, start=1):
        params[wk] = f32(params[wk].astype(np.float64) * a)
        params[bk] = f32(params[bk].astype(np.float64) * a**i)
    last_b = layers[-1][1]
    params[last_b] = f32(params[last_b].astype(np.float64) - snap(mean * a**n).astype(np.float64))
    return params, a


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


def build_dnn(p: dict) -> onnx.ModelProto:
    g = GraphBuilder("dnn")
    g.add_input("input", [1, 784])
    for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
        g.init(k, p[k])
    h = g.node("Gemm", ["input", "fc1.weight", "fc1.bias"], transB=1)
    h = g.node("Relu", [h])
    g.node("Gemm", [h, "fc2.weight", "fc2.bias"], out="output", transB=1)
    g.add_output("output", [1, 10])
    return g.model()


def make_dnn():
    rng = np.random.default_rng(1001)
    p = {
        "fc1.weight": kaiming_uniform(rng, (32, 784), 784),
        "fc1.bias": small_bias(rng, 32, 784),
        "fc2.weight": kaiming_uniform(rng, (10, 32), 32),
        "fc2.bias": small_bias(rng, 10, 32),
    }
    mk = lambda r: digit_like(r).reshape(1, 784)  # noqa: E731
    p, scale = calibrate(build_dnn, p, [("fc1.weight", "fc1.bias"), ("fc2.weight", "fc2.bias")], mk, 2001)
    return build_dnn(p), mk, scale


def build_variable_cnn(p: dict) -> onnx.ModelProto:
    g = GraphBuilder("variable_cnn")
    g.add_input("input", [1, 1, 28, 28])
    for k in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"):
        g.init(k, p[k])
    g.init("flatten_shape", np.array([1, -1], dtype=np.int64))
    h = g.node("Conv", ["input", "conv1.weight", "conv1.bias"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    h = g.node("Relu", [h])
    h = g.node("Conv", [h, "conv2.weight", "conv2.bias"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    h = g.node("Relu", [h])
    h = g.node("Reshape", [h, "flatten_shape"])
    g.node("Gemm", [h, "fc.weight", "fc.bias"], out="output", transB=1)
    g.add_output("output", [1, 10])
    return g.model()


def make_variable_cnn():
    rng = np.random.default_rng(1002)
    p = {
        "conv1.weight": kaiming_uniform(rng, (4, 1, 3, 3), 1 * 9),
        "conv1.bias": small_bias(rng, 4, 1 * 9),
        "conv2.weight": kaiming_uniform(rng, (8, 4, 3, 3), 4 * 9),
        "conv2.bias": small_bias(rng, 8, 4 * 9),
        "fc.weight": kaiming_uniform(rng, (10, 8 * 14 * 14), 8 * 14 * 14),
        "fc.bias": small_bias(rng, 10, 8 * 14 * 14),
    }
    mk = lambda r: digit_like(r).reshape(1, 1, 28, 28)  # noqa: E731
    p, scale = calibrate(build_variable_cnn, p, [("conv1.weight", "conv1.bias"), ("conv2.weight", "conv2.bias"), ("fc.weight", "fc.bias")], mk, 2002)
    return build_variable_cnn(p), mk, scale


def build_lenet5(p: dict) -> onnx.ModelProto:
    g = GraphBuilder("lenet5")
    g.add_input("input", [1, 1, 28, 28])
    for k in sorted(p):
        g.init(k, p[k])
    h = g.node("Conv", ["input", "conv1.weight", "conv1.bias"], kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[1, 1])
    h = g.node("Relu", [h])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Conv", [h, "conv2.weight", "conv2.bias"], kernel_shape=[5, 5], pads=[0, 0, 0, 0], strides=[1, 1])
    h = g.node("Relu", [h])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Flatten", [h], axis=1)
    h = g.node("Gemm", [h, "fc1.weight", "fc1.bias"], transB=1)
    h = g.node("Relu", [h])
    h = g.node("Gemm", [h, "fc2.weight", "fc2.bias"], transB=1)
    h = g.node("Relu", [h])
    g.node("Gemm", [h, "fc3.weight", "fc3.bias"], out="output", transB=1)
    g.add_output("output", [1, 10])
    return g.model()


def make_lenet5():
    rng = np.random.default_rng(1003)
    p = {
        "conv1.weight": kaiming_uniform(rng, (6, 1, 5, 5), 25),
        "conv1.bias": small_bias(rng, 6, 25),
        "conv2.weight": kaiming_uniform(rng, (16, 6, 5, 5), 150),
        "conv2.bias": small_bias(rng, 16, 150),
        "fc1.weight": kaiming_uniform(rng, (120, 400), 400),
        "fc1.bias": small_bias(rng, 120, 400),
        "fc2.weight": kaiming_uniform(rng, (84, 120), 120),
        "fc2.bias": small_bias(rng, 84, 120),
        "fc3.weight": kaiming_uniform(rng, (10, 84), 84),
        "fc3.bias": small_bias(rng, 10, 84),
    }
    mk = lambda r: digit_like(r).reshape(1, 1, 28, 28)  # noqa: E731
    layers = [("conv1.weight", "conv1.bias"), ("conv2.weight", "conv2.bias")] + [(f"fc{i}.weight", f"fc{i}.bias") for i in (1, 2, 3)]
    p, scale = calibrate(build_lenet5, p, layers, mk, 2003)
    return build_lenet5(p), mk, scale


# conv2d: 5 blocks of (Conv-Relu-Conv-Relu-MaxPool) on 3x32x32 -> 16x1x1, then
# Flatten -> Gemm-Relu -> Gemm-Relu -> Gemm.  10 Conv, 12 Relu, 5 MaxPool, 3 Gemm, 1 Flatten.
CONV2D_CHANNELS = [(3, 4), (4, 4), (4, 8), (8, 8), (8, 8), (8, 8), (8, 16), (16, 16), (16, 16), (16, 16)]
CONV2D_FC = [(16, 32), (32, 16), (16, 10)]


def build_conv2d(p: dict) -> onnx.ModelProto:
    g = GraphBuilder("conv2d")
    g.add_input("input", [1, 3, 32, 32])
    for k in sorted(p):
        g.init(k, p[k])
    h = "input"
    for i in range(len(CONV2D_CHANNELS)):
        h = g.node("Conv", [h, f"conv{i + 1}.weight", f"conv{i + 1}.bias"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
        h = g.node("Relu", [h])
        if i % 2 == 1:
            h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Flatten", [h], axis=1)
    for i in range(len(CONV2D_FC)):
        last = i == len(CONV2D_FC) - 1
        h = g.node("Gemm", [h, f"fc{i + 1}.weight", f"fc{i + 1}.bias"], out="output" if last else None, transB=1)
        if not last:
            h = g.node("Relu", [h])
    g.add_output("output", [1, 10])
    return g.model()


def make_conv2d():
    rng = np.random.default_rng(1004)
    p = {}
    for i, (cin, cout) in enumerate(CONV2D_CHANNELS):
        p[f"conv{i + 1}.weight"] = kaiming_uniform(rng, (cout, cin, 3, 3), cin * 9)
        p[f"conv{i + 1}.bias"] = small_bias(rng, cout, cin * 9)
    for i, (fin, fout) in enumerate(CONV2D_FC):
        p[f"fc{i + 1}.weight"] = kaiming_uniform(rng, (fout, fin), fin)
        p[f"fc{i + 1}.bias"] = small_bias(rng, fout, fin)
    mk = lambda r: cifar_like(r).reshape(1, 3, 32, 32)  # noqa: E731
    layers = [(f"conv{i + 1}.weight", f"conv{i + 1}.bias") for i in range(len(CONV2D_CHANNELS))]
    layers += [(f"fc{i + 1}.weight", f"fc{i + 1}.bias") for i in range(len(CONV2D_FC))]
    p, scale = calibrate(build_conv2d, p, layers, mk, 2004)
    return build_conv2d(p), mk, scale


# xgboost: gradient-boosted trees (multi:softprob layout, num_class=2), 3 boosting rounds
# -> 6 complete trees of depth 2 over 4 features, tree t belongs to class t // ROUNDS.
# XGBoost split rule: go left iff x[f] < threshold.
XGB_FEATURES, XGB_CLASSES, XGB_ROUNDS, XGB_DEPTH = 4, 2, 3, 2
XGB_TREES = XGB_CLASSES * XGB_ROUNDS


def make_xgb_trees():
    rng = np.random.default_rng(1005)
    t = XGB_TREES
    # level-0 node per tree; level-1 nodes per tree: [left child, right child]
    f0 = rng.integers(0, XGB_FEATURES, size=t).astype(np.int64)
    th0 = f32(np.round(rng.uniform(0.3, 0.7, size=t) * 256) / 256)
    f1 = rng.integers(0, XGB_FEATURES, size=(t, 2)).astype(np.int64)
    th1 = f32(np.round(rng.uniform(0.2, 0.8, size=(t, 2)) * 256) / 256)
    # leaves per tree: [LL, LR, RL, RR]; xgboost-ish magnitudes (eta * weight)
    leaves = rng.uniform(-0.6, 0.6, size=(t, 4))
    leaves -= leaves.mean(axis=1, keepdims=True)  # zero-mean trees: both classes get predicted
    leaves = f32(np.round(leaves * 1024) / 1024)  # dyadic leaves: exact sums
    base = f32([0.5, 0.5])  # base_score, added to every class margin
    return dict(f0=f0, th0=th0, f1=f1, th1=th1, leaves=leaves, base=base)


def xgb_reference(tr: dict, x: np.ndarray) -> np.ndarray:
    """Plain per-tree walk in numpy (independent of the ONNX encoding)."""
    x = x.reshape(-1)
    margins = [np.float32(tr["base"][c]) for c in range(XGB_CLASSES)]
    for t in range(XGB_TREES):
        c = t // XGB_ROUNDS
        if x[tr["f0"][t]] < tr["th0"][t]:
            child = 0
        else:
            child = 1
        if x[tr["f1"][t, child]] < tr["th1"][t, child]:
            leaf = 2 * child + 0
        else:
            leaf = 2 * child + 1
        margins[c] = np.float32(margins[c] + tr["leaves"][t, leaf])
    return f32(margins).reshape(1, XGB_CLASSES)


def build_xgboost(tr: dict) -> onnx.ModelProto:
    """Vectorised over all trees, one level at a time.

    level 0: v0 = Gather(x, F0, axis=1)                      [1,T]
             r0 = Where(Less(v0, TH0), 0, 1)                 [1,T]  0 = left, 1 = right
    level 1: n1 = 2*tree_index + r0  (index into [T,2] nodes flattened)
             v1 = GatherElements(x, Gather(F1, n1), axis=1)  [1,T]
             r1 = Where(Less(v1, Gather(TH1, n1)), 0, 1)
    leaves:  l  = 2*n1 + r1           (index into [T,4] leaves flattened)
             s  = Gather(LEAVES, l)                          [1,T]
    sum:     Reshape(s, [1, C, ROUNDS]) -> ReduceSum(axis 2) -> Add(base) -> "output" [1,C]
    label:   ArgMax(output, axis 1, keepdims 0) -> "label" [1] int64
    """
    g = GraphBuilder("xgboost")
    g.add_input("input", [1, XGB_FEATURES])
    t = XGB_TREES
    g.init("tree.f0", tr["f0"])
    g.init("tree.th0", tr["th0"])
    g.init("tree.f1", tr["f1"].reshape(-1))
    g.init("tree.th1", tr["th1"].reshape(-1))
    g.init("tree.leaves", tr["leaves"].reshape(-1))
    g.init("tree.base", tr["base"])
    g.init("tree.node_base", (2 * np.arange(t, dtype=np.int64)).reshape(1, t))
    g.init("const.zero", np.array(0, dtype=np.int64))
    g.init("const.one", np.array(1, dtype=np.int64))
    g.init("const.two", np.array(2, dtype=np.int64))
    g.init("class_shape", np.array([1, XGB_CLASSES, XGB_ROUNDS], dtype=np.int64))
    g.init("sum_axes", np.array([2], dtype=np.int64))

    v0 = g.node("Gather", ["input", "tree.f0"], axis=1)
    c0 = g.node("Less", [v0, "tree.th0"])
    r0 = g.node("Where", [c0, "const.zero", "const.one"])
    n1 = g.node("Add", ["tree.node_base", r0])
    f1 = g.node("Gather", ["tree.f1", n1], axis=0)
    v1 = g.node("GatherElements", ["input", f1], axis=1)
    t1 = g.node("Gather", ["tree.th1", n1], axis=0)
    c1 = g.node("Less", [v1, t1])
    r1 = g.node("Where", [c1, "const.zero", "const.one"])
    n1x2 = g.node("Mul", [n1, "const.two"])
    leaf = g.node("Add", [n1x2, r1])
    s = g.node("Gather", ["tree.leaves", leaf], axis=0)
    s = g.node("Reshape", [s, "class_shape"])
    s = g.node("ReduceSum", [s, "sum_axes"], keepdims=0)
    g.node("Add", [s, "tree.base"], out="output")
    g.node("ArgMax", ["output"], out="label", axis=1, keepdims=0)
    g.add_output("output", [1, XGB_CLASSES])
    g.add_output("label", [1], TensorProto.INT64)
    return g.model()


def make_xgboost():
    tr = make_xgb_trees()
    model = build_xgboost(tr)
    mk = lambda r: tabular(r, XGB_FEATURES).reshape(1, XGB_FEATURES)  # noqa: E731
    # correctness: ONNX encoding vs per-tree numpy walk on many inputs
    sess = ort_session(model)
    rng = np.random.default_rng(2005)
    for _ in range(2000):
        x = mk(rng)
        out = run_ort(sess, {"input": x})
        ref = xgb_reference(tr, x)
        assert np.allclose(out["output"], ref, rtol=0, atol=1e-6), (x, out, ref)
        assert int(out["label"][0]) == int(np.argmax(ref[0])), (x, out, ref)
    return model, mk, 1.0


# MobileNetV2 (width 1.0, 224x224), as torchvision defines it and torch.onnx exports it in
# eval mode: BatchNorm folded into each Conv, ReLU6 as Clip(0, 6), a residual Add where
# stride == 1 and channels match, GlobalAveragePool, Flatten, Gemm 1280 -> 1000.
MOBILENET_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_params(rng: np.random.Generator) -> tuple[dict, list]:
    """Random weights (Kaiming-uniform over fan-in, small biases standing in for folded BN
    shifts) and the layer list [(name, cin, cout, k, stride, groups, act)] in order."""
    p, layers = {}, []

    def conv(cin, cout, k, stride, groups, act, gain=1.0):
        i = len(layers)
        fan_in = (cin // groups) * k * k
        w = kaiming_uniform(rng, (cout, cin // groups, k, k), fan_in)
        p[f"conv{i}.weight"] = f32(w.astype(np.float64) * gain)
        p[f"conv{i}.bias"] = small_bias(rng, cout, fan_in)
        layers.append((f"conv{i}", cin, cout, k, stride, groups, act))

    conv(3, 32, 3, 2, 1, True)
    cin = 32
    blocks = []
    for t, c, n, s in MOBILENET_SETTINGS:
        for j in range(n):
            stride = s if j == 0 else 1
            hidden = cin * t
            start = len(layers)
            residual = stride == 1 and cin == c
            if t != 1:
                conv(cin, hidden, 1, 1, 1, True)
            conv(hidden, hidden, 3, stride, hidden, True)
            conv(hidden, c, 1, 1, 1, False)
            blocks.append((start, len(layers), residual))
            cin = c
    conv(cin, 1280, 1, 1, 1, True)
    p["fc.weight"] = kaiming_uniform(rng, (1000, 1280), 1280)
    p["fc.bias"] = small_bias(rng, 1000, 1280)
    return p, (layers, blocks)


def build_mobilenet_v2(p: dict, arch) -> onnx.ModelProto:
    layers, blocks = arch
    g = GraphBuilder("mobilenet_v2")
    g.add_input("input", [1, 3, 224, 224])
    for k in sorted(p):
        g.init(k, p[k])
    g.init("relu6.min", np.array(0.0, dtype=np.float32))
    g.init("relu6.max", np.array(6.0, dtype=np.float32))

    def conv(h, i):
        name, _, _, k, stride, groups, act = layers[i]
        pad = k // 2
        h = g.node("Conv", [h, f"{name}.weight", f"{name}.bias"], kernel_shape=[k, k],
                   pads=[pad] * 4, strides=[stride, stride], group=groups)
        return g.node("Clip", [h, "relu6.min", "relu6.max"]) if act else h

    h = conv("input", 0)
    for start, end, residual in blocks:
        x = h
        for i in range(start, end):
            h = conv(h, i)
        if residual:
            h = g.node("Add", [x, h])
    h = conv(h, len(layers) - 1)
    h = g.node("GlobalAveragePool", [h])
    h = g.node("Flatten", [h], axis=1)
    g.node("Gemm", [h, "fc.weight", "fc.bias"], out="output", transB=1)
    g.add_output("output", [1, 1000])
    return g.model()


def make_mobilenet_v2():
    rng = np.random.default_rng(1006)
    p, arch = mobilenet_params(rng)
    # 32x32 scenes upsampled 7x: objects cover the frame, so inputs differ in what the net sees.
    mk = lambda r: f32(np.kron(cifar_like(r), np.ones((7, 7)))).reshape(1, 3, 224, 224)  # noqa: E731
    # Only the classifier is calibrated (ReLU6 makes the body non-homogeneous): scale fc so
    # the logits have std ~TARGET_LOGIT_STD and centre them per class, as calibrate() does.
    params, gain = calibrate(lambda q: build_mobilenet_v2(q, arch), p, [("fc.weight", "fc.bias")], mk, 2006)
    return build_mobilenet_v2(params, arch), mk, gain


MODELS = {
    "dnn": (make_dnn, 101),
    "variable_cnn": (make_variable_cnn, 102),
    "lenet5": (make_lenet5, 103),
    "conv2d": (make_conv2d, 104),
    "xgboost": (make_xgboost, 105),
    # Generated on demand (git-ignored, ~14 MB): `--only mobilenet_v2`. Its fidelity cases
    # are raw little-endian f32 (fidelity.inputs.f32 / fidelity.outputs.f32), not JSON.
    "mobilenet_v2": (make_mobilenet_v2, 106),
}
ON_DEMAND = {"mobilenet_v2"}


def generate(name: str, out_dir: str) -> dict:
    make, input_seed = MODELS[name]
    model, mk_input, scale = make()
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    model_bytes = model.SerializeToString()
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model_bytes)

    sess = ort_session(model)
    in_name = sess.get_inputs()[0].name
    rng = np.random.default_rng(input_seed)
    xs = [mk_input(rng) for _ in range(1 + N_FIDELITY)]  # [0] = sample, [1:] = fidelity

    def case(x):
        outs = run_ort(sess, {in_name: x})
        return {in_name: tensor_json(x)}, {k: tensor_json(v) for k, v in outs.items()}, outs

    ins, outs, _ = case(xs[0])
    dump_json(os.path.join(d, "input.json"), {"inputs": ins})
    dump_json(os.path.join(d, "output.json"), {"outputs": outs})
    cases, argmaxes, absmax = [], [], 0.0
    if name in ON_DEMAND:
        outs = [run_ort(sess, {in_name: x})["output"] for x in xs[1:]]
        np.concatenate([x.reshape(-1) for x in xs[1:]]).astype("<f4").tofile(os.path.join(d, "fidelity.inputs.f32"))
        np.concatenate([o.reshape(-1) for o in outs]).astype("<f4").tofile(os.path.join(d, "fidelity.outputs.f32"))
        argmaxes = [int(np.argmax(o.reshape(-1))) for o in outs]
        absmax = max(float(np.abs(o).max()) for o in outs)
    else:
        for x in xs[1:]:
            ins, outs, raw = case(x)
            cases.append({"inputs": ins, "outputs": outs})
            argmaxes.append(int(np.argmax(raw["output"].reshape(-1))))
            absmax = max(absmax, float(np.abs(raw["output"]).max()))
        fid_path = os.path.join(d, "fidelity.json")
        dump_json(fid_path, {"cases": cases})
        size = os.path.getsize(fid_path)
        assert size < 3 * 1024 * 1024, f"{fid_path} is {size} bytes"
    return {
        "name": name,
        "model_bytes": len(model_bytes),
        "ops": len(model.graph.node),
        "distinct_argmax": len(set(argmaxes)),
        "max_abs_output": absmax,
        "last_layer_scale": scale,
    }


FILES = ("model.onnx", "input.json", "output.json", "fidelity.json")


def check(names: list[str], ref_dir: str, generate_fn=None, files=FILES) -> int:
    """Regenerate into a temp dir; compare with ref_dir.  model.onnx/input.json must be
    identical everywhere; output/fidelity json may differ by ORT ulps on another CPU kind.
    `generate_fn`/`files` let other generators (gen_transformers.py) reuse the check."""
    generate_fn = generate_fn or generate
    import hashlib
    import tempfile

    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            generate_fn(name, tmp)
            for fn in files:
                with open(os.path.join(tmp, name, fn), "rb") as f:
                    new = f.read()
                ref_path = os.path.join(ref_dir, name, fn)
                old = open(ref_path, "rb").read() if os.path.exists(ref_path) else b""
                same = new == old
                bad += not same
                print(f"{'ok  ' if same else 'DIFF'} {name}/{fn} {hashlib.sha256(new).hexdigest()}", file=sys.stderr)
    print("byte-identical" if not bad else f"{bad} file(s) differ", file=sys.stderr)
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE, help="output root (default: the testdata/ folder)")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temp dir and compare byte-for-byte with --out (exit 1 on any difference)",
    )
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or [n for n in MODELS if n not in ON_DEMAND]
    if args.check:
        sys.exit(check(names, args.out))
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}", file=sys.stderr)
    for name in names:
        info = generate(name, args.out)
        print(
            f"{name:13s} {info['ops']:3d} ops  {info['model_bytes']:8d} B  "
            f"distinct argmax {info['distinct_argmax']:2d}/100  max|out| {info['max_abs_output']:.3f}  "
            f"per-layer gain {info['last_layer_scale']:.4f}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
