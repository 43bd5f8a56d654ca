// AVX-512 VNNI kernels (on 256-bit vectors) for the row-interleaved layouts (interleaved.hpp):
// one call computes 8 rows x T tokens. Per 32 codes and token: one 4-byte activation broadcast
// and one vpdpbusd; per block: one vector of 8 scales. Each (row, token) result takes the same
// operations whatever T is, so prompts and single tokens give identical values.
//
// Numerics per row: Q4_0, Q8_0 and int4 take the reference dots' steps (an integer dot per
// 32-value block, then scale x activation scale x dot accumulated in block order, here with
// fused multiply-adds); Q4_K and Q6_K scale their group dots in integers and convert once per
// super-block, as llama.cpp's kernels do.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#include "activation_q8.hpp"
#include "dot_x86.hpp"
#include "ggml_types.hpp"

namespace tinyllm::x86 {

#define TINYLLM_VNNI __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni")))
#define TINYLLM_VNNI_INLINE __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"), always_inline))

TINYLLM_VNNI_INLINE inline __m256i broadcast4(const int8_t* p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// 4-bit codes stored + 8 (Q4_0, int4 groupwise), in groups of `blocks_per_scale` 32-value
// blocks: the group's 8 fp16 scales (16 bytes), then 128 code bytes per block.
struct Nibbles8 {
    const uint8_t* unit;
    int64_t blocks_per_scale;
    int64_t n_blocks;
};

template <int T>
TINYLLM_VNNI inline void nibbles8_vnni(const Nibbles8& u, const BlockQ8* const* a, float* out, int64_t out_stride) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    __m256 acc[T];
    for (auto& v : acc) v = _mm256_setzero_ps();
    const uint8_t* scales = u.unit;
    const uint8_t* q = u.unit + 16;
    int64_t left = u.blocks_per_scale;
    for (int64_t b = 0; b < u.n_blocks; ++b, q += 128) {
        __m256i low[T], high[T];
        for (int t = 0; t < T; ++t) low[t] = high[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * j));
            const __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
            for (int t = 0; t < T; ++t) {
                low[t] = _mm256_dpbusd_epi32(low[t], lo, broadcast4(a[t][b].qs + 4 * j));
                high[t] = _mm256_dpbusd_epi32(high[t], hi, broadcast4(a[t][b].qs + 16 + 4 * j));
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
        for (int t = 0; t < T; ++t) {
            const __m256i dot = _mm256_sub_epi32(_mm256_add_epi32(low[t], high[t]), _mm256_set1_epi32(8 * a[t][b].code_sum()));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d)), acc[t]);
        }
        if (--left == 0) {
            scales = q + 128;
            q += 16;
            left = u.blocks_per_scale;
        }
    }
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(out + t * out_stride, acc[t]);
}

// Q8_0: signed codes, so vpdpbusd takes |w| and the activations carrying w's sign.
template <int T>
TINYLLM_VNNI inline void q8_0_x8_vnni(const uint8_t* unit, int64_t n_blocks, const BlockQ8* const* a, float* out, int64_t out_stride) {
    __m256 acc[T];
    for (auto& v : acc) v = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b, unit += 272) {
        __m256i dot[T];
        for (int t = 0; t < T; ++t) dot[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(unit + 16 + 32 * j));
            const __m256i magnitude = _mm256_sign_epi8(w, w);
            for (int t = 0; t < T; ++t)
                dot[t] = _mm256_dpbusd_epi32(dot[t], magnitude, _mm256_sign_epi8(broadcast4(a[t][b].qs + 4 * j), w));
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(unit)));
        for (int t = 0; t < T; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t]), _mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d)), acc[t]);
    }
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(out + t * out_stride, acc[t]);
}

