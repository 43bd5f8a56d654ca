// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight. The sum of squares is accumulated in
// double, as llama.cpp does, so long rows do not lose precision.
#pragma once
#include "math.hpp"

namespace tinyllm {

// weight may be null (plain normalization, e.g. before a separately applied scale).
inline void rms_norm(const float* x, const float* weight, float* y, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += double(x[i] * x[i]);
    float scale = 1.0f / math::sqrtf(float(sum / n) + eps);
    for (int i = 0; i < n; ++i) y[i] = weight ? x[i] * scale * weight[i] : x[i] * scale;
}

} // namespace tinyllm
