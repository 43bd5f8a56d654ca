#!/usr/bin/env bash
# Builds tinyllm and runs examples/generate on the demo model. Extra arguments go to generate.
# Usage: scripts/demo.sh [generate options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target generate
model=${TINYLLM_SHARED_DIR:-../shared}/models/shakespeare5m-q8_0.gguf
if [ $# -eq 0 ]; then
  set -- -p $'ROMEO:\n' -n 200 --temp 0.8 --top-p 0.95 --seed 42
fi
exec build/examples/generate -m "$model" "$@"
