// AArch64 NEON kernel for the groupwise formats (groupwise.hpp) against int8 activation blocks.
// Each block's integer dot is exact and scaled in the same order as groupwise_dot_q8, so the
// result is bit-identical to it.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "tinyllm/kernels/dot_neon.hpp"
#include "tinyllm/kernels/groupwise.hpp"

namespace tinyllm::neon {

inline float groupwise_dot_q8(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    const uint8x16_t low_mask = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    const int64_t per_group = l.group / 32, n_blocks = l.cols / 32;
    float total = 0.0f;
    for (int64_t g = 0; g < l.groups(); ++g) {
        const float scale = l.scale(row.scales, g);
        const float zero = row.zeros ? float(row.zeros[g]) : 0.0f;
        const int64_t end = (g + 1) * per_group < n_blocks ? (g + 1) * per_group : n_blocks;  // tail group
        for (int64_t b = g * per_group; b < end; ++b) {
            int8x16_t w0, w1;
            if (l.bits == 4) {
                const uint8x16_t packed = vld1q_u8(row.codes + b * 16);
                w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, low_mask)), eight);
                w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
            } else {
                w0 = vld1q_s8(reinterpret_cast<const int8_t*>(row.codes) + b * 32);
                w1 = vld1q_s8(reinterpret_cast<const int8_t*>(row.codes) + b * 32 + 16);
            }
            total += scale * (a[b].d * float(dot_i8x32(w0, w1, a[b].qs)) - zero * a[b].sum);
        }
    }
    return total;
}

} // namespace tinyllm::neon
#endif
