#!/usr/bin/env python3
"""Generate small random-init ONNX graphs that reproduce what torch's exporters write for
real models, with ONNX Runtime reference outputs (testdata/exports/, committed).

Run from the repository root:  .venv/bin/python testdata/gen_exports.py [--only a,b]

Each graph is built with onnx.helper node by node in the shape the TorchScript and dynamo
exporters give (transformers' BERT/MiniLM, T5 and Whisper, torchvision's MobileNetV3):

  bert_mask       sentence encoder: word + position (Shape -> Gather -> Range) + token-type
                  (ConstantOfShape) embeddings, LayerNormalization, the extended attention
                  mask both ways (Unsqueeze/Cast/Sub/Mul, and Cast-to-bool/And/Not/Where with
                  an IsNaN guard after Softmax), head split by Shape/Gather/Concat/Reshape,
                  erf GELU, mean pooling (Unsqueeze/Cast/Expand/Mul/ReduceSum/Clip/Div) and
                  L2 normalisation (ReduceL2/Clip/Expand/Div).             opset 17
  t5_encoder      T5 encoder layer: RMSNorm (Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul), the
                  bidirectional relative position bucket (Range/Unsqueeze/Sub/Greater/Cast/
                  Mul/Abs/Less/Div/Log/Cast/Add/Min/Where/Gather/Transpose), unscaled
                  attention, gated tanh GELU (Pow/Mul/Add/Tanh).            opset 14
  t5_decoder      T5 decoder: the causal mask both ways (Range/Unsqueeze/Tile/LessOrEqual/
                  Cast/Sub/Mul as transformers' legacy code, and ConstantOfShape/Trilu as the
                  dynamo exporter writes torch.triu), the unidirectional bucket
                  (Neg(Min(rel, 0))), cross attention, tied LM head.         opset 14
  whisper         Whisper: Conv1d/GELU/Conv1d(stride 2)/GELU front end, Slice of the
                  position table, an encoder layer, a decoder with a Trilu causal mask and
                  cross attention to the encoder output Tiled to two beams, IsNaN guard.
                                                                              opset 17
  vision_gates    MobileNetV3-style block: HardSwish, squeeze-excite with HardSigmoid
                  (alpha 1/6), Split, Sigmoid, Gelu (tanh), Concat, Resize nearest
                  (asymmetric/floor, as torch exports Upsample), Slice, CumSum, ReduceMin.
                                                                              opset 20

Layout per model: <name>/model.onnx, <name>/cases.json
({"cases": [{"inputs": {...}, "outputs": {...}}, ...]}, the tensor-file format of
input.json/output.json). Model bytes and inputs are byte-identical on every machine with the
pinned packages (numpy uniform draws only); the reference outputs come from ONNX Runtime
(one thread, graph optimisations off) and may move by an ulp on another CPU.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8
PRODUCER = "zkopml-testdata-exports"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "exports")
FMIN = float(np.finfo(np.float32).min)  # transformers' mask value
H, HEADS = 32, 2
DH = H // HEADS
VOCAB = 48


def f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


class Graph:
    """A graph under construction: nodes in order, initializers, auto-named values."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def fresh(self, stem: str) -> str:
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, value, dtype=np.float32, stem="const") -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def i64(self, value) -> str:
        return self.const(value, np.int64, "ints")

    def op(self, op_type: str, inputs, outputs=1, **attrs):
        outs = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), outs, name=f"/{op_type}_{len(self.nodes)}", **attrs)
        )
        return outs[0] if outputs == 1 else outs

    def rename(self, value: str, name: str) -> None:
        """Gives a value its graph-output name (in its producer and every consumer)."""
        for n in self.nodes:
            n.output[:] = [name if o == value else o for o in n.output]
            n.input[:] = [name if i == value else i for i in n.input]

    def weight(self, shape, scale) -> str:
        return self.const(f32(self.rng.uniform(-scale, scale, size=shape)), stem="weight")

    def linear(self, x: str, din: int, dout: int, bias=True) -> str:
        y = self.op("MatMul", [x, self.weight((din, dout), 1.0 / math.sqrt(din))])
        return self.op("Add", [y, self.weight((dout,), 0.1)]) if bias else y

    def layernorm(self, x: str, opset: int) -> str:
        g = self.const(f32(1.0 + self.rng.uniform(-0.1, 0.1, size=H)))
        b = self.weight((H,), 0.1)
        if opset >= 17:
            return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=1e-5)
        mean = self.op("ReduceMean", [x], axes=[-1], keepdims=1)
        d = self.op("Sub", [x, mean])
        var = self.op("ReduceMean", [self.op("Pow", [d, self.const(2.0)])], axes=[-1], keepdims=1)
        std = self.op("Sqrt", [self.op("Add", [var, self.const(1e-5)])])
        return self.op("Add", [self.op("Mul", [self.op("Div", [d, std]), g]), b])

    def rmsnorm(self, x: str) -> str:
        """transformers' T5LayerNorm: x * rsqrt(mean(x^2) + eps) * w."""
        var = self.op("ReduceMean", [self.op("Pow", [x, self.const(2.0)])], axes=[-1], keepdims=1)
        inv = self.op("Reciprocal", [self.op("Sqrt", [self.op("Add", [var, self.const(1e-6)])])])
        w = self.const(f32(1.0 + self.rng.uniform(-0.1, 0.1, size=H)))
        return self.op("Mul", [w, self.op("Mul", [x, inv])])

    def gelu_erf(self, x: str) -> str:
        e = self.op("Erf", [self.op("Div", [x, self.const(1.4142135381698608)])])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [e, self.const(1.0)])]), self.const(0.5)])

    def gelu_tanh(self, x: str) -> str:
        """transformers' NewGELUActivation as the exporter expands it."""
        cube = self.op("Pow", [x, self.const(3.0)])
        inner = self.op("Add", [x, self.op("Mul", [cube, self.const(0.044715)])])
        t = self.op("Tanh", [self.op("Mul", [inner, self.const(math.sqrt(2.0 / math.pi))])])
        return self.op("Mul", [self.op("Mul", [x, self.const(0.5)]), self.op("Add", [t, self.const(1.0)])])

    def heads(self, x: str, seq_of: str) -> str:
        """[B, S, H] -> [B, heads, S, dh] with the shape read back by Shape/Gather/Concat."""
        shape = self.op("Shape", [seq_of])
        b = self.op("Unsqueeze", [self.op("Gather", [shape, self.i64(0)], axis=0), self.i64([0])])
        s = self.op("Unsqueeze", [self.op("Gather", [shape, self.i64(1)], axis=0), self.i64([0])])
        target = self.op("Concat", [b, s, self.i64([HEADS]), self.i64([DH])], axis=0)
        return self.op("Transpose", [self.op("Reshape", [x, target])], perm=[0, 2, 1, 3])

    def attention(self, xq: str, xkv: str, bias=None, scale=True, guard=False) -> str:
        q = self.heads(self.linear(xq, H, H), xq)
        k = self.heads(self.linear(xkv, H, H), xkv)
        v = self.heads(self.linear(xkv, H, H), xkv)
        s = self.op("MatMul", [q, self.op("Transpose", [k], perm=[0, 1, 3, 2])])
        if scale:
            s = self.op("Div", [s, self.const(math.sqrt(DH))])
        if bias is not None:
            s = self.op("Add", [s, bias])
        p = self.op("Softmax", [s], axis=-1)
        if guard:
            # SDPA's guard for fully masked rows: where(isnan(p), 0, p).
            p = self.op("Where", [self.op("IsNaN", [p]), self.const(0.0), p])
        o = self.op("Transpose", [self.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
        o = self.op("Reshape", [o, self.i64([0, -1, H])])
        return self.linear(o, H, H)

    def model(self, inputs, outputs, opset: int) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, "export", inputs, outputs, self.inits)
        m = helper.make_model(
            g,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name=PRODUCER,
            producer_version="1",
        )
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m, full_check=True)
        return m


