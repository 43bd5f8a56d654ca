#!/usr/bin/env bash
# Drives `generate --chat` through stdin like a terminal session would.
# Usage: chat_cli.sh GENERATE_BINARY SHARED_DIR
set -u
gen=$1
# When cross-compiled, programs run through an emulator (TINYLLM_RUNNER, e.g. "qemu-aarch64 -L ...").
run() { ${TINYLLM_RUNNER:-} "$gen" "$@"; }
shared=$2
passed=0
failed=0
expect() {  # name, condition-result (yes/no...)
  if [ "$2" == "yes" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1 ($2)"; fi
}
if [ ! -d "$shared/models" ]; then echo "skipped: $shared not found"; exit 0; fi
model="$shared/models/shakespeare5m-q8_0.gguf"
err=$(mktemp)

out=$(printf 'ROMEO, art thou there?\nSpeak again.\n' | run -m "$model" --chat-template chatml -n 24 --temp 0 2>"$err")
rc=$?
expect "two turns exit 0" "$([ $rc -eq 0 ] && echo yes || echo "rc=$rc")"
expect "one reply line per turn" "$([ "$(grep -c . <<<"$out")" -ge 2 ] && echo yes || echo "$out")"
turns=$(grep '^\[turn' "$err")
expect "two turns reported" "$([ "$(grep -c . <<<"$turns")" -eq 2 ] && echo yes || echo "$turns")"
# The second turn evaluates only its own tokens: the cache kept the first turn.
new2=$(sed -n '2s/.*turn: \([0-9]*\) new.*/\1/p' <<<"$turns")
ctx2=$(sed -n '2s/.*context \([0-9]*\)\/.*/\1/p' <<<"$turns")
gen2=$(sed -n '2s/.*, \([0-9]*\) generated.*/\1/p' <<<"$turns")
expect "KV cache kept across turns" "$([ -n "$new2" ] && [ "$ctx2" -gt $((new2 + gen2 + 30)) ] && echo yes || echo "$turns")"
again=$(printf 'ROMEO, art thou there?\nSpeak again.\n' | run -m "$model" --chat-template chatml -n 24 --temp 0 2>/dev/null)
expect "greedy chat is deterministic" "$([ "$out" == "$again" ] && echo yes || echo no)"

# A small context fills up and says so instead of failing.
full=$(yes 'Tell me more of thy fair Verona and the houses of Montague and Capulet' | head -20 | run -m "$model" --chat-template chatml -c 96 -n 16 --temp 0 2>/dev/null)
expect "context full is reported" "$(grep -q 'context full' <<<"$full" && echo yes || echo no)"

run -m "$model" --chat-template klingon </dev/null >/dev/null 2>"$err"
rc=$?
expect "unknown template is refused by name" "$([ $rc -eq 1 ] && grep -q klingon "$err" && echo yes || echo "rc=$rc $(cat "$err")")"
run -m "$model" --chat </dev/null >/dev/null 2>"$err"
rc=$?
expect "missing chat template says how to choose one" "$([ $rc -eq 1 ] && grep -q -- '--chat-template' "$err" && echo yes || echo "rc=$rc")"
rm -f "$err"
echo "chat_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
