// IQ4_NL (32 weights) and IQ4_XS (256 weights): 4-bit indices into a fixed non-linear table
// of 16 int8 levels. IQ4_NL: w = d * level[q]. IQ4_XS: eight groups of 32, each with a 6-bit
// scale s (low 4 bits in scales_l nibbles, high 2 bits in scales_h): w = d * (s - 32) * level[q].
#pragma once
#include "tinyllm/kernels/block_codes.hpp"

namespace tinyllm {

constexpr int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

inline void decode_iq4_32(const uint8_t* qs, int8_t* out) {
    for (int j = 0; j < 16; ++j) {
        out[j] = iq4_levels[qs[j] & 0x0f];
        out[j + 16] = iq4_levels[qs[j] >> 4];
    }
}

template <>
struct WeightType<GgmlType::IQ4_NL> : QuantizedType<GgmlType::IQ4_NL, 32> {
    struct Block {
        uint16_t d;
        uint8_t qs[16];
    };
    static void decode(const Block& b, Codes& c) {
        decode_iq4_32(b.qs, c.code);
        c.scale[0] = fp16_to_f32(b.d);
        c.min[0] = 0.0f;
    }
};
using TypeIQ4_NL = WeightType<GgmlType::IQ4_NL>;

// Its 6-bit scale of group g, as the signed factor s - 32.
template <class Block>
inline int iq4_xs_scale(const Block& b, int g) {
    return (((b.scales_l[g / 2] >> (4 * (g % 2))) & 0x0f) | (((b.scales_h >> (2 * g)) & 3) << 4)) - 32;
}

template <>
struct WeightType<GgmlType::IQ4_XS> : SuperBlockType<GgmlType::IQ4_XS, 32, false> {
    struct Block {
        uint16_t d;
        uint16_t scales_h;
        uint8_t scales_l[4];
        uint8_t qs[128];
    };
    static void decode_ints(const Block& b, Ints& s) {
        for (int g = 0; g < 8; ++g) {
            s.scale[g] = iq4_xs_scale(b, g);
            s.min[g] = 0;
            decode_iq4_32(b.qs + 16 * g, s.code + 32 * g);
        }
        s.d = fp16_to_f32(b.d);
        s.dmin = 0.0f;
    }
};
using TypeIQ4_XS = WeightType<GgmlType::IQ4_XS>;

} // namespace tinyllm
