// Forward-pass tests: logits against llama.cpp / PyTorch references within the documented
// tolerances, held-back shapes against a straightforward double-precision reference written
// here on Eigen, batching and thread-count invariance.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <cmath>
#include <algorithm>

#include <filesystem>

#include <Eigen/Dense>

#include "../examples/random_model.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_quantize.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/core/session.hpp"

using namespace tinyllm;
using test_support::argmax;
using test_support::compare;
using test_support::Comparison;
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

// Reference forward over all positions at once, from the textbook definition of each
// architecture option, in double precision with no fp16 rounding anywhere, on Eigen: its
// matrix products, norms and softmax share no code with the engine (only the weights'
// dequantization is the engine's, tested on its own against llama.cpp's). Phi-2's, OpenELM's
// and SmolLM3's rules are written here from the families' definitions, not read from the
// engine's config: LayerNorm, the parallel residual and the ungated FFN (phi2), each layer's
// head counts (from its matrices' shapes), RoPE pairing and the layers without it (smollm3).
std::vector<float> reference_forward(const Model& m, const std::vector<int>& tokens) {
    using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // a row per token
    using Row = Eigen::RowVectorXd;
    const ModelConfig& c = m.config;
    const int E = c.n_embd, D = c.head_dim, T = int(tokens.size());
    const bool phi2 = c.arch == Arch::phi2;
    const bool adjacent_pairs = c.arch == Arch::llama || c.arch == Arch::smollm3;
    auto vec = [](const float* v, int n) -> Row { return Eigen::Map<const Eigen::RowVectorXf>(v, n).cast<double>(); };
    auto row_of = [](const WeightView& w, int r) {
        Eigen::RowVectorXf v(w.cols);
        dequantize_row(w, r, v.data());
        return v;
    };
    // x W^T (+ bias): each row of x through the matrix.
    auto linear = [&](const Mat& x, const WeightView& w, const float* bias) -> Mat {
        Mat wd(w.rows, w.cols);
        for (int r = 0; r < w.rows; ++r) wd.row(r) = row_of(w, r).cast<double>();
        Mat y = x * wd.transpose();
        if (bias) y.rowwise() += vec(bias, int(w.rows));
        return y;
    };
    auto rmsnorm = [&](auto&& x, const float* g) {  // each row of x, in place
        const Row gain = vec(g, int(x.cols()));
        for (Eigen::Index t = 0; t < x.rows(); ++t)
            x.row(t) = x.row(t).cwiseProduct(gain) / std::sqrt(x.row(t).squaredNorm() / double(x.cols()) + c.norm_eps);
    };
    // The model's norm: RMSNorm, or LayerNorm with its bias.
    auto norm = [&](Mat x, const float* g, const float* b) -> Mat {
        if (!phi2) {
            rmsnorm(x, g);
            return x;
        }
        for (int t = 0; t < T; ++t) {
            const Row centered = (x.row(t).array() - x.row(t).mean()).matrix();
            x.row(t) = centered.cwiseProduct(vec(g, E)) / std::sqrt(centered.squaredNorm() / E + c.norm_eps) + vec(b, E);
        }
        return x;
    };
    auto gelu = [](double a) { return 0.5 * a * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (a + 0.044715 * a * a * a))); };
    auto rope = [&](Mat& v, int heads, int layer) {
        const bool local = c.is_swa_layer(layer) && c.rope_base_swa > 0;
        const double base = local ? c.rope_base_swa : c.rope_base, scale = local ? 1.0 : c.rope_freq_scale;
        for (int pos = 0; pos < T; ++pos)
            for (int h = 0; h < heads; ++h)
                for (int i = 0; i < c.n_rot / 2; ++i) {
                    double theta = pos * scale * std::pow(base, -2.0 * i / c.n_rot);
                    if (m.rope_freq_factors) theta /= m.rope_freq_factors[i];
                    const int a = h * D + (adjacent_pairs ? 2 * i : i);
                    const int b = h * D + (adjacent_pairs ? 2 * i + 1 : i + c.n_rot / 2);
                    const double x0 = v(pos, a), x1 = v(pos, b);
                    v(pos, a) = x0 * std::cos(theta) - x1 * std::sin(theta);
                    v(pos, b) = x0 * std::sin(theta) + x1 * std::cos(theta);
                }
    };
    auto softcap = [](double x, double cap) { return cap > 0 ? cap * std::tanh(x / cap) : x; };
    Mat x(T, E);
    for (int t = 0; t < T; ++t) x.row(t) = row_of(m.token_embd, tokens[size_t(t)]).cast<double>();
    if (c.embed_scale) x *= std::sqrt(double(E));
    for (int l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[l];
        const int n_head = int(L.wo.cols) / D, n_head_kv = int(L.wk.rows) / D;
        const Mat attn_in = norm(x, L.attn_norm, L.attn_norm_b);
        Mat q = linear(attn_in, L.wq, L.bq), k = linear(attn_in, L.wk, L.bk), v = linear(attn_in, L.wv, L.bv);
        if (L.q_norm) {
            for (int h = 0; h < n_head; ++h) rmsnorm(q.middleCols(h * D, D), L.q_norm);
            for (int h = 0; h < n_head_kv; ++h) rmsnorm(k.middleCols(h * D, D), L.k_norm);
        }
        if (!(c.arch == Arch::smollm3 && l % 4 == 3)) {
            rope(q, n_head, l);
            rope(k, n_head_kv, l);
        }
        // Each head: softmax over the scores of the positions it may see (causal, and within the
        // sliding window on its layers), times their values.
        const int window = c.is_swa_layer(l) ? c.sliding_window : 0;
        Mat att(T, n_head * D);
        for (int h = 0; h < n_head; ++h) {
            const int kvh = h / (n_head / n_head_kv);
            Mat p = (q.middleCols(h * D, D) * k.middleCols(kvh * D, D).transpose() / std::sqrt(double(D)))
                        .unaryExpr([&](double s) { return softcap(s, c.attn_softcap); });
            for (int t = 0; t < T; ++t)
                for (int j = 0; j < T; ++j)
                    if (j > t || (window && j <= t - window)) p(t, j) = -INFINITY;
            for (int t = 0; t < T; ++t) {
                p.row(t) = (p.row(t).array() - p.row(t).maxCoeff()).exp().matrix();
                p.row(t) /= p.row(t).sum();
            }
            att.middleCols(h * D, D) = p * v.middleCols(kvh * D, D);
        }
        Mat o = linear(att, L.wo, L.bo);
        if (L.post_attn_norm) rmsnorm(o, L.post_attn_norm);
        // A parallel residual feeds the FFN the attention's input and adds both at once.
        Mat xn = attn_in;
        if (!phi2) {
            x += o;
            xn = x;
            rmsnorm(xn, L.ffn_norm);
        }
        Mat hidden = linear(xn, L.w_up, L.b_up);
        if (!phi2) {
            const Mat g = linear(xn, L.w_gate, nullptr);
            const auto act = [&](double a) { return c.activation == FfnActivation::silu ? a / (1.0 + std::exp(-a)) : gelu(a); };
            hidden = hidden.cwiseProduct(g.unaryExpr(act));
        } else {
            hidden = hidden.unaryExpr(gelu);
        }
        Mat down = linear(hidden, L.w_down, L.b_down);
        if (L.post_ffn_norm) rmsnorm(down, L.post_ffn_norm);
        x += down;
        if (phi2) x += o;
    }
    const Mat y = linear(norm(x, m.output_norm, m.output_norm_b), m.output, m.output_b)
                      .unaryExpr([&](double v) { return softcap(v, c.final_softcap); });
    std::vector<float> logits;
    for (int t = 0; t < T; ++t)
        for (Eigen::Index i = 0; i < y.cols(); ++i) logits.push_back(float(y(t, i)));
    return logits;
}

