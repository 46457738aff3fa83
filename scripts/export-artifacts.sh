#!/usr/bin/env bash
# Copies the ABI and creation bytecode of the deployable contracts from the Foundry build
# into crates/chain/artifacts/, where the Rust bindings read them at compile time.
# Run after changing contracts: `bash scripts/export-artifacts.sh` (a test checks they match).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root/contracts" && "$root/.tools/bin/forge" build --skip test --skip script >/dev/null)
for c in ModelRegistry InferenceMarket Groth16Verifier; do
  python3 - "$root/contracts/out/$c.sol/$c.json" "$root/crates/chain/artifacts/$c.json" <<'PY'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
a = json.load(open(src))
out = {"abi": a["abi"], "bytecode": a["bytecode"]["object"]}
json.dump(out, open(dst, "w"), indent=1, sort_keys=True)
open(dst, "a").write("\n")
PY
done
echo "exported to crates/chain/artifacts/"
