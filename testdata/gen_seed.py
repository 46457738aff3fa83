#!/usr/bin/env python3
"""The seed's transformers as people export them, committed: full T5 (encoder + decoder), a
GTE sentence encoder (BERT + attention mask + mean pooling + L2 normalisation) and full
Whisper (encoder + decoder), tiny random-init configs, exported with torch's exporters.

Needs the torch venv (testdata/README.md, "Transformer models"); the outputs are committed, so
CI and a fresh clone need no torch:

    .venv-torch/bin/python testdata/gen_seed.py [--only t5,gte,whisper] [--check]

Weights: transformers' random init overwritten parameter by parameter from numpy PCG64
draws (gen_transformers.init_params: IEEE-exact, CPU-independent). Export: the primary model
with the exporter people use for it — TorchScript (`dynamo=False`) at opset 14 for T5 and GTE;
dynamo at opset 17 for Whisper (the TorchScript exporter cannot export transformers 5's
Whisper: aten::diff) — and every other exporter/opset pair of {TorchScript, dynamo} x {14, 17}
as a variant. Every graph is normalised like gen_transformers.py (producer, names, doc strings
and metadata cleared) and checked against torch eager (max |ORT - torch| <= 1e-4).

Layout per model <name> in {t5, gte, whisper}:
  <name>/model.onnx                the primary export
  <name>/input.json, output.json   case 0 and ONNX Runtime's output for it (the seed's format)
  <name>/fidelity.json             cases 1..20 with ORT outputs ({"cases": [...]})
  <name>/variants/<exporter>_op<N>/model.onnx
                                   the same weights through the other exporters and opsets
                                   (N: the opset written; dynamo writes 18 where it cannot
                                   convert down to the one asked for; duplicates written once)
                                   (run on input.json/fidelity.json, compared to the same ORT
                                   outputs)
  <name>/generate/                 T5 and Whisper: greedy decoding unrolled into one program
                                   (testdata/gen_generate.py: model.onnx, cases.json with ORT's
                                   greedy tokens for 20 inputs)
Inputs: token ids U{2..V-1} with an attention mask that pads 0-5 trailing positions (pad id
0 there); Whisper: 8 x 32 "log-mel" values k/256 in [-1, 1).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import torch
import transformers
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_models import dump_json, ort_session, run_ort, tensor_json  # noqa: E402
from export_seq2seq import T5Full, WhisperFull  # noqa: E402
from gen_transformers import TORCH_TOL, init_params, normalise, op_histogram  # noqa: E402

CASES = 21  # case 0 (input.json) + 20 fidelity cases
VARIANTS = [("torchscript", 14), ("torchscript", 17), ("dynamo", 14), ("dynamo", 17)]


def export(module: nn.Module, args: tuple, ins: list[str], outs: list[str], exporter: str, opset: int, name: str):
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            buf = io.BytesIO()
            torch.onnx.export(
                module, args, buf, dynamo=False, export_params=True, opset_version=opset,
                do_constant_folding=True, input_names=ins, output_names=outs, keep_initializers_as_inputs=False,
            )
            m = onnx.load_from_string(buf.getvalue())
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.onnx")
                torch.onnx.export(
                    module, args, path, dynamo=True, opset_version=opset, input_names=ins, output_names=outs,
                    external_data=False, verbose=False,
                )
                m = onnx.load(path)
    return normalise(m, name)


class SentenceEmbedding(nn.Module):
    """sentence-transformers' Transformer -> Pooling(mean, with the attention mask) -> Normalize."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).expand(h.size()).to(h.dtype)
        e = torch.sum(h * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
        return nn.functional.normalize(e, p=2.0, dim=1)


def masked_ids(rng, vocab: int, seq: int):
    ids = rng.integers(2, vocab, size=(1, seq), dtype=np.int64)
    mask = np.ones((1, seq), dtype=np.int64)
    pad = int(rng.integers(0, 6))
    if pad:
        ids[0, seq - pad:] = 0
        mask[0, seq - pad:] = 0
    return ids, mask


def make_t5():
    cfg = transformers.T5Config(
        vocab_size=64, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
        layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, use_cache=False, attn_implementation="eager",
    )
    torch.manual_seed(0)
    m = transformers.T5ForConditionalGeneration(cfg)
    init_params(m, 4001)

    def inputs(rng):
        ids, mask = masked_ids(rng, 64, 12)
        dec = np.concatenate([[[0]], rng.integers(2, 64, size=(1, 5))], axis=1).astype(np.int64)
        return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}

    gen = ["--start", "0", "--eos", "1", "--pad", "0"]
    return T5Full(m), ["input_ids", "attention_mask", "decoder_input_ids"], ["logits"], inputs, ("torchscript", 14), gen


def make_gte():
    cfg = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=32,
        type_vocab_size=2, layer_norm_eps=1e-12, attn_implementation="eager",
    )
    torch.manual_seed(0)
    m = transformers.BertModel(cfg, add_pooling_layer=False)
    init_params(m, 4002)

    def inputs(rng):
        ids, mask = masked_ids(rng, 100, 16)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros((1, 16), dtype=np.int64)}

    return (
        SentenceEmbedding(m), ["input_ids", "attention_mask", "token_type_ids"], ["sentence_embedding"], inputs,
        ("torchscript", 14), None,
    )


