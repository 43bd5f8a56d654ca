#!/usr/bin/env bash
# The whole test suite: the host tests (unit tests, reference comparisons, CLI contracts, layering
# and freestanding checks, fuzz regressions), the readers and the Engine under ASan/UBSan, a
# bounded libFuzzer pass over every fuzz target (TINYLLM_FUZZ_SECONDS each, default 10;
# scripts/fuzz.sh runs longer ones), the bare-metal Cortex-M7 and M55 firmware under qemu-system-arm, the
# Hexagon HVX kernels and engine under qemu-hexagon, and the aarch64 (Pi 4 and Pi 5 cores) and
# armhf cross builds under qemu-user. Installs what it needs from Debian packages. Exits non-zero
# on any failure.
# The tests of threaded loops also run with the OpenMP backend.
# TINYLLM_TEST_SCOPE=host runs only the host part (no fuzzing, no cross builds). Each part's time
# goes to stderr at its end.
set -euo pipefail
cd "$(dirname "$0")/.."
part() {
  local start=$SECONDS
  "$@"
  echo "test.sh: '$*' took $((SECONDS - start)) s (total $SECONDS s)" >&2
}
part scripts/setup.sh
part cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
part cmake --build build
part ctest --test-dir build --output-on-failure -j2
part scripts/test-sanitize.sh
part scripts/test-openmp.sh
[ "${TINYLLM_TEST_SCOPE:-all}" == "host" ] && exit 0
part scripts/fuzz.sh "${TINYLLM_FUZZ_SECONDS:-10}"
part scripts/test-firmware.sh
part scripts/test-hexagon.sh
part scripts/test-arm.sh aarch64 cortex-a72 cortex-a76 max
part scripts/test-arm.sh armhf
