#!/usr/bin/env bash
# Cross-compiles tinyllm and its whole test suite for ARM Linux once and runs it under qemu-user:
# all of it on the first core named, the CPU-dependent tests on the others.
# Usage: scripts/test-arm.sh [aarch64|armhf] [qemu cpu...]
#   aarch64: cortex-a72 (Pi 4, default), cortex-a76 (Pi 5); armhf: cortex-a15 (default), max.
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
cmake --build "$build"
# The whole suite on the first core; on the others, the tests of what differs between cores:
# the kernels picked by CPU feature and the forward passes and programs built on them.
for k in "${!cpus[@]}"; do
  echo "test-arm: $arch on ${cpus[$k]}"
  filter=()
  [ "$k" -gt 0 ] && filter=(-R "^test_(kernels|groupwise|interleaved|forward|pte|xnnpack):")
  QEMU_CPU=${cpus[$k]} ctest --test-dir "$build" --output-on-failure -j2 "${filter[@]}"
done
