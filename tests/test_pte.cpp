// ExecuTorch .pte programs: the verified reader, the interpreter on every fixture, refusal of
// delegates and unknown operators by name, and mutated files that must never crash.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "pte_program.hpp"
#include "test_support.hpp"
#include "tinyllm/pte_method.hpp"

using namespace tinyllm;
using namespace test_support;

namespace {

const char* const pte_dir = "fixtures/pte/";

// A loaded program plus one method bound to its own arena.
struct Loaded {
    std::vector<uint8_t> file;
    pte::Program program;
    std::vector<uint8_t> memory;
    Arena arena;
    pte::Method method;
    Status status;

    Status open(std::vector<uint8_t> bytes, const char* method_name, const pte::ExternalData& external = {}) {
        file = std::move(bytes);
        Result<pte::Program> p = pte::open_program(ByteSpan{file.data(), file.size()});
        if (!p) return status = p.status;
        program = *p;
        Result<size_t> need = pte::Method::required_bytes(program, cstr(method_name));
        if (!need) return status = need.status;
        memory.assign(*need, 0);
        arena = Arena(memory.data(), memory.size());
        return status = method.init(program, cstr(method_name), arena, external);
    }
};

std::string detail(const Status& s) { return std::string(error_name(s.code)) + ": " + s.detail; }

// Logits of every `"logits": [...]` array in a reference JSON, in file order.
std::vector<std::vector<float>> json_logit_rows(const std::string& json) {
    std::vector<std::vector<float>> rows;
    const std::string key = "\"logits\": [";
    for (size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1)) {
        const char* p = json.c_str() + at + key.size();
        std::vector<float> row;
        while (*p && *p != ']') {
            char* end;
            row.push_back(std::strtof(p, &end));
            p = end;
            while (*p == ',' || *p == ' ' || *p == '\n') ++p;
        }
        rows.push_back(row);
    }
    return rows;
}

// One decode step of an ExecuTorch Llama export: tokens [1,1], input_pos [1] -> logits.
std::vector<float> decode_step(pte::Method& m, int64_t token, int64_t pos) {
    const int64_t tok_shape[2] = {1, 1}, pos_shape[1] = {1};
    REQUIRE(m.set_input(0, pte::ScalarType::Long, &token, tok_shape, 2).ok());
    REQUIRE(m.set_input(1, pte::ScalarType::Long, &pos, pos_shape, 1).ok());
    Status s = m.execute();
    REQUIRE_MESSAGE(s.ok(), detail(s));
    const pte::Tensor& out = m.output(0).tensor;
    return std::vector<float>(out.as<float>(), out.as<float>() + out.numel());
}

double nrmse(const std::vector<float>& a, const std::vector<float>& b) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        err += double(a[i] - b[i]) * (a[i] - b[i]);
        norm += double(b[i]) * b[i];
    }
    return std::sqrt(err / norm);
}

} // namespace

TEST_CASE("add.pte adds its two inputs exactly") {
    if (!require_shared(std::string(pte_dir) + "add.pte")) return;
    Loaded l;
    REQUIRE_MESSAGE(l.open(read_bytes(shared_path(std::string(pte_dir) + "add.pte")), "forward").ok(), detail(l.status));
    CHECK(l.method.input_count() == 2);
    const float cases[3][3] = {{1, 1, 2}, {2, 3, 5}, {13.25f, 29.25f, 42.5f}};
    const int64_t shape[1] = {1};
    for (const auto& c : cases) {
        REQUIRE(l.method.set_input(0, pte::ScalarType::Float, &c[0], shape, 1).ok());
        REQUIRE(l.method.set_input(1, pte::ScalarType::Float, &c[1], shape, 1).ok());
        REQUIRE(l.method.execute().ok());
        CHECK(l.method.output(0).tensor.as<float>()[0] == c[2]);
    }
    // A wrong input shape is refused by name.
    const float two[2] = {1, 2};
    const int64_t shape2[1] = {2};
    Status s = l.method.set_input(0, pte::ScalarType::Float, two, shape2, 1);
    CHECK(s.code == Error::shape_mismatch);
}

