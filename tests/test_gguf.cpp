// GGUF reader tests: every metadata type, both versions, real fixtures, and crafted corrupt
// files (each must give its named error, never a crash).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <algorithm>
#include <random>

#include "../examples/random_model.hpp"
#include "tinyllm/core/model.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_writer.hpp"

using namespace tinyllm;

namespace {

// Raw little-endian byte builder, so each test controls every field of the file.
struct Bytes {
    std::vector<uint8_t> b;
    Bytes& u32(uint32_t v) { return raw(&v, 4); }
    Bytes& u64(uint64_t v) { return raw(&v, 8); }
    Bytes& f32(float v) { return raw(&v, 4); }
    Bytes& str(const std::string& s) { u64(s.size()); return raw(s.data(), s.size()); }
    Bytes& raw(const void* p, size_t n) {
        const uint8_t* c = static_cast<const uint8_t*>(p);
        b.insert(b.end(), c, c + n);
        return *this;
    }
    Bytes& pad_to(size_t alignment) {
        while (b.size() % alignment) b.push_back(0);
        return *this;
    }
};

Bytes header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    Bytes h;
    h.raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
    return h;
}

struct Parsed : GgufIndex {
    Status status;
};

// The buffer must outlive the result's views.
Parsed parse(const std::vector<uint8_t>& bytes) {
    Parsed p;
    p.status = p.GgufIndex::parse({bytes.data(), bytes.size()});
    return p;
}

Error parse_error(const std::vector<uint8_t>& bytes) { return parse(bytes).status.code; }

// A valid file: one u32 key and one 32x2 F32 tensor.
Bytes small_valid_file() {
    Bytes f = header(3, 1, 1);
    f.str("general.architecture").u32(8).str("llama");
    f.str("t").u32(2).u64(32).u64(2).u32(0).u64(0);
    f.pad_to(32);
    for (int i = 0; i < 64; ++i) f.f32(float(i));
    return f;
}

} // namespace

TEST_CASE("reads every metadata value type and string arrays") {
    gguf::Writer w;
    w.add_u32("a.u32", 7);
    w.add_i32("a.i32", -5);
    w.add_u64("a.u64", uint64_t(1) << 40);
    w.add_f32("a.f32", 1.5f);
    w.add_bool("a.bool", true);
    w.add_string("a.str", "h\xc3\xa9llo");
    w.add_string_array("a.strs", {"x", "", "yz"});
    w.add_i32_array("a.ints", {3, -1, 4});
    std::vector<uint8_t> bytes = w.bytes();
    // Hand-append scalar kinds the writer has no helper for: u8, i8, u16, i16, i64, f64.
    Bytes extra;
    extra.str("b.u8").u32(0).raw("\xfe", 1);
    extra.str("b.i8").u32(1).raw("\xfe", 1);
    extra.str("b.u16").u32(2).raw("\x34\x12", 2);
    extra.str("b.i16").u32(3).raw("\xfe\xff", 2);
    extra.str("b.i64").u32(11).u64(uint64_t(-9));
    double d = 2.25;
    extra.str("b.f64").u32(12).raw(&d, 8);
    bytes.insert(bytes.begin() + 24, extra.b.begin(), extra.b.end());
    uint64_t n_kv = 8 + 6;
    std::memcpy(bytes.data() + 16, &n_kv, 8);

    Parsed p = parse(bytes);
    REQUIRE_MESSAGE(p.status.ok(), std::string(p.status.detail));
    CHECK(*p.file.get_int("a.u32") == 7);
    CHECK(*p.file.get_int("a.i32") == -5);
    CHECK(*p.file.get_int("a.u64") == (int64_t(1) << 40));
    CHECK(*p.file.get_float("a.f32") == 1.5);
    CHECK(*p.file.get_int("a.bool") == 1);
    CHECK(*p.file.get_string("a.str") == StrView("h\xc3\xa9llo"));
    CHECK(*p.file.get_int("b.u8") == 254);
    CHECK(*p.file.get_int("b.i8") == -2);
    CHECK(*p.file.get_int("b.u16") == 0x1234);
    CHECK(*p.file.get_int("b.i16") == -2);
    CHECK(*p.file.get_int("b.i64") == -9);
    CHECK(*p.file.get_float("b.f64") == 2.25);

    gguf::Array strs = *p.file.get_array("a.strs");
    REQUIRE(strs.type == gguf::ValueType::string);
    REQUIRE(strs.count == 3);
    auto cursor = strs.strings();
    CHECK(cursor.next() == StrView("x"));
    CHECK(cursor.next() == StrView(""));
    CHECK(cursor.next() == StrView("yz"));
    gguf::Array ints = *p.file.get_array("a.ints");
    CHECK(ints.int_at(1) == -1);

    CHECK(p.file.get_int("missing").status.code == Error::missing_key);
    CHECK(p.file.get_int("a.str").status.code == Error::wrong_key_type);
    CHECK(std::string(p.file.get_int("a.str").status.detail).find("a.str") != std::string::npos);
}

