// The embedding API on the host: same calls as the firmware, one arena, ids via callback.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <random>

#include "../examples/random_model.hpp"
#include "tinyllm/engine.hpp"
#include "tinyllm/text/token_text.hpp"

using namespace tinyllm;

namespace {
bool collect(const GeneratedToken& token, void* user) {
    if (token.id != GeneratedToken::no_token) static_cast<std::vector<int32_t>*>(user)->push_back(token.id);
    return true;
}
} // namespace

TEST_CASE("Engine runs a model from a memory span with one arena") {
    if (!test_support::require_shared("fixtures/gguf/stories260K-f32.gguf")) return;
    std::vector<uint8_t> model = test_support::read_bytes(test_support::shared_path("fixtures/gguf/stories260K-f32.gguf"));
    std::vector<int> expected = test_support::json_int_array(
        test_support::read_text(test_support::shared_path("fixtures/gguf/stories260K-f32.ref.json")), "greedy");
    expected.resize(32);

    EngineOptions options;
    options.n_ctx = 64;
    options.n_batch = 8;
    options.sampling.temperature = 0.0f;
    Result<size_t> need = Engine::required_arena_bytes({model.data(), model.size()}, options);
    REQUIRE(need.ok());
    CHECK(*need < 200000);  // index, layer table, vocabulary, KV cache of 64 tokens, scratch, sampler
    std::vector<uint8_t> arena(*need);
    Engine engine;
    REQUIRE(engine.open({model.data(), model.size()}, arena.data(), arena.size(), options).ok());
    CHECK(engine.arena_used() <= *need);
    const int32_t prompt[] = {1, 403, 407, 261, 378, 275, 289, 268};
    std::vector<int32_t> ids;
    REQUIRE(engine.generate(prompt, 8, 32, collect, &ids).ok());
    CHECK(std::vector<int>(ids.begin(), ids.end()) == expected);

    // Text of a token without the standard library.
    const TokenText* text = engine.vocabulary();
    REQUIRE(text);
    char buf[16];
    CHECK(std::string(buf, text->bytes(1, buf, sizeof buf)).empty());        // <s>: control
    CHECK(std::string(buf, text->bytes(3 + 'A', buf, sizeof buf)) == "A");   // byte token <0x41>
}

TEST_CASE("Engine names a too-small arena and the bytes it needs") {
    if (!test_support::require_shared("fixtures/gguf/stories260K-f32.gguf")) return;
    std::vector<uint8_t> model = test_support::read_bytes(test_support::shared_path("fixtures/gguf/stories260K-f32.gguf"));
    std::vector<uint8_t> arena(32 * 1024);
    EngineOptions options;
    options.n_ctx = 256;
    options.n_batch = 8;
    Engine engine;
    Status st = engine.open({model.data(), model.size()}, arena.data(), arena.size(), options);
    CHECK(st.code == Error::out_of_memory);
    Result<size_t> need = Engine::required_arena_bytes({model.data(), model.size()}, options);
    REQUIRE(need.ok());
    CHECK(std::string(st.detail).find(std::to_string(*need)) != std::string::npos);
    std::vector<uint8_t> tiny(256);
    Engine e2;
    CHECK(e2.open({model.data(), model.size()}, tiny.data(), tiny.size(), options).code == Error::out_of_memory);
}

namespace {
struct Text {
    std::string text;
    int tokens = 0;
};
bool append_text(const GeneratedToken& token, void* user) {
    Text& t = *static_cast<Text*>(user);
    t.text.append(token.text, token.text_len);
    if (token.id != GeneratedToken::no_token) ++t.tokens;
    return true;
}
Text engine_text(const std::vector<uint8_t>& model, EngineOptions options, const std::vector<int32_t>& prompt, int n_predict,
                 StopReason& reason) {
    Result<size_t> need = Engine::required_arena_bytes({model.data(), model.size()}, options);
    REQUIRE(need.ok());
    std::vector<uint8_t> arena(*need);
    Engine engine;
    REQUIRE(engine.open({model.data(), model.size()}, arena.data(), arena.size(), options).ok());
    Text out;
    REQUIRE(engine.generate(prompt.data(), int(prompt.size()), n_predict, append_text, &out).ok());
    reason = engine.generator().stats().reason;
    return out;
}
} // namespace

TEST_CASE("Engine stops at a stop string and never hands it out") {
    const std::string path = "models/shakespeare5m-q8_0.gguf";
    if (!test_support::require_shared(path)) return;
    std::vector<uint8_t> model = test_support::read_bytes(test_support::shared_path(path));
    EngineOptions options;
    options.n_ctx = 128;
    options.sampling.temperature = 0.0f;
    const std::vector<int32_t> prompt = {1, 403, 407, 261};
    StopReason reason;
    const Text full = engine_text(model, options, prompt, 48, reason);
    CHECK(reason == StopReason::token_budget);
    REQUIRE(full.text.size() > 12);
    const std::string stop = full.text.substr(8, 4);  // a piece of the greedy text
    const StrView stops[] = {StrView(stop.data(), stop.size())};
    options.stop = stops;
    options.n_stop = 1;
    const Text cut = engine_text(model, options, prompt, 48, reason);
    CHECK(reason == StopReason::stop_string);
    CHECK(cut.text == full.text.substr(0, full.text.find(stop)));
}

TEST_CASE("Engine stops at the vocabulary's end-of-turn token") {
    RandomModelShape shape;  // greedy always picks id 0, <|im_end|>
    shape.vocabulary = "chatml";
    shape.zero_output = true;
    const std::vector<uint8_t> model = random_model_gguf(shape);
    EngineOptions options;
    options.n_ctx = 64;
    options.sampling.temperature = 0.0f;
    StopReason reason;
    const Text out = engine_text(model, options, {1, 300, 301}, 16, reason);
    CHECK(reason == StopReason::end_of_generation);
    CHECK(out.tokens == 0);
}

TEST_CASE("Engine sizing and opening survive truncated and corrupted models with a named error") {
    if (!test_support::require_shared("fixtures/gguf/stories260K-f32.gguf")) return;
    const std::vector<uint8_t> model = test_support::read_bytes(test_support::shared_path("fixtures/gguf/stories260K-f32.gguf"));
    EngineOptions options;
    options.n_ctx = 32;
    auto try_open = [&](const std::vector<uint8_t>& bytes) {
        Result<size_t> need = Engine::required_arena_bytes({bytes.data(), bytes.size()}, options);
        if (!need) {
            CHECK(need.status.detail[0] != 0);
            return;
        }
        if (*need > (size_t(64) << 20)) return;  // an absurd size: nothing to open
        std::vector<uint8_t> arena(*need);
        Engine engine;
        Status st = engine.open({bytes.data(), bytes.size()}, arena.data(), arena.size(), options);
        if (!st) CHECK(st.detail[0] != 0);
    };
    for (size_t len = 0; len < model.size(); len += len < 4096 ? 61 : 40009) try_open(std::vector<uint8_t>(model.begin(), model.begin() + long(len)));
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) {
        std::vector<uint8_t> bytes = model;
        const size_t header = 40000;  // metadata and tensor table: where a flipped byte changes structure
        for (int k = 0; k < 4; ++k) bytes[rng() % header] = uint8_t(rng());
        try_open(bytes);
    }
}
