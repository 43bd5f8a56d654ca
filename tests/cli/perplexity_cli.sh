#!/usr/bin/env bash
# perplexity against llama.cpp's llama-perplexity (qualcomm/llama.cpp 10e978015, -c 256 -b 256 --chunks 4)
# on the demo model and Debian's GPL-3 text: final PPL within 0.1% (f16) / 0.5% (quantized), the KL
# divergence of q4_0 against the f16's base file within 1%, and the command-line contract.
# Usage: perplexity_cli.sh EXAMPLES_DIR SHARED_DIR
set -u
bin=$1
shared=$2
run() { ${TINYLLM_RUNNER:-} "$@"; }
source "$(dirname "$0")/contract.sh"
within() {  # actual, reference, relative tolerance -> ok or the difference
  awk -v a="$1" -v r="$2" -v t="$3" 'BEGIN { d = (a - r) / r; if (d < 0) d = -d; if (a != "" && d <= t) print "ok"; else printf "%s vs %s (%.4f%%)\n", a, r, 100 * d }'
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ppl=$bin/perplexity
models=$shared/models
text=/usr/share/common-licenses/GPL-3  # Debian's base-files ships it on every system

check_error "unknown flag" "unknown argument '--frob'" "$ppl" --frob
check_error "no model" "no model given" "$ppl" -f x
check_error "--kl-divergence without its file" "needs the base file" "$ppl" -m x --kl-divergence
check_error "bad -c" "bad value '1' for -c" "$ppl" -m x -f y -c 1
check_error "-c 2 scores no token" "bad value '2' for -c (expected an integer in 3.." "$ppl" -m x -f y -c 2
if [ ! -f "$models/shakespeare5m-f16.gguf" ] || [ ! -f "$text" ]; then
  echo "skipped: $models or $text not found (the llama.cpp comparisons)"
  finish perplexity_cli; exit
fi
check_error "missing text" "cannot read the text" "$ppl" -m "$models/shakespeare5m-f16.gguf" -f "$tmp/none.txt"
printf 'ROMEO: But soft!\n' > "$tmp/short.txt"
check_error "text shorter than two chunks" "tokenizes to 9 tokens; a context of 256 needs at least 512" "$ppl" -m "$models/shakespeare5m-f16.gguf" -f "$tmp/short.txt"
check_error "chunk longer than the model's context" "longer than the model's context of 256" "$ppl" -m "$models/shakespeare5m-f16.gguf" -f "$text" -c 512
check_error "unwritable base file before any work" "cannot write" "$ppl" -m "$models/shakespeare5m-f16.gguf" -f "$text" --kl-divergence-base /nonexistent/dir/base

# llama-perplexity's final PPL on each file.
for ref in f16:158.1994:0.001 q8_0:158.4415:0.005 q4_0:156.3920:0.005 q4_k_m:158.5390:0.005; do
  IFS=: read -r type reference tolerance <<<"$ref"
  out=$(run "$ppl" -m "$models/shakespeare5m-$type.gguf" -f "$text" -c 256 --chunks 4 -t 2 2>/dev/null)
  expect "$type: final PPL as llama-perplexity's" "ok" "$(within "$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) .*/\1/p' <<<"$out")" "$reference" "$tolerance")"
done
expect "the running values, one per chunk" "4" "$(head -1 <<<"$out" | grep -o '\[[0-9]*\]' | wc -l)"
if [ -f "$models/shakespeare5m_fp32_kv.pte" ]; then
  out=$(run "$ppl" -m "$models/shakespeare5m_fp32_kv.pte" --tokenizer "$models/shakespeare5m-f16.gguf" -f "$text" --chunks 4 2>/dev/null)
  expect "the .pte program of the same weights: PPL as llama-perplexity's on the f16" "ok" \
    "$(within "$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) .*/\1/p' <<<"$out")" 158.1994 0.001)"
fi

# KL divergence: the f16 writes the base file in llama.cpp's format, q4_0 is compared with it.
out=$(run "$ppl" -m "$models/shakespeare5m-f16.gguf" -f "$text" -c 256 --chunks 4 --kl-divergence-base "$tmp/base.kld" 2>/dev/null)
expect "writing the base file keeps the PPL" "ok" "$(within "$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) .*/\1/p' <<<"$out")" 158.1994 0.001)"
expect "base file size: header, 4x256 tokens, 4x127 rows of 1028 words" "$((20 + 4 * 256 * 4 + 4 * 127 * 1028 * 2))" "$(stat -c %s "$tmp/base.kld")"
out=$(run "$ppl" -m "$models/shakespeare5m-q4_0.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence 2>/dev/null)
expect "q4_0: mean KLD as llama-perplexity's (0.011200)" "ok" "$(within "$(sed -n 's/^Mean    KLD: *\([0-9.]*\) .*/\1/p' <<<"$out")" 0.011200 0.01)"
# The base PPL comes from the file's 16-bit rows (tokens more than 16 below the top read as the floor):
# llama.cpp reads 152.724774 from its own file.
expect "q4_0: the base PPL read from the file as llama.cpp reads its own" "ok" \
  "$(within "$(sed -n 's/^Mean PPL(base) *: *\([0-9.]*\) .*/\1/p' <<<"$out")" 152.724774 0.001)"
out=$(run "$ppl" -m "$models/shakespeare5m-f16.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence --chunks 2 2>/dev/null)
expect "f16 against its own base: zero KLD, the same top token everywhere" "0.000000 100.000" \
  "$(sed -n 's/^Mean    KLD: *-\{0,1\}\([0-9.]*\) .*/\1/p' <<<"$out") $(sed -n 's/^Same top p: *\([0-9.]*\) .*/\1/p' <<<"$out")"
if [ -f "$shared/fixtures/gguf/stories260K-f32.gguf" ]; then
  check_error "a base file of another vocabulary" "vocabulary has 1024 tokens, the model's 512" \
    "$ppl" -m "$shared/fixtures/gguf/stories260K-f32.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence
fi
head -c 100000 "$tmp/base.kld" > "$tmp/cut.kld"
check_error "a truncated base file" "truncated" "$ppl" -m "$models/shakespeare5m-q4_0.gguf" --kl-divergence-base "$tmp/cut.kld" --kl-divergence
check_error "-c other than the base file's" "holds chunks of 256 tokens, not 128" "$ppl" -m "$models/shakespeare5m-q4_0.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence -c 128
finish perplexity_cli
