// Q8_0: blocks of 32 int8 weights with one fp16 scale. w = d * q.
#pragma once
#include <stdint.h>

#include "activation_q8.hpp"
#include "fp16.hpp"
#include "ggml_types.hpp"

namespace tinyllm {

struct TypeQ8_0 {
    static constexpr GgmlType id = GgmlType::Q8_0;
    static constexpr bool quantized = true;
    static constexpr int block_elems = 32;
    struct Block {
        uint16_t d;
        int8_t qs[32];
    };
    static void dequantize(const Block* b, float* out) {
        float d = fp16_to_f32(b->d);
        for (int i = 0; i < 32; ++i) out[i] = d * float(b->qs[i]);
    }
    static float dot(const Block* w, const BlockQ8* a, int n_blocks) {
        float sum = 0.0f;
        for (int b = 0; b < n_blocks; ++b) {
            int isum = 0;
            for (int i = 0; i < 32; ++i) isum += int(w[b].qs[i]) * int(a[b].qs[i]);
            sum += fp16_to_f32(w[b].d) * a[b].d * float(isum);
        }
        return sum;
    }
};
static_assert(sizeof(TypeQ8_0::Block) == 34, "Q8_0 block layout");

} // namespace tinyllm
