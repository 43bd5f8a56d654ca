#!/usr/bin/env bash
# Where examples/generate stops: at a --stop string (never printed) and at the vocabulary's
# end-of-turn tokens (ChatML <|im_end|>, Llama 3 <|eot_id|>), also in --chat.
# Usage: stop_cli.sh GENERATE_BINARY MAKE_RANDOM_MODEL_BINARY SHARED_DIR
set -u
gen=$1
make_model=$2
shared=$3
run() { ${TINYLLM_RUNNER:-} "$gen" "$@"; }
source "$(dirname "$0")/contract.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -d "$shared/models" ]; then
  model="$shared/models/shakespeare5m-q8_0.gguf"
  prompt=$'ROMEO:\nBut soft, what light'
  full=$(run -m "$model" -p "$prompt" -n 64 --temp 0 2>/dev/null)
  rest=${full:${#prompt}}
  stop="ROMEO"
  if [[ "$rest" != *"$stop"* ]]; then stop=$(cut -c3-6 <<<"$(sed -n 2p <<<"$rest")"); fi
  out=$(run -m "$model" -p "$prompt" -n 64 --temp 0 --stop "$stop" 2>"$tmp/err")
  expect "--stop ends the text just before the stop string" "$prompt${rest%%"$stop"*}" "$out"
  expect "--stop reports why it stopped" "yes" "$(grep -q 'stop: stop string' "$tmp/err" && echo yes || echo no)"
  out=$(run -m "$model" -p "$prompt" -n 64 --temp 0 --stop "never in the text" --stop "$stop" 2>/dev/null)
  expect "--stop is repeatable" "$prompt${rest%%"$stop"*}" "$out"
else
  echo "skipped: $shared not found (the --stop cases)"
fi

# Test models whose greedy choice is always id 0, their vocabulary's end-of-turn token.
for vocab in chatml llama3; do
  ${TINYLLM_RUNNER:-} "$make_model" "$tmp/$vocab.gguf" --preset small --vocab-type $vocab --zero-output >/dev/null
  err=$(run -m "$tmp/$vocab.gguf" -p "hi" -n 16 --temp 0 2>&1 >/dev/null)
  expect "$vocab: generation stops at the end-of-turn token" "yes" \
    "$(grep -q 'generation: 0 tokens.*stop: end of generation' <<<"$err" && echo yes || echo "$err")"
  turns=$(printf 'hello\nand again\n' | run -m "$tmp/$vocab.gguf" --chat-template $vocab -n 16 --temp 0 2>&1 >/dev/null | grep '^\[turn')
  expect "$vocab: --chat stops each reply at the end-of-turn token" "2" "$(grep -c ', 0 generated' <<<"$turns")"
done

finish stop_cli
