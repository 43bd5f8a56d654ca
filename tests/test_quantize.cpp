// Quantizer tests: round-trip error bounds per type, encodings of inputs with obvious
// answers, and whole models quantized here that match llama.cpp's own quantizations.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <random>

#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_quantize.hpp"
#include "model_support.hpp"

using namespace tinyllm;

namespace {

template <class T, class Quantize>
double roundtrip_nrmse(Quantize quantize, int n_blocks, std::mt19937& rng) {
    const int n = n_blocks * T::block_elems;
    std::vector<float> x(static_cast<size_t>(n)), back(x.size());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);
    std::vector<typename T::Block> blocks(static_cast<size_t>(n_blocks));
    quantize(x.data(), blocks.data(), n_blocks);
    for (int b = 0; b < n_blocks; ++b) T::dequantize(&blocks[size_t(b)], back.data() + b * T::block_elems);
    double err = 0, norm = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        err += double(back[i] - x[i]) * (back[i] - x[i]);
        norm += double(x[i]) * x[i];
    }
    return std::sqrt(err / norm);
}

} // namespace

TEST_CASE("quantize -> dequantize error matches each type's precision") {
    std::mt19937 rng(5);
    // Bounds for Gaussian data: about 2^-(bits) relative error, with room for block scaling.
    CHECK(roundtrip_nrmse<TypeQ8_0>(quantize::q8_0, 16, rng) < 0.01);
    CHECK(roundtrip_nrmse<TypeQ6_K>(quantize::q6_k, 4, rng) < 0.03);
    CHECK(roundtrip_nrmse<TypeQ5_0>(quantize::q5_0, 16, rng) < 0.06);
    CHECK(roundtrip_nrmse<TypeQ5_1>(quantize::q5_1, 16, rng) < 0.06);
    CHECK(roundtrip_nrmse<TypeQ4_K>(quantize::q4_k, 4, rng) < 0.11);
    CHECK(roundtrip_nrmse<TypeQ4_0>(quantize::q4_0, 16, rng) < 0.13);
    CHECK(roundtrip_nrmse<TypeQ4_1>(quantize::q4_1, 16, rng) < 0.13);
}

TEST_CASE("encodings of inputs with obvious answers") {
    // A ramp -8..7 scaled by 0.5 is exactly representable in Q4_0 with d = -0.5 * (-8) / -8.
    float x[32];
    for (int i = 0; i < 32; ++i) x[i] = 0.5f * float((i % 16) - 8);
    TypeQ4_0::Block b4;
    quantize::q4_0(x, &b4, 1);
    float back[32];
    TypeQ4_0::dequantize(&b4, back);
    for (int i = 0; i < 32; ++i) CHECK(back[i] == x[i]);
    // Integers within +-127 survive Q8_0 exactly when the largest is 127.
    for (int i = 0; i < 32; ++i) x[i] = float(i * 8 - 127);
    x[31] = 127.0f;
    TypeQ8_0::Block b8;
    quantize::q8_0(x, &b8, 1);
    CHECK(fp16_to_f32(b8.d) == 1.0f);
    for (int i = 0; i < 32; ++i) CHECK(b8.qs[i] == int8_t(x[i]));
    // All-zero input gives zero scales, not NaN.
    float zeros[256] = {};
    TypeQ6_K::Block b6;
    quantize::q6_k(zeros, &b6, 1);
    CHECK(fp16_to_f32(b6.d) == 0.0f);
    TypeQ4_K::Block bk;
    quantize::q4_k(zeros, &bk, 1);
    float backk[256];
    TypeQ4_K::dequantize(&bk, backk);
    for (float v : backk) CHECK(v == 0.0f);
}

TEST_CASE("llama-f16 quantized here matches llama.cpp's own q8_0 / q4_0 / q4_k_m logits") {
    const std::string dir = "fixtures/gguf/synthetic/";
    if (!test_support::require_shared(dir + "llama-f16.gguf")) return;
    GgufModelFile f16;
    REQUIRE(f16.open(test_support::shared_path(dir + "llama-f16.gguf")).ok());
    for (auto entry : {std::pair{"q8_0", QuantMix::q8_0}, std::pair{"q4_0", QuantMix::q4_0}, std::pair{"q4_k_m", QuantMix::q4_k_m},
                       std::pair{"q5_1", QuantMix::q5_1}, std::pair{"q6_k", QuantMix::q6_k}}) {
        const char* name = entry.first;  // no structured binding: clang 14 cannot capture one in doctest's lambdas
        const QuantMix mix = entry.second;
        INFO("type ", name);
        std::vector<uint8_t> bytes;
        REQUIRE(quantize_gguf(f16.gguf, mix, bytes).ok());
        test_support::InMemoryModel q(std::move(bytes));
        const gguf::File& f = q.index.file;
        const Model& m = q.model;
        CHECK(*f.get_int("general.quantization_version") == 2);
        // The mix picks the same type per tensor as llama.cpp's file of that name.
        GgufModelFile ref_file;
        REQUIRE(ref_file.open(test_support::shared_path(dir + "llama-" + name + ".gguf")).ok());
        for (uint64_t i = 0; i < f.n_tensors; ++i) {
            const gguf::TensorInfo* r = ref_file.gguf.find_tensor(f.tensors[i].name);
            REQUIRE(r);
            CHECK(r->type == f.tensors[i].type);
        }
        std::string json = test_support::read_text(test_support::shared_path(dir + "llama-" + name + ".ref.json"));
        std::vector<int> prompt = test_support::json_int_array(json, "prompt");
        std::vector<float> ref = test_support::read_f32(test_support::shared_path(dir + "llama-" + name + ".ref.logits.f32"));
        test_support::Comparison c = test_support::compare(test_support::prompt_logits(m, prompt), ref, m.config.n_vocab);
        MESSAGE(name, ": nrmse ", c.max_nrmse, ", argmax ", c.argmax_equal, "/", prompt.size());
        // The reference files were quantized from an f32 original, not from llama-f16.gguf: llama.cpp's
        // own llama-quantize on llama-f16.gguf writes byte for byte the file this quantizer writes
        // (checked for every type here), and for q4_k_m that file lands at nrmse 0.061 from the
        // reference. So q4_k_m gets a bound just above that; the others meet the README's 0.05.
        CHECK(c.max_nrmse <= (mix == QuantMix::q4_k_m ? 0.07 : 0.05));
        CHECK(c.argmax_equal * 16 >= 14 * int(prompt.size()));
    }
}
