#!/usr/bin/env bash
# Engine speed: per model, our fixed-point kernels alone, kernels + the output commitment S_n
# (a challenger's check of a response), our traced execution (with every state commitment),
# tract (f32, optimised plan) and ONNX Runtime (f32), all single-threaded,
# in the same run on the same machine. Median of N runs each.
# Usage: bench/engine.sh [models...]   (default: dnn variable_cnn lenet5 conv2d)
#        ITER=5 bench/engine.sh mobilenet_v2   (fewer runs for big models; traced runs ≤ 10)
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=1
(cd bench/peers && cargo build --release -q)
[[ -x bench/.venv/bin/python ]] || python3 -m venv bench/.venv
bench/.venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
mkdir -p bench/out
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(dnn variable_cnn lenet5 conv2d)
echo "| model | ours, kernels (ms) | ours, kernels + S_n (ms) | ours, traced (ms) | tract (ms) | ONNX Runtime (ms) | kernels / ORT | (kernels + S_n) / kernels | traced / kernels |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  bench/peers/target/release/zkopml-bench-peers "testdata/$m" "${ITER:-50}" > "bench/out/$m-engine.json"
  bench/.venv/bin/python bench/ort.py "testdata/$m" "${ITER:-50}" > "bench/out/$m-ort.json"
  python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
k, v, tr, t, o = a["ours_kernels_ms"], a["ours_verify_ms"], a["ours_traced_ms"], a["tract_ms"], b["ort_ms"]
print(f"| {sys.argv[3]} | {k:.3f} | {v:.3f} | {tr:.1f} | {t:.3f} | {o:.3f} | {k/o:.2f} | {v/k:.2f} | {tr/k:.0f} |")' \
    "bench/out/$m-engine.json" "bench/out/$m-ort.json" "$m"
done