// A model parsed and bound from GGUF bytes in memory (the bytes must outlive it).
struct BytesModel {
    GgufIndex index;
    std::vector<uint8_t> layers;
    Model model;
    Status load(const std::vector<uint8_t>& bytes) {
        Status st = index.parse({bytes.data(), bytes.size()});
        if (!st) return st;
        layers.assign(size_t(index.file.n_tensors + 1) * sizeof(LayerWeights) + 64, 0);
        Arena arena(layers.data(), layers.size());
        return load_model(index.file, arena, model);
    }
};

void check_random_shape(const RandomModelShape& shape, double tolerance, int n_tokens = 11, int batch = 4) {
    std::vector<uint8_t> bytes = random_model_gguf(shape);
    REQUIRE(!bytes.empty());
    BytesModel loaded;
    Status st = loaded.load(bytes);
    REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
    const Model& m = loaded.model;

    std::vector<int> tokens;
    std::mt19937 rng(shape.seed);
    for (int i = 0; i < n_tokens; ++i) tokens.push_back(int(rng() % uint32_t(shape.n_vocab)));
    std::vector<float> ref = reference_forward(m, tokens);

    // Small batches: the prompt crosses batch boundaries, exercising the cache between batches.
    std::vector<uint8_t> mem(Session::required_bytes(m, shape.n_ctx, batch));
    Arena arena(mem.data(), mem.size());
    Session s;
    REQUIRE(s.init(m, shape.n_ctx, batch, arena).ok());
    std::vector<float> ours(ref.size());
    REQUIRE(s.eval(tokens.data(), int(tokens.size()), ours.data(), true).ok());
    Comparison c = compare(ours, ref, shape.n_vocab);
    MESSAGE(shape.arch, ": heads ", shape.n_head, "/", shape.n_head_kv, " head_dim ", shape.head_dim, " type ",
            std::string(ggml_type_name(shape.type)), ": nrmse ", c.max_nrmse);
    CHECK(c.max_nrmse <= tolerance);
}

} // namespace

