// Eigen's float GEMM, the anchor bench/kernels sets tinyllm's float prompt products beside.
// Built apart with this machine's instruction set (-march=native) and without OpenMP, so Eigen
// runs its best kernel on one thread.
#include "eigen_gemm.hpp"

#include <Eigen/Core>

namespace bench {

void eigen_gemm(const float* w, const float* x, float* y, int64_t rows, int64_t cols, int tokens) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const RowMajor> weights(w, rows, cols), input(x, tokens, cols);
    Eigen::Map<RowMajor> output(y, tokens, rows);
    output.noalias() = input * weights.transpose();
}

} // namespace bench
