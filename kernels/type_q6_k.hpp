// Q6_K: super-blocks of 256 weights as 6-bit values in 16 groups of 16, each group with an
// int8 scale, plus one fp16 super-scale. w = d * scale[group] * (q - 32).
// Bits: ql holds the low 4 bits, qh the high 2. Each 128-element half uses 64 ql bytes and
// 32 qh bytes: element l (l < 32) of the four 32-element quarters takes
//   quarter 0: low nibble of ql[l],      qh[l] bits 0-1
//   quarter 1: low nibble of ql[l + 32], qh[l] bits 2-3
//   quarter 2: high nibble of ql[l],     qh[l] bits 4-5
//   quarter 3: high nibble of ql[l + 32], qh[l] bits 6-7
#pragma once
#include <stdint.h>

#include "activation_q8.hpp"
#include "fp16.hpp"
#include "ggml_types.hpp"

namespace tinyllm {

struct TypeQ6_K {
    static constexpr GgmlType id = GgmlType::Q6_K;
    static constexpr bool quantized = true;
    static constexpr int block_elems = 256;
    struct Block {
        uint8_t ql[128];
        uint8_t qh[64];
        int8_t scales[16];
        uint16_t d;
    };

    // The 256 signed 6-bit values (-32..31) in element order.
    static void unpack(const Block& b, int8_t* q) {
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b.ql + 64 * half;
            const uint8_t* qh = b.qh + 32 * half;
            int8_t* out = q + 128 * half;
            for (int l = 0; l < 32; ++l) {
                out[l] = int8_t(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
                out[l + 32] = int8_t(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
                out[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                out[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }

    static void dequantize(const Block* b, float* out) {
        int8_t q[256];
        unpack(*b, q);
        const float d = fp16_to_f32(b->d);
        for (int i = 0; i < 256; ++i) out[i] = d * float(b->scales[i / 16]) * float(q[i]);
    }

    static float dot(const Block* w, const BlockQ8* a, int n_blocks) {
        float sum = 0.0f;
        int8_t q[256];
        for (int b = 0; b < n_blocks; ++b, a += 8) {
            unpack(w[b], q);
            float block_sum = 0.0f;
            for (int sub = 0; sub < 8; ++sub) {  // one activation block = two scale groups
                int s0 = 0, s1 = 0;
                for (int i = 0; i < 16; ++i) {
                    s0 += int(q[32 * sub + i]) * int(a[sub].qs[i]);
                    s1 += int(q[32 * sub + 16 + i]) * int(a[sub].qs[16 + i]);
                }
                block_sum += a[sub].d * float(s0 * w[b].scales[2 * sub] + s1 * w[b].scales[2 * sub + 1]);
            }
            sum += fp16_to_f32(w[b].d) * block_sum;
        }
        return sum;
    }
};
static_assert(sizeof(TypeQ6_K::Block) == 210, "Q6_K block layout");

} // namespace tinyllm
