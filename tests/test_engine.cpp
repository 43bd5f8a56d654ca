// The embedding API on the host: same calls as the firmware, one arena, ids via callback.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

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
