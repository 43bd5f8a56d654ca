// The activation format quantized weight types take their dot products against: blocks of 32
// int8 values with a float scale (and the scaled sum, which types with a min/offset need).
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/bits.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/kernels/hvx/abs_max_hvx.hpp"

namespace tinyllm {

// The format a weight type wants its input activations in (its row in ggml_types.hpp):
// plain float, fp16, bf16, or int8 blocks of 32 quantized either per block with an fp16
// scale (q8_0, as llama.cpp's Q8_0/Q8_1) or per 256 with one float scale (q8_k, as Q8_K).
enum class ActFormat : uint8_t { f32, f16, bf16, q8_0, q8_k };

struct BlockQ8 {
    static constexpr int elems = 32;
    float d;    // scale: x ~= d * qs
    float sum;  // d * sum(qs)
    // sum(qs[0..15]) and sum(qs[16..31]), exact: offset-coded weights (codes + 8, + 32)
    // subtract offset * sum(a) per block or per 16-value group.
    int16_t half_sum[2];
    int8_t qs[elems];

    int code_sum() const { return half_sum[0] + half_sum[1]; }
};

// Round to nearest, ties to even (what llama.cpp's nearest_int does), for |v| < 2^22.
inline int round_half_even(float v) {
    float shifted = v + 12582912.0f;  // 1.5 * 2^23: the FPU rounds the sum to an integer
    return int(bit_cast<uint32_t>(shifted) & 0x007fffff) - 0x00400000;
}

// Quantizes n values (n a multiple of 32) into n/32 blocks.
inline void quantize_row_q8(const float* x, BlockQ8* out, int n) {
    for (int b = 0; b < n / BlockQ8::elems; ++b, x += BlockQ8::elems) {
#if defined(__HVX__)
        const float amax = hvx::abs_max32(x);
#else
        float amax = 0.0f;
        for (int i = 0; i < BlockQ8::elems; ++i) {
            float a = x[i] < 0 ? -x[i] : x[i];
            if (a > amax) amax = a;
        }
#endif
        // The same arithmetic as llama.cpp's x86 kernel (127/amax, ties to even), so the int8
        // activations, and hence the dot products, agree with it exactly.
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int half[2] = {0, 0};
        for (int i = 0; i < BlockQ8::elems; ++i) {
            int q = round_half_even(x[i] * id);
            out[b].qs[i] = int8_t(q);
            half[i / 16] += q;
        }
        const int sum = half[0] + half[1];
        // Scales are rounded to fp16 as llama.cpp stores them, so dot products agree with it.
        out[b].d = fp16_to_f32(f32_to_fp16(d));
        out[b].sum = fp16_to_f32(f32_to_fp16(d * float(sum)));
        out[b].half_sum[0] = int16_t(half[0]);
        out[b].half_sum[1] = int16_t(half[1]);
    }
}

// Quantizes n values (n a multiple of 256) with one scale per 256 (llama.cpp's Q8_K rule:
// the value of largest magnitude maps to -127), written as n/32 blocks sharing that scale.
inline void quantize_row_q8k(const float* x, BlockQ8* out, int n) {
    for (int b = 0; b < n / 256; ++b, x += 256, out += 8) {
        float max = 0.0f, amax = 0.0f;
        for (int i = 0; i < 256; ++i) {
            float a = x[i] < 0 ? -x[i] : x[i];
            if (a > amax) { amax = a; max = x[i]; }
        }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        const float d = amax != 0.0f ? 1.0f / iscale : 0.0f;
        for (int k = 0; k < 8; ++k) {
            int half[2] = {0, 0};
            for (int i = 0; i < 32; ++i) {
                int q = round_half_even(iscale * x[32 * k + i]);
                q = q > 127 ? 127 : q;
                out[k].qs[i] = int8_t(q);
                half[i / 16] += q;
            }
            out[k].d = d;
            out[k].sum = d * float(half[0] + half[1]);
            out[k].half_sum[0] = int16_t(half[0]);
            out[k].half_sum[1] = int16_t(half[1]);
        }
    }
}

} // namespace tinyllm
