#!/usr/bin/env bash
# Builds the bare-metal Cortex-M7 firmware (examples/firmware) with models embedded in flash,
# runs each under qemu-system-arm (MPS2-AN500, semihosting) and checks the generated ids:
#  - stories260K-f32 / -f16: the fixtures' llama.cpp greedy ids;
#  - shakespeare5m-q4_0: the ids the host build of generate prints for the same prompt.
# Prints flash/RAM sizes and a final 'N passed, M failed' line.
set -uo pipefail
cd "$(dirname "$0")/.."
shared=${TINYLLM_SHARED_DIR:-../shared}
scripts/setup.sh gcc-arm-none-eabi picolibc-arm-none-eabi libstdc++-arm-none-eabi-picolibc qemu-system-arm python3 || exit 1
passed=0
failed=0
check() {  # name, expected, actual
  if [ "$2" == "$3" ]; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"; fi
}
json_ids() { python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))[sys.argv[2]][:int(sys.argv[3])])))" "$1" "$2" "$3"; }

run_firmware() {  # name, model, prompt ids, n -> prints the firmware's output
  local name=$1 model=$2 prompt=$3 n=$4 dir=build-fw-$1
  cmake -S examples/firmware -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-cortex-m7.cmake" -DTINYLLM_MODEL="$model" \
    -DTINYLLM_PROMPT_IDS="$prompt" -DTINYLLM_N_PREDICT="$n" >/dev/null || return 1
  cmake --build "$dir" >/dev/null || return 1
  local model_bytes text data bss
  model_bytes=$(stat -c %s "$model")
  read -r text data bss < <(arm-none-eabi-size "$dir/firmware" | awk 'NR == 2 {print $1, $2, $3}')
  local engine
  engine=$(arm-none-eabi-size "$dir/CMakeFiles/firmware.dir/main.cpp.obj" | awk 'NR == 2 {print $1}')
  echo "size $name: code $(( (text - model_bytes) / 1024 )) KiB flash, of which engine $(( engine / 1024 )) KiB (+ model $(( model_bytes / 1024 )) KiB), static RAM $(( (data + bss) / 1024 )) KiB" >&2
  timeout 600 qemu-system-arm -M mps2-an500 -nographic -semihosting-config enable=on,target=native -kernel "$dir/firmware" 2>&1 | tr -d "\r"
}

if [ ! -d "$shared/fixtures" ]; then echo "skipped: $shared not found"; echo "0 passed, 0 failed"; exit 0; fi
stories_prompt=1,403,407,261,378,275,289,268
for t in f32 f16; do
  out=$(run_firmware stories260K-$t "$shared/fixtures/gguf/stories260K-$t.gguf" $stories_prompt 32)
  echo "$out" | sed -n '1p;/^ids:/p'
  check "stories260K-$t firmware greedy ids" "ids: $(json_ids "$shared/fixtures/gguf/stories260K-$t.ref.json" greedy 32)" "$(grep -a '^ids:' <<<"$out")"
done

# shakespeare5m-q4_0 (2.9 MB) fits the board's 4 MiB flash: compare with the host build.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build --target generate >/dev/null
prompt=$(python3 -c "import json; print(','.join(map(str, json.load(open('$shared/models/shakespeare5m.torch.json'))['prompt'])))")
host=$(build/examples/generate -m "$shared/models/shakespeare5m-q4_0.gguf" --prompt-ids "$prompt" -n 32 --temp 0 --print-ids 2>/dev/null)
out=$(run_firmware shakespeare5m-q4_0 "$shared/models/shakespeare5m-q4_0.gguf" "$prompt" 32)
echo "$out" | sed -n '1,2p;/^ids:/p'
check "shakespeare5m-q4_0 firmware ids equal the x86 ids" "ids: $host" "$(grep -a '^ids:' <<<"$out")"

# Text through the freestanding detokenizer: a byte-level BPE vocabulary (multi-byte characters
# split across tokens) prints the same bytes as the host's generate.
cmake --build build --target make_random_model >/dev/null
bpe=build-fw-bpe-model/chatml-q8_0.gguf
mkdir -p build-fw-bpe-model
build/examples/make_random_model "$bpe" --preset small --vocab-type chatml --type q8_0 >/dev/null
build/examples/generate -m "$bpe" --prompt-ids 1,300,400,500 -n 32 --temp 0 2>/dev/null | tr -d '\r' > build-fw-bpe-model/host.txt
run_firmware chatml-q8_0 "$PWD/$bpe" 1,300,400,500 32 > build-fw-bpe-model/firmware.txt
check "byte-level BPE text on the firmware equals the host's" "same" "$(python3 scripts/same_generated_text.py build-fw-bpe-model/firmware.txt build-fw-bpe-model/host.txt)"

echo "firmware: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
