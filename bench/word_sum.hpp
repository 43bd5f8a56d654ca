// The read both benchmarks measure bandwidth with: memory summed by every pool thread.
#pragma once
#include <stdint.h>

#include <vector>

#include "tinyllm/parallel.hpp"

namespace bench {

// Sum of n 64-bit words, read in contiguous slices by the threads of tinyllm's pool (the same
// threads and scheduling the engine's loops use).
inline uint64_t parallel_word_sum(const uint64_t* words, int64_t n) {
    const int64_t slices = 64;
    std::vector<uint64_t> partial(slices, 0);
    tinyllm::parallel_for(slices, [&](int64_t s) {
        uint64_t total = 0;
        for (int64_t i = n * s / slices; i < n * (s + 1) / slices; ++i) total += words[i];
        partial[size_t(s)] = total;
    });
    uint64_t total = 0;
    for (uint64_t p : partial) total += p;
    return total;
}

} // namespace bench
