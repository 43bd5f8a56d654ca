// Fuzz target: the sampler with any settings (NaN and infinities included) over any logits.
// Settings out of range must be refused by init; a draw must give an id in the vocabulary.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "tinyllm/core/sampler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    tinyllm::SamplerConfig cfg;
    float floats[7];
    if (size < sizeof floats + 8) return 0;
    memcpy(floats, data, sizeof floats);
    cfg.temperature = floats[0];
    cfg.top_p = floats[1];
    cfg.min_p = floats[2];
    cfg.typical_p = floats[3];
    cfg.repeat_penalty = floats[4];
    cfg.frequency_penalty = floats[5];
    cfg.presence_penalty = floats[6];
    cfg.top_k = int(data[sizeof floats]) - 8;
    cfg.penalty_last_n = int(data[sizeof floats + 1]);
    cfg.seed = data[sizeof floats + 2];
    data += sizeof floats + 8;
    size -= sizeof floats + 8;
    const int n_vocab = int(size / sizeof(float));
    if (n_vocab < 1) return 0;
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    memcpy(logits.data(), data, size_t(n_vocab) * sizeof(float));
    static std::vector<uint8_t> memory(tinyllm::Sampler::required_bytes(1 << 16));
    if (n_vocab > (1 << 16)) return 0;
    tinyllm::Arena arena(memory.data(), memory.size());
    tinyllm::Sampler sampler;
    if (!sampler.init(cfg, n_vocab, arena)) return 0;
    for (int i = 0; i < 3; ++i) {
        const int32_t id = sampler.sample(logits.data());
        if (id < 0 || id >= n_vocab) __builtin_trap();  // a draw outside the vocabulary is a finding
        sampler.accept(id);
    }
    return 0;
}
