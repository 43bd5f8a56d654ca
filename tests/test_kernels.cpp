// Kernel tests: each expected value is derived from the block definition written out by
// hand here, not from the code under test.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tinyllm/kernels/dot_dispatch.hpp"
#include "tinyllm/kernels/math.hpp"

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

TEST_CASE("libm-free expf is within 2 ulp of exp, with exact limits") {
    double worst = 0.0;
    for (float x = -87.0f; x < 88.7f; x += 0.000731f * (1.0f + std::fabs(x))) {
        const double ref = std::exp(double(x));
        const float ref_f = float(ref);
        const double ulp = std::nextafter(ref_f, INFINITY) - ref_f;
        worst = std::max(worst, std::fabs(double(math::expf(x)) - ref) / ulp);
    }
    CHECK(worst <= 2.0);
    CHECK(math::expf(0.0f) == 1.0f);
    CHECK(math::expf(-INFINITY) == 0.0f);  // masked scores and banned tokens weigh nothing
    CHECK(math::expf(-200.0f) == 0.0f);
    CHECK(math::expf(100.0f) == INFINITY);
    CHECK(std::isnan(math::expf(NAN)));
}

TEST_CASE("exp, expf, tanhf and sincos are defined for NaN, infinities and huge values") {
    // Converting NaN or an out-of-range float to an integer is undefined behaviour (clang's
    // -fsanitize=float-cast-overflow reports it): NaN comes back as NaN, the rest saturates.
    const float huge_f = 3.0e38f;
    const double huge = 1.0e300;
    for (float x : {NAN, -NAN}) {
        CHECK(std::isnan(math::expf(x)));
        CHECK(std::isnan(math::exp(double(x))));
        CHECK(std::isnan(math::tanhf(x)));
    }
    CHECK(math::expf(INFINITY) == INFINITY);
    CHECK(math::expf(-INFINITY) == 0.0f);
    CHECK(math::expf(huge_f) == INFINITY);
    CHECK(math::expf(-huge_f) == 0.0f);
    CHECK(math::exp(double(INFINITY)) == double(INFINITY));
    CHECK(math::exp(-double(INFINITY)) == 0.0);
    CHECK(math::exp(huge) == double(INFINITY));
    CHECK(math::exp(-huge) == 0.0);
    CHECK(math::tanhf(INFINITY) == 1.0f);
    CHECK(math::tanhf(-INFINITY) == -1.0f);
    CHECK(math::tanhf(huge_f) == 1.0f);
    // A loop over expf vectorizes: the same results lane by lane.
    float v[16];
    for (int i = 0; i < 16; ++i) v[i] = i % 4 == 0 ? NAN : i % 4 == 1 ? INFINITY : i % 4 == 2 ? -INFINITY : 1.0f;
    for (float& x : v) x = math::expf(x);
    for (int i = 0; i < 16; i += 4) {
        CHECK(std::isnan(v[i]));
        CHECK(v[i + 1] == INFINITY);
        CHECK(v[i + 2] == 0.0f);
        CHECK(v[i + 3] == math::expf(1.0f));
    }
    for (double x : {double(NAN), double(INFINITY), -double(INFINITY), huge, -huge}) {
        double s = 0.0, c = 0.0;
        math::sincos(x, &s, &c);
        CHECK(std::isnan(s));
        CHECK(std::isnan(c));
    }
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

// A float type's tiles (prompt processing: 2 or 4 rows x 4 tokens) against its dot: every
// output the dot's bits, so a prompt's logits do not depend on how its tokens are batched.
template <class T, class Encode>
void check_float_tile(std::mt19937& rng, int n, Encode encode) {
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    std::vector<std::vector<typename T::Block>> w(4, std::vector<typename T::Block>(static_cast<size_t>(n)));
    std::vector<std::vector<decltype(encode(0.0f))>> x(4, std::vector<decltype(encode(0.0f))>(static_cast<size_t>(n)));
    for (int i = 0; i < n; ++i) {
        for (auto& row : w) row[size_t(i)].v = encode(value(rng));
        for (auto& row : x) row[size_t(i)] = encode(value(rng));
    }
    const decltype(x[0].data()) acts[4] = {x[0].data(), x[1].data(), x[2].data(), x[3].data()};
    const typename T::Block* const rows[4] = {w[0].data(), w[1].data(), w[2].data(), w[3].data()};
    auto check = [&](const float* out, int n_rows) {
        for (int r = 0; r < n_rows; ++r)
            for (int t = 0; t < 4; ++t) {
                CAPTURE(r);
                CAPTURE(t);
                CHECK(out[4 * r + t] == best_dot<T>()(rows[r], acts[t], n));
            }
    };
    float out[16];
    if (const auto tile = best_tile<T>()) {
        tile(rows[0], rows[1], acts, n, out);
        check(out, 2);
    }
    if (const auto tile4 = best_tile4<T>()) {  // token-major: y[t] gets token t's four rows
        float y[4][4];
        float* const ys[4] = {y[0], y[1], y[2], y[3]};
        tile4(rows, acts, n, ys);
        for (int r = 0; r < 4; ++r)
            for (int t = 0; t < 4; ++t) out[4 * r + t] = y[t][r];
        check(out, 4);
    }
}

TEST_CASE("float tiles give every output the dot's bits, every length including tails") {
    std::mt19937 rng(11);
    auto same = [](float v) { return v; };
    for (int n : {1, 7, 8, 9, 31, 32, 33, 40, 64, 100, 256, 300, 600, 1031}) {  // 300, 600 and 1031 cross 256-column chunks
        CAPTURE(n);
        check_float_tile<TypeF32>(rng, n, same);
        check_float_tile<TypeF16>(rng, n, f32_to_fp16);
        check_float_tile<TypeBF16>(rng, n, f32_to_bf16);
    }
#if defined(__x86_64__)
    CHECK((best_tile4<TypeF32>() != nullptr) == x86::has_avx512());  // the 4-row tiles run where they can
    CHECK((best_tile<TypeF16>() != nullptr) == x86::has_avx2());
#endif
}

TEST_CASE("exact_fp16_bits: f16's bits exactly for the floats f16 holds, a NaN for every other") {
    // Every f16 value but NaN and infinity, widened, then its float neighbours one ulp away,
    // and random bit patterns: the answer is decided by the round trip through f32_to_fp16.
    std::vector<float> x;
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00) continue;
        const uint32_t u = f32_to_bits(fp16_to_f32(uint16_t(h)));
        for (uint32_t v : {u, u + 1, u - 1}) x.push_back(bits_to_f32(v));
    }
    const size_t structured = x.size();
    std::mt19937 rng(11);
    for (int i = 0; i < 100000; ++i) x.push_back(bits_to_f32(uint32_t(rng())));
    x.push_back(INFINITY);  // f16 has it, but a weight row holding it stays f32
    size_t exact = 0, wrong = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const float f = x[i];
        if (std::isnan(f)) continue;
        const uint16_t h = f32_to_fp16(f);
        const bool holds = f32_to_bits(fp16_to_f32(h)) == f32_to_bits(f) && !std::isinf(f);
        exact += holds && i < structured;
        wrong += exact_fp16_bits(f) != (holds ? h : uint16_t(0xffff));
    }
    CHECK(exact == 2 * 0x7c00);  // every finite f16 of either sign, and none of their neighbours
    CHECK(wrong == 0);
}

