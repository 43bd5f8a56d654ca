// Helium (M-profile Vector Extension: Cortex-M55, M85) kernels, chosen at compile time
// (-mcpu=cortex-m55 defines __ARM_FEATURE_MVE): the Q8_0, Q4_0 and groupwise int8/int4 dots
// against int8 activation blocks, and the float dots of F32 and F16 weights and of attention
// over the fp16 KV cache. Each 32-value block's integer dot is exact (vmladav sums 16 int8
// products per instruction) and is scaled in the generic kernel's order, so those results are
// bit-identical to the generic kernel's. The float dots keep the generic loops' eight
// accumulators and fused multiply-adds, and are bit-identical too except where a value, product
// or sum is a float32 subnormal: Helium's vector arithmetic flushes those to zero.
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
    const int64_t per_group = l.group / 32, n_blocks = l.cols / 32;
    float total = 0.0f;
    for (int64_t g = 0; g < l.groups(); ++g) {
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
// How each float format loads 4 consecutive values as floats, and one value (for tails).
struct LoadF32 {
    using T = float;
    static float32x4_t four(const float* p) { return vldrwq_f32(p); }
    static float one(const float* p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    // Each half into a 32-bit lane, widened by integer steps (QEMU 7.2 lacks Helium's vcvtb):
    // normal values rebias the exponent; subnormal ones become 2^-14 * (1 + m/1024) - 2^-14,
    // exact and computed on normal floats only; infinities and NaNs keep their payload, NaNs
    // quieted as the FPU's conversion (fp16_to_f32) does. Lane masks come from sign shifts
    // (GCC 12 miscompiles some predicated selects).
    static float32x4_t four(const uint16_t* p) {
        const uint32x4_t h = vldrhq_u32(p);
        const uint32x4_t magnitude = vandq_u32(h, vdupq_n_u32(0x7fff));
        const int32x4_t m = vreinterpretq_s32_u32(magnitude);
        const uint32x4_t subnormal = vreinterpretq_u32_s32(vshrq_n_s32(vsubq_n_s32(m, 0x400), 31));
        const uint32x4_t special = vreinterpretq_u32_s32(vmvnq_s32(vshrq_n_s32(vsubq_n_s32(m, 0x7c00), 31)));
        const uint32x4_t nan = vreinterpretq_u32_s32(vshrq_n_s32(vsubq_s32(vdupq_n_s32(0x7c00), m), 31));
        const uint32x4_t shifted = vshlq_n_u32(magnitude, 13);
        uint32x4_t bits = vaddq_u32(vaddq_n_u32(shifted, 0x38000000u), vandq_u32(special, vdupq_n_u32(0x38000000u)));
        bits = vorrq_u32(bits, vandq_u32(nan, vdupq_n_u32(0x00400000u)));
        const float32x4_t small = vsubq_n_f32(vreinterpretq_f32_u32(vaddq_n_u32(shifted, 0x38800000u)), 6.103515625e-05f);
        bits = vorrq_u32(vandq_u32(vreinterpretq_u32_f32(small), subnormal), vbicq_u32(bits, subnormal));
        return vreinterpretq_f32_u32(vorrq_u32(bits, vshlq_n_u32(vandq_u32(h, vdupq_n_u32(0x8000)), 16)));
    }
    static float one(const uint16_t* p) { return fp16_to_f32(*p); }
};

// The generic loops' order (type_float.hpp): accumulators 0-3 and 4-7 as two vectors, a fused
// multiply-add per value, the tail into accumulator 0, then ((0+4) + (1+5)) + ((2+6) + (3+7)).
template <class WLoad, class XLoad = WLoad>
inline float dot_float(const typename WLoad::T* w, const typename XLoad::T* x, int n) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        acc0 = vfmaq_f32(acc0, WLoad::four(w + i), XLoad::four(x + i));
        acc1 = vfmaq_f32(acc1, WLoad::four(w + i + 4), XLoad::four(x + i + 4));
    }
    float first = vgetq_lane_f32(acc0, 0);
    for (; i < n; ++i) first = __builtin_fmaf(WLoad::one(w + i), XLoad::one(x + i), first);
    acc0 = vsetq_lane_f32(first, acc0, 0);
    const float32x4_t pairs = vaddq_f32(acc0, acc1);  // lane k: accumulators k and k + 4
    return (vgetq_lane_f32(pairs, 0) + vgetq_lane_f32(pairs, 1)) + (vgetq_lane_f32(pairs, 2) + vgetq_lane_f32(pairs, 3));
}

inline float dot_f32(const TypeF32::Block* w, const float* x, int n) { return dot_float<LoadF32>(&w->v, x, n); }
inline float dot_f16(const TypeF16::Block* w, const uint16_t* x, int n) { return dot_float<LoadF16>(&w->v, x, n); }
inline float dot_f16_f32(const uint16_t* w, const float* x, int n) { return dot_float<LoadF16, LoadF32>(w, x, n); }

// Attention over the fp16 KV cache (dot_rows_f16 and weighted_sum_f16 in type_float.hpp).
inline void dot_rows_f16(const uint16_t* rows, int64_t stride, int n_rows, const uint16_t* q, int n, float* scores) {
    for (int j = 0; j < n_rows; ++j) scores[j] = dot_float<LoadF16>(rows + j * stride, q, n);
}
inline void weighted_sum_f16(const float* p, const uint16_t* rows, int64_t stride, int n_rows, float* out, int n) {
    for (int j = 0; j < n_rows; ++j) {
        const uint16_t* row = rows + j * stride;
        int i = 0;
        for (; i + 4 <= n; i += 4) vstrwq_f32(out + i, vfmaq_n_f32(vldrwq_f32(out + i), LoadF16::four(row + i), p[j]));
        for (; i < n; ++i) out[i] = __builtin_fmaf(p[j], fp16_to_f32(row[i]), out[i]);
    }
}
#endif

} // namespace tinyllm::mve
#endif
