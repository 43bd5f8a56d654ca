#!/usr/bin/env bash
# Serving throughput, tinyllm-server against llama-server, at 1, 2, 4 and 8 concurrent streams.
#
#   bench/serve-compare.sh LLAMA_SERVER_BIN TINYLLM_SERVER_BIN MODEL [THREADS=2] [ROUNDS=5]
#
# TINYLLM_SERVER_BIN '-' measures llama-server alone. Environment: CTX (context per sequence,
# default 1024), TOKENS (max_tokens per stream, 64), NS ("1 2 4 8"), PROMPT, LOG_DIR (server logs
# and the JSON lines, default a fresh mktemp -d, kept), QUIET_WAIT (seconds, default 60),
# MAX_OTHER (0.10) and RETRIES (2): see the shared-machine rule below.
#
# Rules, and why:
#  - Each measurement gets a freshly started server on a free loopback port, stopped right after,
#    so no engine inherits the other's caches or a previous N's state; both load the same file.
#  - The engines alternate within a round and swap order every other round (A B, B A, ...), so a
#    drift of the shared machine lands on both; ratios are taken within a round, then the median.
#  - Same per-sequence context: tinyllm gets -c CTX with --parallel N; llama-server gets
#    -c N*CTX, which it splits into N slots of CTX (continuous batching is on by default). At N=1
#    llama-server silently switches to 4 slots with a unified cache unless -kvu is given, so N=1
#    passes -kvu: one slot of CTX, like tinyllm.
#  - The number is serve_bench.py's agg_tps: decode tokens/s over the window in which all N
#    streams are decoding (see its header). Scaling = median at N / median at 1, per engine.
#  - A shared machine: a busy neighbour makes spinning thread pools (llama.cpp's OpenMP) stall
#    far beyond its share (3x slower at 30-40% other load, measured). So before each server
#    starts, wait (at most QUIET_WAIT s) until the CPUs are under 25% busy; serve_bench.py
#    reports the share of CPU time other programs took during the measurement (other_cpu); a
#    round where it reached MAX_OTHER for either engine is run again (both engines, at most
#    RETRIES times), and measurements still disturbed are left out of the table (counted).
#  - Servers are killed on any exit (trap), so an interrupted run leaves nothing listening.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '3,9p' "$0" >&2
  exit 2
fi
llama_bin=$1 tinyllm_bin=$2 model=$3 threads=${4:-2} rounds=${5:-5}
ctx=${CTX:-1024} tokens=${TOKENS:-64} ns=${NS:-1 2 4 8} quiet_wait=${QUIET_WAIT:-60}
max_other=${MAX_OTHER:-0.10} retries=${RETRIES:-2}
prompt=${PROMPT:-Once upon a time, in a small village by the sea,}
here=$(cd "$(dirname "$0")" && pwd)
log_dir=${LOG_DIR:-$(mktemp -d /tmp/serve-compare.XXXXXX)}
mkdir -p "$log_dir"
for f in "$llama_bin" "$model"; do [ -e "$f" ] || { echo "serve-compare: no such file: $f" >&2; exit 2; }; done
engines="llama"
if [ "$tinyllm_bin" != "-" ]; then
  [ -x "$tinyllm_bin" ] || { echo "serve-compare: not executable: $tinyllm_bin" >&2; exit 2; }
  engines="llama tinyllm"
fi

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM  # exit runs the EXIT trap

