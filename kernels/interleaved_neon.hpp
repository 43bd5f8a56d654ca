// AArch64 kernels for the row-interleaved layouts (interleaved.hpp) of Q4_0, Q8_0 and int4
// groupwise, on cores with the dot-product extension. A 16-row unit's lane group (4 bytes of
// each row) is four 128-bit vectors of 4 rows; one sdot by element multiplies a vector's four
// rows by the same 4 activation bytes, so each 32-bit lane sums its row's products with no
// horizontal sums, and a block's scales for the unit load as vectors.
//
// Numerics per row are the plain kernels': an exact integer dot per 32-value block, then
// scale x activation scale x dot added with one fused multiply-add, block by block in order.
// Q4_0 rows therefore give the generic kernel's bits, and Q8_0 rows too; int4 rows take the x86
// interleaved kernels' step (a group's scale times the block's activation scale, then the
// multiply-add), so every core gives a model the same values. Any number of tokens per pass
// (1 to 4) takes the same operations per (row, token).
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "tinyllm/kernels/dot_neon.hpp"
#include "tinyllm/kernels/interleaved.hpp"

#if TINYLLM_NEON_DOTPROD
namespace tinyllm::neon {

// Codes j (0..3) of a lane group's vector (4 rows x 4 codes) against bytes 4j.. of `act`.
template <int J>
TINYLLM_DOTPROD_TARGET inline int32x4_t dot_lane(int32x4_t acc, int8x16_t codes, int8x16_t act) {
    return vdotq_laneq_s32(acc, codes, act, J);
}

// The float step of one block for NV vectors of 4 rows and T tokens.
template <int T, int NV>
inline void add_blocks(float32x4_t (&acc)[T][NV], const int32x4_t (&dot)[T][NV], const float32x4_t* d, const BlockQ8* const* a, int64_t b) {
    for (int t = 0; t < T; ++t)
        for (int v = 0; v < NV; ++v) acc[t][v] = vfmaq_f32(acc[t][v], vmulq_n_f32(d[v], a[t][b].d), vcvtq_f32_s32(dot[t][v]));
}

// Lane group J of a block (nibble codes stored + 8: low nibbles are values 4J.., high ones
// 16 + 4J..) for NV vectors from `first` of an R-row unit, against T tokens.
template <int J, int T, int R, int NV>
TINYLLM_DOTPROD_TARGET inline void nibble_lanes(int32x4_t (&dot)[T][NV], const uint8_t* q, int first, const int8x16_t* act_lo,
                                                const int8x16_t* act_hi) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    for (int v = 0; v < NV; ++v) {
        const uint8x16_t p = vld1q_u8(q + 4 * R * J + 16 * (first + v));
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(p, mask)), hi = vreinterpretq_s8_u8(vshrq_n_u8(p, 4));
        for (int t = 0; t < T; ++t) dot[t][v] = dot_lane<J>(dot_lane<J>(dot[t][v], lo, act_lo[t]), hi, act_hi[t]);
    }
}

// Lane group J of a Q8_0 block (codes stored with the sign bit flipped; values 4J..).
template <int J, int T, int R, int NV>
TINYLLM_DOTPROD_TARGET inline void q8_lanes(int32x4_t (&dot)[T][NV], const uint8_t* q, int first, const int8x16_t* act_lo,
                                            const int8x16_t* act_hi) {
    for (int v = 0; v < NV; ++v) {
        const int8x16_t codes = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(q + 4 * R * J + 16 * (first + v)), vdupq_n_u8(0x80)));
        for (int t = 0; t < T; ++t) dot[t][v] = J < 4 ? dot_lane<J % 4>(dot[t][v], codes, act_lo[t]) : dot_lane<J % 4>(dot[t][v], codes, act_hi[t]);
    }
}

