#!/usr/bin/env bash
# Cost model of the AArch64 kernels (GitHub issue #29): for each weight type's decode dot (and
# prompt tile, where one exists), the steady-state cycles per 256 weights on llvm-mca's
# Cortex-A76 model, beside llama.cpp's kernel for the type built the same way, and the weight
# bytes streamed per cycle against the Pi 5 budget. Prints a markdown table.
#
#   bench/arm_cost.sh [--keep DIR] [LLAMA_CPP_DIR]
#
# LLAMA_CPP_DIR: a llama.cpp source tree outside this repository (never copied into it); its
# columns are left out without it. --keep DIR: write each costed loop (DIR/<build>.<kernel>.s)
# and llvm-mca's timeline and bottleneck view of it (.mca.txt). Needs aarch64-linux-gnu-g++/gcc,
# llvm-mca-14 and llvm-objdump-14 (Debian llvm-14), qemu-aarch64 (qemu-user) and python3.
#
# Method:
#  1. bench/arm_cost_kernels.cpp holds the table of tinyllm's NEON kernels, each behind a noinline
#     extern "C" wrapper (a kernel the headers do not declare yet is listed as absent), among them
#     the row-interleaved units (interleaved_neon.hpp: one 16-row unit of Q4_0 or Q8_0 against 1
#     token for decode, 4 for prompts, on BlockQ8 activations with d = 1 and zero sums). It is
#     compiled with the Release flags (-O3 -DNDEBUG -std=gnu++17, GCC's default -march=armv8-a;
#     the _dotprod kernels carry their own target("arch=armv8.2-a+dotprod")) to assembly (-S),
#     then assembled and linked statically. With LLAMA_CPP_DIR, llama.cpp's ARM kernels
#     (ggml-cpu/arch/arm/quants.c, vec.cpp, arch/arm/repack.cpp, llamafile/sgemm.cpp) are
#     compiled with -O3 -DNDEBUG twice, -march=armv8-a and -march=armv8.2-a+dotprod, and linked
#     with the same file built with -DARM_COST_LLAMA.
#  2. Each kernel runs once under qemu-aarch64 (-singlestep -d exec, filtered to the kernel and
#     the functions it calls) on rows of 1024, 2048 and 4096 weights of random data, which
#     records every instruction it executes.
#  3. The hot loop is the widest backward branch whose trip count grows with the row by the
#     same amount per weight from 1024 to 2048 as from 2048 to 4096 (checked); its extra
#     iterations per extra weight give the weights one iteration covers, exactly (e.g. 128 for
#     a loop over 4 Q8_0 blocks). One executed iteration (with any loop it nests, as executed)
#     is the loop body; where the loop branches on data, the path most iterations take (the
#     share of others is printed); where it alternates between two paths (the interleaved units
#     load two blocks' scales every other block), two iterations, a pair and its rotation as one. The loop must account for the instructions the longer row
#     adds (within 5%, checked); a backward branch failing a check is passed over.
#  4. llvm-mca-14 -mtriple=aarch64 -mcpu=cortex-a76 -iterations=200 prices that body (text from
#     llvm-objdump-14 of the executed addresses; branch targets become one label). Cycles per
#     256 = cycles per iteration x 256 / weights per iteration, divided by rows x tokens for
#     prompt kernels (per 256 weight x token products). Bytes/cycle = the type's bytes per 256
#     weights / cycles per 256. An interleaved unit is 16 rows x 1 or 4 tokens: its decode
#     cycles are per 256 weights of one row (/16), its prompt ones per 256 weight x token products.
#  LLVM 14 schedules -mcpu=cortex-a76 with its Cortex-A57 model (the output says so, checked
#  against -mcpu=cortex-a57 and neoverse-n1): 3-wide dispatch, one load pipe, 10-cycle vector
#  FMLA. Absolute cycles are therefore pessimistic for a real A76; the ratios compare code that
#  was compiled and priced the same way.
#  llama.cpp's comparators are its vec_dot kernels; on a dotprod core without i8mm (the A76) it
#  also repacks Q4_0 and IQ4_NL 4 rows at a time and runs ggml_gemv_*_4x4_q8_0 for decode and
#  ggml_gemm_*_4x4_q8_0 for prompts, and runs Q8_0 prompts through llamafile's tinyBLAS (3x3
#  tiles) and F32 ones through tinyBLAS (4x6); other prompts use vec_dot per row and token.
#  tinyllm's interleaved units are compared with the repacked GEMV (Q4_0) and with the GEMMs
#  (repacked Q4_0, tinyBLAS Q8_0); llama.cpp has no repacked Q8_0 kernel without i8mm.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
    echo "usage: bench/arm_cost.sh [--keep DIR] [LLAMA_CPP_DIR]" >&2
    exit 2
}
keep=""
if [[ ${1:-} == --keep ]]; then
    [[ $# -ge 2 ]] || usage
    keep=$(mkdir -p "$2" && cd "$2" && pwd)
    shift 2
fi
[[ $# -le 1 && ${1:-} != -* ]] || usage
llama=${1:-}

CXX=${ARM_COST_CXX:-aarch64-linux-gnu-g++}
CC=${ARM_COST_CC:-aarch64-linux-gnu-gcc}
for tool in "$CXX" "$CC" llvm-mca-14 llvm-objdump-14 qemu-aarch64 python3; do
    command -v "$tool" >/dev/null || { echo "arm_cost.sh: $tool not found" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/arm_cost.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

flags=(-O3 -DNDEBUG)
harness=$here/arm_cost_kernels.cpp
pids=()

# tinyllm: the wrappers to assembly, then one static binary.
"$CXX" "${flags[@]}" -std=gnu++17 -I"$root/include" -S "$harness" -o "$tmp/tinyllm.s" &
pids+=($!)
args=(--tinyllm "$tmp/tinyllm")

if [[ -n $llama ]]; then
    src=$llama/ggml/src
    if [[ ! -f $src/ggml-cpu/arch/arm/quants.c ]]; then
        echo "arm_cost.sh: $llama is not a llama.cpp tree (no ggml/src/ggml-cpu/arch/arm/quants.c)" >&2
        exit 1
    fi
    commit=$(git -C "$llama" log -1 --format='%h (%cs)' 2>/dev/null || echo "unknown commit")
    inc=(-I"$llama/ggml/include" -I"$src" -I"$src/ggml-cpu")
    for arch in armv8-a armv8.2-a+dotprod; do
        out=$tmp/llama-${arch%%+*}
        mkdir -p "$out"
        cc=("$CC" "${flags[@]}" -std=gnu11 -march="$arch" "${inc[@]}")
        cxx=("$CXX" "${flags[@]}" -std=gnu++17 -march="$arch" "${inc[@]}")
        "${cc[@]}" -c "$src/ggml-cpu/arch/arm/quants.c" -o "$out/quants.o" &
        pids+=($!)
        "${cxx[@]}" -c "$src/ggml-cpu/vec.cpp" -o "$out/vec.o" &
        pids+=($!)
        "${cxx[@]}" -c "$src/ggml-cpu/llamafile/sgemm.cpp" -o "$out/sgemm.o" &
        pids+=($!)
        if [[ $arch == *dotprod* ]]; then
            # Its i8mm kernels' generic fallbacks live elsewhere: unused sections are dropped.
            "${cxx[@]}" -ffunction-sections -c "$src/ggml-cpu/arch/arm/repack.cpp" -o "$out/repack.o" &
            pids+=($!)
        fi
        "${cxx[@]}" -DARM_COST_LLAMA -S "$harness" -o "$out/harness.s" &
        pids+=($!)
    done
fi
for pid in "${pids[@]}"; do wait "$pid"; done

"$CXX" -static "$tmp/tinyllm.s" -o "$tmp/tinyllm"
if [[ -n $llama ]]; then
    for out in "$tmp/llama-armv8-a" "$tmp/llama-armv8.2-a"; do
        objs=("$out"/*.o)
        "$CXX" -static -Wl,--gc-sections "$out/harness.s" "${objs[@]}" -lm -o "$out/bin"
    done
    args+=(--llama-armv8 "$tmp/llama-armv8-a/bin" --llama-dotprod "$tmp/llama-armv8.2-a/bin" --llama-commit "$commit")
fi

[[ -n $keep ]] && args+=(--keep "$keep")
python3 "$here/arm_cost.py" "${args[@]}"
