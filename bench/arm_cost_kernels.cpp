// The kernels bench/arm_cost.sh costs on llvm-mca's Cortex-A76 model (GitHub issue #29). It is
// cross-compiled for AArch64 and run under qemu-aarch64 only so that the script can record which
// instructions one call executes; it is not part of the library, its tests or its build.
//
// One file, two builds:
//  - default: tinyllm's NEON kernels, each behind an extern "C" noinline wrapper arm_cost_<name>.
//    The kernels are one table (ARM_COST_TINYLLM below); a name the headers do not declare is
//    listed as absent (found by overload resolution against a never-defined template), so the
//    table may name kernels before they are written.
//  - -DARM_COST_LLAMA: llama.cpp's kernels for the same types, linked from objects the script
//    compiles from a llama.cpp source tree outside this repository.
//
//   arm_cost list        one line per kernel: name type role present entry block_elems
//                        block_bytes macs_per_column symbol (entry: the address called, whose
//                        code and callees the script traces; symbol: the kernel, for people)
//   arm_cost run NAME N  one call of the kernel over N weights per row (a multiple of 256) on
//                        pseudo-random data (where a loop branches on data, the script costs
//                        the path most iterations take).
//
// "macs_per_column" is how many weight x token products one column (one weight of each row)
// makes: 1 for a dot, rows x tokens otherwise (2 x 4 for tinyllm's tiles, 16 x 1 and 16 x 4 for
// its row-interleaved units; for llama.cpp 4 x 1 and 4 x 4 for its repacked GEMV and GEMM, 3 x 3
// and 4 x 6 for tinyBLAS), so that cycles can be stated per weight x token product. role: dot,
// tile (prompt), gemv (llama.cpp's repacked decode kernel), ilv_dot and ilv_tile (tinyllm's
// interleaved unit for 1 and 4 tokens).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string_view>
#include <type_traits>
#include <vector>

namespace {

using KernelFn = float (*)(const void* w, const void* const* a, int n_blocks);

struct Kernel {
    const char* name;
    const char* type;  // the ggml type name: Q4_K, F16, ...
    const char* role;  // dot (decode) or tile (prompt)
    bool present;
    const char* symbol;
    int block_elems;   // weights per block (per row)
    int block_bytes;   // bytes of one block (per row)
    int rows;          // weight rows one call reads
    int tokens;        // activation rows one call reads
    KernelFn fn;
};

// Pseudo-random bytes (xorshift): values are irrelevant to the instruction stream.
void fill(std::vector<uint8_t>& buf, uint64_t seed) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (auto& b : buf) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = uint8_t(x >> 24);
    }
}

}  // namespace

#if !defined(ARM_COST_LLAMA)
#include "tinyllm/kernels/dot_dispatch.hpp"