def positions(g: Graph, ids: str, axis: int = 1) -> str:
    """torch.arange(seq_len) as the exporter writes it: Shape -> Gather -> Range."""
    n = g.op("Gather", [g.op("Shape", [ids]), g.i64(axis)], axis=0)
    return g.op("Range", [g.i64(0), n, g.i64(1)])


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


def bert_mask(rng):
    g = Graph(rng)
    S = 8
    ids, mask = "input_ids", "attention_mask"
    word = g.op("Gather", [g.weight((VOCAB, H), 1.0), ids], axis=0)
    pos_ids = g.op("Unsqueeze", [positions(g, ids), g.i64([0])])
    pos = g.op("Gather", [g.weight((S, H), 0.5), pos_ids], axis=0)
    tt_ids = g.op("ConstantOfShape", [g.op("Shape", [ids])], value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))
    tt = g.op("Gather", [g.weight((2, H), 0.5), tt_ids], axis=0)
    x = g.layernorm(g.op("Add", [g.op("Add", [word, pos]), tt]), 17)

    # Extended mask, eager BERT: (1 - mask[:, None, None, :].float()) * finfo.min.
    ext = g.op("Cast", [g.op("Unsqueeze", [mask, g.i64([1, 2])])], to=TensorProto.FLOAT)
    bias_a = g.op("Mul", [g.op("Sub", [g.const(1.0), ext]), g.const(FMIN)])
    # The bool path (SDPA): both query and key kept, else finfo.min.
    mb = g.op("Cast", [mask], to=TensorProto.BOOL)
    both = g.op("And", [g.op("Unsqueeze", [mb, g.i64([1, 3])]), g.op("Unsqueeze", [mb, g.i64([1, 2])])])
    bias_b = g.op("Where", [g.op("Not", [both]), g.const(FMIN), g.const(0.0)])

    for bias, guard in [(bias_a, False), (bias_b, True)]:
        x = g.layernorm(g.op("Add", [x, g.attention(x, x, bias, guard=guard)]), 17)
        f = g.linear(g.gelu_erf(g.linear(x, H, 2 * H)), 2 * H, H)
        x = g.layernorm(g.op("Add", [x, f]), 17)
    hidden = x

    # Mean pooling (sentence-transformers) and Normalize.
    me = g.op("Cast", [g.op("Unsqueeze", [mask, g.i64([-1])])], to=TensorProto.FLOAT)
    me = g.op("Expand", [me, g.op("Shape", [hidden])])
    total = g.op("ReduceSum", [g.op("Mul", [hidden, me]), g.i64([1])], keepdims=0)
    count = g.op("Clip", [g.op("ReduceSum", [me, g.i64([1])], keepdims=0), g.const(1e-9)])
    mean = g.op("Div", [total, count])
    norm = g.op("Clip", [g.op("ReduceL2", [mean], axes=[1], keepdims=1), g.const(1e-12)])
    emb = g.op("Div", [mean, g.op("Expand", [norm, g.op("Shape", [mean])])])
    g.rename(emb, "sentence_embedding")
    g.rename(hidden, "last_hidden_state")
    m = g.model(
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, [1, S]),
            helper.make_tensor_value_info(mask, TensorProto.INT64, [1, S]),
        ],
        [
            helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, [1, H]),
            helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, S, H]),
        ],
        17,
    )
    cases = []
    for k in range(8):
        real = 2 + k % (S - 1)
        cases.append(
            {
                ids: np.concatenate([rng.integers(1, VOCAB, size=real), np.zeros(S - real, dtype=np.int64)])
                .reshape(1, S)
                .astype(np.int64),
                mask: np.array([[1] * real + [0] * (S - real)], dtype=np.int64),
            }
        )
    return m, cases


