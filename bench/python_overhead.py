#!/usr/bin/env python3
"""What the Python layer costs: decode speed of tinyllm.Llama streaming a completion against
the generate program on the same model, prompt, token count and threads. Runs alternate,
ROUNDS of each; prints the medians and their ratio (Python / generate; 1.0 = no cost).

    PYTHONPATH=python TINYLLM_LIBRARY=build/libtinyllm.so \\
      bench/python_overhead.py --generate build/examples/generate -t 1 MODEL.gguf [MODEL ...]

Both sides measure decode the same way: tokens after the first, over the time from the first
token to the last (generate's own 'generation: N tokens, X tok/s' line)."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import tinyllm

PROMPT = "Once upon a time"


def generate_rate(program, model, n, threads):
    err = subprocess.run([program, "-m", model, "-p", PROMPT, "-n", str(n), "--temp", "0", "-t", str(threads)],
                         capture_output=True, text=True, check=True).stderr
    m = re.search(r"generation: (\d+) tokens, ([\d.]+) tok/s", err)
    if not m or int(m.group(1)) < n // 2:
        sys.exit(f"generate stopped early or printed no rate:\n{err}")
    return float(m.group(2))


def python_rate(llm, n):
    llm.reset()
    prompt = llm.tokenize(PROMPT.encode())
    first = last = None
    for chunk in llm(PROMPT, max_tokens=n, temperature=0, stream=True):
        now = time.perf_counter()
        if first is None:
            first = now
        last = now
    generated = llm.n_tokens - len(prompt)
    if generated < n // 2:
        sys.exit("the Python run stopped early")
    return (generated - 1) / (last - first)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--generate", required=True, help="path of examples/generate")
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("-n", type=int, default=200, help="tokens per run")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"| model | threads | generate tok/s | Python tok/s | ratio |")
    print(f"|---|---|---|---|---|")
    for model in args.models:
        with tinyllm.Llama(model, n_ctx=args.n + 16, n_threads=args.threads) as llm:
            python_rate(llm, 8)  # warm: pages touched, threads started
            g, p = [], []
            for _ in range(args.rounds):
                g.append(generate_rate(args.generate, model, args.n, args.threads))
                p.append(python_rate(llm, args.n))
            gm, pm = statistics.median(g), statistics.median(p)
            print(f"| {os.path.basename(model)} | {args.threads} | {gm:.1f} | {pm:.1f} | {pm / gm:.3f} |", flush=True)


if __name__ == "__main__":
    main()
