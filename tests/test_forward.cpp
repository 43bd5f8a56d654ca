// Forward-pass tests: logits against llama.cpp / PyTorch references within the documented
// tolerances, held-back shapes against a straightforward double-precision reference written
// here, batching and thread-count invariance.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <cmath>
#include <omp.h>

#include "../examples/random_llama.hpp"
#include "gguf_model_file.hpp"
#include "tinyllm/session.hpp"

using namespace tinyllm;
using test_support::shared_path;

namespace {

struct Loaded {
    GgufModelFile file;
    Model model;
    std::vector<uint8_t> memory;
    Arena arena;
    Session session;

    Status open_bytes_or_file(const std::string& path) {
        Status st = file.open(path);
        if (!st) return st;
        return finish();
    }
    Status finish() {
        Status st = file.load(model);
        if (!st) return st;
        memory.assign(Session::required_bytes(model, model.config.n_ctx_train, 64), 0);
        arena = Arena(memory.data(), memory.size());
        return session.init(model, model.config.n_ctx_train, 64, arena);
    }
};

struct Comparison {
    double max_nrmse = 0.0;
    int argmax_equal = 0;
};

int argmax(const float* v, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

Comparison compare(const std::vector<float>& ours, const std::vector<float>& ref, int n_vocab) {
    Comparison c;
    for (size_t row = 0; row < ref.size() / size_t(n_vocab); ++row) {
        double err = 0.0, norm = 0.0;
        const float* a = ours.data() + row * n_vocab;
        const float* b = ref.data() + row * n_vocab;
        for (int i = 0; i < n_vocab; ++i) {
            err += double(a[i] - b[i]) * (a[i] - b[i]);
            norm += double(b[i]) * b[i];
        }
        c.max_nrmse = std::max(c.max_nrmse, std::sqrt(err / norm));
        c.argmax_equal += argmax(a, n_vocab) == argmax(b, n_vocab);
    }
    return c;
}

std::vector<int> greedy(Session& s, int first_token, int n, int n_vocab) {
    std::vector<int> out;
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    int32_t tok = first_token;
    for (int i = 0; i < n; ++i) {
        out.push_back(tok);
        REQUIRE(s.eval(&tok, 1, logits.data(), false).ok());
        tok = argmax(logits.data(), n_vocab);
    }
    return out;
}

// Checks one reference (json + logits) against the model at `gguf`.
void check_reference(const std::string& gguf, const std::string& json, const std::string& logits_file,
                     bool quantized, int greedy_count) {
    if (!test_support::require_shared(gguf)) return;
    INFO("model ", gguf);
    Loaded m;
    Status st = m.open_bytes_or_file(shared_path(gguf));
    REQUIRE_MESSAGE(st.ok(), (std::string(error_name(st.code)) + ": " + st.detail));
    std::string j = test_support::read_text(shared_path(json));
    std::vector<int> prompt = test_support::json_int_array(j, "prompt");
    std::vector<int> expected_greedy = test_support::json_int_array(j, "greedy");
    std::vector<float> ref = test_support::read_f32(shared_path(logits_file));
    const int V = m.model.config.n_vocab;
    REQUIRE(ref.size() == prompt.size() * size_t(V));

    std::vector<float> ours(ref.size());
    REQUIRE(m.session.eval(prompt.data(), int(prompt.size()), ours.data(), true).ok());
    Comparison c = compare(ours, ref, V);
    MESSAGE(gguf, ": max nrmse ", c.max_nrmse, ", argmax equal ", c.argmax_equal, "/", prompt.size());
    if (quantized) {
        CHECK(c.max_nrmse <= 0.05);
        CHECK(c.argmax_equal * 16 >= 14 * int(prompt.size()));
    } else {
        CHECK(c.max_nrmse <= 0.005);
        CHECK(c.argmax_equal == int(prompt.size()));
    }
    if (greedy_count > 0) {
        int first = argmax(ours.data() + (prompt.size() - 1) * V, V);
        std::vector<int> got = greedy(m.session, first, greedy_count, V);
        expected_greedy.resize(size_t(greedy_count));
        CHECK(got == expected_greedy);
    }
}

} // namespace

TEST_CASE("stories260K matches llama.cpp and llama2.c") {
    const std::string d = "fixtures/gguf/";
    check_reference(d + "stories260K-f32.gguf", d + "stories260K-f32.ref.json", d + "stories260K-f32.ref.logits.f32", false, 32);
    check_reference(d + "stories260K-f16.gguf", d + "stories260K-f16.ref.json", d + "stories260K-f16.ref.logits.f32", false, 32);
    check_reference(d + "stories260K-f32.gguf", d + "stories260K.llama2c.json", d + "stories260K.llama2c.logits.f32", false, 0);
}

TEST_CASE("shakespeare5m f16 matches PyTorch logits and its first 64 greedy ids") {
    const std::string d = "models/";
    check_reference(d + "shakespeare5m-f16.gguf", d + "shakespeare5m.torch.json", d + "shakespeare5m.torch.logits.f32", false, 0);
    if (!test_support::require_shared(d + "shakespeare5m-f16.gguf")) return;
    Loaded m;
    REQUIRE(m.open_bytes_or_file(shared_path(d + "shakespeare5m-f16.gguf")).ok());
    std::string j = test_support::read_text(shared_path(d + "shakespeare5m.torch.json"));
    std::vector<int> prompt = test_support::json_int_array(j, "prompt");
    std::vector<int> expected = test_support::json_int_array(j, "greedy");
    const int V = m.model.config.n_vocab;
    std::vector<float> logits(static_cast<size_t>(V));
    REQUIRE(m.session.eval(prompt.data(), int(prompt.size()), logits.data(), false).ok());
    expected.resize(64);
    CHECK(greedy(m.session, argmax(logits.data(), V), 64, V) == expected);
}

TEST_CASE("synthetic llama models of every supported type match llama.cpp") {
    for (const char* type : {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_m",
                             "q5_k_m", "q6_k", "iq4_nl", "iq4_xs"}) {
        const std::string base = std::string("fixtures/gguf/synthetic/llama-") + type;
        const bool quantized = type[0] == 'q' || type[0] == 'i';
        check_reference(base + ".gguf", base + ".ref.json", base + ".ref.logits.f32", quantized, 0);
    }
}

TEST_CASE("demo model in every type matches llama.cpp") {
    for (const char* type : {"f16", "q8_0", "q4_0", "q4_k_m"}) {
        const std::string base = std::string("models/shakespeare5m-") + type;
        check_reference(base + ".gguf", base + ".ref.json", base + ".ref.logits.f32", type[0] == 'q', 0);
    }
}

// ---- Held-back shapes against a plain double-precision forward written for the test ----

namespace {

// Reference Llama forward over all positions at once, from the textbook definition.
std::vector<float> reference_forward(const Model& m, const std::vector<int>& tokens) {
    const ModelConfig& c = m.config;
    const int E = c.n_embd, D = c.head_dim, T = int(tokens.size());
    auto row_of = [](const WeightView& w, int r) {
        std::vector<float> v(static_cast<size_t>(w.cols));
        dequantize_row(w, r, v.data());
        return v;
    };
    auto matvec = [&](const WeightView& w, const std::vector<double>& x) {
        std::vector<double> y(static_cast<size_t>(w.rows));
        for (int r = 0; r < w.rows; ++r) {
            std::vector<float> wr = row_of(w, r);
            double s = 0;
            for (int i = 0; i < w.cols; ++i) s += double(wr[size_t(i)]) * x[size_t(i)];
            y[size_t(r)] = s;
        }
        return y;
    };
    auto rmsnorm = [&](const std::vector<double>& x, const float* g) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double inv = 1.0 / std::sqrt(ss / double(x.size()) + c.rms_eps);
        std::vector<double> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * g[i];
        return y;
    };
    auto rope = [&](std::vector<double>& v, int heads, int pos) {
        for (int h = 0; h < heads; ++h)
            for (int i = 0; i < c.n_rot / 2; ++i) {
                double theta = pos * std::pow(double(c.rope_base), -2.0 * i / c.n_rot);
                double& a = v[size_t(h * D + 2 * i)];
                double& b = v[size_t(h * D + 2 * i + 1)];
                double a0 = a, b0 = b;
                a = a0 * std::cos(theta) - b0 * std::sin(theta);
                b = a0 * std::sin(theta) + b0 * std::cos(theta);
            }
    };
    std::vector<std::vector<double>> x(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) {
        std::vector<float> e = row_of(m.token_embd, tokens[size_t(t)]);
        x[size_t(t)].assign(e.begin(), e.end());
    }
    for (int l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[l];
        std::vector<std::vector<double>> q(static_cast<size_t>(T)), k(q), v(q);
        for (int t = 0; t < T; ++t) {
            std::vector<double> xn = rmsnorm(x[size_t(t)], L.attn_norm);
            q[size_t(t)] = matvec(L.wq, xn);
            k[size_t(t)] = matvec(L.wk, xn);
            v[size_t(t)] = matvec(L.wv, xn);
            rope(q[size_t(t)], c.n_head, t);
            rope(k[size_t(t)], c.n_head_kv, t);
        }
        for (int t = 0; t < T; ++t) {
            std::vector<double> att(size_t(c.q_dim()), 0.0);
            for (int h = 0; h < c.n_head; ++h) {
                const int kvh = h / (c.n_head / c.n_head_kv);
                std::vector<double> s(static_cast<size_t>(t + 1));
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= t; ++j) {
                    double d = 0;
                    for (int i = 0; i < D; ++i) d += q[size_t(t)][size_t(h * D + i)] * k[size_t(j)][size_t(kvh * D + i)];
                    s[size_t(j)] = d / std::sqrt(double(D));
                    mx = std::max(mx, s[size_t(j)]);
                }
                for (double& e : s) sum += (e = std::exp(e - mx));
                for (int j = 0; j <= t; ++j)
                    for (int i = 0; i < D; ++i) att[size_t(h * D + i)] += s[size_t(j)] / sum * v[size_t(j)][size_t(kvh * D + i)];
            }
            std::vector<double> o = matvec(L.wo, att);
            for (int i = 0; i < E; ++i) x[size_t(t)][size_t(i)] += o[size_t(i)];
            std::vector<double> xn = rmsnorm(x[size_t(t)], L.ffn_norm);
            std::vector<double> g = matvec(L.w_gate, xn), u = matvec(L.w_up, xn);
            for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
            std::vector<double> dn = matvec(L.w_down, g);
            for (int i = 0; i < E; ++i) x[size_t(t)][size_t(i)] += dn[size_t(i)];
        }
    }
    std::vector<float> logits;
    for (int t = 0; t < T; ++t) {
        std::vector<double> y = matvec(m.output, rmsnorm(x[size_t(t)], m.output_norm));
        logits.insert(logits.end(), y.begin(), y.end());
    }
    return logits;
}

