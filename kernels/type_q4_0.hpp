// Q4_0: blocks of 32 weights as 4-bit values with one fp16 scale. w = d * (q - 8).
// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
#pragma once
#include <stdint.h>

#include "activation_q8.hpp"
#include "fp16.hpp"
#include "ggml_types.hpp"

namespace tinyllm {

struct TypeQ4_0 {
    static constexpr GgmlType id = GgmlType::Q4_0;
    static constexpr bool quantized = true;
    static constexpr int block_elems = 32;
    struct Block {
        uint16_t d;
        uint8_t qs[16];
    };
    static void dequantize(const Block* b, float* out) {
        float d = fp16_to_f32(b->d);
        for (int j = 0; j < 16; ++j) {
            out[j] = d * float((b->qs[j] & 0x0f) - 8);
            out[j + 16] = d * float((b->qs[j] >> 4) - 8);
        }
    }
    static float dot(const Block* w, const BlockQ8* a, int n_blocks) {
        float sum = 0.0f;
        for (int b = 0; b < n_blocks; ++b) {
            int isum = 0;
            for (int j = 0; j < 16; ++j) {
                isum += ((w[b].qs[j] & 0x0f) - 8) * int(a[b].qs[j]);
                isum += ((w[b].qs[j] >> 4) - 8) * int(a[b].qs[j + 16]);
            }
            sum += fp16_to_f32(w[b].d) * a[b].d * float(isum);
        }
        return sum;
    }
};
static_assert(sizeof(TypeQ4_0::Block) == 18, "Q4_0 block layout");

} // namespace tinyllm
