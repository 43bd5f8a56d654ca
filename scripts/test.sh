#!/usr/bin/env bash
# The whole test suite: the host tests (unit tests, reference comparisons, CLI contracts, layering
# and freestanding checks, fuzz regressions), the readers and the Engine under ASan/UBSan, a
# bounded libFuzzer pass over every fuzz target (TINYLLM_FUZZ_SECONDS each, default 30;
# scripts/fuzz.sh runs longer ones), the bare-metal Cortex-M7 firmware under qemu-system-arm, the
# Hexagon HVX kernels and engine under qemu-hexagon, and the aarch64 (Pi 4 and Pi 5 cores) and
# armhf cross builds under qemu-user. Installs what it needs from Debian packages. Exits non-zero
# on any failure.
# TINYLLM_TEST_SCOPE=host runs only the host part (no fuzzing, no cross builds).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure -j2
scripts/test-sanitize.sh
[ "${TINYLLM_TEST_SCOPE:-all}" == "host" ] && exit 0
scripts/fuzz.sh "${TINYLLM_FUZZ_SECONDS:-30}"
scripts/test-firmware.sh
scripts/test-hexagon.sh
scripts/test-arm.sh aarch64 cortex-a72 cortex-a76
scripts/test-arm.sh armhf
