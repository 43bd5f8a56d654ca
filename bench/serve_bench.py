#!/usr/bin/env python3
"""Aggregate decode throughput of an OpenAI-compatible completion server (python3 stdlib only).

  serve_bench.py [--url http://127.0.0.1:8080] [--parallel N] [--tokens M] [--prompt TEXT]
                 [--rounds R] [--warmup 1] [--wait-ready SECONDS] [--timeout S] [--label NAME]
                 [--server-pid PID]

Each round opens N connections, then sends N streaming POST /v1/completions at once (temperature
0, ignore_eos true, max_tokens M) and stamps every streamed chunk as it arrives. One JSON line
per round on stdout:

  agg_tps   chunks received by all streams strictly after the LAST first chunk and up to the
            FIRST last chunk, divided by that window's length. Inside the window every stream is
            decoding, so this is the server's steady batched decode rate at N sequences: prompt
            processing (before) and the tail where fewer than N streams remain (after) are
            excluded. With N=1 it is the plain decode rate, (chunks-1)/(last-first).
  ttft_ms   time from sending a request to its first chunk (median and max over the streams).
            Every request's prompt starts with its round and stream ("3.1: ") so no server can
            answer it from a prompt cache: TTFT is always a cold prefill.
  other_cpu with --server-pid (Linux): the share of the machine's CPU time during the round
            spent neither by the server nor by this client (other programs, and steal time on
            a VM). On a shared machine this says which rounds were disturbed.

A chunk is counted as one token when it is a partial chunk (finish_reason null) or carries text:
llama-server sends one chunk per token and a final empty chunk with the usage; a server that puts
the last token into the final chunk is counted right too. A token that ends inside a UTF-8
character is held by the server and merged into the next chunk, so chunks can be slightly fewer
than tokens; the server's usage.completion_tokens is reported beside the chunk counts.

Exit status: 0 all rounds clean, 1 a round had errors (named in the JSON line), 2 server not ready.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse


def parse_url(url):
    u = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    if u.scheme != "http":
        raise SystemExit(f"serve_bench: only http:// URLs are supported, not {url!r}")
    return u.hostname or "127.0.0.1", u.port or 80


def wait_ready(host, port, seconds):
    """Polls GET /health until it answers 200 (llama-server answers 503 while loading)."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return True
            last = f"HTTP {r.status}"
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.25)
    print(f"serve_bench: {host}:{port} not ready after {seconds:g} s ({last})", file=sys.stderr)
    return False


