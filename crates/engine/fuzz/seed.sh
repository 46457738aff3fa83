#!/usr/bin/env bash
# Starting corpus for the `load` target: every committed model file.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p seeds/load
for m in ../../../testdata/*/model.onnx ../../../testdata/exports/*/model.onnx; do
  cp "$m" "seeds/load/$(basename "$(dirname "$m")").onnx"
done