TEST_CASE("version 2 and 3 files parse; tensor views point at the data") {
    for (uint32_t version : {2u, 3u}) {
        Bytes f = small_valid_file();
        std::memcpy(f.b.data() + 4, &version, 4);
        Parsed p = parse(f.b);
        REQUIRE(p.status.ok());
        CHECK(p.file.version == version);
        const gguf::TensorInfo* t = p.file.find_tensor("t");
        REQUIRE(t);
        CHECK(t->ne[0] == 32);
        CHECK(t->ne[1] == 2);
        CHECK(t->n_bytes == 256);
        float v;
        std::memcpy(&v, t->data + 4 * 37, 4);
        CHECK(v == 37.0f);
        CHECK(t->data >= f.b.data());  // a view, not a copy
        CHECK(t->data < f.b.data() + f.b.size());
    }
}

TEST_CASE("general.alignment moves the data section") {
    Bytes f = header(3, 1, 1);
    f.str("general.alignment").u32(4).u32(64);
    f.str("t").u32(1).u64(8).u32(0).u64(0);
    f.pad_to(64);
    for (int i = 0; i < 8; ++i) f.f32(float(i));
    Parsed p = parse(f.b);
    REQUIRE(p.status.ok());
    CHECK(p.file.alignment == 64);
    CHECK(p.file.data_offset % 64 == 0);
    float v;
    std::memcpy(&v, p.file.tensors[0].data + 12, 4);
    CHECK(v == 3.0f);
}

TEST_CASE("every fixture and model file parses") {
    if (!test_support::require_shared("fixtures/gguf/stories260K-f32.gguf")) return;
    GgufModelFile f;
    REQUIRE(f.open(test_support::shared_path("models/shakespeare5m-q8_0.gguf")).ok());
    CHECK(f.gguf.n_tensors == 56);
    CHECK(*f.gguf.get_int("llama.block_count") == 6);
    CHECK(f.gguf.get_array("tokenizer.ggml.tokens")->count == 1024);
    for (const char* vocab : {"fixtures/vocab/ggml-vocab-llama-spm.gguf", "fixtures/vocab/ggml-vocab-gpt-2.gguf"}) {
        GgufModelFile v;
        Status st = v.open(test_support::shared_path(vocab));
        CHECK_MESSAGE(st.ok(), vocab, std::string(st.detail));
        CHECK(v.gguf.n_tensors == 0);
    }
}