TEST_CASE("narrow_exactly keeps f32 weights in bf16 or f16 only when every value fits, and the dots keep their bits") {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int n : {1, 7, 33, 256, 1000}) {
        std::vector<float> as_bf16(static_cast<size_t>(n)), as_f16(static_cast<size_t>(n)), x(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            as_bf16[size_t(i)] = bf16_to_f32(f32_to_bf16(u(rng)));
            as_f16[size_t(i)] = fp16_to_f32(f32_to_fp16(u(rng) * 0.001f));  // subnormal f16s too
            x[size_t(i)] = u(rng);
        }
        as_f16[0] = 3.0f / 1024;  // bf16 holds it too, but not the rest of the row
        std::vector<uint16_t> half(static_cast<size_t>(n));
        const auto f32_dot = best_dot<TypeF32>();
        const auto* bf16_rows = reinterpret_cast<const TypeF32::Block*>(as_bf16.data());
        const auto* f16_rows = reinterpret_cast<const TypeF32::Block*>(as_f16.data());
        REQUIRE(narrow_exactly(as_bf16.data(), half.data(), n) == ExactHalf::bf16);
        for (int i = 0; i < n; ++i) CHECK(bf16_to_f32(half[size_t(i)]) == as_bf16[size_t(i)]);
        CHECK(f32_to_bits(best_dot_bf16_f32()(half.data(), x.data(), n)) == f32_to_bits(f32_dot(bf16_rows, x.data(), n)));
        CHECK(f32_to_bits(dot_bf16_f32(half.data(), x.data(), n)) == f32_to_bits(TypeF32::dot(bf16_rows, x.data(), n)));
        if (n > 1) {  // (a row of that one value alone is bf16)
            REQUIRE(narrow_exactly(as_f16.data(), half.data(), n) == ExactHalf::f16);
            for (int i = 0; i < n; ++i) CHECK(f32_to_bits(fp16_to_f32(half[size_t(i)])) == f32_to_bits(as_f16[size_t(i)]));
            CHECK(f32_to_bits(best_dot_f16_f32()(half.data(), x.data(), n)) == f32_to_bits(f32_dot(f16_rows, x.data(), n)));
            CHECK(f32_to_bits(dot_f16_f32(half.data(), x.data(), n)) == f32_to_bits(TypeF32::dot(f16_rows, x.data(), n)));
        }
        // One value neither holds keeps the row f32.
        std::vector<float> mixed = as_f16;
        mixed[size_t(n - 1)] = 1.0f + std::ldexp(1.0f, -20);
        CHECK(narrow_exactly(mixed.data(), half.data(), n) == ExactHalf::none);
    }
}


// ---- Quantized block layouts -------------------------------------------------------------
// Each packer below writes codes and scales into a block the way the GGUF layout documents
// it, independently of the decoding code under test; `expected` is the value formula.

namespace {

struct Case {
    std::vector<uint8_t> bytes;   // one packed block
    std::vector<float> expected;  // its weights, from the layout's formula
};

uint16_t h(float v) { return f32_to_fp16(v); }
float hf(float v) { return fp16_to_f32(f32_to_fp16(v)); }
void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) { b[at] = uint8_t(v); b[at + 1] = uint8_t(v >> 8); }

// 32 codes of 4 bits: byte j = code[j] | code[j + 16] << 4.
void pack_nibbles(std::vector<uint8_t>& b, size_t at, const int* code) {
    for (int j = 0; j < 16; ++j) b[at + size_t(j)] = uint8_t((code[j] & 15) | (code[j + 16] & 15) << 4);
}

Case make_q4_0(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(18), {}};
    float d = hf(0.03f + float(rng() % 100) * 1e-3f);
    int q[32];
    for (int& v : q) v = int(rng() % 16);
    put16(c.bytes, 0, h(d));
    pack_nibbles(c.bytes, 2, q);
    for (int i = 0; i < 32; ++i) c.expected.push_back(d * float(q[i] - 8));
    return c;
}

