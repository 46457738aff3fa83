#!/usr/bin/env bash
# The whole story on a fresh machine: installs the pinned Ethereum toolchain, builds, starts a
# devnet, registers a model (default lenet5), plays a defective response against a challenger
# (the challenger wins by bisection and a Groth16 leaf proof verified on chain), then an
# honest response that finalises after the challenge window. Prints a timeline.
# Usage: scripts/demo.sh [extra `zkopml demo` flags, e.g. --model dnn --one-shot, or
# --protocol 4 --model lenet5: version 4, registered with no key setup, the game played to a
# template proof; its 10-minute minimum challenge window is passed by advancing the devnet clock]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (rustup) first" >&2; exit 1; }
bash scripts/install-toolchain.sh
cargo build --release -p zkopml
exec "${CARGO_TARGET_DIR:-target}/release/zkopml" demo --challenge-window 20 "$@"
