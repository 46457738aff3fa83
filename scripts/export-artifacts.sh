#!/usr/bin/env bash
# Copies the ABI and creation bytecode of the deployable contracts from the Foundry build
# into crates/chain/artifacts/, where the Rust bindings read them at compile time.
# Run after changing contracts: `bash scripts/export-artifacts.sh` (a test checks they match).
# With --check, compares instead of writing and fails on any difference.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=0
[[ "${1:-}" == "--check" ]] && check=1
(cd "$root/contracts" && "$root/.tools/bin/forge" build --skip test --skip script >/dev/null)
for c in ModelRegistry InferenceMarket Groth16Verifier; do
  python3 - "$root/contracts/out/$c.sol/$c.json" "$root/crates/chain/artifacts/$c.json" "$check" <<'PY'
import json, sys
src, dst, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
a = json.load(open(src))
text = json.dumps({"abi": a["abi"], "bytecode": a["bytecode"]["object"]}, indent=1, sort_keys=True) + "\n"
if check:
    if open(dst).read() != text:
        sys.exit(f"{dst} is stale: run scripts/export-artifacts.sh")
else:
    open(dst, "w").write(text)
PY
done
[[ $check == 1 ]] && echo "artifacts match the contracts" || echo "exported to crates/chain/artifacts/"