def cpu_sample(pid):
    """(jiffies of all CPUs, busy jiffies of all CPUs, the server's, this process's), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after "(comm)": state is field 3
        server = int(fields[11]) + int(fields[12])  # utime + stime
        t = os.times()
        return sum(v), sum(v) - v[3] - v[4], server, (t.user + t.system) * os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Stream:
    """One streaming completion: connect, wait at the barrier, send, stamp each chunk."""

    def __init__(self, host, port, body, timeout, deadline_s):
        self.host, self.port, self.body = host, port, body
        self.timeout, self.deadline_s = timeout, deadline_s
        self.t_send = None
        self.stamps = []  # perf_counter() at the arrival of each counted chunk
        self.server_tokens = None  # usage.completion_tokens of the final chunk, if sent
        self.finish_reason = None
        self.error = None

    def run(self, barrier):
        conn = None
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            conn.connect()  # connect before the barrier so the N requests leave together
            barrier.wait(timeout=self.timeout)
            self.t_send = time.perf_counter()
            deadline = self.t_send + self.deadline_s
            conn.request("POST", "/v1/completions", body=self.body,
                         headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
            resp = conn.getresponse()
            if resp.status != 200:
                text = resp.read(500).decode("utf-8", "replace").strip()
                self.error = f"HTTP {resp.status}: {text}"
                return
            done = False
            while not done:
                if time.perf_counter() > deadline:
                    self.error = f"deadline: stream still open after {self.deadline_s:g} s"
                    return
                line = resp.readline()  # each read is bounded by the socket timeout
                now = time.perf_counter()
                if not line:
                    self.error = "connection closed before data: [DONE]"
                    return
                line = line.strip()
                if not line or line.startswith(b":"):
                    continue  # SSE separator or comment
                if not line.startswith(b"data:"):
                    self.error = "unexpected line in stream: " + line[:200].decode("utf-8", "replace")
                    return
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    continue
                obj = json.loads(data)
                if "error" in obj:
                    self.error = "server error in stream: " + json.dumps(obj["error"])[:300]
                    return
                choice = (obj.get("choices") or [{}])[0]
                usage = obj.get("usage") or {}
                if "completion_tokens" in usage:
                    self.server_tokens = usage["completion_tokens"]
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
                if choice.get("finish_reason") is None or choice.get("text"):
                    self.stamps.append(now)
        except json.JSONDecodeError as e:
            self.error = f"bad JSON in stream: {e}"
        except threading.BrokenBarrierError:
            self.error = "another stream failed before sending"
        except (OSError, http.client.HTTPException) as e:  # refused, reset, socket timeout, ...
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if self.error:
                barrier.abort()
            if conn:
                conn.close()


def run_round(host, port, args, tag):
    bodies = [json.dumps({"prompt": f"{tag}.{i}: {args.prompt}", "max_tokens": args.tokens,
                          "temperature": 0, "stream": True, "ignore_eos": True}).encode()
              for i in range(args.parallel)]
    streams = [Stream(host, port, b, args.timeout, args.deadline) for b in bodies]
    cpu0 = cpu_sample(args.server_pid) if args.server_pid else None
    barrier = threading.Barrier(args.parallel)
    threads = [threading.Thread(target=s.run, args=(barrier,), daemon=True) for s in streams]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.deadline + args.timeout + 5)  # each stream bounds itself; this is a backstop
    wall = time.perf_counter() - t0
    cpu1 = cpu_sample(args.server_pid) if cpu0 else None
    errors = [f"stream {i}: {s.error}" for i, s in enumerate(streams) if s.error]
    errors += [f"stream {i}: still running" for i, t in enumerate(threads) if t.is_alive()]
    errors += [f"stream {i}: no tokens" for i, s in enumerate(streams) if not s.error and not s.stamps]
    out = {"label": args.label, "parallel": args.parallel, "max_tokens": args.tokens,
           "wall_s": round(wall, 3), "chunks": [len(s.stamps) for s in streams],
           "server_tokens": [s.server_tokens for s in streams]}
    if cpu1 and cpu1[0] > cpu0[0]:
        d = [b - a for a, b in zip(cpu0, cpu1)]
        out["other_cpu"] = round(max(0.0, (d[1] - d[2] - d[3]) / d[0]), 3)
    warnings = [f"stream {i}: server generated {s.server_tokens} of {args.tokens} tokens "
                f"(finish_reason {s.finish_reason}; ignore_eos not honoured?)"
                for i, s in enumerate(streams) if s.server_tokens not in (None, args.tokens)]
    if not errors:
        start = max(s.stamps[0] for s in streams)  # the last stream to start decoding
        end = min(s.stamps[-1] for s in streams)  # the first stream to finish
        n = sum(1 for s in streams for t in s.stamps if start < t <= end)
        ttft = [(s.stamps[0] - s.t_send) * 1e3 for s in streams]
        per_stream = [(len(s.stamps) - 1) / (s.stamps[-1] - s.stamps[0])
                      for s in streams if len(s.stamps) > 1 and s.stamps[-1] > s.stamps[0]]
        out.update({
            "agg_tps": round(n / (end - start), 2) if end > start and n else None,
            "window_s": round(end - start, 3), "window_chunks": n,
            "ttft_ms_median": round(statistics.median(ttft), 1), "ttft_ms_max": round(max(ttft), 1),
            "stream_tps_median": round(statistics.median(per_stream), 2) if per_stream else None})
        if out["agg_tps"] is None:
            errors.append("streams never all decoded at once (server serialised them?)")
    if warnings:
        out["warnings"] = warnings
    if errors:
        out["errors"] = errors
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="server base URL (default http://HOST:PORT)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--parallel", "-N", type=int, default=1, help="concurrent streams")
    p.add_argument("--tokens", "-M", type=int, default=64, help="max_tokens per stream")
    p.add_argument("--prompt", default="Once upon a time, in a small village by the sea,")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1, help="untimed 8-token requests before the rounds")
    p.add_argument("--wait-ready", type=float, default=0, metavar="SECONDS",
                   help="first poll GET /health until it answers 200, at most this long")
    p.add_argument("--timeout", type=float, default=60, help="socket timeout per connect/read, s")
    p.add_argument("--deadline", type=float, default=600, help="longest a stream may stay open, s")
    p.add_argument("--label", default="", help="copied into each JSON line (e.g. the engine)")
    p.add_argument("--server-pid", type=int, help="the server's process id, to report other_cpu")
    args = p.parse_args()
    if args.parallel < 1 or args.tokens < 2 or args.rounds < 0:
        p.error("--parallel must be >= 1, --tokens >= 2, --rounds >= 0")
    host, port = parse_url(args.url) if args.url else (args.host, args.port)
    if args.wait_ready > 0 and not wait_ready(host, port, args.wait_ready):
        return 2
    status = 0
    for _ in range(args.warmup):
        w = argparse.Namespace(**{**vars(args), "parallel": 1, "tokens": 8})
        r = run_round(host, port, w, "warmup")
        if "errors" in r:
            print(json.dumps({"label": args.label, "warmup": True, "errors": r["errors"]}), flush=True)
            return 1
    for i in range(args.rounds):
        r = run_round(host, port, args, str(i))
        print(json.dumps({"round": i, **r}), flush=True)
        if "errors" in r:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