TEST_CASE("constants: legacy constant_buffer and the constant segment") {
    if (!require_shared(std::string(pte_dir) + "ModuleLinear-no-constant-segment.pte")) return;
    // forward(x) = 3 * x + 2 with both constants stored in constant_buffer.
    Loaded linear;
    REQUIRE_MESSAGE(linear.open(read_bytes(shared_path(std::string(pte_dir) + "ModuleLinear-no-constant-segment.pte")), "forward").ok(),
                    detail(linear.status));
    const float x[4] = {1, 2, 3, 4};
    const int64_t shape[2] = {2, 2};
    REQUIRE(linear.method.set_input(0, pte::ScalarType::Float, x, shape, 2).ok());
    REQUIRE(linear.method.execute().ok());
    const float* y = linear.method.output(0).tensor.as<float>();
    CHECK(std::vector<float>(y, y + 4) == std::vector<float>{5, 8, 11, 14});

    // arduino_add: forward(x) = x + 1 with the constant in segment 0.
    Loaded add;
    REQUIRE_MESSAGE(add.open(read_bytes(shared_path(std::string(pte_dir) + "arduino_add.pte")), "forward").ok(), detail(add.status));
    const float a[3] = {1, 2, -3.5f};
    const int64_t shape3[1] = {3};
    REQUIRE(add.method.set_input(0, pte::ScalarType::Float, a, shape3, 1).ok());
    REQUIRE(add.method.execute().ok());
    const float* b = add.method.output(0).tensor.as<float>();
    CHECK(std::vector<float>(b, b + 3) == std::vector<float>{2, 3, -2.5f});
}

TEST_CASE("QNN program: metadata from constant methods, delegated methods refused by backend name") {
    const std::string path = std::string(pte_dir) + "stories260k_hybrid_llama_qnn.pte";
    if (!require_shared(path)) return;
    std::vector<uint8_t> bytes = read_bytes(shared_path(path));
    Result<pte::Program> p = pte::open_program(ByteSpan{bytes.data(), bytes.size()});
    REQUIRE_MESSAGE(p.ok(), detail(p.status));
    CHECK(p->find_plan("kv_forward").t.valid());
    CHECK(p->find_plan("prefill_forward").t.valid());
    const std::map<std::string, int64_t> expected = {{"get_vocab_size", 512}, {"get_n_layers", 5}, {"get_n_kv_heads", 4},
                                                     {"get_max_seq_len", 128}, {"get_dim", 64}, {"get_bos_id", 1}, {"get_eos_id", 2}};
    for (const auto& [name, value] : expected) {
        Loaded l;
        REQUIRE_MESSAGE(l.open(bytes, name.c_str()).ok(), detail(l.status));
        REQUIRE(l.method.execute().ok());
        REQUIRE(l.method.output_count() == 1);
        CHECK_MESSAGE(l.method.output(0).i == value, name);
    }
    Loaded logits_scale;
    REQUIRE(logits_scale.open(bytes, "get_logits_scale").ok());
    CHECK(logits_scale.method.output(0).d == doctest::Approx(0.000679875026));

    for (const char* method : {"kv_forward", "prefill_forward"}) {
        Loaded l;
        Status s = l.open(bytes, method);
        CHECK(s.code == Error::unsupported_delegate);
        CHECK_MESSAGE(std::string(s.detail).find("QnnBackend") != std::string::npos, s.detail);
    }
    Loaded missing;
    Status s = missing.open(bytes, "no_such_method");
    CHECK(s.code == Error::missing_key);
    CHECK(std::string(s.detail).find("kv_forward") != std::string::npos);
}

TEST_CASE("XNNPACK-delegated stories260K is refused naming XnnpackBackend") {
    const std::string path = std::string(pte_dir) + "stories260K_fp32_kv_xnnpack.pte";
    if (!require_shared(path)) return;
    Loaded l;
    Status s = l.open(read_bytes(shared_path(path)), "forward");
    CHECK(s.code == Error::unsupported_delegate);
    CHECK_MESSAGE(std::string(s.detail).find("XnnpackBackend") != std::string::npos, s.detail);
    CHECK(l.program.named_data_count() == 36);
}

