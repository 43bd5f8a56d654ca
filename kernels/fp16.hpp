// Half-precision conversions by bit manipulation (no F16C or libm needed, so they work on
// every target; AArch64 and 32-bit ARM FPUs with half-precision conversions widen with their
// own exact instruction). Round-to-nearest-even on the way down, like the hardware instructions.
#pragma once
#include <stdint.h>
#include "tinyllm/kernels/bits.hpp"

namespace tinyllm {

inline float bits_to_f32(uint32_t u) { return bit_cast<float>(u); }
inline uint32_t f32_to_bits(float f) { return bit_cast<uint32_t>(f); }

inline float fp16_to_f32(uint16_t h) {
#if defined(__aarch64__) || (defined(__ARM_FP16_FORMAT_IEEE) && defined(__ARM_FP) && (__ARM_FP & 2))
    return float(bit_cast<__fp16>(h));  // one exact instruction (fcvt, vcvtb), and loops over it vectorize
#else
    uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (mant << 13));  // inf / nan
    if (exp == 0) {
        if (mant == 0) return bits_to_f32(sign);
        // Subnormal: value = mant * 2^-24.
        float v = float(mant) * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
#endif
}

inline uint16_t f32_to_fp16(float f) {
    uint32_t u = f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds to >= 65520: inf
    if (abs < 0x38800000u) {
        // Result is subnormal (or zero): scale to units of 2^-24 and round to even.
        float a = bits_to_f32(abs) * 16777216.0f;
        uint32_t i = uint32_t(a);
        float frac = a - float(i);
        if (frac > 0.5f || (frac == 0.5f && (i & 1))) ++i;
        return uint16_t(sign | i);
    }
    uint32_t mant_round = abs + 0xfff + ((abs >> 13) & 1);  // round to nearest even
    return uint16_t(sign | ((mant_round - (112u << 23)) >> 13));
}

// Whole rows: y[i] = f32_to_fp16(x[i]), and x[i] rounded to its nearest fp16 value in place
// (dot_dispatch.hpp picks F16C versions of both where the CPU has it).
inline void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}
inline void round_to_fp16_row(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = fp16_to_f32(f32_to_fp16(x[i]));
}

inline float bf16_to_f32(uint16_t b) { return bits_to_f32(uint32_t(b) << 16); }

inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // keep NaN a NaN
    return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// The f16 bits of f when f16 holds f exactly, or 0xffff (a NaN, which never fits) when it
// does not: f is zero, or a multiple of 2^-24 with 11 significant bits at most and below 2^16.
// Bit tests only, so loops over it vectorize.
inline uint16_t exact_fp16_bits(float f) {
    const uint32_t u = f32_to_bits(f), abs = u & 0x7fffffffu, e = abs >> 23, sign = (u >> 16) & 0x8000u;
    if (abs == 0) return uint16_t(sign);
    if (e < 103 || e > 142) return 0xffff;
    const uint32_t dropped = e >= 113 ? 13 : 126 - e;  // mantissa bits f16 cannot hold
    if (abs & ((1u << dropped) - 1)) return 0xffff;
    if (e >= 113) return uint16_t(sign | ((e - 112) << 10) | ((abs & 0x7fffffu) >> 13));
    return uint16_t(sign | (((abs & 0x7fffffu) | 0x800000u) >> dropped));  // subnormal
}

// The 16-bit format that holds each of n floats exactly, with the values written there: bf16
// when every value's low 16 bits are zero (it widens with a shift), else f16, else none (out
// then holds nothing useful). Weights exported to f32 from a bf16 or f16 checkpoint pass, and
// then cost half the bytes to read.
enum class ExactHalf : uint8_t { none, bf16, f16 };

inline ExactHalf narrow_exactly(const float* x, uint16_t* out, int64_t n) {
    uint32_t low_bits = 0;
    for (int64_t i = 0; i < n; ++i) low_bits |= f32_to_bits(x[i]) & 0xffffu;
    if (low_bits == 0) {
        for (int64_t i = 0; i < n; ++i) out[i] = uint16_t(f32_to_bits(x[i]) >> 16);
        return ExactHalf::bf16;
    }
    bool exact = true;
    for (int64_t i = 0; i < n; ++i) {
        out[i] = exact_fp16_bits(x[i]);
        exact &= out[i] != 0xffff;
    }
    return exact ? ExactHalf::f16 : ExactHalf::none;
}

} // namespace tinyllm
