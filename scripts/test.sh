#!/usr/bin/env bash
# Every test: contracts (forge: unit, fuzz, invariant), the exported ABI/bytecode match a
# fresh build, and the Rust workspace (unit, golden traces, circuits, end-to-end on anvil).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (rustup) first" >&2; exit 1; }
bash scripts/install-toolchain.sh
(cd contracts && ../.tools/bin/forge test)
bash scripts/export-artifacts.sh --check
cargo test --workspace
