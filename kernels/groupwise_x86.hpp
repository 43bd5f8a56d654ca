// x86 kernels for the groupwise formats (groupwise.hpp) against int8 activation blocks.
// Integer dots per 32-value block are exact; each block's result is folded into 8 float
// lanes with one FMA by (group scale x activation scale), and zero points are applied from the
// activation blocks' sums in scalar. Results equal groupwise_dot_q8 up to float summation order.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#include "tinyllm/kernels/dot_x86.hpp"
#include "tinyllm/kernels/groupwise.hpp"

namespace tinyllm::x86 {

// Every function here carries the same target attributes: GCC does not inline across
// differing targets, and a call per 32-value block would cost more than the block's work.
#define TINYLLM_AVX2 __attribute__((target("avx2,fma,f16c"), always_inline))
#define TINYLLM_VNNI __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni")))

// Chunk b of a row as 32 unsigned int4 codes (0..15) or 32 signed int8 codes.
struct GroupCodes4 {
    TINYLLM_AVX2 static inline __m256i load(const uint8_t* codes, int64_t b) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + b * 16));
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f));
    }
};
struct GroupCodes8 {
    TINYLLM_AVX2 static inline __m256i load(const uint8_t* codes, int64_t b) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + b * 32));
    }
};

// 8 int32 lanes of the exact dot of 32 codes with 32 activations (AVX2: maddubs wants
// unsigned x signed, so int4 codes go in unsigned and 8 * sum(a) comes off; int8 codes move
// their sign onto a).
template <int Bits>
TINYLLM_AVX2 inline __m256i chunk_dot_avx2(__m256i w, __m256i a) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (Bits == 4) {
        const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), ones);
        const __m256i sum_a = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), a), ones);
        return _mm256_sub_epi32(dot, _mm256_slli_epi32(sum_a, 3));
    }
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)), ones);
}

// A group's scale; fp16 through the F16C instruction (the portable decode costs more than a
// 32-value block's dot).
TINYLLM_AVX2 inline float group_scale(const GroupwiseLayout& l, const uint8_t* scales, int64_t g) {
    if (scales && l.scale_type == GroupScale::f16) {
        uint16_t h;
        __builtin_memcpy(&h, scales + 2 * g, 2);
        return _cvtsh_ss(h);
    }
    return l.scale(scales, g);
}

template <int Bits, class Codes>
__attribute__((target("avx2,fma,f16c"))) inline float groupwise_dot_q8_avx2_impl(const GroupwiseLayout& l, const GroupwiseRow& row,
                                                                                 const BlockQ8* a) {
    // Two accumulators, swapped after every block, hide the FMA latency.
    __m256 acc = _mm256_setzero_ps(), other = _mm256_setzero_ps();
    float zero_terms = 0.0f;
    const int64_t per_group = l.group / 32, groups = l.groups(), n_blocks = l.cols / 32;
    for (int64_t g = 0; g < groups; ++g) {
        const float scale = group_scale(l, row.scales, g);
        const int64_t first = g * per_group, last = first + per_group < n_blocks ? first + per_group : n_blocks;  // tail group
        for (int64_t b = first; b < last; ++b) {
            const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
            const __m256 dot = _mm256_cvtepi32_ps(chunk_dot_avx2<Bits>(Codes::load(row.codes, b), qa));
            const __m256 next = _mm256_fmadd_ps(_mm256_set1_ps(scale * a[b].d), dot, acc);
            acc = other;
            other = next;
        }
        if (row.zeros)
            for (int64_t b = first; b < last; ++b) zero_terms += scale * float(row.zeros[g]) * a[b].sum;
    }
    return hsum(_mm256_add_ps(acc, other)) - zero_terms;
}

inline float groupwise_dot_q8_avx2(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    return l.bits == 4 ? groupwise_dot_q8_avx2_impl<4, GroupCodes4>(l, row, a) : groupwise_dot_q8_avx2_impl<8, GroupCodes8>(l, row, a);
}

