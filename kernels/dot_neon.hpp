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
// The same for the int8 matrix-multiply extension's smmla (prompt tiles).
#if defined(__ARM_FEATURE_MATMUL_INT8)
#define TINYLLM_NEON_I8MM 1
#define TINYLLM_I8MM_TARGET
#elif defined(__GNUC__) && !defined(__clang__)
#define TINYLLM_NEON_I8MM 1
#define TINYLLM_I8MM_TARGET __attribute__((target("arch=armv8.2-a+i8mm")))
#else
#define TINYLLM_NEON_I8MM 0
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

// The fifth bits of Q5 codes from the block's 32-bit qh: 0x10 in byte j of `low` where bit j is
// set (element j), and of `high` where bit 16 + j is (element 16 + j).
inline void fifth_bits(uint32_t qh, uint8x16_t& low, uint8x16_t& high) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    static const uint8_t byte_of[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    const uint8x16_t word = vreinterpretq_u8_u32(vdupq_n_u32(qh)), bits = vld1q_u8(bit), five = vdupq_n_u8(0x10);
    low = vandq_u8(vtstq_u8(vqtbl1q_u8(word, vld1q_u8(byte_of)), bits), five);
    high = vandq_u8(vtstq_u8(vqtbl1q_u8(word, vld1q_u8(byte_of + 16)), bits), five);
}

// Types of 32 weights per block, as the generic kernel sees them: `prepare` gives the scale and
// min the type's decode gives, `codes` the 32 codes (w0: the first 16, w1: the last 16).
struct LayoutQ8_0 {
    using Block = TypeQ8_0::Block;
    static constexpr bool mins = false;
    struct Scales { float scale, min; };
    static void prepare(const Block& b, Scales& s) { s.scale = fp16_to_f32(b.d); }
    static void codes(const Block& b, int8x16_t& w0, int8x16_t& w1) {
        w0 = vld1q_s8(b.qs);
        w1 = vld1q_s8(b.qs + 16);
    }
};
// Q4_0, Q4_1, Q5_0, Q5_1: 4-bit codes (plus a fifth bit), an offset, and (_1) a min of -m.
template <class B, int Offset, bool FifthBit, bool Min>
struct LayoutNibbles32 {
    using Block = B;
    static constexpr bool mins = Min;
    struct Scales { float scale, min; };
    static void prepare(const Block& b, Scales& s) {
        s.scale = fp16_to_f32(b.d);
        if constexpr (Min) s.min = -fp16_to_f32(b.m);
    }
    static void codes(const Block& b, int8x16_t& w0, int8x16_t& w1) {
        const uint8x16_t p = vld1q_u8(b.qs);
        w0 = low_nibbles(p);
        w1 = high_nibbles(p);
        if constexpr (FifthBit) {
            uint32_t qh;
            __builtin_memcpy(&qh, b.qh, 4);
            uint8x16_t low, high;
            fifth_bits(qh, low, high);
            w0 = vorrq_s8(w0, vreinterpretq_s8_u8(low));
            w1 = vorrq_s8(w1, vreinterpretq_s8_u8(high));
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
    static constexpr bool mins = false;
    struct Scales { float scale, min; };
    static void prepare(const Block& b, Scales& s) { s.scale = fp16_to_f32(b.d); }
    static void codes(const Block& b, int8x16_t& w0, int8x16_t& w1) { iq4_codes(b.qs, w0, w1); }
};

// The generic kernel's float step for one block and one token.
template <class L>
inline void add_block(float& sum, const typename L::Scales& s, int32_t dot, const BlockQ8& a) {
    sum += s.scale * a.d * float(dot);
    if constexpr (L::mins) {
        if (s.min != 0.0f) sum -= s.min * a.sum;
    }
}

// The dot of n blocks: four blocks' integer dots are summed together, then added in order.
template <class I, class L>
inline float dot_with(const typename L::Block* w, const BlockQ8* a, int n) {
    float sum = 0.0f;
    int b = 0;
    for (; b + 4 <= n; b += 4) {
        int32x4_t acc[4];
        for (int k = 0; k < 4; ++k) {
            int8x16_t w0, w1;
            L::codes(w[b + k], w0, w1);
            acc[k] = dot32<I>(w0, w1, a[b + k]);
        }
        int32_t dots[4];
        vst1q_s32(dots, totals4(acc[0], acc[1], acc[2], acc[3]));
        for (int k = 0; k < 4; ++k) {
            typename L::Scales s;
            L::prepare(w[b + k], s);
            add_block<L>(sum, s, dots[k], a[b + k]);
        }
    }
    for (; b < n; ++b) {
        int8x16_t w0, w1;
        L::codes(w[b], w0, w1);
        typename L::Scales s;
        L::prepare(w[b], s);
        add_block<L>(sum, s, vaddvq_s32(dot32<I>(w0, w1, a[b])), a[b]);
    }
    return sum;
}

// The four tokens' activation scales (or sums) of block i, as one vector.
inline float32x4_t act_scales(const BlockQ8* const* a, int64_t i) {
    const float v[4] = {a[0][i].d, a[1][i].d, a[2][i].d, a[3][i].d};
    return vld1q_f32(v);
}
inline float32x4_t act_sums(const BlockQ8* const* a, int64_t i) {
    const float v[4] = {a[0][i].sum, a[1][i].sum, a[2][i].sum, a[3][i].sum};
    return vld1q_f32(v);
}

// Prompt processing: 2 weight rows x 4 tokens. Each block's codes are unpacked once for the four
// tokens, and every (row, token) output takes the generic float steps in order, four tokens to a
// vector (lane by lane the same rounded product and fused multiply-add), so each output equals
// the dot's bits. out: row 0's four tokens, then row 1's.
template <class I, class L>
inline void tile_with(const typename L::Block* w0, const typename L::Block* w1, const BlockQ8* const* a, int n, float* out) {
    float32x4_t sum[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    const typename L::Block* rows[2] = {w0, w1};
    for (int b = 0; b < n; ++b) {
        const float32x4_t act_d = act_scales(a, b);
        for (int r = 0; r < 2; ++r) {
            int8x16_t c0, c1;
            L::codes(rows[r][b], c0, c1);
            int32x4_t acc[4];
            for (int t = 0; t < 4; ++t) acc[t] = dot32<I>(c0, c1, a[t][b]);
            typename L::Scales s;
            L::prepare(rows[r][b], s);
            sum[r] = vfmaq_f32(sum[r], vmulq_n_f32(act_d, s.scale), vcvtq_f32_s32(totals4(acc[0], acc[1], acc[2], acc[3])));
            if constexpr (L::mins) {
                if (s.min != 0.0f) sum[r] = vfmsq_f32(sum[r], vdupq_n_f32(s.min), act_sums(a, b));
            }
        }
    }
    vst1q_f32(out, sum[0]);
    vst1q_f32(out + 4, sum[1]);
}

#if TINYLLM_NEON_I8MM
// The same tile with smmla, which multiplies a 2 x 8 matrix of int8 by another's transpose into
// a 2 x 2 block of exact int32 sums: the two rows' codes against tokens 0-1 and against tokens
// 2-3, 8 values at a time, give every (row, token) block dot with no lane sums to add; the float
// steps are tile_with's.
inline int8x16_t low_halves(int8x16_t x, int8x16_t y) {
    return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(x), vreinterpretq_s64_s8(y)));
}
inline int8x16_t high_halves(int8x16_t x, int8x16_t y) {
    return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(x), vreinterpretq_s64_s8(y)));
}

