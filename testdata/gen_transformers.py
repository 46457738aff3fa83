#!/usr/bin/env python3
"""Generate tiny transformer ONNX models (T5, BERT, GTE, Whisper encoders) with ORT references.

Needs torch + transformers, so it runs in its own venv (not the main .venv, not CI):

    python3 -m venv .venv-torch && .venv-torch/bin/pip install -r testdata/requirements-transformers.txt
    .venv-torch/bin/python testdata/gen_transformers.py [--out DIR] [--only a,b] [--check]

Nothing is downloaded from a model hub: every model is built from a config object
(transformers' random init), then every parameter is overwritten from a numpy PCG64
stream (fixed seed per model, IEEE-exact arithmetic only), so the weights do not depend
on torch's RNG or on the CPU.  Export: torch's legacy TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`), opset 17, constant folding on, eager attention,
fixed input/output names, no dynamic axes (batch 1, fixed sequence length).  The
exported graph is then normalised (producer fields set, doc strings and metadata
stripped, graph named after the model) and checked with onnx.checker.

Layout per model <name> (all git-ignored, see testdata/.gitignore):
  <name>/model.onnx    the model
  <name>/input.json    {"inputs":  {name: {"shape": [...], "data": [...]}}}   (int64 ids as JSON ints)
  <name>/output.json   {"outputs": {name: {"shape": [...], "data": [...]}}}   ORT reference
  <name>/ops.txt       op-type histogram of the graph, "OpType count" per line, sorted by name

The ORT reference uses the same settings and JSON tensor format as gen_models.py (whose
helpers are imported).  The exported model is also run in torch (eager) on the same
input and the generator fails if ORT and torch disagree by more than 1e-4.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import io
import math
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import transformers
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_models  # noqa: E402
from gen_models import dump_json, f32, ort_session, run_ort, tensor_json  # noqa: E402

OPSET = 17
PRODUCER = "zkopml-testdata"
PRODUCER_VERSION = "1"
SEQ = 16  # tokens per text input
TORCH_TOL = 1e-4  # max |ORT - torch eager| accepted

# --------------------------------------------------------------------------------------
# parameters: numpy PCG64 draws, overwriting transformers' random init
# --------------------------------------------------------------------------------------


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """Whisper's sinusoidal position table ([sin | cos] halves), in f64 via libm, snapped
    to 2^-16 so an ulp of libm difference cannot reach the model bytes."""
    half = channels // 2
    inc = math.log(max_timescale) / (half - 1)
    out = np.zeros((length, channels), dtype=np.float64)
    for t in range(length):
        for i in range(half):
            a = t * math.exp(-inc * i)
            out[t, i] = math.sin(a)
            out[t, half + i] = math.cos(a)
    return f32(np.round(out * 65536.0) / 65536.0)


def init_params(model: nn.Module, seed: int) -> None:
    """Overwrite every parameter (sorted by name) with a fixed-seed uniform draw.

    Linear / Conv1d weight: U(+-sqrt(3/fan_in)) (unit gain: activations stay O(1), so
    attention logits are O(1) and softmax is not flat); biases U(+-0.1); embeddings
    U(+-sqrt(3)) (std 1) except Whisper's fixed sinusoidal positions; LayerNorm / T5
    RMSNorm weight 1 + U(+-0.25), LayerNorm bias U(+-0.1)."""
    rng = np.random.default_rng(seed)
    owner = {}
    for mname, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            owner[f"{mname}.{pname}" if mname else pname] = mod
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            mod, leaf, shape = owner[name], name.rsplit(".", 1)[-1], tuple(p.shape)
            kind = type(mod).__name__
            if isinstance(mod, nn.Linear) and leaf == "weight":
                b = math.sqrt(3.0 / shape[1])
                arr = rng.uniform(-b, b, size=shape)
            elif isinstance(mod, nn.Conv1d) and leaf == "weight":
                b = math.sqrt(3.0 / (shape[1] * shape[2]))
                arr = rng.uniform(-b, b, size=shape)
            elif isinstance(mod, (nn.Linear, nn.Conv1d, nn.LayerNorm)) and leaf == "bias":
                arr = rng.uniform(-0.1, 0.1, size=shape)
            elif isinstance(mod, nn.LayerNorm) or (kind == "T5LayerNorm" and leaf == "weight"):
                arr = 1.0 + rng.uniform(-0.25, 0.25, size=shape)
            elif isinstance(mod, nn.Embedding) and name.endswith("embed_positions.weight"):
                arr = sinusoids(*shape)
            elif isinstance(mod, nn.Embedding):
                b = math.sqrt(3.0)
                arr = rng.uniform(-b, b, size=shape)
            else:
                raise ValueError(f"no init rule for parameter {name} ({kind}, {shape})")
            p.copy_(torch.from_numpy(f32(arr)))


# --------------------------------------------------------------------------------------
# export + normalisation
# --------------------------------------------------------------------------------------


def export_onnx(module: nn.Module, args: tuple, input_names: list[str], output_names: list[str], name: str) -> onnx.ModelProto:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation, tracer warnings
        torch.onnx.export(
            module,
            args,
            buf,
            dynamo=False,
            export_params=True,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=input_names,
            output_names=output_names,
            keep_initializers_as_inputs=False,
        )
    return normalise(onnx.load_from_string(buf.getvalue()), name)


def normalise(m: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """Producer fields set, the graph named after the model, doc strings and metadata
    cleared (the exporters' source locations and versions), then onnx.checker (full)."""
    m.producer_name = PRODUCER
    m.producer_version = PRODUCER_VERSION
    m.domain = ""
    m.model_version = 0
    m.doc_string = ""
    del m.metadata_props[:]
    m.graph.name = name
    m.graph.doc_string = ""
    for n in m.graph.node:
        n.doc_string = ""
        del n.metadata_props[:]
    for v in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        v.doc_string = ""
        del v.metadata_props[:]
    for t in m.graph.initializer:
        t.doc_string = ""
        del t.metadata_props[:]
    onnx.checker.check_model(m, full_check=True)
    return m


def constant_only_ops(m: onnx.ModelProto) -> dict[str, int]:
    """Op types of the nodes whose inputs are all constant (initializers, Constant
    outputs, or outputs of such nodes): shape/index plumbing that the exporter's
    constant folding left in the graph and that an importer can fold away."""
    const = {t.name for t in m.graph.initializer}
    c = collections.Counter()
    for n in m.graph.node:
        if all(i == "" or i in const for i in n.input):
            const.update(n.output)
            if n.op_type != "Constant":
                c[n.op_type] += 1
    return dict(sorted(c.items()))


def op_histogram(m: onnx.ModelProto) -> dict[str, int]:
    c = collections.Counter()

    def walk(g):
        for n in g.node:
            c[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)

    walk(m.graph)
    return dict(sorted(c.items()))


# --------------------------------------------------------------------------------------
# models (tiny configs, eager attention, dropout 0, eval mode)
# --------------------------------------------------------------------------------------


class HiddenAndPooled(nn.Module):
    """BertModel -> (last_hidden_state, pooler_output)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids):
        o = self.m(input_ids=input_ids)
        return o.last_hidden_state, o.pooler_output


class MeanPoolNormalize(nn.Module):
    """GTE-style sentence embedding: mean over tokens of last_hidden_state, then L2
    normalise.  Batch 1, no padding, so the attention mask is all ones and is left out
    (no mask input; no -inf/finfo.min additive masking in the graph)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids):
        h = self.m(input_ids=input_ids).last_hidden_state
        e = h.mean(dim=1)
        return nn.functional.normalize(e, p=2.0, dim=-1)


