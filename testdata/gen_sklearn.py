#!/usr/bin/env python3
"""scikit-learn models converted with skl2onnx, with ONNX Runtime references (committed; the
Rust test `crates/engine/tests/sklearn.rs` needs no scikit-learn).

    python3 -m venv .venv-sklearn
    .venv-sklearn/bin/pip install -r testdata/requirements-sklearn.txt
    .venv-sklearn/bin/python testdata/gen_sklearn.py          # writes testdata/sklearn/
    .venv-sklearn/bin/python testdata/gen_sklearn.py --check  # regenerates in memory, compares bytes

Per model, `testdata/sklearn/<name>/`:
  model.onnx   skl2onnx output, `zipmap: False` (ZipMap returns a sequence of maps, which a
               tensor program cannot hold; the engine refuses it with a typed error)
  input.json   {"inputs": {"X": [N, F]}}: dataset rows as float32
  ort.json     {"outputs": ...}: ONNX Runtime on those inputs (the labels the test must match)
  ort_grid.json ONNX Runtime on the inputs rounded to the engine's 2^-12 grid (the engine's
               decisions equal float decisions on grid inputs: the score comparison uses it)

Deterministic: fixed datasets bundled with scikit-learn, fixed `random_state`, fixed names,
JSON with sorted keys. Same pins => same bytes (`--check`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sklearn")
OPSETS = {"": 17, "ai.onnx.ml": 3}


def data(name: str):
    loader = {"iris": load_iris, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}[name]
    X, y = loader(return_X_y=True)
    return X.astype(np.float32), y


def models():
    """(name, dataset, estimator, row step for the committed inputs)."""
    return [
        ("gb_iris", "iris", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), 1),
        ("gb_breast_cancer", "breast_cancer", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), 3),
        ("logreg_iris", "iris", LogisticRegression(max_iter=10000), 1),
        ("logreg_breast_cancer", "breast_cancer", make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)), 3),
        ("rf_iris", "iris", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), 1),
        ("rf_breast_cancer", "breast_cancer", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), 3),
        ("gb_diabetes", "diabetes", GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0), 3),
        ("linreg_diabetes", "diabetes", LinearRegression(), 3),
    ]


def tensor(a: np.ndarray) -> dict:
    a = np.asarray(a)
    vals = a.astype(np.float64).ravel().tolist() if a.dtype.kind == "f" else a.ravel().tolist()
    return {"shape": list(a.shape), "data": vals}


def dumps(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def build(name, dataset, est, step) -> dict[str, bytes]:
    X, y = data(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    final = est.steps[-1][1] if hasattr(est, "steps") else est
    options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
    onx = to_onnx(est, X[:1], options=options, target_opset=OPSETS, naming=name + "_")
    onx.producer_name = "zkopml-testdata-sklearn"
    onx.doc_string = ""
    model = onx.SerializeToString()
    rows = X[::step]
    # The engine's quantisation: round half away from zero at 2^-12 (numpy's round is half-even).
    r64 = rows.astype(np.float64)
    grid = (np.sign(r64) * np.floor(np.abs(r64) * 4096 + 0.5) / 4096).astype(np.float32)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    xin = sess.get_inputs()[0].name
    ref = dict(zip(names, sess.run(None, {xin: rows})))
    ref_grid = dict(zip(names, sess.run(None, {xin: grid})))
    return {
        "model.onnx": model,
        "input.json": dumps({"inputs": {xin: tensor(rows)}}),
        "ort.json": dumps({"outputs": {k: tensor(v) for k, v in ref.items()}}),
        "ort_grid.json": dumps({"outputs": {k: tensor(v) for k, v in ref_grid.items()}}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = ap.parse_args()
    bad = 0
    for name, dataset, est, step in models():
        files = build(name, dataset, est, step)
        d = os.path.join(OUT, name)
        for fname, content in files.items():
            path = os.path.join(d, fname)
            if args.check:
                with open(path, "rb") as f:
                    same = f.read() == content
                bad += not same
                print(f"{'ok  ' if same else 'DIFF'} {name}/{fname}", file=sys.stderr)
            else:
                os.makedirs(d, exist_ok=True)
                with open(path, "wb") as f:
                    f.write(content)
        ops = sorted({f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in onnx.load_from_string(files["model.onnx"]).graph.node})
        print(f"{name}: {len(files['model.onnx'])} bytes, ops {', '.join(ops)}", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
