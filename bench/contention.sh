#!/usr/bin/env bash
# Decode speed when another process takes a core: generate at -t 1 and at its default thread
# count, on a quiet machine and beside one busy process (a shell loop), alternating, ROUNDS
# each; prints the medians and, for the default thread count, its ratio to -t 1 under the same
# load (1.0: the extra threads cost nothing when a core is taken).
#   bench/contention.sh GENERATE MODEL [TOKENS] [ROUNDS]
set -euo pipefail
generate=${1:?usage: contention.sh GENERATE MODEL [TOKENS] [ROUNDS]}
model=${2:?usage: contention.sh GENERATE MODEL [TOKENS] [ROUNDS]}
tokens=${3:-128}
rounds=${4:-5}
hog=""
trap '[ -n "$hog" ] && kill "$hog" 2>/dev/null || true' EXIT

rate() {  # threads ("" = default) -> generation tok/s
  local args=(-m "$model" -p "Once upon a time" -n "$tokens" --temp 0)
  [ -n "$1" ] && args+=(-t "$1")
  "$generate" "${args[@]}" 2>&1 >/dev/null | sed -n 's/.*generation: [0-9]* tokens, \([0-9.]*\) tok\/s.*/\1/p'
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A runs
for load in quiet busy; do
  if [ "$load" == busy ]; then
    bash -c 'while :; do :; done' &
    hog=$!
    sleep 0.5
  fi
  for _ in $(seq "$rounds"); do
    for t in 1 default; do
      runs[$load,$t]+="$(rate "$([ "$t" == default ] && echo "" || echo "$t")") "
    done
  done
  if [ -n "$hog" ]; then kill "$hog"; wait "$hog" 2>/dev/null || true; hog=""; fi
done
echo "| load | -t 1 tok/s | default threads tok/s | default / -t 1 |"
echo "|---|---|---|---|"
for load in quiet busy; do
  one=$(tr ' ' '\n' <<<"${runs[$load,1]}" | grep . | median)
  all=$(tr ' ' '\n' <<<"${runs[$load,default]}" | grep . | median)
  echo "| $load | $one | $all | $(awk -v a="$all" -v b="$one" 'BEGIN {printf "%.2f", a / b}') |"
done