TEST_CASE("keyword_spotting.pte is refused at load, naming its missing Cortex-M operators") {
    const std::string path = std::string(pte_dir) + "keyword_spotting.pte";
    if (!require_shared(path)) return;
    Loaded l;
    Status s = l.open(read_bytes(shared_path(path)), "forward");
    CHECK(s.code == Error::unsupported_op);
    CHECK_MESSAGE(std::string(s.detail).find("cortex_m::quantize_per_tensor.out") != std::string::npos, s.detail);
    CHECK_MESSAGE(std::string(s.detail).find("cortex_m::quantized_depthwise_conv2d.out") != std::string::npos, s.detail);
}

TEST_CASE("stories260K fp32 decode program matches PyTorch step by step and greedily") {
    const std::string path = std::string(pte_dir) + "stories260K_fp32_kv.pte";
    if (!require_shared(path)) return;
    const std::string ref = read_text(shared_path(std::string(pte_dir) + "stories260K_reference.json"));
    const std::vector<int> prompt = json_int_array(ref, "prompt_tokens");
    const std::vector<int> greedy = json_int_array(ref, "generated_ids");
    const std::vector<std::vector<float>> steps = json_logit_rows(ref);
    REQUIRE(prompt.size() == 8);
    REQUIRE(steps.size() == prompt.size());
    Loaded l;
    REQUIRE_MESSAGE(l.open(read_bytes(shared_path(path)), "forward").ok(), detail(l.status));
    std::vector<float> logits;
    for (size_t i = 0; i < prompt.size(); ++i) {
        logits = decode_step(l.method, prompt[i], int64_t(i));
        REQUIRE(logits.size() == 512);
        CHECK(nrmse(logits, steps[i]) < 1e-4);
    }
    std::vector<int> generated;
    for (size_t j = 0; j < greedy.size(); ++j) {
        int next = argmax(logits.data(), int(logits.size()));
        generated.push_back(next);
        logits = decode_step(l.method, next, int64_t(prompt.size() + j));
    }
    CHECK(generated == greedy);

    // An out-of-vocabulary token is an error value, not a read past the table.
    int64_t bad = 512, pos = 0;
    const int64_t tok_shape[2] = {1, 1}, pos_shape[1] = {1};
    REQUIRE(l.method.set_input(0, pte::ScalarType::Long, &bad, tok_shape, 2).ok());
    REQUIRE(l.method.set_input(1, pte::ScalarType::Long, &pos, pos_shape, 1).ok());
    CHECK(l.method.execute().code == Error::token_out_of_range);
}

TEST_CASE("stories260K prefill program gives the last prompt position's logits") {
    const std::string path = std::string(pte_dir) + "stories260K_fp32_prefill.pte";
    if (!require_shared(path)) return;
    const std::string ref = read_text(shared_path(std::string(pte_dir) + "stories260K_reference.json"));
    const std::vector<int> prompt = json_int_array(ref, "prompt_tokens");
    const std::vector<std::vector<float>> steps = json_logit_rows(ref);
    Loaded l;
    REQUIRE_MESSAGE(l.open(read_bytes(shared_path(path)), "forward").ok(), detail(l.status));
    std::vector<int64_t> tokens(prompt.begin(), prompt.end()), positions(8);
    for (int i = 0; i < 8; ++i) positions[size_t(i)] = i;
    const int64_t tok_shape[2] = {1, 8}, pos_shape[1] = {8};
    REQUIRE(l.method.set_input(0, pte::ScalarType::Long, tokens.data(), tok_shape, 2).ok());
    REQUIRE(l.method.set_input(1, pte::ScalarType::Long, positions.data(), pos_shape, 1).ok());
    Status s = l.method.execute();
    REQUIRE_MESSAGE(s.ok(), detail(s));
    const pte::Tensor& out = l.method.output(0).tensor;
    std::vector<float> last(out.as<float>(), out.as<float>() + out.numel());
    CHECK(nrmse(last, steps.back()) < 1e-4);
}
