// The read both benchmarks measure bandwidth with: memory summed by every pool thread.
#pragma once
#include <stdint.h>

#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "tinyllm/core/parallel.hpp"
#include "tinyllm/kernels/cpu_features.hpp"

namespace bench {

// One core's read rate depends on the load width and on how the loop issues its loads, and no
// one loop is the fastest everywhere, so each vector width has the loop measured fastest on the
// CPUs we have of it. The roofline's bandwidth must be the most the machine gives.
// - AVX-512 (Zen 5): one 64-byte load per iteration. 64-byte loads streamed ~32 GB/s per core
//   where 16-byte loads streamed ~22. Unrolled into two, the loop streamed 26 or 31 GB/s
//   depending on where its code lay (copies of it at different addresses, same process, same
//   memory); with one load, every copy streams the same, at least as fast as the best unrolled one.
// - AVX2 (Zen 3, no AVX-512): four 32-byte loads into four sums. Medians of 7 alternating runs
//   over 1 GiB: 13.3 GB/s on one core and 21.8 on two, where one 32-byte load per iteration
//   gave 11.2 and 19.2 and the compiler's 16-byte loop 9.5 and 16.1. Two or eight sums streamed
//   within noise of four.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) inline uint64_t sum_words_avx512(const uint64_t* words, int64_t begin, int64_t end) {
    __m512i a = _mm512_setzero_si512();
    int64_t i = begin;
    for (; i + 8 <= end; i += 8) a = _mm512_add_epi64(a, _mm512_loadu_si512(words + i));
    uint64_t lanes[8], total = 0;
    _mm512_storeu_si512(lanes, a);
    for (uint64_t lane : lanes) total += lane;
    for (; i < end; ++i) total += words[i];
    return total;
}

__attribute__((target("avx2"))) inline uint64_t sum_words_avx2(const uint64_t* words, int64_t begin, int64_t end) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i + 12)));
    }
    uint64_t lanes[4], total = 0;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    for (uint64_t lane : lanes) total += lane;
    for (; i < end; ++i) total += words[i];
    return total;
}
#endif

inline uint64_t sum_words(const uint64_t* words, int64_t begin, int64_t end) {
#if defined(__x86_64__) || defined(__i386__)
    if (tinyllm::x86::cpu_features().avx512) return sum_words_avx512(words, begin, end);
    if (tinyllm::x86::has_avx2()) return sum_words_avx2(words, begin, end);
#endif
    uint64_t total = 0;
    for (int64_t i = begin; i < end; ++i) total += words[i];
    return total;
}

// Sum of n 64-bit words, read in contiguous slices by the threads of tinyllm's pool (the same
// threads and scheduling the engine's loops use).
inline uint64_t parallel_word_sum(const uint64_t* words, int64_t n) {
    const int64_t slices = 64;
    std::vector<uint64_t> partial(slices, 0);
    tinyllm::parallel_for(slices, [&](int64_t s) {
        partial[size_t(s)] = sum_words(words, n * s / slices, n * (s + 1) / slices);
    });
    uint64_t total = 0;
    for (uint64_t p : partial) total += p;
    return total;
}

} // namespace bench