def make_whisper():
    cfg = transformers.WhisperConfig(
        vocab_size=64, num_mel_bins=8, d_model=32, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, max_source_positions=16,
        max_target_positions=16, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        activation_function="gelu", scale_embedding=False, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1, begin_suppress_tokens=None, suppress_tokens=None, tie_word_embeddings=False,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    m = transformers.WhisperForConditionalGeneration(cfg)
    init_params(m, 4003)

    def inputs(rng):
        k = rng.integers(-256, 256, size=(1, 8, 32))
        dec = np.concatenate([[[1]], rng.integers(3, 64, size=(1, 3))], axis=1).astype(np.int64)
        return {"input_features": (k / 256.0).astype(np.float32), "decoder_input_ids": dec}

    gen = ["--start", "1", "--eos", "2", "--pad", "0"]
    return WhisperFull(m), ["input_features", "decoder_input_ids"], ["logits"], inputs, ("dynamo", 17), gen


MODELS = {"t5": (make_t5, 501), "gte": (make_gte, 502), "whisper": (make_whisper, 503)}


def write_model(path: str, m: onnx.ModelProto) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    b = m.SerializeToString()
    with open(path, "wb") as f:
        f.write(b)
    return hashlib.sha256(b).hexdigest()


def generate(name: str, out_dir: str) -> list[str]:
    """Writes testdata/<name>/ under out_dir; returns the files written (relative to it)."""
    make, seed = MODELS[name]
    module, ins, outs, mk, (exporter, opset), gen = make()
    module.eval()
    rng = np.random.default_rng(seed)
    cases = [mk(rng) for _ in range(CASES)]
    d = os.path.join(out_dir, name)
    written = []
    primary = None
    for ex, op in VARIANTS:
        args = tuple(torch.from_numpy(cases[0][k]) for k in ins)
        try:
            m = export(module, args, ins, outs, ex, op, name)
        except Exception as e:  # an exporter that cannot export this model: reported, skipped
            print(f"{name} {ex} op{op}: export failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}", file=sys.stderr)
            continue
        sess = ort_session(m)
        worst = 0.0
        results = []
        for c in cases:
            y = run_ort(sess, c)
            with torch.no_grad():
                ref = module(*(torch.from_numpy(c[k]) for k in ins)).numpy()
            worst = max(worst, float(np.abs(y[outs[0]].astype(np.float64) - ref).max()))
            results.append(y)
        if worst > TORCH_TOL:
            raise AssertionError(f"{name} {ex} op{op}: ORT vs torch max abs diff {worst}")
        ops = op_histogram(m)
        # The dynamo exporter writes opset 18 where it cannot convert down to the one asked
        # for: a variant is named by the opset it has, and written once.
        real = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        if (ex, op) == (exporter, opset):
            primary = (m, results)
            rel = "model.onnx"
        else:
            rel = f"variants/{ex}_op{real}/model.onnx"
        if rel in written or (primary is not None and primary[0] is not m and rel != "model.onnx"
                              and primary[0].SerializeToString() == m.SerializeToString()):
            print(f"{name} {ex} op{op}: written at opset {real}, the same as {rel}", file=sys.stderr)
            continue
        sha = write_model(os.path.join(d, rel), m)
        written.append(rel)
        print(
            f"{name}/{rel} ({ex}, opset {op} asked): opset {real}, {len(m.graph.node)} nodes, {len(m.SerializeToString())} B, "
            f"ORT vs torch {worst:.1e}, sha256 {sha}\n  ops: {', '.join(f'{k} {v}' for k, v in ops.items())}",
            file=sys.stderr,
        )
    if primary is None:
        raise AssertionError(f"{name}: the primary export ({exporter} op{opset}) failed")
    _, results = primary
    ij = lambda c: {k: tensor_json(c[k]) for k in ins}  # noqa: E731
    dump_json(os.path.join(d, "input.json"), {"inputs": ij(cases[0])})
    dump_json(os.path.join(d, "output.json"), {"outputs": {k: tensor_json(results[0][k]) for k in outs}})
    dump_json(
        os.path.join(d, "fidelity.json"),
        {"cases": [{"inputs": ij(c), "outputs": {k: tensor_json(r[k]) for k in outs}} for c, r in zip(cases[1:], results[1:])]},
    )
    written += ["input.json", "output.json", "fidelity.json"]
    if gen:
        # Greedy decoding over the primary export, on the 21 cases' encoder inputs; ORT's
        # plain greedy loop gives the reference tokens, --check runs the unrolled program too.
        all_cases = os.path.join(d, "generate-src.json")
        dump_json(all_cases, {"cases": [{"inputs": ij(c), "outputs": {}} for c in cases]})
        try:
            subprocess.run(
                [sys.executable, os.path.join(HERE, "gen_generate.py"), os.path.join(d, "model.onnx"),
                 os.path.join(d, "generate"), *gen, "--cases", all_cases, "--check"],
                check=True,
            )
        finally:
            os.remove(all_cases)
        written += ["generate/model.onnx", "generate/cases.json"]
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", default="")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir, compare bytes with --out")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    names = [n for n in a.only.split(",") if n] or list(MODELS)
    if a.check:
        bad = 0
        with tempfile.TemporaryDirectory() as tmp:
            for n in names:
                for rel in generate(n, tmp):
                    new = open(os.path.join(tmp, n, rel), "rb").read()
                    ref = os.path.join(a.out, n, rel)
                    same = os.path.exists(ref) and open(ref, "rb").read() == new
                    bad += not same
                    print(f"{'ok  ' if same else 'DIFF'} {n}/{rel}", file=sys.stderr)
        print("byte-identical" if not bad else f"{bad} file(s) differ", file=sys.stderr)
        return 1 if bad else 0
    for n in names:
        generate(n, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
