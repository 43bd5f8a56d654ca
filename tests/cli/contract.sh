# The checks the command-line contract scripts share, sourced by them. The sourcing script defines
# run(): how its programs run (through $TINYLLM_RUNNER, an emulator, when cross-compiled).
passed=0
failed=0
expect() {  # name, expected, actual
  if [ "$2" == "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"; fi
}
# Bad input: exit code 1 and one line naming the problem.
check_error() {  # name, pattern, arguments of run...
  local name=$1 pattern=$2; shift 2
  local err rc
  err=$(run "$@" 2>&1 >/dev/null); rc=$?
  expect "$name exits 1" "1" "$rc"
  expect "$name names the problem" "yes" "$(grep -q -- "$pattern" <<<"$err" && [ "$(wc -l <<<"$err")" -eq 1 ] && echo yes || echo "no: $err")"
}
finish() {  # script name
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
