// The generation loop: end-of-generation tokens, stop strings held back from the text,
// UTF-8-safe streaming, feeding the sampled token back, truncation and a full context, over a
// scripted model whose next token is fixed in advance.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include "../examples/random_model.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/text/tokenizer.hpp"

using namespace tinyllm;

namespace {

// A model that answers the script: after the prompt, the k-th next token is script[k].
class ScriptedModel final : public LanguageModel {
public:
    ScriptedModel(int n_vocab, int n_ctx, std::vector<int32_t> script) : n_vocab_(n_vocab), n_ctx_(n_ctx), script_(std::move(script)) {}

    Status eval(const int32_t* tokens, int n, float* logits, bool all_logits) override {
        REQUIRE_FALSE(all_logits);
        if (n_past_ + n > n_ctx_) return Status::fail(Error::context_full, "scripted context");
        fed.insert(fed.end(), tokens, tokens + n);
        n_past_ += n;
        if (prompt_len < 0) prompt_len = n_past_;
        std::fill(logits, logits + n_vocab_, 0.0f);
        const size_t k = size_t(n_past_ - prompt_len);
        logits[k < script_.size() ? script_[k] : 0] = 10.0f;
        return Status{};
    }
    Status truncate(int n) override {
        if (n > n_past_) return Status::fail(Error::invalid_argument, "truncate");
        n_past_ = n;
        fed.resize(size_t(n));
        return Status{};
    }
    int n_past() const override { return n_past_; }
    int n_ctx() const override { return n_ctx_; }
    int n_vocab() const override { return n_vocab_; }
    // Saved states are the real models' business (test_state.cpp).
    size_t state_bytes() const override { return 0; }
    Result<size_t> save_state(uint8_t*, size_t) const override { return Status::fail(Error::unsupported_op, "scripted model"); }
    Status load_state(const uint8_t*, size_t) override { return Status::fail(Error::unsupported_op, "scripted model"); }

    std::vector<int32_t> fed;
    int prompt_len = -1;

private:
    int n_vocab_, n_ctx_, n_past_ = 0;
    std::vector<int32_t> script_;
};

// The ChatML byte-level vocabulary of random_model.hpp: <|im_end|> = 0, byte b = 3 + b.
struct Vocabulary {
    std::vector<uint8_t> file_bytes, memory = std::vector<uint8_t>(1 << 20);
    GgufIndex index;
    TokenText text;
    Vocabulary() {
        RandomModelShape shape;
        shape.vocabulary = "chatml";
        gguf::Writer w;
        add_random_vocabulary(shape, w);
        file_bytes = w.bytes();
        REQUIRE(index.parse({file_bytes.data(), file_bytes.size()}).ok());
        Arena arena(memory.data(), memory.size());
        REQUIRE(text.init(index.file, arena).ok());
    }
};
int32_t byte_id(char c) { return 3 + int32_t(uint8_t(c)); }
std::vector<int32_t> byte_ids(const std::string& s) {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(byte_id(c));
    return ids;
}

struct Run {
    std::vector<int32_t> ids;
    std::vector<std::string> pieces;  // the text of each callback, in order
    std::string text;
};
bool record(const GeneratedToken& t, void* user) {
    Run& r = *static_cast<Run*>(user);
    if (t.id != GeneratedToken::no_token) r.ids.push_back(t.id);
    r.pieces.emplace_back(t.text, t.text_len);
    r.text.append(t.text, t.text_len);
    return true;
}

struct Fixture {
    Vocabulary vocabulary;
    ScriptedModel model;
    std::vector<uint8_t> memory;
    Generator generator;
    Fixture(std::vector<int32_t> script, int n_ctx = 64) : model(vocabulary.text.n_vocab(), n_ctx, std::move(script)) {
        SamplerConfig greedy;
        greedy.temperature = 0.0f;
        memory.resize(Generator::required_bytes(model.n_vocab(), vocabulary.text.max_token_bytes()));
        Arena arena(memory.data(), memory.size());
        REQUIRE(generator.init(model, &vocabulary.text, greedy, arena).ok());
    }
    Run run(int n_predict, std::vector<StrView> stop = {}) {
        const int32_t prompt[] = {1, byte_id('q')};
        REQUIRE(generator.prompt(prompt, 2).ok());
        GenerationRequest request;
        request.n_predict = n_predict;
        request.stop = stop.data();
        request.n_stop = int(stop.size());
        Run r;
        REQUIRE(generator.generate(request, record, &r).ok());
        return r;
    }
};

} // namespace

