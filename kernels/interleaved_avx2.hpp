// AVX2 kernels for the row-interleaved layouts (interleaved.hpp), for x86 CPUs without AVX-512
// VNNI (Zen 2/3, Intel client cores before AVX-VNNI). Without vpdpbusd, a 4-way int8 dot per
// lane takes vpmaddubsw (u8 x s8 pairs into saturating int16) and vpmaddwd (int16 pairs into
// int32). The layouts stay those of the VNNI kernels, read in 256-bit halves: a 16-row unit's
// lane group (64 bytes) is two vectors of 8 rows, its field group (32 bytes) two of 8 scales.
//
// Every (row, token) result is bit-identical to the VNNI kernel's: the same exact integer dot
// per block (or per super-block), then the same float operations in the same order. So the
// choice of kernel never changes a model's answers, and the VNNI kernels' tests hold here.
//
// Every kernel here prefetches each cache line of its stream 2 KiB ahead (prefetch_near), Q4_0
// and Q8_0 included, and Q4_K and Q6_K also their super-blocks' scale lines: on Zen 3 that
// measured fastest (the VNNI kernels' 8 KiB, or none, was slower). docs/benchmarks.md has the
// measurements.
//
// int16 sums must not saturate: a 4-bit code (0..15) times an activation (|a| <= 128) gives
// pairs of at most 3840, so a block's 8 pairs per lane sum to at most 30720 and add up in int16
// before one vpmaddwd. 6-bit (Q6_K) and 8-bit (Q8_0) codes are widened after each vpmaddubsw.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/kernels/interleaved_x86.hpp"

namespace tinyllm::x86 {

#define TINYLLM_AVX2_KERNEL __attribute__((target("avx2,fma,f16c")))
#define TINYLLM_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline))

// One pass over a unit of R rows (16 or 8) computes H eight-row halves of it, from half `first`:
// rows 8 first .. 8 (first + H) - 1. Single tokens take both halves of a 16-row unit in one
// pass (one read of each cache line, two independent chains); several tokens take one half per
// pass, as their accumulators fill the 16 vector registers (the second pass reads from L1/L2).
template <int R, int H>
struct HalfPass {
    static_assert(R == 8 || R == 16, "units hold 16 rows, or 8 for a last unit");
    int first;
    // Half h of a lane group (4 bytes per row) or a field group (one fp16 per row).
    TINYLLM_AVX2_INLINE __m256i lanes(const uint8_t* group, int h) const {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * (first + h)));
    }
    TINYLLM_AVX2_INLINE __m256 fields(const uint8_t* group, int h) const {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16 * (first + h))));
    }
    TINYLLM_AVX2_INLINE void store(float* out, int h, __m256 v) const { _mm256_storeu_ps(out + 8 * (first + h), v); }
};

// How far ahead these kernels prefetch (the note at the top of this file).
constexpr int64_t near_prefetch_distance = 2048;
TINYLLM_AVX2_INLINE inline void prefetch_near(const uint8_t* p) { prefetch_ahead<near_prefetch_distance>(p); }
// Every cache line of [p, p + bytes): a super-block's scales, which no code load's prefetch covers.
TINYLLM_AVX2_INLINE inline void prefetch_near_lines(const uint8_t* p, int64_t bytes) {
    const uint8_t* line = p - (reinterpret_cast<uintptr_t>(p) & 63);
    for (; line < p + bytes; line += 64) prefetch_near(line);
}

TINYLLM_AVX2_INLINE inline __m256i splat_word(const int8_t* p) { return _mm256_set1_epi32(word_at(p)); }

// vpshufb controls that place bytes k0 and k1 of every 32-bit lane at its bytes 1 and 3,
// zeroing bytes 0 and 2 (an index with the top bit set writes zero).
struct BytePairPicks {
    alignas(32) uint8_t control[4][4][32];
    constexpr BytePairPicks() : control{} {
        for (int k0 = 0; k0 < 4; ++k0)
            for (int k1 = 0; k1 < 4; ++k1)
                for (int i = 0; i < 32; i += 4) {
                    const int lane = i % 16;  // vpshufb indexes within each 128-bit half
                    control[k0][k1][i] = control[k0][k1][i + 2] = 0x80;
                    control[k0][k1][i + 1] = uint8_t(lane + k0);
                    control[k0][k1][i + 3] = uint8_t(lane + k1);
                }
    }
};
inline constexpr BytePairPicks byte_pair_picks{};

