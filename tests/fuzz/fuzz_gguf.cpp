// Fuzz target: any bytes as a GGUF model through the Engine: arena sizing from the header,
// parse, binding, the vocabulary, a session, and two generated tokens. Must give a Status,
// never a crash or undefined behaviour (built with ASan/UBSan).
#include <stddef.h>
#include <stdint.h>

#include <vector>

#include "tinyllm/engine.hpp"

namespace {
bool ignore(const tinyllm::GeneratedToken&, void*) { return true; }
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<uint8_t> arena(size_t(32) << 20);  // set-up once: models needing more are skipped
    tinyllm::set_thread_count(1);
    tinyllm::EngineOptions options;
    options.n_ctx = 16;
    options.n_batch = 4;
    options.sampling.temperature = 0.0f;
    const tinyllm::ByteSpan model{data, size};
    tinyllm::Result<size_t> need = tinyllm::Engine::required_arena_bytes(model, options);
    if (!need || *need > arena.size()) return 0;
    tinyllm::Engine engine;
    if (!engine.open(model, arena.data(), arena.size(), options)) return 0;
    const int32_t prompt[] = {1, 2};
    (void)engine.generate(prompt, 2, 2, ignore, nullptr);
    return 0;
}
