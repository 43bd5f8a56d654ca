// HVX (128-byte vectors, v66 instructions only) dot products of Q8_0 / Q4_0 weights with int8
// activation blocks. v66/v67 HVX has no floating point: products are summed in integer
// vector lanes (vrmpy: 4 int8 x int8 products per 32-bit lane) and each 32-element block's
// integer sum is scaled in scalar float, in the same order as the generic kernel, so results
// are bit-identical to it.
#pragma once
#if defined(__HVX__)
#include <hexagon_types.h>
#include <hvx_hexagon_protos.h>
#include <stdint.h>

#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

namespace tinyllm::hvx {

// Integer dots of 4 consecutive 32-byte blocks held in two 128-byte vectors.
inline void block_dots4(const int8_t* w128, const int8_t* a128, int32_t* dots) {
    HVX_Vector w = *reinterpret_cast<const HVX_Vector*>(w128);
    HVX_Vector a = *reinterpret_cast<const HVX_Vector*>(a128);
    HVX_Vector lanes = Q6_Vw_vrmpy_VbVb(w, a);  // 32 lanes, each the sum of 4 products
    alignas(128) int32_t sums[32];
    *reinterpret_cast<HVX_Vector*>(sums) = lanes;
    for (int b = 0; b < 4; ++b) {
        int32_t s = 0;
        for (int k = 0; k < 8; ++k) s += sums[8 * b + k];
        dots[b] = s;
    }
}

// Unpacks up to 4 weight blocks and their activations into aligned vectors, then scales
// each block's integer dot. Unpack(block, int8_t* out32) writes a block's 32 signed codes.
template <class Block, class Unpack>
inline float dot_blocks(const Block* w, const BlockQ8* a, int n, Unpack unpack) {
    alignas(128) int8_t wq[128], aq[128];
    int32_t dots[4];
    float sum = 0.0f;
    for (int b = 0; b < n; b += 4) {
        const int count = n - b < 4 ? n - b : 4;
        for (int k = 0; k < 4; ++k) {
            if (k < count) {
                unpack(w[b + k], wq + 32 * k);
                __builtin_memcpy(aq + 32 * k, a[b + k].qs, 32);
            } else {
                __builtin_memset(wq + 32 * k, 0, 32);
                __builtin_memset(aq + 32 * k, 0, 32);
            }
        }
        block_dots4(wq, aq, dots);
        for (int k = 0; k < count; ++k) sum += fp16_to_f32(w[b + k].d) * a[b + k].d * float(dots[k]);
    }
    return sum;
}

inline float dot_q8_0(const TypeQ8_0::Block* w, const BlockQ8* a, int n) {
    return dot_blocks(w, a, n, [](const TypeQ8_0::Block& b, int8_t* out) { __builtin_memcpy(out, b.qs, 32); });
}

inline float dot_q4_0(const TypeQ4_0::Block* w, const BlockQ8* a, int n) {
    return dot_blocks(w, a, n, [](const TypeQ4_0::Block& b, int8_t* out) {
        for (int j = 0; j < 16; ++j) {
            out[j] = int8_t((b.qs[j] & 0x0f) - 8);
            out[j + 16] = int8_t((b.qs[j] >> 4) - 8);
        }
    });
}

} // namespace tinyllm::hvx
#endif