// int4 with VNNI: unsigned codes straight into vpdpbusd; the +8 offset comes off as 8 * sum(a),
// itself one vpdpbusd per block. (The unpacking is written out here: see the note above.)
TINYLLM_VNNI inline float groupwise_dot_q8_vnni(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    if (l.bits != 4) return groupwise_dot_q8_avx2(l, row, a);
    // Two accumulators, swapped after every block, hide the FMA latency.
    __m256 acc = _mm256_setzero_ps(), other = _mm256_setzero_ps();
    float zero_terms = 0.0f;
    const __m256i eights = _mm256_set1_epi8(8), low_mask = _mm256_set1_epi8(0x0f);
    const int64_t per_group = l.group / 32, groups = l.groups(), n_blocks = l.cols / 32;
    for (int64_t g = 0; g < groups; ++g) {
        const float scale = group_scale(l, row.scales, g);
        const int64_t first = g * per_group, last = first + per_group < n_blocks ? first + per_group : n_blocks;  // tail group
        for (int64_t b = first; b < last; ++b) {
            const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row.codes + b * 16));
            const __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low_mask);
            const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
            const __m256i offset = _mm256_dpbusd_epi32(_mm256_setzero_si256(), eights, qa);
            const __m256i dot = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, qa), offset);
            const __m256 next = _mm256_fmadd_ps(_mm256_set1_ps(scale * a[b].d), _mm256_cvtepi32_ps(dot), acc);
            acc = other;
            other = next;
        }
        if (row.zeros)
            for (int64_t b = first; b < last; ++b) zero_terms += scale * float(row.zeros[g]) * a[b].sum;
    }
    return hsum(_mm256_add_ps(acc, other)) - zero_terms;
}
#undef TINYLLM_VNNI
#undef TINYLLM_AVX2

// Float activations (rows whose length or groups are not whole 32-value blocks, and programs
// that keep activations in float): int8 codes widened and accumulated in 4 double lanes, as
// exact as the reference groupwise_dot_f32.
__attribute__((target("avx2,fma,f16c"))) inline float groupwise_dot_f32_avx2(const GroupwiseLayout& l, const GroupwiseRow& row, const float* x) {
    if (l.bits != 8) return groupwise_dot_f32(l, row, x);
    double total = 0.0;
    for (int64_t g = 0, begin = 0; begin < l.cols; ++g, begin += l.group) {
        const int64_t end = begin + l.group < l.cols ? begin + l.group : l.cols;
        const double zero = row.zeros ? double(row.zeros[g]) : 0.0;
        const __m256d z = _mm256_set1_pd(zero);
        __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
        int64_t i = begin;
        for (; i + 8 <= end; i += 8) {
            int64_t packed;
            __builtin_memcpy(&packed, row.codes + i, 8);
            const __m256i q32 = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(packed));
            const __m256 xs = _mm256_loadu_ps(x + i);
            for (int h = 0; h < 2; ++h) {
                const __m128i q4 = h ? _mm256_extracti128_si256(q32, 1) : _mm256_castsi256_si128(q32);
                const __m256d q = _mm256_sub_pd(_mm256_cvtepi32_pd(q4), z);
                const __m256d xd = _mm256_cvtps_pd(h ? _mm256_extractf128_ps(xs, 1) : _mm256_castps256_ps128(xs));
                acc[h] = _mm256_fmadd_pd(q, xd, acc[h]);
            }
        }
        const __m256d both = _mm256_add_pd(acc[0], acc[1]);
        __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(both), _mm256_extractf128_pd(both, 1));
        double part = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
        for (; i < end; ++i) part += (double(int8_t(row.codes[i])) - zero) * double(x[i]);
        total += part * double(l.scale(row.scales, g));
    }
    return float(total);
}

} // namespace tinyllm::x86
#endif
