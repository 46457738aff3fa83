#!/usr/bin/env bash
# Leaf-proof benchmark: for each model, the heaviest step circuit (most constraints) —
# constraints, Groth16 setup time, proving time, peak memory — on this machine.
# Usage: bench/prove.sh [models...]   (default: dnn variable_cnn lenet5 conv2d)
# Prints a markdown table; raw JSON lands in bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p zkopml
Z=target/release/zkopml
mkdir -p bench/out
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(dnn variable_cnn lenet5 conv2d)
echo "| model | heaviest step | operator | constraints | setup (s) | prove (s) | peak RSS (MB) |"
echo "|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  onnx=testdata/$m/model.onnx
  "$Z" circuits --model "$onnx" --json > "bench/out/$m-circuits.json"
  read -r step ops < <(python3 -c '
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["constraints"]]
b = max(rows, key=lambda r: r["constraints"])
print(b["step"], b["ops"])' "bench/out/$m-circuits.json")
  keys=$(mktemp -d)
  /usr/bin/time -v "$Z" prove --model "$onnx" --input "testdata/$m/input.json" --step "$step" \
    --keys "$keys" --out "bench/out/$m-proof.json" --json > "bench/out/$m-prove.json" 2> "bench/out/$m-time.txt"
  rm -rf "$keys"
  peak=$(awk '/Maximum resident/ {print int($6/1024)}' "bench/out/$m-time.txt")
  python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {p[\"constraints\"]:,} | {p[\"setup_s\"]:.2f} | {p[\"prove_s\"]:.2f} | {sys.argv[5]} |")' \
    "bench/out/$m-prove.json" "$m" "$step" "$ops" "$peak"
done
