// Saved conversation states: a session's (or one sequence's) cache saved to a buffer and
// restored into a fresh session continues with bit-identical logits; a generator restored the
// same way samples the same tokens as an uninterrupted run; a .pte program's state likewise.
// States that do not belong (another model, too long for the context, cut short, bits
// flipped, not a state at all) are refused by name and change nothing.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <random>

#include "../examples/random_model.hpp"
#include "model_support.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/pte/llm_program.hpp"

using namespace tinyllm;
using test_support::LoadedFile;
using test_support::SessionMemory;
using test_support::shared_path;

namespace {

std::vector<int32_t> random_tokens(int n, int n_vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back(int32_t(rng() % uint32_t(n_vocab)));
    return ids;
}

std::vector<uint8_t> save(const Session& s, int seq) {
    std::vector<uint8_t> state(s.state_bytes(seq));
    Result<size_t> n = s.save_state(seq, state.data(), state.size());
    REQUIRE_MESSAGE(n.ok(), n.status.detail);
    CHECK(*n == state.size());
    return state;
}

// Logits of `tokens` fed one per call after what sequence seq holds.
std::vector<float> continue_with(Session& s, int seq, const std::vector<int32_t>& tokens) {
    const size_t V = size_t(s.n_vocab());
    std::vector<float> logits(tokens.size() * V);
    for (size_t i = 0; i < tokens.size(); ++i) {
        BatchToken t{tokens[i], seq, true};
        REQUIRE(s.decode(&t, 1, logits.data() + i * V).ok());
    }
    return logits;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

TEST_CASE("A sequence's saved state continues bit-identically in a fresh session, in any sequence slot") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    LoadedFile f("models/shakespeare5m-q8_0.gguf");
    const int V = f.model.config.n_vocab;
    const std::vector<int32_t> prompt = random_tokens(23, V, 1), more = random_tokens(9, V, 2);

    SessionMemory original(f.model, 64, 16, 2);
    std::vector<float> prompt_logits(prompt.size() * size_t(V));
    std::vector<BatchToken> batch;
    for (int32_t id : prompt) batch.push_back(BatchToken{id, 1, false});
    REQUIRE(original.session.decode(batch.data(), int(batch.size()), nullptr).ok());
    const std::vector<uint8_t> state = save(original.session, 1);
    CHECK(state.size() == state::Header::bytes + size_t(f.model.config.n_layer) * 2 * prompt.size() * size_t(f.model.config.kv_dim()) * 2);
    const std::vector<float> expected = continue_with(original.session, 1, more);

    // A larger context, a different slot: the same bits.
    SessionMemory restored(f.model, 128, 16, 3);
    REQUIRE(restored.session.load_state(2, state.data(), state.size()).ok());
    CHECK(restored.session.n_past(2) == int(prompt.size()));
    CHECK(restored.session.n_past(0) == 0);
    CHECK(same_bits(continue_with(restored.session, 2, more), expected));

    // The LanguageModel calls are sequence 0 of a one-sequence session.
    SessionMemory single(f.model, 64, 16);
    REQUIRE(single.session.load_state(state.data(), state.size()).ok());
    CHECK(single.session.n_past() == int(prompt.size()));
    CHECK(same_bits(continue_with(single.session, 0, more), expected));

    // An empty sequence saves and restores too.
    SessionMemory empty(f.model, 64, 16);
    const std::vector<uint8_t> nothing = save(empty.session, 0);
    CHECK(nothing.size() == state::Header::bytes);
    REQUIRE(single.session.load_state(nothing.data(), nothing.size()).ok());
    CHECK(single.session.n_past() == 0);
}

TEST_CASE("A state of a model whose layers differ in width (OpenELM) restores bit-identically") {
    RandomModelShape shape;
    REQUIRE(parse_random_model_options({"--arch", "openelm", "--vocab", "300", "--embd", "128", "--head-dim", "32", "--layers", "3",
                                        "--layer-heads", "2,4,6", "--layer-kv-heads", "1,4,2", "--layer-ff", "128,192,256", "--type", "q8_0"},
                                       shape).empty());
    test_support::InMemoryModel loaded(random_model_gguf(shape));
    const Model& m = loaded.model;
    const std::vector<int32_t> prompt = random_tokens(13, 300, 3), more = random_tokens(6, 300, 4);
    SessionMemory original(m, 32, 8, 2);
    std::vector<BatchToken> batch;
    for (int32_t id : prompt) batch.push_back(BatchToken{id, 1, false});
    REQUIRE(original.session.decode(batch.data(), int(batch.size()), nullptr).ok());
    const std::vector<uint8_t> state = save(original.session, 1);
    // Keys and values of each layer at its own width: (1 + 4 + 2) heads of 32.
    CHECK(state.size() == state::Header::bytes + 2 * prompt.size() * size_t((1 + 4 + 2) * 32) * 2);
    const std::vector<float> expected = continue_with(original.session, 1, more);
    SessionMemory restored(m, 48, 8, 3);
    REQUIRE(restored.session.load_state(0, state.data(), state.size()).ok());
    CHECK(same_bits(continue_with(restored.session, 0, more), expected));
}

TEST_CASE("States that do not belong are refused by name and change nothing") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    LoadedFile q8("models/shakespeare5m-q8_0.gguf"), q4("models/shakespeare5m-q4_0.gguf");
    const std::vector<int32_t> prompt = random_tokens(20, q8.model.config.n_vocab, 3);
    SessionMemory source(q8.model, 64, 16);
    REQUIRE(source.session.eval(prompt.data(), int(prompt.size()), nullptr, false).ok());
    const std::vector<uint8_t> state = save(source.session, 0);