// X(name, Type, role, target attribute). role: dot = float(const Block*, ActPtr, int n_blocks);
// tile = void(const Block* w0, const Block* w1, const ActPtr* a /*4 tokens*/, int n_blocks,
// float* out /*8*/).
#define ARM_COST_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define ARM_COST_BASE
#define ARM_COST_TINYLLM(X)                                    \
    X(dot_q8_0, TypeQ8_0, dot, ARM_COST_BASE)                  \
    X(dot_q4_0, TypeQ4_0, dot, ARM_COST_BASE)                  \
    X(dot_q4_1, TypeQ4_1, dot, ARM_COST_BASE)                  \
    X(dot_q5_0, TypeQ5_0, dot, ARM_COST_BASE)                  \
    X(dot_q5_1, TypeQ5_1, dot, ARM_COST_BASE)                  \
    X(dot_q4_k, TypeQ4_K, dot, ARM_COST_BASE)                  \
    X(dot_q5_k, TypeQ5_K, dot, ARM_COST_BASE)                  \
    X(dot_q6_k, TypeQ6_K, dot, ARM_COST_BASE)                  \
    X(dot_iq4_nl, TypeIQ4_NL, dot, ARM_COST_BASE)              \
    X(dot_iq4_xs, TypeIQ4_XS, dot, ARM_COST_BASE)              \
    X(dot_q8_0_dotprod, TypeQ8_0, dot, ARM_COST_DOTPROD)       \
    X(dot_q4_0_dotprod, TypeQ4_0, dot, ARM_COST_DOTPROD)       \
    X(dot_q4_1_dotprod, TypeQ4_1, dot, ARM_COST_DOTPROD)       \
    X(dot_q5_0_dotprod, TypeQ5_0, dot, ARM_COST_DOTPROD)       \
    X(dot_q5_1_dotprod, TypeQ5_1, dot, ARM_COST_DOTPROD)       \
    X(dot_q4_k_dotprod, TypeQ4_K, dot, ARM_COST_DOTPROD)       \
    X(dot_q5_k_dotprod, TypeQ5_K, dot, ARM_COST_DOTPROD)       \
    X(dot_q6_k_dotprod, TypeQ6_K, dot, ARM_COST_DOTPROD)       \
    X(dot_iq4_nl_dotprod, TypeIQ4_NL, dot, ARM_COST_DOTPROD)   \
    X(dot_iq4_xs_dotprod, TypeIQ4_XS, dot, ARM_COST_DOTPROD)   \
    X(dot_f16, TypeF16, dot, ARM_COST_BASE)                    \
    X(dot_bf16, TypeBF16, dot, ARM_COST_BASE)                  \
    X(dot_f32, TypeF32, dot, ARM_COST_BASE)                    \
    X(tile_q8_0, TypeQ8_0, tile, ARM_COST_BASE)                \
    X(tile_q4_0, TypeQ4_0, tile, ARM_COST_BASE)                \
    X(tile_q4_1, TypeQ4_1, tile, ARM_COST_BASE)                \
    X(tile_q5_0, TypeQ5_0, tile, ARM_COST_BASE)                \
    X(tile_q5_1, TypeQ5_1, tile, ARM_COST_BASE)                \
    X(tile_q4_k, TypeQ4_K, tile, ARM_COST_BASE)                \
    X(tile_q5_k, TypeQ5_K, tile, ARM_COST_BASE)                \
    X(tile_q6_k, TypeQ6_K, tile, ARM_COST_BASE)                \
    X(tile_iq4_nl, TypeIQ4_NL, tile, ARM_COST_BASE)            \
    X(tile_iq4_xs, TypeIQ4_XS, tile, ARM_COST_BASE)            \
    X(tile_q8_0_dotprod, TypeQ8_0, tile, ARM_COST_DOTPROD)     \
    X(tile_q4_0_dotprod, TypeQ4_0, tile, ARM_COST_DOTPROD)     \
    X(tile_q4_1_dotprod, TypeQ4_1, tile, ARM_COST_DOTPROD)     \
    X(tile_q5_0_dotprod, TypeQ5_0, tile, ARM_COST_DOTPROD)     \
    X(tile_q5_1_dotprod, TypeQ5_1, tile, ARM_COST_DOTPROD)     \
    X(tile_q4_k_dotprod, TypeQ4_K, tile, ARM_COST_DOTPROD)     \
    X(tile_q5_k_dotprod, TypeQ5_K, tile, ARM_COST_DOTPROD)     \
    X(tile_q6_k_dotprod, TypeQ6_K, tile, ARM_COST_DOTPROD)     \
    X(tile_iq4_nl_dotprod, TypeIQ4_NL, tile, ARM_COST_DOTPROD) \
    X(tile_iq4_xs_dotprod, TypeIQ4_XS, tile, ARM_COST_DOTPROD) \
    X(tile_f16, TypeF16, tile, ARM_COST_BASE)                  \
    X(tile_bf16, TypeBF16, tile, ARM_COST_BASE)                \
    X(tile_f32, TypeF32, tile, ARM_COST_BASE)

