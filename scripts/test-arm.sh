#!/usr/bin/env bash
# Cross-compiles tinyllm and its test suite for ARM Linux once and runs it under qemu-user. aarch64:
# all of it on the first core named, the CPU-dependent tests on the others. armhf: what a 32-bit
# core changes (its NEON kernels and the forward passes on them, and the readers, whose size
# arithmetic is 32-bit there: GGUF, .pte, saved states, base log-probability files and the fuzz findings) on the first core named.
# Usage: scripts/test-arm.sh [aarch64|armhf] [qemu cpu...]
#   aarch64: cortex-a72 (Pi 4, default), cortex-a76 (Pi 5), max (every feature QEMU has); armhf: cortex-a15 (default), max.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-aarch64}
case "$arch" in
  aarch64) compiler=g++-aarch64-linux-gnu; default_cpu=cortex-a72 ;;
  armhf) compiler=g++-arm-linux-gnueabihf; default_cpu=cortex-a15 ;;
  *) echo "test-arm: unknown target '$arch' (aarch64, armhf)"; exit 1 ;;
esac
scripts/setup.sh "$compiler" qemu-user
cpus=("${@:2}")
[ ${#cpus[@]} -eq 0 ] && cpus=("$default_cpu")
build=build-$arch
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-$arch.cmake \
  -DTINYLLM_BUILD_BENCH=OFF >/dev/null
cpu_tests="^test_(kernels|groupwise|interleaved|forward|pte|xnnpack):"
if [ "$arch" == armhf ]; then
  cmake --build "$build" --target test_kernels test_groupwise test_interleaved test_forward test_pte test_pte_ops test_xnnpack \
    test_gguf test_state test_engine fuzz_gguf_replay fuzz_pte_replay fuzz_state_replay fuzz_text_replay fuzz_sampler_replay fuzz_logprobs_replay
  first_tests="^(test_(kernels|groupwise|interleaved|forward|pte|pte_ops|xnnpack|gguf|state|engine):|fuzz_[a-z]*_replay$)"
else
  cmake --build "$build"
  first_tests=""
fi
# On the others, the tests of what differs between cores: the kernels picked by CPU feature and
# the forward passes and programs built on them.
# Speculative decoding's, draft trees' and perplexity's tests run the demo model's f16 file through
# thousands of steps of CPU-independent logic: under qemu that takes tens of minutes, and the
# forward passes under them are tested on the emulated cores by test_forward; the host suite runs them.
# So does it for generate's and the .pte CLI's contract tests (flags, messages, files: 235 s under
# qemu; chat_cli and stop_cli still run generate end to end on the emulated cores) and for the
# tokenizer's 1 MB prompts case (the same code as its other cases, at a size that only tests time).
slow_logic="^(test_speculative:|test_sequences:a tree of tokens|test_tokenizer:1 MB prompts|perplexity_cli$|generate_cli$|pte_cli$)"
# Whether each core has the dot-product extension: the kernel tests check that detection finds it
# and that dispatch picks the sdot kernels exactly then (on the others sdot would be illegal).
has_dotprod() {
  case "$1" in cortex-a76|cortex-a78*|cortex-a710|cortex-x*|neoverse-*|max) echo 1 ;; *) echo 0 ;; esac
}
# And the int8 matrix multiply (smmla), which dispatch picks for prompt tiles.
has_i8mm() {
  case "$1" in cortex-a710|cortex-x2|cortex-x3|neoverse-v1|neoverse-n2|max) echo 1 ;; *) echo 0 ;; esac
}
for k in "${!cpus[@]}"; do
  echo "test-arm: $arch on ${cpus[$k]}"
  [ "$arch" == aarch64 ] && export TINYLLM_EXPECT_DOTPROD=$(has_dotprod "${cpus[$k]}") TINYLLM_EXPECT_I8MM=$(has_i8mm "${cpus[$k]}")
  filter=(-E "$slow_logic")
  [ -n "$first_tests" ] && filter=(-R "$first_tests")
  [ "$k" -gt 0 ] && filter=(-R "$cpu_tests")
  QEMU_CPU=${cpus[$k]} ctest --test-dir "$build" --output-on-failure -j2 "${filter[@]}"
done