TEST_CASE("held-back shapes: MQA, other head sizes, tied output, each float type") {
    RandomModelShape s;
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
        set_thread_count(threads);
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
    set_thread_count(2);
    CHECK(results[0] == results[1]);  // bit-identical across threads
    CHECK(compare(results[2], results[0], 1024).max_nrmse < 1e-5);  // batching changes only summation order
    CHECK(compare(results[3], results[0], 1024).max_nrmse < 1e-5);
}

TEST_CASE("session errors: out-of-range token, full context, small arena") {
    RandomModelShape shape;
    shape.n_vocab = 300;
    shape.n_embd = 64;
    shape.n_head = 2;
    shape.n_head_kv = 1;
    shape.n_ff = 64;
    shape.n_ctx = 8;
    shape.type = GgmlType::F32;
    std::vector<uint8_t> bytes = random_model_gguf(shape);
    BytesModel loaded;
    REQUIRE(loaded.load(bytes).ok());
    const Model& m = loaded.model;

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

TEST_CASE("held-back shapes of every architecture against the reference") {
    struct Variant { const char* arch; int heads, kv_heads, head_dim; bool tied; };
    for (Variant v : {Variant{"llama", 4, 2, 0, false}, Variant{"qwen2", 4, 4, 32, true}, Variant{"qwen3", 4, 1, 64, false},
                      Variant{"gemma", 2, 1, 96, true}, Variant{"gemma2", 4, 2, 48, true}, Variant{"gemma3", 2, 1, 128, true},
                      Variant{"phi3", 4, 4, 0, false}, Variant{"phi3", 8, 2, 16, true}}) {
        RandomModelShape s;
        s.arch = v.arch;
        s.n_vocab = 300;
        s.n_embd = 128;
        s.n_ff = 192;
        s.n_layer = std::string(v.arch) == "gemma3" ? 7 : 2;
        s.n_head = v.heads;
        s.n_head_kv = v.kv_heads;
        s.head_dim = v.head_dim;
        s.tied_output = v.tied;
        s.n_ctx = 64;
        s.type = GgmlType::F32;
        if (std::string(v.arch) == "gemma2") { s.attn_softcap = 50.0f; s.final_softcap = 30.0f; s.sliding_window = 8; }
        if (std::string(v.arch) == "gemma3") s.sliding_window = 8;
        if (std::string(v.arch) == "llama") s.rope_freq_factors = true;
        s.rope_base = std::string(v.arch) == "llama" ? 500000.0f : 10000.0f;
        ++s.seed;
        check_random_shape(s, 0.005);
    }
}

TEST_CASE("prompts longer than the sliding window match the reference, across batch boundaries") {
    for (const char* arch : {"gemma2", "gemma3"}) {
        RandomModelShape s;
        s.arch = arch;
        s.n_vocab = 300;
        s.n_embd = 128;
        s.n_ff = 128;
        s.n_layer = std::string(arch) == "gemma3" ? 7 : 3;
        s.n_head = 2;
        s.n_head_kv = 1;
        s.head_dim = 64;
        s.n_ctx = 160;
        s.sliding_window = 16;
        s.type = GgmlType::F32;
        if (std::string(arch) == "gemma2") { s.attn_softcap = 50.0f; s.final_softcap = 30.0f; }
        for (int batch : {7, 64}) check_random_shape(s, 0.005, 100, batch);
    }
}

TEST_CASE("unknown architectures and missing tensors are named") {
    RandomModelShape s;
    s.arch = "qwen3";
    s.n_vocab = 300;
    s.n_embd = 64;
    s.n_head = 2;
    s.n_head_kv = 1;
    s.n_ff = 64;
    s.type = GgmlType::F32;
    std::vector<uint8_t> bytes = random_model_gguf(s);
    auto load = [](const std::vector<uint8_t>& b) { return BytesModel().load(b); };
    REQUIRE(load(bytes).ok());
    // Rename one tensor: the model must name the architecture and the tensor it lacks.
    std::string needle = "blk.1.attn_k_norm.weight";
    auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
    REQUIRE(it != bytes.end());
    *(it + 6) = 'X';
    Status st = load(bytes);
    CHECK(st.code == Error::missing_tensor);
    CHECK(std::string(st.detail).find("qwen3") != std::string::npos);
    CHECK(std::string(st.detail).find("blk.1.attn_k_norm.weight") != std::string::npos);

    s.arch = "mamba";
    bytes = random_model_gguf(s);
    st = load(bytes);
    CHECK(st.code == Error::unsupported_architecture);
    CHECK(std::string(st.detail).find("mamba") != std::string::npos);
}

// ---- Phi-2, OpenELM and SmolLM3 against llama.cpp on the same random-weight files ----
// tests/fixtures/architectures/NAME.ref.json names its model by make_random_model options (and
// a quantize type); scripts/llama-references.sh wrote llama.cpp's logits over the prompt (one
// batch) and its greedy ids (one token at a time) for those files.

namespace {

std::string json_string(const std::string& json, const std::string& key) {
    const size_t k = json.find("\"" + key + "\"");
    if (k == std::string::npos) return {};
    const size_t open = json.find('"', json.find(':', k)) + 1;
    return json.substr(open, json.find('"', open) - open);
}

std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

struct FixtureModel {
    std::vector<uint8_t> bytes;
    BytesModel loaded;
};

// Builds the fixture's model as the script did: make_random_model's options, then quantize.
void build_fixture_model(const std::string& json, FixtureModel& out) {
    RandomModelShape shape;
    const std::string problem = parse_random_model_options(words(json_string(json, "model")), shape);
    REQUIRE_MESSAGE(problem.empty(), problem);
    out.bytes = random_model_gguf(shape);
    REQUIRE(!out.bytes.empty());
    const std::string quant = json_string(json, "quantize");
    if (!quant.empty()) {
        QuantMix mix = QuantMix::q8_0;
        REQUIRE(parse_quant_mix(quant, mix));
        GgufIndex plain;
        REQUIRE(plain.parse({out.bytes.data(), out.bytes.size()}).ok());
        std::vector<uint8_t> quantized;
        REQUIRE(quantize_gguf(plain.file, mix, quantized).ok());
        out.bytes = std::move(quantized);
    }
    Status st = out.loaded.load(out.bytes);
    REQUIRE_MESSAGE(st.ok(), std::string(st.detail));
}

// Whether llama.cpp's pick is ours, or a near tie for our best: within the logits' rms times a
// margin for the numbers' noise. Float models differ from llama.cpp in summation order only
// (0.001 of the rms). Quantized models round activations to 8 bits, where an ulp of difference
// upstream (another order, another compiler's contractions, NEON) can move a value across a
// rounding boundary (0.1). Anything further apart is a real difference.
bool same_pick(const float* row, int n_vocab, int reference_pick, bool quantized) {
    const int pick = argmax(row, n_vocab);
    if (pick == reference_pick) return true;
    double squares = 0;
    for (int v = 0; v < n_vocab; ++v) squares += double(row[v]) * row[v];
    return double(row[pick]) - double(row[reference_pick]) <= (quantized ? 0.1 : 0.001) * std::sqrt(squares / n_vocab);
}

} // namespace

TEST_CASE("phi2, openelm and smollm3 match llama.cpp: logits over the prompt in any batching, 32 greedy picks") {
    const std::filesystem::path dir = std::filesystem::path(TINYLLM_SOURCE_DIR) / "tests/fixtures/architectures";
    int fixtures = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string path = entry.path().string();
        if (path.size() < 9 || path.compare(path.size() - 9, 9, ".ref.json") != 0) continue;
        ++fixtures;
        const std::string name = entry.path().filename().string();
        INFO("fixture ", name);
        const std::string json = test_support::read_text(path);
        FixtureModel fm;
        build_fixture_model(json, fm);
        const Model& m = fm.loaded.model;
        const int V = m.config.n_vocab;
        const std::vector<int> prompt = test_support::json_int_array(json, "prompt");
        const std::vector<int> expected = test_support::json_int_array(json, "greedy");
        const std::vector<float> ref = test_support::read_f32(path.substr(0, path.size() - 5) + ".logits.f32");
        REQUIRE(ref.size() == prompt.size() * size_t(V));
        REQUIRE(expected.size() == 32);
        const bool quantized = name.find("q8_0") != std::string::npos || name.find("q4_k") != std::string::npos;

        // The prompt in one batch, in batches of 5, and one token at a time.
        for (int batch : {64, 5, 1}) {
            CAPTURE(batch);
            std::vector<uint8_t> mem(Session::required_bytes(m, m.config.n_ctx_train, batch));
            Arena arena(mem.data(), mem.size());
            Session s;
            REQUIRE(s.init(m, m.config.n_ctx_train, batch, arena).ok());
            std::vector<float> ours(ref.size());
            REQUIRE(s.eval(prompt.data(), int(prompt.size()), ours.data(), true).ok());
            const Comparison c = compare(ours, ref, V);
            if (batch == 64) MESSAGE(name, ": max nrmse ", c.max_nrmse, ", argmax equal ", c.argmax_equal, "/", prompt.size());
            CHECK(c.max_nrmse <= (quantized ? 0.05 : 1e-3));
            for (size_t t = 0; t < prompt.size(); ++t)
                CHECK_MESSAGE(same_pick(ours.data() + t * V, V, argmax(ref.data() + t * V, V), quantized), "position ", t);
            if (batch != 64) continue;
            // Decoding one token at a time after llama.cpp's greedy picks.
            std::vector<float> step(ours.end() - V, ours.end());
            int exact = 0;
            for (size_t i = 0; i < expected.size(); ++i) {
                exact += argmax(step.data(), V) == expected[i];
                CHECK_MESSAGE(same_pick(step.data(), V, expected[i], quantized), "step ", i, ": llama.cpp picks ", expected[i], ", we ",
                              argmax(step.data(), V));
                const int32_t fed = expected[i];
                REQUIRE(s.eval(&fed, 1, step.data(), false).ok());
            }
            MESSAGE(name, ": ", exact, "/32 greedy picks equal to llama.cpp's");
        }
    }
    CHECK(fixtures == 14);
}