free_port() {  # the kernel picks a free port; released at once, reused by the server just after
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_quiet() {  # until the CPUs are under 25% busy over 2 s, or quiet_wait seconds have passed
  python3 - "$quiet_wait" <<'EOF'
import sys, time
def busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(v), sum(v) - v[3] - v[4]
deadline = time.monotonic() + float(sys.argv[1])
while True:
    a = busy(); time.sleep(2); b = busy()
    load = (b[1] - a[1]) / max(1, b[0] - a[0])
    if load < 0.25 or time.monotonic() > deadline:
        break
if load >= 0.25:
    print(f"serve-compare: machine still {load:.0%} busy, measuring anyway", file=sys.stderr)
EOF
}

# start_server ENGINE N PORT LOG: starts it in the background, waits until GET /health says 200.
start_server() {
  local engine=$1 n=$2 port=$3 log=$4
  if [ "$engine" = llama ]; then
    local kvu=(); [ "$n" = 1 ] && kvu=(-kvu)
    "$llama_bin" -m "$model" -t "$threads" --parallel "$n" -c $((n * ctx)) "${kvu[@]}" \
      --host 127.0.0.1 --port "$port" > "$log" 2>&1 &
  else
    "$tinyllm_bin" -m "$model" -t "$threads" --parallel "$n" -c "$ctx" \
      --host 127.0.0.1 --port "$port" > "$log" 2>&1 &
  fi
  server_pid=$!
  local deadline=$((SECONDS + 180))
  until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
      echo "serve-compare: $engine server (N=$n) did not become ready; last lines of $log:" >&2
      tail -n 15 "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
}

echo "# $(lscpu | grep 'Model name' | sed 's/ \+/ /g'); threads $threads, ctx/seq $ctx, tokens $tokens, rounds $rounds; logs in $log_dir"
# disturbed N R: prints the largest other_cpu of round R at N if it reaches max_other.
disturbed() {
  python3 - "$max_other" "$log_dir"/*-n"$1"-r"$2".json <<'EOF'
import json, sys
worst = max([json.loads(open(f).read() or "{}").get("other_cpu", 0) for f in sys.argv[2:]] + [0])
if worst >= float(sys.argv[1]):
    print(worst)
EOF
}

for n in $ns; do
  for ((r = 0; r < rounds; r++)); do
    order=$engines
    [ $((r % 2)) = 1 ] && [ "$engines" = "llama tinyllm" ] && order="tinyllm llama"
    for ((attempt = 0; attempt <= retries; attempt++)); do
      for engine in $order; do
        wait_quiet
        port=$(free_port)
        start_server "$engine" "$n" "$port" "$log_dir/$engine-n$n-r$r.log"
        out=$log_dir/$engine-n$n-r$r.json  # one JSON line; the table reads engine, N, round from the name
        python3 "$here/serve_bench.py" --port "$port" --parallel "$n" --tokens "$tokens" \
          --prompt "$prompt" --rounds 1 --label "$engine" --server-pid "$server_pid" > "$out" \
          || echo "serve-compare: $engine N=$n round $r failed (see $out)" >&2
        cut -c1-150 "$out" >&2
        stop_server
      done
      worst=$(disturbed "$n" "$r") || worst=
      [ -z "$worst" ] && break
      echo "serve-compare: N=$n round $r disturbed (other_cpu $worst), attempt $((attempt + 1)) of $((retries + 1))" >&2
    done
  done
done

# Table: medians of agg_tps over the undisturbed measurements (other_cpu under max_other), the
# median of the per-round ratios (rounds where both engines were undisturbed), the scaling.
python3 - "$log_dir" "$rounds" "$ns" "$max_other" <<'EOF'
import json, os, statistics, sys
log_dir, rounds, ns, max_other = sys.argv[1], int(sys.argv[2]), [int(n) for n in sys.argv[3].split()], float(sys.argv[4])
tps, n_rows, n_failed, n_disturbed = {}, 0, 0, 0  # (engine, N) -> agg_tps per round, None if left out
for e in ("llama", "tinyllm"):
    for n in ns:
        for r in range(rounds):
            f = f"{log_dir}/{e}-n{n}-r{r}.json"
            if not os.path.exists(f):
                continue
            lines = [json.loads(l) for l in open(f) if l.strip()]
            row = lines[-1] if lines else {"errors": ["no output"]}
            n_rows += 1
            n_failed += "errors" in row
            n_disturbed += row.get("other_cpu", 0) >= max_other
            keep = "errors" not in row and row.get("other_cpu", 0) < max_other
            tps.setdefault((e, n), [None] * rounds)[r] = row.get("agg_tps") if keep else None
med = lambda xs: statistics.median(xs) if xs else None
fmt = lambda x, d=1: "—" if x is None else f"{x:.{d}f}"
ok = lambda e, n: [x for x in tps.get((e, n), []) if x is not None]
print("\n| N | llama.cpp tok/s | tinyllm tok/s | ratio min/med/max | llama.cpp scaling | tinyllm scaling | rounds kept |")
print("|---|---|---|---|---|---|---|")
for n in ns:
    l, t = tps.get(("llama", n), []), tps.get(("tinyllm", n), [])
    ratios = [b / a for a, b in zip(l, t) if a and b]
    sc = lambda e: (med(ok(e, n)) / med(ok(e, 1))) if ok(e, n) and ok(e, 1) else None
    rr = f"{min(ratios):.2f} / {med(ratios):.2f} / {max(ratios):.2f}" if ratios else "—"
    kept = "/".join(str(len(ok(e, n))) for e in ("llama", "tinyllm") if (e, n) in tps)
    print(f"| {n} | {fmt(med(ok('llama', n)))} | {fmt(med(ok('tinyllm', n)))} | {rr} "
          f"| {fmt(sc('llama'), 2)} | {fmt(sc('tinyllm'), 2)} | {kept} of {rounds} |")
print(f"\n{n_rows} measurements kept on disk: {n_failed} with errors, {n_disturbed} disturbed "
      f"(other_cpu >= {max_other}); both left out of the medians")
EOF