void check_random_shape(const RandomLlamaShape& shape, double tolerance) {
    std::vector<uint8_t> bytes = random_llama_gguf(shape);
    REQUIRE(!bytes.empty());
    std::vector<uint8_t> index(gguf::index_bytes({bytes.data(), bytes.size()}) + 64);
    Arena index_arena(index.data(), index.size());
    gguf::File f;
    REQUIRE(gguf::parse({bytes.data(), bytes.size()}, index_arena, f).ok());
    std::vector<uint8_t> model_mem(size_t(shape.n_layer) * sizeof(LayerWeights) + 128);
    Arena model_arena(model_mem.data(), model_mem.size());
    Model m;
    Status st = load_model(f, model_arena, m);
    REQUIRE_MESSAGE(st.ok(), std::string(st.detail));

    std::vector<int> tokens;
    std::mt19937 rng(shape.seed);
    for (int i = 0; i < 11; ++i) tokens.push_back(int(rng() % uint32_t(shape.n_vocab)));
    std::vector<float> ref = reference_forward(m, tokens);

    // Batch of 4: the prompt crosses batch boundaries, exercising the cache between batches.
    std::vector<uint8_t> mem(Session::required_bytes(m, shape.n_ctx, 4));
    Arena arena(mem.data(), mem.size());
    Session s;
    REQUIRE(s.init(m, shape.n_ctx, 4, arena).ok());
    std::vector<float> ours(ref.size());
    REQUIRE(s.eval(tokens.data(), int(tokens.size()), ours.data(), true).ok());
    Comparison c = compare(ours, ref, shape.n_vocab);
    MESSAGE("heads ", shape.n_head, "/", shape.n_head_kv, " head_dim ", shape.head_dim, " type ",
            std::string(ggml_type_name(shape.type)), ": nrmse ", c.max_nrmse);
    CHECK(c.max_nrmse <= tolerance);
}

} // namespace

