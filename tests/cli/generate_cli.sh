#!/usr/bin/env bash
# Checks examples/generate's command-line contract against the reference fixtures.
# Usage: generate_cli.sh GENERATE_BINARY SHARED_DIR
set -u
gen=$1
# When cross-compiled, programs run through an emulator (TINYLLM_RUNNER, e.g. "qemu-aarch64 -L ...").
run() { ${TINYLLM_RUNNER:-} "$gen" "$@"; }
shared=$2
source "$(dirname "$0")/contract.sh"
json_ids() {  # file, key, count
  python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))[sys.argv[2]][:int(sys.argv[3])])))" "$1" "$2" "$3"
}
if [ ! -d "$shared/fixtures" ]; then echo "skipped: $shared not found"; exit 0; fi

for t in f32 f16; do
  out=$(run -m "$shared/fixtures/gguf/stories260K-$t.gguf" --prompt-ids 1,403,407,261,378,275,289,268 -n 32 --temp 0 --print-ids 2>/dev/null)
  expect "stories260K-$t greedy ids" "$(json_ids "$shared/fixtures/gguf/stories260K-$t.ref.json" greedy 32)" "$out"
done

prompt=$'ROMEO:\nBut soft, what light'
out=$(run -m "$shared/models/shakespeare5m-f16.gguf" -p "$prompt" -n 64 --temp 0 --print-ids 2>/dev/null)
expect "shakespeare5m-f16 greedy ids" "$(json_ids "$shared/models/shakespeare5m.torch.json" greedy 64)" "$out"
text=$(run -m "$shared/models/shakespeare5m-f16.gguf" -p "$prompt" -n 64 --temp 0 2>/dev/null)
expect "text output starts with the prompt" "$prompt" "${text:0:${#prompt}}"
expect "text output is readable (ROMEO speaks again)" "yes" "$(grep -q 'ROMEO' <<<"${text:${#prompt}}" && echo yes || echo no)"

tmp=$(mktemp)
run -m "$shared/fixtures/gguf/stories260K-f32.gguf" --prompt-ids 1,403,407,261,378,275,289,268 -n 1 --temp 0 --dump-logits "$tmp" >/dev/null 2>&1
expect "dump-logits size [8][512] floats" "16384" "$(stat -c %s "$tmp")"
max_err=$(python3 -c "
import struct,sys
a=open(sys.argv[1],'rb').read(); b=open(sys.argv[2],'rb').read()
x=struct.unpack('%df'%(len(a)//4),a); y=struct.unpack('%df'%(len(b)//4),b)
print('ok' if len(x)==len(y) and max(abs(p-q) for p,q in zip(x,y)) < 1e-3 else 'mismatch')" "$tmp" "$shared/fixtures/gguf/stories260K-f32.ref.logits.f32")
expect "dump-logits matches the llama.cpp logits" "ok" "$max_err"
rm -f "$tmp"

# Same seed, same text; threads do not change the ids.
a=$(run -m "$shared/models/shakespeare5m-q8_0.gguf" -p "ROMEO:" -n 40 --temp 0.8 --seed 7 --print-ids -t 1 2>/dev/null)
b=$(run -m "$shared/models/shakespeare5m-q8_0.gguf" -p "ROMEO:" -n 40 --temp 0.8 --seed 7 --print-ids -t 2 2>/dev/null)
expect "seeded sampling is reproducible across thread counts" "$a" "$b"

check_error "missing file" "cannot open" -m /nonexistent.gguf
check_error "neither GGUF nor .pte" "bad magic" -m "$shared/models/shakespeare5m.vocab-test.inp"
check_error ".pte that is no Llama export" "unsupported architecture" -m "$shared/fixtures/pte/add.pte" --prompt-ids 1 --print-ids
head -c 5000 "$shared/models/shakespeare5m-f16.gguf" > "$tmp"
check_error "truncated file" "truncated" -m "$tmp"
rm -f "$tmp"
check_error "token out of range" "token out of range" -m "$shared/models/shakespeare5m-q8_0.gguf" --prompt-ids 1,1024
check_error "bad number" "bad value" -m "$shared/models/shakespeare5m-q8_0.gguf" --temp abc
check_error "unknown flag" "unknown argument" --frobnicate
check_error "missing value" "missing value" -m
mkfifo "$tmp.fifo"
check_error "a FIFO as the model (no hang)" "not a regular file" -m "$tmp.fifo"
rm -f "$tmp.fifo"
for opt in --top-p --typical-p --repeat-penalty; do
  check_error "$opt 0 refused by the option's name" "bad value '0' for $opt" -m "$shared/models/shakespeare5m-q8_0.gguf" $opt 0
done
check_error "unknown chat template before any output" "klingon" -m "$shared/models/shakespeare5m-q8_0.gguf" --chat-template klingon
check_error "unwritable --dump-logits before the prompt runs" "cannot write" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --dump-logits /nonexistent/dir/x
check_error "--tokenizer with a GGUF model" "tokenizer is for .pte" -m "$shared/models/shakespeare5m-q8_0.gguf" --tokenizer "$shared/models/shakespeare5m-q8_0.gguf" -p hi
check_error "--draft-model and --lookup together" "three ways of drafting" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookup 3 --draft-model x
check_error "--lookahead and --lookup together" "three ways of drafting" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookup 3 --lookahead 4,3,2
check_error "--lookahead without G" "needs W,N,G" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookahead 4,3
check_error "--lookahead N of 2" "bad value '2' for --lookahead N" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookahead 4,2,2
check_error "--draft-max with --lookahead" "checks its whole tree" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookahead 4,3,2 --draft-max 5
check_error "--lookahead with a .pte program" "cannot: use a GGUF model" -m "$shared/models/shakespeare5m_fp32_kv.pte" \
  --tokenizer "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookahead 4,3,2
check_error "a draft model of another vocabulary" "draft model has 512 tokens, the model 1024" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi \
  --draft-model "$shared/fixtures/gguf/stories260K-f32.gguf"
check_error "--lookup 1" "bad value '1' for --lookup" -m "$shared/models/shakespeare5m-q8_0.gguf" -p hi --lookup 1
# Drafted tokens are checked: the same greedy ids, with drafts taken.
prompt=$'ROMEO:\nBut soft, what light through yonder window breaks?'
plain=$(run -m "$shared/models/shakespeare5m-f16.gguf" -p "$prompt" -n 96 --temp 0 --print-ids --ignore-eos 2>/dev/null)
for drafting in "--lookup 3" "--draft-model $shared/models/shakespeare5m-q4_0.gguf --draft-max 6" "--lookahead 4,3,3"; do
  ids=$(run -m "$shared/models/shakespeare5m-f16.gguf" -p "$prompt" -n 96 --temp 0 --print-ids --ignore-eos $drafting 2>"$tmp.err")
  expect "$drafting: the greedy ids without drafts" "$plain" "$ids"
  # Which batches follow the first depends on timing (drafting pauses while it does not pay); the first
  # batch is certain, and for lookup and the draft model takes drafts.
  taken='[1-9][0-9]* taken'
  [[ $drafting == --lookahead* ]] && taken='[0-9]+ taken'
  expect "$drafting: drafts checked (and taken)" "yes" "$(grep -qE "drafts: [1-9][0-9]* checked in [1-9][0-9]* steps?, $taken" "$tmp.err" && echo yes || cat "$tmp.err")"
done
rm -f "$tmp.err"
help=$(run --help)
expect "--help shows defaults and template names" "yes" "$(grep -q 'default 0.8' <<<"$help" && grep -q chatml <<<"$help" && echo yes || echo no)"

finish generate_cli