Case make_q4_1(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(20), {}};
    float d = hf(0.02f + float(rng() % 100) * 1e-3f), m = hf(-0.3f + float(rng() % 100) * 1e-3f);
    int q[32];
    for (int& v : q) v = int(rng() % 16);
    put16(c.bytes, 0, h(d));
    put16(c.bytes, 2, h(m));
    pack_nibbles(c.bytes, 4, q);
    for (int i = 0; i < 32; ++i) c.expected.push_back(d * float(q[i]) + m);
    return c;
}

// Q5_x: low nibbles as Q4, bit 4 of element j in bit j of the little-endian u32 qh.
Case make_q5(std::mt19937& rng, bool with_min) {
    size_t off = with_min ? 4 : 2;
    Case c{std::vector<uint8_t>(off + 20), {}};
    float d = hf(0.02f + float(rng() % 100) * 1e-3f), m = with_min ? hf(-0.2f) : 0.0f;
    int q[32], low[32];
    uint32_t qh = 0;
    for (int i = 0; i < 32; ++i) {
        q[i] = int(rng() % 32);
        low[i] = q[i] & 15;
        qh |= uint32_t(q[i] >> 4) << i;
    }
    put16(c.bytes, 0, h(d));
    if (with_min) put16(c.bytes, 2, h(m));
    for (int k = 0; k < 4; ++k) c.bytes[off + size_t(k)] = uint8_t(qh >> (8 * k));
    pack_nibbles(c.bytes, off + 4, low);
    for (int i = 0; i < 32; ++i) c.expected.push_back(with_min ? d * float(q[i]) + m : d * float(q[i] - 16));
    return c;
}

Case make_q8_0(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(34), {}};
    float d = hf(0.01f);
    put16(c.bytes, 0, h(d));
    for (int i = 0; i < 32; ++i) {
        int q = int(rng() % 255) - 127;
        c.bytes[2 + size_t(i)] = uint8_t(int8_t(q));
        c.expected.push_back(d * float(q));
    }
    return c;
}

const int levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

Case make_iq4_nl(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(18), {}};
    float d = hf(0.002f);
    int q[32];
    for (int& v : q) v = int(rng() % 16);
    put16(c.bytes, 0, h(d));
    pack_nibbles(c.bytes, 2, q);
    for (int i = 0; i < 32; ++i) c.expected.push_back(d * float(levels[q[i]]));
    return c;
}

// IQ4_XS: 6-bit group scale s: low nibble in scales_l[g/2] (nibble g%2), high 2 bits in
// bits 2g..2g+1 of scales_h; w = d * (s - 32) * level[q].
Case make_iq4_xs(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(136), {}};
    float d = hf(0.0005f);
    put16(c.bytes, 0, h(d));
    uint16_t scales_h = 0;
    for (int g = 0; g < 8; ++g) {
        int s = int(rng() % 64);
        c.bytes[4 + size_t(g / 2)] |= uint8_t((s & 15) << (4 * (g % 2)));
        scales_h |= uint16_t((s >> 4) << (2 * g));
        int q[32];
        for (int& v : q) v = int(rng() % 16);
        pack_nibbles(c.bytes, 8 + 16 * size_t(g), q);
        for (int i = 0; i < 32; ++i) c.expected.push_back(d * float(s - 32) * float(levels[q[i]]));
    }
    put16(c.bytes, 2, scales_h);
    return c;
}

// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Element
// 128h + 32j + 16k + l is bits 2j..2j+1 of qs[32h + 16k + l]; group = element / 16.
Case make_q2_k(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(84), {}};
    float d = hf(0.01f), dmin = hf(0.005f);
    int sc[16], mn[16];
    for (int g = 0; g < 16; ++g) {
        sc[g] = int(rng() % 16);
        mn[g] = int(rng() % 16);
        c.bytes[size_t(g)] = uint8_t(sc[g] | mn[g] << 4);
    }
    c.expected.resize(256);
    for (int e = 0; e < 256; ++e) {
        int q = int(rng() % 4), hh = e / 128, j = (e % 128) / 32, kl = e % 32;
        c.bytes[16 + size_t(32 * hh + kl)] |= uint8_t(q << (2 * j));
        c.expected[size_t(e)] = d * float(sc[e / 16]) * float(q) - dmin * float(mn[e / 16]);
    }
    put16(c.bytes, 80, h(d));
    put16(c.bytes, 82, h(dmin));
    return c;
}

// Q3_K: hmask[32], qs[64], scales[12], d. Code = 2 low bits (as Q2_K) + high bit at
// hmask[e % 32] bit (4h + j); value q - 4 when the high bit is clear. 6-bit scale s of group g:
// low 4 bits in byte g (g < 8) or the high nibble of byte g - 8; high 2 bits at bits
// 2(g/4).. of byte 8 + g%4. w = d * (s - 32) * code.
Case make_q3_k(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(110), {}};
    float d = hf(0.01f);
    int s[16];
    for (int g = 0; g < 16; ++g) {
        s[g] = int(rng() % 64);
        c.bytes[96 + size_t(g < 8 ? g : g - 8)] |= uint8_t(g < 8 ? (s[g] & 15) : (s[g] & 15) << 4);
        c.bytes[96 + 8 + size_t(g % 4)] |= uint8_t((s[g] >> 4) << (2 * (g / 4)));
    }
    c.expected.resize(256);
    for (int e = 0; e < 256; ++e) {
        int code = int(rng() % 8) - 4;  // -4..3
        int stored = code + 4;          // 3 bits; high bit set means no -4
        int hh = e / 128, j = (e % 128) / 32, kl = e % 32;
        c.bytes[32 + size_t(32 * hh + kl)] |= uint8_t((stored & 3) << (2 * j));
        if (stored & 4) c.bytes[size_t(kl)] |= uint8_t(1 << (4 * hh + j));
        c.expected[size_t(e)] = d * float(s[e / 16] - 32) * float(code);
    }
    put16(c.bytes, 108, h(d));
    return c;
}