TEST_CASE("corrupt headers give named errors") {
    CHECK(parse_error({}) == Error::truncated);
    CHECK(parse_error({'G', 'G'}) == Error::truncated);
    Bytes bad_magic = small_valid_file();
    bad_magic.b[0] = 'X';
    CHECK(parse_error(bad_magic.b) == Error::bad_magic);
    for (uint32_t version : {0u, 1u, 4u, 0x03000000u}) {
        Bytes f = small_valid_file();
        std::memcpy(f.b.data() + 4, &version, 4);
        CHECK(parse_error(f.b) == Error::unsupported_version);
    }
    Bytes many_kv = header(3, 0, uint64_t(1) << 60);
    CHECK(parse_error(many_kv.b) == Error::absurd_count);
    Bytes many_tensors = header(3, uint64_t(1) << 60, 0);
    CHECK(parse_error(many_tensors.b) == Error::absurd_count);
    // The header alone (lookups without an index, as the Engine sizes its arena) refuses them
    // too: a fuzzed file claiming a billion tensors let a block_count of 33 million pass the
    // "more layers than tensors" check, and the per-layer loops ran for minutes.
    for (const Bytes& f : {many_kv, many_tensors, header(3, 1000000000, 0)}) {
        gguf::File file;
        CHECK(gguf::read_header({f.b.data(), f.b.size()}, file).code == Error::absurd_count);
    }
}

TEST_CASE("corrupt metadata gives named errors") {
    Bytes long_key = header(3, 0, 1);
    long_key.u64(uint64_t(1) << 62).raw("abcdefghijklmnopqrst", 20);
    CHECK(parse_error(long_key.b) == Error::bad_string);

    Bytes bad_type = header(3, 0, 1);
    bad_type.str("k").u32(99).u32(0);
    CHECK(parse_error(bad_type.b) == Error::unknown_value_type);

    Bytes long_value = header(3, 0, 1);
    long_value.str("k").u32(8).u64(1000).raw("short", 5);
    CHECK(parse_error(long_value.b) == Error::bad_string);

    Bytes huge_array = header(3, 0, 1);
    huge_array.str("k").u32(9).u32(4).u64(uint64_t(1) << 61).u32(1);
    CHECK(parse_error(huge_array.b) == Error::absurd_count);

    Bytes nested = header(3, 0, 1);
    nested.str("k").u32(9).u32(9).u64(1).u32(4).u64(1).u32(0);
    CHECK(parse_error(nested.b) == Error::unknown_value_type);

    Bytes bad_elem = header(3, 0, 1);
    bad_elem.str("k").u32(9).u32(42).u64(1).u32(0);
    CHECK(parse_error(bad_elem.b) == Error::unknown_value_type);

    Bytes bad_strings = header(3, 0, 1);
    bad_strings.str("k").u32(9).u32(8).u64(2).str("ok").u64(999);
    CHECK(parse_error(bad_strings.b) == Error::bad_string);

    for (uint32_t al : {0u, 3u, 48u}) {
        Bytes f = header(3, 0, 1);
        f.str("general.alignment").u32(4).u32(al);
        CHECK(parse_error(f.b) == Error::bad_alignment);
    }
    Bytes al_type = header(3, 0, 1);
    al_type.str("general.alignment").u32(8).str("32");
    CHECK(parse_error(al_type.b) == Error::wrong_key_type);
}

