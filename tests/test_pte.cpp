// ExecuTorch .pte programs: the verified reader, the interpreter on every fixture, refusal of
// delegates and unknown operators by name, and mutated files that must never crash.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "pte_support.hpp"
#include "tinyllm/loaders/host/flatbuffer_writer.hpp"
#include "tinyllm/loaders/host/pte_writer.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "test_support.hpp"
#include "tinyllm/pte/method.hpp"

using namespace tinyllm;
using namespace test_support;
using namespace pte_support;

namespace {

const char* const pte_dir = "fixtures/pte/";

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

} // namespace

TEST_CASE("add.pte adds its two inputs exactly") {
    if (!require_shared(std::string(pte_dir) + "add.pte")) return;
    Loaded l;
    REQUIRE_MESSAGE(l.open(read_bytes(shared_path(std::string(pte_dir) + "add.pte")), "forward").ok(), describe(l.status));
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
                    describe(linear.status));
    const float x[4] = {1, 2, 3, 4};
    const int64_t shape[2] = {2, 2};
    REQUIRE(linear.method.set_input(0, pte::ScalarType::Float, x, shape, 2).ok());
    REQUIRE(linear.method.execute().ok());
    const float* y = linear.method.output(0).tensor.as<float>();
    CHECK(std::vector<float>(y, y + 4) == std::vector<float>{5, 8, 11, 14});

    // arduino_add: forward(x) = x + 1 with the constant in segment 0.
    Loaded add;
    REQUIRE_MESSAGE(add.open(read_bytes(shared_path(std::string(pte_dir) + "arduino_add.pte")), "forward").ok(), describe(add.status));
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
    REQUIRE_MESSAGE(p.ok(), describe(p.status));
    CHECK(p->find_plan("kv_forward").t.valid());
    CHECK(p->find_plan("prefill_forward").t.valid());
    const std::map<std::string, int64_t> expected = {{"get_vocab_size", 512}, {"get_n_layers", 5}, {"get_n_kv_heads", 4},
                                                     {"get_max_seq_len", 128}, {"get_dim", 64}, {"get_bos_id", 1}, {"get_eos_id", 2}};
    for (const auto& entry : expected) {  // no structured binding: clang 14 cannot capture one in doctest's lambdas
        const auto& name = entry.first;
        const auto& value = entry.second;
        Loaded l;
        REQUIRE_MESSAGE(l.open(bytes, name.c_str()).ok(), describe(l.status));
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
    REQUIRE_MESSAGE(l.open(read_bytes(shared_path(path)), "forward").ok(), describe(l.status));
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

TEST_CASE("narrowed weights: 16-bit copies where f16 holds every f32 weight exactly, the same logits bit for bit") {
    pte::MethodOptions narrow;
    narrow.narrow_exact_weights = true;
    SUBCASE("shakespeare5m was trained in f16: all 43 linear layers narrow") {
        const std::string path = "models/shakespeare5m_fp32_kv.pte";
        if (!require_shared(path)) return;
        const std::vector<uint8_t> bytes = read_bytes(shared_path(path));
        Loaded plain, narrowed;
        REQUIRE_MESSAGE(plain.open(bytes, "forward").ok(), describe(plain.status));
        REQUIRE_MESSAGE(narrowed.open(bytes, "forward", {}, narrow).ok(), describe(narrowed.status));
        CHECK(plain.method.narrowed_linear_layers() == 0);
        CHECK(narrowed.method.narrowed_linear_layers() == 43);
        CHECK(narrowed.memory.size() - plain.memory.size() >= plain.file.size() / 2 - 1100000);  // all but the embedding table's f32 bytes
        int64_t token = 1;
        for (int64_t pos = 0; pos < 24; ++pos) {
            const std::vector<float> a = decode_step(plain.method, token, pos), b = decode_step(narrowed.method, token, pos);
            REQUIRE(a.size() == b.size());
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
            token = argmax(a.data(), int(a.size()));
        }
    }
    SUBCASE("stories260K was trained in f32: nothing narrows, and it still runs") {
        const std::string path = std::string(pte_dir) + "stories260K_fp32_kv.pte";
        if (!require_shared(path)) return;
        Loaded l;
        REQUIRE_MESSAGE(l.open(read_bytes(shared_path(path)), "forward", {}, narrow).ok(), describe(l.status));
        CHECK(l.method.narrowed_linear_layers() == 0);
        CHECK(decode_step(l.method, 1, 0).size() == 512);
    }
}

TEST_CASE("stories260K prefill program gives the last prompt position's logits") {
    const std::string path = std::string(pte_dir) + "stories260K_fp32_prefill.pte";
    if (!require_shared(path)) return;
    const std::string ref = read_text(shared_path(std::string(pte_dir) + "stories260K_reference.json"));
    const std::vector<int> prompt = json_int_array(ref, "prompt_tokens");
    const std::vector<std::vector<float>> steps = json_logit_rows(ref);
    Loaded l;
    REQUIRE_MESSAGE(l.open(read_bytes(shared_path(path)), "forward").ok(), describe(l.status));
    std::vector<int64_t> tokens(prompt.begin(), prompt.end()), positions(8);
    for (int i = 0; i < 8; ++i) positions[size_t(i)] = i;
    const int64_t tok_shape[2] = {1, 8}, pos_shape[1] = {8};
    REQUIRE(l.method.set_input(0, pte::ScalarType::Long, tokens.data(), tok_shape, 2).ok());
    REQUIRE(l.method.set_input(1, pte::ScalarType::Long, positions.data(), pos_shape, 1).ok());
    Status s = l.method.execute();
    REQUIRE_MESSAGE(s.ok(), describe(s));
    const pte::Tensor& out = l.method.output(0).tensor;
    std::vector<float> last(out.as<float>(), out.as<float>() + out.numel());
    CHECK(nrmse(last, steps.back()) < 1e-4);
}

TEST_CASE("xor.pte: training forward with externally supplied weights matches a hand-written MLP") {
    const std::string path = std::string(pte_dir) + "xor.pte";
    if (!require_shared(path)) return;
    // The weights are stored outside the program (ExecuTorch's EXTERNAL location).
    std::map<std::string, std::vector<float>> params = {
        {"net.linear.weight", {0.5f, -1.0f, 0.25f, 0.75f, -0.5f, 1.5f, 1.0f, 1.0f, -0.25f, 0.5f,
                               0.3f, -0.7f, 0.9f, 0.1f, -1.2f, 0.4f, 0.6f, -0.6f, 0.2f, 0.8f}},
        {"net.linear.bias", {0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -0.5f, 0.25f, -0.25f, 0.05f, 0.15f}},
        {"net.linear2.weight", {1.0f, -1.0f, 0.5f, -0.5f, 0.25f, 0.75f, -0.3f, 0.3f, 0.6f, -0.9f,
                                -0.4f, 0.8f, 0.2f, 0.1f, -0.6f, 0.5f, 0.7f, -0.2f, 0.9f, 0.3f}},
        {"net.linear2.bias", {0.2f, -0.1f}},
    };
    pte::ExternalData external;
    external.context = &params;
    external.find = [](void* ctx, StrView name) {
        auto& m = *static_cast<std::map<std::string, std::vector<float>>*>(ctx);
        auto it = m.find(std::string(name.data(), name.size()));
        if (it == m.end()) return ByteSpan{};
        return ByteSpan{reinterpret_cast<const uint8_t*>(it->second.data()), it->second.size() * sizeof(float)};
    };
    std::vector<uint8_t> bytes = read_bytes(shared_path(path));
    {
        Loaded without;
        Status s = without.open(bytes, "forward");
        CHECK(s.code == Error::missing_tensor);
        CHECK(std::string(s.detail).find("net.linear.weight") != std::string::npos);
    }
    Loaded l;
    REQUIRE_MESSAGE(l.open(bytes, "forward", external).ok(), describe(l.status));
    const float x[2] = {1.0f, 0.0f};
    const int64_t label = 1;
    const int64_t xs[2] = {1, 2}, ls[1] = {1};
    REQUIRE(l.method.set_input(0, pte::ScalarType::Float, x, xs, 2).ok());
    REQUIRE(l.method.set_input(1, pte::ScalarType::Long, &label, ls, 1).ok());
    Status s = l.method.execute();
    REQUIRE_MESSAGE(s.ok(), describe(s));

    // Reference: h = sigmoid(W1 x + b1), z = W2 h + b2, loss = cross-entropy(z, label), and
    // the gradients of the loss with respect to every parameter.
    const auto &w1 = params["net.linear.weight"], &b1 = params["net.linear.bias"];
    const auto &w2 = params["net.linear2.weight"], &b2 = params["net.linear2.bias"];
    double h[10], z[2];
    for (int j = 0; j < 10; ++j) h[j] = 1 / (1 + std::exp(-(w1[size_t(2 * j)] * x[0] + w1[size_t(2 * j + 1)] * x[1] + b1[size_t(j)])));
    for (int c = 0; c < 2; ++c) {
        z[c] = b2[size_t(c)];
        for (int j = 0; j < 10; ++j) z[c] += w2[size_t(10 * c + j)] * h[j];
    }
    const double mx = std::max(z[0], z[1]);
    const double lse = mx + std::log(std::exp(z[0] - mx) + std::exp(z[1] - mx));
    const double loss = lse - z[label];
    double dz[2];
    for (int c = 0; c < 2; ++c) dz[c] = std::exp(z[c] - lse) - (c == label ? 1 : 0);
    std::vector<double> g_w2(20), g_b2(dz, dz + 2), g_w1(20), g_b1(10);
    for (int c = 0; c < 2; ++c)
        for (int j = 0; j < 10; ++j) g_w2[size_t(10 * c + j)] = dz[c] * h[j];
    for (int j = 0; j < 10; ++j) {
        double dh = dz[0] * w2[size_t(j)] + dz[1] * w2[size_t(10 + j)];
        g_b1[size_t(j)] = dh * h[j] * (1 - h[j]);
        g_w1[size_t(2 * j)] = g_b1[size_t(j)] * x[0];
        g_w1[size_t(2 * j + 1)] = g_b1[size_t(j)] * x[1];
    }
    REQUIRE(l.method.output_count() == 10);
    CHECK(l.method.output(0).tensor.as<float>()[0] == doctest::Approx(loss).epsilon(1e-5));
    CHECK(l.method.output(1).tensor.as<int64_t>()[0] == (z[1] > z[0] ? 1 : 0));
    auto check_close = [&](uint32_t out, const std::vector<double>& want) {
        const pte::Tensor& t = l.method.output(out).tensor;
        REQUIRE(size_t(t.numel()) == want.size());
        for (size_t k = 0; k < want.size(); ++k) CHECK(t.as<float>()[k] == doctest::Approx(want[k]).epsilon(1e-4).scale(1e-6));
    };
    check_close(2, g_w1);
    check_close(3, g_b1);
    check_close(4, g_w2);
    check_close(5, g_b2);
    check_close(6, std::vector<double>(w1.begin(), w1.end()));
}

// Loads (and, for small programs, runs) every method; any outcome is fine except a crash,
// a hang, or a sanitizer report.
static void exercise(const std::vector<uint8_t>& bytes) {
    Result<pte::Program> p = pte::open_program(ByteSpan{bytes.data(), bytes.size()});
    if (!p) {
        CHECK(p.status.detail[0] != 0);  // every refusal names its problem
        return;
    }
    for (uint32_t i = 0; i < p->plan_count(); ++i) {
        pte::PlanView plan = p->plan(i);
        Result<size_t> need = pte::Method::required_bytes(*p, plan.name());
        if (!need || *need > (size_t(64) << 20)) continue;
        std::vector<uint8_t> memory(*need);
        Arena arena(memory.data(), memory.size());
        pte::Method m;
        Status s = m.init(*p, plan.name(), arena);
        if (!s) {
            CHECK(s.detail[0] != 0);
            continue;
        }
        if (plan.chain_count() && plan.instruction_count(0) <= 600) (void)m.execute();
    }
}

TEST_CASE("fuzz: mutated programs load, run or fail with a named error, never crash") {
    const char* files[] = {"add.pte", "arduino_add.pte", "ModuleLinear-no-constant-segment.pte", "xor.pte", "keyword_spotting.pte",
                           "stories260k_hybrid_llama_qnn.pte", "stories260K_fp32_kv.pte"};
    // A fixed seed keeps CI reproducible; TINYLLM_FUZZ_SEED explores further.
    const char* seed = std::getenv("TINYLLM_FUZZ_SEED");
    std::mt19937 rng(seed ? uint32_t(std::strtoul(seed, nullptr, 10)) : 1234u);
    int loaded = 0, total = 0;
    for (const char* name : files) {
        const std::string path = std::string(pte_dir) + name;
        if (!require_shared(path)) return;
        const std::vector<uint8_t> original = read_bytes(shared_path(path));
        Result<pte::Program> p = pte::open_program(ByteSpan{original.data(), original.size()});
        REQUIRE(p.ok());
        // Mutations target the flatbuffer; segments are opaque data.
        const size_t structure = p->header.present ? size_t(p->header.program_size) : original.size();
        const int rounds = structure > 20000 ? 300 : 1000;
        for (int r = 0; r < rounds; ++r) {
            std::vector<uint8_t> bytes = original;
            switch (r % 4) {
            case 0:  // bit flips
                for (int k = 0; k < 1 + int(rng() % 4); ++k) bytes[rng() % structure] ^= uint8_t(1u << (rng() % 8));
                break;
            case 1:  // truncation
                bytes.resize(rng() % original.size());
                break;
            case 2: {  // a 32-bit offset or count replaced by a boundary value
                const uint32_t values[] = {0, 1, 0x7fffffff, 0xffffffff, uint32_t(structure), uint32_t(structure - 4), 0x80000000};
                size_t at = (rng() % (structure / 4)) * 4;
                uint32_t v = values[rng() % 7];
                std::memcpy(&bytes[at], &v, 4);
                break;
            }
            default: {  // a random byte anywhere in the structure
                bytes[rng() % structure] = uint8_t(rng());
                break;
            }
            }
            exercise(bytes);
            ++total;
            loaded += pte::open_program(ByteSpan{bytes.data(), bytes.size()}).ok();
        }
    }
    MESSAGE(total << " mutated programs, " << loaded << " still valid");
    CHECK(total > 3000);
}

// Quantized exports (QUANTIZED.md): torchao affine quantization, int8 embeddings, int8/int4
// weights. The linear layers run fused on the stored int8 codes; results must stay within
// the float tolerance of PyTorch on the same quantized module.
TEST_CASE("quantized programs (8da4w, int4 weights, int8) match their PyTorch references") {
    struct Case {
        const char* program;
        bool exact_continuation;  // QUANTIZED.md: 8da4w shakespeare5m may flip late int8 roundings
    };
    const Case cases[] = {{"fixtures/pte/stories260K_8da4w_g32_kv", true}, {"fixtures/pte/stories260K_int4w_g32_kv", true},
                          {"fixtures/pte/stories260K_int8_kv", true}, {"models/shakespeare5m_int8_kv", true},
                          {"models/shakespeare5m_8da4w_g32_kv", false}};
    for (const Case& c : cases) {
        CAPTURE(std::string(c.program));
        const std::string base = c.program;
        if (!require_shared(base + ".pte")) return;
        const std::string ref = read_text(shared_path(base + "_reference.json"));
        const std::vector<int> prompt = json_int_array(ref, "prompt_tokens");
        const std::vector<int> greedy = json_int_array(ref, "generated_ids");
        // Rows beyond the prompt (where present) belong to the continuation.
        const std::vector<std::vector<float>> steps = json_logit_rows(ref);
        REQUIRE(steps.size() >= prompt.size());
        Loaded l;
        REQUIRE_MESSAGE(l.open(read_bytes(shared_path(base + ".pte")), "forward").ok(), describe(l.status));
        std::vector<float> logits;
        for (size_t i = 0; i < prompt.size(); ++i) {
            logits = decode_step(l.method, prompt[i], int64_t(i));
            CHECK(nrmse(logits, steps[i]) < 1e-3);
            CHECK(argmax(logits.data(), int(logits.size())) == argmax(steps[i].data(), int(steps[i].size())));
        }
        if (!c.exact_continuation) continue;
        std::vector<int> generated;
        for (size_t j = 0; j < greedy.size(); ++j) {
            generated.push_back(argmax(logits.data(), int(logits.size())));
            logits = decode_step(l.method, generated.back(), int64_t(prompt.size() + j));
        }
        CHECK(generated == greedy);
    }
}

// ---- programs built here: control flow, moves and malformed calls the fixtures lack ----

namespace {

using namespace tinyllm::flatbuffer_writer;

NodePtr evalue(uint8_t kind, NodePtr val) {
    NodePtr v = table();
    set<uint8_t>(v, 0, kind);
    if (val) child(v, 1, val);
    return v;
}
NodePtr tensor_value(pte::ScalarType type, std::vector<int32_t> sizes, int planned_offset) {
    NodePtr t = table();
    set<int8_t>(t, 0, int8_t(type));
    child(t, 2, scalars(sizes));
    std::vector<uint8_t> order;
    for (size_t d = 0; d < sizes.size(); ++d) order.push_back(uint8_t(d));
    child(t, 3, scalars(order));
    if (planned_offset >= 0) {
        NodePtr alloc = table();
        set<uint32_t>(alloc, 0, 1);
        set<uint32_t>(alloc, 1, uint32_t(planned_offset));
        child(t, 6, alloc);
    }
    return evalue(5, t);
}
NodePtr int_value(int64_t i) {
    NodePtr t = table();
    set<int64_t>(t, 0, i);
    return evalue(2, t);
}
NodePtr instruction(uint8_t kind, NodePtr args) {
    NodePtr in = table();
    set<uint8_t>(in, 0, kind);
    child(in, 1, args);
    return in;
}
NodePtr kernel_call(int32_t op, std::vector<int32_t> args) {
    NodePtr k = table();
    set<int32_t>(k, 0, op);
    child(k, 1, scalars(args));
    return instruction(1, k);
}
NodePtr pair_call(uint8_t kind, int32_t a, int32_t b) {  // MoveCall (from, to), JumpFalseCall (cond, dest)
    NodePtr k = table();
    set<int32_t>(k, 0, a);
    set<int32_t>(k, 1, b);
    return instruction(kind, k);
}
NodePtr free_call(int32_t v) {
    NodePtr k = table();
    set<int32_t>(k, 0, v);
    return instruction(5, k);
}

// forward(x float[1], cond bool[1]): if cond, y = x + x; z = y + x; free x; move z -> y; return y.
std::vector<uint8_t> control_flow_program(int32_t jump_target, const char* op_name, std::vector<int32_t> add_args) {
    NodePtr op = table();
    child(op, 0, str(op_name));
    child(op, 1, str("out"));
    NodePtr chain = table();
    child(chain, 0, scalars(std::vector<int32_t>{0, 2}));
    child(chain, 1, scalars(std::vector<int32_t>{1}));
    child(chain, 2, nodes({pair_call(4, 2, jump_target), kernel_call(0, add_args), kernel_call(0, {1, 0, 3, 4, 4}), free_call(0),
                           pair_call(3, 4, 1)}));
    NodePtr plan = table();
    child(plan, 0, str("forward"));
    child(plan, 2, nodes({tensor_value(pte::ScalarType::Float, {1}, -1), tensor_value(pte::ScalarType::Float, {1}, 0),
                          tensor_value(pte::ScalarType::Bool, {1}, -1), int_value(1), tensor_value(pte::ScalarType::Float, {1}, 16)}));
    child(plan, 3, scalars(std::vector<int32_t>{0, 2}));
    child(plan, 4, scalars(std::vector<int32_t>{1}));
    child(plan, 5, nodes({chain}));
    child(plan, 6, nodes({op}));
    child(plan, 8, scalars(std::vector<int64_t>{0, 32}));
    NodePtr program = table();
    set<uint32_t>(program, 0, 0);
    child(program, 1, nodes({plan}));
    return Writer().finish(program, "ET12");
}

float run_control_flow(const std::vector<uint8_t>& bytes, float x, bool cond) {
    Loaded l;
    REQUIRE_MESSAGE(l.open(bytes, "forward").ok(), describe(l.status));
    const int64_t shape[1] = {1};
    const uint8_t c = cond;
    REQUIRE(l.method.set_input(0, pte::ScalarType::Float, &x, shape, 1).ok());
    REQUIRE(l.method.set_input(1, pte::ScalarType::Bool, &c, shape, 1).ok());
    Status s = l.method.execute();
    REQUIRE_MESSAGE(s.ok(), describe(s));
    return l.method.output(0).tensor.as<float>()[0];
}

} // namespace

TEST_CASE("control flow: JumpFalse skips, MoveCall rebinds, FreeCall is harmless") {
    const std::vector<uint8_t> program = control_flow_program(2, "aten::add", {0, 0, 3, 1, 1});
    CHECK(run_control_flow(program, 2.5f, true) == 7.5f);   // y = 2x, z = 3x, returned through the move
    CHECK(run_control_flow(program, 2.5f, false) == 2.5f);  // the add is skipped: y stays 0, z = x
}

TEST_CASE("built programs with a fault are refused with a named error") {
    // A backward jump could loop forever: refused when the program is opened.
    std::vector<uint8_t> backward = control_flow_program(0, "aten::add", {0, 0, 3, 1, 1});
    Result<pte::Program> p = pte::open_program(ByteSpan{backward.data(), backward.size()});
    CHECK(p.status.code == Error::corrupt);
    CHECK(std::string(p.status.detail).find("jump") != std::string::npos);
    // An operator tinyllm lacks: refused at load, by name.
    Loaded unknown;
    Status s = unknown.open(control_flow_program(2, "aten::frobnicate", {0, 0, 3, 1, 1}), "forward");
    CHECK(s.code == Error::unsupported_op);
    CHECK(std::string(s.detail).find("aten::frobnicate.out") != std::string::npos);
    // A call whose argument count does not match the kernel.
    Loaded short_call;
    s = short_call.open(control_flow_program(2, "aten::add", {0, 0, 1, 1}), "forward");
    CHECK(s.code == Error::invalid_argument);
    // A call passing an int where the kernel needs a tensor.
    Loaded wrong_kind;
    s = wrong_kind.open(control_flow_program(2, "aten::add", {0, 3, 3, 1, 1}), "forward");
    CHECK(s.code == Error::invalid_argument);
    CHECK(std::string(s.detail).find("int") != std::string::npos);
    // A value index past the table.
    std::vector<uint8_t> out_of_range = control_flow_program(2, "aten::add", {0, 0, 3, 1, 99});
    CHECK(pte::open_program(ByteSpan{out_of_range.data(), out_of_range.size()}).status.code == Error::corrupt);
}

TEST_CASE("mutable data segments: a planned tensor starts from its stored value, then keeps its state") {
    // forward(x float[2]): state = state + x; returns state. The state's initial value [10, 20]
    // lives in segment 0 through mutable_data_segments; the plan keeps it across calls.
    NodePtr state = table();
    set<int8_t>(state, 0, int8_t(pte::ScalarType::Float));
    child(state, 2, scalars(std::vector<int32_t>{2}));
    child(state, 3, scalars(std::vector<uint8_t>{0}));
    set<uint32_t>(state, 5, 1);  // data_buffer_idx 1 of the mutable segment offsets
    NodePtr alloc = table();
    set<uint32_t>(alloc, 0, 1);
    set<uint32_t>(alloc, 1, 0);
    child(state, 6, alloc);
    NodePtr op = table();
    child(op, 0, str("aten::add"));
    child(op, 1, str("out"));
    NodePtr chain = table();
    child(chain, 2, nodes({kernel_call(0, {1, 0, 2, 1, 1})}));
    NodePtr plan = table();
    child(plan, 0, str("forward"));
    child(plan, 2, nodes({tensor_value(pte::ScalarType::Float, {2}, -1), evalue(5, state), int_value(1)}));
    child(plan, 3, scalars(std::vector<int32_t>{0}));
    child(plan, 4, scalars(std::vector<int32_t>{1}));
    child(plan, 5, nodes({chain}));
    child(plan, 6, nodes({op}));
    child(plan, 8, scalars(std::vector<int64_t>{0, 16}));
    NodePtr segment = table();
    set<uint64_t>(segment, 0, 0);
    set<uint64_t>(segment, 1, 32);
    NodePtr mutable_offsets = table();
    set<uint32_t>(mutable_offsets, 0, 0);
    child(mutable_offsets, 1, scalars(std::vector<uint64_t>{0, 16}));
    NodePtr program = table();
    child(program, 1, nodes({plan}));
    child(program, 4, nodes({segment}));
    child(program, 6, nodes({mutable_offsets}));
    std::vector<uint8_t> data(32, 0);
    const float initial[2] = {10, 20};
    std::memcpy(data.data() + 16, initial, 8);
    Loaded l;
    std::vector<uint8_t> file = Writer().finish_pte(program, data.size());
    file.insert(file.end(), data.begin(), data.end());
    REQUIRE_MESSAGE(l.open(file, "forward").ok(), describe(l.status));
    const float x[2] = {1, 2};
    const int64_t shape[1] = {2};
    for (int call = 1; call <= 2; ++call) {
        REQUIRE(l.method.set_input(0, pte::ScalarType::Float, x, shape, 1).ok());
        REQUIRE(l.method.execute().ok());
        const float* y = l.method.output(0).tensor.as<float>();
        CHECK(y[0] == 10.0f + float(call));
        CHECK(y[1] == 20.0f + 2.0f * float(call));
    }
}

namespace {

struct Call {
    const char* op;
    const char* overload;
    std::vector<int32_t> args;
};

// A straight-line method "forward" over one planned buffer of `buffer_bytes`.
std::vector<uint8_t> straight_line_program(const std::vector<NodePtr>& values, const std::vector<Call>& calls, std::vector<int32_t> inputs,
                                           std::vector<int32_t> outputs, int64_t buffer_bytes) {
    std::vector<std::pair<std::string, std::string>> names;
    std::vector<NodePtr> ops, instructions;
    for (const Call& c : calls) {
        auto key = std::make_pair(std::string(c.op), std::string(c.overload));
        size_t index = std::find(names.begin(), names.end(), key) - names.begin();
        if (index == names.size()) {
            names.push_back(key);
            NodePtr op = table();
            child(op, 0, str(c.op));
            child(op, 1, str(c.overload));
            ops.push_back(op);
        }
        instructions.push_back(kernel_call(int32_t(index), c.args));
    }
    NodePtr chain = table();
    child(chain, 0, scalars(inputs));
    child(chain, 1, scalars(outputs));
    child(chain, 2, nodes(instructions));
    NodePtr plan = table();
    child(plan, 0, str("forward"));
    child(plan, 2, nodes(values));
    child(plan, 3, scalars(inputs));
    child(plan, 4, scalars(outputs));
    child(plan, 5, nodes({chain}));
    child(plan, 6, nodes(ops));
    child(plan, 8, scalars(std::vector<int64_t>{0, buffer_bytes}));
    NodePtr program = table();
    child(program, 1, nodes({plan}));
    return Writer().finish(program, "ET12");
}

NodePtr none_value() { return evalue(1, nullptr); }
NodePtr bool_value(bool b) {
    NodePtr t = table();
    set<uint8_t>(t, 0, b);
    return evalue(3, t);
}

// Runs forward(x float[4]) and returns its float[4] output.
std::vector<float> run_straight_line(Loaded& l, const std::vector<uint8_t>& program, const float* x) {
    REQUIRE_MESSAGE(l.open(program, "forward").ok(), describe(l.status));
    const int64_t shape[1] = {4};
    REQUIRE(l.method.set_input(0, pte::ScalarType::Float, x, shape, 1).ok());
    Status s = l.method.execute();
    REQUIRE_MESSAGE(s.ok(), describe(s));
    const float* out = l.method.output(0).tensor.as<float>();
    return std::vector<float>(out, out + 4);
}

// c = x * x (at y's future bytes); a = producer(x, c); y = clone(a); b = x * x (over a's
// bytes); out = y + b. Values 6-9: int 1, none, int 0, bool false.
std::vector<uint8_t> reused_input_program(const Call& producer) {
    auto f32 = [](int offset) { return tensor_value(pte::ScalarType::Float, {4}, offset); };
    std::vector<NodePtr> v = {f32(-1), f32(16), f32(0), f32(16), f32(0), f32(32), int_value(1), none_value(), int_value(0), bool_value(false)};
    return straight_line_program(v,
                                 {{"aten::mul", "out", {0, 0, 1, 1}},
                                  producer,
                                  {"aten::clone", "out", {2, 7, 3, 3}},
                                  {"aten::mul", "out", {0, 0, 4, 4}},
                                  {"aten::add", "out", {3, 4, 6, 5, 5}}},
                                 {0}, {5}, 48);
}

} // namespace

TEST_CASE("byte copies share memory with their input where the memory plan allows it, never changing results") {
    using pte::ScalarType;
    const float x[4] = {1, -2, 0.5f, 3};
    auto f32 = [](int offset) { return tensor_value(ScalarType::Float, {4}, offset); };

    SUBCASE("the copy reads its input's bytes while nothing overwrites them") {
        // a = x + x; y = clone(a); out = y + a
        std::vector<NodePtr> v = {f32(-1), f32(0), f32(16), f32(32), int_value(1), none_value()};
        std::vector<uint8_t> program = straight_line_program(
            v, {{"aten::add", "out", {0, 0, 4, 1, 1}}, {"aten::clone", "out", {1, 5, 2, 2}}, {"aten::add", "out", {2, 1, 4, 3, 3}}}, {0}, {3}, 48);
        Loaded l;
        std::vector<float> out = run_straight_line(l, program, x);
        CHECK(l.method.skipped_instructions() == 1);
        for (int k = 0; k < 4; ++k) CHECK(out[k] == 4 * x[k]);
    }
    SUBCASE("the input is written into the copy's bytes when its own are reused, even in place over an elementwise operand") {
        std::vector<uint8_t> program = reused_input_program({"aten::add", "out", {0, 1, 6, 2, 2}});
        Loaded l;
        std::vector<float> out = run_straight_line(l, program, x);
        CHECK(l.method.skipped_instructions() == 1);
        for (int k = 0; k < 4; ++k) CHECK(out[k] == x[k] + 2 * x[k] * x[k]);
    }
    SUBCASE("the copy runs when neither tensor can hold both") {
        // a = softmax(c): not elementwise, so it cannot write over c.
        std::vector<uint8_t> program = reused_input_program({"aten::_softmax", "out", {1, 8, 9, 2, 2}});
        Loaded l;
        std::vector<float> out = run_straight_line(l, program, x);
        CHECK(l.method.skipped_instructions() == 0);
        double sum = 0;
        for (int k = 0; k < 4; ++k) sum += std::exp(double(x[k]) * x[k]);
        for (int k = 0; k < 4; ++k) CHECK(out[k] == doctest::Approx(std::exp(double(x[k]) * x[k]) / sum + x[k] * x[k]).epsilon(1e-6));
    }
}

NodePtr int_list_value(std::vector<int64_t> items) {  // items: indices of Int values
    NodePtr t = table();
    child(t, 0, scalars(items));
    return evalue(7, t);
}

TEST_CASE("a copy of a copy reads the first copy's input directly, as GQA's expanded-then-transposed KV cache does") {
    // e = expand(x [1,2,3] -> [2,2,3]); ev = e viewed as [4,3]; y = permute(ev, (1,0)) [3,4].
    // Values 4-8 ints, 9-10 their lists, 11 false; 12 a second reader of e when `shared`.
    using pte::ScalarType;
    auto program = [](bool shared) {
        std::vector<NodePtr> v = {tensor_value(ScalarType::Float, {1, 2, 3}, -1), tensor_value(ScalarType::Float, {2, 2, 3}, 0),
                                  tensor_value(ScalarType::Float, {4, 3}, 0),     tensor_value(ScalarType::Float, {3, 4}, 64),
                                  int_value(2), int_value(2), int_value(3), int_value(1), int_value(0), int_list_value({4, 5, 6}),
                                  int_list_value({7, 8}), bool_value(false), tensor_value(ScalarType::Float, {2, 2, 3}, 128)};
        std::vector<Call> calls = {{"aten::expand_copy", "out", {0, 9, 11, 1, 1}}, {"aten::permute_copy", "out", {2, 10, 3, 3}}};
        if (shared) calls.push_back({"aten::add", "out", {1, 1, 7, 12, 12}});
        return straight_line_program(v, calls, {0}, {3}, 192);
    };
    const float x[6] = {1, 2, 3, 4, 5, 6};
    for (bool shared : {false, true}) {
        CAPTURE(shared);
        Loaded l;
        REQUIRE_MESSAGE(l.open(program(shared), "forward").ok(), describe(l.status));
        CHECK(l.method.skipped_instructions() == (shared ? 0u : 1u));  // the expansion, when only the permute reads it
        const int64_t shape[3] = {1, 2, 3};
        REQUIRE(l.method.set_input(0, ScalarType::Float, x, shape, 3).ok());
        for (int run = 0; run < 2; ++run) {
            Status s = l.method.execute();
            REQUIRE_MESSAGE(s.ok(), describe(s));
            const float* y = l.method.output(0).tensor.as<float>();
            for (int k = 0; k < 3; ++k)
                for (int r = 0; r < 4; ++r) CHECK(y[k * 4 + r] == x[(r % 2) * 3 + k]);  // y[k][r] = ev[r][k] = x[r % 2][k]
        }
    }
}

namespace {

// A program of one dequantization read through views: y = ones [1, cols] . view(D)^T, D the
// dequantized codes (dequantize_per_channel over [rows, 32], or dequantize_affine with groups
// of 32 along rows of `q_cols`), and, with `second_view`, z = 2 * view(D) as a second output.
std::vector<uint8_t> dequantized_product(bool affine, int64_t q_rows, int64_t q_cols, int64_t view_rows, bool second_view,
                                         const std::vector<int8_t>& codes, const std::vector<float>& scales) {
    pte::ProgramWriter w;
    const int64_t numel = q_rows * q_cols, view_cols = numel / view_rows;
    const int q = w.constant_tensor(pte::ScalarType::Char, {q_rows, q_cols}, std::vector<uint8_t>(codes.begin(), codes.end()));
    std::vector<uint8_t> scale_bytes(scales.size() * 4), ones(size_t(view_cols) * 4);
    std::memcpy(scale_bytes.data(), scales.data(), scale_bytes.size());
    const float one = 1.0f;
    for (int64_t k = 0; k < view_cols; ++k) std::memcpy(ones.data() + 4 * k, &one, 4);
    const int64_t groups = (q_cols + 31) / 32;
    const int s = w.constant_tensor(pte::ScalarType::Float, affine ? std::vector<int64_t>{q_rows, groups} : std::vector<int64_t>{q_rows}, scale_bytes);
    const int x = w.constant_tensor(pte::ScalarType::Float, {1, view_cols}, ones);
    const int d = w.planned_tensor(pte::ScalarType::Float, {q_rows, q_cols});
    if (affine)
        w.call("torchao::dequantize_affine", "out",
               {q, w.int_list({1, 32}), s, w.null_value(), w.int_value(1), w.int_value(-128), w.int_value(127), w.int_value(6)}, d);
    else
        w.call("quantized_decomposed::dequantize_per_channel", "out",
               {q, s, w.null_value(), w.int_value(0), w.int_value(-128), w.int_value(127), w.int_value(1), w.null_value()}, d);
    const int t = w.planned_tensor(pte::ScalarType::Float, {view_cols, view_rows});
    w.call("aten::permute_copy", "out", {w.view(d, {view_rows, view_cols}), w.int_list({1, 0})}, t);
    const int y = w.planned_tensor(pte::ScalarType::Float, {1, view_rows});
    w.call("aten::mm", "out", {x, t}, y);
    std::vector<int> outputs{y};
    if (second_view) {
        const int v = w.view(d, {view_rows, view_cols}), z = w.planned_tensor(pte::ScalarType::Float, {view_rows, view_cols});
        w.call("aten::add", "out", {v, v, w.int_value(1)}, z);
        outputs.push_back(z);
    }
    w.set_io({}, outputs);
    FILE* f = std::tmpfile();
    REQUIRE(w.write("forward", f));
    std::vector<uint8_t> bytes(size_t(std::ftell(f)));
    std::rewind(f);
    REQUIRE(std::fread(bytes.data(), 1, bytes.size(), f) == bytes.size());
    std::fclose(f);
    return bytes;
}

} // namespace

TEST_CASE("linear-layer fusion keeps a dequantization another view reads, or whose groups do not follow the product's rows") {
    std::vector<int8_t> codes(192);
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = int8_t(int(i % 7) - 3);
    struct Case {
        bool affine, second_view;
        int64_t q_rows, q_cols, view_rows;
        std::vector<float> scales;
    };
    const Case cases[] = {{false, false, 4, 32, 2, {0.5f, 1, 2, 4}},  // fused: the permute is the only reader
                          {false, true, 4, 32, 2, {0.5f, 1, 2, 4}},   // another view reads the dequantized bytes
                          {true, false, 4, 48, 2, {0.5f, 1, 2, 4, 0.25f, 8, 3, 1}}};  // groups along rows of 48, product rows of 96
    for (const Case& c : cases) {
        CAPTURE(c.affine);
        CAPTURE(c.second_view);
        const int64_t numel = c.q_rows * c.q_cols, cols = numel / c.view_rows;
        std::vector<float> d(static_cast<size_t>(numel));
        for (int64_t i = 0; i < numel; ++i) {
            const int64_t row = i / c.q_cols, scale = c.affine ? row * ((c.q_cols + 31) / 32) + (i % c.q_cols) / 32 : row;
            d[size_t(i)] = float(codes[size_t(i)]) * c.scales[size_t(scale)];
        }
        Loaded l;
        REQUIRE_MESSAGE(l.open(dequantized_product(c.affine, c.q_rows, c.q_cols, c.view_rows, c.second_view, codes, c.scales), "forward").ok(),
                        describe(l.status));
        REQUIRE(l.method.execute().ok());
        for (int64_t r = 0; r < c.view_rows; ++r) {
            double want = 0;
            for (int64_t k = 0; k < cols; ++k) want += d[size_t(r * cols + k)];
            CHECK(l.method.output(0).tensor.as<float>()[r] == doctest::Approx(want));
        }
        if (c.second_view)
            for (int64_t i = 0; i < numel; ++i) CHECK(l.method.output(1).tensor.as<float>()[i] == 2 * d[size_t(i)]);
    }
}