// {x . t0, x . t1, y . t0, y . t1} for 32 values: x and y as 16-value halves (x0 x1, y0 y1),
// tokens t0 and t1 likewise.
TINYLLM_I8MM_TARGET inline int32x4_t mmla32(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1, const int8_t* t0, const int8_t* t1) {
    const int8x16_t a0 = vld1q_s8(t0), a1 = vld1q_s8(t0 + 16), b0 = vld1q_s8(t1), b1 = vld1q_s8(t1 + 16);
    int32x4_t acc = vmmlaq_s32(vdupq_n_s32(0), low_halves(x0, y0), low_halves(a0, b0));
    acc = vmmlaq_s32(acc, high_halves(x0, y0), high_halves(a0, b0));
    acc = vmmlaq_s32(acc, low_halves(x1, y1), low_halves(a1, b1));
    return vmmlaq_s32(acc, high_halves(x1, y1), high_halves(a1, b1));
}

template <class L>
TINYLLM_I8MM_TARGET inline void tile_mmla(const typename L::Block* w0, const typename L::Block* w1, const BlockQ8* const* a, int n,
                                          float* out) {
    float32x4_t sum[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    const typename L::Block* rows[2] = {w0, w1};
    for (int b = 0; b < n; ++b) {
        const float32x4_t act_d = act_scales(a, b);
        int8x16_t x0, x1, y0, y1;
        L::codes(w0[b], x0, x1);
        L::codes(w1[b], y0, y1);
        const int64x2_t first = vreinterpretq_s64_s32(mmla32(x0, x1, y0, y1, a[0][b].qs, a[1][b].qs));
        const int64x2_t second = vreinterpretq_s64_s32(mmla32(x0, x1, y0, y1, a[2][b].qs, a[3][b].qs));
        const int32x4_t dots[2] = {vreinterpretq_s32_s64(vzip1q_s64(first, second)), vreinterpretq_s32_s64(vzip2q_s64(first, second))};
        for (int r = 0; r < 2; ++r) {
            typename L::Scales s;
            L::prepare(rows[r][b], s);
            sum[r] = vfmaq_f32(sum[r], vmulq_n_f32(act_d, s.scale), vcvtq_f32_s32(dots[r]));
            if constexpr (L::mins) {
                if (s.min != 0.0f) sum[r] = vfmsq_f32(sum[r], vdupq_n_f32(s.min), act_sums(a, b));
            }
        }
    }
    vst1q_f32(out, sum[0]);
    vst1q_f32(out + 4, sum[1]);
}
#endif

// The super-block types (SuperBlockType's arithmetic). `scales` gives the integer group scales
// as vectors of four (scale[q]: groups 4q .. 4q + 3; Q6_K's groups of 16 are `halves` of the
// 32-code groups), the mins as eight int16 (where the type has them) and the super-scales;
// `codes` gives group g's 32 codes.
template <int Dots>
struct SuperScales {
    int32x4_t scale[Dots / 4];
    int16x8_t min;
    float d, dmin;
};
// 8 bytes (one per group) as two vectors of four int32.
inline void widen_bytes(uint64_t bytes, int32x4_t* out) {
    const int16x8_t v = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(bytes)));
    out[0] = vmovl_s16(vget_low_s16(v));
    out[1] = vmovl_high_s16(v);
}

