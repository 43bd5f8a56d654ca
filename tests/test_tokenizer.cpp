// Tokenizer tests: llama.cpp's vocab-test suites must give identical ids, text must round-trip,
// streaming must never split a UTF-8 character.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <algorithm>
#include <random>

#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_writer.hpp"
#include "tinyllm/loaders/host/tokenizer_json.hpp"
#include "tinyllm/text/sentencepiece.hpp"
#include "tinyllm/text/tokenizer.hpp"

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
        const bool spm = t.file.gguf.get_string("tokenizer.ggml.model")->size() == 5;  // "llama"
        if (decoded == (text.empty() || !spm ? text : " " + text)) ++round_trips;
        else MESSAGE("round trip failed for [", text, "]: [", decoded, "]");
    }
    MESSAGE(gguf, ": ", matched, "/", cases.size(), " identical");
    CHECK(matched == int(cases.size()));
    CHECK(round_trips == int(cases.size()));
}

} // namespace

TEST_CASE("every vocabulary suite gives llama.cpp's ids and round-trips") {
    // SentencePiece with byte fallback (llama-spm, phi-3) and byte-level BPE with each
    // pre-tokenizer (gpt-2, falcon, starcoder, deepseek-coder, deepseek-llm, mpt, refact).
    for (const char* name : {"llama-spm", "phi-3", "gpt-2", "falcon", "starcoder", "deepseek-coder", "deepseek-llm", "mpt", "refact"}) {
        const std::string base = std::string("fixtures/vocab/ggml-vocab-") + name + ".gguf";
        check_suite(base, base + ".inp", base + ".out");
    }
}

TEST_CASE("SentencePiece suites give llama.cpp's ids: shakespeare5m") {
    check_suite("models/shakespeare5m-f16.gguf", "models/shakespeare5m.vocab-test.inp", "models/shakespeare5m.vocab-test.out");
}

// The freestanding encoder (text/sentencepiece.hpp) over a loaded vocabulary, its memory from
// one arena.
struct DeviceEncoder {
    TokenText vocabulary;
    SentencePieceEncoder encoder;
    std::vector<uint8_t> memory;
    Arena arena;
    explicit DeviceEncoder(const gguf::File& f) : memory(TokenText::required_bytes(f) + (8 << 20)), arena(memory.data(), memory.size()) {
        REQUIRE(vocabulary.init(f, arena).ok());
        Status st = encoder.init(f, vocabulary, arena);
        REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
    }
    std::vector<int32_t> encode(const std::string& text, bool add_special, bool parse_special) {
        std::vector<int32_t> ids(text.size() * 4 + 2);
        Result<int> n = encoder.encode(StrView(text.data(), text.size()), add_special, parse_special, ids.data(), int(ids.size()), arena);
        REQUIRE_MESSAGE(n.ok(), std::string(n.status.detail));
        ids.resize(size_t(*n));
        return ids;
    }
};

TEST_CASE("the freestanding SentencePiece encoder gives llama.cpp's ids on the SPM suites and the host's on random text and special tokens") {
    const char* suites[][2] = {{"fixtures/vocab/ggml-vocab-llama-spm.gguf", "fixtures/vocab/ggml-vocab-llama-spm.gguf"},
                               {"fixtures/vocab/ggml-vocab-phi-3.gguf", "fixtures/vocab/ggml-vocab-phi-3.gguf"},
                               {"models/shakespeare5m-f16.gguf", "models/shakespeare5m.vocab-test"}};
    for (const auto& suite : suites) {
        LoadedTokenizer t;
        if (!t.load(suite[0])) return;
        DeviceEncoder device(t.file.gguf);
        const std::vector<std::string> cases = split_cases(test_support::read_text(shared_path(std::string(suite[1]) + ".inp")));
        std::istringstream expected(test_support::read_text(shared_path(std::string(suite[1]) + ".out")));
        std::string line;
        for (const std::string& text : cases) {
            REQUIRE(std::getline(expected, line));
            std::string got;
            for (int32_t id : device.encode(text, false, false)) got += " " + std::to_string(id);
            CHECK_MESSAGE(got == line, suite[0], " [", text, "]");
        }
        // Random text over ASCII, spaces, 2-, 3- and 4-byte characters (some not in any
        // vocabulary: byte fallback) and special tokens' text, with and without BOS and
        // special-token parsing.
        std::mt19937 rng(7);
        const char* pieces[] = {"a", "e", "th", " ", "  ", "\n", ".", "7", "\xc3\xa9", "\xe2\x96\x81", "\xe4\xb8\xad", "\xf0\x9f\x99\x82", "\t",
                                "<s>", "</s>", "<unk>", "<|user|>", "<|end|>", "<0x41>"};
        for (int n = 0; n < 400; ++n) {
            std::string text;
            for (int k = int(rng() % 40); k > 0; --k) text += pieces[rng() % (sizeof pieces / sizeof pieces[0])];
            const bool add_special = n % 2 == 0, parse_special = n % 4 < 2;
            CHECK_MESSAGE(device.encode(text, add_special, parse_special) == t.tok.encode(text, add_special, parse_special), suite[0], " [", text, "]");
        }
    }
}

