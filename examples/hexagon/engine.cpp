// The whole engine on a bare-metal Hexagon DSP: the GGUF model linked in as data, memory
// from a static arena, math from tinyllm itself (no libc, no libm). Prints the generated text
// and ids.
#include <stdint.h>

#include "runtime.hpp"
#include "tinyllm/engine.hpp"

extern "C" const unsigned char tinyllm_model_data[];
extern "C" const unsigned char tinyllm_model_end[];

namespace {

alignas(128) uint8_t arena[4 << 20];
constexpr int32_t prompt[] = {TINYLLM_PROMPT_IDS};
constexpr int max_tokens = TINYLLM_N_PREDICT;

struct Output {
    int32_t ids[max_tokens];
    int count = 0;
};

bool on_token(const tinyllm::GeneratedToken& token, void* user) {
    Output& out = *static_cast<Output*>(user);
    if (token.id != tinyllm::GeneratedToken::no_token) out.ids[out.count++] = token.id;
    hexagon_rt::write_out(token.text, token.text_len);
    return true;
}

int fail(const char* what, const tinyllm::Status& st) {
    hexagon_rt::write_str("error: ");
    hexagon_rt::write_str(what);
    hexagon_rt::write_str(": ");
    hexagon_rt::write_str(tinyllm::error_name(st.code));
    hexagon_rt::write_str(" (");
    hexagon_rt::write_str(st.detail);
    hexagon_rt::write_str(")\n");
    return 1;
}

} // namespace

extern "C" int main() {
    static tinyllm::Engine engine;
    const tinyllm::ByteSpan model{tinyllm_model_data, size_t(tinyllm_model_end - tinyllm_model_data)};
    tinyllm::EngineOptions options;
    options.n_ctx = 64;
    options.n_batch = 8;
    options.sampling.temperature = 0.0f;
    tinyllm::Status st = engine.open(model, arena, sizeof arena, options);
    if (!st) return fail("open", st);
    static Output out;
    hexagon_rt::write_str("text:");
    if (!(st = engine.generate(prompt, int(sizeof prompt / sizeof prompt[0]), max_tokens, on_token, &out)))
        return fail("generate", st);
    hexagon_rt::write_str("\nids: ");
    for (int i = 0; i < out.count; ++i) {
        if (i) hexagon_rt::write_str(",");
        hexagon_rt::write_int(out.ids[i]);
    }
    hexagon_rt::write_str("\n");
    return 0;
}
