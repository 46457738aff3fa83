#!/usr/bin/env bash
# The load benchmark: N requests in flight (default 100) on a devnet against two submitter
# agents (one lying on the first tenth of the requests) and two challenger agents, the chain's
# clock at 10x (ZKOPML_LOAD_SPEEDUP). Prints throughput, p50/p95/max request -> final, the
# agents' resident memory over the run, and fails unless every request ends final with the
# honest response and every lie is disproven (crates/agents/tests/anvil/load.rs).
# Usage: bash bench/load.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-toolchain.sh >/dev/null
ZKOPML_LOAD_REQUESTS="${1:-100}" cargo test --workspace --test anvil \
  load::load_many_requests_two_submitters_two_challengers -- --ignored --nocapture --exact 2>&1 \
  | grep -E '^load:|^test result|panicked|assert'
