#!/usr/bin/env bash
# Regenerates tests/fixtures/architectures/ from llama.cpp: for random-weight models of the
# architectures checked there, llama.cpp's logits over a 12-token prompt (one batch) and its
# 32 greedy ids (one token at a time). Also runs `generate` on each model and prints whether
# its greedy ids are llama.cpp's.
#
# Usage: scripts/llama-references.sh LLAMA_CPP_DIR [BUILD_DIR]
#   LLAMA_CPP_DIR: a llama.cpp checkout built with CMake into LLAMA_CPP_DIR/build (libllama).
#   BUILD_DIR: tinyllm's build (default build), with make_random_model, quantize and generate.
# Each fixture is NAME.ref.json ({"model": make_random_model options, "quantize": type or "",
# "prompt": ids, "greedy": ids}) and NAME.ref.logits.f32 (float32 [12][n_vocab]).
set -euo pipefail
cd "$(dirname "$0")/.."
llama=${1:?usage: scripts/llama-references.sh LLAMA_CPP_DIR [BUILD_DIR]}
build=${2:-build}
out=tests/fixtures/architectures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lib=$llama/build/bin
g++ -O2 -std=c++17 scripts/llama-reference/llama_logits.cpp -I"$llama/include" -I"$llama/ggml/include" \
  -L"$lib" -lllama -lggml -lggml-base -Wl,-rpath,"$lib" -o "$work/llama_logits"
cmake --build "$build" --target make_random_model quantize generate >/dev/null

prompt="1 17 200 35 4 287 99 150 3 64 128 250"
small="--vocab 288 --embd 256 --ctx 128"
phi2="--arch phi2 $small --layers 2 --heads 4 --kv-heads 4 --rot 32 --ff 1024 --seed 21"
openelm="--arch openelm $small --layers 3 --head-dim 64 --layer-heads 2,3,4 --layer-kv-heads 1,3,2 --layer-ff 512,768,1024 --seed 22"
smollm3="--arch smollm3 $small --layers 4 --heads 4 --kv-heads 2 --ff 512 --rope-base 5000000 --tied-output --seed 23"
# name | make_random_model options | quantize type (empty: none)
models=(
  "phi2-f32|$phi2 --type f32|"
  "phi2-f16|$phi2 --type f16|"
  "phi2-q8_0|$phi2 --type q8_0|"
  "phi2-q4_k_m|$phi2 --type f32|q4_k_m"
  "phi2-fused-f16|$phi2 --fused-qkv --type f16|"
  "phi2-gqa-q8_0|${phi2/--kv-heads 4/--kv-heads 2} --fused-qkv --type q8_0|"
  "openelm-f32|$openelm --type f32|"
  "openelm-f16|$openelm --type f16|"
  "openelm-q8_0|$openelm --type q8_0|"
  "openelm-q4_k_m|$openelm --type f32|q4_k_m"
  "smollm3-f32|$smollm3 --type f32|"
  "smollm3-f16|$smollm3 --type f16|"
  "smollm3-q8_0|$smollm3 --type q8_0|"
  "smollm3-q4_k_m|$smollm3 --type f32|q4_k_m"
)
mkdir -p "$out"
failed=0
for entry in "${models[@]}"; do
  IFS='|' read -r name options quant <<<"$entry"
  model=$work/$name.gguf
  # shellcheck disable=SC2086 # options are words
  "$build/examples/make_random_model" "$model" $options >/dev/null
  if [ -n "$quant" ]; then
    "$build/examples/quantize" "$model" "$work/q.gguf" "$quant" >/dev/null
    mv "$work/q.gguf" "$model"
  fi
  # shellcheck disable=SC2086
  greedy=$("$work/llama_logits" "$model" "$out/$name.ref.logits.f32" 32 $prompt | sed -n 's/^greedy: //p')
  printf '{"model": "%s", "quantize": "%s",\n "prompt": [%s],\n "greedy": [%s]}\n' \
    "$options" "$quant" "$(echo $prompt | tr ' ' ',' | sed 's/,/, /g')" "$(echo "$greedy" | sed 's/,/, /g')" >"$out/$name.ref.json"
  ours=$("$build/examples/generate" -m "$model" --prompt-ids "$(echo $prompt | tr ' ' ',')" -n 32 --temp 0 --print-ids --ignore-eos \
    --dump-logits "$work/ours.f32" 2>/dev/null | tr ' ' ',')
  nrmse=$(python3 - "$work/ours.f32" "$out/$name.ref.logits.f32" <<'PY'
import array, math, sys
ours, ref = (array.array('f', open(p, 'rb').read()) for p in sys.argv[1:3])
rows = 12; n = len(ref) // rows
print('%.2g' % max(math.sqrt(sum((ours[r * n + i] - ref[r * n + i]) ** 2 for i in range(n)) /
                            sum(ref[r * n + i] ** 2 for i in range(n))) for r in range(rows)))
PY
)
  if [ "$ours" == "$greedy" ]; then echo "ok   $name: logits max nrmse $nrmse, 32 greedy ids equal"; else
    printf 'DIFF %s: logits max nrmse %s\n  llama.cpp: %s\n  generate:  %s\n' "$name" "$nrmse" "$greedy" "$ours"; failed=1; fi
done
exit $failed