// Q4_K/Q5_K 12-byte scale/min packing for 8 groups of 6-bit values.
void pack_k4_scales(std::vector<uint8_t>& b, size_t at, const int* sc, const int* mn) {
    for (int g = 0; g < 4; ++g) {
        b[at + size_t(g)] = uint8_t(sc[g] | (sc[g + 4] >> 4) << 6);
        b[at + 4 + size_t(g)] = uint8_t(mn[g] | (mn[g + 4] >> 4) << 6);
        b[at + 8 + size_t(g)] = uint8_t((sc[g + 4] & 15) | (mn[g + 4] & 15) << 4);
    }
}

// Q4_K: d, dmin, scales[12], qs[128]; element 64c + 32k + l is nibble k of qs[32c + l];
// Q5_K adds qh[32] (before qs): bit g of qh[l] is bit 4 of element 32g + l.
Case make_q45_k(std::mt19937& rng, bool five) {
    const size_t qs_at = five ? 48 : 16;
    Case c{std::vector<uint8_t>(five ? 176 : 144), {}};
    float d = hf(0.004f), dmin = hf(0.002f);
    int sc[8], mn[8];
    for (int g = 0; g < 8; ++g) { sc[g] = int(rng() % 64); mn[g] = int(rng() % 64); }
    put16(c.bytes, 0, h(d));
    put16(c.bytes, 2, h(dmin));
    pack_k4_scales(c.bytes, 4, sc, mn);
    c.expected.resize(256);
    for (int e = 0; e < 256; ++e) {
        int q = int(rng() % (five ? 32 : 16));
        int chunk = e / 64, k = (e % 64) / 32, l = e % 32;
        c.bytes[qs_at + size_t(32 * chunk + l)] |= uint8_t((q & 15) << (4 * k));
        if (five) c.bytes[16 + size_t(l)] |= uint8_t((q >> 4) << (e / 32));
        c.expected[size_t(e)] = d * float(sc[e / 32]) * float(q) - dmin * float(mn[e / 32]);
    }
    return c;
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d. Within half h: element 32k + l has low nibble
// in ql[64h + l + 32(k%2)] (low nibble for k < 2, high for k >= 2), high 2 bits at bits 2k of
// qh[32h + l]. w = d * scale[e/16] * (q - 32).
Case make_q6_k(std::mt19937& rng) {
    Case c{std::vector<uint8_t>(210), {}};
    float d = hf(0.001f);
    int8_t sc[16];
    for (int g = 0; g < 16; ++g) {
        sc[g] = int8_t(int(rng() % 256) - 128);
        c.bytes[192 + size_t(g)] = uint8_t(sc[g]);
    }
    c.expected.resize(256);
    for (int e = 0; e < 256; ++e) {
        int q = int(rng() % 64), hh = e / 128, k = (e % 128) / 32, l = e % 32;
        c.bytes[size_t(64 * hh + l + 32 * (k % 2))] |= uint8_t((q & 15) << (k < 2 ? 0 : 4));
        c.bytes[128 + size_t(32 * hh + l)] |= uint8_t((q >> 4) << (2 * k));
        c.expected[size_t(e)] = d * float(sc[e / 16]) * float(q - 32);
    }
    put16(c.bytes, 208, h(d));
    return c;
}

// Checks dequantize against the formula, then every dot kernel against a double-precision
// dot of the formula's weights with the dequantized int8 activations, over several blocks.
template <class T, class Make>
void check_type(Make make) {
    std::mt19937 rng(11);
    for (int n_blocks : {1, 3}) {
        std::vector<typename T::Block> blocks(static_cast<size_t>(n_blocks));
        std::vector<float> expected;
        for (auto& b : blocks) {
            Case c = make(rng);
            REQUIRE(c.bytes.size() == sizeof(b));
            std::memcpy(&b, c.bytes.data(), sizeof(b));
            std::vector<float> got(static_cast<size_t>(T::block_elems));
            T::dequantize(&b, got.data());
            for (int i = 0; i < T::block_elems; ++i) {
                INFO(std::string(ggml_type_name(T::id)), " element ", i);
                REQUIRE(got[size_t(i)] == doctest::Approx(c.expected[size_t(i)]).epsilon(1e-6));
            }
            expected.insert(expected.end(), c.expected.begin(), c.expected.end());
        }
        const int n = n_blocks * T::block_elems;
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = std::uniform_real_distribution<float>(-1.5f, 1.5f)(rng);
        std::vector<BlockQ8> act(static_cast<size_t>(n / 32));
        // Each type's kernels take activations in its own format (K-quants: one scale per 256).
        if (T::act == ActFormat::q8_k) quantize_row_q8k(x.data(), act.data(), n);
        else quantize_row_q8(x.data(), act.data(), n);
        double ref = 0.0;
        for (int i = 0; i < n; ++i) ref += double(expected[size_t(i)]) * act[size_t(i / 32)].d * act[size_t(i / 32)].qs[i % 32];
        // Types with a min use the activation block's fp16-rounded sum: allow for that rounding.
        const double tol = 2e-3 * std::fabs(ref) + 2e-3;
        CHECK(std::fabs(T::dot(blocks.data(), act.data(), n_blocks) - ref) <= tol);
        CHECK(std::fabs(best_dot<T>()(blocks.data(), act.data(), n_blocks) - ref) <= tol);
    }
}

} // namespace