TEST_CASE("held-back shapes: MQA, other head sizes, tied output, each float type") {
    RandomLlamaShape s;
    s.n_vocab = 300;
    s.n_embd = 128;
    s.n_ff = 96;  // not a multiple of 32 for float types
    s.n_ctx = 64;
    s.type = GgmlType::F32;
    for (auto [heads, kv_heads, head_dim, tied] : {std::tuple{4, 1, 0, true}, std::tuple{2, 2, 64, false},
                                                    std::tuple{8, 2, 16, true}, std::tuple{4, 4, 48, false}}) {
        s.n_head = heads;
        s.n_head_kv = kv_heads;
        s.head_dim = head_dim;
        s.tied_output = tied;
        ++s.seed;
        check_random_shape(s, 0.005);
    }
    s.n_ff = 128;
    s.n_head = 4; s.n_head_kv = 2; s.head_dim = 0;
    s.type = GgmlType::F16;
    check_random_shape(s, 0.005);
    // BF16 activations are rounded to bf16 before the dot (as llama.cpp does), which costs
    // about 0.4% against an exact reference.
    s.type = GgmlType::BF16;
    check_random_shape(s, 0.01);
    // Quantized weights: the reference uses the same dequantized weights, so only the int8
    // activations differ.
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
        s.type = t;
        check_random_shape(s, 0.05);
    }
}