TINYLLM_AVX2_INLINE inline __m256i pick_byte_pair(__m256i v, int k0, int k1) {
    return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(byte_pair_picks.control[k0][k1])));
}

// Byte k (unsigned) of every 32-bit lane into both of its 16-bit halves: a per-row 6-bit
// scale or min as the multiplier vpmaddwd takes.
TINYLLM_AVX2_INLINE inline __m256i byte_pairs(__m256i v, int k) { return _mm256_srli_epi16(pick_byte_pair(v, k, k), 8); }

// Bytes k0 and k1 (signed) of every 32-bit lane into its low and high 16-bit halves.
TINYLLM_AVX2_INLINE inline __m256i signed_byte_pair(__m256i v, int k0, int k1) { return _mm256_srai_epi16(pick_byte_pair(v, k0, k1), 8); }

// factor x sum(activation codes) in every lane, from the block's two 16-bit half sums (as the
// VNNI kernels take it).
TINYLLM_AVX2_INLINE inline __m256i times_code_sum_avx2(const BlockQ8& block, __m256i factor_pairs) {
    int32_t halves;
    __builtin_memcpy(&halves, block.half_sum, 4);
    return _mm256_madd_epi16(_mm256_set1_epi32(halves), factor_pairs);
}

// Q4_0 and int4 groupwise (codes stored + 8; Nibbles as in the VNNI kernel).
template <int T, int R, int H>
TINYLLM_AVX2_KERNEL inline void nibbles_pass_avx2(const Nibbles& u, HalfPass<R, H> pass, const BlockQ8* const* a, float* out,
                                                  int64_t out_stride) {
    const __m256i mask = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1), minus_8 = _mm256_set1_epi32(int32_t(0xfff8fff8));
    __m256 acc[T][H];
    for (auto& row : acc)
        for (auto& x : row) x = _mm256_setzero_ps();
    const uint8_t *q = u.unit, *pair = q;
    const int64_t n_groups = u.n_blocks / u.blocks_per_scale;
    for (int64_t g = 0; g < n_groups; ++g) {
        const uint8_t* scales = paired_scales(q, pair, g, n_groups, R);
        __m256 d[H];
        for (int h = 0; h < H; ++h) d[h] = pass.fields(scales, h);
        for (int64_t b = g * u.blocks_per_scale, end = b + u.blocks_per_scale; b < end; ++b, q += 16 * R) {
            __m256i sum16[T][H];
            for (auto& row : sum16)
                for (auto& x : row) x = _mm256_setzero_si256();
            // Kept a loop: unrolled, GCC 12 runs out of the 16 vector registers and keeps the
            // accumulators and scales on the stack. (Q4_K stays unrolled and Q8_0 is unrolled
            // twice: each measured fastest; docs/benchmarks.md.)
#pragma GCC unroll 1
            for (int j = 0; j < 4; ++j) {
                __m256i low[H], high[H];
                prefetch_near(q + 4 * R * j);
                for (int h = 0; h < H; ++h) {
                    const __m256i codes = pass.lanes(q + 4 * R * j, h);
                    low[h] = _mm256_and_si256(codes, mask);
                    high[h] = _mm256_and_si256(_mm256_srli_epi16(codes, 4), mask);
                }
                for (int t = 0; t < T; ++t) {
                    const __m256i a_low = splat_word(a[t][b].qs + 4 * j), a_high = splat_word(a[t][b].qs + 16 + 4 * j);
                    for (int h = 0; h < H; ++h)
                        sum16[t][h] = _mm256_add_epi16(sum16[t][h], _mm256_add_epi16(_mm256_maddubs_epi16(low[h], a_low),
                                                                                     _mm256_maddubs_epi16(high[h], a_high)));
                }
            }
            for (int t = 0; t < T; ++t) {
                const __m256i offset = times_code_sum_avx2(a[t][b], minus_8);
                const __m256 ad = _mm256_set1_ps(a[t][b].d);
                for (int h = 0; h < H; ++h) {
                    const __m256i block_dot = _mm256_add_epi32(_mm256_madd_epi16(sum16[t][h], ones), offset);
                    acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot), _mm256_mul_ps(d[h], ad), acc[t][h]);
                }
            }
        }
    }
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h) pass.store(out + t * out_stride, h, acc[t][h]);
}

