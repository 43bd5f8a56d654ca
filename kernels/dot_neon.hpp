// AArch64 NEON dot products of Q8_0 / Q4_0 weights with int8 activation blocks (NEON is part
// of every AArch64 core, so no run-time check). Each block's integer dot is exact and is scaled
// in scalar float in the same order as the generic kernel, so results are bit-identical to it.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

namespace tinyllm::neon {

// Exact sum of 32 int8 products.
inline int32_t dot_i8x32(int8x16_t w0, int8x16_t w1, const int8_t* a) {
    const int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16);
    int32x4_t acc = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(a0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(w0), vget_high_s8(a0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w1), vget_low_s8(a1)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(w1), vget_high_s8(a1)));
    return vaddvq_s32(acc);
}

inline float dot_q8_0(const TypeQ8_0::Block* w, const BlockQ8* a, int n) {
    float sum = 0.0f;
    for (int b = 0; b < n; ++b) {
        const int32_t dot = dot_i8x32(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), a[b].qs);
        sum += fp16_to_f32(w[b].d) * a[b].d * float(dot);
    }
    return sum;
}

inline float dot_q4_0(const TypeQ4_0::Block* w, const BlockQ8* a, int n) {
    const uint8x16_t low_mask = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    float sum = 0.0f;
    for (int b = 0; b < n; ++b) {
        const uint8x16_t packed = vld1q_u8(w[b].qs);
        // Elements 0..15 are the low nibbles, 16..31 the high nibbles.
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, low_mask)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
        sum += fp16_to_f32(w[b].d) * a[b].d * float(dot_i8x32(lo, hi, a[b].qs));
    }
    return sum;
}

} // namespace tinyllm::neon
#endif