TEST_CASE("Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 layouts") {
    check_type<TypeQ8_0>(make_q8_0);
    check_type<TypeQ4_0>(make_q4_0);
    check_type<TypeQ4_1>(make_q4_1);
    check_type<TypeQ5_0>([](std::mt19937& r) { return make_q5(r, false); });
    check_type<TypeQ5_1>([](std::mt19937& r) { return make_q5(r, true); });
}

TEST_CASE("K-quant layouts: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K") {
    check_type<TypeQ2_K>(make_q2_k);
    check_type<TypeQ3_K>(make_q3_k);
    check_type<TypeQ4_K>([](std::mt19937& r) { return make_q45_k(r, false); });
    check_type<TypeQ5_K>([](std::mt19937& r) { return make_q45_k(r, true); });
    check_type<TypeQ6_K>(make_q6_k);
}

TEST_CASE("IQ4_NL / IQ4_XS layouts") {
    check_type<TypeIQ4_NL>(make_iq4_nl);
    check_type<TypeIQ4_XS>(make_iq4_xs);
}

// Random blocks of a quantized type (any code bytes, finite fp16 scales, some zero mins) and
// activations in the type's format, for comparing kernels bit for bit.
template <class B>
auto set_min(B& b, std::mt19937& rng, int) -> decltype(b.m, void()) {
    b.m = rng() % 4 ? f32_to_fp16(std::uniform_real_distribution<float>(-0.5f, 0.5f)(rng)) : 0;
}
template <class B>
auto set_min(B& b, std::mt19937& rng, int) -> decltype(b.dmin, void()) {
    b.dmin = rng() % 4 ? f32_to_fp16(std::uniform_real_distribution<float>(0.0f, 0.05f)(rng)) : 0;
}
template <class B>
void set_min(B&, std::mt19937&, long) {}

template <class T>
struct RandomTypeInputs {
    std::vector<typename T::Block> w;
    std::vector<BlockQ8> a;
    RandomTypeInputs(std::mt19937& rng, int n_blocks) : w(static_cast<size_t>(n_blocks)), a(w.size() * T::block_elems / 32) {
        for (auto& b : w) {
            auto* bytes = reinterpret_cast<uint8_t*>(&b);
            for (size_t i = 0; i < sizeof(b); ++i) bytes[i] = uint8_t(rng());
            b.d = f32_to_fp16(std::uniform_real_distribution<float>(-0.05f, 0.05f)(rng));
            set_min(b, rng, 0);
        }
        std::vector<float> x(a.size() * 32);
        for (float& v : x) v = std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng);
        if (T::act == ActFormat::q8_k) quantize_row_q8k(x.data(), a.data(), int(x.size()));
        else quantize_row_q8(x.data(), a.data(), int(x.size()));
    }
};

#if defined(__x86_64__)
TEST_CASE("AVX2 K-quant kernels are bit-identical to the generic ones") {
    if (!x86::has_avx2()) {
        MESSAGE("skipped: no AVX2");
        return;
    }
    std::mt19937 rng(23);
    for (int n : {1, 2, 5}) {
        RandomTypeInputs<TypeQ4_K> q4(rng, n);
        RandomTypeInputs<TypeQ6_K> q6(rng, n);
        CHECK(f32_to_bits(x86::dot_q4_k_avx2(q4.w.data(), q4.a.data(), n)) ==
              f32_to_bits(DotTraits<TypeQ4_K>::reference(q4.w.data(), q4.a.data(), n)));
        CHECK(f32_to_bits(x86::dot_q6_k_avx2(q6.w.data(), q6.a.data(), n)) ==
              f32_to_bits(DotTraits<TypeQ6_K>::reference(q6.w.data(), q6.a.data(), n)));
    }
}

TEST_CASE("VNNI and AVX2 kernels give bit-identical results") {
    if (!x86::has_avx512_vnni()) {
        MESSAGE("skipped: this CPU has no AVX-512 VNNI");
        return;
    }
    std::mt19937 rng(9);
    for (int n : {1, 5, 64}) {
        RandomTypeInputs<TypeQ8_0> q8(rng, n);
        RandomTypeInputs<TypeQ4_0> q4(rng, n);
        CHECK(x86::dot_q8_0_vnni(q8.w.data(), q8.a.data(), n) == x86::dot_q8_0_avx2(q8.w.data(), q8.a.data(), n));
        CHECK(x86::dot_q4_0_vnni(q4.w.data(), q4.a.data(), n) == x86::dot_q4_0_avx2(q4.w.data(), q4.a.data(), n));
    }
}

// Every field of every block equal, bit for bit.
static void check_same_blocks(const std::vector<BlockQ8>& simd, const std::vector<BlockQ8>& generic) {
    REQUIRE(simd.size() == generic.size());
    for (size_t b = 0; b < simd.size(); ++b) {
        CAPTURE(b);
        CHECK(simd[b].d == generic[b].d);
        CHECK(simd[b].sum == generic[b].sum);
        CHECK(simd[b].half_sum[0] == generic[b].half_sum[0]);
        CHECK(simd[b].half_sum[1] == generic[b].half_sum[1]);
        CHECK(std::equal(simd[b].qs, simd[b].qs + 32, generic[b].qs));
    }
}

