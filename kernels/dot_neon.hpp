// AArch64 dot products of the quantized weight types with int8 activation blocks, each in two
// instruction sets picked at run time (dot_dispatch.hpp): baseline NEON, which every AArch64
// core has (Cortex-A72, Pi 4), and the dot-product extension's sdot (Cortex-A76, Pi 5). Both
// compute each group's integer dot exactly, and the float steps are the generic kernel's
// (QuantizedType::dot: per group in order, scale * activation scale * dot, then the min term
// where it is not zero), so every kernel here is bit-identical to the generic one.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "tinyllm/kernels/type_iq4.hpp"
#include "tinyllm/kernels/type_k_quants.hpp"
#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q4_1.hpp"
#include "tinyllm/kernels/type_q5.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

// The sdot kernels exist where the compiler can emit sdot: always when the build targets a core
// with it, else through a per-function target (GCC; Clang before 16 keeps the intrinsic behind
// the build's -march). A function compiled for the extension must inline everything it calls
// (flatten), since its callees are written once for both instruction sets.
#if defined(__ARM_FEATURE_DOTPROD)
#define TINYLLM_NEON_DOTPROD 1
#define TINYLLM_DOTPROD_TARGET
#elif defined(__GNUC__) && !defined(__clang__)
#define TINYLLM_NEON_DOTPROD 1
#define TINYLLM_DOTPROD_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define TINYLLM_NEON_DOTPROD 0
#endif

namespace tinyllm::neon {

// 16 int8 products added into 4 int32 lanes. The two instruction sets put different partial
// sums in the lanes; the lanes' total is the same exact integer.
struct Widening {
    static int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a) {
        // Weights are >= -128 and activations within +-127 (both quantizers' range), so a
        // pair of products fits 16 bits.
        return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(a)), w, a));
    }
};

#if TINYLLM_NEON_DOTPROD
struct DotProd {
    TINYLLM_DOTPROD_TARGET static int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a) { return vdotq_s32(acc, w, a); }
};
#endif

// The 4 lanes of each accumulator summed: {total(a0), total(a1), total(a2), total(a3)}.
inline int32x4_t totals4(int32x4_t a0, int32x4_t a1, int32x4_t a2, int32x4_t a3) {
    return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
}

// The exact dot of 32 codes (w0: elements 0-15, w1: 16-31) with an activation block, unsummed.
template <class I>
inline int32x4_t dot32(int8x16_t w0, int8x16_t w1, const BlockQ8& a) {
    return I::dot16(I::dot16(vdupq_n_s32(0), w0, vld1q_s8(a.qs)), w1, vld1q_s8(a.qs + 16));
}

inline int8x16_t low_nibbles(uint8x16_t p) { return vreinterpretq_s8_u8(vandq_u8(p, vdupq_n_u8(0x0f))); }
inline int8x16_t high_nibbles(uint8x16_t p) { return vreinterpretq_s8_u8(vshrq_n_u8(p, 4)); }

// 0x10 in byte j where bit j of the 16 bits {lo, hi} is set (the fifth bit of Q5 codes).
inline uint8x16_t fifth_bits(uint8_t lo, uint8_t hi) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t set = vtstq_u8(vcombine_u8(vdup_n_u8(lo), vdup_n_u8(hi)), vld1q_u8(bit));
    return vandq_u8(set, vdupq_n_u8(0x10));
}

// Each type as the generic kernel sees it: blocks of `groups` groups of 32 codes, group g of a
// block against the block's activation block g. `prepare` gives the scales and mins the type's
// decode gives (per group; per half group where `halves`: Q6_K's groups of 16), `codes` group g's
// 32 codes (w0: the first 16, w1: the last 16).
struct LayoutQ8_0 {
    using Block = TypeQ8_0::Block;
    static constexpr int groups = 1;
    static constexpr bool halves = false, mins = false;
    struct Scales { float scale[1]; };
    static void prepare(const Block& b, Scales& s) { s.scale[0] = fp16_to_f32(b.d); }
    static void codes(const Block& b, int, int8x16_t& w0, int8x16_t& w1) {
        w0 = vld1q_s8(b.qs);
        w1 = vld1q_s8(b.qs + 16);
    }
};
// Q4_0, Q4_1, Q5_0, Q5_1: 4-bit codes (plus a fifth bit), an offset, and (_1) a min of -m.
template <class B, int Offset, bool FifthBit, bool Min>
struct LayoutNibbles32 {
    using Block = B;
    static constexpr int groups = 1;
    static constexpr bool halves = false, mins = Min;
    struct Scales { float scale[1], min[1]; };
    static void prepare(const Block& b, Scales& s) {
        s.scale[0] = fp16_to_f32(b.d);
        if constexpr (Min) s.min[0] = -fp16_to_f32(b.m);
    }
    static void codes(const Block& b, int, int8x16_t& w0, int8x16_t& w1) {
        const uint8x16_t p = vld1q_u8(b.qs);
        w0 = low_nibbles(p);
        w1 = high_nibbles(p);
        if constexpr (FifthBit) {
            w0 = vorrq_s8(w0, vreinterpretq_s8_u8(fifth_bits(b.qh[0], b.qh[1])));
            w1 = vorrq_s8(w1, vreinterpretq_s8_u8(fifth_bits(b.qh[2], b.qh[3])));
        }
        if constexpr (Offset != 0) {
            w0 = vaddq_s8(w0, vdupq_n_s8(Offset));
            w1 = vaddq_s8(w1, vdupq_n_s8(Offset));
        }
    }
};
using LayoutQ4_0 = LayoutNibbles32<TypeQ4_0::Block, -8, false, false>;
using LayoutQ4_1 = LayoutNibbles32<TypeQ4_1::Block, 0, false, true>;
using LayoutQ5_0 = LayoutNibbles32<TypeQ5_0::Block, -16, true, false>;
using LayoutQ5_1 = LayoutNibbles32<TypeQ5_1::Block, 0, true, true>;

