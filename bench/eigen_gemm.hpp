// y[tokens][rows] = x[tokens][cols] times the transpose of w[rows][cols], by Eigen on one thread.
#pragma once
#include <stdint.h>

namespace bench {

void eigen_gemm(const float* w, const float* x, float* y, int64_t rows, int64_t cols, int tokens);

} // namespace bench
