// The shape every quantized GGUF block shares once decoded: integer codes, and per group of
// G consecutive codes a scale and a min, so that  w[i] = scale[g] * code[i] - min[g].
// A weight type defines only its bit layout (a `decode` function); dequantization and the
// reference dot product against int8 activations are written once, here.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/kernels/math.hpp"

namespace tinyllm {

template <int N, int G>
struct BlockCodes {
    static constexpr int elems = N;
    static constexpr int group = G;
    int8_t code[N];
    float scale[N / G];
    float min[N / G];  // zero for symmetric types
};

// Base for the WeightType<Id> of a quantized type, with G codes per scale; the specialization
// provides Block and `static void decode(const Block&, Codes&)`.
template <GgmlType Id, int G>
struct QuantizedType : WeightTypeRow<Id> {
    using Derived = WeightType<Id>;
    static constexpr int N = WeightTypeRow<Id>::block_elems;
    static constexpr bool quantized = true;
    using Codes = BlockCodes<N, G>;

    template <class Block>
    static void dequantize(const Block* b, float* out) {
        Codes c;
        Derived::decode(*b, c);
        for (int i = 0; i < N; ++i) out[i] = c.scale[i / G] * float(c.code[i]) - c.min[i / G];
    }

    // Reference dot against int8 activation blocks (N / 32 of them per weight block).
    template <class Block>
    static float dot(const Block* w, const BlockQ8* a, int n_blocks) {
        float sum = 0.0f;
        Codes c;
        for (int b = 0; b < n_blocks; ++b, a += N / BlockQ8::elems) {
            Derived::decode(w[b], c);
            for (int g = 0; g < N / G; ++g) {
                const BlockQ8& act = a[g * G / BlockQ8::elems];
                const int8_t* qa = act.qs + (g * G) % BlockQ8::elems;
                int dot = 0, act_sum = 0;
                for (int i = 0; i < G; ++i) {
                    dot += int(c.code[g * G + i]) * int(qa[i]);
                    act_sum += qa[i];
                }
                sum += c.scale[g] * act.d * float(dot);
                if (c.min[g] != 0.0f) sum -= c.min[g] * (G == BlockQ8::elems ? act.sum : act.d * float(act_sum));
            }
        }
        return sum;
    }
};

// Super-blocks of 256 whose group scales (and mins) are small integers under fp16 super-scales,
// w = d * scale[g] * code - dmin * min[g], against Q8_K-style activations (the 8 blocks of 32
// share one scale). Their dot product is llama.cpp's: per super-block the group dots times the
// integer scales summed exactly, likewise the mins times the activation code sums, then two
// fused multiply-adds. Every kernel of these types computes exactly this (no order to keep
// inside a super-block, and its float work is two steps rather than one or two per group).
template <int G>
struct SuperBlockInts {
    int8_t code[256];
    int32_t scale[256 / G];
    int32_t min[256 / G];  // zero for symmetric types
    float d, dmin;
};

// A super-block's float steps, shared by every kernel of these types.
template <bool Mins>
__attribute__((always_inline)) inline float add_super_block(float sum, float d, float dmin, float act_d, int32_t dots, int32_t mins) {
    sum = math::fma(d * act_d, float(dots), sum);
    if constexpr (Mins) sum = math::fma(-(dmin * act_d), float(mins), sum);
    return sum;
}

// Base for such a type (the specialization provides Block and
// `static void decode_ints(const Block&, SuperBlockInts<G>&)`).
template <GgmlType Id, int G, bool Mins>
struct SuperBlockType : QuantizedType<Id, G> {
    using Ints = SuperBlockInts<G>;
    using typename QuantizedType<Id, G>::Codes;
    static constexpr bool mins = Mins;

    template <class Block>
    static void decode(const Block& b, Codes& c) {
        Ints s;
        WeightType<Id>::decode_ints(b, s);
        for (int i = 0; i < 256; ++i) c.code[i] = s.code[i];
        for (int g = 0; g < 256 / G; ++g) {
            c.scale[g] = s.d * float(s.scale[g]);
            c.min[g] = Mins ? s.dmin * float(s.min[g]) : 0.0f;
        }
    }

    // Integer bounds: |dot| <= 32 x 128 x 128 per group, scales within +-128 and at most 16
    // groups, so the sums stay below 2^31.
    template <class Block>
    static float dot(const Block* w, const BlockQ8* a, int n_blocks) {
        float sum = 0.0f;
        Ints s;
        for (int b = 0; b < n_blocks; ++b, a += 8) {
            WeightType<Id>::decode_ints(w[b], s);
            int32_t dots = 0, mins = 0;
            for (int g = 0; g < 256 / G; ++g) {
                const BlockQ8& act = a[g * G / 32];
                const int8_t* qa = act.qs + (g * G) % 32;
                int32_t dot = 0;
                for (int i = 0; i < G; ++i) dot += int32_t(s.code[g * G + i]) * qa[i];
                dots += s.scale[g] * dot;
                if constexpr (Mins) {
                    static_assert(G == 32, "mins take whole activation blocks' code sums");
                    mins += s.min[g] * act.code_sum();
                }
            }
            sum = add_super_block<Mins>(sum, s.d, s.dmin, a[0].d, dots, mins);
        }
        return sum;
    }
};

// Low/high nibbles of 16 bytes as 32 codes: element j from the low nibble of byte j, element
// j + 16 from its high nibble (the Q4_0/Q4_1/Q5_x/IQ4 order).
inline void split_nibbles_32(const uint8_t* qs, int8_t* out, int offset) {
    for (int j = 0; j < 16; ++j) {
        out[j] = int8_t((qs[j] & 0x0f) + offset);
        out[j + 16] = int8_t((qs[j] >> 4) + offset);
    }
}

} // namespace tinyllm
