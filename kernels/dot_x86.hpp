// x86 SIMD dot products, compiled per function with target attributes so one binary runs
// everywhere and picks the widest kernel the CPU has at run time (see select_dot()).
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#include "tinyllm/kernels/cpu_features.hpp"
#include "tinyllm/kernels/transpose.hpp"
#include "tinyllm/kernels/type_float.hpp"
#include "tinyllm/kernels/type_k_quants.hpp"
#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

namespace tinyllm::x86 {

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// hsum of eight vectors at once: lane o of the result is hsum(v[o]) bit for bit (each lane is
// summed in the same pairs: halves, then lanes 2 apart, then neighbours).
__attribute__((target("avx2,fma"))) inline __m256 hsum8(const __m256 (&v)[8]) {
    // Lane order after the three steps is v0 v2 v4 v6 v1 v3 v5 v7, so feed them pre-permuted.
    const __m256 u[8] = {v[0], v[4], v[1], v[5], v[2], v[6], v[3], v[7]};
    __m256 halves[4];
    for (int j = 0; j < 4; ++j)
        halves[j] = _mm256_add_ps(_mm256_permute2f128_ps(u[2 * j], u[2 * j + 1], 0x20), _mm256_permute2f128_ps(u[2 * j], u[2 * j + 1], 0x31));
    __m256 pairs[2];
    for (int j = 0; j < 2; ++j)
        pairs[j] = _mm256_add_ps(_mm256_shuffle_ps(halves[2 * j], halves[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm256_shuffle_ps(halves[2 * j], halves[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm256_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// Signed 32 x int8 dot, 8 int32 lanes. maddubs wants unsigned x signed, so move w's sign onto a.
__attribute__((target("avx2,fma"))) inline __m256i dot_i8x32(__m256i w, __m256i a) {
    __m256i w_abs = _mm256_sign_epi8(w, w);
    __m256i a_signed = _mm256_sign_epi8(a, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, a_signed), _mm256_set1_epi16(1));
}

// The 32 signed codes of a block in one register.
struct UnpackQ8_0 {
    __attribute__((target("avx2,fma,f16c"))) static __m256i codes(const TypeQ8_0::Block& b) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    }
};
struct UnpackQ4_0 {
    __attribute__((target("avx2,fma,f16c"))) static __m256i codes(const TypeQ4_0::Block& b) {
        __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
        __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
        return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
    }
};

__attribute__((target("avx2,fma,f16c"))) inline float dot_q8_0_avx2(const TypeQ8_0::Block* w, const BlockQ8* a, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n; ++b) {
        __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(w[b].d) * a[b].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8x32(UnpackQ8_0::codes(w[b]), qa)), acc);
    }
    return hsum(acc);
}

__attribute__((target("avx2,fma,f16c"))) inline float dot_q4_0_avx2(const TypeQ4_0::Block* w, const BlockQ8* a, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n; ++b) {
        __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(w[b].d) * a[b].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8x32(UnpackQ4_0::codes(w[b]), qa)), acc);
    }
    return hsum(acc);
}

// Q4_K against Q8_K-style activations (SuperBlockType's arithmetic): the 4-bit codes are
// unsigned, so maddubs takes them directly; multiplying its 16-bit pair sums by the group's
// 6-bit scale in the following madd folds all 8 groups into one integer vector. The mins need
// only the activation blocks' code sums, in scalar.
__attribute__((target("avx2,fma,f16c"))) inline float dot_q4_k_avx2(const TypeQ4_K::Block* w, const BlockQ8* a, int n) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    float sum = 0.0f;
    for (int b = 0; b < n; ++b, a += 8) {
        SuperBlockInts<32> s;  // its scales, mins and super-scales (the codes are read below)
        k4_ints(w[b], s);
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(packed, low_mask);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
            const __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[2 * c].qs));
            const __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[2 * c + 1].qs));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a_lo), _mm256_set1_epi16(int16_t(s.scale[2 * c]))));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a_hi), _mm256_set1_epi16(int16_t(s.scale[2 * c + 1]))));
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        int32_t mins = 0;
        for (int g = 0; g < 8; ++g) mins += s.min[g] * a[g].code_sum();
        sum = add_super_block<true>(sum, s.d, s.dmin, a[0].d, _mm_cvtsi128_si32(s4), mins);
    }
    return sum;
}