// Q4_K against Q8_K-style activations (8 blocks of 32 sharing one scale per 256). The 6-bit
// group scales and mins of 8 rows are decoded together from the three 32-bit words each row's
// 12 scale bytes form; group dots are scaled in integers, then one multiply-add per super-block
// applies d and one applies dmin x sum(min x activation sum).
template <int T>
TINYLLM_VNNI inline void q4_k_x8_vnni(const uint8_t* unit, int64_t n_super, const BlockQ8* const* a, float* out, int64_t out_stride) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), mask6 = _mm256_set1_epi8(0x3f), mask2 = _mm256_set1_epi8(0x03);
    const __m256i byte = _mm256_set1_epi32(0xff);
    __m256 acc[T];
    for (auto& v : acc) v = _mm256_setzero_ps();
    for (int64_t s = 0; s < n_super; ++s, unit += 1152) {
        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(unit + 32));
        const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(unit + 64));
        const __m256i w2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(unit + 96));
        // Byte g % 4 of each lane: group g's scale (or min), groups 0-3 and 4-7.
        const __m256i scales[2] = {
            _mm256_and_si256(w0, mask6),
            _mm256_or_si256(_mm256_and_si256(w2, mask4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w0, 6), mask2), 4))};
        const __m256i mins[2] = {
            _mm256_and_si256(w1, mask6),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 4), mask4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w1, 6), mask2), 4))};
        const BlockQ8* act[T];
        for (int t = 0; t < T; ++t) act[t] = a[t] + 8 * s;
        __m256i sum[T], min_sum[T];
        for (int t = 0; t < T; ++t) sum[t] = min_sum[t] = _mm256_setzero_si256();
        for (int g = 0; g < 8; ++g) {
            const __m256i m = _mm256_and_si256(_mm256_srli_epi32(mins[g / 4], 8 * (g % 4)), byte);
            for (int t = 0; t < T; ++t) min_sum[t] = _mm256_add_epi32(min_sum[t], _mm256_mullo_epi32(m, _mm256_set1_epi32(act[t][g].code_sum())));
        }
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = unit + 128 + 256 * c;
            __m256i low[T], high[T];
            for (int t = 0; t < T; ++t) low[t] = high[t] = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j) {
                const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * j));
                const __m256i lo = _mm256_and_si256(v, mask4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask4);
                for (int t = 0; t < T; ++t) {
                    low[t] = _mm256_dpbusd_epi32(low[t], lo, broadcast4(act[t][2 * c].qs + 4 * j));
                    high[t] = _mm256_dpbusd_epi32(high[t], hi, broadcast4(act[t][2 * c + 1].qs + 4 * j));
                }
            }
            const int g = 2 * c;  // groups g and g + 1 share a scale word
            const __m256i s_lo = _mm256_and_si256(_mm256_srli_epi32(scales[g / 4], 8 * (g % 4)), byte);
            const __m256i s_hi = _mm256_and_si256(_mm256_srli_epi32(scales[g / 4], 8 * (g % 4 + 1)), byte);
            for (int t = 0; t < T; ++t)
                sum[t] = _mm256_add_epi32(sum[t], _mm256_add_epi32(_mm256_mullo_epi32(low[t], s_lo), _mm256_mullo_epi32(high[t], s_hi)));
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(unit)));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(unit + 16)));
        for (int t = 0; t < T; ++t) {
            const __m256 ad = _mm256_set1_ps(act[t][0].d);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(d, ad), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sum[t]), _mm256_mul_ps(dmin, ad), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(out + t * out_stride, acc[t]);
}

