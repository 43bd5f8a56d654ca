// Q5_0 and Q5_1 (32 weights): 5-bit codes, low 4 bits as in Q4_0, the fifth bit of element j
// in bit j of the 32-bit qh. Q5_0: w = d * (q - 16); Q5_1: w = d * q + m.
#pragma once
#include "tinyllm/kernels/block_codes.hpp"

namespace tinyllm {

inline void decode_5bit_32(const uint8_t* qh_bytes, const uint8_t* qs, int8_t* out, int offset) {
    uint32_t qh = uint32_t(qh_bytes[0]) | uint32_t(qh_bytes[1]) << 8 | uint32_t(qh_bytes[2]) << 16 | uint32_t(qh_bytes[3]) << 24;
    for (int j = 0; j < 16; ++j) {
        out[j] = int8_t(((qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) + offset);
        out[j + 16] = int8_t(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) + offset);
    }
}

template <>
struct WeightType<GgmlType::Q5_0> : QuantizedType<GgmlType::Q5_0, 32> {
    struct Block {
        uint16_t d;
        uint8_t qh[4];
        uint8_t qs[16];
    };
    static void decode(const Block& b, Codes& c) {
        decode_5bit_32(b.qh, b.qs, c.code, -16);
        c.scale[0] = fp16_to_f32(b.d);
        c.min[0] = 0.0f;
    }
};
using TypeQ5_0 = WeightType<GgmlType::Q5_0>;

template <>
struct WeightType<GgmlType::Q5_1> : QuantizedType<GgmlType::Q5_1, 32> {
    struct Block {
        uint16_t d, m;
        uint8_t qh[4];
        uint8_t qs[16];
    };
    static void decode(const Block& b, Codes& c) {
        decode_5bit_32(b.qh, b.qs, c.code, 0);
        c.scale[0] = fp16_to_f32(b.d);
        c.min[0] = -fp16_to_f32(b.m);
    }
};
using TypeQ5_1 = WeightType<GgmlType::Q5_1>;

} // namespace tinyllm
