#!/usr/bin/env bash
# Builds the Hexagon (v67, HVX 128B) kernel tests and the whole engine for bare metal with
# clang-14, runs them under qemu-hexagon, and checks:
#  - every HVX kernel is bit-identical to the generic kernel;
#  - stories260K-f32 gives the fixture's 32 greedy ids;
#  - shakespeare5m-q4_0 (HVX Q4_0 path) and shakespeare5m quantized to tinyllm's int4-g32
#    (HVX groupwise path) give the same ids as the x86 build.
# Prints 'ids: ...' lines and a final 'N passed, M failed' line.
set -uo pipefail
cd "$(dirname "$0")/.."
shared=${TINYLLM_SHARED_DIR:-../shared}
scripts/setup.sh clang-14 lld-14 qemu-user python3 || exit 1
passed=0
failed=0
check() {  # name, expected, actual
  if [ "$2" == "$3" ]; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"; fi
}
json_ids() { python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))[sys.argv[2]][:int(sys.argv[3])])))" "$1" "$2" "$3"; }
build() {  # dir, model, prompt
  cmake -S examples/hexagon -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-hexagon.cmake" \
    -DTINYLLM_MODEL="$2" -DTINYLLM_PROMPT_IDS="$3" -DTINYLLM_N_PREDICT=32 >/dev/null && cmake --build "$1" >/dev/null
}

if [ ! -d "$shared/fixtures" ]; then echo "skipped: $shared not found"; echo "0 passed, 0 failed"; exit 0; fi
build build-hexagon-stories "$shared/fixtures/gguf/stories260K-f32.gguf" 1,403,407,261,378,275,289,268 || { echo "0 passed, 1 failed"; exit 1; }
kernels=$(qemu-hexagon build-hexagon-stories/kernel_tests)
echo "$kernels"
check "HVX kernels equal the generic kernels" "0 failed" "$(grep -o '[0-9]* failed' <<<"$kernels")"
out=$(qemu-hexagon build-hexagon-stories/engine)
echo "$out"
check "stories260K-f32 on Hexagon: fixture greedy ids" "ids: $(json_ids "$shared/fixtures/gguf/stories260K-f32.ref.json" greedy 32)" "$(grep -a '^ids:' <<<"$out")"

prompt=$(python3 -c "import json; print(','.join(map(str, json.load(open('$shared/models/shakespeare5m.torch.json'))['prompt'])))")
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build --target generate quantize >/dev/null
host=$(build/examples/generate -m "$shared/models/shakespeare5m-q4_0.gguf" --prompt-ids "$prompt" -n 32 --temp 0 --print-ids 2>/dev/null)
build build-hexagon-shakespeare "$shared/models/shakespeare5m-q4_0.gguf" "$prompt" || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
out=$(qemu-hexagon build-hexagon-shakespeare/engine)
echo "$out"
check "shakespeare5m-q4_0 on Hexagon equals x86" "ids: $host" "$(grep -a '^ids:' <<<"$out")"

int4=build-hexagon-int4/shakespeare5m-int4-g32.gguf
mkdir -p build-hexagon-int4
build/examples/quantize "$shared/models/shakespeare5m-f16.gguf" "$int4" int4 --group-size 32 >/dev/null
host=$(build/examples/generate -m "$int4" --prompt-ids "$prompt" -n 32 --temp 0 --print-ids 2>/dev/null)
build build-hexagon-int4 "$PWD/$int4" "$prompt" || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
out=$(qemu-hexagon build-hexagon-int4/engine)
echo "$out"
check "shakespeare5m int4-g32 (groupwise) on Hexagon equals x86" "ids: $host" "$(grep -a '^ids:' <<<"$out")"

# Text through the freestanding detokenizer: a byte-level BPE vocabulary (multi-byte characters
# split across tokens) prints the same bytes as the host's generate.
cmake --build build --target make_random_model >/dev/null
bpe=build-hexagon-bpe/chatml-q8_0.gguf
mkdir -p build-hexagon-bpe
build/examples/make_random_model "$bpe" --preset small --vocab-type chatml --type q8_0 >/dev/null
build/examples/generate -m "$bpe" --prompt-ids 1,300,400,500 -n 32 --temp 0 2>/dev/null > build-hexagon-bpe/host.txt
build build-hexagon-bpe "$PWD/$bpe" 1,300,400,500 || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
qemu-hexagon build-hexagon-bpe/engine > build-hexagon-bpe/hexagon.txt
check "byte-level BPE text on Hexagon equals the host's" "same" "$(python3 scripts/same_generated_text.py build-hexagon-bpe/hexagon.txt build-hexagon-bpe/host.txt)"

echo "hexagon: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
