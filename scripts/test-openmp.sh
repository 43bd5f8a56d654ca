#!/usr/bin/env bash
# The OpenMP threading backend (-DTINYLLM_THREADS=openmp): builds the tests that run loops on
# threads and runs them. Each checks its results are the same at 1 and 2 threads; at 1 thread
# both backends run the same plain loop, so results equal the pool's too.
#   scripts/test-openmp.sh [BUILD_DIR=build-openmp]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-openmp}
tests=(test_parallel test_forward test_interleaved test_sequences)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTINYLLM_THREADS=openmp \
  -DTINYLLM_BUILD_EXAMPLES=OFF -DTINYLLM_BUILD_BENCH=OFF -DTINYLLM_BUILD_C_API=OFF >/dev/null
cmake --build "$build" --target "${tests[@]}"
for t in "${tests[@]}"; do
  out=$("$build/tests/$t" --minimal 2>&1) || { echo "$out" | tail -40; echo "test-openmp: $t failed with OpenMP threads"; exit 1; }
done
out=$(OMP_NUM_THREADS=3 "$build/tests/test_parallel" --minimal -tc="the default thread count*" 2>&1) ||
  { echo "$out" | tail -20; echo "test-openmp: OMP_NUM_THREADS=3 is not the default thread count"; exit 1; }
echo "test-openmp: ${tests[*]} pass with OpenMP threads, which start from OMP_NUM_THREADS"