def t5_bucket(g: Graph, q_len_of: str, k_len_of: str, bidirectional: bool, buckets=32, max_distance=128):
    """transformers' T5Attention._relative_position_bucket + the bias lookup -> [1, heads, q, k]."""
    ctx = g.op("Unsqueeze", [positions(g, q_len_of), g.i64([1])])
    mem = g.op("Unsqueeze", [positions(g, k_len_of), g.i64([0])])
    rel = g.op("Sub", [mem, ctx])
    acc = None
    n = buckets
    if bidirectional:
        n //= 2
        acc = g.op("Mul", [g.op("Cast", [g.op("Greater", [rel, g.i64(0)])], to=TensorProto.INT64), g.i64(n)])
        rel = g.op("Abs", [rel])
    else:
        rel = g.op("Neg", [g.op("Min", [rel, g.op("ConstantOfShape", [g.op("Shape", [rel])], value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))])])
    exact = n // 2
    small = g.op("Less", [rel, g.i64(exact)])
    relf = g.op("Cast", [rel], to=TensorProto.FLOAT)
    lg = g.op("Div", [g.op("Log", [g.op("Div", [relf, g.const(float(exact))])]), g.const(math.log(max_distance / exact))])
    large = g.op("Add", [g.op("Cast", [g.op("Mul", [lg, g.const(float(n - exact))])], to=TensorProto.INT64), g.i64(exact)])
    large = g.op("Min", [large, g.op("ConstantOfShape", [g.op("Shape", [large])], value=helper.make_tensor("v", TensorProto.INT64, [1], [n - 1]))])
    b = g.op("Where", [small, rel, large])
    if acc is not None:
        b = g.op("Add", [acc, b])
    values = g.op("Gather", [g.weight((buckets, HEADS), 1.0), b], axis=0)  # [q, k, heads]
    return g.op("Unsqueeze", [g.op("Transpose", [values], perm=[2, 0, 1]), g.i64([0])])


