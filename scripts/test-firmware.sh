#!/usr/bin/env bash
# Builds the bare-metal firmware (examples/firmware) for a Cortex-M7 (qemu-system-arm -M
# mps2-an500) and a Cortex-M55 with Helium (-M mps3-an547), models embedded in flash, and runs
# each under QEMU with -icount shift=0 (one instruction per virtual nanosecond, so the firmware's
# timings are instruction counts). Checks:
#  - generated ids: stories260K f32/f16 against the fixtures' llama.cpp greedy ids; stories260K
#    q8_0, shakespeare5m q4_0 (--pure) and int4-g32 against the host build of generate;
#  - flash: the engine of a Q8_0/Q4_0 build (TINYLLM_WEIGHT_TYPES) within 64 KiB on the M7;
#  - cost: M55 instructions per generated token at most half the M7's for the q8_0 and q4_0
#    models; stories260K f32 within 2.5 M per generated token on the M7;
#  - text: a scripted serial chat (prompt lines typed on the UART, encoded on the device) gives
#    the host's reply ids; a byte-level BPE model prints the host's bytes;
#  - on the M55: every Helium kernel bit for bit against the generic one, and the on-device
#    SentencePiece encoder on the SPM vocabulary suites.
# Prints sizes, a cost table and a final 'N passed, M failed' line.
set -uo pipefail
cd "$(dirname "$0")/.."
shared=${TINYLLM_SHARED_DIR:-../shared}
scripts/setup.sh gcc-arm-none-eabi picolibc-arm-none-eabi libstdc++-arm-none-eabi-picolibc qemu-system-arm python3 || exit 1
passed=0
failed=0
check() {  # name, expected, actual
  if [ "$2" == "$3" ]; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"; fi
}
check_true() {  # name, condition (python expression)
  if python3 -c "import sys; sys.exit(0 if ($2) else 1)"; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAIL: $1 ($2)"; fi
}
json_ids() { python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))[sys.argv[2]][:int(sys.argv[3])])))" "$1" "$2" "$3"; }
if [ ! -d "$shared/fixtures" ]; then echo "skipped: $shared not found"; echo "0 passed, 0 failed"; exit 0; fi

declare -A machine=([m7]=mps2-an500 [m55]=mps3-an547) toolchain=([m7]=cortex-m7 [m55]=cortex-m55)
qemu() {  # core, elf, [extra qemu args...]
  local core=$1 elf=$2
  shift 2
  timeout 900 qemu-system-arm -M "${machine[$core]}" -display none -monitor none -serial stdio -icount shift=0 \
    -semihosting-config enable=on,target=native -kernel "$elf" "$@" 2>&1 | tr -d '\r'
}
declare -A per_token flash
# run_firmware core name model prompt-ids [cmake args...]: builds and runs, the output in
# build-fw/CORE-NAME.txt; records the instructions per token and the flash bytes. Builds with
# the same prompt and options share a folder: another model only relinks.
run_firmware() {
  local core=$1 name=$2 model=$3 prompt=$4 dir
  shift 4
  dir=build-fw/$core-$(echo "$prompt $*" | cksum | cut -d' ' -f1)
  : > "build-fw/$core-$name.txt"
  cmake -S examples/firmware -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-${toolchain[$core]}.cmake" \
    -DTINYLLM_MODEL="$model" -DTINYLLM_PROMPT_IDS="$prompt" -DTINYLLM_N_PREDICT=32 "$@" >/dev/null && cmake --build "$dir" >/dev/null || return 1
  flash[$core-$name]=$(python3 scripts/firmware_flash.py "$dir/firmware.map")
  qemu "$core" "$dir/firmware" </dev/null > "build-fw/$core-$name.txt"
  per_token[$core-$name]=$(sed -n 's/^time: \([0-9]*\) ns per prompt token, \([0-9]*\) ns per generated token/\1 \2/p' "build-fw/$core-$name.txt")
  sed -n '/^model:/p;/^ids:/p' "build-fw/$core-$name.txt"
}
fixture_check() {  # core name: stories260K against llama.cpp's greedy ids
  run_firmware "$1" "stories260K-$2" "$shared/fixtures/gguf/stories260K-$2.gguf" "$stories_prompt"
  check "$1 stories260K-$2: llama.cpp's greedy ids" "ids: $(json_ids "$shared/fixtures/gguf/stories260K-$2.ref.json" greedy 32)" \
    "$(grep -a '^ids:' "build-fw/$1-stories260K-$2.txt")"
}
host_check() {  # core name model prompt [cmake args]: against the host build of generate
  local core=$1 name=$2 model=$3 prompt=$4 host
  shift 4
  host=$(build/examples/generate -m "$model" --prompt-ids "$prompt" -n 32 --temp 0 --print-ids 2>/dev/null)
  run_firmware "$core" "$name" "$model" "$prompt" "$@"
  check "$core $name: the host's ids" "ids: $host" "$(grep -a '^ids:' "build-fw/$core-$name.txt")"
}