inline void iq4_codes(const uint8_t* qs, int8x16_t& w0, int8x16_t& w1) {
    const int8x16_t table = vld1q_s8(iq4_levels);
    const uint8x16_t p = vld1q_u8(qs);
    w0 = vqtbl1q_s8(table, vandq_u8(p, vdupq_n_u8(0x0f)));
    w1 = vqtbl1q_s8(table, vshrq_n_u8(p, 4));
}
struct LayoutIQ4_NL {
    using Block = TypeIQ4_NL::Block;
    static constexpr int groups = 1;
    static constexpr bool halves = false, mins = false;
    struct Scales { float scale[1]; };
    static void prepare(const Block& b, Scales& s) { s.scale[0] = fp16_to_f32(b.d); }
    static void codes(const Block& b, int, int8x16_t& w0, int8x16_t& w1) { iq4_codes(b.qs, w0, w1); }
};
struct LayoutIQ4_XS {
    using Block = TypeIQ4_XS::Block;
    static constexpr int groups = 8;
    static constexpr bool halves = false, mins = false;
    struct Scales { float scale[8]; };
    static void prepare(const Block& b, Scales& s) {
        const float d = fp16_to_f32(b.d);
        for (int g = 0; g < 8; ++g) {
            const int v = ((b.scales_l[g / 2] >> (4 * (g % 2))) & 0x0f) | (((b.scales_h >> (2 * g)) & 3) << 4);
            s.scale[g] = d * float(v - 32);
        }
    }
    static void codes(const Block& b, int g, int8x16_t& w0, int8x16_t& w1) { iq4_codes(b.qs + 16 * g, w0, w1); }
};
// Q4_K: group 2c + k is nibble k of qs[32c .. 32c + 31]. Q5_K adds bit g of qh[l] as the fifth
// bit of element l of group g.
template <class B, bool FifthBit>
struct LayoutK4 {
    using Block = B;
    static constexpr int groups = 8;
    static constexpr bool halves = false, mins = true;
    struct Scales { float scale[8], min[8]; };
    static void prepare(const Block& b, Scales& s) { k4_group_scales(b.scales, b.d, b.dmin, s.scale, s.min); }
    static void codes(const Block& b, int g, int8x16_t& w0, int8x16_t& w1) {
        const uint8x16_t p0 = vld1q_u8(b.qs + 32 * (g / 2)), p1 = vld1q_u8(b.qs + 32 * (g / 2) + 16);
        w0 = g % 2 ? high_nibbles(p0) : low_nibbles(p0);
        w1 = g % 2 ? high_nibbles(p1) : low_nibbles(p1);
        if constexpr (FifthBit) {
            const uint8x16_t bit = vdupq_n_u8(uint8_t(1u << g)), five = vdupq_n_u8(0x10);
            w0 = vorrq_s8(w0, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(vld1q_u8(b.qh), bit), five)));
            w1 = vorrq_s8(w1, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(vld1q_u8(b.qh + 16), bit), five)));
        }
    }
};
using LayoutQ4_K = LayoutK4<TypeQ4_K::Block, false>;
using LayoutQ5_K = LayoutK4<TypeQ5_K::Block, true>;
// Q6_K: 16 groups of 16, i.e. 8 groups of 32 with a scale per half. Group 4h + k (half h of the
// block, quarter k) takes nibble k / 2 of ql[64h + 32 (k % 2) + l] and bits 2k, 2k + 1 of
// qh[32h + l]; code = that - 32.
struct LayoutQ6_K {
    using Block = TypeQ6_K::Block;
    static constexpr int groups = 8;
    static constexpr bool halves = true, mins = false;
    struct Scales { float scale[16]; };
    static void prepare(const Block& b, Scales& s) {
        const float d = fp16_to_f32(b.d);
        for (int g = 0; g < 16; ++g) s.scale[g] = d * float(b.scales[g]);
    }
    static int8x16_t code16(const uint8_t* ql, const uint8_t* qh, int k) {
        const uint8x16_t low = k < 2 ? vandq_u8(vld1q_u8(ql), vdupq_n_u8(0x0f)) : vshrq_n_u8(vld1q_u8(ql), 4);
        const uint8x16_t high = vandq_u8(vshlq_u8(vld1q_u8(qh), vdupq_n_s8(int8_t(4 - 2 * k))), vdupq_n_u8(0x30));
        return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, high)), vdupq_n_s8(32));
    }
    static void codes(const Block& b, int g, int8x16_t& w0, int8x16_t& w1) {
        const int h = g / 4, k = g % 4;
        const uint8_t* ql = b.ql + 64 * h + 32 * (k % 2);
        const uint8_t* qh = b.qh + 32 * h;
        w0 = code16(ql, qh, k);
        w1 = code16(ql + 16, qh + 16, k);
    }
};