// A never-defined fallback for every name: overload resolution prefers tinyllm's non-template
// kernel where it exists, else picks this one, whose return type marks the kernel absent.
namespace arm_cost_absent {
struct Missing {
    operator float() const;  // declared only: lets an absent dot's discarded call type-check
};
#define ARM_COST_DECLARE(name, T, role, attr) \
    template <class... A>                      \
    Missing name(A...);
ARM_COST_TINYLLM(ARM_COST_DECLARE)
#undef ARM_COST_DECLARE
}  // namespace arm_cost_absent

// Qualified lookup through this namespace sees both (and no argument-dependent lookup).
namespace arm_cost_lookup {
using namespace tinyllm::neon;
using namespace arm_cost_absent;
}  // namespace arm_cost_lookup

namespace {
template <class T>
using WPtr = const typename T::Block*;
template <class T>
using APtr = tinyllm::ActPtr<T>;
}  // namespace

#define ARM_COST_CALL_dot(name, T) \
    arm_cost_lookup::name(static_cast<WPtr<T>>(w), static_cast<APtr<T>>(a[0]), n_blocks)
#define ARM_COST_CALL_tile(name, T)                                                           \
    arm_cost_lookup::name(static_cast<WPtr<T>>(w), static_cast<WPtr<T>>(w) + n_blocks,        \
                          reinterpret_cast<const APtr<T>*>(a), n_blocks, out)

// The unevaluated call that decides presence (its arguments only need the right types).
#define ARM_COST_RESULT_dot(name, T) arm_cost_lookup::name(WPtr<T>{}, APtr<T>{}, 0)
#define ARM_COST_RESULT_tile(name, T) \
    arm_cost_lookup::name(WPtr<T>{}, WPtr<T>{}, static_cast<const APtr<T>*>(nullptr), 0, static_cast<float*>(nullptr))
#define ARM_COST_BODY_dot(name, T) return ARM_COST_CALL_dot(name, T);
#define ARM_COST_BODY_tile(name, T) \
    ARM_COST_CALL_tile(name, T);    \
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];

// An absent kernel's wrapper returns 0 (its discarded call is checked but never odr-used).
#define ARM_COST_WRAP(name, T, role, attr)                                                                 \
    constexpr bool name##_present =                                                                        \
        !std::is_same_v<decltype(ARM_COST_RESULT_##role(name, tinyllm::T)), arm_cost_absent::Missing>;     \
    extern "C" attr __attribute__((noinline)) float arm_cost_##name(const void* w, const void* const* a,  \
                                                                    int n_blocks) {                        \
        using T_ = tinyllm::T;                                                                             \
        [[maybe_unused]] float out[8] = {};                                                                \
        if constexpr (!name##_present) {                                                                   \
            (void)w, (void)a, (void)n_blocks;                                                              \
            return 0.0f;                                                                                   \
        } else {                                                                                           \
            ARM_COST_BODY_##role(name, T_)                                                                 \
        }                                                                                                  \
    }
ARM_COST_TINYLLM(ARM_COST_WRAP)
#undef ARM_COST_WRAP

// The row-interleaved units (interleaved_neon.hpp): one 16-row unit (exactly the bytes of 16
// plain rows) against T tokens, T = 1 (decode) or 4 (prompt). X(name, GgmlType, T, block bytes).
// The activations are BlockQ8 rows (main gives them d = 1 and zero sums).
#define ARM_COST_INTERLEAVED(X)              \
    X(ilv16x1_q4_0_dotprod, Q4_0, 1, 18)     \
    X(ilv16x1_q8_0_dotprod, Q8_0, 1, 34)     \
    X(ilv16x4_q4_0_dotprod, Q4_0, 4, 18)     \
    X(ilv16x4_q8_0_dotprod, Q8_0, 4, 34)