TEST_CASE("AVX2 activation quantization is bit-identical to the generic one") {
    if (!x86::has_avx2()) {
        MESSAGE("skipped: this CPU has no AVX2");
        return;
    }
    std::mt19937 rng(21);
    std::vector<float> x(32 * 40);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::normal_distribution<float>(0.0f, i % 97 == 0 ? 30.0f : 1.0f)(rng);
    for (int i = 0; i < 32; ++i) x[32 * 7 + i] = 0.0f;     // an all-zero block
    for (int i = 0; i < 32; ++i) x[32 * 9 + i] = 0.5f * float(i - 16) / 127.0f * 254.0f;  // exact halves: ties to even
    std::vector<BlockQ8> generic(40), simd(40);
    quantize_row_q8(x.data(), generic.data(), int(x.size()));
    x86::quantize_row_q8_avx2(x.data(), simd.data(), int(x.size()));
    check_same_blocks(simd, generic);
}
#endif

#if defined(__x86_64__)
TEST_CASE("AVX2 Q8_K activation quantization is bit-identical to the generic one") {
    if (!x86::has_avx2()) {
        MESSAGE("skipped: this CPU has no AVX2");
        return;
    }
    std::mt19937 rng(23);
    std::vector<float> x(256 * 6);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::normal_distribution<float>(0.0f, i % 89 == 0 ? 20.0f : 1.0f)(rng);
    for (int i = 0; i < 256; ++i) x[256 + i] = 0.0f;  // an all-zero super-block
    // Largest magnitude twice, negative first: the first one sets the scale's sign.
    x[512 + 3] = -40.0f;
    x[512 + 200] = 40.0f;
    // Exact halves after scaling (max 127 maps to -127): ties round to even.
    for (int i = 0; i < 256; ++i) x[768 + i] = i == 0 ? 127.0f : float(i % 64) - 31.5f;
    std::vector<BlockQ8> generic(48), simd(48);
    quantize_row_q8k(x.data(), generic.data(), int(x.size()));
    x86::quantize_row_q8k_avx2(x.data(), simd.data(), int(x.size()));
    check_same_blocks(simd, generic);
    CHECK(generic[16].d > 0.0f);  // -40 came first: iscale = -127 / -40 > 0
}
#endif

TEST_CASE("attention over fp16 rows: scores and weighted sums, every width including tails") {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int n : {1, 7, 8, 64, 72, 80})
        for (int n_rows : {0, 1, 5, 33}) {
            const int64_t stride = n + 5;  // rows padded: the stride is honoured
            std::vector<uint16_t> rows(static_cast<size_t>(stride * n_rows + n)), q(static_cast<size_t>(n));
            std::vector<float> p(static_cast<size_t>(n_rows)), out(static_cast<size_t>(n));
            for (uint16_t& v : rows) v = f32_to_fp16(normal(rng));
            for (uint16_t& v : q) v = f32_to_fp16(normal(rng));
            for (float& v : p) v = normal(rng);
            for (float& v : out) v = normal(rng);
            std::vector<float> scores(size_t(n_rows) + 1, -1.0f), sums = out;
            best_dot_rows_f16()(rows.data(), stride, n_rows, q.data(), n, scores.data());
            best_weighted_sum_f16()(p.data(), rows.data(), stride, n_rows, sums.data(), n);
            CAPTURE(n);
            CAPTURE(n_rows);
            CHECK(scores[size_t(n_rows)] == -1.0f);  // nothing written past the last row
            for (int j = 0; j < n_rows; ++j) {
                double expect = 0;
                for (int i = 0; i < n; ++i) expect += double(fp16_to_f32(rows[size_t(j * stride + i)])) * fp16_to_f32(q[size_t(i)]);
                CHECK(scores[size_t(j)] == doctest::Approx(expect).epsilon(1e-5).scale(1.0));
            }
            for (int i = 0; i < n; ++i) {
                double expect = out[size_t(i)];
                for (int j = 0; j < n_rows; ++j) expect += double(p[size_t(j)]) * fp16_to_f32(rows[size_t(j * stride + i)]);
                CHECK(sums[size_t(i)] == doctest::Approx(expect).epsilon(1e-5).scale(1.0));
            }
#if defined(__x86_64__)
            if (!x86::has_avx2()) continue;
            // AVX2: each score is dot_f16_avx2's; each sum one fused multiply-add per row, in row order.
            for (int j = 0; j < n_rows; ++j)
                CHECK(scores[size_t(j)] == x86::dot_f16_avx2(reinterpret_cast<const TypeF16::Block*>(rows.data() + j * stride), q.data(), n));
            std::vector<float> fused = out;
            for (int j = 0; j < n_rows; ++j)
                for (int i = 0; i < n; ++i) fused[size_t(i)] = std::fma(p[size_t(j)], fp16_to_f32(rows[size_t(j * stride + i)]), fused[size_t(i)]);
            CHECK(sums == fused);
#endif
        }
}

#if defined(__x86_64__)
TEST_CASE("F16C row conversions give the portable conversions' bits") {
    if (!x86::has_avx2()) {
        MESSAGE("skipped: this CPU has no F16C");
        return;
    }
    // Ties at every scale, subnormal results, the overflow threshold, infinities, then random
    // bit patterns (NaNs left out: only their payloads may differ).
    std::vector<float> x = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e-8f, -3e-8f, 6.1e-5f, 5.96e-8f,
                            2.98e-8f, 8.94e-8f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, INFINITY, -INFINITY};
    std::mt19937 rng(3);
    while (x.size() < 4099) {
        const float v = bits_to_f32(uint32_t(rng()));
        if (!std::isnan(v)) x.push_back(v);
    }
    for (const int64_t n : {int64_t(x.size()), int64_t(7)}) {  // vector body and tail, or a tail alone
        std::vector<uint16_t> generic(static_cast<size_t>(n)), f16c(static_cast<size_t>(n));
        f32_to_fp16_row(x.data(), generic.data(), n);
        x86::f32_to_fp16_row_f16c(x.data(), f16c.data(), n);
        CHECK(f16c == generic);
        std::vector<float> rounded(x.begin(), x.begin() + n), rounded_f16c = rounded;
        round_to_fp16_row(rounded.data(), n);
        x86::round_to_fp16_row_f16c(rounded_f16c.data(), n);
        CHECK(std::memcmp(rounded.data(), rounded_f16c.data(), size_t(n) * sizeof(float)) == 0);
    }
}

