#!/usr/bin/env bash
# Runs programs written by examples/convert in ExecuTorch's own runtime (portable and quantized
# kernels, no delegate) and checks they pick the greedy ids `generate` picks on the GGUF.
#
# Usage: scripts/verify-executorch.sh EXECUTORCH_INSTALL_PREFIX [BUILD_DIR] [SHARED_DIR]
#   EXECUTORCH_INSTALL_PREFIX: where ExecuTorch was installed (`cmake --install`), built with
#     EXECUTORCH_BUILD_PORTABLE_OPS=ON, EXECUTORCH_BUILD_KERNELS_QUANTIZED=ON and
#     EXECUTORCH_BUILD_EXTENSION_DATA_LOADER=ON (see the README, "From GGUF to .pte").
#   BUILD_DIR: tinyllm's build (default build), with examples/convert and examples/generate.
# Prints one line per program and exits 1 if any differs.
set -uo pipefail
cd "$(dirname "$0")/.."
et=${1:?usage: scripts/verify-executorch.sh EXECUTORCH_INSTALL_PREFIX [BUILD_DIR] [SHARED_DIR]}
build=${2:-build}
shared=${3:-${TINYLLM_SHARED_DIR:-../shared}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! { cmake -S scripts/executorch-runner -B "$work/runner" -DCMAKE_PREFIX_PATH="$et" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$work/runner" -j2; } >"$work/runner.log" 2>&1; then
  tail -20 "$work/runner.log"; echo "cannot build the runner against $et"; exit 1
fi
runner=$work/runner/greedy_runner
failed=0
check() {  # name, gguf, prompt ids, convert options...
  local name=$1 gguf=$2 ids=$3; shift 3
  "$build/examples/convert" "$gguf" "$work/p.pte" "$@" >/dev/null 2>"$work/convert.err" || { echo "FAIL $name: convert: $(cat "$work/convert.err")"; failed=1; return; }
  local want got
  want=$("$build/examples/generate" -m "$gguf" --prompt-ids "$ids" -n 32 --temp 0 --print-ids 2>/dev/null)
  got=$("$runner" "$work/p.pte" --prompt-ids "$ids" -n 32 2>"$work/run.err") || { echo "FAIL $name: ExecuTorch: $(tail -3 "$work/run.err")"; failed=1; return; }
  if [ "$want" == "$got" ]; then echo "ok   $name: $got"; else printf 'FAIL %s\n  generate on the GGUF: %s\n  ExecuTorch:           %s\n' "$name" "$want" "$got"; failed=1; fi
}
demo=1,870,983,13  # the demo prompt "ROMEO:\n" with BOS
check "stories260K f32" "$shared/fixtures/gguf/stories260K-f32.gguf" 1,403,407,261,378,275,289,268
check "shakespeare5m f16 (keep)" "$shared/models/shakespeare5m-f16.gguf" "$demo"
check "shakespeare5m q8_0 (keep)" "$shared/models/shakespeare5m-q8_0.gguf" "$demo"
check "shakespeare5m q4_0 (keep)" "$shared/models/shakespeare5m-q4_0.gguf" "$demo"
check "shakespeare5m f16 (--weights f32)" "$shared/models/shakespeare5m-f16.gguf" "$demo" --weights f32
for arch in llama llama3 qwen2 qwen3; do
  check "synthetic $arch f16" "$shared/fixtures/gguf/synthetic/$arch-f16.gguf" 1,20,30,40,50,60,70,80 --max-seq-len 128
done
exit $failed
