// AArch64 float-weight dot products (F32, F16, BF16 weights; float or same-format activations).
// The generic loops' order exactly: eight accumulators (here two 4-lane vectors) taking one
// fused multiply-add per value, the tail into the first, then ((0+4) + (1+5)) + ((2+6) + (3+7)).
// Half values widen exactly (fcvtl, or a 16-bit shift for bf16), so results are bit-identical
// to type_float.hpp's.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "tinyllm/kernels/type_float.hpp"

namespace tinyllm::neon {

// How each format loads 4 values at element i as floats, and one value (for tails).
struct LoadF32 {
    using T = float;
    static float32x4_t four(const float* p) { return vld1q_f32(p); }
    static float one(const float* p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static float32x4_t four(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
    static float one(const uint16_t* p) { return fp16_to_f32(*p); }
};
struct LoadBF16 {
    using T = uint16_t;
    static float32x4_t four(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
    static float one(const uint16_t* p) { return bf16_to_f32(*p); }
};

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
inline float dot_bf16(const TypeBF16::Block* w, const uint16_t* x, int n) { return dot_float<LoadBF16>(&w->v, x, n); }
inline float dot_f16_f32(const uint16_t* w, const float* x, int n) { return dot_float<LoadF16, LoadF32>(w, x, n); }
inline float dot_bf16_f32(const uint16_t* w, const float* x, int n) { return dot_float<LoadBF16, LoadF32>(w, x, n); }

} // namespace tinyllm::neon
#endif