TEST_CASE("held-back shapes of phi2, openelm and smollm3 against the reference") {
    const char* const shapes[] = {
        // Phi-2's head size (80, of which 32 rotate), q, k and v apart and fused.
        "--arch phi2 --vocab 300 --embd 160 --heads 2 --kv-heads 2 --rot 32 --ff 320 --layers 2 --ctx 64 --type f32 --seed 31",
        "--arch phi2 --vocab 300 --embd 160 --heads 2 --kv-heads 2 --rot 32 --ff 320 --layers 2 --ctx 64 --type f32 --fused-qkv --seed 32",
        "--arch phi2 --vocab 300 --embd 128 --heads 4 --kv-heads 2 --rot 16 --ff 256 --layers 2 --ctx 64 --type f32 --fused-qkv --seed 35",
        // Widths that change with every layer, wider and narrower than the embedding.
        "--arch openelm --vocab 300 --embd 128 --head-dim 32 --layers 4 --layer-heads 2,4,6,8 --layer-kv-heads 1,4,2,2 --layer-ff 96,160,224,288 --ctx 64 --type f32 --seed 33",
        // Eight layers, two of them without RoPE.
        "--arch smollm3 --vocab 300 --embd 128 --heads 4 --kv-heads 1 --ff 192 --layers 8 --ctx 64 --type f32 --seed 34",
    };
    for (const char* options : shapes) {
        CAPTURE(options);
        RandomModelShape s;
        REQUIRE(parse_random_model_options(words(options), s).empty());
        for (int batch : {4, 1}) check_random_shape(s, 0.005, 11, batch);
    }
}