TEST_CASE("AVX2 vecmat_f32 is bit-identical to the portable loop") {
    if (!x86::has_avx2()) {
        MESSAGE("skipped: this CPU has no AVX2");
        return;
    }
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // Widths cover the 32-wide blocks, the 8-wide blocks and the single-column tail.
    for (int k : {1, 5, 256})
        for (int n : {1, 7, 8, 33, 32, 75, 256}) {
            const size_t rows = static_cast<size_t>(k), cols = static_cast<size_t>(n);
            std::vector<float> a(rows), w(rows * cols), generic(cols, -1.0f), simd(cols, -2.0f);
            for (float& v : a) v = normal(rng);
            for (float& v : w) v = normal(rng);
            vecmat_f32(a.data(), w.data(), generic.data(), k, n);
            x86::vecmat_f32_avx2(a.data(), w.data(), simd.data(), k, n);
            CAPTURE(k);
            CAPTURE(n);
            CHECK(simd == generic);
            // And the sums are what they claim to be.
            double expect = 0;
            for (int p = 0; p < k; ++p) expect += double(a[size_t(p)]) * w[size_t(p) * cols + cols - 1];
            CHECK(generic[cols - 1] == doctest::Approx(expect).epsilon(1e-4));
        }
}
#endif

TEST_CASE("transpose_u32: every tile and edge lands where the definition says, on every kernel") {
    std::vector<TransposeU32> kernels = {&transpose_u32};
#if defined(__x86_64__)
    if (x86::has_avx2()) kernels.push_back(&x86::transpose_u32_avx2);
#endif
    for (TransposeU32 transpose : kernels)
        for (int64_t rows : {1, 7, 8, 9, 32})
            for (int64_t cols : {1, 8, 13, 256}) {
                const int64_t stride = rows + 3;  // source rows padded: the stride is honoured
                std::vector<uint32_t> src(size_t(cols * stride)), dst(size_t(rows * cols), 0xdeadbeef);
                for (size_t i = 0; i < src.size(); ++i) src[i] = uint32_t(i * 2654435761u);
                transpose(dst.data(), src.data(), stride, rows, cols);
                bool same = true;
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t c = 0; c < cols; ++c) same = same && dst[size_t(r * cols + c)] == src[size_t(c * stride + r)];
                CAPTURE(rows);
                CAPTURE(cols);
                CHECK(same);
            }
}

#if defined(__aarch64__)
// A NEON kernel's dot and 2 x 4 tile against the generic dot, bit for bit, for 1 to 33 blocks
// (the four-block steps and every remainder).
template <class T>
void check_neon(DotFn<T> dot, TileFn<T> tile) {
    std::mt19937 rng(13);
    for (int n : {1, 2, 3, 4, 5, 7, 8, 9, 33}) {
        std::vector<RandomTypeInputs<T>> in;
        for (int k = 0; k < 4; ++k) in.emplace_back(rng, n);
        const BlockQ8* acts[4] = {in[0].a.data(), in[1].a.data(), in[2].a.data(), in[3].a.data()};
        float out[8];
        tile(in[0].w.data(), in[1].w.data(), acts, n, out);
        INFO(std::string(ggml_type_name(T::id)), " blocks ", n);
        for (int r = 0; r < 2; ++r)
            for (int t = 0; t < 4; ++t) {
                const uint32_t expected = f32_to_bits(DotTraits<T>::reference(in[size_t(r)].w.data(), acts[t], n));
                CHECK(f32_to_bits(dot(in[size_t(r)].w.data(), acts[t], n)) == expected);
                CHECK(f32_to_bits(out[4 * r + t]) == expected);
            }
    }
}