TEST_CASE("corrupt tensor infos give named errors") {
    auto with_tensor = [](uint32_t n_dims, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
        Bytes f = header(3, 1, 0);
        f.str("t").u32(n_dims);
        for (uint64_t d : dims) f.u64(d);
        f.u32(type).u64(offset);
        f.pad_to(32);
        for (int i = 0; i < 64; ++i) f.f32(0.0f);
        return f.b;
    };
    CHECK(parse_error(with_tensor(1, {64}, 0, 0)) == Error::ok);
    CHECK(parse_error(with_tensor(0, {}, 0, 0)) == Error::bad_shape);
    CHECK(parse_error(with_tensor(5, {1, 1, 1, 1, 1}, 0, 0)) == Error::bad_shape);
    CHECK(parse_error(with_tensor(1, {0}, 0, 0)) == Error::bad_shape);
    CHECK(parse_error(with_tensor(4, {1u << 20, 1u << 20, 1u << 20, 1u << 20}, 0, 0)) == Error::bad_shape);
    CHECK(parse_error(with_tensor(2, {uint64_t(1) << 63, 2}, 0, 0)) == Error::bad_shape);
    CHECK(parse_error(with_tensor(1, {64}, 99, 0)) == Error::unknown_tensor_type);
    CHECK(parse_error(with_tensor(1, {64}, 4, 0)) == Error::unknown_tensor_type);  // retired Q4_2 id
    CHECK(parse_error(with_tensor(1, {48}, 8, 0)) == Error::bad_shape);  // not a whole Q8_0 block
    CHECK(parse_error(with_tensor(1, {64}, 0, 16)) == Error::bad_alignment);
    CHECK(parse_error(with_tensor(1, {64}, 0, 32)) == Error::bad_offset);  // runs past the end
    CHECK(parse_error(with_tensor(1, {64}, 0, uint64_t(1) << 62)) == Error::bad_offset);
    CHECK(parse_error(with_tensor(1, {65}, 0, 0)) == Error::bad_offset);

    Status st = parse(with_tensor(1, {64}, 99, 0)).status;
    CHECK(std::string(st.detail).find("'t'") != std::string::npos);
}

TEST_CASE("a file truncated anywhere is rejected with a named error") {
    std::vector<uint8_t> full = small_valid_file().b;
    for (size_t n = 0; n < full.size(); ++n) {
        std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
        Status st = parse(cut).status;
        INFO("truncated at ", n);
        CHECK(!st.ok());
        CHECK(std::string(st.detail).size() > 0);
    }
}

TEST_CASE("mutated files never crash the reader") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    // Only the header region matters for the reader; keep copies small and fast.
    std::vector<uint8_t> base = test_support::read_bytes(test_support::shared_path("models/shakespeare5m-q8_0.gguf"));
    std::mt19937 rng(1234);
    int ok = 0, failed = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::vector<uint8_t> m = base;
        int flips = 1 + int(rng() % 4);
        for (int i = 0; i < flips; ++i) {
            size_t pos = rng() % 40000;  // metadata and tensor table live in the first ~40 KB
            m[pos] ^= uint8_t(1u << (rng() % 8));
        }
        if (rng() % 4 == 0) m.resize(rng() % m.size());
        Parsed p = parse(m);
        (p.status.ok() ? ok : failed)++;
        if (!p.status.ok()) REQUIRE(std::string(p.status.detail).size() > 0);
    }
    MESSAGE("mutations parsed: ", ok, ", rejected: ", failed);
    CHECK(failed > 0);
}

namespace {

// Overwrites the value of a u32 or f32 metadata key in GGUF bytes (the key must be present).
template <class T>
void set_value(std::vector<uint8_t>& bytes, const std::string& key, T value) {
    static_assert(sizeof(T) == 4, "u32 and f32 keys only");
    Bytes name;
    name.str(key);
    auto at = std::search(bytes.begin(), bytes.end(), name.b.begin(), name.b.end());
    REQUIRE(at != bytes.end());
    std::memcpy(&*at + name.b.size() + 4, &value, 4);  // after the u32 value type
}

Status load_model_bytes(const std::vector<uint8_t>& bytes) {
    Parsed p = parse(bytes);
    if (!p.status) return p.status;
    std::vector<uint8_t> memory(size_t(p.file.n_tensors + 1) * sizeof(LayerWeights) + 64);
    Arena arena(memory.data(), memory.size());
    Model model;
    return load_model(p.file, arena, model);
}

} // namespace