namespace arm_cost_absent {
template <int T>
Missing interleaved_unit_dotprod(...);  // an ellipsis: the worst match, whatever the arguments
}  // namespace arm_cost_absent
template <int T>
constexpr bool interleaved_present = !std::is_same_v<
    decltype(arm_cost_lookup::interleaved_unit_dotprod<T>(tinyllm::GgmlType{}, static_cast<const uint8_t*>(nullptr), 0,
                                                          int64_t{}, int64_t{},
                                                          static_cast<const tinyllm::BlockQ8* const*>(nullptr),
                                                          static_cast<float*>(nullptr), int64_t{})),
    arm_cost_absent::Missing>;
template <int T>
float arm_cost_interleaved(tinyllm::GgmlType type, const void* w, const void* const* a, int n_blocks) {
    if constexpr (!interleaved_present<T>) {
        (void)type, (void)w, (void)a, (void)n_blocks;
        return 0.0f;
    } else {
        float out[16 * T];
        arm_cost_lookup::interleaved_unit_dotprod<T>(type, static_cast<const uint8_t*>(w), 16, int64_t(n_blocks) * 32, int64_t{0},
                                                     reinterpret_cast<const tinyllm::BlockQ8* const*>(a), out, int64_t{16});
        return out[0] + out[16 * T - 1];
    }
}
#define ARM_COST_WRAP(name, Type, T, bytes)                                                                \
    constexpr bool name##_present = interleaved_present<T>;                                               \
    extern "C" __attribute__((noinline)) float arm_cost_##name(const void* w, const void* const* a,       \
                                                               int n_blocks) {                             \
        return arm_cost_interleaved<T>(tinyllm::GgmlType::Type, w, a, n_blocks);                          \
    }
ARM_COST_INTERLEAVED(ARM_COST_WRAP)
#undef ARM_COST_WRAP