// Baseline NEON, and sdot where this core has the dot-product extension.
#if TINYLLM_NEON_DOTPROD
#define NEON_KERNELS(T, type)                                                      \
    check_neon<T>(&neon::dot_##type, &neon::tile_##type);                          \
    if (arm::has_dotprod()) check_neon<T>(&neon::dot_##type##_dotprod, &neon::tile_##type##_dotprod)
#else
#define NEON_KERNELS(T, type) check_neon<T>(&neon::dot_##type, &neon::tile_##type)
#endif

// smmla tiles (the types of 32-value blocks) where this core has the int8 matrix multiply.
#if TINYLLM_NEON_I8MM
#define I8MM_TILE(T, type) \
    if (arm::has_i8mm()) check_neon<T>(&neon::dot_##type, &neon::tile_##type##_i8mm)
#else
#define I8MM_TILE(T, type)
#endif

TEST_CASE("NEON, sdot and smmla dots and tiles are bit-identical to the generic kernels, every type") {
    I8MM_TILE(TypeQ8_0, q8_0);
    I8MM_TILE(TypeQ4_0, q4_0);
    I8MM_TILE(TypeQ4_1, q4_1);
    I8MM_TILE(TypeQ5_0, q5_0);
    I8MM_TILE(TypeQ5_1, q5_1);
    I8MM_TILE(TypeIQ4_NL, iq4_nl);
    NEON_KERNELS(TypeQ8_0, q8_0);
    NEON_KERNELS(TypeQ4_0, q4_0);
    NEON_KERNELS(TypeQ4_1, q4_1);
    NEON_KERNELS(TypeQ5_0, q5_0);
    NEON_KERNELS(TypeQ5_1, q5_1);
    NEON_KERNELS(TypeIQ4_NL, iq4_nl);
    NEON_KERNELS(TypeQ4_K, q4_k);
    NEON_KERNELS(TypeQ5_K, q5_k);
    NEON_KERNELS(TypeQ6_K, q6_k);
    NEON_KERNELS(TypeIQ4_XS, iq4_xs);
}
#undef NEON_KERNELS
#undef I8MM_TILE

TEST_CASE("NEON float dots are bit-identical to the generic ones, every length including tails") {
    std::mt19937 rng(17);
    for (int n : {1, 7, 8, 9, 15, 16, 17, 31, 100, 257}) {
        std::vector<float> w(static_cast<size_t>(n)), x(w.size());
        for (float& v : w) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
        for (float& v : x) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
        std::vector<uint16_t> w16(w.size()), x16(w.size()), wb(w.size()), xb(w.size());
        for (size_t i = 0; i < w.size(); ++i) {
            w16[i] = f32_to_fp16(w[i]), x16[i] = f32_to_fp16(x[i]);
            wb[i] = f32_to_bf16(w[i]), xb[i] = f32_to_bf16(x[i]);
        }
        const auto* wf = reinterpret_cast<const TypeF32::Block*>(w.data());
        const auto* wh = reinterpret_cast<const TypeF16::Block*>(w16.data());
        const auto* wbh = reinterpret_cast<const TypeBF16::Block*>(wb.data());
        INFO("n = ", n);
        CHECK(f32_to_bits(neon::dot_f32(wf, x.data(), n)) == f32_to_bits(TypeF32::dot(wf, x.data(), n)));
        CHECK(f32_to_bits(neon::dot_f16(wh, x16.data(), n)) == f32_to_bits(TypeF16::dot(wh, x16.data(), n)));
        CHECK(f32_to_bits(neon::dot_bf16(wbh, xb.data(), n)) == f32_to_bits(TypeBF16::dot(wbh, xb.data(), n)));
        CHECK(f32_to_bits(neon::dot_f16_f32(w16.data(), x.data(), n)) == f32_to_bits(dot_f16_f32(w16.data(), x.data(), n)));
        CHECK(f32_to_bits(neon::dot_bf16_f32(wb.data(), x.data(), n)) == f32_to_bits(dot_bf16_f32(wb.data(), x.data(), n)));
    }
}

// scripts/test-arm.sh names the emulated core's features (TINYLLM_EXPECT_DOTPROD=0/1 and
// TINYLLM_EXPECT_I8MM=0/1): the detection must find them, and dispatch must pick the sdot and
// smmla kernels exactly when it does.
TEST_CASE("AArch64 feature detection and dispatch match the core") {
    const char* expect = std::getenv("TINYLLM_EXPECT_DOTPROD");
    const char* expect_i8mm = std::getenv("TINYLLM_EXPECT_I8MM");
    if (!expect || !expect_i8mm) {
        MESSAGE("TINYLLM_EXPECT_DOTPROD or TINYLLM_EXPECT_I8MM not set (scripts/test-arm.sh sets them per core): skipped");
        return;
    }
    const bool dotprod = std::strcmp(expect, "1") == 0, i8mm = std::strcmp(expect_i8mm, "1") == 0;
    CHECK(arm::has_dotprod() == dotprod);
    CHECK(arm::has_i8mm() == i8mm);
#if TINYLLM_NEON_DOTPROD
    CHECK((best_dot<TypeQ4_K>() == &neon::dot_q4_k_dotprod) == dotprod);
    CHECK((best_tile<TypeQ6_K>() == &neon::tile_q6_k_dotprod) == dotprod);
    CHECK((best_groupwise_dot_q8() == &neon::groupwise_dot_q8_dotprod) == dotprod);
#endif
#if TINYLLM_NEON_I8MM
    CHECK((best_tile<TypeQ4_0>() == &neon::tile_q4_0_i8mm) == i8mm);
    CHECK((best_tile<TypeQ8_0>() == &neon::tile_q8_0_i8mm) == i8mm);
#endif
}
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
TEST_CASE("cpuid feature detection agrees with GCC's __builtin_cpu_supports") {
    const x86::CpuFeatures& f = x86::cpu_features();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    const bool vnni = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    CHECK(f.avx2 == avx2);
    CHECK(f.avx512_vnni == vnni);
}
#endif

TEST_CASE("activation quantizers take NaN and infinities without undefined behaviour; other blocks are unchanged") {
    // A flipped byte in a weight or scale reaches the activations as NaN or Inf. The codes of
    // such a block are whatever they are; the block sums must wrap, not overflow, and blocks
    // without such a value must quantize as they would alone.
    std::vector<float> x(512);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * float(i)) * 3.0f;
    std::vector<BlockQ8> clean(16), dirty(16);
    for (const QuantizeRowQ8 quantize : {best_quantize_row_q8(), best_quantize_row_q8k()}) {
        quantize(x.data(), clean.data(), 512);
        std::vector<float> y = x;
        y[3] = NAN;
        y[40] = INFINITY;
        y[41] = -INFINITY;
        quantize(y.data(), dirty.data(), 512);
        // q8_0 blocks are 32 values, q8_K's 256: the second half is clean either way.
        for (size_t b = 8; b < 16; ++b) {
            CHECK(dirty[b].d == clean[b].d);
            CHECK(std::memcmp(dirty[b].qs, clean[b].qs, 32) == 0);
            CHECK(dirty[b].code_sum() == clean[b].code_sum());
        }
    }
}
