// The whole engine on a bare-metal Hexagon DSP: the GGUF model linked in as data, memory
// from a static arena, math from tinyllm itself (no libc, no libm). Prints the generated ids.
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

bool on_token(int32_t token, void* user) {
    Output& out = *static_cast<Output*>(user);
    out.ids[out.count++] = token;
    return out.count < max_tokens;
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
    const size_t model_size = size_t(tinyllm_model_end - tinyllm_model_data);
    tinyllm::Status st = engine.open({tinyllm_model_data, model_size}, arena, sizeof arena);
    if (!st) return fail("open", st);
    tinyllm::SamplerConfig greedy;
    greedy.temperature = 0.0f;
    if (!(st = engine.start(64, 8, greedy))) return fail("start", st);
    static Output out;
    if (!(st = engine.generate(prompt, int(sizeof prompt / sizeof prompt[0]), max_tokens, on_token, &out)))
        return fail("generate", st);
    hexagon_rt::write_str("ids: ");
    for (int i = 0; i < out.count; ++i) {
        if (i) hexagon_rt::write_str(",");
        hexagon_rt::write_int(out.ids[i]);
    }
    hexagon_rt::write_str("\n");
    return 0;
}
