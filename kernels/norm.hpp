// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight; LayerNorm: y = (x - mean) / sqrt(var + eps)
// * weight + bias. RMSNorm's sum of squares is accumulated in
// double, as llama.cpp does, so long rows do not lose precision; in four interleaved partial
// sums, because a single chain of dependent double additions sits on the serial path of every
// decoded token (twice per layer): four chains take ~1.2 us less per 2048-value row.
#pragma once
#include "tinyllm/kernels/math.hpp"

namespace tinyllm {

// weight may be null (plain normalization, e.g. before a separately applied scale).
inline void rms_norm(const float* x, const float* weight, float* y, int n, float eps) {
    double partial[4] = {0.0, 0.0, 0.0, 0.0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) partial[k] += double(x[i + k] * x[i + k]);
    for (; i < n; ++i) partial[0] += double(x[i] * x[i]);
    const double sum = (partial[0] + partial[1]) + (partial[2] + partial[3]);
    float scale = 1.0f / math::sqrtf(float(sum / n) + eps);
    for (int i = 0; i < n; ++i) y[i] = weight ? x[i] * scale * weight[i] : x[i] * scale;
}

// LayerNorm in llama.cpp's steps: the mean and the variance summed in double from float terms,
// each rounded to float, then scale, weight and bias applied one after another. (Its SIMD builds
// add 8 or 16 squares in float before the double sum: the last bit of a few rows can differ.)
inline void layer_norm(const float* x, const float* weight, const float* bias, float* y, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += double(x[i]);
    const float mean = float(sum) / float(n);
    double squares = 0.0;
    for (int i = 0; i < n; ++i) {
        const float d = x[i] - mean;
        y[i] = d;
        squares += double(d * d);
    }
    const float scale = 1.0f / math::sqrtf(float(squares / n) + eps);
    for (int i = 0; i < n; ++i) {
        const float scaled = y[i] * scale, weighted = scaled * weight[i];
        y[i] = weighted + bias[i];
    }
}

} // namespace tinyllm