// Q6_K against Q8_K-style activations (SuperBlockType's arithmetic). The 6-bit codes are assembled unsigned (0..63) so
// maddubs can take them; the offset of 32 is removed by subtracting 32 * sum(a), which maddubs
// of a constant 32 against the activations gives in the same shape. Each 32-element quarter
// spans two 16-element scale groups: the low and high 128-bit halves of the madd scales.
__attribute__((target("avx2,fma,f16c"))) inline float dot_q6_k_avx2(const TypeQ6_K::Block* w, const BlockQ8* a, int n) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03), k32 = _mm256_set1_epi8(32);
    float sum = 0.0f;
    for (int b = 0; b < n; ++b, a += 8) {
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i ql_a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].ql + 64 * h));
            const __m256i ql_b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * h));
            const __m256i codes[4] = {
                _mm256_or_si256(_mm256_and_si256(ql_a, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(ql_b, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
            };
            for (int k = 0; k < 4; ++k) {
                const int g = 8 * h + 2 * k;
                const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(w[b].scales[g + 1]), _mm_set1_epi16(w[b].scales[g]));
                const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[4 * h + k].qs));
                const __m256i prod = _mm256_madd_epi16(_mm256_maddubs_epi16(codes[k], qa), scales);
                const __m256i offset = _mm256_madd_epi16(_mm256_maddubs_epi16(k32, qa), scales);
                acc = _mm256_add_epi32(acc, _mm256_sub_epi32(prod, offset));
            }
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        sum = add_super_block<false>(sum, fp16_to_f32(w[b].d), 0.0f, a[0].d, _mm_cvtsi128_si32(s4), 0);
    }
    return sum;
}

// The same two dots with VNNI. Each 32-bit lane still sums the same 4 products exactly, so
// results are bit-identical to the AVX2 kernels. Q4_0 feeds its unsigned codes straight to
// vpdpbusd and removes the offset of 8 with a second vpdpbusd against ones.
#define TINYLLM_VNNI __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni")))
TINYLLM_VNNI inline float dot_q8_0_vnni(const TypeQ8_0::Block* w, const BlockQ8* a, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n; ++b) {
        const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
        const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qa, qw));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[b].d) * a[b].d), _mm256_cvtepi32_ps(dot), acc);
    }
    return hsum(acc);
}

TINYLLM_VNNI inline float dot_q4_0_vnni(const TypeQ4_0::Block* w, const BlockQ8* a, int n) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i low_mask = _mm256_set1_epi8(0x0f), eights = _mm256_set1_epi8(8);
    for (int b = 0; b < n; ++b) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
        const __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low_mask);
        const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
        const __m256i offset = _mm256_dpbusd_epi32(_mm256_setzero_si256(), eights, qa);
        const __m256i dot = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, qa), offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[b].d) * a[b].d), _mm256_cvtepi32_ps(dot), acc);
    }
    return hsum(acc);
}
#undef TINYLLM_VNNI

// Prompt processing: a tile of 2 weight rows x 4 tokens. Each weight block is unpacked once
// for 4 tokens and each activation block loaded once for 2 rows; every (row, token) pair keeps
// its own accumulator with the same per-block fused multiply-add as the single dot above, so
// results are bit-identical to it. Unpack(block) returns the 32 signed codes.
template <class Unpack, class Block>
__attribute__((target("avx2,fma,f16c"))) inline void tile_2x4_avx2(const Block* w0, const Block* w1, const BlockQ8* const* a,
                                                                    int n, float* out /* [2][4] */) {
    __m256 acc[2][4];
    for (auto& row : acc)
        for (auto& v : row) v = _mm256_setzero_ps();
    for (int b = 0; b < n; ++b) {
        const __m256i q0 = Unpack::codes(w0[b]), q1 = Unpack::codes(w1[b]);
        const float d0 = _cvtsh_ss(w0[b].d), d1 = _cvtsh_ss(w1[b].d);
        for (int t = 0; t < 4; ++t) {
            const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs));
            acc[0][t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[t][b].d), _mm256_cvtepi32_ps(dot_i8x32(q0, qa)), acc[0][t]);
            acc[1][t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[t][b].d), _mm256_cvtepi32_ps(dot_i8x32(q1, qa)), acc[1][t]);
        }
    }
    for (int r = 0; r < 2; ++r)
        for (int t = 0; t < 4; ++t) out[4 * r + t] = hsum(acc[r][t]);
}

