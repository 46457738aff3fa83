#!/usr/bin/env python3
"""Export full encoder-decoder T5 and Whisper (tiny random-init configs) with both torch
exporters, as people export them, to check that they load and run (not committed).

Needs the torch venv (testdata/README.md):  .venv-torch/bin/python testdata/export_seq2seq.py

T5ForConditionalGeneration (gated-gelu, 2+2 layers) and WhisperForConditionalGeneration
(1+1 layers, 8 mel bins) from transformers config objects, torch's random init under
torch.manual_seed(0); the module's forward(input_ids, attention_mask, decoder_input_ids) or
forward(input_features, decoder_input_ids) -> logits, fixed shapes, use_cache=False, exported
with dynamo=False and dynamo=True at opsets 14 and 17 into the git-ignored testdata/seq2seq/
<model>_<exporter>_op<N>/{model.onnx, cases.json} (4 cases, ONNX Runtime logits). A failed export is
reported and skipped (the TorchScript exporter cannot export transformers 5's Whisper:
aten::diff). crates/engine/tests/exports.rs runs every variant present.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import T5Config, T5ForConditionalGeneration, WhisperConfig, WhisperForConditionalGeneration

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seq2seq")


def tj(a) -> dict:
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(v) for v in a.astype(np.float64).ravel()]}


class T5Full(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, decoder_input_ids):
        return self.m(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, use_cache=False
        ).logits


class WhisperFull(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_features, decoder_input_ids):
        return self.m(input_features=input_features, decoder_input_ids=decoder_input_ids, use_cache=False).logits


def t5():
    c = T5Config(
        vocab_size=64, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
        decoder_start_token_id=0, pad_token_id=0,
    )
    model = T5Full(T5ForConditionalGeneration(c)).eval()
    cases = []
    for k in range(4):
        ids = torch.randint(1, 64, (1, 12))
        mask = torch.ones(1, 12, dtype=torch.long)
        mask[0, 12 - 3 * (k % 3):] = 0
        cases.append((ids, mask, torch.randint(1, 64, (1, 6))))
    return model, cases, ["input_ids", "attention_mask", "decoder_input_ids"]


def whisper():
    c = WhisperConfig(
        vocab_size=64, num_mel_bins=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, d_model=32, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=16,
        max_target_positions=16, decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    model = WhisperFull(WhisperForConditionalGeneration(c)).eval()
    cases = [(torch.rand(1, 8, 32) * 2 - 1, torch.randint(3, 64, (1, 4))) for _ in range(4)]
    return model, cases, ["input_features", "decoder_input_ids"]


def main() -> int:
    torch.manual_seed(0)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for name, make in [("t5", t5), ("whisper", whisper)]:
        model, cases, names = make()
        for dynamo, opset_version in [(d, o) for d in (False, True) for o in (14, 17)]:
            v = f"{name}_{'dynamo' if dynamo else 'torchscript'}_op{opset_version}"
            d = os.path.join(OUT, v)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            try:
                kw = dict(input_names=names, output_names=["logits"], opset_version=opset_version, dynamo=dynamo)
                if dynamo:
                    kw["external_data"] = False
                with torch.no_grad():
                    torch.onnx.export(model, cases[0], path, **kw)
            except Exception as e:  # report and go on
                print(f"{v}: export failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                os.rmdir(d) if not os.listdir(d) else None
                continue
            m = onnx.load(path)
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            doc, worst = {"cases": []}, 0.0
            for args in cases:
                feed = {n: a.numpy() for n, a in zip(names, args)}
                (y,) = sess.run(["logits"], feed)
                with torch.no_grad():
                    worst = max(worst, float(np.abs(y - model(*args).numpy()).max()))
                doc["cases"].append({"inputs": {k: tj(a) for k, a in feed.items()}, "outputs": {"logits": tj(y)}})
            with open(os.path.join(d, "cases.json"), "w") as f:
                f.write(json.dumps(doc, separators=(",", ":")))
            opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
            print(
                f"{v}: opset {opset}, {len(m.graph.node)} nodes, ORT vs torch {worst:.1e}, "
                f"ops {','.join(sorted({n.op_type for n in m.graph.node}))}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
