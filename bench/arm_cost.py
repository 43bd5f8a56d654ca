#!/usr/bin/env python3
"""The analysis behind bench/arm_cost.sh (see its header for the method): records which
instructions each kernel executes (qemu-aarch64), cuts one steady-state stretch of its hot loop
and prices it with llvm-mca. Standard library only."""
import argparse
import bisect
import collections
import concurrent.futures
import os
import re
import subprocess
import sys

MCA = os.environ.get("LLVM_MCA", "llvm-mca-14")
OBJDUMP = os.environ.get("LLVM_OBJDUMP", "llvm-objdump-14")
QEMU = os.environ.get("QEMU_AARCH64", "qemu-aarch64")
CPU = "cortex-a76"
ITERATIONS = 200
SUPERBLOCKS = (4, 8, 16)  # the three row lengths traced, in units of 256 weights
LOCAL_BRANCHES = re.compile(r"^(b|b\.\w+|cbn?z|tbn?z)$")

DECODE_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16",
                "F32"]


class Fail(Exception):
    pass


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise Fail("%s failed (%d): %s" % (" ".join(cmd[:3]), r.returncode, r.stderr.strip()[:400]))
    return r.stdout


class Binary:
    """A static AArch64 harness built from bench/arm_cost_kernels.cpp, disassembled once."""

    def __init__(self, path, label):
        self.path, self.label = path, label
        self.kernels = []
        for line in run([QEMU, path, "list"]).splitlines():
            name, typ, role, present, entry, elems, nbytes, macs, sym = line.split()
            self.kernels.append(dict(name=name, type=typ, role=role, present=present == "1", entry=int(entry, 16),
                                     symbol=sym, block_elems=int(elems), block_bytes=int(nbytes), macs=int(macs)))
        self.insn = {}  # address -> (mnemonic, operands)
        self.funcs = []  # (start, name), sorted
        head = re.compile(r"^([0-9a-f]+) <(.+)>:$")
        body = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
        dis = run([OBJDUMP, "-d", "--no-show-raw-insn", "--mattr=+dotprod,+fullfp16,+bf16,+i8mm", path])
        for line in dis.splitlines():
            m = head.match(line)
            if m:
                self.funcs.append((int(m.group(1), 16), m.group(2)))
                continue
            m = body.match(line)
            if m:
                self.insn[int(m.group(1), 16)] = (m.group(2), m.group(3).strip())
        self.funcs.sort()
        self.starts = [s for s, _ in self.funcs]

    def func_range(self, idx):
        start = self.funcs[idx][0]
        end = self.funcs[idx + 1][0] if idx + 1 < len(self.funcs) else start + 4
        return start, end

    def func_of(self, addr):
        return bisect.bisect_right(self.starts, addr) - 1

    def closure(self, entry):
        """The function at entry and every function it reaches by direct calls or tail branches."""
        first = self.func_of(entry)
        if self.funcs[first][0] != entry:
            raise Fail("%s: no function starts at 0x%x" % (self.path, entry))
        todo, seen = [first], set()
        while todo:
            idx = todo.pop()
            if idx in seen:
                continue
            seen.add(idx)
            start, end = self.func_range(idx)
            for a in range(start, end, 4):
                mn, ops = self.insn.get(a, ("", ""))
                if mn in ("bl", "b"):
                    m = re.match(r"0x([0-9a-f]+)", ops)
                    if m:
                        t = self.func_of(int(m.group(1), 16))
                        if t != idx:
                            todo.append(t)
        return sorted(self.func_range(i) for i in seen)

    def trace(self, kernel, n):
        ranges = self.closure(kernel["entry"])
        dfilter = ",".join("0x%x..0x%x" % (s, e - 1) for s, e in ranges)
        log = "%s.%s.%d.log" % (self.path, kernel["name"], n)
        run([QEMU, "-singlestep", "-d", "exec,nochain", "-dfilter", dfilter, "-D", log, self.path, "run",
             kernel["name"], str(n)])
        pcs = []
        with open(log) as f:
            for line in f:
                if line.startswith("Trace"):
                    pcs.append(int(line.split("[", 1)[1].split("/")[1], 16))
        os.unlink(log)
        return pcs


