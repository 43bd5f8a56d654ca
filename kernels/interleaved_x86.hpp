// AVX-512 VNNI kernels for the row-interleaved layouts (interleaved.hpp). Each kernel is written
// once over the unit's width: a 16-row unit in 512-bit vectors, an 8-row unit in 256-bit ones.
// One vpdpbusd feeds 16 rows from a single activation broadcast, which halves the instructions
// per weight byte where 512-bit operations run at the 256-bit rate (Zen 5, Intel server cores).
// Per 32 codes and token: one 4-byte activation broadcast and one vpdpbusd; per block: one
// vector of scales.
//
// Each (row, token) result takes the same operations whatever T is and whichever unit width
// holds its row, so prompts and single tokens give identical values.
//
// Numerics per row: Q4_0, Q8_0 and int4 take the reference dots' steps (an integer dot per
// 32-value block, then scale x activation scale x dot accumulated in block order, here with
// fused multiply-adds); Q4_K and Q6_K scale their group dots in integers and convert once per
// super-block, as llama.cpp's kernels do.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/dot_x86.hpp"
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/kernels/interleaved.hpp"

// GCC 12 reports its own 512-bit intrinsics' placeholder operands as maybe uninitialized
// (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace tinyllm::x86 {

#define TINYLLM_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define TINYLLM_VNNI_INLINE __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"), always_inline))

