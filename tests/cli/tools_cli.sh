#!/usr/bin/env bash
# The command-line contract of inspect, quantize, tokenize and make_random_model: bad input gives exit
# code 1 and one line naming the problem. Usage: tools_cli.sh EXAMPLES_DIR SHARED_DIR
set -u
bin=$1
shared=$2
run() { ${TINYLLM_RUNNER:-} "$@"; }
source "$(dirname "$0")/contract.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_error "inspect: unknown flag" "unknown argument '--frob'" "$bin/inspect" --frob x.gguf
check_error "inspect: no file" "no file given" "$bin/inspect"
check_error "make_random_model: an option where the output goes" "the first argument is the output file, not '--type'" \
  "$bin/make_random_model" --type q4_0
expect "make_random_model --help: usage, exit 0, no file" "0 yes no" \
  "$(cd "$tmp" && run "$bin/make_random_model" --help >help.txt; echo "$? $(grep -q '^usage: make_random_model OUT.gguf' help.txt && echo yes || echo no) $([ -e ./--help ] && echo yes || echo no)")"
for tool in quantize tokenize convert inspect; do
  expect "$tool --help: its usage on stdout, exit 0" "0 yes" \
    "$(run "$bin/$tool" --help >"$tmp/help.txt" 2>/dev/null; echo "$? $(grep -q "^usage: $tool " "$tmp/help.txt" && echo yes || echo no)")"
done
check_error "make_random_model: unknown architecture" "unknown architecture 'foo'" "$bin/make_random_model" "$tmp/x.gguf" --arch foo
expect "make_random_model: nothing written for a bad architecture" "no" "$([ -e "$tmp/x.gguf" ] && echo yes || echo no)"
check_error "quantize: unknown flag" "unknown argument '--frob'" "$bin/quantize" a.gguf b.gguf q4_0 --frob
check_error "convert: unknown weight format" "unknown weight format 'q2'" "$bin/convert" a.gguf b.pte --weights q2
check_error "convert: missing file" "cannot load 'missing.gguf'" "$bin/convert" missing.gguf "$tmp/m.pte"
if [ -d "$shared/models" ]; then
  check_error "quantize: an already quantized file" "already quantized" "$bin/quantize" "$shared/models/shakespeare5m-q8_0.gguf" "$tmp/q.gguf" q4_0
  run "$bin/quantize" "$shared/models/shakespeare5m-q8_0.gguf" "$tmp/q.gguf" q4_0 --allow-requantize >/dev/null
  expect "quantize: --allow-requantize requantizes" "0" "$?"
  printf 'hello\n__ggml_vocab_test__\nworld' > "$tmp/unclosed.inp"
  out=$(run "$bin/tokenize" -m "$shared/fixtures/vocab/ggml-vocab-llama-spm.gguf" -f "$tmp/unclosed.inp")
  expect "tokenize -f keeps a last case the file does not close" "2" "$(grep -c . <<<"$out")"
  check_error "convert: an architecture it does not write" "architecture 'gemma' is not converted" \
    "$bin/convert" "$shared/fixtures/gguf/synthetic/gemma-f16.gguf" "$tmp/g.pte"
  expect "convert: nothing left behind after a refusal" "no no" "$([ -e "$tmp/g.pte" ] && echo yes || echo no) $([ -e "$tmp/g.pte.partial" ] && echo yes || echo no)"
  run "$bin/convert" "$shared/fixtures/gguf/stories260K-f32.gguf" "$tmp/s.pte" --max-seq-len 64 >/dev/null
  expect "convert: the written program runs in generate" "397,445,447,403" \
    "$(run "$bin/generate" -m "$tmp/s.pte" --prompt-ids 1,403,407,261,378,275,289,268 -n 4 --temp 0 --print-ids 2>/dev/null)"
  # With its tokenizer.json, the program takes text and prints text as the GGUF does.
  demo=$shared/models/shakespeare5m-q8_0.gguf
  run "$bin/convert" "$demo" "$tmp/d.pte" --max-seq-len 64 --tokenizer-out "$tmp/d.json" >/dev/null
  expect "convert --tokenizer-out: generate on the program with tokenizer.json prints the GGUF's text" \
    "$(run "$bin/generate" -m "$demo" -p $'ROMEO:\n' -n 24 --temp 0 2>/dev/null)" \
    "$(run "$bin/generate" -m "$tmp/d.pte" --tokenizer "$tmp/d.json" -p $'ROMEO:\n' -n 24 --temp 0 2>/dev/null)"
  printf '{"model":{"type":"BPE","vocab":{"a":0}' >"$tmp/bad.json"
  check_error "generate: a truncated tokenizer.json is named" "JSON: expected ',' or '}' at byte 38" \
    "$bin/generate" -m "$tmp/d.pte" --tokenizer "$tmp/bad.json" -p hi -n 1
  out=$(run "$bin/inspect" "$shared/fixtures/pte/stories260K_fp32_kv_xnnpack.pte")
  expect "inspect counts an XNNPACK delegate's nodes by type" "yes 63" \
    "$(grep -q '10 values, 5 nodes: Add x1 FullyConnected x1 Multiply x2 ReciprocalSquareRoot x1$' <<<"$out" && echo yes || echo no) $(grep -c 'XnnpackBackend' <<<"$out")"
else
  echo "skipped: $shared not found (the quantize and tokenize cases)"
fi
finish tools_cli
