// The activation format quantized weight types take their dot products against: blocks of 32
// int8 values with a float scale (and the scaled sum, which types with a min/offset need).
#pragma once
#include <stdint.h>

#include "fp16.hpp"

namespace tinyllm {

struct BlockQ8 {
    static constexpr int elems = 32;
    float d;    // scale: x ~= d * qs
    float sum;  // d * sum(qs)
    int8_t qs[elems];
};

// Round to nearest, ties away from zero (roundf without libm).
inline int round_to_int(float v) { return int(v + (v >= 0.0f ? 0.5f : -0.5f)); }

// Quantizes n values (n a multiple of 32) into n/32 blocks.
inline void quantize_row_q8(const float* x, BlockQ8* out, int n) {
    for (int b = 0; b < n / BlockQ8::elems; ++b, x += BlockQ8::elems) {
        float amax = 0.0f;
        for (int i = 0; i < BlockQ8::elems; ++i) {
            float a = x[i] < 0 ? -x[i] : x[i];
            if (a > amax) amax = a;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int i = 0; i < BlockQ8::elems; ++i) {
            int q = round_to_int(x[i] * id);
            out[b].qs[i] = int8_t(q);
            sum += q;
        }
        // Scales are rounded to fp16 as llama.cpp stores them, so dot products agree with it.
        out[b].d = fp16_to_f32(f32_to_fp16(d));
        out[b].sum = fp16_to_f32(f32_to_fp16(d * float(sum)));
    }
}

} // namespace tinyllm