class LastHidden(nn.Module):
    def __init__(self, m, arg: str):
        super().__init__()
        self.m, self.arg = m, arg

    def forward(self, x):
        return self.m(**{self.arg: x}).last_hidden_state


def bert_config() -> transformers.BertConfig:
    return transformers.BertConfig(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        attn_implementation="eager",
    )


def token_ids(vocab: int):
    return lambda rng: rng.integers(1, vocab, size=(1, SEQ), dtype=np.int64)


def make_bert_tiny():
    torch.manual_seed(0)
    m = transformers.BertModel(bert_config(), add_pooling_layer=True)
    init_params(m, 3001)
    return HiddenAndPooled(m), ["input_ids"], ["last_hidden_state", "pooler_output"], token_ids(1000)


def make_gte_tiny():
    torch.manual_seed(0)
    m = transformers.BertModel(bert_config(), add_pooling_layer=False)
    init_params(m, 3002)
    return MeanPoolNormalize(m), ["input_ids"], ["sentence_embedding"], token_ids(1000)


def make_t5_tiny():
    cfg = transformers.T5Config(
        vocab_size=1000,
        d_model=64,
        d_kv=32,
        d_ff=128,
        num_layers=2,
        num_heads=2,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.0,
        layer_norm_epsilon=1e-6,
        feed_forward_proj="gated-gelu",  # T5 v1.1 / Flan-T5 FFN: gelu_new(wi_0 x) * wi_1 x
        is_encoder_decoder=False,
        use_cache=False,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    m = transformers.T5EncoderModel(cfg)
    init_params(m, 3003)
    return LastHidden(m, "input_ids"), ["input_ids"], ["last_hidden_state"], token_ids(1000)


WHISPER_MELS, WHISPER_POSITIONS = 80, 32  # input_features [1, 80, 2*32]; real Whisper: [1, 80, 3000], 1500 positions


def make_whisper_tiny():
    cfg = transformers.WhisperConfig(
        vocab_size=1000,
        num_mel_bins=WHISPER_MELS,
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=128,
        max_source_positions=WHISPER_POSITIONS,
        max_target_positions=32,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="gelu",
        scale_embedding=False,
        pad_token_id=0,  # special ids inside the tiny vocab (the defaults are 50256/50257)
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
        begin_suppress_tokens=None,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    m = transformers.models.whisper.modeling_whisper.WhisperEncoder(cfg)
    init_params(m, 3004)

    def features(rng):  # log-mel-like values k/256 in [-1, 1): exact in f32, short in JSON
        k = rng.integers(-256, 256, size=(1, WHISPER_MELS, 2 * WHISPER_POSITIONS))
        return f32(k / 256.0)

    return LastHidden(m, "input_features"), ["input_features"], ["last_hidden_state"], features


MODELS = {
    "t5_tiny": (make_t5_tiny, 201),
    "bert_tiny": (make_bert_tiny, 202),
    "gte_tiny": (make_gte_tiny, 203),
    "whisper_tiny": (make_whisper_tiny, 204),
}
FILES = ("model.onnx", "input.json", "output.json", "ops.txt")


def generate(name: str, out_dir: str) -> dict:
    make, input_seed = MODELS[name]
    module, in_names, out_names, mk_input = make()
    module.eval()
    x = mk_input(np.random.default_rng(input_seed))
    xt = torch.from_numpy(x)
    with torch.no_grad():
        ref = module(xt)
    ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]

    model = export_onnx(module, (xt,), in_names, out_names, name)
    model_bytes = model.SerializeToString()
    outs = run_ort(ort_session(model), {in_names[0]: x})
    for k, r in zip(out_names, ref):
        err = float(np.abs(outs[k].astype(np.float64) - r).max())
        if err > TORCH_TOL:
            raise AssertionError(f"{name}/{k}: ORT vs torch max abs diff {err}")
    ops = op_histogram(model)

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model_bytes)
    dump_json(os.path.join(d, "input.json"), {"inputs": {in_names[0]: tensor_json(x)}})
    dump_json(os.path.join(d, "output.json"), {"outputs": {k: tensor_json(outs[k]) for k in out_names}})
    with open(os.path.join(d, "ops.txt"), "w", encoding="ascii", newline="\n") as f:
        f.writelines(f"{op} {n}\n" for op, n in ops.items())
    return {
        "name": name,
        "model_bytes": len(model_bytes),
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "nodes": len(model.graph.node),
        "params": sum(int(np.prod(t.dims)) for t in model.graph.initializer),
        "ops": ops,
        "constant_only": constant_only_ops(model),
        "outputs": {k: list(outs[k].shape) for k in out_names},
        "max_abs_output": max(float(np.abs(outs[k]).max()) for k in out_names),
    }


def check(names: list[str], ref_dir: str) -> int:
    """Regenerate into a temp dir and compare every file byte-for-byte with ref_dir."""
    return gen_models.check(names, ref_dir, generate_fn=generate, files=FILES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE, help="output root (default: the testdata/ folder)")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare byte-for-byte with --out (exit 1 on any difference)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    names = [n for n in args.only.split(",") if n] or list(MODELS)
    for n in names:
        if n not in MODELS:
            ap.error(f"unknown model {n!r} (known: {', '.join(MODELS)})")
    if args.check:
        sys.exit(check(names, args.out))
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {__import__('onnxruntime').__version__}, numpy {np.__version__}",
        file=sys.stderr,
    )
    for name in names:
        info = generate(name, args.out)
        ops = ", ".join(f"{k} {v}" for k, v in info["ops"].items())
        print(
            f"{name:13s} {info['nodes']:4d} nodes {info['params']:8d} params {info['model_bytes']:8d} B  "
            f"outputs {info['outputs']}  max|out| {info['max_abs_output']:.3f}\n"
            f"  sha256 {info['sha256']}\n  ops: {ops}\n"
            f"  of which in constant-only subgraphs: {', '.join(f'{k} {v}' for k, v in info['constant_only'].items()) or '-'}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
