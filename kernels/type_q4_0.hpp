// Q4_0 (32 weights): 4-bit codes q with one fp16 scale. w = d * (q - 8).
#pragma once
#include "tinyllm/kernels/block_codes.hpp"

namespace tinyllm {

template <>
struct WeightType<GgmlType::Q4_0> : QuantizedType<GgmlType::Q4_0, 32> {
    struct Block {
        uint16_t d;
        uint8_t qs[16];
    };
    static void decode(const Block& b, Codes& c) {
        split_nibbles_32(b.qs, c.code, -8);
        c.scale[0] = fp16_to_f32(b.d);
        c.min[0] = 0.0f;
    }
};
using TypeQ4_0 = WeightType<GgmlType::Q4_0>;

} // namespace tinyllm
