// Elementary functions the engine needs, written here so kernels need no libm (bare-metal
// and Hexagon builds have none). Evaluated in double with range reduction: accurate to a
// float ulp or so, which keeps results within the reference tolerances on every target.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/bits.hpp"

namespace tinyllm::math {

// a * b + c rounded once. Hexagon has no fused float instruction the compiler uses and no C
// library to call: there the exact product and the sum are formed in double and rounded to
// float (the fused value except in rare double-rounding ties).
inline float fma(float a, float b, float c) {
#if defined(__hexagon__)
    return float(double(a) * double(b) + double(c));
#else
    return __builtin_fmaf(a, b, c);
#endif
}

constexpr double ln2 = 0.693147180559945309417;
constexpr double pi = 3.14159265358979323846;

// exp(NaN) is NaN, exp(+inf) = +inf, exp(-inf) = 0: only finite x in range reach the
// conversion to an integer, which is undefined behaviour for NaN and out-of-range values.
inline double exp(double x) {
    if (!(x <= 709.0)) return x > 709.0 ? 1.0 / 0.0 : x;
    if (x < -745.0) return 0.0;
    // x = k ln2 + r, |r| <= ln2/2; exp(r) by its Taylor series to r^15 (terms below 1e-17
    // dropped), evaluated in Horner form with the coefficients 1/i! precomputed: no divisions.
    static constexpr double inv_factorial[16] = {
        1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880,
        1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0, 1.0 / 87178291200.0, 1.0 / 1307674368000.0};
    double kf = x / ln2;
    int64_t k = int64_t(kf + (kf >= 0 ? 0.5 : -0.5));
    double r = x - double(k) * ln2;
    double sum = inv_factorial[15];
    for (int i = 14; i >= 0; --i) sum = sum * r + inv_factorial[i];
    // Scale by 2^k in two steps so subnormal results stay representable.
    int64_t k1 = k / 2, k2 = k - k1;
    uint64_t b1 = uint64_t(k1 + 1023) << 52, b2 = uint64_t(k2 + 1023) << 52;
    return sum * bit_cast<double>(b1) * bit_cast<double>(b2);
}

// Float exp within 2 ulp over the whole range, branch-free so loops over it vectorize
// (SiLU over the feed-forward width runs per token): x = k ln2 + r with ln2 split in two
// for an exact reduction, exp(r) by its degree-7 Taylor polynomial (|r| <= ln2/2, truncation
// below 6e-9), and 2^k built from its exponent bits. Results below 2^-126 flush to 0,
// exp(-inf) = 0 exactly (masked attention scores, banned tokens) and exp(NaN) is NaN.
inline float expf(float input) {
    const float low = -87.33655f, high = 88.72283f;
    // Out of range: computed at the clamped end, then replaced by 0 below and infinity above.
    // Clamp and replacement are bit masks, not conditional moves: under the default
    // -ftrapping-math the compiler turns those into branches around the polynomial, and a
    // loop with branches does not vectorize.
    const uint32_t under = 0u - uint32_t(input < low), over = 0u - uint32_t(input > high);
    const float x = bit_cast<float>((bit_cast<uint32_t>(input) & ~(under | over)) | (bit_cast<uint32_t>(low) & under) |
                                    (bit_cast<uint32_t>(high) & over));
    // Adding 1.5 * 2^23 rounds to an integer k, which lands in the low mantissa bits: k is read
    // from those bits, not converted from float (undefined behaviour for the NaN a NaN input
    // carries through; its bits give a meaningless k, and the NaN polynomial a NaN result).
    const float shifter = 12582912.0f;
    const float shifted = x * 1.44269504f + shifter;
    const float kf = shifted - shifter;
    const float r = (x - kf * 0.693145752f) - kf * 1.42860677e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // k in -126..128; 2^k as two factors so k = 128 (x near the top of the range) stays finite.
    const int32_t k = int32_t(bit_cast<uint32_t>(shifted) - bit_cast<uint32_t>(shifter)), k1 = k / 2;
    const float result = p * bit_cast<float>(uint32_t(k1 + 127) << 23) * bit_cast<float>(uint32_t(k - k1 + 127) << 23);
    return bit_cast<float>((bit_cast<uint32_t>(result) & ~(under | over)) | (0x7f800000u & over));
}

// Natural log for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh((m-1)/(m+1)).
inline double log(double x) {
    if (!(x > 0.0)) return x == 0.0 ? -1.0 / 0.0 : 0.0 / 0.0;
    uint64_t bits = bit_cast<uint64_t>(x);
    int e = int((bits >> 52) & 0x7ff);
    if (e == 0) return log(x * 4503599627370496.0) - 52.0 * ln2;  // subnormal: scale by 2^52
    e -= 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m = bit_cast<double>(bits);
    if (m > 1.41421356237309504880) { m *= 0.5; ++e; }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
    for (int i = 1; i < 40; i += 2) {
        sum += term / i;
        term *= s2;
    }
    return 2.0 * sum + e * ln2;
}

inline double pow(double base, double exponent) { return exp(exponent * log(base)); }

inline double sqrt(double x) {
    if (!(x > 0.0)) return x == 0.0 ? 0.0 : 0.0 / 0.0;
    // Newton from a bit-level estimate: each step doubles the correct digits.
    uint64_t bits = bit_cast<uint64_t>(x);
    bits = (bits >> 1) + (uint64_t(1023) << 51);
    double y = bit_cast<double>(bits);
    for (int i = 0; i < 6; ++i) y = 0.5 * (y + x / y);
    return y;
}

inline float sqrtf(float x) { return float(sqrt(double(x))); }

inline float tanhf(float x) {
    double e = exp(-2.0 * (x < 0 ? -double(x) : double(x)));
    double t = (1.0 - e) / (1.0 + e);
    return float(x < 0 ? -t : t);
}

// sin and cos of x together (RoPE needs both): reduce to [-pi/4, pi/4] around a multiple of pi/2.
// NaN, infinities and |x| >= 2^52 give NaN: there doubles are integers, the reduction has no
// accuracy left, and the multiple of pi/2 would not fit the integer it is converted to.
inline void sincos(double x, double* s, double* c) {
    if (!(x > -4503599627370496.0 && x < 4503599627370496.0)) {
        *s = *c = 0.0 / 0.0;
        return;
    }
    double kf = x / (pi / 2);
    int64_t k = int64_t(kf + (kf >= 0 ? 0.5 : -0.5));
    // pi/2 split in two parts so the reduction stays accurate for large arguments.
    double r = (x - double(k) * 1.57079632679489655800) - double(k) * 6.12323399573676603587e-17;
    double r2 = r * r, sin_r = r, cos_r = 1.0, ts = r, tc = 1.0;
    for (int i = 1; i < 12; ++i) {
        ts *= -r2 / ((2 * i) * (2 * i + 1));
        tc *= -r2 / ((2 * i - 1) * (2 * i));
        sin_r += ts;
        cos_r += tc;
    }
    switch (k & 3) {
    case 0: *s = sin_r; *c = cos_r; break;
    case 1: *s = cos_r; *c = -sin_r; break;
    case 2: *s = -sin_r; *c = -cos_r; break;
    default: *s = -cos_r; *c = sin_r; break;
    }
}

} // namespace tinyllm::math
