#!/usr/bin/env bash
# The server's end-to-end test, on loopback with the demo model:
#   scripts/test-server.sh BUILD_DIR SHARED_DIR [OUT_DIR]
# - a 4-slot server with an API key: greedy completions equal `generate --temp 0` (text and
#   ids), streams equal whole replies, 4 concurrent prompts equal each alone, logprobs,
#   tokenize, the bad-request cases and client defaults, auth, a mid-stream disconnect, token
#   latency, and a load run of 8 clients x 25 requests; then SIGTERM with a stream in flight
#   ends it with an error event and [DONE], and the server exits 0;
# - a 1-slot server with a queue of 1: the third concurrent request gets 503;
# - servers with --lookup (2 slots; 4 slots sharing a batch of 6) reply as that plain one does;
#   bad drafting settings are refused by name;
# - the .pte program behind the server equals generate on it;
# - headless Chromium sends a message from the chat page; its screenshot goes to OUT_DIR.
# Every server takes a free port (--port 0) and is killed when the script exits.
set -euo pipefail
build=${1:?usage: test-server.sh BUILD_DIR SHARED_DIR [OUT_DIR]}
shared=${2:?usage: test-server.sh BUILD_DIR SHARED_DIR [OUT_DIR]}
out=${3:-$build/test-server}
here=$(cd "$(dirname "$0")/.." && pwd)
server=$build/examples/tinyllm-server
generate=$build/examples/generate
model=$shared/models/shakespeare5m-q8_0.gguf
if [ ! -f "$model" ]; then
  echo "test-server: SKIP: the demo model is not in $shared/models (set TINYLLM_SHARED_DIR)"
  exit 77
fi
[ -x "$server" ] || { echo "test-server: $server is not built (needs libcpp-httplib-dev, nlohmann-json3-dev)"; exit 1; }
mkdir -p "$out"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT

# start NAME ARGS...: starts a server, waits for its address, sets $url and $pid.
start() {
  local name=$1 log=$out/$1.log
  shift
  "$server" --port 0 "$@" 2>"$log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" || true)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "test-server: $name did not start"; exit 1; }
    sleep 0.05
  done
  echo "test-server: $name did not report its address"; exit 1
}

# -b 2: four decoding sequences need two forward passes per step.
start main -m "$model" --parallel 4 -b 2 -c 256 -t 1 --api-key test-key
python3 "$here/tests/server/test_server.py" main "$url" test-key "$generate" "$model"
# SIGTERM with a stream in flight: the stream ends and the server exits 0.
curl -sN --max-time 30 -H 'Authorization: Bearer test-key' "$url/v1/completions" \
  -d '{"prompt":"To be","max_tokens":100000,"ignore_eos":true,"stream":true}' >"$out/interrupted.txt" &
streamer=$!
for _ in $(seq 500); do grep -q '^data: ' "$out/interrupted.txt" && break; sleep 0.01; done
kill -TERM "$pid"
status=0
timeout 20 tail --pid="$pid" -f /dev/null || { echo "test-server: the server did not stop within 20 s of SIGTERM"; exit 1; }
wait "$pid" || status=$?
wait "$streamer" || true
[ "$status" -eq 0 ] || { echo "test-server: exit status $status after SIGTERM"; exit 1; }
grep -q 'the server is shutting down' "$out/interrupted.txt" && grep -q '^data: \[DONE\]$' "$out/interrupted.txt" ||
  { echo "test-server: the stream in flight did not end with the shutdown error and [DONE]"; tail -3 "$out/interrupted.txt"; exit 1; }
echo "SIGTERM with a stream in flight: it ends with an error event and [DONE], exit 0"

start queue -m "$model" --parallel 1 --queue 1 -c 256 -t 1
python3 "$here/tests/server/test_server.py" queue "$url"
plain_url=$url plain_pid=$pid
start lookup -m "$model" --parallel 2 -c 256 -t 1 --lookup 3
python3 "$here/tests/server/test_server.py" lookup "$url" "$plain_url" "$generate" "$model"
kill -TERM "$pid"
# Four slots competing for a batch of 6: drafts get what the prompts and the other slots leave.
start lookup-small-batch -m "$model" --parallel 4 -b 6 -c 256 -t 1 --lookup 2 --draft-max 4
python3 "$here/tests/server/test_server.py" lookup "$url" "$plain_url"
kill -TERM "$pid" "$plain_pid"
# Settings the server refuses before it starts, each named.
refused() {
  local want=$1 out
  shift
  if out=$("$server" --port 0 "$@" 2>&1); then echo "test-server: '$*' started"; exit 1; fi
  grep -q -- "$want" <<<"$out" || { echo "test-server: '$*' said '$out', not '$want'"; exit 1; }
}
refused "--draft-max limits the drafts of --lookup" -m "$model" --draft-max 4
refused "--lookup needs a GGUF model" -m "$shared/models/shakespeare5m_int8_kv.pte" --tokenizer "$model" --lookup 3
echo "--draft-max without --lookup, and --lookup on a .pte program, are refused by name"

pte=$shared/models/shakespeare5m_int8_kv.pte
start pte -m "$pte" --tokenizer "$model" -t 1
python3 "$here/tests/server/test_server.py" same "$url" "$generate" "$pte" --tokenizer "$model"
kill -TERM "$pid"

start page -m "$model" --parallel 2 -c 256 -t 1
"$here/tests/server/check_chat_page.sh" "$url" "$out" | tee "$out/chat_page.txt"
# The page sends "To be" with max_tokens 16 at temperature 0: its reply is the greedy chat reply.
expected=$(curl -s --max-time 30 "$url/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"To be"}],"max_tokens":16,"temperature":0}' |
  python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)["choices"][0]["message"]["content"].split()))')
shown=$(sed -n '/^reply: /,/^PASS: /p' "$out/chat_page.txt" | sed -e '$d' -e '1s/^reply: //' | tr -s '[:space:]' ' ' | sed 's/^ //; s/ $//')
[ "$shown" == "$expected" ] || { echo "test-server: the page shows '$shown', the greedy chat reply is '$expected'"; exit 1; }
echo "the chat page shows the greedy chat reply"
kill -TERM "$pid"
echo "test-server: all passed (artifacts in $out)"
