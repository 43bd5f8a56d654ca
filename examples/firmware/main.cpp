// Bare-metal firmware: runs the GGUF model linked into flash on a prompt and prints the
// generated text and ids over semihosting. No heap, no exceptions, no threads: the engine's
// only memory is the static arena below.
#include <stdint.h>
#include <stdio.h>

#include "tinyllm/engine.hpp"

extern "C" const unsigned char tinyllm_model_data[];
extern "C" const unsigned char tinyllm_model_end[];

namespace {

alignas(64) uint8_t arena[TINYLLM_ARENA_BYTES];

constexpr int32_t prompt[] = {TINYLLM_PROMPT_IDS};
constexpr int max_tokens = TINYLLM_N_PREDICT;

struct Output {
    int32_t ids[max_tokens];
    int count = 0;
};

bool on_token(const tinyllm::GeneratedToken& token, void* user) {
    Output& out = *static_cast<Output*>(user);
    if (token.id != tinyllm::GeneratedToken::no_token) out.ids[out.count++] = token.id;
    fwrite(token.text, 1, token.text_len, stdout);
    return true;
}

int fail(const char* what, const tinyllm::Status& st) {
    printf("error: %s: %s (%s)\n", what, tinyllm::error_name(st.code), st.detail);
    return 1;
}

} // namespace

int main() {
    const tinyllm::ByteSpan model{tinyllm_model_data, size_t(tinyllm_model_end - tinyllm_model_data)};
    tinyllm::EngineOptions options;
    options.n_ctx = 64;
    options.n_batch = 8;
    options.sampling.temperature = 0.0f;
    tinyllm::Result<size_t> need = tinyllm::Engine::required_arena_bytes(model, options);
    if (!need) return fail("model", need.status);
    static tinyllm::Engine engine;
    tinyllm::Status st = engine.open(model, arena, sizeof arena, options);
    if (!st) return fail("open", st);
    printf("model: %u bytes in flash, %d layers, vocab %d; arena %u of %u bytes\n", unsigned(model.size), engine.config()->n_layer,
           engine.config()->n_vocab, unsigned(*need), unsigned(sizeof arena));
    static Output out;
    printf("text:");
    if (!(st = engine.generate(prompt, int(sizeof prompt / sizeof prompt[0]), max_tokens, on_token, &out))) return fail("generate", st);
    printf("\nids: ");
    for (int i = 0; i < out.count; ++i) printf(i ? ",%ld" : "%ld", long(out.ids[i]));
    printf("\n");
    return 0;
}
