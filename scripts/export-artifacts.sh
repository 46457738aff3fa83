#!/usr/bin/env bash
# Copies the ABI and creation bytecode of the deployable contracts from the Foundry build
# into crates/chain/artifacts/, where the Rust bindings read them at compile time.
# Run after changing contracts: `bash scripts/export-artifacts.sh` (a test checks they match).
# With --check, compares instead of writing and fails on any difference.
#
# Version 3: <C>.json = {abi, bytecode}. Version 4: the same for contracts without library
# links; a contract that links a library (InferenceMarketV4 → LibChunkDescentLinked →
# PoseidonT3) gets <C>.json = {abi} (what `sol!` reads) and <C>.link.json = {bytecode with
# the `__$…$__` placeholders, linkReferences}, linked by `zkopml_chain::v4` at deploy time.
# PoseidonT3.json: npm poseidon-solidity's published deployment (CREATE2 proxy calldata and
# its deterministic address), the bytecode LibTensorTree's NatSpec says to link.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=0
[[ "${1:-}" == "--check" ]] && check=1
(cd "$root/contracts" && "$root/.tools/bin/forge" build --skip test --skip script >/dev/null)
for c in ModelRegistry InferenceMarket Groth16Verifier \
  ModelRegistryV4 InferenceMarketV4 TemplateRegistry Groth16TemplateVerifier LibChunkDescentLinked; do
  python3 - "$root/contracts/out/$c.sol/$c.json" "$root/crates/chain/artifacts/$c" "$check" <<'PY'
import json, sys
src, dst, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
a = json.load(open(src))
links = a["bytecode"].get("linkReferences") or {}
files = {}
def dump(o):
    return json.dumps(o, indent=1, sort_keys=True) + "\n"
if links:
    files[dst + ".json"] = dump({"abi": a["abi"]})
    files[dst + ".link.json"] = dump({"bytecode": a["bytecode"]["object"], "linkReferences": links})
else:
    files[dst + ".json"] = dump({"abi": a["abi"], "bytecode": a["bytecode"]["object"]})
for path, text in files.items():
    if check:
        try:
            same = open(path).read() == text
        except FileNotFoundError:
            same = False
        if not same:
            sys.exit(f"{path} is stale: run scripts/export-artifacts.sh")
    else:
        open(path, "w").write(text)
PY
done
python3 - "$root/crates/chain/artifacts/PoseidonT3.json" "$check" \
  "$(cd "$root" && node -p "JSON.stringify(require('./.tools/node_modules/poseidon-solidity').PoseidonT3)")" \
  "$(cd "$root" && node -p "require('./.tools/node_modules/poseidon-solidity/package.json').version")" <<'PY'
import json, sys
dst, check, p, version = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3]), sys.argv[4]
text = json.dumps({
    "package": "poseidon-solidity@" + version,
    "address": p["address"],
    "proxyAddress": p["proxyAddress"],
    "data": p["data"],
}, indent=1, sort_keys=True) + "\n"
if check:
    if open(dst).read() != text:
        sys.exit(f"{dst} is stale: run scripts/export-artifacts.sh")
else:
    open(dst, "w").write(text)
PY
[[ $check == 1 ]] && echo "artifacts match the contracts" || echo "exported to crates/chain/artifacts/"