// Q6_K against Q8_K-style activations. Codes are assembled unsigned (0..63) from ql and qh;
// each 32-value quarter k of a half h has two 16-value scale groups (lanes j < 4 and j >= 4),
// each with its own dot. The offset of 32 comes off as 32 x sum(scale x activation half-sum).
template <int T>
TINYLLM_VNNI inline void q6_k_x8_vnni(const uint8_t* unit, int64_t n_super, const BlockQ8* const* a, float* out, int64_t out_stride) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), mask2 = _mm256_set1_epi8(0x03);
    __m256 acc[T];
    for (auto& v : acc) v = _mm256_setzero_ps();
    for (int64_t s = 0; s < n_super; ++s, unit += 1680) {
        __m256i scale[16];  // sign-extended int8 scale of group g, per row
        for (int g = 0; g < 16; ++g) {
            const __m256i word = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(unit + 16 + 32 * (g / 4)));
            scale[g] = _mm256_srai_epi32(_mm256_slli_epi32(word, 24 - 8 * (g % 4)), 24);
        }
        const BlockQ8* act[T];
        for (int t = 0; t < T; ++t) act[t] = a[t] + 8 * s;
        __m256i sum[T], offset[T];
        for (int t = 0; t < T; ++t) sum[t] = offset[t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; ++g)
            for (int t = 0; t < T; ++t)
                offset[t] = _mm256_add_epi32(offset[t], _mm256_mullo_epi32(scale[g], _mm256_set1_epi32(act[t][g / 2].half_sum[g % 2])));
        // Lanes j = 4 * half .. 4 * half + 3 of half h hold 16-value group 8h + 2k + half of quarter k.
        for (int h = 0; h < 2; ++h)
            for (int half = 0; half < 2; ++half) {
                __m256i dot[T][4];
                for (int t = 0; t < T; ++t)
                    for (auto& v : dot[t]) v = _mm256_setzero_si256();
                for (int jj = 0; jj < 4; ++jj) {
                    const int j = 4 * half + jj;
                    const uint8_t* lanes = unit + 144 + 768 * h + 96 * j;
                    const __m256i ql_a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes));
                    const __m256i ql_b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes + 32));
                    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes + 64));
                    const __m256i codes[4] = {
                        _mm256_or_si256(_mm256_and_si256(ql_a, mask4), _mm256_slli_epi16(_mm256_and_si256(qh, mask2), 4)),
                        _mm256_or_si256(_mm256_and_si256(ql_b, mask4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), mask2), 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), mask4),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), mask2), 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), mask4),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), mask2), 4))};
                    for (int k = 0; k < 4; ++k)
                        for (int t = 0; t < T; ++t)
                            dot[t][k] = _mm256_dpbusd_epi32(dot[t][k], codes[k], broadcast4(act[t][4 * h + k].qs + 4 * j));
                }
                for (int k = 0; k < 4; ++k) {
                    const __m256i group_scale = scale[8 * h + 2 * k + half];
                    for (int t = 0; t < T; ++t) sum[t] = _mm256_add_epi32(sum[t], _mm256_mullo_epi32(dot[t][k], group_scale));
                }
            }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(unit)));
        for (int t = 0; t < T; ++t) {
            const __m256i total = _mm256_sub_epi32(sum[t], _mm256_slli_epi32(offset[t], 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(act[t][0].d)), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(out + t * out_stride, acc[t]);
}

// One 8-row unit (unit_bytes = 8 rows' bytes, starting at `unit`) against T tokens' activation
// blocks a[t]; out[t * out_stride + r] for rows r = 0..7.
template <int T>
TINYLLM_VNNI inline void interleaved_unit_vnni(GgmlType type, const uint8_t* unit, int64_t cols, int64_t group,
                                               const BlockQ8* const* a, float* out, int64_t out_stride) {
    const int64_t blocks = cols / 32;
    switch (type) {
        case GgmlType::Q4_0: return nibbles8_vnni<T>({unit, 1, blocks}, a, out, out_stride);
        case GgmlType::TINYLLM_INT4: return nibbles8_vnni<T>({unit, group / 32, blocks}, a, out, out_stride);
        case GgmlType::Q8_0: return q8_0_x8_vnni<T>(unit, blocks, a, out, out_stride);
        case GgmlType::Q4_K: return q4_k_x8_vnni<T>(unit, cols / 256, a, out, out_stride);
        case GgmlType::Q6_K: return q6_k_x8_vnni<T>(unit, cols / 256, a, out, out_stride);
        default: return;
    }
}

#undef TINYLLM_VNNI_INLINE
#undef TINYLLM_VNNI

} // namespace tinyllm::x86
#endif
