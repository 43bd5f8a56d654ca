// y[i] = f(x[i]) over float arrays, for pointwise functions such as exp and sigmoid. The
// portable build targets baseline x86-64 (4-wide SSE2), so on CPUs with AVX2 the same loop
// is compiled a second time for 8-wide vectors, with f inlined into it. Both compile the
// same float operations (no FMA contraction under "avx2" alone), so the results are identical.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/dot_x86.hpp"

namespace tinyllm {

template <class F>
inline void map_f32_portable(const float* x, float* y, int64_t n, F f) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

#if defined(__x86_64__) || defined(__i386__)
template <class F>
__attribute__((target("avx2"))) inline void map_f32_avx2(const float* x, float* y, int64_t n, F f) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
#endif

// x and y may be the same array. f is taken by value: a copy the stores cannot alias, which
// the vectorizer needs.
template <class F>
inline void map_f32(const float* x, float* y, int64_t n, F f) {
#if defined(__x86_64__) || defined(__i386__)
    if (x86::has_avx2()) return map_f32_avx2(x, y, n, f);
#endif
    map_f32_portable(x, y, n, f);
}

} // namespace tinyllm
