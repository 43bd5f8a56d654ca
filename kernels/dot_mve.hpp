// Helium (M-profile Vector Extension: Cortex-M55, M85) kernels, chosen at compile time
// (-mcpu=cortex-m55 defines __ARM_FEATURE_MVE): the Q8_0, Q4_0 and groupwise int8/int4 dots
// against int8 activation blocks, and the F32 dot. Each 32-value block's integer dot is exact
// (vmladav sums 16 int8 products per instruction) and is scaled in the generic kernel's order,
// so those results are bit-identical to the generic kernel's. The F32 dot keeps the generic
// loop's eight accumulators and fused multiply-adds, bit-identical too except where a product
// or sum is a float32 subnormal: Helium's vector arithmetic flushes those to zero.
// fp16 values (F16 weights, the KV cache) stay with the generic loops, which widen them with
// the FPU's scalar conversion: Helium's vcvtb is missing from QEMU 7.2, where these kernels
// are tested, and widening by integer steps cost more than the scalar loop.
#pragma once
#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#include <stdint.h>

#include "tinyllm/kernels/groupwise.hpp"
#include "tinyllm/kernels/type_float.hpp"
#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

namespace tinyllm::mve {

// The exact integer dot of 32 int8 codes with an activation block.
inline int32_t dot32(int8x16_t w0, int8x16_t w1, const BlockQ8& a) {
    return vmladavaq_s8(vmladavq_s8(w0, vldrbq_s8(a.qs)), w1, vldrbq_s8(a.qs + 16));
}

// 32 values stored as 4-bit codes + 8, value j in the low nibble of byte j and value j + 16 in its
// high nibble (Q4_0 and groupwise int4 alike), as signed codes.
inline void unpack_nibbles(const uint8_t* packed, int8x16_t& w0, int8x16_t& w1) {
    const uint8x16_t bytes = vldrbq_u8(packed);
    w0 = vsubq_n_s8(vreinterpretq_s8_u8(vandq_u8(bytes, vdupq_n_u8(0x0f))), 8);
    w1 = vsubq_n_s8(vreinterpretq_s8_u8(vshrq_n_u8(bytes, 4)), 8);
}

inline float dot_q8_0(const TypeQ8_0::Block* w, const BlockQ8* a, int n) {
    float sum = 0.0f;
    for (int b = 0; b < n; ++b) {
        const int32_t dot = dot32(vldrbq_s8(w[b].qs), vldrbq_s8(w[b].qs + 16), a[b]);
        sum += fp16_to_f32(w[b].d) * a[b].d * float(dot);
    }
    return sum;
}

inline float dot_q4_0(const TypeQ4_0::Block* w, const BlockQ8* a, int n) {
    float sum = 0.0f;
    for (int b = 0; b < n; ++b) {
        int8x16_t w0, w1;
        unpack_nibbles(w[b].qs, w0, w1);
        sum += fp16_to_f32(w[b].d) * a[b].d * float(dot32(w0, w1, a[b]));
    }
    return sum;
}

inline float groupwise_dot_q8(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    const int64_t per_group = l.group / 32, groups = l.groups(), n_blocks = l.cols / 32;
    float total = 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
        const float scale = l.scale(row.scales, g);
        const float zero = row.zeros ? float(row.zeros[g]) : 0.0f;
        const int64_t end = (g + 1) * per_group < n_blocks ? (g + 1) * per_group : n_blocks;  // tail group
        for (int64_t b = g * per_group; b < end; ++b) {
            int8x16_t w0, w1;
            if (l.bits == 4) {
                unpack_nibbles(row.codes + b * 16, w0, w1);
            } else {
                w0 = vldrbq_s8(reinterpret_cast<const int8_t*>(row.codes) + b * 32);
                w1 = vldrbq_s8(reinterpret_cast<const int8_t*>(row.codes) + b * 32 + 16);
            }
            total += scale * (a[b].d * float(dot32(w0, w1, a[b])) - zero * a[b].sum);
        }
    }
    return total;
}

#if __ARM_FEATURE_MVE & 2  // MVE with floating point (a Cortex-M55 may be built without)
// The generic loop's order (dot_widened in type_float.hpp): accumulators 0-3 and 4-7 as two
// vectors, a fused multiply-add per value, the tail into accumulator 0, then
// ((0+4) + (1+5)) + ((2+6) + (3+7)).
inline float dot_f32(const TypeF32::Block* weights, const float* x, int n) {
    const float* w = &weights->v;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        acc0 = vfmaq_f32(acc0, vldrwq_f32(w + i), vldrwq_f32(x + i));
        acc1 = vfmaq_f32(acc1, vldrwq_f32(w + i + 4), vldrwq_f32(x + i + 4));
    }
    float first = vgetq_lane_f32(acc0, 0);
    for (; i < n; ++i) first = __builtin_fmaf(w[i], x[i], first);
    acc0 = vsetq_lane_f32(first, acc0, 0);
    const float32x4_t pairs = vaddq_f32(acc0, acc1);  // lane k: accumulators k and k + 4
    return (vgetq_lane_f32(pairs, 0) + vgetq_lane_f32(pairs, 1)) + (vgetq_lane_f32(pairs, 2) + vgetq_lane_f32(pairs, 3));
}
#endif

} // namespace tinyllm::mve
#endif