TEST_CASE("metadata sizes are checked in 64 bits against limits and the tensors") {
    RandomModelShape shape;  // q rows 16 x 4 = 64, kv rows 8 x 4 = 32
    shape.n_vocab = 300;
    shape.n_embd = 64;
    shape.n_ff = 96;
    shape.n_head = 16;
    shape.n_head_kv = 8;
    shape.head_dim = 4;
    const std::vector<uint8_t> valid = random_model_gguf(shape);
    REQUIRE(load_model_bytes(valid).ok());

    // 16 x (2^29 + 4) and 8 x (2^29 + 4) wrap in 32 bits to the tensors' 64 and 32 rows.
    std::vector<uint8_t> wrapping = valid;
    set_value(wrapping, "llama.attention.key_length", uint32_t((1u << 29) + 4));
    Status st = load_model_bytes(wrapping);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("key_length' = 536870916") != std::string::npos);
    // Each value within the width limit, their product not.
    set_value(wrapping, "llama.attention.key_length", uint32_t(1u << 21));
    st = load_model_bytes(wrapping);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("head_count 16 x key_length 2097152") != std::string::npos);

    std::vector<uint8_t> wide = valid;
    set_value(wide, "llama.embedding_length", uint32_t(1u << 25));
    st = load_model_bytes(wide);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("embedding_length") != std::string::npos);

    // More layers than the file has tensors: named, not "out of memory (layer table)".
    std::vector<uint8_t> deep = valid;
    set_value(deep, "llama.block_count", uint32_t(100000000));
    st = load_model_bytes(deep);
    CHECK(st.code == Error::absurd_count);
    CHECK(std::string(st.detail).find("block_count' = 100000000") != std::string::npos);

    for (float bad : {NAN, INFINITY, 0.0f, -10000.0f}) {
        std::vector<uint8_t> base = valid;
        set_value(base, "llama.rope.freq_base", bad);
        st = load_model_bytes(base);
        CHECK(st.code == Error::invalid_argument);
        CHECK(std::string(st.detail).find("rope.freq_base") != std::string::npos);
    }
    std::vector<uint8_t> eps = valid;
    set_value(eps, "llama.attention.layer_norm_rms_epsilon", NAN);
    CHECK(load_model_bytes(eps).code == Error::invalid_argument);
}

// Overwrites element i of an i32 array key, or (i < 0) the array's element type.
void set_array_element(std::vector<uint8_t>& bytes, const std::string& key, int i, uint32_t value) {
    Bytes name;
    name.str(key);
    auto at = std::search(bytes.begin(), bytes.end(), name.b.begin(), name.b.end());
    REQUIRE(at != bytes.end());
    uint8_t* array = &*at + name.b.size() + 4;  // after the value type (array): element type, u64 count, elements
    std::memcpy(i < 0 ? array : array + 12 + 4 * i, &value, 4);
}

