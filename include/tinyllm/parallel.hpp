// Loop-level threading. With OpenMP (host builds) the loop is split statically across threads;
// without it (firmware, DSP) it is an ordinary loop. Bodies must compute each output in one
// iteration so results are the same for every thread count.
#pragma once
#include <stdint.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace tinyllm {

// Runs body(i) for i in [0, n). With one thread no OpenMP region is opened: libgomp makes a
// futex call for every region even then, which costs a small model ~5% of its decode time.
template <class Body>
inline void parallel_for(int64_t n, const Body& body) {
#if defined(_OPENMP)
    if (omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) body(i);
        return;
    }
#endif
    for (int64_t i = 0; i < n; ++i) body(i);
}

} // namespace tinyllm