// Q8_0 (codes stored + 128). Flipping the sign bit back gives the signed code w; vpmaddubsw
// takes |w| unsigned and the activation with w's sign (|w| <= 128 and |a| <= 127 fit int16).
// Both scales of a block pair load before the pair's codes, so that every cache line is first
// touched in stream order (which streams faster; docs/benchmarks.md).
template <int T, int R, int H>
TINYLLM_AVX2_KERNEL inline void q8_0_pass_avx2(const uint8_t* unit, int64_t n_blocks, HalfPass<R, H> pass, const BlockQ8* const* a,
                                               float* out, int64_t out_stride) {
    const __m256i flip = _mm256_set1_epi8(char(0x80)), ones = _mm256_set1_epi16(1);
    __m256 acc[T][H];
    for (auto& row : acc)
        for (auto& x : row) x = _mm256_setzero_ps();
    const uint8_t *q = unit, *pair = q;
    for (int64_t first = 0; first < n_blocks; first += 2) {
        const int blocks = first + 1 < n_blocks ? 2 : 1;
        __m256 d[2][H];
        for (int k = 0; k < blocks; ++k) {
            const uint8_t* scales = paired_scales(q, pair, first + k, n_blocks, R);
            for (int h = 0; h < H; ++h) d[k][h] = pass.fields(scales, h);
        }
        for (int k = 0; k < blocks; ++k, q += 32 * R) {
            const int64_t b = first + k;
            __m256i dot[T][H];
            for (auto& row : dot)
                for (auto& x : row) x = _mm256_setzero_si256();
            // Unrolled twice, not fully (see the prefetch note at the top).
#pragma GCC unroll 2
            for (int j = 0; j < 8; ++j) {
                __m256i w[H], magnitude[H];
                prefetch_near(q + 4 * R * j);
                for (int h = 0; h < H; ++h) {
                    w[h] = _mm256_xor_si256(pass.lanes(q + 4 * R * j, h), flip);
                    magnitude[h] = _mm256_abs_epi8(w[h]);
                }
                for (int t = 0; t < T; ++t) {
                    const __m256i act = splat_word(a[t][b].qs + 4 * j);
                    for (int h = 0; h < H; ++h) {
                        const __m256i pairs = _mm256_maddubs_epi16(magnitude[h], _mm256_sign_epi8(act, w[h]));
                        dot[t][h] = _mm256_add_epi32(dot[t][h], _mm256_madd_epi16(pairs, ones));
                    }
                }
            }
            for (int h = 0; h < H; ++h)
                for (int t = 0; t < T; ++t)
                    acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][h]), _mm256_mul_ps(d[k][h], _mm256_set1_ps(a[t][b].d)), acc[t][h]);
        }
    }
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h) pass.store(out + t * out_stride, h, acc[t][h]);
}