struct SuperIQ4_XS {
    using Block = TypeIQ4_XS::Block;
    static constexpr bool mins = false, halves = false;
    static constexpr int dots = 8;
    static void scales(const Block& b, SuperScales<8>& s) {
        int32_t v[8];
        for (int g = 0; g < 8; ++g) v[g] = iq4_xs_scale(b, g);
        s.scale[0] = vld1q_s32(v);
        s.scale[1] = vld1q_s32(v + 4);
        s.d = fp16_to_f32(b.d);
    }
    static void codes(const Block& b, int g, int8x16_t& w0, int8x16_t& w1) { iq4_codes(b.qs + 16 * g, w0, w1); }
};
// Q4_K: group 2c + k is nibble k of qs[32c .. 32c + 31]. Q5_K adds bit g of qh[l] as the fifth
// bit of element l of group g.
template <class B, bool FifthBit>
struct SuperK4 {
    using Block = B;
    static constexpr bool mins = true, halves = false;
    static constexpr int dots = 8;
    static void scales(const Block& b, SuperScales<8>& s) {
        uint64_t scale, min;
        k4_scale_min_bytes(b.scales, scale, min);
        widen_bytes(scale, s.scale);
        s.min = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(min)));
        s.d = fp16_to_f32(b.d);
        s.dmin = fp16_to_f32(b.dmin);
    }
    static void codes(const Block& b, int g, int8x16_t& w0, int8x16_t& w1) {
        const uint8x16_t p0 = vld1q_u8(b.qs + 32 * (g / 2)), p1 = vld1q_u8(b.qs + 32 * (g / 2) + 16);
        w0 = g % 2 ? high_nibbles(p0) : low_nibbles(p0);
        w1 = g % 2 ? high_nibbles(p1) : low_nibbles(p1);
        if constexpr (FifthBit) {  // bit g of qh shifted to bit 4, selected into the codes
            const int8x16_t to_bit4 = vdupq_n_s8(int8_t(4 - g));
            const uint8x16_t bit4 = vdupq_n_u8(0x10);
            w0 = vreinterpretq_s8_u8(vbslq_u8(bit4, vshlq_u8(vld1q_u8(b.qh), to_bit4), vreinterpretq_u8_s8(w0)));
            w1 = vreinterpretq_s8_u8(vbslq_u8(bit4, vshlq_u8(vld1q_u8(b.qh + 16), to_bit4), vreinterpretq_u8_s8(w1)));
        }
    }
};
using SuperQ4_K = SuperK4<TypeQ4_K::Block, false>;
using SuperQ5_K = SuperK4<TypeQ5_K::Block, true>;
// Q6_K: group 4h + k (half h of the block, quarter k) takes nibble k / 2 of
// ql[64h + 32 (k % 2) + l] and bits 2k, 2k + 1 of qh[32h + l]; code = that - 32.
struct SuperQ6_K {
    using Block = TypeQ6_K::Block;
    static constexpr bool mins = false, halves = true;
    static constexpr int dots = 16;
    static void scales(const Block& b, SuperScales<16>& s) {
        const int8x16_t v = vld1q_s8(b.scales);
        const int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
        s.scale[0] = vmovl_s16(vget_low_s16(lo));
        s.scale[1] = vmovl_high_s16(lo);
        s.scale[2] = vmovl_s16(vget_low_s16(hi));
        s.scale[3] = vmovl_high_s16(hi);
        s.d = fp16_to_f32(b.d);
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

// One super-block against one token: lanes whose total is the sum of scale x group dot (each
// four groups' dots summed, times their four scales, added: exact integers).
template <class I, class L>
inline int32x4_t scaled_dots(const int8x16_t (&c)[8][2], const SuperScales<L::dots>& s, const BlockQ8* a) {
    int32x4_t acc[L::dots];
    for (int g = 0; g < 8; ++g) {
        if constexpr (L::halves) {
            acc[2 * g] = I::dot16(vdupq_n_s32(0), c[g][0], vld1q_s8(a[g].qs));
            acc[2 * g + 1] = I::dot16(vdupq_n_s32(0), c[g][1], vld1q_s8(a[g].qs + 16));
        } else {
            acc[g] = dot32<I>(c[g][0], c[g][1], a[g]);
        }
    }
    int32x4_t total = vmulq_s32(totals4(acc[0], acc[1], acc[2], acc[3]), s.scale[0]);
    for (int q = 1; q < L::dots / 4; ++q) total = vmlaq_s32(total, totals4(acc[4 * q], acc[4 * q + 1], acc[4 * q + 2], acc[4 * q + 3]), s.scale[q]);
    return total;
}

// The 8 groups' activation code sums (from the blocks' exact half sums), and min x code sum in
// lanes whose total is the super-block's integer min term.
inline int16x8_t half_sums4(const BlockQ8* a) {
    int32_t v[4];
    for (int k = 0; k < 4; ++k) __builtin_memcpy(&v[k], a[k].half_sum, 4);
    return vreinterpretq_s16_s32(vld1q_s32(v));
}
inline int16x8_t code_sums8(const BlockQ8* a) { return vpaddq_s16(half_sums4(a), half_sums4(a + 4)); }
inline int32x4_t min_sums(int16x8_t mins, int16x8_t code_sums) {
    return vmlal_high_s16(vmull_s16(vget_low_s16(mins), vget_low_s16(code_sums)), mins, code_sums);
}

template <class I, class L>
inline float dot_super(const typename L::Block* w, const BlockQ8* a, int n) {
    float sum = 0.0f;
    for (int b = 0; b < n; ++b, a += 8) {
        int8x16_t c[8][2];
        for (int g = 0; g < 8; ++g) L::codes(w[b], g, c[g][0], c[g][1]);
        SuperScales<L::dots> s;
        L::scales(w[b], s);
        const int32_t dots = vaddvq_s32(scaled_dots<I, L>(c, s, a));
        if constexpr (L::mins) sum = add_super_block<true>(sum, s.d, s.dmin, a[0].d, dots, vaddvq_s32(min_sums(s.min, code_sums8(a))));
        else sum = add_super_block<false>(sum, s.d, 0.0f, a[0].d, dots, 0);
    }
    return sum;
}

// 2 rows x 4 tokens of dot_super, each output its bits (the same integers; the two fused
// multiply-adds lane by lane).
template <class I, class L>
inline void tile_super(const typename L::Block* w0, const typename L::Block* w1, const BlockQ8* const* a, int n, float* out) {
    float32x4_t sum[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    const typename L::Block* rows[2] = {w0, w1};
    for (int b = 0; b < n; ++b) {
        const float32x4_t act_d = act_scales(a, 8 * b);
        int16x8_t code_sums[4];
        if constexpr (L::mins)
            for (int t = 0; t < 4; ++t) code_sums[t] = code_sums8(a[t] + 8 * b);
        for (int r = 0; r < 2; ++r) {
            int8x16_t c[8][2];
            for (int g = 0; g < 8; ++g) L::codes(rows[r][b], g, c[g][0], c[g][1]);
            SuperScales<L::dots> s;
            L::scales(rows[r][b], s);
            int32x4_t acc[4];
            for (int t = 0; t < 4; ++t) acc[t] = scaled_dots<I, L>(c, s, a[t] + 8 * b);
            sum[r] = vfmaq_f32(sum[r], vmulq_n_f32(act_d, s.d), vcvtq_f32_s32(totals4(acc[0], acc[1], acc[2], acc[3])));
            if constexpr (L::mins) {
                const int32x4_t m = totals4(min_sums(s.min, code_sums[0]), min_sums(s.min, code_sums[1]), min_sums(s.min, code_sums[2]),
                                            min_sums(s.min, code_sums[3]));
                sum[r] = vfmaq_f32(sum[r], vnegq_f32(vmulq_n_f32(act_d, s.dmin)), vcvtq_f32_s32(m));
            }
        }
    }
    vst1q_f32(out, sum[0]);
    vst1q_f32(out + 4, sum[1]);
}

// The kernels dispatch picks: baseline NEON and, where built, the sdot versions.
#if TINYLLM_NEON_DOTPROD
#define TINYLLM_NEON_KERNELS(type, Layout, dot_impl, tile_impl)                                                         \
    inline float dot_##type(const Layout::Block* w, const BlockQ8* a, int n) { return dot_impl<Widening, Layout>(w, a, n); } \
    inline void tile_##type(const Layout::Block* w0, const Layout::Block* w1, const BlockQ8* const* a, int n, float* out) {  \
        tile_impl<Widening, Layout>(w0, w1, a, n, out);                                                                  \
    }                                                                                                                     \
    TINYLLM_DOTPROD_TARGET __attribute__((flatten)) inline float dot_##type##_dotprod(const Layout::Block* w, const BlockQ8* a, int n) { \
        return dot_impl<DotProd, Layout>(w, a, n);                                                                        \
    }                                                                                                                     \
    TINYLLM_DOTPROD_TARGET __attribute__((flatten)) inline void tile_##type##_dotprod(const Layout::Block* w0, const Layout::Block* w1, \
                                                                                      const BlockQ8* const* a, int n, float* out) { \
        tile_impl<DotProd, Layout>(w0, w1, a, n, out);                                                                    \
    }