inline void tile_q8_0_avx2(const TypeQ8_0::Block* w0, const TypeQ8_0::Block* w1, const BlockQ8* const* a, int n, float* out) {
    tile_2x4_avx2<UnpackQ8_0>(w0, w1, a, n, out);
}
inline void tile_q4_0_avx2(const TypeQ4_0::Block* w0, const TypeQ4_0::Block* w1, const BlockQ8* const* a, int n, float* out) {
    tile_2x4_avx2<UnpackQ4_0>(w0, w1, a, n, out);
}

// How each float format widens: 8 values at element i, or one value (for tails).
struct LoadF32 {
    using T = float;
    __attribute__((target("avx2,fma,f16c"))) static __m256 eight(const float* p, int i) { return _mm256_loadu_ps(p + i); }
    __attribute__((target("avx512f"))) static __m512 sixteen(const float* p, int i) { return _mm512_loadu_ps(p + i); }
    static float one(const float* p, int i) { return p[i]; }
};
struct LoadF16 {
    using T = uint16_t;
    __attribute__((target("avx2,fma,f16c"))) static __m256 eight(const uint16_t* p, int i) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    }
    // Sixteen values: the zero-masked forms with every lane set are the plain instructions;
    // GCC 12's unmasked ones merge into an uninitialized vector and warn at -Wall.
    __attribute__((target("avx512f"))) static __m512 sixteen(const uint16_t* p, int i) {
        return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    }
    static float one(const uint16_t* p, int i) { return fp16_to_f32(p[i]); }
};
struct LoadBF16 {
    using T = uint16_t;
    __attribute__((target("avx2,fma,f16c"))) static __m256 eight(const uint16_t* p, int i) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    __attribute__((target("avx512f"))) static __m512 sixteen(const uint16_t* p, int i) {
        __m512i wide = _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
        return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));  // as LoadF16::sixteen
    }
    static float one(const uint16_t* p, int i) { return bf16_to_f32(p[i]); }
};

// Float-weight dots: four independent accumulators hide FMA latency. Weights and activations
// may differ in format; since every format widens exactly, the sums depend only on the values.
// The tail is an explicit fused multiply-add: left to the compiler, `tail += w * x` may be fused
// in one function and not in another (-ffp-contract), and the tiles below must give the same bits.
template <class WLoad, class XLoad = WLoad>
__attribute__((target("avx2,fma,f16c"))) inline float dot_float_avx2(const typename WLoad::T* w, const typename XLoad::T* x, int n) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; ++k)
            acc[k] = _mm256_fmadd_ps(WLoad::eight(w, i + 8 * k), XLoad::eight(x, i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(WLoad::eight(w, i), XLoad::eight(x, i), acc[0]);
    float tail = 0.0f;
    for (; i < n; ++i) tail = __builtin_fmaf(WLoad::one(w, i), XLoad::one(x, i), tail);
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + tail;
}

// The float tiles take their columns in chunks whose rows and tokens stay in the L1 cache through
// a tile's passes over them (four on AVX2, two on AVX-512).
constexpr int float_tile_chunk = 256;

// One column step of the AVX2 float tile: 8 values of each of 2 rows times 8 of each of 4
// tokens, into the sums (row r's token t in acc[4 * r + t]).
template <class WLoad, class XLoad>
__attribute__((target("avx2,fma,f16c"), always_inline)) inline void tile_float_step(const typename WLoad::T* const (&w)[2],
                                                                                    const typename XLoad::T* const (&x)[4], int i,
                                                                                    __m256 (&acc)[8]) {
    const __m256 rows[2] = {WLoad::eight(w[0], i), WLoad::eight(w[1], i)};
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
        const __m256 v = XLoad::eight(x[t], i);
        acc[t] = _mm256_fmadd_ps(rows[0], v, acc[t]);
        acc[4 + t] = _mm256_fmadd_ps(rows[1], v, acc[4 + t]);
    }
}

