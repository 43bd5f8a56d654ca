#!/usr/bin/env bash
# Checks the design card's freestanding rules:
#  1. kernels/ include only <stdint.h>, <stddef.h>, the compiler's intrinsics and cpuid headers
#     and each other;
#  2. every kernel header compiles with -ffreestanding and no C++ standard library;
#  3. the engine core (include/tinyllm + the GGUF reader) compiles with -fno-exceptions -fno-rtti.
# Prints 'N passed, M failed'. Usage: scripts/check-freestanding.sh [CXX]
set -u
cd "$(dirname "$0")/.."
cxx=${1:-${CXX:-c++}}
passed=0
failed=0
check() {  # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; echo "$out" | head -20; fi
}

bad_includes=$(grep -hE '^\s*#\s*include\s*<' kernels/*.hpp kernels/*/*.hpp 2>/dev/null \
  | grep -vE '<(stdint|stddef)\.h>|<(cpuid|immintrin|arm_neon|hexagon_types|hexagon_protos|hvx_hexagon_protos|arm_mve)\.h>' || true)
check "kernels include only freestanding headers" test -z "$bad_includes"
[ -n "$bad_includes" ] && echo "$bad_includes"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in kernels/*.hpp; do
  printf '#include "tinyllm/%s"\n' "$h" > "$tmp/k.cpp"
  check "freestanding $h" "$cxx" -std=c++17 -ffreestanding -nostdinc++ -fno-exceptions -fno-rtti \
    -Wall -Wextra -Werror -Iinclude -fsyntax-only "$tmp/k.cpp"
done

cat > "$tmp/core.cpp" <<'CPP'
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/core/session.hpp"
// Instantiate the whole forward pass so every template is compiled.
tinyllm::Status run(tinyllm::ByteSpan file, tinyllm::Arena& arena, const int32_t* tokens, int n, float* logits) {
    tinyllm::gguf::File f;
    tinyllm::Status st = tinyllm::gguf::parse(file, arena, f);
    if (!st) return st;
    tinyllm::Model m;
    if (!(st = tinyllm::load_model(f, arena, m))) return st;
    tinyllm::Session s;
    if (!(st = s.init(m, 64, 8, arena))) return st;
    return s.eval(tokens, n, logits, false);
}
CPP
check "core with -fno-exceptions -fno-rtti" "$cxx" -std=c++17 -fno-exceptions -fno-rtti -Wall -Wextra -Werror \
  -Iinclude -c "$tmp/core.cpp" -o "$tmp/core.o"

echo "freestanding: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