TEST_CASE("the freestanding SentencePiece encoder refuses a byte-level vocabulary and names a full output") {
    LoadedTokenizer t;
    if (!t.load("models/shakespeare5m-f16.gguf")) return;
    DeviceEncoder device(t.file.gguf);
    int32_t ids[3];
    Result<int> n = device.encoder.encode(StrView("ROMEO: But soft, what light"), true, false, ids, 3, device.arena);
    CHECK(n.status.code == Error::context_full);
    CHECK(std::string(n.status.detail).find("3 tokens") != std::string::npos);
    LoadedTokenizer bpe;
    if (!bpe.load("fixtures/vocab/ggml-vocab-gpt-2.gguf")) return;
    std::vector<uint8_t> memory(1 << 22);
    Arena arena(memory.data(), memory.size());
    TokenText vocabulary;
    REQUIRE(vocabulary.init(bpe.file.gguf, arena).ok());
    SentencePieceEncoder encoder;
    CHECK(encoder.init(bpe.file.gguf, vocabulary, arena).code == Error::unsupported_type);
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

TEST_CASE("special tokens: user-defined always split out, control only with parse_special") {
    LoadedTokenizer t;
    if (!t.load("fixtures/vocab/ggml-vocab-gpt-2.gguf")) return;
    const int32_t eot = t.tok.find("<|endoftext|>");
    REQUIRE(eot >= 0);
    std::vector<int32_t> parsed = t.tok.encode("a<|endoftext|>b", false, true);
    REQUIRE(parsed.size() == 3);
    CHECK(parsed[1] == eot);
    std::vector<int32_t> literal = t.tok.encode("a<|endoftext|>b", false, false);
    CHECK(literal.size() > 3);
    CHECK(std::find(literal.begin(), literal.end(), eot) == literal.end());
    CHECK(t.tok.is_eog(eot));
}

TEST_CASE("byte-level decoding restores arbitrary bytes, streamed whole characters at a time") {
    LoadedTokenizer t;
    if (!t.load("fixtures/vocab/ggml-vocab-gpt-2.gguf")) return;
    const std::string text = "na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \x01\x7f tab\tend";
    std::vector<int32_t> ids = t.tok.encode(text, false, false);
    StreamDecoder stream(t.tok);
    std::string out;
    for (int32_t id : ids) out += stream.push(id);
    out += stream.flush();
    CHECK(out == text);
}

TEST_CASE("unknown tokenizer models and pre-tokenizers are named") {
    for (auto [model, pre, expect] : {std::tuple{"bert", "default", "bert"}, std::tuple{"gpt2", "klingon", "klingon"}}) {
        gguf::Writer w;
        w.add_string("tokenizer.ggml.model", model);
        w.add_string("tokenizer.ggml.pre", pre);
        w.add_string_array("tokenizer.ggml.tokens", {"a", "b"});
        w.add_string_array("tokenizer.ggml.merges", {"a b"});
        std::vector<uint8_t> bytes = w.bytes();
        GgufIndex index;
        REQUIRE(index.parse({bytes.data(), bytes.size()}).ok());
        Tokenizer tok;
        Status st = tok.load(index.file);
        CHECK(st.code == Error::unsupported_type);
        CHECK(std::string(st.detail).find(expect) != std::string::npos);
    }
}

namespace {

// A text of about 1 MB: `unit` repeated.
std::string megabyte_of(const std::string& unit) {
    std::string text;
    for (size_t i = 0; i < (size_t(1) << 20) / unit.size(); ++i) text += unit;
    return text;
}

size_t count_code_points(const std::string& s) {
    return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

} // namespace

TEST_CASE("pre-tokenizers split 1 MB runs of each character class as their patterns say") {
    // A regex engine that recurses per character overflows the stack on these. A run of one
    // class is one word, except digits: in groups of up to 3 (llama3 \p{N}{1,3}, default and
    // falcon [0-9][0-9][0-9]) or 1 (\p{N}), the last group shorter; 0 here means one word.
    struct Pre { const char* name; size_t digit_group; };
    const Pre pres[] = {{"default", 3}, {"gpt-2", 0}, {"llama3", 3}, {"qwen2", 1}, {"starcoder", 1},
                        {"falcon", 3}, {"deepseek-coder", 1}, {"deepseek-llm", 0}};
    for (const Pre& pre : pres) {
        bpe::PreTokenizer pt;
        REQUIRE(pt.init(pre.name));
        for (const char* unit : {"a", " ", "7", "!", "\xe4\xb8\xad"}) {  // letters, spaces, digits, punctuation, CJK
            CAPTURE(pre.name);
            CAPTURE(unit);
            const std::string text = megabyte_of(unit);
            const std::vector<std::string> words = pt.split(text);
            const size_t n = count_code_points(text), group = unit[0] == '7' && pre.digit_group ? pre.digit_group : n;
            REQUIRE(words.size() == (n + group - 1) / group);
            bool as_expected = true;
            for (size_t i = 0; i < words.size(); ++i)
                as_expected &= count_code_points(words[i]) == (i + 1 < words.size() ? group : n - i * group);
            CHECK(as_expected);
        }
        // Mixed text splits as each of its repeats does on its own.
        const std::string unit = "Hello world, it's 2024:\tcaf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82 x  y!\n";
        const std::vector<std::string> unit_words = pt.split(unit), words = pt.split(megabyte_of(unit));
        REQUIRE(words.size() == unit_words.size() * ((size_t(1) << 20) / unit.size()));
        bool as_expected = true;
        for (size_t i = 0; i < words.size(); ++i) as_expected &= words[i] == unit_words[i % unit_words.size()];
        CHECK(as_expected);
    }
}

TEST_CASE("1 MB prompts encode with every byte-level vocabulary") {
    // Runs of each class (letters, digits, punctuation, CJK, spaces) of 200 KB each: the
    // text comes back whole. Mixed text: the ids of each repeat on its own.
    std::string runs;
    for (const char* unit : {"a", "7", "!", "\xe4\xb8\xad", " "})
        for (size_t n = 0; n < 200000; n += std::strlen(unit)) runs += unit;
    const std::string mixed = "Hello world, it's 2024:\tcaf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82 x  y!\n";
    for (const char* name : {"gpt-2", "falcon", "starcoder", "deepseek-coder", "deepseek-llm", "mpt", "refact"}) {
        LoadedTokenizer t;
        if (!t.load(std::string("fixtures/vocab/ggml-vocab-") + name + ".gguf")) return;
        CAPTURE(name);
        std::string decoded;
        for (int32_t id : t.tok.encode(runs, false, false)) decoded += t.tok.token_piece(id);
        CHECK(decoded == runs);
        const std::vector<int32_t> unit_ids = t.tok.encode(mixed, false, false), ids = t.tok.encode(megabyte_of(mixed), false, false);
        REQUIRE(ids.size() == unit_ids.size() * ((size_t(1) << 20) / mixed.size()));
        bool as_expected = true;
        for (size_t i = 0; i < ids.size(); ++i) as_expected &= ids[i] == unit_ids[i % unit_ids.size()];
        CHECK(as_expected);
    }
}

TEST_CASE("Phi-3 drops the white space after special tokens as llama.cpp does; other SentencePiece models keep it") {
    const std::string text = "<s> not special </s> [INST] brackets";
    for (const char* vocab : {"phi-3", "llama-spm"}) {
        const std::string path = "fixtures/vocab/ggml-vocab-" + std::string(vocab) + ".gguf";
        if (!test_support::require_shared(path)) return;
        GgufModelFile file;
        REQUIRE(file.open(test_support::shared_path(path)).ok());
        Tokenizer tok;
        REQUIRE(tok.load(file.gguf).ok());
        std::vector<int32_t> ids = tok.encode(text, false, true);
        if (std::string(vocab) == "phi-3") {
            CHECK(ids == std::vector<int32_t>{1, 29871, 451, 4266, 29871, 2, 518, 25580, 29962, 20476});
        } else {
            REQUIRE(ids.size() > 6);
            CHECK(ids[5] == 2);
            CHECK(ids[6] == 29871);  // the space after </s> stays
        }
    }
}

namespace {

// A vocabulary read back from the tokenizer.json written for it.
struct JsonTokenizer {
    std::string json;
    std::vector<uint8_t> bytes;
    GgufIndex index;
    Tokenizer tok;
    // bos/eos: what the model declares (a .pte program's constant methods).
    JsonTokenizer(const gguf::File& f, int32_t bos, int32_t eos) {
        Status st = write_tokenizer_json(f, json);
        REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
        st = tokenizer_json_to_gguf(json, bos, eos, bytes);
        REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
        REQUIRE(index.parse({bytes.data(), bytes.size()}).ok());
        st = tok.load(index.file);
        REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
    }
};

} // namespace

TEST_CASE("tokenizer.json written from a GGUF vocabulary encodes every suite as the GGUF does") {
    // SentencePiece (merges derived from the scores) and byte-level BPE with each pre-tokenizer
    // a tokenizer.json can name; BOS as the vocabulary adds it.
    for (const char* base : {"fixtures/vocab/ggml-vocab-llama-spm.gguf", "fixtures/vocab/ggml-vocab-phi-3.gguf", "models/shakespeare5m-f16.gguf",
                             "fixtures/vocab/ggml-vocab-gpt-2.gguf", "fixtures/vocab/ggml-vocab-falcon.gguf", "fixtures/vocab/ggml-vocab-starcoder.gguf",
                             "fixtures/vocab/ggml-vocab-mpt.gguf", "fixtures/vocab/ggml-vocab-refact.gguf"}) {
        CAPTURE(std::string(base));
        LoadedTokenizer original;
        if (!original.load(base)) continue;
        JsonTokenizer copy(original.file.gguf, original.tok.bos_id(), original.tok.eos_id());
        const std::string inp = std::string(base).find("shakespeare") != std::string::npos ? "models/shakespeare5m.vocab-test.inp" : std::string(base) + ".inp";
        int same = 0;
        const std::vector<std::string> cases = split_cases(test_support::read_text(shared_path(inp)));
        for (const std::string& text : cases) {
            const std::vector<int32_t> want = original.tok.encode(text, true, false), got = copy.tok.encode(text, true, false);
            if (want == got) ++same;
            else MESSAGE("differs for [", text, "]");
        }
        CHECK(same == int(cases.size()));
        REQUIRE(copy.tok.n_vocab() == original.tok.n_vocab());
        for (int32_t id = 0; id < original.tok.n_vocab(); ++id)
            if (copy.tok.token_piece(id) != original.tok.token_piece(id)) FAIL_CHECK("token " << id << " decodes differently");
        CHECK(copy.tok.bos_id() == original.tok.bos_id());
        CHECK(copy.tok.eos_id() == original.tok.eos_id());
        // Merges are [left, right] pairs, as ExecuTorch's tokenizer library reads them.
        CHECK(copy.json.find("\"merges\":[\n[\"") != std::string::npos);
    }
}

TEST_CASE("tokenizer.json: vocabularies with no form in it are refused by name") {
    // Not structured bindings: clang 14 cannot capture them in CAPTURE's lambda.
    for (const auto& entry : {std::pair<const char*, const char*>{"fixtures/vocab/ggml-vocab-deepseek-llm.gguf", "pre-tokenizer 'deepseek-llm'"},
                              {"fixtures/vocab/ggml-vocab-bert-bge.gguf", "tokenizer model 'bert'"}}) {
        const char *base = entry.first, *names = entry.second;
        CAPTURE(std::string(base));
        if (!test_support::require_shared(base)) continue;
        GgufModelFile file;
        REQUIRE(file.open(shared_path(base)).ok());
        std::string json;
        const Status st = write_tokenizer_json(file.gguf, json);
        CHECK(st.code == Error::unsupported_type);
        CHECK_MESSAGE(std::string(st.detail).find(names) != std::string::npos, st.detail);
    }
}

TEST_CASE("tokenizer.json: Hugging Face's spellings read, unknown forms refused by name") {
    // A byte-level file as Hugging Face writes GPT-2's: ByteLevel with its own regex, merges as pairs.
    const std::string gpt2 = R"({"added_tokens":[{"id":3,"content":"<|endoftext|>","special":true}],
        "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
        "post_processor":null,"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}})";
    std::vector<uint8_t> bytes;
    Status st = tokenizer_json_to_gguf(gpt2, -1, 3, bytes);
    REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
    GgufIndex index;
    REQUIRE(index.parse({bytes.data(), bytes.size()}).ok());
    Tokenizer tok;
    REQUIRE(tok.load(index.file).ok());
    CHECK(tok.encode("abab<|endoftext|>", false, true) == std::vector<int32_t>{2, 2, 3});
    CHECK(tok.eos_id() == 3);
    CHECK(tok.is_eog(3));

    struct Bad {
        const char* json;
        Error code;
        const char* names;
    };
    const Bad bad[] = {
        {R"({"model":{"type":"Unigram","vocab":[]}})", Error::unsupported_type, "Unigram"},
        {R"({"model":{"type":"BPE","vocab":{"a":0,"c":2},"merges":[]}})", Error::corrupt, "1 of 3 ids have no token"},
        {R"({"model":{"type":"BPE","vocab":{"a":0,"b":0}}})", Error::corrupt, "id 0 names two tokens"},
        {R"({"model":{"type":"BPE","vocab":{"a":-1}}})", Error::token_out_of_range, "'a'"},
        {R"({"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\w+"}},"model":{"type":"BPE","vocab":{"a":0}}})", Error::unsupported_type, "\\w+"},
        {R"({"model":{"type":"BPE","vocab":{"a":0})", Error::corrupt, "expected ',' or '}' at byte"},
        {R"({"model":"\ud800"})", Error::corrupt, "unpaired surrogate"},
        {"", Error::corrupt, "unexpected end"},
    };
    for (const Bad& b : bad) {
        CAPTURE(std::string(b.json));
        st = tokenizer_json_to_gguf(b.json, -1, -1, bytes);
        CHECK(st.code == b.code);
        CHECK_MESSAGE(std::string(st.detail).find(b.names) != std::string::npos, st.detail);
    }
    // Nesting deeper than the parser's limit is an error, not a stack overflow.
    const std::string deep(100000, '[');
    JsonValue v;
    st = parse_json(deep, v);
    CHECK(st.code == Error::corrupt);
    CHECK(std::string(st.detail).find("nesting too deep") != std::string::npos);
}

TEST_CASE("JSON values: escapes, surrogate pairs, numbers, and strings written back") {
    JsonValue v;
    REQUIRE(parse_json(R"( {"s":"a\"\\\/\n\u00e9\ud83d\ude00", "n":[-1.5e2, 0, 7], "t":true, "f":false, "z":null} )", v).ok());
    CHECK(v.string_or("s", "") == "a\"\\/\n\xC3\xA9\xF0\x9F\x98\x80");
    REQUIRE(v.get("n")->items.size() == 3);
    CHECK(v.get("n")->items[0].number == -150);
    CHECK(v.bool_or("t", false));
    CHECK(!v.bool_or("f", true));
    CHECK(v.get("z")->is(JsonValue::Kind::null));
    std::string out;
    CHECK(append_json_string(out, std::string("q\"\\\x01\xE2\x96\x81")));
    CHECK(out == "\"q\\\"\\\\\\u0001\xE2\x96\x81\"");
    out.clear();
    CHECK(!append_json_string(out, std::string("\xFF")));  // not UTF-8: no JSON string holds it
    for (const char* bad : {"[1,]", "{\"a\" 1}", "01x", "\"\\x\"", "[1] 2", "-", "1.", "tru"}) {
        CAPTURE(std::string(bad));
        CHECK(parse_json(bad, v).code == Error::corrupt);
    }
}
