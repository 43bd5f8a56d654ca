#!/usr/bin/env bash
# The README's quantization table: every weight type quantize writes (and the demo's own files), made
# from the demo model's f16 and scored by examples/perplexity on a text against the f16's base file:
# size, PPL, mean KLD, same top token. Prints a Markdown table.
# Usage: scripts/perplexity-table.sh [BUILD_DIR] [TEXT]   (defaults: build, Debian's GPL-3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
text=${2:-/usr/share/common-licenses/GPL-3}
models=$(realpath -m "${TINYLLM_SHARED_DIR:-../shared}")/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f16=$models/shakespeare5m-f16.gguf
"$build/examples/perplexity" -m "$f16" -f "$text" -c 256 --kl-divergence-base "$tmp/base.kld" > "$tmp/f16.txt" 2>/dev/null
ppl_f16=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) .*/\1/p' "$tmp/f16.txt")
printf '| file | MB | PPL | mean KLD vs f16 | same top token |\n|---|---|---|---|---|\n'
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.2f", b / 1e6 }'; }
printf '| f16 | %s | %s | 0 | 100%% |\n' "$(mb "$f16")" "$ppl_f16"
row() {  # label, file
  "$build/examples/perplexity" -m "$2" --kl-divergence-base "$tmp/base.kld" --kl-divergence > "$tmp/kld.txt" 2>/dev/null
  printf '| %s | %s | %s | %s | %s%% |\n' "$1" "$(mb "$2")" \
    "$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\) .*/\1/p' "$tmp/kld.txt" | xargs printf '%.4f')" \
    "$(sed -n 's/^Mean    KLD: *\([0-9.]*\) .*/\1/p' "$tmp/kld.txt")" \
    "$(sed -n 's/^Same top p: *\([0-9.]*\) .*/\1/p' "$tmp/kld.txt")"
}
for type in q8_0 q4_0 q4_k_m; do row "$type (shipped, llama.cpp's quantizer)" "$models/shakespeare5m-$type.gguf"; done
for type in q8_0 q6_k q5_1 q5_0 q4_1 q4_0 q4_k q4_k_m; do
  "$build/examples/quantize" "$f16" "$tmp/$type.gguf" "$type" > /dev/null
  row "$type" "$tmp/$type.gguf"
done
for type in int8 int4; do
  for g in 32 64 128 256; do
    "$build/examples/quantize" "$f16" "$tmp/$type-$g.gguf" "$type" --group-size "$g" > /dev/null
    row "$type, group $g" "$tmp/$type-$g.gguf"
  done
done