// Two rows by four tokens of dot_float_avx2 (prompt processing), each output exactly the dot's
// value: the same four 8-lane sums, remainder and tail, added in the same order. Each of the
// four sums is one pass over a chunk of columns for all 8 outputs, loading 6 vectors per 8
// multiply-adds where a dot loads 2 per multiply-add, so a tile is bound by arithmetic, not by
// loads; a pass's 8 sums stay in AVX2's 16 registers. out: row 0's four tokens, then row 1's.
// GCC at -Os cannot see that sums[k] is written by the first chunk before any later chunk reads
// it, and warns; the flow is the do-while below (first chunk: from == 0). The same holds for the
// AVX-512 tile below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class WLoad, class XLoad = WLoad>
__attribute__((target("avx2,fma,f16c"))) inline void tile_float_avx2(const typename WLoad::T* w0, const typename WLoad::T* w1,
                                                                     const typename XLoad::T* const* x, int n, float* out) {
    constexpr int outputs = 8;
    const typename WLoad::T* const w[2] = {w0, w1};
    const typename XLoad::T* const xs[4] = {x[0], x[1], x[2], x[3]};
    const int whole = n / 32 * 32, eights = n / 8 * 8;
    // sums[k]: pass k's sums between chunks. In the last chunk the passes combine as they end,
    // into the dot's (s0 + s1) + (s2 + s3), so the totals end in registers.
    __m256 sums[4][outputs], totals[outputs];
    for (__m256& t : totals) t = _mm256_setzero_ps();  // all set by the last chunk, which the compiler cannot tell
    int from = 0;
    do {
        const int to = from + float_tile_chunk < whole ? from + float_tile_chunk : whole;
        const bool first = from == 0, last = to == whole;
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            __m256 acc[outputs];
#pragma GCC unroll 8
            for (int o = 0; o < outputs; ++o) acc[o] = first ? _mm256_setzero_ps() : sums[k][o];
            for (int i = from + 8 * k; i < to; i += 32) tile_float_step<WLoad, XLoad>(w, xs, i, acc);
            if (last && k == 0)  // the dot's remainder of whole eights goes to its first sum
                for (int i = whole; i < eights; i += 8) tile_float_step<WLoad, XLoad>(w, xs, i, acc);
#pragma GCC unroll 8
            for (int o = 0; o < outputs; ++o) {
                if (!last || k == 0 || k == 2) sums[k][o] = acc[o];
                else if (k == 1) sums[0][o] = _mm256_add_ps(sums[0][o], acc[o]);
                else totals[o] = _mm256_add_ps(sums[0][o], _mm256_add_ps(sums[2][o], acc[o]));
            }
        }
        from = to;
    } while (from < whole);
    alignas(32) float tails[8];
    for (int o = 0; o < outputs; ++o) {
        tails[o] = 0.0f;
        for (int i = eights; i < n; ++i) tails[o] = __builtin_fmaf(WLoad::one(w[o / 4], i), XLoad::one(xs[o % 4], i), tails[o]);
    }
    _mm256_storeu_ps(out, _mm256_add_ps(hsum8(totals), _mm256_load_ps(tails)));
}

// GCC 12's unmasked block shuffle and permute pass an uninitialized vector as the unused merge
// source and warn at -Wall; the masked forms with every lane set name it.
template <int Blocks>
__attribute__((target("avx512f"))) inline __m512 shuffle_blocks(__m512 a, __m512 b) {
    return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, Blocks);
}