# Host tools and the models made from the shared ones.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build --target generate quantize make_random_model >/dev/null || exit 1
models=build-fw/models
mkdir -p "$models"
build/examples/quantize "$shared/fixtures/gguf/stories260K-f32.gguf" "$models/stories260K-q8_0.gguf" q8_0 >/dev/null
build/examples/quantize "$shared/models/shakespeare5m-f16.gguf" "$models/shakespeare5m-q4_0-pure.gguf" q4_0 --pure >/dev/null
build/examples/quantize "$shared/models/shakespeare5m-f16.gguf" "$models/shakespeare5m-int4-g32.gguf" int4 --group-size 32 >/dev/null
stories_prompt=1,403,407,261,378,275,289,268
shakespeare_prompt=$(python3 -c "import json; print(','.join(map(str, json.load(open('$shared/models/shakespeare5m.torch.json'))['prompt'])))")

for core in m7 m55; do
  fixture_check $core f32
  fixture_check $core f16
  host_check $core stories260K-q8_0 "$models/stories260K-q8_0.gguf" $stories_prompt
  host_check $core shakespeare5m-q4_0 "$models/shakespeare5m-q4_0-pure.gguf" "$shakespeare_prompt" -DTINYLLM_WEIGHT_TYPES=Q8_0,Q4_0
  host_check $core shakespeare5m-int4-g32 "$models/shakespeare5m-int4-g32.gguf" "$shakespeare_prompt"
done

# Flash: the engine of the Q8_0/Q4_0 build, and of the full build (every type).
read -r _ q4_engine _ q4_picolibc _ q4_runtime _ <<<"${flash[m7-shakespeare5m-q4_0]}"
read -r _ full_engine _ _ _ full_runtime _ <<<"${flash[m7-stories260K-f32]}"
echo "flash (Cortex-M7, -Os): Q8_0/Q4_0 build: engine $q4_engine + compiler runtime $q4_runtime bytes (picolibc $q4_picolibc);" \
  "full build: engine $full_engine + runtime $full_runtime bytes"
check_true "m7 Q8_0/Q4_0 engine and runtime within 64 KiB" "$q4_engine + $q4_runtime <= 65536"

# Cost: instructions per token (QEMU -icount shift=0), and the rate they imply at 480 MHz if
# every instruction took one cycle (not a measured speed).
printf '%-26s %-4s %14s %14s %12s\n' model core prompt/token generated/token "tok/s@480MHz"
for name in stories260K-f32 stories260K-f16 stories260K-q8_0 shakespeare5m-q4_0 shakespeare5m-int4-g32; do
  for core in m7 m55; do
    read -r prompt_cost token_cost <<<"${per_token[$core-$name]:-0 0}"
    printf '%-26s %-4s %14s %14s %12s\n' "$name" "$core" "$prompt_cost" "$token_cost" "$(python3 -c "print(f'{480e6 / max($token_cost, 1):.0f}')")"
  done