// Q4_K: group dots summed in int16 per 32-value group, then scaled by vpmaddwd with the
// group's 6-bit scale in both halves of each lane; mins likewise against the activation
// blocks' half sums. Same integers as the VNNI kernel, so the same two multiply-adds at the end.
template <int T, int R, int H>
TINYLLM_AVX2_KERNEL inline void q4_k_pass_avx2(const uint8_t* unit, int64_t n_super, HalfPass<R, H> pass, const BlockQ8* const* a,
                                               float* out, int64_t out_stride) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), mask6 = _mm256_set1_epi8(0x3f), mask2 = _mm256_set1_epi8(0x03);
    __m256 acc[T][H];
    for (auto& row : acc)
        for (auto& x : row) x = _mm256_setzero_ps();
    for (int64_t s = 0; s < n_super; ++s, unit += 144 * R) {
        const BlockQ8* act[T];
        for (int t = 0; t < T; ++t) act[t] = a[t] + 8 * s;
        prefetch_near_lines(unit, 16 * R);
        // d and dmin load first, so that their line too is first touched in stream order (see
        // q8_0_pass_avx2).
        __m256 d[H], dmin[H];
        for (int h = 0; h < H; ++h) {
            d[h] = pass.fields(unit, h);
            dmin[h] = pass.fields(unit + 2 * R, h);
        }
        __m256i scales[H][2], sum[T][H], min_sum[T][H];
        for (int h = 0; h < H; ++h) {
            const __m256i w0 = pass.lanes(unit + 4 * R, h), w1 = pass.lanes(unit + 8 * R, h), w2 = pass.lanes(unit + 12 * R, h);
            // Byte g % 4 of each lane: group g's scale (or min), groups 0-3 and 4-7.
            scales[h][0] = _mm256_and_si256(w0, mask6);
            scales[h][1] = _mm256_or_si256(_mm256_and_si256(w2, mask4),
                                           _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w0, 6), mask2), 4));
            const __m256i mins[2] = {_mm256_and_si256(w1, mask6),
                                     _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 4), mask4),
                                                     _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w1, 6), mask2), 4))};
            for (int t = 0; t < T; ++t) {
                sum[t][h] = min_sum[t][h] = _mm256_setzero_si256();
                for (int g = 0; g < 8; ++g)
                    min_sum[t][h] = _mm256_add_epi32(min_sum[t][h], times_code_sum_avx2(act[t][g], byte_pairs(mins[g / 4], g % 4)));
            }
        }
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = unit + 16 * R + 32 * R * c;
            __m256i low16[T][H], high16[T][H];
            for (int t = 0; t < T; ++t)
                for (int h = 0; h < H; ++h) low16[t][h] = high16[t][h] = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j) {
                prefetch_near(q + 4 * R * j);
                __m256i low[H], high[H];
                for (int h = 0; h < H; ++h) {
                    const __m256i codes = pass.lanes(q + 4 * R * j, h);
                    low[h] = _mm256_and_si256(codes, mask4);
                    high[h] = _mm256_and_si256(_mm256_srli_epi16(codes, 4), mask4);
                }
                for (int t = 0; t < T; ++t) {
                    const __m256i a_low = splat_word(act[t][2 * c].qs + 4 * j), a_high = splat_word(act[t][2 * c + 1].qs + 4 * j);
                    for (int h = 0; h < H; ++h) {
                        low16[t][h] = _mm256_add_epi16(low16[t][h], _mm256_maddubs_epi16(low[h], a_low));
                        high16[t][h] = _mm256_add_epi16(high16[t][h], _mm256_maddubs_epi16(high[h], a_high));
                    }
                }
            }
            const int g = 2 * c;  // groups g and g + 1 share a scale word
            for (int h = 0; h < H; ++h) {
                const __m256i s_low = byte_pairs(scales[h][g / 4], g % 4), s_high = byte_pairs(scales[h][g / 4], g % 4 + 1);
                for (int t = 0; t < T; ++t)
                    sum[t][h] = _mm256_add_epi32(sum[t][h], _mm256_add_epi32(_mm256_madd_epi16(low16[t][h], s_low),
                                                                             _mm256_madd_epi16(high16[t][h], s_high)));
            }
        }
        for (int h = 0; h < H; ++h) {
            for (int t = 0; t < T; ++t) {
                const __m256 ad = _mm256_set1_ps(act[t][0].d);
                acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t][h]), _mm256_mul_ps(d[h], ad), acc[t][h]);
                acc[t][h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sum[t][h]), _mm256_mul_ps(dmin[h], ad), acc[t][h]);
            }
        }
    }
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h) pass.store(out + t * out_stride, h, acc[t][h]);
}

