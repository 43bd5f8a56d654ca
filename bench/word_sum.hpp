// The read both benchmarks measure bandwidth with: memory summed by every pool thread.
#pragma once
#include <stdint.h>

#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "tinyllm/parallel.hpp"

namespace bench {

// One core's read rate depends on the load width: here 16-byte loads stream ~22 GB/s and
// 64-byte loads ~32 GB/s from the same memory. The roofline's bandwidth must be the most the
// machine gives, so the sum uses the widest loads this CPU has, from one load instruction:
// unrolled into two, the loop streamed 26 or 31 GB/s per core depending on where its code
// lay (copies of it at different addresses, same process, same memory); with one, every copy
// streams the same, at least as fast as the best two-load copy.
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
#endif

inline uint64_t sum_words(const uint64_t* words, int64_t begin, int64_t end) {
#if defined(__x86_64__) || defined(__i386__)
    static const bool wide = __builtin_cpu_supports("avx512f");
    if (wide) return sum_words_avx512(words, begin, end);
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
