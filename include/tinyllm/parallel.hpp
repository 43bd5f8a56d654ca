// Loop-level threading. With OpenMP (host builds) the marked loop is split statically across
// threads; without it (firmware, DSP) it is an ordinary loop. Marked loops must compute each
// output in one iteration so results are the same for every thread count.
#pragma once

#if defined(_OPENMP)
#define TINYLLM_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define TINYLLM_PARALLEL_FOR
#endif
