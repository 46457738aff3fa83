#!/usr/bin/env bash
# The happy path's cost (issue 13): what a version-4 party computes per request when nobody
# disputes — the request's input state S_0 (checked against the request), the inference
# kernels and the outputs' state S_n (the response) — each the fastest of REPEAT runs
# (default 20), by `zkopml run --protocol 4` (release build), one thread — except the answer
# column, which checks S_0 on a second thread beside the kernels, as an agent does.
# Usage: bash bench/happy_path.sh [models...]   (default: dnn lenet5 conv2d mobilenet_v2)
# A model is a directory under testdata/ with model.onnx and input.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=1
[[ -n "${ZKOPML_BENCH_NO_BUILD:-}" ]] || cargo build --release -q -p zkopml
bin="${CARGO_TARGET_DIR:-target}/release/zkopml"
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(dnn lenet5 conv2d mobilenet_v2)
echo "| model | input values | S_0 (ms) | kernels (ms) | S_n (ms) | happy path / kernels | (kernels + S_n) / kernels | answer, S_0 beside the kernels (ms) | answer / kernels |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  "$bin" --json run --protocol 4 --repeat "${REPEAT:-20}" \
    --model "testdata/$m/model.onnx" --input "testdata/$m/input.json" \
    | python3 -c '
import json, sys
m = sys.argv[1]
r = json.load(sys.stdin)
inputs = json.load(open(f"testdata/{m}/input.json"))["inputs"]
n = sum(len(t["data"]) for t in inputs.values())
s0, k, sn = r["input_state_s"] * 1e3, r["kernels_s"] * 1e3, r["output_state_s"] * 1e3
a = r["answer_s"] * 1e3
print(f"| {m} | {n:,} | {s0:.3f} | {k:.3f} | {sn:.3f} | {(s0 + k + sn) / k:.2f} | {(k + sn) / k:.2f} | {a:.3f} | {a / k:.2f} |")
' "$m"
done
