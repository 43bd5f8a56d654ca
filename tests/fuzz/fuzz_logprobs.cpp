// Fuzz target: llama.cpp's KL-divergence base file (loaders/host/log_prob_file.hpp) read from any
// bytes; what it accepts is read chunk by chunk and compared with fixed logits, as perplexity
// --kl-divergence does. A refused file must be refused by name, never read out of bounds.
#include <stddef.h>
#include <stdint.h>

#include <vector>

#include "tinyllm/evaluation/token_scores.hpp"
#include "tinyllm/loaders/host/log_prob_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    tinyllm::LogProbFileReader reader;
    const tinyllm::Status st = reader.read(tinyllm::ByteSpan{data, size}, "input");
    if (!st) {
        if (st.detail[0] == 0) __builtin_trap();  // every refusal names its problem
        return 0;
    }
    const int n_vocab = reader.n_vocab();
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (int i = 0; i < n_vocab; ++i) logits[size_t(i)] = float((i * 37) % 101) * 0.1f - 5.0f;
    std::vector<int32_t> chunk;
    std::vector<uint16_t> row;
    tinyllm::KldTotals totals;
    for (int c = 0; c < reader.n_chunk(); ++c) {
        reader.chunk_tokens(c, chunk);
        for (int j = 0; j < reader.layout().n_scored(); ++j) {
            reader.base_row(c, j, row);
            (void)tinyllm::compare_with_base(logits.data(), n_vocab, row.data(), chunk[size_t(reader.layout().first() + j) + 1], totals);
        }
    }
    return 0;
}
