// Tokenizer tests: llama.cpp's vocab-test suites must give identical ids, text must round-trip,
// streaming must never split a UTF-8 character.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include "gguf_model_file.hpp"
#include "gguf_writer.hpp"
#include "tinyllm/tokenizer.hpp"

using namespace tinyllm;
using test_support::shared_path;

namespace {

struct LoadedTokenizer {
    GgufModelFile file;
    Tokenizer tok;
    bool load(const std::string& rel) {
        if (!test_support::require_shared(rel)) return false;
        Status st = file.open(shared_path(rel));
        REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
        st = tok.load(file.gguf);
        REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
        return true;
    }
};

std::vector<std::string> split_cases(const std::string& all) {
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> cases;
    size_t pos = 0;
    for (size_t end; (end = all.find(sep, pos)) != std::string::npos; pos = end + sep.size())
        cases.push_back(all.substr(pos, end - pos));
    return cases;  // the file ends with a separator: no case after it
}

void check_suite(const std::string& gguf, const std::string& inp, const std::string& out) {
    LoadedTokenizer t;
    if (!t.load(gguf)) return;
    std::vector<std::string> cases = split_cases(test_support::read_text(shared_path(inp)));
    std::istringstream expected(test_support::read_text(shared_path(out)));
    int matched = 0, round_trips = 0;
    std::string line;
    for (const std::string& text : cases) {
        REQUIRE(std::getline(expected, line));
        std::vector<int32_t> ids = t.tok.encode(text, false, false);
        std::string got;
        for (int32_t id : ids) got += " " + std::to_string(id);
        if (got == line) ++matched;
        else MESSAGE("mismatch for [", text, "]\n  expected:", line, "\n  got:     ", got);
        std::string decoded;
        for (int32_t id : ids) decoded += t.tok.token_piece(id);
        // SentencePiece adds one leading space (the dummy prefix) to non-empty text.
        if (decoded == (text.empty() ? "" : " " + text)) ++round_trips;
        else MESSAGE("round trip failed for [", text, "]: [", decoded, "]");
    }
    MESSAGE(gguf, ": ", matched, "/", cases.size(), " identical");
    CHECK(matched == int(cases.size()));
    CHECK(round_trips == int(cases.size()));
}

} // namespace

TEST_CASE("SentencePiece suites give llama.cpp's ids: llama-spm") {
    check_suite("fixtures/vocab/ggml-vocab-llama-spm.gguf", "fixtures/vocab/ggml-vocab-llama-spm.gguf.inp",
                "fixtures/vocab/ggml-vocab-llama-spm.gguf.out");
}

TEST_CASE("SentencePiece suites give llama.cpp's ids: phi-3") {
    check_suite("fixtures/vocab/ggml-vocab-phi-3.gguf", "fixtures/vocab/ggml-vocab-phi-3.gguf.inp",
                "fixtures/vocab/ggml-vocab-phi-3.gguf.out");
}

TEST_CASE("SentencePiece suites give llama.cpp's ids: shakespeare5m") {
    check_suite("models/shakespeare5m-f16.gguf", "models/shakespeare5m.vocab-test.inp", "models/shakespeare5m.vocab-test.out");
}

TEST_CASE("the demo prompt encodes, with BOS, to the PyTorch reference prompt") {
    LoadedTokenizer t;
    if (!t.load("models/shakespeare5m-f16.gguf")) return;
    std::vector<int> expected = test_support::json_int_array(
        test_support::read_text(shared_path("models/shakespeare5m.torch.json")), "prompt");
    std::vector<int32_t> ids = t.tok.encode("ROMEO:\nBut soft, what light", true, false);
    CHECK(std::vector<int>(ids.begin(), ids.end()) == expected);
    CHECK(ids.front() == t.tok.bos_id());
}

TEST_CASE("byte fallback covers characters the vocabulary lacks, and streams whole characters") {
    LoadedTokenizer t;
    if (!t.load("models/shakespeare5m-f16.gguf")) return;
    const std::string text = "caf\xc3\xa9 \xf0\x9f\x99\x82!";  // é (2 bytes) and an emoji (4 bytes)
    std::vector<int32_t> ids = t.tok.encode(text, false, false);
    StreamDecoder stream(t.tok);
    std::string streamed;
    for (int32_t id : ids) {
        std::string piece = stream.push(id);
        // Every emitted piece is valid UTF-8 on its own: it never ends inside a character.
        if (!piece.empty()) {
            unsigned char last_lead = 0;
            size_t i = piece.size();
            while (i > 0 && (static_cast<unsigned char>(piece[i - 1]) & 0xc0) == 0x80) --i;
            REQUIRE(i > 0);
            last_lead = static_cast<unsigned char>(piece[i - 1]);
            size_t need = last_lead >= 0xf0 ? 4 : last_lead >= 0xe0 ? 3 : last_lead >= 0xc0 ? 2 : 1;
            CHECK(piece.size() - (i - 1) == need);
        }
        streamed += piece;
    }
    streamed += stream.flush();
    CHECK(streamed == " " + text);
}

TEST_CASE("tokenizer metadata errors are named") {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "bert");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    std::vector<uint8_t> bytes = w.bytes();
    std::vector<uint8_t> mem(gguf::index_bytes({bytes.data(), bytes.size()}) + 64);
    Arena arena(mem.data(), mem.size());
    gguf::File f;
    REQUIRE(gguf::parse({bytes.data(), bytes.size()}, arena, f).ok());
    Tokenizer tok;
    Status st = tok.load(f);
    CHECK(st.code == Error::unsupported_type);
    CHECK(std::string(st.detail).find("bert") != std::string::npos);
}
