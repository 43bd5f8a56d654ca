// Rotary position embedding. Two pairings exist in GGUF models:
//  - adjacent (llama layout): rotate (x[2i], x[2i+1]);
//  - neox (qwen2, gemma, phi3, ...): rotate (x[i], x[i + n_rot/2]).
// Only the first n_rot dimensions of each head rotate; the rest pass through.
#pragma once
#include "tinyllm/kernels/math.hpp"

namespace tinyllm {

enum class RopeStyle : unsigned char { adjacent, neox };

// Fills cos_sin[2*i], cos_sin[2*i+1] with cos/sin of pos * scale * base^(-2i/n_rot) / factor[i]
// for i < n_rot/2. scale is linear position scaling (1: none); freq_factors may be null
// (Llama 3 long-context scaling supplies them).
inline void rope_angles(float* cos_sin, int pos, int n_rot, float base, float scale, const float* freq_factors) {
    for (int i = 0; i < n_rot / 2; ++i) {
        double inv_freq = math::pow(double(base), -2.0 * i / n_rot);
        double theta = double(pos) * double(scale) * inv_freq;
        if (freq_factors) theta /= double(freq_factors[i]);
        double s, c;
        math::sincos(theta, &s, &c);
        cos_sin[2 * i] = float(c);
        cos_sin[2 * i + 1] = float(s);
    }
}

// Rotates one head vector in place using angles from rope_angles().
inline void rope_apply(float* head, const float* cos_sin, int n_rot, RopeStyle style) {
    const int half = n_rot / 2;
    for (int i = 0; i < half; ++i) {
        int a = style == RopeStyle::adjacent ? 2 * i : i;
        int b = style == RopeStyle::adjacent ? 2 * i + 1 : i + half;
        float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
        float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

} // namespace tinyllm
