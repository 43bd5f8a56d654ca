#!/usr/bin/env bash
# Builds and runs tests/consumer with each compiler given, through add_subdirectory and through
# find_package after cmake --install (the headers alone: libtinyllm has its own test). Usage: run.sh SOURCE_DIR WORK_DIR MODEL COMPILER...
set -u
src=$1 work=$2 model=$3
shift 3
passed=0
failed=0
step() {  # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; echo "$out" | tail -20; fi
}
[ -f "$model" ] || { echo "note: $model not found: building only"; model=""; }
rm -rf "$work"
for cxx in "$@"; do
  command -v "$cxx" >/dev/null || { echo "skipped: $cxx not found"; continue; }
  tag=$(basename "$cxx")
  step "$tag: add_subdirectory" cmake -S "$src/tests/consumer" -B "$work/$tag-sub" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
    -DTINYLLM_CONSUME=subdirectory -DTINYLLM_SOURCE_DIR="$src"
  step "$tag: add_subdirectory build" cmake --build "$work/$tag-sub"
  step "$tag: add_subdirectory run" "$work/$tag-sub/consumer" $model
  step "$tag: install" cmake -S "$src" -B "$work/$tag-lib" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_INSTALL_PREFIX="$work/$tag-prefix" \
    -DTINYLLM_BUILD_TESTS=OFF -DTINYLLM_BUILD_EXAMPLES=OFF -DTINYLLM_BUILD_BENCH=OFF -DTINYLLM_BUILD_C_API=OFF
  step "$tag: install run" cmake --install "$work/$tag-lib"
  step "$tag: no bare-named header installed" test -z "$(find "$work/$tag-prefix/include" -maxdepth 1 -type f)"
  step "$tag: find_package" cmake -S "$src/tests/consumer" -B "$work/$tag-pkg" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
    -DTINYLLM_CONSUME=package -DCMAKE_PREFIX_PATH="$work/$tag-prefix"
  step "$tag: find_package build" cmake --build "$work/$tag-pkg"
  step "$tag: find_package run" "$work/$tag-pkg/consumer" $model
done
echo "consumer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