def t5_encoder(rng):
    g = Graph(rng)
    S = 12
    ids = "input_ids"
    x = g.op("Gather", [g.weight((VOCAB, H), 1.0), ids], axis=0)
    bias = t5_bucket(g, ids, ids, bidirectional=True)
    x = g.op("Add", [x, g.attention(g.rmsnorm(x), g.rmsnorm(x), bias, scale=False)])
    h = g.rmsnorm(x)
    gated = g.op("Mul", [g.gelu_tanh(g.linear(h, H, 2 * H, bias=False)), g.linear(h, H, 2 * H, bias=False)])
    x = g.op("Add", [x, g.linear(gated, 2 * H, H, bias=False)])
    out = g.rmsnorm(x)
    g.rename(out, "last_hidden_state")
    m = g.model(
        [helper.make_tensor_value_info(ids, TensorProto.INT64, [1, S])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, S, H])],
        14,
    )
    cases = [{ids: rng.integers(0, VOCAB, size=(1, S)).astype(np.int64)} for _ in range(8)]
    return m, cases


def t5_decoder(rng):
    g = Graph(rng)
    L, S = 6, 10
    ids, enc = "decoder_input_ids", "encoder_hidden_states"
    emb = g.weight((VOCAB, H), 1.0)
    x = g.op("Gather", [emb, ids], axis=0)
    # Legacy causal mask: seq_ids[None, None, :].repeat(b, L, 1) <= seq_ids[None, :, None].
    seq = positions(g, ids)
    rows = g.op("Tile", [g.op("Unsqueeze", [seq, g.i64([0, 1])]), g.i64([1, L, 1])])
    causal = g.op("LessOrEqual", [rows, g.op("Unsqueeze", [seq, g.i64([0, 2])])])
    causal = g.op("Cast", [g.op("Unsqueeze", [causal, g.i64([1])])], to=TensorProto.FLOAT)
    mask_a = g.op("Mul", [g.op("Sub", [g.const(1.0), causal]), g.const(FMIN)])
    # dynamo: torch.triu(torch.full((L, L), finfo.min), diagonal=1).
    full = g.op("ConstantOfShape", [g.i64([L, L])], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [FMIN]))
    mask_b = g.op("Trilu", [full, g.i64(1)], upper=1)
    bias = t5_bucket(g, ids, ids, bidirectional=False)
    for mask in [mask_a, mask_b]:
        h = g.rmsnorm(x)
        x = g.op("Add", [x, g.attention(h, h, g.op("Add", [bias, mask]), scale=False)])
        x = g.op("Add", [x, g.attention(g.rmsnorm(x), enc, scale=False)])
        h = g.rmsnorm(x)
        x = g.op("Add", [x, g.linear(g.op("Relu", [g.linear(h, H, 2 * H, bias=False)]), 2 * H, H, bias=False)])
    h = g.op("Mul", [g.rmsnorm(x), g.const(H**-0.5)])
    logits = g.op("MatMul", [h, g.op("Transpose", [emb], perm=[1, 0])])
    g.rename(logits, "logits")
    m = g.model(
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, [1, L]),
            helper.make_tensor_value_info(enc, TensorProto.FLOAT, [1, S, H]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, L, VOCAB])],
        14,
    )
    cases = [
        {
            ids: rng.integers(0, VOCAB, size=(1, L)).astype(np.int64),
            enc: f32(rng.uniform(-1.0, 1.0, size=(1, S, H))),
        }
        for _ in range(8)
    ]
    return m, cases