// Unit widths. load() reads a lane group (4 bytes per row), halves() converts a field group
// (one fp16 per row), store() writes one output per row.
struct Rows8 {
    static constexpr int rows = 8;
    using I = __m256i;
    using F = __m256;
    TINYLLM_VNNI_INLINE static I load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
    TINYLLM_VNNI_INLINE static F halves(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    TINYLLM_VNNI_INLINE static I splat(int32_t v) { return _mm256_set1_epi32(v); }
    TINYLLM_VNNI_INLINE static I splat_bytes(char v) { return _mm256_set1_epi8(v); }
    TINYLLM_VNNI_INLINE static F splat(float v) { return _mm256_set1_ps(v); }
    TINYLLM_VNNI_INLINE static void store(float* out, F v) { _mm256_storeu_ps(out, v); }
};

struct Rows16 {
    static constexpr int rows = 16;
    using I = __m512i;
    using F = __m512;
    TINYLLM_VNNI_INLINE static I load(const uint8_t* p) { return _mm512_loadu_si512(p); }
    TINYLLM_VNNI_INLINE static F halves(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
    TINYLLM_VNNI_INLINE static I splat(int32_t v) { return _mm512_set1_epi32(v); }
    TINYLLM_VNNI_INLINE static I splat_bytes(char v) { return _mm512_set1_epi8(v); }
    TINYLLM_VNNI_INLINE static F splat(float v) { return _mm512_set1_ps(v); }
    TINYLLM_VNNI_INLINE static void store(float* out, F v) { _mm512_storeu_ps(out, v); }
};

// The lane operations the kernels use, for both shapes.
namespace lanes {
using I8 = __m256i;
using I16 = __m512i;
using F8 = __m256;
using F16 = __m512;
TINYLLM_VNNI_INLINE inline I8 add32(I8 a, I8 b) { return _mm256_add_epi32(a, b); }
TINYLLM_VNNI_INLINE inline I16 add32(I16 a, I16 b) { return _mm512_add_epi32(a, b); }
TINYLLM_VNNI_INLINE inline I8 sub32(I8 a, I8 b) { return _mm256_sub_epi32(a, b); }
TINYLLM_VNNI_INLINE inline I16 sub32(I16 a, I16 b) { return _mm512_sub_epi32(a, b); }
TINYLLM_VNNI_INLINE inline I8 mul32(I8 a, I8 b) { return _mm256_mullo_epi32(a, b); }
TINYLLM_VNNI_INLINE inline I16 mul32(I16 a, I16 b) { return _mm512_mullo_epi32(a, b); }
TINYLLM_VNNI_INLINE inline I8 srli16(I8 a, int n) { return _mm256_srli_epi16(a, n); }
TINYLLM_VNNI_INLINE inline I16 srli16(I16 a, int n) { return _mm512_srli_epi16(a, unsigned(n)); }
TINYLLM_VNNI_INLINE inline I8 slli16(I8 a, int n) { return _mm256_slli_epi16(a, n); }
TINYLLM_VNNI_INLINE inline I16 slli16(I16 a, int n) { return _mm512_slli_epi16(a, unsigned(n)); }
TINYLLM_VNNI_INLINE inline I8 srli32(I8 a, int n) { return _mm256_srli_epi32(a, n); }
TINYLLM_VNNI_INLINE inline I16 srli32(I16 a, int n) { return _mm512_srli_epi32(a, unsigned(n)); }
TINYLLM_VNNI_INLINE inline I8 slli32(I8 a, int n) { return _mm256_slli_epi32(a, n); }
TINYLLM_VNNI_INLINE inline I16 slli32(I16 a, int n) { return _mm512_slli_epi32(a, unsigned(n)); }
TINYLLM_VNNI_INLINE inline I8 srai32(I8 a, int n) { return _mm256_srai_epi32(a, n); }
TINYLLM_VNNI_INLINE inline I16 srai32(I16 a, int n) { return _mm512_srai_epi32(a, unsigned(n)); }
TINYLLM_VNNI_INLINE inline I8 madd16(I8 a, I8 b) { return _mm256_madd_epi16(a, b); }
TINYLLM_VNNI_INLINE inline I16 madd16(I16 a, I16 b) { return _mm512_madd_epi16(a, b); }
TINYLLM_VNNI_INLINE inline I8 andnot(I8 a, I8 b) { return _mm256_andnot_si256(a, b); }
TINYLLM_VNNI_INLINE inline I16 andnot(I16 a, I16 b) { return _mm512_andnot_si512(a, b); }
// acc + per lane the sum of 4 products unsigned u x signed s (vpdpbusd).
TINYLLM_VNNI_INLINE inline I8 dpbusd(I8 acc, I8 u, I8 s) { return _mm256_dpbusd_epi32(acc, u, s); }
TINYLLM_VNNI_INLINE inline I16 dpbusd(I16 acc, I16 u, I16 s) { return _mm512_dpbusd_epi32(acc, u, s); }
TINYLLM_VNNI_INLINE inline F8 to_float(I8 a) { return _mm256_cvtepi32_ps(a); }
TINYLLM_VNNI_INLINE inline F16 to_float(I16 a) { return _mm512_cvtepi32_ps(a); }
TINYLLM_VNNI_INLINE inline F8 fmadd(F8 a, F8 b, F8 c) { return _mm256_fmadd_ps(a, b, c); }
TINYLLM_VNNI_INLINE inline F16 fmadd(F16 a, F16 b, F16 c) { return _mm512_fmadd_ps(a, b, c); }
TINYLLM_VNNI_INLINE inline F8 fnmadd(F8 a, F8 b, F8 c) { return _mm256_fnmadd_ps(a, b, c); }
TINYLLM_VNNI_INLINE inline F16 fnmadd(F16 a, F16 b, F16 c) { return _mm512_fnmadd_ps(a, b, c); }
} // namespace lanes

// Plain x86-64 (no target attribute), so the AVX2 kernels inline them too.
__attribute__((always_inline)) inline int32_t word_at(const int8_t* p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

// Q4_K and Q6_K run ~3x the instructions per weight byte of Q4_0, so the out-of-order window
// covers too few cache lines ahead for the hardware prefetcher to keep up: they prefetch each
// line 8 KiB ahead. Q4_0 and Q8_0 do without for single tokens (it made Q4_0 slower on Zen 5);
// with several tokens they prefetch into L2 (prefetch_lines_to_l2 below). The AVX2 kernels
// prefetch nearer (interleaved_avx2.hpp). Measurements: docs/benchmarks.md.
constexpr int64_t prefetch_distance = 8192;
template <int64_t Distance = prefetch_distance>
__attribute__((always_inline)) inline void prefetch_ahead(const uint8_t* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p + Distance), _MM_HINT_T0);
}
// With several tokens per pass, Q4_0, int4 and Q8_0 spend longer computing on each cache line
// than memory takes to deliver it, and without help their memory stalls add to the compute time
// instead of overlapping it: at 4 tokens a Q4_0 matrix streamed at half the speed of a single
// token. Prefetching every line of the stream 16 KiB ahead into L2 overlaps the two. A single
// token is memory-bound and streams faster without (the hardware prefetcher keeps up), so
// decode does not prefetch. Measurements: docs/benchmarks.md.
constexpr int64_t multi_token_prefetch_distance = 16384;
// Every cache line of the Bytes stream bytes at p, and the line after them.
template <int64_t Bytes>
__attribute__((always_inline)) inline void prefetch_lines_to_l2(const uint8_t* p) {
    for (int64_t offset = 0; offset <= Bytes; offset += 64)
        _mm_prefetch(reinterpret_cast<const char*>(p + multi_token_prefetch_distance + offset), _MM_HINT_T1);
}

// factor x sum(activation codes) in every lane, computed in vector registers from the block's
// two 16-bit half sums (one broadcast and one vpmaddwd). A scalar sum moved into a vector would
// put a general-register transfer at the head of every block's dot chain, which streams slower.
template <class V>
TINYLLM_VNNI_INLINE inline typename V::I times_code_sum(const BlockQ8& block, typename V::I factor_pairs) {
    int32_t halves;
    __builtin_memcpy(&halves, block.half_sum, 4);
    return lanes::madd16(V::splat(halves), factor_pairs);
}

// 4-bit codes stored + 8 (Q4_0, int4 groupwise), in groups of `blocks_per_scale` 32-value
// blocks, two groups at a time: their two field groups of scales, then 4 lane groups of codes
// per block (a last unpaired group: one field group).
// The high nibbles are taken in place (code x 16, one andnot instead of a shift and a mask);
// their dot is divided by 16 once per block, exactly, as every product is a multiple of 16.
// The dot starts at -8 x sum(activations) to take off the codes' offset.
struct Nibbles {
    const uint8_t* unit;
    int64_t blocks_per_scale;
    int64_t n_blocks;
};

template <int T, class V>
TINYLLM_VNNI inline void nibbles_unit_vnni(const Nibbles& u, const BlockQ8* const* a, float* out, int64_t out_stride) {
    using namespace lanes;
    using I = typename V::I;
    using F = typename V::F;
    const I mask = V::splat_bytes(0x0f), minus_8 = V::splat(int32_t(0xfff8fff8));
    F acc[T];
    for (auto& x : acc) x = F{};
    constexpr int64_t R = V::rows;
    const uint8_t *q = u.unit, *pair = q;
    const int64_t n_groups = u.n_blocks / u.blocks_per_scale;
    for (int64_t g = 0; g < n_groups; ++g) {
        const F d = V::halves(paired_scales(q, pair, g, n_groups, R));
        for (int64_t b = g * u.blocks_per_scale, end = b + u.blocks_per_scale; b < end; ++b, q += 16 * R) {
            if (T > 1) prefetch_lines_to_l2<16 * R>(q);
            I dot[T], dot16[T];
            for (int t = 0; t < T; ++t) {
                dot[t] = times_code_sum<V>(a[t][b], minus_8);
                dot16[t] = I{};
            }
            for (int j = 0; j < 4; ++j) {
                const I codes = V::load(q + 4 * R * j);
                const I low = codes & mask, high16 = andnot(mask, codes);
                for (int t = 0; t < T; ++t) {
                    dot[t] = dpbusd(dot[t], low, V::splat(word_at(a[t][b].qs + 4 * j)));
                    dot16[t] = dpbusd(dot16[t], high16, V::splat(word_at(a[t][b].qs + 16 + 4 * j)));
                }
            }
            for (int t = 0; t < T; ++t) {
                const I block_dot = add32(dot[t], srai32(dot16[t], 4));
                acc[t] = fmadd(to_float(block_dot), d * V::splat(a[t][b].d), acc[t]);
            }
        }
    }
    for (int t = 0; t < T; ++t) V::store(out + t * out_stride, acc[t]);
}

// Q8_0: codes stored + 128, so vpdpbusd takes them as they are; the dot starts at
// -128 x sum(activations) to take the offset off. Blocks in pairs as in Nibbles: two field
// groups of scales, then the two blocks' codes (a last unpaired block: one field group).
template <int T, class V>
TINYLLM_VNNI inline void q8_0_unit_vnni(const uint8_t* unit, int64_t n_blocks, const BlockQ8* const* a, float* out, int64_t out_stride) {
    using namespace lanes;
    using I = typename V::I;
    using F = typename V::F;
    const I minus_128 = V::splat(int32_t(0xff80ff80));
    F acc[T];
    for (auto& x : acc) x = F{};
    constexpr int64_t R = V::rows;
    const uint8_t *q = unit, *pair = q;
    for (int64_t b = 0; b < n_blocks; ++b, q += 32 * R) {
        const uint8_t* scales = paired_scales(q, pair, b, n_blocks, R);
        if (T > 1) prefetch_lines_to_l2<32 * R>(q);
        I dot[T];
        for (int t = 0; t < T; ++t) dot[t] = times_code_sum<V>(a[t][b], minus_128);
        for (int j = 0; j < 8; ++j) {
            const I w = V::load(q + 4 * R * j);
            for (int t = 0; t < T; ++t) dot[t] = dpbusd(dot[t], w, V::splat(word_at(a[t][b].qs + 4 * j)));
        }
        const F d = V::halves(scales);
        for (int t = 0; t < T; ++t) acc[t] = fmadd(to_float(dot[t]), d * V::splat(a[t][b].d), acc[t]);
    }
    for (int t = 0; t < T; ++t) V::store(out + t * out_stride, acc[t]);
}

// Q4_K against Q8_K-style activations (8 blocks of 32 sharing one scale per 256). The 6-bit
// group scales and mins of all rows are decoded together from the three 32-bit words each row's
// 12 scale bytes form; group dots are scaled in integers, then one multiply-add per super-block
// applies d and one applies dmin x sum(min x activation sum). High nibbles are taken in place
// (code x 16) as in Q4_0; their scaled dots are summed apart and divided by 16 once.
template <int T, class V>
TINYLLM_VNNI inline void q4_k_unit_vnni(const uint8_t* unit, int64_t n_super, const BlockQ8* const* a, float* out, int64_t out_stride) {
    using namespace lanes;
    using I = typename V::I;
    using F = typename V::F;
    const I mask4 = V::splat_bytes(0x0f), mask6 = V::splat_bytes(0x3f), mask2 = V::splat_bytes(0x03);
    const I byte = V::splat(0xff);
    F acc[T];
    for (auto& x : acc) x = F{};
    constexpr int64_t R = V::rows;
    for (int64_t s = 0; s < n_super; ++s, unit += 144 * R) {
        const I w0 = V::load(unit + 4 * R), w1 = V::load(unit + 8 * R), w2 = V::load(unit + 12 * R);
        // Byte g % 4 of each lane: group g's scale (or min), groups 0-3 and 4-7.
        const I scales[2] = {w0 & mask6, (w2 & mask4) | slli32(srli32(w0, 6) & mask2, 4)};
        const I mins[2] = {w1 & mask6, (srli32(w2, 4) & mask4) | slli32(srli32(w1, 6) & mask2, 4)};
        const BlockQ8* act[T];
        for (int t = 0; t < T; ++t) act[t] = a[t] + 8 * s;
        I sum[T], sum16[T], min_sum[T];
        for (int t = 0; t < T; ++t) sum[t] = sum16[t] = min_sum[t] = I{};
        for (int g = 0; g < 8; ++g) {
            const I m = srli32(mins[g / 4], 8 * (g % 4)) & byte;
            for (int t = 0; t < T; ++t) min_sum[t] = add32(min_sum[t], mul32(m, V::splat(act[t][g].code_sum())));
        }
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = unit + 16 * R + 32 * R * c;
            I low[T], high16[T];
            for (int t = 0; t < T; ++t) low[t] = high16[t] = I{};
            for (int j = 0; j < 8; ++j) {
                prefetch_ahead(q + 4 * R * j);
                const I codes = V::load(q + 4 * R * j);
                const I lo = codes & mask4, hi16 = andnot(mask4, codes);
                for (int t = 0; t < T; ++t) {
                    low[t] = dpbusd(low[t], lo, V::splat(word_at(act[t][2 * c].qs + 4 * j)));
                    high16[t] = dpbusd(high16[t], hi16, V::splat(word_at(act[t][2 * c + 1].qs + 4 * j)));
                }
            }
            const int g = 2 * c;  // groups g and g + 1 share a scale word
            const I s_lo = srli32(scales[g / 4], 8 * (g % 4)) & byte;
            const I s_hi = srli32(scales[g / 4], 8 * (g % 4 + 1)) & byte;
            for (int t = 0; t < T; ++t) {
                sum[t] = add32(sum[t], mul32(low[t], s_lo));
                sum16[t] = add32(sum16[t], mul32(high16[t], s_hi));
            }
        }
        const F d = V::halves(unit), dmin = V::halves(unit + 2 * R);
        for (int t = 0; t < T; ++t) {
            const F ad = V::splat(act[t][0].d);
            acc[t] = fmadd(to_float(add32(sum[t], srai32(sum16[t], 4))), d * ad, acc[t]);
            acc[t] = fnmadd(to_float(min_sum[t]), dmin * ad, acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) V::store(out + t * out_stride, acc[t]);
}

// Q6_K against Q8_K-style activations. Codes are assembled unsigned (0..63) from ql and qh;
// each 32-value quarter k of a half h has two 16-value scale groups (lanes j < 4 and j >= 4),
// each with its own dot. The offset of 32 comes off as 32 x sum(scale x activation half-sum).
template <int T, class V>
TINYLLM_VNNI inline void q6_k_unit_vnni(const uint8_t* unit, int64_t n_super, const BlockQ8* const* a, float* out, int64_t out_stride) {
    using namespace lanes;
    using I = typename V::I;
    using F = typename V::F;
    const I mask4 = V::splat_bytes(0x0f), mask2 = V::splat_bytes(0x03);
    F acc[T];
    for (auto& x : acc) x = F{};
    constexpr int64_t R = V::rows;
    for (int64_t s = 0; s < n_super; ++s, unit += 210 * R) {
        I scale[16];  // sign-extended int8 scale of group g, per row
        for (int g = 0; g < 16; ++g) scale[g] = srai32(slli32(V::load(unit + 2 * R + 4 * R * (g / 4)), 24 - 8 * (g % 4)), 24);
        const BlockQ8* act[T];
        for (int t = 0; t < T; ++t) act[t] = a[t] + 8 * s;
        I sum[T], offset[T];
        for (int t = 0; t < T; ++t) sum[t] = offset[t] = I{};
        for (int g = 0; g < 16; ++g)
            for (int t = 0; t < T; ++t) offset[t] = add32(offset[t], mul32(scale[g], V::splat(act[t][g / 2].half_sum[g % 2])));
        // Lanes j = 4 * half .. 4 * half + 3 of half h hold 16-value group 8h + 2k + half of quarter k.
        for (int h = 0; h < 2; ++h)
            for (int half = 0; half < 2; ++half) {
                I dot[T][4];
                for (int t = 0; t < T; ++t)
                    for (auto& x : dot[t]) x = I{};
                for (int jj = 0; jj < 4; ++jj) {
                    const int j = 4 * half + jj;
                    const uint8_t* row_lanes = unit + 18 * R + 96 * R * h + 12 * R * j;
                    for (int k = 0; k < 3; ++k) prefetch_ahead(row_lanes + 4 * R * k);
                    const I ql_a = V::load(row_lanes), ql_b = V::load(row_lanes + 4 * R), qh = V::load(row_lanes + 8 * R);
                    const I codes[4] = {(ql_a & mask4) | slli16(qh & mask2, 4),
                                        (ql_b & mask4) | slli16(srli16(qh, 2) & mask2, 4),
                                        (srli16(ql_a, 4) & mask4) | slli16(srli16(qh, 4) & mask2, 4),
                                        (srli16(ql_b, 4) & mask4) | slli16(srli16(qh, 6) & mask2, 4)};
                    for (int k = 0; k < 4; ++k)
                        for (int t = 0; t < T; ++t)
                            dot[t][k] = dpbusd(dot[t][k], codes[k], V::splat(word_at(act[t][4 * h + k].qs + 4 * j)));
                }
                for (int k = 0; k < 4; ++k) {
                    const I group_scale = scale[8 * h + 2 * k + half];
                    for (int t = 0; t < T; ++t) sum[t] = add32(sum[t], mul32(dot[t][k], group_scale));
                }
            }
        const F d = V::halves(unit);
        for (int t = 0; t < T; ++t) {
            const I total = sub32(sum[t], slli32(offset[t], 5));
            acc[t] = fmadd(to_float(total), d * V::splat(act[t][0].d), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) V::store(out + t * out_stride, acc[t]);
}

template <int T, class V>
TINYLLM_VNNI inline void interleaved_vnni(GgmlType type, const uint8_t* unit, int64_t cols, int64_t group,
                                          const BlockQ8* const* a, float* out, int64_t out_stride) {
    const int64_t blocks = cols / 32;
    switch (type) {
        case GgmlType::Q4_0: return nibbles_unit_vnni<T, V>({unit, 1, blocks}, a, out, out_stride);
        case GgmlType::TINYLLM_INT4: return nibbles_unit_vnni<T, V>({unit, group / 32, blocks}, a, out, out_stride);
        case GgmlType::Q8_0: return q8_0_unit_vnni<T, V>(unit, blocks, a, out, out_stride);
        case GgmlType::Q4_K: return q4_k_unit_vnni<T, V>(unit, cols / 256, a, out, out_stride);
        case GgmlType::Q6_K: return q6_k_unit_vnni<T, V>(unit, cols / 256, a, out, out_stride);
        default: return;
    }
}

// One unit of `unit_rows` rows (16 or 8) against T tokens' activation blocks a[t];
// out[t * out_stride + r] for its rows r.
template <int T>
TINYLLM_VNNI inline void interleaved_unit_vnni(GgmlType type, const uint8_t* unit, int unit_rows, int64_t cols, int64_t group,
                                               const BlockQ8* const* a, float* out, int64_t out_stride) {
    if (unit_rows == Rows16::rows) return interleaved_vnni<T, Rows16>(type, unit, cols, group, a, out, out_stride);
    return interleaved_vnni<T, Rows8>(type, unit, cols, group, a, out, out_stride);
}

#undef TINYLLM_VNNI_INLINE
#undef TINYLLM_VNNI

} // namespace tinyllm::x86

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