namespace {
const Kernel kernels[] = {
#define ARM_COST_ENTRY(name, T, role, attr)                                                                 \
    {#name,                                                                                               \
     tinyllm::ggml_type_name(tinyllm::T::id),                                                             \
     #role,                                                                                               \
     name##_present,                                                                                      \
     "arm_cost_" #name,                                                                                   \
     tinyllm::T::block_elems,                                                                             \
     int(sizeof(typename tinyllm::T::Block)),                                                             \
     std::string_view(#role) == "tile" ? 2 : 1,                                                           \
     std::string_view(#role) == "tile" ? 4 : 1,                                                           \
     &arm_cost_##name},
    ARM_COST_TINYLLM(ARM_COST_ENTRY)
#undef ARM_COST_ENTRY
#define ARM_COST_ENTRY(name, Type, T, bytes)                                                                 \
    {#name, #Type, T == 1 ? "ilv_dot" : "ilv_tile", name##_present, "arm_cost_" #name, 32, bytes, 16, T, \
     &arm_cost_##name},
    ARM_COST_INTERLEAVED(ARM_COST_ENTRY)
#undef ARM_COST_ENTRY
};
}  // namespace

#else  // ARM_COST_LLAMA

// llama.cpp's kernels: ggml/src/ggml-cpu/arch/arm/quants.c, ggml-cpu/vec.cpp, and for prompts
// arch/arm/repack.cpp (Q4_0 repacked 4 rows x 4 tokens, the layout llama.cpp picks for Q4_0 on
// a dotprod core) and llamafile/sgemm.cpp (tinyBLAS: Q8_0 on dotprod cores, F32), built by
// bench/arm_cost.sh with -I to that tree's ggml/include, ggml/src and ggml/src/ggml-cpu.
#include "ggml-cpu-impl.h"
#include "llamafile/sgemm.h"

extern "C" {
typedef void (*GgmlVecDot)(int n, float* s, size_t bs, const void* x, size_t bx, const void* y, size_t by, int nrc);
#define ARM_COST_LLAMA_DOTS(X)                      \
    X(ggml_vec_dot_q8_0_q8_0, "Q8_0", 32, 34)       \
    X(ggml_vec_dot_q4_0_q8_0, "Q4_0", 32, 18)       \
    X(ggml_vec_dot_q4_1_q8_1, "Q4_1", 32, 20)       \
    X(ggml_vec_dot_q5_0_q8_0, "Q5_0", 32, 22)       \
    X(ggml_vec_dot_q5_1_q8_1, "Q5_1", 32, 24)       \
    X(ggml_vec_dot_q4_K_q8_K, "Q4_K", 256, 144)     \
    X(ggml_vec_dot_q5_K_q8_K, "Q5_K", 256, 176)     \
    X(ggml_vec_dot_q6_K_q8_K, "Q6_K", 256, 210)     \
    X(ggml_vec_dot_iq4_nl_q8_0, "IQ4_NL", 32, 18)   \
    X(ggml_vec_dot_iq4_xs_q8_K, "IQ4_XS", 256, 136) \
    X(ggml_vec_dot_f16, "F16", 1, 2)                \
    X(ggml_vec_dot_bf16, "BF16", 1, 2)              \
    X(ggml_vec_dot_f32, "F32", 1, 4)
#define ARM_COST_DECLARE(fn, type, elems, bytes) \
    void fn(int, float*, size_t, const void*, size_t, const void*, size_t, int);
ARM_COST_LLAMA_DOTS(ARM_COST_DECLARE)
#undef ARM_COST_DECLARE

// What the costed code refers to outside itself; none of it runs on the costed paths except
// the single-thread chunk counter and barrier of tinyBLAS.
void quantize_row_q8_K_ref(const float*, void*, int64_t) { abort(); }
void ggml_abort(const char*, int, const char*, ...) { abort(); }
void ggml_log_internal(enum ggml_log_level, const char*, ...) {}
static int arm_cost_chunk;
void ggml_barrier(struct ggml_threadpool*) {}
void ggml_threadpool_chunk_set(struct ggml_threadpool*, int value) { arm_cost_chunk = value; }
int ggml_threadpool_chunk_add(struct ggml_threadpool*, int value) {
    const int old = arm_cost_chunk;
    arm_cost_chunk += value;
    return old;
}
}

namespace {
template <GgmlVecDot fn>
float call_dot(const void* w, const void* const* a, int n) {
    float s = 0.0f;
    fn(n, &s, 0, w, 0, a[0], 0, 1);
    return s;
}
#if defined(__ARM_FEATURE_DOTPROD)
// What llama.cpp runs on a dotprod core without i8mm for Q4_0 and IQ4_NL, whose rows it repacks
// 4 at a time: a GEMV for decode (4 rows x 1 token) and a GEMM for prompts (4 rows x 4 tokens).
// The layouts are the repacked ones; the values random.
typedef void (*GgmlGemm)(int n, float* s, size_t bs, const void* x, const void* y, int nr, int nc);
extern "C" {
void ggml_gemv_q4_0_4x4_q8_0(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);
void ggml_gemm_q4_0_4x4_q8_0(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);
void ggml_gemv_iq4_nl_4x4_q8_0(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);
void ggml_gemm_iq4_nl_4x4_q8_0(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);
}
template <GgmlGemm fn, int Tokens>
float call_repacked(const void* w, const void* const* a, int n) {
    float s[4 * Tokens] = {};
    fn(n, s, 4, w, a[0], Tokens, 4);
    return s[0] + s[4 * Tokens - 1];
}
#endif
// tinyBLAS on one tile of its steady-state shape: RM x RN = 3 x 3 (Q8_0), 4 x 6 (F32).
template <int Type, int Elems, int M, int N>
float call_sgemm(const void* w, const void* const* a, int n) {
    ggml_compute_params params = {};
    params.nth = 1;
    float c[M * N] = {};
    const int64_t k = n / Elems;
    const int act_type = Type == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_Q8_0;
    if (!llamafile_sgemm(&params, M, N, k, w, k, a[0], k, c, M, Type, act_type, GGML_TYPE_F32))
        abort();
    return c[0] + c[M * N - 1];
}

// The ggml calls take n = weights per row, not blocks (main passes n for this build).
const Kernel kernels[] = {
#define ARM_COST_ENTRY(fn, type, elems, bytes) {#fn, type, "dot", true, #fn, elems, bytes, 1, 1, &call_dot<fn>},
    ARM_COST_LLAMA_DOTS(ARM_COST_ENTRY)
#undef ARM_COST_ENTRY
    // Prompt kernels llama.cpp runs on this build (without one it calls vec_dot per pair).
#if defined(__ARM_FEATURE_DOTPROD)
    {"ggml_gemv_q4_0_4x4_q8_0", "Q4_0", "gemv", true, "ggml_gemv_q4_0_4x4_q8_0", 32, 18, 4, 1,
     &call_repacked<ggml_gemv_q4_0_4x4_q8_0, 1>},
    {"ggml_gemv_iq4_nl_4x4_q8_0", "IQ4_NL", "gemv", true, "ggml_gemv_iq4_nl_4x4_q8_0", 32, 18, 4, 1,
     &call_repacked<ggml_gemv_iq4_nl_4x4_q8_0, 1>},
    {"ggml_gemm_q4_0_4x4_q8_0", "Q4_0", "tile", true, "ggml_gemm_q4_0_4x4_q8_0", 32, 18, 4, 4,
     &call_repacked<ggml_gemm_q4_0_4x4_q8_0, 4>},
    {"ggml_gemm_iq4_nl_4x4_q8_0", "IQ4_NL", "tile", true, "ggml_gemm_iq4_nl_4x4_q8_0", 32, 18, 4, 4,
     &call_repacked<ggml_gemm_iq4_nl_4x4_q8_0, 4>},
    {"llamafile_sgemm_q8_0", "Q8_0", "tile", true, "llamafile_sgemm", 32, 34, 3, 3,
     &call_sgemm<GGML_TYPE_Q8_0, 32, 3, 3>},
#endif
    {"llamafile_sgemm_f32", "F32", "tile", true, "llamafile_sgemm", 1, 4, 4, 6, &call_sgemm<GGML_TYPE_F32, 1, 4, 6>},
};
}  // namespace
#endif

int main(int argc, char** argv) {
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (const Kernel& k : kernels)
            printf("%s %s %s %d %p %d %d %d %s\n", k.name, k.type, k.role, int(k.present),
                   reinterpret_cast<void*>(k.fn), k.block_elems, k.block_bytes, k.rows * k.tokens, k.symbol);
        return 0;
    }
    if (argc != 4 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s list | run NAME N\n", argv[0]);
        return 2;
    }
    const long n = atol(argv[3]);
    for (const Kernel& k : kernels) {
        if (strcmp(k.name, argv[2]) != 0) continue;
        if (!k.present || n <= 0 || n % 256 != 0) return 2;
        const int n_blocks = int(n / k.block_elems);
        // Generous buffers: weights for k.rows rows, activations (at most 4 bytes a value, plus
        // block headers) for k.tokens tokens.
        std::vector<uint8_t> w(size_t(n_blocks) * k.block_bytes * k.rows + 64);
        std::vector<std::vector<uint8_t>> acts(4, std::vector<uint8_t>(size_t(n) * 8 * k.tokens + 64));
        fill(w, 1);
        for (int t = 0; t < 4; ++t) fill(acts[t], 2 + t);
        const void* a[4] = {acts[0].data(), acts[1].data(), acts[2].data(), acts[3].data()};
#if defined(ARM_COST_LLAMA)
        const float r = k.fn(w.data(), a, int(n));
#else
        if (strncmp(k.role, "ilv", 3) == 0)  // BlockQ8 activations: random codes, d = 1, zero sums
            for (auto& act : acts) {
                auto* blocks = reinterpret_cast<tinyllm::BlockQ8*>(act.data());
                for (int b = 0; b < n_blocks; ++b) {
                    blocks[b].d = 1.0f;
                    blocks[b].sum = 0.0f;
                    blocks[b].half_sum[0] = blocks[b].half_sum[1] = 0;
                }
            }
        const float r = k.fn(w.data(), a, n_blocks);
#endif
        printf("%g\n", double(r));
        return 0;
    }
    return 2;
}