TEST_CASE("per-layer widths and partial rotary sizes are checked, with the key named") {
    RandomModelShape shape;
    REQUIRE(parse_random_model_options({"--arch", "openelm", "--vocab", "300", "--embd", "64", "--head-dim", "16", "--layers", "3",
                                        "--layer-heads", "2,4,4", "--layer-kv-heads", "1,2,4", "--layer-ff", "64,96,128", "--type", "f32"},
                                       shape).empty());
    const std::vector<uint8_t> valid = random_model_gguf(shape);
    REQUIRE(load_model_bytes(valid).ok());

    std::vector<uint8_t> deeper = valid;
    set_value(deeper, "openelm.block_count", uint32_t(4));
    Status st = load_model_bytes(deeper);
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::string(st.detail) == "metadata key 'openelm.feed_forward_length' has 3 values for 4 layers");

    std::vector<uint8_t> zero = valid;
    set_array_element(zero, "openelm.attention.head_count", 1, 0);
    st = load_model_bytes(zero);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail) == "metadata key 'openelm.attention.head_count' = 0 at layer 1 is out of range");

    std::vector<uint8_t> uneven = valid;
    set_array_element(uneven, "openelm.attention.head_count_kv", 2, 3);
    st = load_model_bytes(uneven);
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::string(st.detail) == "head_count 4 is not a multiple of head_count_kv 3 at layer 2");

    std::vector<uint8_t> floats = valid;
    set_array_element(floats, "openelm.feed_forward_length", -1, uint32_t(gguf::ValueType::f32));
    st = load_model_bytes(floats);
    CHECK(st.code == Error::wrong_key_type);
    CHECK(std::string(st.detail).find("'openelm.feed_forward_length' is an array of f32") != std::string::npos);

    // The tensors must have each layer's own widths: layer 1's kv heads as layer 2's.
    std::vector<uint8_t> mismatched = valid;
    set_array_element(mismatched, "openelm.attention.head_count_kv", 1, 4);
    st = load_model_bytes(mismatched);
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::string(st.detail).find("blk.1.attn_qkv.weight") != std::string::npos);

    RandomModelShape phi2;
    REQUIRE(parse_random_model_options({"--arch", "phi2", "--vocab", "300", "--embd", "128", "--heads", "2", "--kv-heads", "2",
                                        "--rot", "32", "--ff", "256", "--type", "f32"}, phi2).empty());
    std::vector<uint8_t> rotary = random_model_gguf(phi2);
    REQUIRE(load_model_bytes(rotary).ok());
    set_value(rotary, "phi2.rope.dimension_count", uint32_t(96));
    st = load_model_bytes(rotary);
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::string(st.detail) == "rope.dimension_count 96 does not fit head size 64");

    // What llama.cpp's graphs for these families assume, refused by name rather than run.
    RandomModelShape varying;  // per-layer widths outside OpenELM (written past the parser, which refuses them)
    varying.arch = "smollm3";
    varying.n_vocab = 300;
    varying.n_embd = 64;
    varying.n_layer = 3;
    varying.type = GgmlType::F32;
    varying.layer_n_head = {2, 8, 4};
    varying.layer_n_head_kv = {1, 8, 2};
    varying.layer_n_ff = {64, 64, 64};
    varying.head_dim = 16;
    st = load_model_bytes(random_model_gguf(varying));
    CHECK(st.code == Error::unsupported_type);
    CHECK(std::string(st.detail) == "architecture 'smollm3' has one head count and feed-forward width for every layer; layer 1 differs from layer 0");

    RandomModelShape narrow = phi2;  // q rows 2 x 24 against an embedding of 128
    narrow.head_dim = 24;
    narrow.n_rot = 24;
    st = load_model_bytes(random_model_gguf(narrow));
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::string(st.detail) == "phi2 needs head_count x head size = embedding_length; 2 x 24 != 128");

    RandomModelShape partial;
    REQUIRE(parse_random_model_options({"--arch", "smollm3", "--vocab", "300", "--embd", "128", "--heads", "2", "--kv-heads", "1",
                                        "--rot", "32", "--ff", "128", "--type", "f32"}, partial).empty());
    st = load_model_bytes(random_model_gguf(partial));
    CHECK(st.code == Error::shape_mismatch);
    CHECK(std::string(st.detail) == "smollm3 rotates whole heads; rope.dimension_count 32 != head size 64");
}

TEST_CASE("text from the file cannot forge or color an error line") {
    RandomModelShape shape;
    shape.arch = "llama\n[generate] model: ok\x1b[31m";
    const std::vector<uint8_t> bytes = random_model_gguf(shape);
    const Status st = load_model_bytes(bytes);
    CHECK(st.code == Error::unsupported_architecture);
    const std::string detail = st.detail;
    CHECK(detail.find('\n') == std::string::npos);
    CHECK(detail.find('\x1b') == std::string::npos);
    CHECK(detail.find("llama\\x0a[generate] model: ok\\x1b[31m") != std::string::npos);
    // Escapes that do not fit end the detail rather than being cut in half.
    std::string many(300, '\x01');
    const Status full = Status::fail(Error::invalid_argument, many.c_str());
    CHECK(std::string(full.detail).size() % 4 == 0);
}