    SessionMemory target(q8.model, 64, 16);
    const std::vector<int32_t> held = random_tokens(5, q8.model.config.n_vocab, 4);
    REQUIRE(target.session.eval(held.data(), int(held.size()), nullptr, false).ok());
    auto refused = [&](Session& s, std::vector<uint8_t> bytes, Error code, const char* words) {
        const int before = s.n_past();
        Status st = s.load_state(bytes.data(), bytes.size());
        CHECK(st.code == code);
        CHECK_MESSAGE(std::strstr(st.detail, words) != nullptr, st.detail);
        CHECK(s.n_past() == before);
    };
    std::vector<uint8_t> bad = state;
    bad.pop_back();
    refused(target.session, bad, Error::truncated, "payload bytes");
    refused(target.session, std::vector<uint8_t>(state.begin(), state.begin() + 20), Error::truncated, "header");
    bad = state;
    bad[bad.size() / 2] ^= 0x10;
    refused(target.session, bad, Error::corrupt, "checksum");
    bad = state;
    bad[0] = 'X';
    refused(target.session, bad, Error::bad_magic, "not a tinyllm saved state");
    bad = state;
    bad[4] = 9;
    refused(target.session, bad, Error::unsupported_version, "version 9");
    bad = state;
    bad[24] = 19;  // the header's token count: the payload is for 20
    refused(target.session, bad, Error::corrupt, "19 tokens need");

    SessionMemory other_model(q4.model, 64, 16);
    REQUIRE(other_model.session.eval(held.data(), int(held.size()), nullptr, false).ok());
    refused(other_model.session, state, Error::shape_mismatch, "another model");
    SessionMemory small(q8.model, 16, 16);
    refused(small.session, state, Error::context_full, "room for 16");

    // A buffer too small to save into, and a sequence that does not exist.
    std::vector<uint8_t> room(state.size() - 1);
    Result<size_t> saved = source.session.save_state(0, room.data(), room.size());
    CHECK(saved.status.code == Error::out_of_memory);
    CHECK(source.session.save_state(1, room.data(), room.size()).status.code == Error::invalid_argument);
    CHECK(source.session.load_state(-1, state.data(), state.size()).code == Error::invalid_argument);
}

namespace {

struct GeneratorOn {
    SessionMemory memory;
    std::vector<uint8_t> generator_memory;
    Generator generator;
    GeneratorOn(const Model& m, const SamplerConfig& sampling) : memory(m, 96, 16), generator_memory(Generator::required_bytes(m.config.n_vocab, 0)) {
        Arena arena(generator_memory.data(), generator_memory.size());
        REQUIRE(generator.init(memory.session, nullptr, sampling, arena).ok());
    }
    std::vector<int32_t> generate(int n) {
        GenerationRequest request;
        request.n_predict = n;
        std::vector<int32_t> ids;
        REQUIRE(generator.begin(request).ok());
        GeneratedToken t;
        for (Result<bool> more = generator.step(t); more.ok() && *more; more = generator.step(t)) ids.push_back(t.id);
        return ids;
    }
};

} // namespace

