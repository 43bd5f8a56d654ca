#!/usr/bin/env bash
# The file-format tests (GGUF and .pte readers, XNNPACK payloads, thousands of mutated files, base
# log-probability files), the Engine's sizing and opening of mutated models, saved states (damaged
# ones included), speculative decoding, the C API and the kernels' handling of NaN and infinities
# under AddressSanitizer and
# UndefinedBehaviorSanitizer: any out-of-bounds access or UB fails the run.
# TINYLLM_SANITIZE_SCOPE=all builds everything sanitized and runs the whole host suite (about
# twice the time of a plain build and run; outside CI).
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# -O1 with line tables (-g1): ASan's reports keep their file:line stacks, and each test file compiles
# in half the time of -O2 -g, which the sanitized build spent most of its time on.
optimize="-O1 -g1 -DNDEBUG"
link="-fsanitize=address,undefined"
# Clang's driver gives a C program (test_c_api) only the C part of the sanitizer runtimes; libtinyllm needs the C++ part.
[[ "$("${CXX:-c++}" --version)" == *clang* ]] && link="$link -fsanitize-link-c++-runtime -lstdc++"
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$optimize" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$optimize" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
if [ "${TINYLLM_SANITIZE_SCOPE:-}" == "all" ]; then
  cmake --build build-sanitize
  # Python loads libtinyllm into an unsanitized interpreter: the sanitizer runtime must come first.
  ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
    ctest --test-dir build-sanitize --output-on-failure -j2 -R 'python'
  ctest --test-dir build-sanitize --output-on-failure -j2 -E 'python'
  exit 0
fi
cmake --build build-sanitize --target test_gguf test_pte test_pte_ops test_xnnpack test_engine test_state test_c_api test_kernels \
  test_evaluation test_speculative
# Test cases two at a time (ctest runs each doctest case on its own): the slowest binaries'
# cases spread over both cores. test_c_api skips with 77 when the shared models are absent.
ctest --test-dir build-sanitize --output-on-failure -j2 \
  -R '^(test_(gguf|pte|pte_ops|xnnpack|engine|state|evaluation|speculative):|c_api$|test_kernels:.*NaN)'
