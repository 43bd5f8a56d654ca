// Bare-metal firmware: runs the GGUF model linked into flash on a prompt and prints the
// generated text and ids over semihosting. No heap, no exceptions, no threads: the engine's
// only memory is the static arena below.
#include <stdint.h>
#include <stdio.h>

#include "tinyllm/engine.hpp"
#include "tinyllm/text/token_text.hpp"

extern "C" const unsigned char tinyllm_model_data[];
extern "C" const unsigned char tinyllm_model_end[];

namespace {

alignas(64) uint8_t arena[TINYLLM_ARENA_BYTES];
alignas(64) uint8_t text_arena[64 * 1024];  // the vocabulary table for printing text

constexpr int32_t prompt[] = {TINYLLM_PROMPT_IDS};
constexpr int max_tokens = TINYLLM_N_PREDICT;

struct Output {
    int32_t ids[max_tokens];
    int count = 0;
    tinyllm::TokenText text;
};

bool on_token(int32_t token, void* user) {
    Output& out = *static_cast<Output*>(user);
    out.ids[out.count++] = token;
    char piece[64];
    size_t n = out.text.piece(token, piece, sizeof piece);
    fwrite(piece, 1, n, stdout);
    return out.count < max_tokens;
}

int fail(const char* what, const tinyllm::Status& st) {
    printf("error: %s: %s (%s)\n", what, tinyllm::error_name(st.code), st.detail);
    return 1;
}

} // namespace

int main() {
    const size_t model_size = size_t(tinyllm_model_end - tinyllm_model_data);
    static tinyllm::Engine engine;
    tinyllm::Status st = engine.open({tinyllm_model_data, model_size}, arena, sizeof arena);
    if (!st) return fail("open", st);
    const int n_ctx = 64, n_batch = 8;
    printf("model: %u bytes in flash, %d layers, vocab %d; arena %u of %u bytes\n", unsigned(model_size),
           engine.model().config.n_layer, engine.model().config.n_vocab,
           unsigned(engine.required_arena_bytes(n_ctx, n_batch)), unsigned(sizeof arena));
    tinyllm::SamplerConfig greedy;
    greedy.temperature = 0.0f;
    if (!(st = engine.start(n_ctx, n_batch, greedy))) return fail("start", st);

    static Output out;
    tinyllm::Arena text_mem(text_arena, sizeof text_arena);
    if (!(st = out.text.init(engine.file(), text_mem))) return fail("vocabulary", st);
    printf("text:");
    if (!(st = engine.generate(prompt, int(sizeof prompt / sizeof prompt[0]), max_tokens, on_token, &out)))
        return fail("generate", st);
    printf("\nids: ");
    for (int i = 0; i < out.count; ++i) printf(i ? ",%ld" : "%ld", long(out.ids[i]));
    printf("\n");
    return 0;
}
