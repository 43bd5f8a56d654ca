#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz) with libFuzzer, AddressSanitizer and UBSan (clang-14) and
# runs each for SECONDS (default 60) from a corpus seeded from the reference data. A crash is
# minimized into tests/fuzz/regressions/<harness>/, which the normal test suite replays, and the
# run fails. Prints executions, executions/s and coverage per harness.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (harnesses: gguf pte text sampler http state logprobs)
# TINYLLM_FUZZ_RUNS=N stops a harness after N executions, if that comes before SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
runs=${TINYLLM_FUZZ_RUNS:--1}
harnesses=("${@:2}")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(gguf pte text sampler http state logprobs)
shared=$(realpath -m "${TINYLLM_SHARED_DIR:-../shared}")
scripts/setup.sh clang-14 libclang-rt-14-dev
build=build-fuzz
mkdir -p "$build"

seed() {  # harness corpus: the reference files each target reads, plus a few small inputs
  local h=$1 corpus=$2
  case "$h" in
    gguf) cp "$shared"/fixtures/gguf/stories260K-f16.gguf "$shared"/fixtures/vocab/ggml-vocab-gpt-2.gguf "$corpus"/ 2>/dev/null || true ;;
    pte) cp "$shared"/fixtures/pte/{stories260K_fp32_kv,add,xor,stories260k_hybrid_llama_qnn}.pte "$corpus"/ 2>/dev/null || true ;;
    text) printf '\x00Hello world' > "$corpus/spm"; printf '\x02<s> not special </s> [INST] 123 \xe4\xbd\xa0\xff' > "$corpus/bpe"
          cp tests/fuzz/seeds/text/* "$corpus"/ ;;
    http) cp tests/fuzz/seeds/http/* "$corpus"/ ;;
    state) cp tests/fuzz/seeds/state/* "$corpus"/ ;;
    logprobs) cp tests/fuzz/seeds/logprobs/* "$corpus"/ ;;
    sampler) head -c 600 /dev/zero > "$corpus/zeros"; python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('7f', 0.8, 0.95, 0.05, 1.0, 1.1, 0.0, 0.0) + bytes([48, 64, 7, 0, 0, 0, 0, 0]) + struct.pack('64f', *[i * 0.1 for i in range(64)]))" > "$corpus/defaults" ;;
  esac
}

# One harness: build, fuzz, and keep a minimized copy of each finding. Its report goes to
# $build/report_$h (printed in harness order when all are done); the exit status says whether
# it found nothing.
run_harness() {
  local h=$1
  local corpus=$build/corpus/$h artifacts=$build/artifacts/$h log=$build/fuzz_$h.log report=$build/report_$h
  clang++-14 -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude -DTINYLLM_SHARED_DIR="\"$shared\"" "tests/fuzz/fuzz_$h.cpp" -o "$build/fuzz_$h" > "$report" 2>&1 || return 1
  mkdir -p "$corpus" "$artifacts"
  seed "$h" "$corpus"
  local rc=0
  "$build/fuzz_$h" -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 -max_len=1100000 -rss_limit_mb=4096 -timeout=20 \
    -artifact_prefix="$artifacts/" "$corpus" > "$log" 2>&1 || rc=$?
  local executed rate cov
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "fuzz $h: ${executed:-?} executions, ${rate:-?}/s, ${cov:-cov: ?} (limit ${seconds}s)" >> "$report"
  [ $rc -eq 0 ] && return 0
  grep -m3 -E 'ERROR|runtime error|SUMMARY' "$log" >> "$report" || tail -5 "$log" >> "$report"
  for crash in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [ -f "$crash" ] || continue
    mkdir -p "tests/fuzz/regressions/$h"
    # Bounded: a timeout input takes the whole -timeout per run.
    "$build/fuzz_$h" -minimize_crash=1 -runs=20000 -max_total_time=120 -exact_artifact_path="$crash.min" "$crash" > /dev/null 2>&1 || true
    cp "${crash}.min" "tests/fuzz/regressions/$h/$(basename "$crash")" 2>/dev/null || cp "$crash" "tests/fuzz/regressions/$h/"
    echo "fuzz $h: finding kept as tests/fuzz/regressions/$h/$(basename "$crash")" >> "$report"
  done
  return 1
}

for h in "${harnesses[@]}"; do
  [ -f "tests/fuzz/fuzz_$h.cpp" ] || { echo "fuzz: no harness '$h' (gguf pte text sampler http state logprobs)"; exit 1; }
done
# Two harnesses at a time: each fuzzes on one core.
declare -A pid
for h in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  run_harness "$h" &
  pid[$h]=$!
done
failed=0
for h in "${harnesses[@]}"; do
  wait "${pid[$h]}" || failed=$((failed + 1))
  cat "$build/report_$h"
done
echo "fuzz: $((${#harnesses[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
