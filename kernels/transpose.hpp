// Transposes a matrix of 32-bit elements (bits are moved, not interpreted): the strided half
// of permute copies such as an attention program's K -> K^T.
#pragma once
#include <stdint.h>

namespace tinyllm {

// dst [rows, cols] (contiguous) from src [cols, rows] whose rows lie src_stride elements
// apart: dst[r * cols + c] = src[c * src_stride + r].
inline void transpose_u32(uint32_t* dst, const uint32_t* src, int64_t src_stride, int64_t rows, int64_t cols) {
    // 8 x 8 tiles keep the 8 source rows being read within a few cache lines.
    for (int64_t r0 = 0; r0 < rows; r0 += 8)
        for (int64_t c0 = 0; c0 < cols; c0 += 8)
            for (int64_t r = r0; r < rows && r < r0 + 8; ++r)
                for (int64_t c = c0; c < cols && c < c0 + 8; ++c) dst[r * cols + c] = src[c * src_stride + r];
}

using TransposeU32 = void (*)(uint32_t*, const uint32_t*, int64_t, int64_t, int64_t);

} // namespace tinyllm