done
for core in m7 m55; do  # the board clock reads a known loop as its instruction count: the counts above are right
  loop=$(sed -n 's/^clock: a loop of 2000000 instructions took \([0-9]*\) ns/\1/p' "build-fw/$core-stories260K-f32.txt")
  check_true "$core clock reads a loop of 2,000,000 instructions within 1%" "abs(${loop:-0} - 2000000) < 20000"
done
check_true "m7 stories260K-f32 within 2.5 M instructions per generated token" "${per_token[m7-stories260K-f32]#* } <= 2500000"
for name in stories260K-q8_0 shakespeare5m-q4_0; do
  check_true "m55 $name at most half the m7's instructions per generated token" "${per_token[m55-$name]#* } * 2 <= ${per_token[m7-$name]#* }"
done

# Text: a serial chat typed on each board's UART gives generate -p's reply ids.
chat_prompt="Once upon a time, there was a little"
chat_model=$shared/fixtures/gguf/stories260K-f32.gguf
host=$(build/examples/generate -m "$chat_model" -p "$chat_prompt" -n 32 --temp 0 --print-ids 2>/dev/null)
for core in m7 m55; do
  dir=build-fw/$core-chat
  cmake -S examples/firmware -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-${toolchain[$core]}.cmake" \
    -DTINYLLM_MODEL="$chat_model" -DTINYLLM_PROMPT_IDS= -DTINYLLM_N_PREDICT=32 >/dev/null && cmake --build "$dir" >/dev/null
  printf '%s\nShe liked to\n\n' "$chat_prompt" | qemu $core "$dir/firmware" > "$dir.txt"
  grep -a '^> \|^encoder:\|^ids:' "$dir.txt"
  check "$core serial chat: the first reply's ids equal generate -p's" "ids: $host" "$(grep -a '^ids:' "$dir.txt" | head -1)"
  check "$core serial chat: a second line continues the conversation" "2" "$(grep -ac '^ids: [0-9]' "$dir.txt")"
done

# Text out through the freestanding detokenizer: a byte-level BPE vocabulary (multi-byte
# characters split across tokens) prints the host's bytes.
bpe=$models/chatml-q8_0.gguf
build/examples/make_random_model "$bpe" --preset small --vocab-type chatml --type q8_0 >/dev/null
build/examples/generate -m "$bpe" --prompt-ids 1,300,400,500 -n 32 --temp 0 2>/dev/null | tr -d '\r' > "$models/host.txt"
run_firmware m7 chatml-q8_0 "$PWD/$bpe" 1,300,400,500
check "m7 byte-level BPE text equals the host's" "same" "$(python3 scripts/same_generated_text.py build-fw/m7-chatml-q8_0.txt "$models/host.txt")"

# On the M55: the Helium kernels against the generic ones, and the encoder on the SPM suites.
cmake -S tests/firmware -B build-fw/m55-tests -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-cortex-m55.cmake" >/dev/null &&
  cmake --build build-fw/m55-tests >/dev/null
out=$(qemu m55 build-fw/m55-tests/check_kernels)
echo "$out" | tail -1
check "m55 Helium kernels bit for bit" "kernels: 0 failed" "$(sed -n 's/^kernels: [1-9][0-9]* passed, \([0-9]*\) failed/kernels: \1 failed/p' <<<"$out")"
for suite in fixtures/vocab/ggml-vocab-llama-spm.gguf:fixtures/vocab/ggml-vocab-llama-spm.gguf \
  fixtures/vocab/ggml-vocab-phi-3.gguf:fixtures/vocab/ggml-vocab-phi-3.gguf models/shakespeare5m-f16.gguf:models/shakespeare5m.vocab-test; do
  vocab=$shared/${suite%%:*} cases=$shared/${suite#*:}
  out=$(qemu m55 build-fw/m55-tests/encode_suite -append "$vocab $cases.inp $cases.out")
  echo "$out" | tail -1
  check "m55 encoder on $(basename "$cases")" "$(grep -c '^__ggml_vocab_test__$' "$cases.inp") passed, 0 failed" \
    "$(sed -n 's/^encode: \([0-9]* passed, [0-9]* failed\).*/\1/p' <<<"$out")"
done

echo "firmware: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
