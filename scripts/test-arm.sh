#!/usr/bin/env bash
# Cross-compiles tinyllm and its whole test suite for ARM Linux and runs it under qemu-user.
# Usage: scripts/test-arm.sh [aarch64|armhf] [qemu cpu]
#   aarch64: cortex-a72 (Pi 4, default) or cortex-a76 (Pi 5); armhf: cortex-a15 (default) or max.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-aarch64}
case "$arch" in
  aarch64) compiler=g++-aarch64-linux-gnu; cpu=${2:-cortex-a72} ;;
  armhf) compiler=g++-arm-linux-gnueabihf; cpu=${2:-cortex-a15} ;;
  *) echo "test-arm: unknown target '$arch' (aarch64, armhf)"; exit 1 ;;
esac
scripts/setup.sh "$compiler" qemu-user
build=build-$arch-$cpu
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-$arch.cmake \
  -DTINYLLM_QEMU_CPU="$cpu" -DTINYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j2
