// AArch64 kernels for the groupwise formats (groupwise.hpp) against int8 activation blocks, in
// baseline NEON and with sdot (see dot_neon.hpp). Each block's integer dot is exact and scaled
// in the same order as groupwise_dot_q8, so the result is bit-identical to it.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "tinyllm/kernels/dot_neon.hpp"
#include "tinyllm/kernels/groupwise.hpp"

namespace tinyllm::neon {

template <class I>
inline float groupwise_dot_q8_with(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    const int8x16_t eight = vdupq_n_s8(8);
    const int64_t per_group = l.group / 32, groups = l.groups(), n_blocks = l.cols / 32;
    float total = 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
        const float scale = l.scale(row.scales, g);
        const float zero = row.zeros ? float(row.zeros[g]) : 0.0f;
        const int64_t end = (g + 1) * per_group < n_blocks ? (g + 1) * per_group : n_blocks;  // tail group
        for (int64_t b = g * per_group; b < end; ++b) {
            int8x16_t w0, w1;
            if (l.bits == 4) {
                const uint8x16_t packed = vld1q_u8(row.codes + b * 16);
                w0 = vsubq_s8(low_nibbles(packed), eight);
                w1 = vsubq_s8(high_nibbles(packed), eight);
            } else {
                w0 = vld1q_s8(reinterpret_cast<const int8_t*>(row.codes) + b * 32);
                w1 = vld1q_s8(reinterpret_cast<const int8_t*>(row.codes) + b * 32 + 16);
            }
            total += scale * (a[b].d * float(vaddvq_s32(dot32<I>(w0, w1, a[b]))) - zero * a[b].sum);
        }
    }
    return total;
}

inline float groupwise_dot_q8(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    return groupwise_dot_q8_with<Widening>(l, row, a);
}
#if TINYLLM_NEON_DOTPROD
TINYLLM_DOTPROD_TARGET __attribute__((flatten)) inline float groupwise_dot_q8_dotprod(const GroupwiseLayout& l, const GroupwiseRow& row,
                                                                                       const BlockQ8* a) {
    return groupwise_dot_q8_with<DotProd>(l, row, a);
}
#endif

} // namespace tinyllm::neon
#endif
