#!/usr/bin/env bash
# Checks that no header includes one from a layer above its own. Layers, bottom to top:
#   0 kernels/, include/tinyllm/base/   1 loaders/formats/   2 include/tinyllm/core/
#   3 include/tinyllm/text/, include/tinyllm/pte/ (side by side: neither includes the other)
#   4 include/tinyllm/generation/, include/tinyllm/engine.hpp, include/tinyllm/evaluation/ (side by side)
#   5 loaders/host/
#   6 include/tinyllm/c_api/ (the C API's implementation, over everything)
# Prints 'N passed, M failed'.
set -u
cd "$(dirname "$0")/.."
layer_of() {  # path as included ("tinyllm/...") or in the tree -> "rank folder"
  case "$1" in
    *kernels/*) echo "0 kernels" ;;
    *tinyllm/base/*) echo "0 base" ;;
    *loaders/formats/*) echo "1 formats" ;;
    *tinyllm/core/*) echo "2 core" ;;
    *tinyllm/text/*) echo "3 text" ;;
    *tinyllm/pte/*) echo "3 pte" ;;
    *tinyllm/generation/*|*tinyllm/engine.hpp) echo "4 generation" ;;
    *tinyllm/evaluation/*) echo "4 evaluation" ;;
    *loaders/host/*) echo "5 host" ;;
    *tinyllm/c_api/*) echo "6 c_api" ;;
    *) echo "9 unknown" ;;
  esac
}
passed=0
failed=0
while IFS= read -r header; do
  read -r rank folder <<<"$(layer_of "$header")"
  ok=1
  while IFS= read -r included; do
    read -r irank ifolder <<<"$(layer_of "$included")"
    if [ "$irank" -gt "$rank" ] || { [ "$irank" -eq "$rank" ] && [ "$ifolder" != "$folder" ] && [ "$rank" -ne 0 ]; }; then
      echo "FAIL: $header ($folder) includes $included ($ifolder), a layer above or beside it"
      ok=0
    fi
  done < <(sed -n 's/^\s*#\s*include\s*"\(tinyllm\/[^"]*\)".*/\1/p' "$header")
  if [ $ok -eq 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done < <(find kernels loaders include/tinyllm -name '*.hpp' -not -path 'include/tinyllm/kernels/*' -not -path 'include/tinyllm/loaders/*' | sort)
echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
