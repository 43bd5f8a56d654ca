// HVX (v66 instructions, 128-byte vectors) kernel for the groupwise formats (groupwise.hpp).
// v66/v67 HVX has no floating-point vectors: codes are unpacked to int8 and 4 blocks at a time
// go through vrmpy (4 int8 products per 32-bit lane); each block's integer sum is then scaled
// in scalar float in the same order as groupwise_dot_q8, so results are bit-identical to it.
#pragma once
#if defined(__HVX__)
#include <hexagon_types.h>
#include <hvx_hexagon_protos.h>
#include <stdint.h>

#include "tinyllm/kernels/groupwise.hpp"
#include "tinyllm/kernels/hvx/dot_hvx.hpp"

namespace tinyllm::hvx {

inline float groupwise_dot_q8(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    alignas(128) int8_t wq[128], aq[128];
    int32_t dots[4];
    const int64_t per_group = l.group / 32, n_blocks = l.cols / 32;
    float total = 0.0f;
    for (int64_t b = 0; b < n_blocks; b += 4) {
        const int64_t count = n_blocks - b < 4 ? n_blocks - b : 4;
        for (int64_t k = 0; k < 4; ++k) {
            int8_t* w = wq + 32 * k;
            if (k >= count) {
                __builtin_memset(w, 0, 32);
                __builtin_memset(aq + 32 * k, 0, 32);
                continue;
            }
            if (l.bits == 4) {
                const uint8_t* packed = row.codes + (b + k) * 16;
                for (int j = 0; j < 16; ++j) {
                    w[j] = int8_t((packed[j] & 0x0f) - 8);
                    w[j + 16] = int8_t((packed[j] >> 4) - 8);
                }
            } else {
                __builtin_memcpy(w, row.codes + (b + k) * 32, 32);
            }
            __builtin_memcpy(aq + 32 * k, a[b + k].qs, 32);
        }
        block_dots4(wq, aq, dots);
        for (int64_t k = 0; k < count; ++k) {
            const int64_t g = (b + k) / per_group;
            const float zero = row.zeros ? float(row.zeros[g]) : 0.0f;
            total += l.scale(row.scales, g) * (a[b + k].d * float(dots[k]) - zero * a[b + k].sum);
        }
    }
    return total;
}

} // namespace tinyllm::hvx
#endif