TEST_CASE("Generation stops at an end-of-turn token and feeds it back before the next prompt") {
    Fixture f({byte_id('H'), byte_id('i'), 0, byte_id('x')});
    Run r = f.run(10);
    CHECK(r.ids == std::vector<int32_t>{byte_id('H'), byte_id('i')});
    CHECK(r.text == "Hi");
    CHECK(f.generator.stats().reason == StopReason::end_of_generation);
    CHECK(f.generator.stats().n_generated == 2);
    // H and i were fed back; <|im_end|> waits to go in with whatever comes next.
    CHECK(f.model.fed == std::vector<int32_t>{1, byte_id('q'), byte_id('H'), byte_id('i')});
    CHECK(f.generator.n_tokens() == 5);
    const int32_t next[] = {byte_id('\n')};
    REQUIRE(f.generator.prompt(next, 1).ok());
    CHECK(f.model.fed == std::vector<int32_t>{1, byte_id('q'), byte_id('H'), byte_id('i'), 0, byte_id('\n')});
}

TEST_CASE("A stop string ends generation and is never part of the text") {
    Fixture f(byte_ids("Hello, world"));
    Run r = f.run(20, {StrView("lo, w")});
    CHECK(f.generator.stats().reason == StopReason::stop_string);
    CHECK(r.text == "Hel");
    CHECK(r.ids.size() == 8);  // H e l l o , ' ' w: the token completing the stop string is reported, its text not
    // Each "l" could begin the stop string: it is released only once the next byte rules that out.
    CHECK(r.pieces[0] == "H");
    CHECK(r.pieces[1] == "e");
    CHECK(r.pieces[2].empty());
    CHECK(r.pieces[3] == "l");
}

TEST_CASE("Of several stop strings the earliest in the text wins") {
    Fixture f(byte_ids("abcdef"));
    Run r = f.run(6, {StrView("c"), StrView("bc")});  // both complete with the same token
    CHECK(f.generator.stats().reason == StopReason::stop_string);
    CHECK(r.text == "a");
}

TEST_CASE("Text held for a stop string that never completes is released at the end") {
    Fixture f(byte_ids("abc"));
    Run r = f.run(3, {StrView("cd")});
    CHECK(f.generator.stats().reason == StopReason::token_budget);
    CHECK(r.text == "abc");
    CHECK(r.pieces.back() == "c");  // the final call, with no token
    CHECK(r.ids.size() == 3);
}

TEST_CASE("Multi-byte characters stream only when complete") {
    Fixture f({3 + 0xE4, 3 + 0xBD, 3 + 0xA0, byte_id('!')});  // U+4F60 byte by byte
    Run r = f.run(4);
    CHECK(r.pieces[0].empty());
    CHECK(r.pieces[1].empty());
    CHECK(r.pieces[2] == "\xe4\xbd\xa0");
    CHECK(r.text == "\xe4\xbd\xa0!");
}

TEST_CASE("Truncation rewinds the cache; a full context stops generation") {
    Fixture f(byte_ids("abcdefghijklmnop"), 8);
    Run r = f.run(100);
    CHECK(f.generator.stats().reason == StopReason::context_full);
    CHECK(f.model.n_past() == 8);
    CHECK(r.ids.size() == 7);  // 2 prompt tokens + 6 fed back fill 8; the 7th waits
    REQUIRE(f.generator.truncate(2).ok());
    CHECK(f.generator.n_tokens() == 2);
    CHECK(f.generator.truncate(5).code == Error::invalid_argument);
    const int32_t more[] = {byte_id('z')};
    REQUIRE(f.generator.prompt(more, 1).ok());
    CHECK(f.model.fed == std::vector<int32_t>{1, byte_id('q'), byte_id('z')});
}

TEST_CASE("Stop strings longer than the generator holds, and empty ones, are refused by name") {
    Fixture f(byte_ids("abc"));
    const int32_t prompt[] = {1};
    REQUIRE(f.generator.prompt(prompt, 1).ok());
    const std::string long_stop(100, 'x');
    const StrView stops[] = {StrView(long_stop.data(), long_stop.size())};
    GenerationRequest request;
    request.stop = stops;
    request.n_stop = 1;
    Run r;
    Status st = f.generator.generate(request, record, &r);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("stop string of 100 bytes") != std::string::npos);
}

TEST_CASE("The detokenizer spells byte-level and SentencePiece vocabularies as the host tokenizer does") {
    Vocabulary v;
    Tokenizer tokenizer;
    REQUIRE(tokenizer.load(v.index.file).ok());
    char buf[64];
    for (int32_t id = 0; id < v.text.n_vocab(); ++id)
        REQUIRE(std::string(buf, v.text.bytes(id, buf, sizeof buf)) == tokenizer.token_piece(id));
    CHECK(v.text.is_end_of_generation(0));   // <|im_end|>
    CHECK(v.text.is_end_of_generation(2));   // <|endoftext|>, the EOS
    CHECK_FALSE(v.text.is_end_of_generation(1));  // <|im_start|>
}
