// Pointwise activations and softmax.
#pragma once
#include "tinyllm/kernels/map_f32.hpp"
#include "tinyllm/kernels/math.hpp"

namespace tinyllm {

inline float silu(float x) { return x / (1.0f + math::expf(-x)); }

// GELU, tanh approximation (what GGUF gemma models are evaluated with).
inline float gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    return 0.5f * x * (1.0f + math::tanhf(sqrt_2_over_pi * x * (1.0f + 0.044715f * x * x)));
}

// In-place softmax over n values: the exponentials in a vectorized map, then the normalizer
// summed in double, in order.
inline void softmax(float* x, int n) {
    float max = x[0];
    for (int i = 1; i < n; ++i)
        if (x[i] > max) max = x[i];
    map_f32(x, x, n, [max](float v) { return math::expf(v - max); });
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += x[i];
    float inv = float(1.0 / sum);
    for (int i = 0; i < n; ++i) x[i] *= inv;
}

} // namespace tinyllm
