#!/usr/bin/env bash
# Leaf-proof benchmark (protocol 4): for each model, the heaviest leaf of the template library
# that a dispute on it can reach — its operator, template, constraints, key load/setup, prove
# time and peak memory (`zkopml prove --node`, under /usr/bin/time -v) — next to EZKL proving
# the same ONNX operator (the whole node: EZKL has no chunked leaf) on the tensor the model
# really produces there, in the same run on the same machine (bench/ezkl_op.py).
# Usage: bench/prove.sh [models...]   (default: dnn variable_cnn lenet5 conv2d mobilenet_v2;
#        also exports/bert_mask etc.: a model without input.json runs the first of its cases.json)
#        ZKOPML_BENCH_NO_EZKL=1 bench/prove.sh ...   to skip the peer.
#        ZKOPML_BENCH_EZKL_TIMEOUT=900 (seconds per EZKL run; a run past it is reported as such)
#        ZKOPML_BENCH_NO_BUILD=1 (use target/release/zkopml as it is)
# Keys: the library's test keys, made once under bench/out/keys (the first model that needs a
# template pays its setup, reported in the "keys" column; later rows load them).
# Prints a markdown table; raw JSON lands in bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n "${ZKOPML_BENCH_NO_BUILD:-}" ]] || cargo build --release -q -p zkopml
Z=target/release/zkopml
mkdir -p bench/out/keys
if [[ -z "${ZKOPML_BENCH_NO_EZKL:-}" ]]; then
  [[ -x bench/.venv/bin/python ]] || python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
fi
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(dnn variable_cnn lenet5 conv2d mobilenet_v2)
echo "| model | heaviest leaf: node (op) | template | constraints | leaves of the node | keys (s) | prove (s) | peak RSS (MB) | EZKL rows (2^k) | EZKL setup (s) | EZKL prove, whole node (s) | EZKL peak RSS (MB) | EZKL prove / our leaf | EZKL prove / our leaves of the node |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  onnx=testdata/$m/model.onnx
  tag=${m//\//-}
  input=testdata/$m/input.json
  if [[ ! -f $input ]]; then
    input=bench/out/$tag-input.json
    python3 -c 'import json, sys; print(json.dumps({"inputs": json.load(open(sys.argv[1]))["cases"][0]["inputs"]}))' \
      "testdata/$m/cases.json" > "$input"
  fi
  "$Z" circuits --model "$onnx" --templates --json > "bench/out/$tag-leaves.json"
  read -r node op leaves < <(python3 -c '
import json, sys
ops = [o for o in json.load(open(sys.argv[1]))["operators"] if o["constraints"]]
b = max(ops, key=lambda o: o["constraints"])
print(b["node"], b["op"], b["leaves"])' "bench/out/$tag-leaves.json")
  /usr/bin/time -v "$Z" prove --model "$onnx" --input "$input" --node "$node" \
    --keys bench/out/keys --out "bench/out/$tag-leaf-proof.json" --json \
    > "bench/out/$tag-leaf.json" 2> "bench/out/$tag-leaf-time.txt"
  peak=$(awk '/Maximum resident/ {print int($6/1024)}' "bench/out/$tag-leaf-time.txt")
  ezkl=bench/out/$tag-ezkl.json
  echo '{}' > "$ezkl"
  if [[ -z "${ZKOPML_BENCH_NO_EZKL:-}" ]]; then
    work=$(mktemp -d)
    if timeout "${ZKOPML_BENCH_EZKL_TIMEOUT:-900}" bench/.venv/bin/python bench/ezkl_op.py "$m" "$node" \
      --workdir "$work" --input "$input" 2> "bench/out/$tag-ezkl.log" | tail -1 > "$ezkl.tmp"; then
      mv "$ezkl.tmp" "$ezkl"
    else
      echo "{\"failed\": \"exit $? (see bench/out/$tag-ezkl.log)\"}" > "$ezkl"
    fi
    rm -rf "$work" "$ezkl.tmp"
  fi
  python3 bench/prove_row.py "bench/out/$tag-leaf.json" "$ezkl" "$m" "$node" "$op" "$leaves" "$peak"
done
