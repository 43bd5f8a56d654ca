// Fuzz target: restoring saved conversation states (core/model_state.hpp through
// Generator::load_state) on a small random model. The input is either a state as it is (first
// byte even) or a valid state with the input's (offset, value) pairs written over it, the
// header included (first byte odd), so mutations reach the checks behind the checksums. A
// refused state must name its problem and leave the conversation as it was; a restored one
// must generate.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "../../examples/random_model.hpp"
#include "tinyllm/core/session.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"

namespace {

struct Fixture {
    std::vector<uint8_t> file = [] {
        tinyllm::RandomModelShape shape;
        shape.n_vocab = 64;
        shape.n_embd = 32;
        shape.n_ff = 64;
        shape.n_head = 4;
        shape.n_head_kv = 2;
        shape.n_ctx = 32;
        return tinyllm::random_model_gguf(shape);
    }();
    tinyllm::GgufIndex index;
    std::vector<uint8_t> model_memory, session_memory, generator_memory;
    tinyllm::Model model;
    tinyllm::Session session;
    tinyllm::Generator generator;
    std::vector<uint8_t> valid;  // the state after a 5-token prompt and 3 sampled tokens

    Fixture() {
        using namespace tinyllm;
        if (!index.parse(ByteSpan{file.data(), file.size()})) __builtin_trap();
        model_memory.resize(size_t(index.file.n_tensors + 1) * sizeof(LayerWeights) + 64);
        Arena model_arena(model_memory.data(), model_memory.size());
        if (!load_model(index.file, model_arena, model)) __builtin_trap();
        session_memory.resize(Session::required_bytes(model, 32, 8));
        Arena session_arena(session_memory.data(), session_memory.size());
        if (!session.init(model, 32, 8, session_arena)) __builtin_trap();
        generator_memory.resize(Generator::required_bytes(64, 0));
        Arena arena(generator_memory.data(), generator_memory.size());
        SamplerConfig sampling;
        sampling.repeat_penalty = 1.1f;
        if (!generator.init(session, nullptr, sampling, arena)) __builtin_trap();
        reset_conversation();
        GenerationRequest request;
        request.n_predict = 3;
        if (!generator.generate(request, [](const GeneratedToken&, void*) { return true; }, nullptr)) __builtin_trap();
        valid.resize(generator.state_bytes());
        if (!generator.save_state(valid.data(), valid.size())) __builtin_trap();
    }

    // A known conversation: 5 prompt tokens.
    void reset_conversation() {
        generator.reset();
        const int32_t prompt[] = {1, 2, 3, 4, 5};
        if (!generator.prompt(prompt, 5)) __builtin_trap();
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace tinyllm;
    static Fixture f;
    if (size == 0) return 0;
    std::vector<uint8_t> state;
    if (data[0] % 2 == 0) {
        state.assign(data + 1, data + size);
    } else {
        state = f.valid;
        size_t i = 1;
        if (size >= 3 && data[1] == 0xff) {  // cut it short first
            state.resize(size_t(data[2]) * state.size() / 256);
            i = 3;
        }
        for (; i + 2 < size && !state.empty(); i += 3) state[(size_t(data[i]) << 8 | data[i + 1]) % state.size()] = data[i + 2];
    }
    f.reset_conversation();
    Status st = f.generator.load_state(state.data(), state.size());
    if (!st) {
        if (!st.detail[0] || f.generator.n_tokens() != 5) __builtin_trap();  // refused: named, nothing changed
        return 0;
    }
    if (f.generator.n_tokens() > f.generator.model().n_ctx() + 1) __builtin_trap();
    GenerationRequest request;
    request.n_predict = 2;
    f.generator.generate(request, [](const GeneratedToken& t, void*) { return t.id < 64; }, nullptr);
    return 0;
}
