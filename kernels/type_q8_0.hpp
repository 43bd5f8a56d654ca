// Q8_0 (32 weights): int8 codes with one fp16 scale. w = d * q.
#pragma once
#include "tinyllm/kernels/block_codes.hpp"

namespace tinyllm {

template <>
struct WeightType<GgmlType::Q8_0> : QuantizedType<GgmlType::Q8_0, 32> {
    struct Block {
        uint16_t d;
        int8_t qs[32];
    };
    static void decode(const Block& b, Codes& c) {
        for (int i = 0; i < 32; ++i) c.code[i] = b.qs[i];
        c.scale[0] = fp16_to_f32(b.d);
        c.min[0] = 0.0f;
    }
};
using TypeQ8_0 = WeightType<GgmlType::Q8_0>;

} // namespace tinyllm
