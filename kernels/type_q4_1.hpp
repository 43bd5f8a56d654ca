// Q4_1 (32 weights): 4-bit codes q with an fp16 scale and offset. w = d * q + m.
#pragma once
#include "tinyllm/kernels/block_codes.hpp"

namespace tinyllm {

template <>
struct WeightType<GgmlType::Q4_1> : QuantizedType<GgmlType::Q4_1, 32> {
    struct Block {
        uint16_t d, m;
        uint8_t qs[16];
    };
    static void decode(const Block& b, Codes& c) {
        split_nibbles_32(b.qs, c.code, 0);
        c.scale[0] = fp16_to_f32(b.d);
        c.min[0] = -fp16_to_f32(b.m);
    }
};
using TypeQ4_1 = WeightType<GgmlType::Q4_1>;

} // namespace tinyllm