// Q6_K: codes assembled unsigned (0..63) as in the VNNI kernel; each vpmaddubsw result is
// scaled by vpmaddwd with its 16-value group's int8 scale in both halves of each lane. The
// offset of 32 comes off as 32 x sum(scale x activation half sum), two groups per vpmaddwd.
template <int T, int R, int H>
TINYLLM_AVX2_KERNEL inline void q6_k_pass_avx2(const uint8_t* unit, int64_t n_super, HalfPass<R, H> pass, const BlockQ8* const* a,
                                               float* out, int64_t out_stride) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), mask_high = _mm256_set1_epi8(0x30);
    __m256 acc[T][H];
    for (auto& row : acc)
        for (auto& x : row) x = _mm256_setzero_ps();
    for (int64_t s = 0; s < n_super; ++s, unit += 210 * R) {
        const BlockQ8* act[T];
        for (int t = 0; t < T; ++t) act[t] = a[t] + 8 * s;
        prefetch_near_lines(unit, 18 * R);
        __m256i sum[T][H], offset[T][H];
        for (int h = 0; h < H; ++h)
            for (int t = 0; t < T; ++t) {
                sum[t][h] = offset[t][h] = _mm256_setzero_si256();
                // Groups 2m and 2m + 1 (bytes 2m % 4 and 2m % 4 + 1 of word m / 2) meet block m's half sums.
                for (int m = 0; m < 8; ++m) {
                    const __m256i pair = signed_byte_pair(pass.lanes(unit + 2 * R + 4 * R * (m / 2), h), 2 * m % 4, 2 * m % 4 + 1);
                    offset[t][h] = _mm256_add_epi32(offset[t][h], times_code_sum_avx2(act[t][m], pair));
                }
            }
        for (int half = 0; half < 2; ++half)
            for (int part = 0; part < 2; ++part) {
                __m256i scale[H][4];  // group 8 half + 2k + part's scale, in both halves of each lane
                for (int h = 0; h < H; ++h)
                    for (int k = 0; k < 4; ++k) {
                        const int g = 8 * half + 2 * k + part;
                        scale[h][k] = signed_byte_pair(pass.lanes(unit + 2 * R + 4 * R * (g / 4), h), g % 4, g % 4);
                    }
                for (int jj = 0; jj < 4; ++jj) {
                    const int j = 4 * part + jj;
                    const uint8_t* row_lanes = unit + 18 * R + 96 * R * half + 12 * R * j;
                    for (int k = 0; k < 3; ++k) prefetch_near(row_lanes + 4 * R * k);
                    for (int h = 0; h < H; ++h) {
                        const __m256i ql_a = pass.lanes(row_lanes, h), ql_b = pass.lanes(row_lanes + 4 * R, h);
                        const __m256i qh = pass.lanes(row_lanes + 8 * R, h);
                        const __m256i codes[4] = {
                            _mm256_or_si256(_mm256_and_si256(ql_a, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), mask_high)),
                            _mm256_or_si256(_mm256_and_si256(ql_b, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), mask_high)),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), mask4), _mm256_and_si256(qh, mask_high)),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), mask4),
                                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), mask_high))};
                        for (int k = 0; k < 4; ++k)
                            for (int t = 0; t < T; ++t) {
                                const __m256i pairs = _mm256_maddubs_epi16(codes[k], splat_word(act[t][4 * half + k].qs + 4 * j));
                                sum[t][h] = _mm256_add_epi32(sum[t][h], _mm256_madd_epi16(pairs, scale[h][k]));
                            }
                    }
                }
            }
        for (int h = 0; h < H; ++h) {
            const __m256 d = pass.fields(unit, h);
            for (int t = 0; t < T; ++t) {
                const __m256i total = _mm256_sub_epi32(sum[t][h], _mm256_slli_epi32(offset[t][h], 5));
                acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(act[t][0].d)), acc[t][h]);
            }
        }
    }
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h) pass.store(out + t * out_stride, h, acc[t][h]);
}

template <int T, int R, int H>
TINYLLM_AVX2_KERNEL inline void interleaved_pass_avx2(GgmlType type, const uint8_t* unit, int64_t cols, int64_t group, HalfPass<R, H> pass,
                                                      const BlockQ8* const* a, float* out, int64_t out_stride) {
    const int64_t blocks = cols / 32;
    switch (type) {
        case GgmlType::Q4_0: return nibbles_pass_avx2<T, R, H>({unit, 1, blocks}, pass, a, out, out_stride);
        case GgmlType::TINYLLM_INT4: return nibbles_pass_avx2<T, R, H>({unit, group / 32, blocks}, pass, a, out, out_stride);
        case GgmlType::Q8_0: return q8_0_pass_avx2<T, R, H>(unit, blocks, pass, a, out, out_stride);
        case GgmlType::Q4_K: return q4_k_pass_avx2<T, R, H>(unit, cols / 256, pass, a, out, out_stride);
        case GgmlType::Q6_K: return q6_k_pass_avx2<T, R, H>(unit, cols / 256, pass, a, out, out_stride);
        default: return;
    }
}

// One unit of `unit_rows` rows (16 or 8) against T tokens' activation blocks a[t];
// out[t * out_stride + r] for its rows r. Same contract and same values as interleaved_unit_vnni.
template <int T>
TINYLLM_AVX2_KERNEL inline void interleaved_unit_avx2(GgmlType type, const uint8_t* unit, int unit_rows, int64_t cols, int64_t group,
                                                      const BlockQ8* const* a, float* out, int64_t out_stride) {
    if (unit_rows == 8) return interleaved_pass_avx2<T, 8, 1>(type, unit, cols, group, {0}, a, out, out_stride);
    if constexpr (T == 1) {
        interleaved_pass_avx2<T, 16, 2>(type, unit, cols, group, {0}, a, out, out_stride);
    } else {
        interleaved_pass_avx2<T, 16, 1>(type, unit, cols, group, {0}, a, out, out_stride);
        interleaved_pass_avx2<T, 16, 1>(type, unit, cols, group, {1}, a, out, out_stride);
    }
}

#undef TINYLLM_AVX2_INLINE
#undef TINYLLM_AVX2_KERNEL

} // namespace tinyllm::x86
#endif
