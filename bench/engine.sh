#!/usr/bin/env bash
# Engine speed: per model, our fixed-point kernels alone, kernels + the output commitment S_n
# (a challenger's check of a response), our traced execution (with every state commitment),
# tract (f32, optimised plan) and ONNX Runtime (f32), all single-threaded,
# in the same run on the same machine. Median of N runs each.
# Usage: bench/engine.sh [models...]   (default: dnn variable_cnn lenet5 conv2d)
#        ITER=5 bench/engine.sh mobilenet_v2   (fewer runs for big models; traced runs ≤ 10)
#        bench/engine.sh transformers   (the seed's t5, gte, whisper and their generation
#                                         programs, the committed transformer exports and the local
#                                         MiniLM exports under testdata/minilm, when present)
# A model is a directory under testdata/ with model.onnx and input.json or cases.json (the
# first case is timed). tract may refuse a graph: its column then says why.
# PROFILE_OPS=1 also prints per-operator kernel times to stderr.
# The peers binary is $PEERS when set, else built in $CARGO_TARGET_DIR when set (else
# bench/peers/target); the Python with onnxruntime is $PYTHON when set, else bench/.venv
# (created from bench/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=1
if [[ -n "${PEERS:-}" ]]; then
  peers="$PEERS"   # a prebuilt binary (e.g. one built at an earlier commit, for before/after)
else
  (cd bench/peers && cargo build --release -q)
  peers="${CARGO_TARGET_DIR:-bench/peers/target}/release/zkopml-bench-peers"
fi
if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
else
  [[ -x bench/.venv/bin/python ]] || python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
  py=bench/.venv/bin/python
fi
mkdir -p bench/out
models=()
for m in "$@"; do
  if [[ "$m" == transformers ]]; then
    models+=(t5 gte whisper t5/generate whisper/generate
             exports/bert_mask exports/t5_encoder exports/t5_decoder exports/whisper
             exports/t5_generate exports/whisper_generate)
    for d in minilm/torchscript_op14 minilm/dynamo_op17; do
      [[ -f "testdata/$d/model.onnx" ]] && models+=("$d")
    done
  else
    models+=("$m")
  fi
done
[[ ${#models[@]} -eq 0 ]] && models=(dnn variable_cnn lenet5 conv2d)
echo "| model | ours, kernels (ms) | ours, kernels + S_n (ms) | ours, traced (ms) | tract (ms) | ONNX Runtime (ms) | kernels / ORT | (kernels + S_n) / kernels | traced / kernels |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  out="bench/out/${m//\//_}"
  "$peers" "testdata/$m" "${ITER:-50}" > "$out-engine.json"
  "$py" bench/ort.py "testdata/$m" "${ITER:-50}" > "$out-ort.json"
  python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
k, v, tr, t, o = a["ours_kernels_ms"], a["ours_verify_ms"], a["ours_traced_ms"], a["tract_ms"], b["ort_ms"]
ts = f"{t:.3f}" if t is not None else "refused (" + a["tract_refused"].replace("|", "/") + ")"
print(f"| {sys.argv[3]} | {k:.3f} | {v:.3f} | {tr:.1f} | {ts} | {o:.3f} | {k/o:.2f} | {v/k:.2f} | {tr/k:.0f} |")' \
    "$out-engine.json" "$out-ort.json" "$m"
done