// Sums of 16 outputs' 8-lane totals, each exactly hsum's (the same pairs: lanes 4 apart, then 2,
// then neighbours). pair[k]: output k in lanes 0-7, output k + 8 in lanes 8-15. Lane 4b + m of the
// result holds output m_b: 2m, 2m + 8, 2m + 1, 2m + 9 for 128-bit block b = 0, 1, 2, 3.
__attribute__((target("avx512f"))) inline __m512 hsum16(const __m512 (&pair)[8]) {
    __m512 quads[4], halves[2];
    for (int m = 0; m < 4; ++m)  // blocks: 2m and 2m + 8's lanes 0-3 + 4-7, then 2m + 1 and 2m + 9's
        quads[m] = _mm512_add_ps(shuffle_blocks<0x88>(pair[2 * m], pair[2 * m + 1]),
                                 shuffle_blocks<0xDD>(pair[2 * m], pair[2 * m + 1]));
    for (int j = 0; j < 2; ++j)
        halves[j] = _mm512_add_ps(_mm512_shuffle_ps(quads[2 * j], quads[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_ps(quads[2 * j], quads[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_ps(halves[0], halves[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(halves[0], halves[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// Four rows by four tokens of dot_float_avx2 on AVX-512, each output exactly the dot's value. The
// dot's four 8-lane sums over columns i + 8k (k = 0..3, i in steps of 32) are two 16-lane sums here:
// lanes 0-7 of the first take columns i..i+7 (the dot's sum 0) and lanes 8-15 columns i+8..i+15
// (sum 1); the second takes sums 2 and 3. A 16-lane multiply-add is lane for lane the dot's two
// 8-lane ones, so the values match with half the instructions. The 16 outputs' first sums (16
// registers) take one pass over a chunk of columns and their second sums another, loading 8 vectors
// per 16 multiply-adds; the chunk stays in the L1 cache between the passes. y: 4 floats per token.
template <class WLoad, class XLoad = WLoad>
__attribute__((target("avx2,fma,f16c,avx512f,avx512vl"))) inline void tile_float_avx512(const typename WLoad::T* const* rows,
                                                                                        const typename XLoad::T* const* x, int n,
                                                                                        float* const* y) {
    constexpr int outputs = 16;  // row r's token t in acc[4 * r + t]
    const typename WLoad::T* const w[4] = {rows[0], rows[1], rows[2], rows[3]};
    const typename XLoad::T* const xs[4] = {x[0], x[1], x[2], x[3]};
    const int whole = n / 32 * 32, eights = n / 8 * 8;
    // sums[h]: pass h's sums between chunks. The last chunk adds each pass's halves as it ends,
    // two outputs to a register (k and k + 8), into the dot's (s0 + s1) + (s2 + s3).
    __m512 sums[2][outputs], totals[outputs / 2];
    int from = 0;
    do {
        const int to = from + float_tile_chunk < whole ? from + float_tile_chunk : whole;
        const bool first = from == 0, last = to == whole;
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            __m512 acc[outputs];
#pragma GCC unroll 16
            for (int o = 0; o < outputs; ++o) acc[o] = first ? _mm512_setzero_ps() : sums[h][o];
            for (int i = from + 16 * h; i < to; i += 32) {
                __m512 wr[4];
#pragma GCC unroll 4
                for (int r = 0; r < 4; ++r) wr[r] = WLoad::sixteen(w[r], i);
#pragma GCC unroll 4
                for (int t = 0; t < 4; ++t) {
                    const __m512 v = XLoad::sixteen(xs[t], i);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; ++r) acc[4 * r + t] = _mm512_fmadd_ps(wr[r], v, acc[4 * r + t]);
                }
            }
            if (last && h == 0)  // the dot's remainder of whole eights goes to its sum 0: lanes 0-7
                for (int i = whole; i < eights; i += 8)
#pragma GCC unroll 16
                    for (int o = 0; o < outputs; ++o)
                        acc[o] = _mm512_mask3_fmadd_ps(_mm512_castps256_ps512(WLoad::eight(w[o / 4], i)),
                                                       _mm512_castps256_ps512(XLoad::eight(xs[o % 4], i)), acc[o], 0x00FF);
            if (!last) {
#pragma GCC unroll 16
                for (int o = 0; o < outputs; ++o) sums[h][o] = acc[o];
                continue;
            }
#pragma GCC unroll 8
            for (int k = 0; k < outputs / 2; ++k) {  // lanes 0-7 + 8-15 of outputs k and k + 8
                const __m512 halves = _mm512_add_ps(shuffle_blocks<0x44>(acc[k], acc[k + 8]),
                                                    shuffle_blocks<0xEE>(acc[k], acc[k + 8]));
                totals[k] = h == 0 ? halves : _mm512_add_ps(totals[k], halves);
            }
        }
        from = to;
    } while (from < whole);
    // y wants token-major order p = 4t + r: output 4r + t, which hsum16 left in lane (2p + p / 8) mod 16.
    __m512 tails = _mm512_setzero_ps();
    if (eights < n) {
        alignas(64) float tail[16];
        for (int p = 0; p < 16; ++p) {
            tail[p] = 0.0f;
            for (int i = eights; i < n; ++i) tail[p] = __builtin_fmaf(WLoad::one(w[p % 4], i), XLoad::one(xs[p / 4], i), tail[p]);
        }
        tails = _mm512_load_ps(tail);
    }
    const __m512i lane = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m512 sums16 = hsum16(totals);
    alignas(64) float result[16];
    _mm512_store_ps(result, _mm512_add_ps(_mm512_mask_permutexvar_ps(sums16, 0xFFFF, lane, sums16), tails));
    for (int t = 0; t < 4; ++t) _mm_storeu_ps(y[t], _mm_load_ps(result + 4 * t));
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

inline float dot_f32_avx2(const TypeF32::Block* w, const float* x, int n) { return dot_float_avx2<LoadF32>(&w->v, x, n); }
inline float dot_f16_avx2(const TypeF16::Block* w, const uint16_t* x, int n) { return dot_float_avx2<LoadF16>(&w->v, x, n); }
inline float dot_bf16_avx2(const TypeBF16::Block* w, const uint16_t* x, int n) { return dot_float_avx2<LoadBF16>(&w->v, x, n); }
inline void tile_f32_avx2(const TypeF32::Block* w0, const TypeF32::Block* w1, const float* const* x, int n, float* out) {
    tile_float_avx2<LoadF32>(&w0->v, &w1->v, x, n, out);
}
inline void tile_f16_avx2(const TypeF16::Block* w0, const TypeF16::Block* w1, const uint16_t* const* x, int n, float* out) {
    tile_float_avx2<LoadF16>(&w0->v, &w1->v, x, n, out);
}
inline void tile_bf16_avx2(const TypeBF16::Block* w0, const TypeBF16::Block* w1, const uint16_t* const* x, int n, float* out) {
    tile_float_avx2<LoadBF16>(&w0->v, &w1->v, x, n, out);
}
inline void tile4_f32_avx512(const TypeF32::Block* const* w, const float* const* x, int n, float* const* y) {
    const float* const rows[4] = {&w[0]->v, &w[1]->v, &w[2]->v, &w[3]->v};
    tile_float_avx512<LoadF32>(rows, x, n, y);
}
inline void tile4_f16_avx512(const TypeF16::Block* const* w, const uint16_t* const* x, int n, float* const* y) {
    const uint16_t* const rows[4] = {&w[0]->v, &w[1]->v, &w[2]->v, &w[3]->v};
    tile_float_avx512<LoadF16>(rows, x, n, y);
}
inline void tile4_bf16_avx512(const TypeBF16::Block* const* w, const uint16_t* const* x, int n, float* const* y) {
    const uint16_t* const rows[4] = {&w[0]->v, &w[1]->v, &w[2]->v, &w[3]->v};
    tile_float_avx512<LoadBF16>(rows, x, n, y);
}
// dot_f16_f32 / dot_bf16_f32 (type_float.hpp): float activations, 16-bit weights.
inline float dot_f16_f32_avx2(const uint16_t* w, const float* x, int n) { return dot_float_avx2<LoadF16, LoadF32>(w, x, n); }
inline float dot_bf16_f32_avx2(const uint16_t* w, const float* x, int n) { return dot_float_avx2<LoadBF16, LoadF32>(w, x, n); }

// f32_to_fp16_row and round_to_fp16_row (fp16.hpp) with F16C, which rounds to nearest even as
// they do: the same bits for every value but NaN payloads.
__attribute__((target("avx2,f16c"))) inline void f32_to_fp16_row_f16c(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}
__attribute__((target("avx2,f16c"))) inline void round_to_fp16_row_f16c(float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i) x[i] = fp16_to_f32(f32_to_fp16(x[i]));
}

// dot_rows_f16 and weighted_sum_f16 (type_float.hpp) with AVX2. Each score is dot_f16_avx2's
// value; each output takes one multiply-add per row, in row order, with up to 64 outputs
// kept in registers across all rows.
__attribute__((target("avx2,fma,f16c"))) inline void dot_rows_f16_avx2(const uint16_t* rows, int64_t stride, int n_rows,
                                                                        const uint16_t* q, int n, float* scores) {
    for (int j = 0; j < n_rows; ++j) scores[j] = dot_float_avx2<LoadF16>(rows + j * stride, q, n);
}

template <int Vectors>
__attribute__((target("avx2,fma,f16c"), always_inline)) inline void weighted_sum_f16_columns(const float* p, const uint16_t* rows,
                                                                                            int64_t stride, int n_rows, float* out) {
    __m256 acc[Vectors];
    for (int k = 0; k < Vectors; ++k) acc[k] = _mm256_loadu_ps(out + 8 * k);
    for (int j = 0; j < n_rows; ++j) {
        const __m256 scale = _mm256_set1_ps(p[j]);
        for (int k = 0; k < Vectors; ++k) acc[k] = _mm256_fmadd_ps(scale, LoadF16::eight(rows + j * stride, 8 * k), acc[k]);
    }
    for (int k = 0; k < Vectors; ++k) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

__attribute__((target("avx2,fma,f16c"))) inline void weighted_sum_f16_avx2(const float* p, const uint16_t* rows, int64_t stride,
                                                                            int n_rows, float* out, int n) {
    int i = 0;
    for (; i + 64 <= n; i += 64) weighted_sum_f16_columns<8>(p, rows + i, stride, n_rows, out + i);
    for (; i + 8 <= n; i += 8) weighted_sum_f16_columns<1>(p, rows + i, stride, n_rows, out + i);
    for (; i < n; ++i)
        for (int j = 0; j < n_rows; ++j) out[i] = __builtin_fmaf(p[j], LoadF16::one(rows + j * stride, i), out[i]);
}

// vecmat_f32 with AVX2: 32 outputs at a time stay in registers for the whole sum (then 8,
// then single ones). A multiply, then an add, as the portable loop compiles on x86: the
// results match it bit for bit.
__attribute__((target("avx2"))) inline void vecmat_f32_avx2(const float* a, const float* w, float* out, int k, int n) {
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int p = 0; p < k; ++p) {
            const __m256 scale = _mm256_broadcast_ss(a + p);
            const float* row = w + int64_t(p) * n + j;
            for (int r = 0; r < 4; ++r) acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(scale, _mm256_loadu_ps(row + 8 * r)));
        }
        for (int r = 0; r < 4; ++r) _mm256_storeu_ps(out + j + 8 * r, acc[r]);
    }
    for (; j + 8 <= n; j += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int p = 0; p < k; ++p) acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_broadcast_ss(a + p), _mm256_loadu_ps(w + int64_t(p) * n + j)));
        _mm256_storeu_ps(out + j, acc);
    }
    for (; j < n; ++j) {
        float acc = 0.0f;
        for (int p = 0; p < k; ++p) acc += a[p] * w[int64_t(p) * n + j];
        out[j] = acc;
    }
}

// transpose_u32 with AVX2: whole 8 x 8 tiles transposed in registers, edges as the
// portable code does them.
__attribute__((target("avx2"))) inline void transpose_u32_avx2(uint32_t* dst, const uint32_t* src, int64_t src_stride, int64_t rows,
                                                                 int64_t cols) {
    const int64_t full_rows = rows / 8 * 8, full_cols = cols / 8 * 8;
    for (int64_t r0 = 0; r0 < full_rows; r0 += 8)
        for (int64_t c0 = 0; c0 < full_cols; c0 += 8) {
            __m256 v[8], t[8];
            for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(src + (c0 + i) * src_stride + r0));
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                v[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
                v[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
                v[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                v[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
            }
            // v[j] now holds element j (low half) and element j + 4 (high half) of source rows
            // 0-3, v[j + 4] the same of source rows 4-7.
            for (int i = 0; i < 4; ++i) {
                _mm256_storeu_ps(reinterpret_cast<float*>(dst + (r0 + i) * cols + c0), _mm256_permute2f128_ps(v[i], v[i + 4], 0x20));
                _mm256_storeu_ps(reinterpret_cast<float*>(dst + (r0 + i + 4) * cols + c0), _mm256_permute2f128_ps(v[i], v[i + 4], 0x31));
            }
        }
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = r < full_rows ? full_cols : 0; c < cols; ++c) dst[r * cols + c] = src[c * src_stride + r];
}

// The two activation quantizers' shared steps.
__attribute__((target("avx2,fma,f16c"), always_inline)) inline float max_lane(__m256 m) {
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
}

// Stores 32 codes (4 x 8 int32, each in int8 range) in order and returns the sums of the
// first and last 16 in half[0], half[1].
__attribute__((target("avx2,fma,f16c"), always_inline)) inline void store_codes(const __m256i (&q)[4], int8_t* qs, int (&half)[2]) {
    // packs interleave 128-bit lanes; the permute restores element order.
    const __m256i q16 = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16, q16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), q8);
    for (int h = 0; h < 2; ++h) {
        const __m256i pair = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
        __m128i four = _mm_add_epi32(_mm256_castsi256_si128(pair), _mm256_extracti128_si256(pair, 1));
        four = _mm_add_epi32(four, _mm_shuffle_epi32(four, 0x4e));
        // Unsigned: a NaN's code (INT_MIN before the saturating packs) must wrap, not overflow.
        half[h] = int(uint32_t(_mm_cvtsi128_si32(four)) + uint32_t(_mm_extract_epi32(four, 1)));
    }
}

// quantize_row_q8 with AVX2, bit-identical to it: the block maximum is exact in any order,
// x * (127 / amax) is the same single multiply, and _mm256_round_ps rounds half to even as
// round_half_even does.
__attribute__((target("avx2,fma,f16c"))) inline void quantize_row_q8_avx2(const float* x, BlockQ8* out, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / BlockQ8::elems; ++b, x += BlockQ8::elems) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        const float amax = max_lane(m);
        const float d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; ++k)
            q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        int half[2];
        store_codes(q, out[b].qs, half);
        out[b].d = fp16_to_f32(f32_to_fp16(d));
        out[b].sum = fp16_to_f32(f32_to_fp16(d * float(int(uint32_t(half[0]) + uint32_t(half[1])))));
        out[b].half_sum[0] = int16_t(half[0]);
        out[b].half_sum[1] = int16_t(half[1]);
    }
}

