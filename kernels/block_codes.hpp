// The shape every quantized GGUF block shares once decoded: integer codes, and per group of
// G consecutive codes a scale and a min, so that  w[i] = scale[g] * code[i] - min[g].
// A weight type defines only its bit layout (a `decode` function); dequantization and the
// reference dot product against int8 activations are written once, here.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/kernels/ggml_types.hpp"

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

// Low/high nibbles of 16 bytes as 32 codes: element j from the low nibble of byte j, element
// j + 16 from its high nibble (the Q4_0/Q4_1/Q5_x/IQ4 order).
inline void split_nibbles_32(const uint8_t* qs, int8_t* out, int offset) {
    for (int j = 0; j < 16; ++j) {
        out[j] = int8_t((qs[j] & 0x0f) + offset);
        out[j + 16] = int8_t((qs[j] >> 4) + offset);
    }
}

} // namespace tinyllm