// The generic kernel's float step for one group (or half group) and one token.
template <class L>
inline void add_group(float& sum, const typename L::Scales& s, int j, int32_t dot, const BlockQ8& a) {
    sum += s.scale[j] * a.d * float(dot);
    if constexpr (L::mins) {
        if (s.min[j] != 0.0f) sum -= s.min[j] * a.sum;
    }
}

// The dot of n blocks. Integer dots are summed four at a time (four blocks of a one-group type,
// or four groups of a block), then added in the generic order.
template <class I, class L>
inline float dot_with(const typename L::Block* w, const BlockQ8* a, int n) {
    static_assert(!(L::halves && L::mins), "half groups with a min take the activations' partial sums: not written");
    float sum = 0.0f;
    int b = 0;
    if constexpr (L::groups == 1) {
        for (; b + 4 <= n; b += 4) {
            int32x4_t acc[4];
            for (int k = 0; k < 4; ++k) {
                int8x16_t w0, w1;
                L::codes(w[b + k], 0, w0, w1);
                acc[k] = dot32<I>(w0, w1, a[b + k]);
            }
            int32_t dots[4];
            vst1q_s32(dots, totals4(acc[0], acc[1], acc[2], acc[3]));
            for (int k = 0; k < 4; ++k) {
                typename L::Scales s;
                L::prepare(w[b + k], s);
                add_group<L>(sum, s, 0, dots[k], a[b + k]);
            }
        }
        for (; b < n; ++b) {
            int8x16_t w0, w1;
            L::codes(w[b], 0, w0, w1);
            typename L::Scales s;
            L::prepare(w[b], s);
            add_group<L>(sum, s, 0, vaddvq_s32(dot32<I>(w0, w1, a[b])), a[b]);
        }
    } else {
        constexpr int dots_per_block = L::halves ? 2 * L::groups : L::groups;
        for (; b < n; ++b) {
            const BlockQ8* act = a + b * L::groups;
            int32x4_t acc[dots_per_block];
            for (int g = 0; g < L::groups; ++g) {
                int8x16_t w0, w1;
                L::codes(w[b], g, w0, w1);
                if constexpr (L::halves) {
                    acc[2 * g] = I::dot16(vdupq_n_s32(0), w0, vld1q_s8(act[g].qs));
                    acc[2 * g + 1] = I::dot16(vdupq_n_s32(0), w1, vld1q_s8(act[g].qs + 16));
                } else {
                    acc[g] = dot32<I>(w0, w1, act[g]);
                }
            }
            int32_t dots[dots_per_block];
            for (int j = 0; j < dots_per_block; j += 4) vst1q_s32(dots + j, totals4(acc[j], acc[j + 1], acc[j + 2], acc[j + 3]));
            typename L::Scales s;
            L::prepare(w[b], s);
            for (int j = 0; j < dots_per_block; ++j) add_group<L>(sum, s, j, dots[j], act[L::halves ? j / 2 : j]);
        }
    }
    return sum;
}

