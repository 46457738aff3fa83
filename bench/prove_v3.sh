#!/usr/bin/env bash
# Protocol-3 step-circuit benchmark (superseded by bench/prove.sh, the version-4 leaves): for each model, the heaviest step circuit (most constraints) —
# constraints, Groth16 setup time, proving time, peak memory — next to EZKL proving the
# same operator on the same input, in the same run on the same machine (bench/ezkl_op.py).
# Usage: bench/prove_v3.sh [models...]   (default: dnn variable_cnn lenet5 conv2d)
#        ZKOPML_BENCH_NO_EZKL=1 bench/prove_v3.sh ...   to skip the peer.
# Prints a markdown table; raw JSON lands in bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p zkopml
Z=target/release/zkopml
mkdir -p bench/out
if [[ -z "${ZKOPML_BENCH_NO_EZKL:-}" ]]; then
  [[ -x bench/.venv/bin/python ]] || python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
fi
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(dnn variable_cnn lenet5 conv2d)
echo "| model | heaviest step | constraints | setup (s) | prove (s) | peak RSS (MB) | EZKL rows (2^k) | EZKL setup (s) | EZKL prove (s) | EZKL peak RSS (MB) | prove speed-up |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  onnx=testdata/$m/model.onnx
  "$Z" circuits --model "$onnx" --json > "bench/out/$m-circuits.json"
  read -r step ops node < <(python3 -c '
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["constraints"]]
b = max(rows, key=lambda r: r["constraints"])
print(b["step"], b["ops"], b["nodes"][0])' "bench/out/$m-circuits.json")
  keys=$(mktemp -d)
  /usr/bin/time -v "$Z" prove --model "$onnx" --input "testdata/$m/input.json" --step "$step" \
    --keys "$keys" --out "bench/out/$m-proof.json" --json > "bench/out/$m-prove.json" 2> "bench/out/$m-time.txt"
  rm -rf "$keys"
  peak=$(awk '/Maximum resident/ {print int($6/1024)}' "bench/out/$m-time.txt")
  ezkl=bench/out/$m-ezkl.json
  if [[ -z "${ZKOPML_BENCH_NO_EZKL:-}" ]]; then
    work=$(mktemp -d)
    bench/.venv/bin/python bench/ezkl_op.py "$m" "$node" --workdir "$work" 2> "bench/out/$m-ezkl.log" | tail -1 > "$ezkl"
    rm -rf "$work"
  else
    echo '{}' > "$ezkl"
  fi
  python3 bench/prove_row_v3.py "bench/out/$m-prove.json" "$ezkl" "$m" "$step" "$ops" "$node" "$peak"
done