def mca_text(binary, pcs):
    """llvm-mca input for a run of executed instructions (branch targets become one local label)."""
    out = [".Ltarget:"]
    for pc in pcs:
        mn, ops = binary.insn[pc]
        ops = re.sub(r"\s*<[^>]*>$", "", ops)
        ops = re.sub(r"(?<![#\w])0x[0-9a-f]+$", ".Ltarget", ops)
        out.append("\t%s\t%s" % (mn, ops) if ops else "\t" + mn)
    return "\n".join(out) + "\n"


def mca(text, cpu=CPU, extra=()):
    r = subprocess.run([MCA, "-mtriple=aarch64", "-mcpu=" + cpu, "-iterations=%d" % ITERATIONS, *extra],
                       input=text, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or "error:" in r.stderr:  # llvm-mca 14 exits 0 on parse errors
        raise Fail("llvm-mca: " + r.stderr.strip()[:400])
    cycles = int(re.search(r"^Total Cycles:\s+(\d+)", r.stdout, re.M).group(1))
    rthr = float(re.search(r"^Block RThroughput:\s+([\d.]+)", r.stdout, re.M).group(1))
    return cycles / ITERATIONS, rthr, r.stdout


def analyse(binary, kernel, keep=None):
    """Cycles per 256 weight x token products of one kernel's steady state, and its loop shape."""
    name = kernel["name"]
    traces = {k: binary.trace(kernel, 256 * k) for k in SUPERBLOCKS}
    k0, k1, k2 = SUPERBLOCKS

    def back_edges(t):
        edges = collections.Counter()
        for a, b in zip(t, t[1:]):
            if b <= a and LOCAL_BRANCHES.match(binary.insn[a][0]) and binary.func_of(a) == binary.func_of(b):
                edges[(a, b)] += 1
        return edges

    edges = {k: back_edges(t) for k, t in traces.items()}
    t = traces[k2]
    weights = 256 * (k2 - k1)
    grown = len(t) - len(traces[k1])  # instructions the longest row adds
    # The hot loop: the outermost loop that iterates with the row (the widest back edge whose
    # trip count grows by as much per weight from the shortest row to the middle one as from the
    # middle one to the longest); one iteration of it includes whatever loops it nests. Edges
    # that fail a check (e.g. the jump back from an out-of-line block taken only on some data)
    # are passed over.
    why = []
    for (br, head), c2 in sorted(edges[k2].items(), key=lambda kv: kv[0][1] - kv[0][0]):
        d1, dcount = edges[k1][(br, head)] - edges[k0][(br, head)], c2 - edges[k1][(br, head)]
        if dcount <= 0:
            continue
        if d1 * (k2 - k1) != dcount * (k1 - k0) or weights % dcount:
            why.append("0x%x: trip count not linear in the row" % br)
            continue
        per_iter = weights // dcount  # weights (per row) one iteration covers
        starts = [i + 1 for i in range(len(t) - 1) if t[i] == br and t[i + 1] == head]
        iters = [tuple(t[a:b]) for a, b in zip(starts, starts[1:])]
        middle = iters[len(iters) // 4: len(iters) - len(iters) // 4]
        if len(middle) < 4:
            why.append("0x%x: trace too short" % br)
            continue
        # The path most iterations take (a loop that branches on data, e.g. on a zero min, runs
        # another now and then).
        body, seen = collections.Counter(middle).most_common(1)[0]
        other, period = 1 - seen / len(middle), 1
        # A loop that alternates between two paths (e.g. the interleaved units load the scales of
        # two blocks every other block) is costed over two iterations, when pairs of them repeat
        # more often than single ones do (a pair and its rotation are one loop to llvm-mca; a
        # kernel that runs the loop twice, e.g. per half unit, may start the second in the other
        # phase).
        if other > 0 and dcount % 2 == 0:
            for shift in (0, 1):
                pairs = [min(a + b, b + a) for a, b in zip(middle[shift::2], middle[shift + 1::2])]
                pbody, pseen = collections.Counter(pairs).most_common(1)[0]
                if 1 - pseen / len(pairs) < other / 2:
                    body, other, period = pbody, 1 - pseen / len(pairs), 2
        if other > 0.5:
            why.append("0x%x: no path most iterations take" % br)
            continue
        # The loop must account for the work that grows with the row (all but detours, 5%).
        if abs(grown - dcount // period * len(body)) > 0.05 * grown:
            why.append("0x%x: runs %d of the %d instructions %d more weights add" %
                       (br, dcount // period * len(body), grown, weights))
            continue
        per_iter *= period
        break
    else:
        raise Fail("%s: no steady-state loop (%s)" % (name, "; ".join(why) or "none grows with the row"))
    text = mca_text(binary, body)
    cyc, rthr, _ = mca(text)
    scale = 256 / (per_iter * kernel["macs"])
    res = dict(cyc=cyc, cyc256=cyc * scale, rthr256=rthr * scale, insns_iter=len(body), weights_iter=per_iter,
               other_paths=other, period=period, bytes256=kernel["block_bytes"] * 256 // kernel["block_elems"], text=text)
    if keep:
        base = os.path.join(keep, "%s.%s" % (binary.label, name))
        with open(base + ".s", "w") as f:
            f.write(text)
        detail = mca(text, extra=("-timeline", "-timeline-max-iterations=3", "-bottleneck-analysis"))[2]
        with open(base + ".mca.txt", "w") as f:
            f.write(detail)
    return res


def fmt(x, digits=0):
    return "—" if x is None else ("%.*f" % (digits, x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyllm", required=True)
    ap.add_argument("--llama-armv8")
    ap.add_argument("--llama-dotprod")
    ap.add_argument("--llama-commit", default="")
    ap.add_argument("--keep", help="directory for each loop's llvm-mca input and timeline")
    args = ap.parse_args()

    bins = [Binary(args.tinyllm, "tinyllm")]
    if args.llama_armv8:
        bins.append(Binary(args.llama_armv8, "llama-armv8"))
        bins.append(Binary(args.llama_dotprod, "llama-dotprod"))
    jobs = [(b, k) for b in bins for k in b.kernels if k["present"]]
    results, errors = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
        futs = {pool.submit(analyse, b, k, args.keep): (b.label, k["name"]) for b, k in jobs}
        for f in concurrent.futures.as_completed(futs):
            try:
                results[futs[f]] = f.result()
            except Fail as e:
                errors.append(str(e))
    for e in sorted(errors):
        print("error: " + e, file=sys.stderr)

    # Which scheduling model -mcpu=cortex-a76 means to this llvm-mca.
    model_note = ""
    if results:
        text = next(iter(results.values()))["text"]
        out = mca(text, extra=("-resource-pressure",))[2]
        units = sorted(set(re.findall(r"^\[[\d.]+\]\s+-\s+(\w+)", out, re.M)))
        prefix = os.path.commonprefix(units).replace("Unit", "") if units else "?"
        # Whether -mcpu=cortex-a76 prices loops as the A57 and Neoverse N1 models do (a sample).
        sample = [r for _, r in sorted(results.items(), key=lambda kv: (kv[0][0] != "tinyllm", kv[0]))][:8]
        n = len(sample)
        cpus = ("cortex-a57", "neoverse-n1")
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
            same = {cpu: sum(pool.map(lambda r: mca(r["text"], cpu=cpu, extra=("-mattr=+dotprod,+fullfp16",))[0]
                                      == r["cyc"], sample)) for cpu in cpus}
        version = run([MCA, "--version"]).split("LLVM version")[1].split()[0]
        model_note = ("llvm-mca %s: -mcpu=cortex-a76 is scheduled with the %s model (resources %s); "
                      "cycles equal to -mcpu=cortex-a57 on %d/%d loops and to neoverse-n1 on %d/%d. "
                      "That model dispatches 3 uops/cycle and has one load pipe (the A76: 4-wide, two "
                      "load pipes, 4-cycle FMLA, 2-cycle SDOT), so absolute cycles are pessimistic; "
                      "ratios compare code built and priced the same way."
                      % (version, prefix, ", ".join(units), same["cortex-a57"], n, same["neoverse-n1"], n))

    def get(label, name):
        return results.get((label, name)) if name else None

    have_llama = len(bins) > 1
    llama_kernel = {}  # (build, type, role) -> kernel name
    for b in bins[1:]:
        for k in b.kernels:
            if k["present"]:
                llama_kernel[(b.label, k["type"], k["role"])] = k["name"]
    tl = {k["name"]: k for k in bins[0].kernels}

    def table(head, rows):
        print("| " + " | ".join(head) + " |")
        print("|---|" + "---:|" * (len(head) - 1))
        for r in rows:
            print("| " + " | ".join(r) + " |")

    def interleaved(typ, role):
        """tinyllm's interleaved unit for a type and role (ilv_dot, ilv_tile): its name and result."""
        name = next((k["name"] for k in bins[0].kernels if k["type"] == typ and k["role"] == role), None)
        return name, get("tinyllm", name)

    def tinyllm_cells(name):
        """The NEON and sdot results of a tinyllm kernel, the best of them, and their cells."""
        rb, rd = get("tinyllm", name), get("tinyllm", name + "_dotprod")
        sdot = fmt(rd and rd["cyc256"]) if name + "_dotprod" in tl else "n/a"
        return rb, rd, rd or rb, [fmt(rb and rb["cyc256"]), sdot]

    print("# AArch64 kernel cost on llvm-mca's %s model (issue #29)\n" % CPU)
    print("Decode: cycles per 256 weights of one row in the steady state of the kernel's hot loop. Bytes/cycle: "
          "the type's weight bytes per 256 over that, for tinyllm's sdot kernel (its NEON one where the type has "
          "no sdot kernel: n/a). Pi 5 budget: ~10-11 GB/s over 4 cores at 2.4 GHz is ~1.1 B/cycle/core; the "
          "issue's bar is >= 2 B/cycle/core. —: absent or not measured.")
    if have_llama:
        print("llama.cpp: %s, compiled the same way (-O3, -march=armv8-a and -march=armv8.2-a+dotprod); its "
              "vec_dot kernels, and the 4-row GEMV it decodes Q4_0 and IQ4_NL with once it has repacked them "
              "(on any dotprod core)." % (args.llama_commit or "?"))
    else:
        print("llama.cpp's columns need its source tree: bench/arm_cost.sh LLAMA_CPP_DIR.")
    print()
    head = ["type", "tinyllm NEON cyc/256", "tinyllm dotprod cyc/256", "tinyllm interleaved (sdot) cyc/256"]
    if have_llama:
        head += ["llama.cpp armv8 cyc/256", "llama.cpp dotprod cyc/256", "ratio (tinyllm/llama, dotprod)",
                 "llama.cpp dotprod repacked GEMV cyc/256", "ratio (interleaved/GEMV)"]
    head += ["weight bytes/cycle (tinyllm dotprod)"]
    rows = []
    for typ in DECODE_TYPES:
        base = next((k["name"] for k in bins[0].kernels if k["type"] == typ and k["role"] == "dot"
                     and not k["name"].endswith("_dotprod")), None)
        if base is None:
            continue
        _, _, best, cells = tinyllm_cells(base)
        ilv_name, ilv = interleaved(typ, "ilv_dot")
        row = [typ] + cells + [fmt(ilv and ilv["cyc256"]) if ilv_name else "n/a"]
        if have_llama:
            la = get("llama-armv8", llama_kernel.get(("llama-armv8", typ, "dot")))
            ld = get("llama-dotprod", llama_kernel.get(("llama-dotprod", typ, "dot")))
            lg = get("llama-dotprod", llama_kernel.get(("llama-dotprod", typ, "gemv")))
            row += [fmt(la and la["cyc256"]), fmt(ld and ld["cyc256"]),
                    fmt(best["cyc256"] / ld["cyc256"] if best and ld else None, 2), fmt(lg and lg["cyc256"]),
                    fmt(ilv["cyc256"] / lg["cyc256"] if ilv and lg else None, 2)]
        row.append(fmt(best["bytes256"] / best["cyc256"] if best else None, 2))
        rows.append(row)
    table(head, rows)
    print()
    print("Interleaved: tinyllm's row-interleaved unit (interleaved_neon.hpp, sdot by element) for 16 rows x 1 "
          "token, per 256 weights of one row (the unit's cycles / 16); n/a: no interleaved layout for the type." +
          (" Its ratio is against llama.cpp's repacked 4-row GEMV, which exists for Q4_0 (and IQ4_NL, which "
           "tinyllm does not interleave); llama.cpp has no repacked Q8_0 kernel on a dotprod core without "
           "i8mm, so Q8_0 decodes there with vec_dot (its ratio: interleaved / that column's dotprod vec_dot "
           "= %s)." % fmt(next((interleaved("Q8_0", "ilv_dot")[1]["cyc256"] / r["cyc256"]
                                for r in [get("llama-dotprod", llama_kernel.get(("llama-dotprod", "Q8_0", "dot")))]
                                if r and interleaved("Q8_0", "ilv_dot")[1]), None), 2) if have_llama else ""))

    # Prompt tiles, per 256 weight x token products. llama.cpp's comparator is what it runs for a
    # prompt of the type on that build: its GEMM where it has one, else vec_dot per row and token.
    tiles = [t for t in DECODE_TYPES
             if any(k["type"] == t and k["role"] == "tile" and k["present"] for k in bins[0].kernels)]
    if tiles:
        print()
        print("Prompt tiles: cycles per 256 weight x token products (tinyllm's tiles: 2 rows x 4 tokens; its "
              "interleaved unit: 16 rows x 4 tokens, run as two passes of 8 rows, for Q4_0 and Q8_0)." +
              (" llama.cpp: the GEMM it runs for the type on that build (*: Q4_0 and IQ4_NL repacked, "
               "4 rows x 4 tokens; Q8_0 and F32 through llamafile's tinyBLAS, 3x3 and 4x6 tiles), "
               "else vec_dot per row and token. The interleaved unit's ratio is against a llama.cpp GEMM (*) "
               "only: its repacked 4x4 for Q4_0, tinyBLAS for Q8_0 (llama.cpp has no repacked Q8_0 kernel "
               "without i8mm)." if have_llama else ""))
        print()
        head = ["tile", "tinyllm NEON cyc/256", "tinyllm dotprod cyc/256", "tinyllm interleaved 16x4 (sdot) cyc/256"]
        if have_llama:
            head += ["llama.cpp armv8 cyc/256", "llama.cpp dotprod cyc/256", "ratio (tinyllm/llama, dotprod)",
                     "ratio (interleaved/llama GEMM)"]
        rows = []
        for typ in tiles:
            name = next(k["name"] for k in bins[0].kernels if k["type"] == typ and k["role"] == "tile"
                        and not k["name"].endswith("_dotprod"))
            _, _, best, cells = tinyllm_cells(name)
            ilv_name, ilv = interleaved(typ, "ilv_tile")
            row = [typ] + cells + [fmt(ilv and ilv["cyc256"]) if ilv_name else "n/a"]
            if have_llama:
                for lab in ("llama-armv8", "llama-dotprod"):
                    gemm = llama_kernel.get((lab, typ, "tile"))
                    r = get(lab, gemm or llama_kernel.get((lab, typ, "dot")))
                    row.append(fmt(r and r["cyc256"]) + ("*" if gemm and r else ""))
                # r, gemm: the dotprod build's comparator, and whether it is a GEMM.
                row.append(fmt(best["cyc256"] / r["cyc256"] if best and r else None, 2))
                row.append(fmt(ilv["cyc256"] / r["cyc256"] if ilv and r and gemm else None, 2))
            rows.append(row)
        table(head, rows)
    print()
    print("Loops: the hot loop of each kernel, instructions and weights per iteration, cycles/256 "
          "and llvm-mca's resource bound per 256 (cycles well above it: a dependency chain), and "
          "the share of iterations that took another path through a data-dependent branch (the "
          "costed path is the most common one). A loop that alternates between two paths is costed "
          "over two iterations (x2). Weights/iter are per row (for the interleaved 16x4 unit, per "
          "row of a pass of 8 rows, counted over both passes).")
    print()
    table(["kernel", "build", "insns/iter", "weights/iter", "cyc/256", "resource bound/256", "other paths"],
          [[name, label, str(r["insns_iter"]), str(r["weights_iter"]) + (" (x2)" if r["period"] == 2 else ""), "%.1f" % r["cyc256"], "%.1f" % r["rthr256"],
            "%.0f%%" % (100 * r["other_paths"]) if r["other_paths"] else ""]
           for (label, name), r in sorted(results.items(), key=lambda kv: (kv[0][0] != "tinyllm", kv[0]))])
    print()
    if model_note:
        print(model_note)
    print("Method: bench/arm_cost.sh (header comment).")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