// Prompt processing: 2 weight rows x 4 tokens. Each group's codes are unpacked once for the four
// tokens; every (row, token) output takes the generic float steps in the generic order, four
// tokens to a vector (one fused multiply-add per lane is the generic step's), so each output
// equals the dot's bits. out: row 0's four tokens, then row 1's.
template <class I, class L>
inline void tile_with(const typename L::Block* w0, const typename L::Block* w1, const BlockQ8* const* a, int n, float* out) {
    static_assert(!(L::halves && L::mins), "half groups with a min take the activations' partial sums: not written");
    float32x4_t sum[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    const typename L::Block* rows[2] = {w0, w1};
    for (int b = 0; b < n; ++b) {
        for (int r = 0; r < 2; ++r) {
            typename L::Scales s;
            L::prepare(rows[r][b], s);
            for (int g = 0; g < L::groups; ++g) {
                const int i = b * L::groups + g;  // activation block
                int8x16_t c0, c1;
                L::codes(rows[r][b], g, c0, c1);
                const float ad[4] = {a[0][i].d, a[1][i].d, a[2][i].d, a[3][i].d};
                const float32x4_t act_scale = vld1q_f32(ad);
                for (int part = 0; part < (L::halves ? 2 : 1); ++part) {
                    int32x4_t acc[4];
                    for (int t = 0; t < 4; ++t) {
                        if constexpr (L::halves) acc[t] = I::dot16(vdupq_n_s32(0), part ? c1 : c0, vld1q_s8(a[t][i].qs + 16 * part));
                        else acc[t] = dot32<I>(c0, c1, a[t][i]);
                    }
                    const int j = L::halves ? 2 * g + part : g;
                    const float32x4_t dots = vcvtq_f32_s32(totals4(acc[0], acc[1], acc[2], acc[3]));
                    sum[r] = vfmaq_f32(sum[r], vmulq_n_f32(act_scale, s.scale[j]), dots);
                    if constexpr (L::mins) {
                        if (s.min[j] != 0.0f) {
                            const float as[4] = {a[0][i].sum, a[1][i].sum, a[2][i].sum, a[3][i].sum};
                            sum[r] = vfmsq_f32(sum[r], vdupq_n_f32(s.min[j]), vld1q_f32(as));
                        }
                    }
                }
            }
        }
    }
    vst1q_f32(out, sum[0]);
    vst1q_f32(out + 4, sum[1]);
}

// The kernels dispatch picks: baseline NEON and, where built, the sdot versions.
#if TINYLLM_NEON_DOTPROD
#define TINYLLM_NEON_KERNELS(type, Layout)                                                                                  \
    inline float dot_##type(const Layout::Block* w, const BlockQ8* a, int n) { return dot_with<Widening, Layout>(w, a, n); } \
    inline void tile_##type(const Layout::Block* w0, const Layout::Block* w1, const BlockQ8* const* a, int n, float* out) {  \
        tile_with<Widening, Layout>(w0, w1, a, n, out);                                                                    \
    }                                                                                                                       \
    TINYLLM_DOTPROD_TARGET __attribute__((flatten)) inline float dot_##type##_dotprod(const Layout::Block* w, const BlockQ8* a, int n) { \
        return dot_with<DotProd, Layout>(w, a, n);                                                                          \
    }                                                                                                                       \
    TINYLLM_DOTPROD_TARGET __attribute__((flatten)) inline void tile_##type##_dotprod(const Layout::Block* w0, const Layout::Block* w1, \
                                                                                      const BlockQ8* const* a, int n, float* out) { \
        tile_with<DotProd, Layout>(w0, w1, a, n, out);                                                                      \
    }
#else
#define TINYLLM_NEON_KERNELS(type, Layout)                                                                                  \
    inline float dot_##type(const Layout::Block* w, const BlockQ8* a, int n) { return dot_with<Widening, Layout>(w, a, n); } \
    inline void tile_##type(const Layout::Block* w0, const Layout::Block* w1, const BlockQ8* const* a, int n, float* out) {  \
        tile_with<Widening, Layout>(w0, w1, a, n, out);                                                                    \
    }
#endif
TINYLLM_NEON_KERNELS(q8_0, LayoutQ8_0)
TINYLLM_NEON_KERNELS(q4_0, LayoutQ4_0)
TINYLLM_NEON_KERNELS(q4_1, LayoutQ4_1)
TINYLLM_NEON_KERNELS(q5_0, LayoutQ5_0)
TINYLLM_NEON_KERNELS(q5_1, LayoutQ5_1)
TINYLLM_NEON_KERNELS(iq4_nl, LayoutIQ4_NL)
TINYLLM_NEON_KERNELS(q4_k, LayoutQ4_K)
TINYLLM_NEON_KERNELS(q5_k, LayoutQ5_K)
TINYLLM_NEON_KERNELS(q6_k, LayoutQ6_K)
TINYLLM_NEON_KERNELS(iq4_xs, LayoutIQ4_XS)
#undef TINYLLM_NEON_KERNELS

} // namespace tinyllm::neon
#endif