def whisper(rng):
    g = Graph(rng)
    MEL, T, L, BEAMS = 8, 32, 4, 2
    feats, ids = "input_features", "decoder_input_ids"
    c1 = g.op("Conv", [feats, g.weight((H, MEL, 3), 1.0 / math.sqrt(3 * MEL)), g.weight((H,), 0.1)], pads=[1, 1], kernel_shape=[3])
    c2 = g.op("Conv", [g.gelu_erf(c1), g.weight((H, H, 3), 1.0 / math.sqrt(3 * H)), g.weight((H,), 0.1)], pads=[1, 1], strides=[2], kernel_shape=[3])
    x = g.op("Transpose", [g.gelu_erf(c2)], perm=[0, 2, 1])  # [1, T/2, H]
    table = g.weight((T, H), 0.5)
    x = g.op("Add", [x, g.op("Slice", [table, g.i64([0]), g.i64([T // 2]), g.i64([0])])])
    h = g.layernorm(x, 17)
    x = g.op("Add", [x, g.attention(h, h)])
    h = g.layernorm(x, 17)
    x = g.op("Add", [x, g.linear(g.gelu_erf(g.linear(h, H, 2 * H)), 2 * H, H)])
    enc = g.layernorm(x, 17)
    enc = g.op("Tile", [enc, g.i64([BEAMS, 1, 1])])  # the encoder output for every beam

    emb = g.weight((VOCAB, H), 1.0)
    n = g.op("Gather", [g.op("Shape", [ids]), g.i64(1)], axis=0)
    pos = g.op("Slice", [g.weight((16, H), 0.5), g.i64([0]), g.op("Unsqueeze", [n, g.i64([0])]), g.i64([0])])
    y = g.op("Add", [g.op("Gather", [emb, ids], axis=0), pos])
    full = g.op("ConstantOfShape", [g.i64([L, L])], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [FMIN]))
    causal = g.op("Trilu", [full, g.i64(1)], upper=1)
    h = g.layernorm(y, 17)
    y = g.op("Add", [y, g.attention(h, h, causal, guard=True)])
    y = g.op("Add", [y, g.attention(g.layernorm(y, 17), enc, guard=True)])
    h = g.layernorm(y, 17)
    y = g.op("Add", [y, g.linear(g.gelu_erf(g.linear(h, H, 2 * H)), 2 * H, H)])
    logits = g.op("MatMul", [g.layernorm(y, 17), g.op("Transpose", [emb], perm=[1, 0])])
    g.rename(logits, "logits")
    m = g.model(
        [
            helper.make_tensor_value_info(feats, TensorProto.FLOAT, [1, MEL, T]),
            helper.make_tensor_value_info(ids, TensorProto.INT64, [BEAMS, L]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [BEAMS, L, VOCAB])],
        17,
    )
    cases = [
        {
            feats: f32(rng.uniform(-1.0, 1.0, size=(1, MEL, T))),
            ids: rng.integers(0, VOCAB, size=(BEAMS, L)).astype(np.int64),
        }
        for _ in range(4)
    ]
    return m, cases


def vision_gates(rng):
    g = Graph(rng)
    img = "image"
    x = g.op("Conv", [img, g.weight((8, 3, 3, 3), 1.0 / math.sqrt(27)), g.weight((8,), 0.1)], pads=[1, 1, 1, 1], strides=[2, 2])
    x = g.op("HardSwish", [x])
    x = g.op("Conv", [x, g.weight((8, 1, 3, 3), 1.0 / 3.0), g.weight((8,), 0.1)], pads=[1, 1, 1, 1], group=8)
    se = g.op("GlobalAveragePool", [x])
    se = g.op("Relu", [g.op("Conv", [se, g.weight((4, 8, 1, 1), 0.5), g.weight((4,), 0.1)])])
    se = g.op("HardSigmoid", [g.op("Conv", [se, g.weight((8, 4, 1, 1), 0.7), g.weight((8,), 0.1)])], alpha=1.0 / 6.0, beta=0.5)
    x = g.op("Conv", [g.op("Mul", [x, se]), g.weight((8, 8, 1, 1), 0.5), g.weight((8,), 0.1)])
    a, b = g.op("Split", [x, g.i64([4, 4])], outputs=2, axis=1)
    x = g.op("Concat", [g.op("Sigmoid", [a]), g.op("Gelu", [b], approximate="tanh")], axis=1)
    x = g.op(
        "Resize",
        [x, "", g.const([1.0, 1.0, 2.0, 2.0])],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    x = g.op("Slice", [x, g.i64([1, 1]), g.i64([-1, 15]), g.i64([2, 3]), g.i64([1, 2])])
    c = g.op("CumSum", [x, g.i64(3)])
    g.nodes.append(helper.make_node("GlobalAveragePool", [c], ["features"], name="/out"))
    g.nodes.append(helper.make_node("ReduceMin", [x, g.i64([2, 3])], ["minimum"], name="/out_min", keepdims=0))
    m = g.model(
        [helper.make_tensor_value_info(img, TensorProto.FLOAT, [1, 3, 16, 16])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 8, 1, 1]),
            helper.make_tensor_value_info("minimum", TensorProto.FLOAT, [1, 8]),
        ],
        20,
    )
    cases = [{img: f32(rng.uniform(-1.0, 1.0, size=(1, 3, 16, 16)))} for _ in range(4)]
    return m, cases


MODELS = {
    "bert_mask": (bert_mask, 1201),
    "t5_encoder": (t5_encoder, 1202),
    "t5_decoder": (t5_decoder, 1203),
    "whisper": (whisper, 1204),
    "vision_gates": (vision_gates, 1205),
}


def tensor_json(a: np.ndarray) -> dict:
    return {"shape": list(a.shape), "data": [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for name, (build, seed) in MODELS.items():
        if only and name not in only:
            continue
        model, cases = build(np.random.default_rng(seed))
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        blob = model.SerializeToString()
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(blob)
        sess = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        outs = [o.name for o in sess.get_outputs()]
        doc = {"cases": []}
        for case in cases:
            got = sess.run(outs, case)
            doc["cases"].append(
                {
                    "inputs": {k: tensor_json(v) for k, v in case.items()},
                    "outputs": {k: tensor_json(v) for k, v in zip(outs, got)},
                }
            )
        with open(os.path.join(d, "cases.json"), "w") as f:
            f.write(json.dumps(doc, separators=(",", ":"), allow_nan=False))
        ops = sorted({n.op_type for n in model.graph.node})
        print(
            f"{name}: {len(model.graph.node)} nodes, {len(blob)} bytes, sha256 "
            f"{hashlib.sha256(blob).hexdigest()[:16]}, ops {','.join(ops)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
