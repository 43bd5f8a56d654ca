// A build that keeps only some weight types (TINYLLM_WEIGHT_TYPES, here F32 and Q8_0, as
// firmware sets it): models in those types run as in the full build; a model with another type
// is refused when opened, naming the tensor, its type and the build option.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include "tinyllm/engine.hpp"

using namespace tinyllm;

namespace {
bool collect(const GeneratedToken& token, void* user) {
    if (token.id != GeneratedToken::no_token) static_cast<std::vector<int32_t>*>(user)->push_back(token.id);
    return true;
}

struct Opened {
    std::vector<uint8_t> model, arena;
    Engine engine;
    Status status;
    explicit Opened(const std::string& rel) : model(test_support::read_bytes(test_support::shared_path(rel))) {
        EngineOptions options;
        options.n_ctx = 64;
        options.sampling.temperature = 0.0f;
        Result<size_t> need = Engine::required_arena_bytes({model.data(), model.size()}, options);
        REQUIRE(need.ok());
        arena.resize(*need);
        status = engine.open({model.data(), model.size()}, arena.data(), arena.size(), options);
    }
};
} // namespace

TEST_CASE("only the listed weight types are computed") {
    static_assert(weight_type_built(GgmlType::F32) && weight_type_built(GgmlType::Q8_0));
    static_assert(!weight_type_built(GgmlType::Q4_0) && !weight_type_built(GgmlType::Q6_K) && !weight_type_built(GgmlType::TINYLLM_INT4));
    CHECK(is_supported_weight_type(GgmlType::Q8_0));
    CHECK_FALSE(is_supported_weight_type(GgmlType::Q4_0));
    CHECK_FALSE(is_supported_weight_type(GgmlType::TINYLLM_INT4));
    CHECK(built_groupwise_bits(GgmlType::TINYLLM_INT8) == 0);
    // Errors tell a type this build leaves out from one tinyllm has no kernels for.
    CHECK(weight_type_has_kernels(GgmlType::Q4_0));
    CHECK(weight_type_has_kernels(GgmlType::TINYLLM_INT4));
    CHECK_FALSE(weight_type_has_kernels(GgmlType::IQ2_XXS));
}

TEST_CASE("a model in the kept types gives the full build's ids") {
    if (!test_support::require_shared("fixtures/gguf/stories260K-f32.gguf")) return;
    Opened m("fixtures/gguf/stories260K-f32.gguf");
    REQUIRE_MESSAGE(m.status.ok(), std::string(m.status.detail));
    std::vector<int> expected = test_support::json_int_array(
        test_support::read_text(test_support::shared_path("fixtures/gguf/stories260K-f32.ref.json")), "greedy");
    expected.resize(32);
    const int32_t prompt[] = {1, 403, 407, 261, 378, 275, 289, 268};
    std::vector<int32_t> ids;
    REQUIRE(m.engine.generate(prompt, 8, 32, collect, &ids).ok());
    CHECK(std::vector<int>(ids.begin(), ids.end()) == expected);
}

TEST_CASE("a model with a type left out is refused by name when opened") {
    if (!test_support::require_shared("models/shakespeare5m-q4_0.gguf")) return;
    Opened m("models/shakespeare5m-q4_0.gguf");
    CHECK(m.status.code == Error::unsupported_type);
    const std::string detail = m.status.detail;
    CHECK_MESSAGE(detail.find("which this build leaves out (TINYLLM_WEIGHT_TYPES)") != std::string::npos, detail);
    CHECK_MESSAGE((detail.find("has type Q6_K") != std::string::npos || detail.find("has type Q4_0") != std::string::npos), detail);
}