TEST_CASE("logits do not depend on the thread count or the batch size") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    std::vector<int> prompt = {1, 870, 983, 13, 1002, 322, 379, 977, 962, 975, 452, 372, 361};
    std::vector<std::vector<float>> results;
    for (auto [threads, batch] : {std::pair{1, 64}, std::pair{2, 64}, std::pair{2, 5}, std::pair{1, 1}}) {
        omp_set_num_threads(threads);
        GgufModelFile file;
        REQUIRE(file.open(shared_path("models/shakespeare5m-q8_0.gguf")).ok());
        Model m;
        REQUIRE(file.load(m).ok());
        std::vector<uint8_t> mem(Session::required_bytes(m, 64, batch));
        Arena arena(mem.data(), mem.size());
        Session s;
        REQUIRE(s.init(m, 64, batch, arena).ok());
        std::vector<float> logits(prompt.size() * size_t(m.config.n_vocab));
        REQUIRE(s.eval(prompt.data(), int(prompt.size()), logits.data(), true).ok());
        results.push_back(logits);
    }
    omp_set_num_threads(2);
    CHECK(results[0] == results[1]);  // bit-identical across threads
    CHECK(compare(results[2], results[0], 1024).max_nrmse < 1e-5);  // batching changes only summation order
    CHECK(compare(results[3], results[0], 1024).max_nrmse < 1e-5);
}

TEST_CASE("session errors: out-of-range token, full context, small arena") {
    RandomLlamaShape shape;
    shape.n_vocab = 300;
    shape.n_embd = 64;
    shape.n_head = 2;
    shape.n_head_kv = 1;
    shape.n_ff = 64;
    shape.n_ctx = 8;
    shape.type = GgmlType::F32;
    std::vector<uint8_t> bytes = random_llama_gguf(shape);
    std::vector<uint8_t> index(gguf::index_bytes({bytes.data(), bytes.size()}) + 64);
    Arena ia(index.data(), index.size());
    gguf::File f;
    REQUIRE(gguf::parse({bytes.data(), bytes.size()}, ia, f).ok());
    std::vector<uint8_t> mm(4096);
    Arena ma(mm.data(), mm.size());
    Model m;
    REQUIRE(load_model(f, ma, m).ok());

    std::vector<uint8_t> tiny(100);
    Arena small(tiny.data(), tiny.size());
    Session s;
    CHECK(s.init(m, 8, 4, small).code == Error::out_of_memory);
    CHECK(s.init(m, 9, 4, small).code == Error::invalid_argument);  // beyond the trained context

    std::vector<uint8_t> mem(Session::required_bytes(m, 8, 4));
    Arena arena(mem.data(), mem.size());
    REQUIRE(s.init(m, 8, 4, arena).ok());
    int32_t bad[] = {1, 300};
    Status st = s.eval(bad, 2, nullptr, false);
    CHECK(st.code == Error::token_out_of_range);
    CHECK(std::string(st.detail).find("300") != std::string::npos);
    int32_t neg = -1;
    CHECK(s.eval(&neg, 1, nullptr, false).code == Error::token_out_of_range);
    std::vector<int32_t> many(9, 5);
    CHECK(s.eval(many.data(), 9, nullptr, false).code == Error::context_full);
    CHECK(s.eval(many.data(), 8, nullptr, false).ok());
    CHECK(s.eval(many.data(), 1, nullptr, false).code == Error::context_full);
}

TEST_CASE("architectures match llama.cpp: llama3, qwen2, qwen3, gemma, gemma2, gemma3, phi3") {
    for (const char* arch : {"llama3", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3"}) {
        for (const char* type : {"f16", "q4_k_m"}) {
            const std::string base = std::string("fixtures/gguf/synthetic/") + arch + "-" + type;
            check_reference(base + ".gguf", base + ".ref.json", base + ".ref.logits.f32", type[0] == 'q', 0);
        }
    }
}