#else
#define TINYLLM_NEON_KERNELS(type, Layout, dot_impl, tile_impl)                                                         \
    inline float dot_##type(const Layout::Block* w, const BlockQ8* a, int n) { return dot_impl<Widening, Layout>(w, a, n); } \
    inline void tile_##type(const Layout::Block* w0, const Layout::Block* w1, const BlockQ8* const* a, int n, float* out) {  \
        tile_impl<Widening, Layout>(w0, w1, a, n, out);                                                                  \
    }
#endif
TINYLLM_NEON_KERNELS(q8_0, LayoutQ8_0, dot_with, tile_with)
TINYLLM_NEON_KERNELS(q4_0, LayoutQ4_0, dot_with, tile_with)
TINYLLM_NEON_KERNELS(q4_1, LayoutQ4_1, dot_with, tile_with)
TINYLLM_NEON_KERNELS(q5_0, LayoutQ5_0, dot_with, tile_with)
TINYLLM_NEON_KERNELS(q5_1, LayoutQ5_1, dot_with, tile_with)
TINYLLM_NEON_KERNELS(iq4_nl, LayoutIQ4_NL, dot_with, tile_with)
TINYLLM_NEON_KERNELS(q4_k, SuperQ4_K, dot_super, tile_super)
TINYLLM_NEON_KERNELS(q5_k, SuperQ5_K, dot_super, tile_super)
TINYLLM_NEON_KERNELS(q6_k, SuperQ6_K, dot_super, tile_super)
TINYLLM_NEON_KERNELS(iq4_xs, SuperIQ4_XS, dot_super, tile_super)
#undef TINYLLM_NEON_KERNELS

#if TINYLLM_NEON_I8MM
// smmla tiles for the types of 32-value blocks: tile_<type>_i8mm.
#define TINYLLM_NEON_I8MM_TILE(type, Layout)                                                                           \
    TINYLLM_I8MM_TARGET __attribute__((flatten)) inline void tile_##type##_i8mm(const Layout::Block* w0, const Layout::Block* w1, \
                                                                                const BlockQ8* const* a, int n, float* out) { \
        tile_mmla<Layout>(w0, w1, a, n, out);                                                                           \
    }
TINYLLM_NEON_I8MM_TILE(q8_0, LayoutQ8_0)
TINYLLM_NEON_I8MM_TILE(q4_0, LayoutQ4_0)
TINYLLM_NEON_I8MM_TILE(q4_1, LayoutQ4_1)
TINYLLM_NEON_I8MM_TILE(q5_0, LayoutQ5_0)
TINYLLM_NEON_I8MM_TILE(q5_1, LayoutQ5_1)
TINYLLM_NEON_I8MM_TILE(iq4_nl, LayoutIQ4_NL)
#undef TINYLLM_NEON_I8MM_TILE
#endif

} // namespace tinyllm::neon
#endif