TEST_CASE("A generator restored into a fresh session samples what the uninterrupted one does") {
    if (!test_support::require_shared("models/shakespeare5m-q4_0.gguf")) return;
    LoadedFile f("models/shakespeare5m-q4_0.gguf");
    SamplerConfig sampling;
    sampling.temperature = 0.9f;
    sampling.repeat_penalty = 1.3f;
    sampling.seed = 77;
    const std::vector<int32_t> prompt = random_tokens(12, f.model.config.n_vocab, 5);

    GeneratorOn whole(f.model, sampling);
    REQUIRE(whole.generator.prompt(prompt.data(), int(prompt.size())).ok());
    std::vector<int32_t> expected = whole.generate(10);
    const std::vector<int32_t> rest = whole.generate(14);
    expected.insert(expected.end(), rest.begin(), rest.end());
    REQUIRE(expected.size() == 24);

    GeneratorOn first(f.model, sampling);
    REQUIRE(first.generator.prompt(prompt.data(), int(prompt.size())).ok());
    std::vector<int32_t> ids = first.generate(10);
    std::vector<uint8_t> state(first.generator.state_bytes());
    REQUIRE(first.generator.save_state(state.data(), state.size()).ok());

    GeneratorOn second(f.model, sampling);
    REQUIRE(second.generator.load_state(state.data(), state.size()).ok());
    CHECK(second.generator.n_tokens() == first.generator.n_tokens());
    const std::vector<int32_t> continued = second.generate(14);
    ids.insert(ids.end(), continued.begin(), continued.end());
    CHECK(ids == expected);

    // The generator's own part is checked too: a flipped bit in it changes nothing.
    std::vector<uint8_t> bad = state;
    bad[bad.size() - 20] ^= 1;
    GeneratorOn third(f.model, sampling);
    REQUIRE(third.generator.prompt(prompt.data(), 5).ok());
    Status st = third.generator.load_state(bad.data(), bad.size());
    CHECK(st.code == Error::corrupt);
    CHECK(third.generator.n_tokens() == 5);
    CHECK(third.generator.state_tokens(bad.data(), bad.size()).status.code == Error::corrupt);
    CHECK(*third.generator.state_tokens(state.data(), state.size()) == first.generator.n_tokens());
}

TEST_CASE("A .pte program's state restores into the same program and nowhere else") {
    if (!test_support::require_shared("models/shakespeare5m_fp32_kv.pte")) return;
    const std::vector<uint8_t> bytes = test_support::read_bytes(shared_path("models/shakespeare5m_fp32_kv.pte"));
    Result<pte::Program> program = pte::open_program(ByteSpan{bytes.data(), bytes.size()});
    REQUIRE(program.ok());
    struct Instance {
        std::vector<uint8_t> memory;
        Arena arena;
        pte::LlmProgram llm;
        explicit Instance(const pte::Program& p) : memory(*pte::LlmProgram::required_bytes(p)), arena(memory.data(), memory.size()) {
            REQUIRE(llm.init(p, arena).ok());
        }
    };
    Instance a(*program), b(*program);
    const std::vector<int32_t> prompt = random_tokens(7, a.llm.n_vocab(), 6), more = random_tokens(4, a.llm.n_vocab(), 7);
    REQUIRE(a.llm.eval(prompt.data(), int(prompt.size()), nullptr, false).ok());
    std::vector<uint8_t> state(a.llm.state_bytes());
    REQUIRE(a.llm.save_state(state.data(), state.size()).ok());
    std::vector<float> expected(more.size() * size_t(a.llm.n_vocab())), got(expected.size());
    REQUIRE(a.llm.eval(more.data(), int(more.size()), expected.data(), true).ok());
    REQUIRE(b.llm.load_state(state.data(), state.size()).ok());
    CHECK(b.llm.n_past() == int(prompt.size()));
    REQUIRE(b.llm.eval(more.data(), int(more.size()), got.data(), true).ok());
    CHECK(same_bits(got, expected));

    // A GGUF session's state is not a program's, and the other way round.
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    LoadedFile f("models/shakespeare5m-q8_0.gguf");
    SessionMemory s(f.model, 64, 16);
    Status st = s.session.load_state(state.data(), state.size());
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::strstr(st.detail, ".pte program") != nullptr);
    const std::vector<uint8_t> session_state = save(s.session, 0);
    CHECK(b.llm.load_state(session_state.data(), session_state.size()).code == Error::shape_mismatch);
}
