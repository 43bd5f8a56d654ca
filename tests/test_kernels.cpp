// Kernel tests: each expected value is derived from the block definition written out by
// hand here, not from the code under test.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "dot_dispatch.hpp"

using namespace tinyllm;

TEST_CASE("fp16 and bf16 conversions round-trip exact values") {
    CHECK(fp16_to_f32(0x3c00) == 1.0f);
    CHECK(fp16_to_f32(0xc000) == -2.0f);
    CHECK(fp16_to_f32(0x0001) == std::ldexp(1.0f, -24));
    CHECK(f32_to_fp16(65504.0f) == 0x7bff);
    CHECK(f32_to_fp16(1e6f) == 0x7c00);
    CHECK(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie rounds to even
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(1.00390625f) == 0x3f80);  // tie rounds to even
}

TEST_CASE("Q4_0 block dequantizes low nibbles first, then high nibbles") {
    TypeQ4_0::Block b;
    b.d = f32_to_fp16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t((j & 0xf) | ((15 - j) << 4));
    float out[32];
    TypeQ4_0::dequantize(&b, out);
    for (int j = 0; j < 16; ++j) {
        CHECK(out[j] == 0.5f * float(j - 8));
        CHECK(out[j + 16] == 0.5f * float(15 - j - 8));
    }
}

TEST_CASE("Q8_0 block dequantizes as d * q") {
    TypeQ8_0::Block b;
    b.d = f32_to_fp16(0.25f);
    for (int i = 0; i < 32; ++i) b.qs[i] = int8_t(i * 7 - 100);
    float out[32];
    TypeQ8_0::dequantize(&b, out);
    for (int i = 0; i < 32; ++i) CHECK(out[i] == 0.25f * float(i * 7 - 100));
}

// Every dispatched dot must agree with a float dot of the dequantized weights against the
// dequantized activations.
template <class T>
void check_quantized_dot(std::mt19937& rng, int n_blocks) {
    std::vector<typename T::Block> w(static_cast<size_t>(n_blocks));
    std::vector<uint8_t> raw(sizeof(typename T::Block) * w.size());
    for (auto& byte : raw) byte = uint8_t(rng());
    std::memcpy(w.data(), raw.data(), raw.size());
    for (auto& b : w) b.d = f32_to_fp16(std::uniform_real_distribution<float>(-0.1f, 0.1f)(rng));  // every type names its super-scale d
    const int n = n_blocks * T::block_elems;
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
    std::vector<BlockQ8> a(size_t(n / 32));
    quantize_row_q8(x.data(), a.data(), n);

    double expected = 0.0;
    std::vector<float> wf(static_cast<size_t>(T::block_elems));
    for (int b = 0; b < n_blocks; ++b) {
        T::dequantize(&w[size_t(b)], wf.data());
        for (int i = 0; i < T::block_elems; ++i) {
            const BlockQ8& ab = a[size_t((b * T::block_elems + i) / 32)];
            expected += double(wf[size_t(i)]) * double(ab.d) * double(ab.qs[(b * T::block_elems + i) % 32]);
        }
    }
    CHECK(T::dot(w.data(), a.data(), n_blocks) == doctest::Approx(expected).epsilon(1e-4));
    CHECK(best_dot<T>()(w.data(), a.data(), n_blocks) == doctest::Approx(expected).epsilon(1e-4));
}

TEST_CASE("quantized dot products match dequantize-then-dot") {
    std::mt19937 rng(42);
    for (int n_blocks : {1, 3, 8, 33}) {
        check_quantized_dot<TypeQ8_0>(rng, n_blocks);
        check_quantized_dot<TypeQ4_0>(rng, n_blocks);
    }
}

TEST_CASE("activation quantization keeps values within half a step") {
    std::vector<float> x(64);
    for (int i = 0; i < 64; ++i) x[size_t(i)] = std::sin(float(i)) * 3.0f;
    BlockQ8 a[2];
    quantize_row_q8(x.data(), a, 64);
    for (int i = 0; i < 64; ++i) {
        const BlockQ8& b = a[i / 32];
        CHECK(std::fabs(b.d * b.qs[i % 32] - x[size_t(i)]) <= b.d * 0.5f + 1e-6f);
    }
}

// Weights and activations both in the type's own format; the expected value is the double
// dot of the values those encodings represent.
template <class T, class Encode, class Decode>
void check_float_dot(std::mt19937& rng, int n, Encode encode, Decode decode) {
    std::vector<typename T::Block> w(static_cast<size_t>(n));
    std::vector<decltype(encode(0.0f))> x(static_cast<size_t>(n));
    double expected = 0.0;
    for (int i = 0; i < n; ++i) {
        w[size_t(i)].v = encode(std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng));
        x[size_t(i)] = encode(std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng));
        expected += double(decode(w[size_t(i)].v)) * double(decode(x[size_t(i)]));
    }
    CHECK(T::dot(w.data(), x.data(), n) == doctest::Approx(expected).epsilon(1e-5));
    CHECK(best_dot<T>()(w.data(), x.data(), n) == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("float-weight dot products, every length including tails") {
    std::mt19937 rng(7);
    auto same = [](float v) { return v; };
    for (int n : {1, 7, 8, 31, 32, 33, 100, 256}) {
        check_float_dot<TypeF32>(rng, n, same, same);
        check_float_dot<TypeF16>(rng, n, f32_to_fp16, fp16_to_f32);
        check_float_dot<TypeBF16>(rng, n, f32_to_bf16, bf16_to_f32);
    }
}

// Packs 256 six-bit values (0..63) the way the Q6_K layout documents, independently of the
// unpacking code under test.
static TypeQ6_K::Block pack_q6_k(const int* q, const int8_t* scales, float d) {
    TypeQ6_K::Block b{};
    for (int i = 0; i < 256; ++i) {
        int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
        int low = q[i] & 0xf, high = q[i] >> 4;
        uint8_t& ql = b.ql[64 * half + l + (quarter % 2) * 32];
        ql |= uint8_t(quarter < 2 ? low : low << 4);
        b.qh[32 * half + l] |= uint8_t(high << (2 * quarter));
    }
    for (int g = 0; g < 16; ++g) b.scales[g] = scales[g];
    b.d = f32_to_fp16(d);
    return b;
}

TEST_CASE("Q6_K block: w = d * scale[i/16] * (q - 32)") {
    int q[256];
    int8_t scales[16];
    for (int i = 0; i < 256; ++i) q[i] = (i * 37 + 11) % 64;
    for (int g = 0; g < 16; ++g) scales[g] = int8_t(g * 9 - 70);
    TypeQ6_K::Block b = pack_q6_k(q, scales, 0.125f);
    float out[256];
    TypeQ6_K::dequantize(&b, out);
    for (int i = 0; i < 256; ++i) {
        INFO("element ", i);
        CHECK(out[i] == 0.125f * float(scales[i / 16]) * float(q[i] - 32));
    }
    std::mt19937 rng(3);
    for (int n_blocks : {1, 2, 5}) check_quantized_dot<TypeQ6_K>(rng, n_blocks);
}