// quantize_row_q8k with the same arithmetic: the scale comes from the first value of largest
// magnitude, codes are iscale x value rounded to nearest even, capped at 127. Decoding a token
// with Q4_K / Q6_K weights quantizes ~20k activations per layer before its first product,
// serially; the scalar loop took ~7% of a 2-thread TinyLlama Q4_K_M decode.
__attribute__((target("avx2,fma,f16c"))) inline void quantize_row_q8k_avx2(const float* x, BlockQ8* out, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / 256; ++b, x += 256, out += 8) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 256; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
        const float amax = max_lane(m);
        float max = 0.0f;
        for (int i = 0; i < 256; ++i)
            if ((x[i] < 0 ? -x[i] : x[i]) == amax) {
                max = x[i];
                break;
            }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        const float d = amax != 0.0f ? 1.0f / iscale : 0.0f;
        const __m256 vscale = _mm256_set1_ps(iscale);
        const __m256i cap = _mm256_set1_epi32(127);
        for (int k = 0; k < 8; ++k) {
            __m256i q[4];
            for (int j = 0; j < 4; ++j) {
                const __m256 scaled = _mm256_mul_ps(vscale, _mm256_loadu_ps(x + 32 * k + 8 * j));
                q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), cap);
            }
            int half[2];
            store_codes(q, out[k].qs, half);
            out[k].d = d;
            out[k].sum = d * float(int(uint32_t(half[0]) + uint32_t(half[1])));
            out[k].half_sum[0] = int16_t(half[0]);
            out[k].half_sum[1] = int16_t(half[1]);
        }
    }
}

} // namespace tinyllm::x86
#endif