// Q4_0 / int4 (groups of `per_scale` blocks) or Q8_0 (`q8`, one block per scale): rows
// 4 first .. 4 (first + NV) - 1 of an R-row unit against T tokens.
template <int T, int R, int NV>
TINYLLM_DOTPROD_TARGET __attribute__((flatten)) inline void paired_pass(bool q8, const uint8_t* unit, int64_t per_scale, int64_t n_blocks,
                                                                        int first, const BlockQ8* const* a, float* out, int64_t out_stride) {
    float32x4_t acc[T][NV];
    for (auto& row : acc)
        for (auto& x : row) x = vdupq_n_f32(0.0f);
    const uint8_t *q = unit, *pair = q;
    const int64_t n_groups = n_blocks / per_scale;
    for (int64_t g = 0; g < n_groups; ++g) {
        const uint8_t* scales = paired_scales(q, pair, g, n_groups, R);
        float32x4_t d[NV];
        for (int v = 0; v < NV; ++v) d[v] = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(scales + 8 * (first + v))));
        for (int64_t b = g * per_scale, end = b + per_scale; b < end; ++b) {
            int32x4_t dot[T][NV];
            int8x16_t act_lo[T], act_hi[T];
            for (int t = 0; t < T; ++t) {
                act_lo[t] = vld1q_s8(a[t][b].qs);
                act_hi[t] = vld1q_s8(a[t][b].qs + 16);
                // Nibble codes are stored + 8: their dot starts at -8 x sum(activations).
                for (int v = 0; v < NV; ++v) dot[t][v] = vdupq_n_s32(q8 ? 0 : -8 * a[t][b].code_sum());
            }
            if (q8) {
                q8_lanes<0, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<1, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<2, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<3, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<4, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<5, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<6, T, R, NV>(dot, q, first, act_lo, act_hi);
                q8_lanes<7, T, R, NV>(dot, q, first, act_lo, act_hi);
                q += 32 * R;
            } else {
                nibble_lanes<0, T, R, NV>(dot, q, first, act_lo, act_hi);
                nibble_lanes<1, T, R, NV>(dot, q, first, act_lo, act_hi);
                nibble_lanes<2, T, R, NV>(dot, q, first, act_lo, act_hi);
                nibble_lanes<3, T, R, NV>(dot, q, first, act_lo, act_hi);
                q += 16 * R;
            }
            add_blocks<T, NV>(acc, dot, d, a, b);
        }
    }
    for (int t = 0; t < T; ++t)
        for (int v = 0; v < NV; ++v) vst1q_f32(out + t * out_stride + 4 * (first + v), acc[t][v]);
}

// One unit (16 rows, or 8 for a last unit) against T tokens (1 to 4): out[t * out_stride + r].
// Same contract as the x86 unit kernels; null from dispatch for the types not listed in
// interleaved_kernel_takes. A single token takes a whole unit per pass, several tokens 8 rows
// per pass (4-row passes would load every activation block twice as often).
template <int T>
inline void interleaved_unit_dotprod(GgmlType type, const uint8_t* unit, int unit_rows, int64_t cols, int64_t group, const BlockQ8* const* a,
                                     float* out, int64_t out_stride) {
    const bool q8 = type == GgmlType::Q8_0;
    const int64_t per_scale = type == GgmlType::TINYLLM_INT4 ? group / 32 : 1, n_blocks = cols / 32;
    if (unit_rows == 8) return paired_pass<T, 8, 2>(q8, unit, per_scale, n_blocks, 0, a, out, out_stride);
    if constexpr (T == 1) {
        paired_pass<T, 16, 4>(q8, unit, per_scale, n_blocks, 0, a, out, out_stride);
    } else {
        paired_pass<T, 16, 2>(q8, unit, per_scale, n_blocks, 0, a, out, out_stride);
        paired_pass<T, 16, 2>(q8, unit, per_scale, n_blocks, 2, a, out, out_stride);
    }
}

} // namespace tinyllm::neon
#endif
#endif
