// Row-interleaved weight layouts: 8 consecutive rows of a matrix stored as one unit, so a
// matrix-vector kernel computes 8 outputs at once. Each 32-bit lane of a 256-bit register holds
// 4 consecutive codes of one row, so a single 4-byte activation broadcast feeds all 8 rows (one
// vpdpbusd or maddubs per 32 codes), the 8 rows' scales load as one vector, and no horizontal
// sums are needed. An 8-row unit has exactly the bytes of its 8 plain rows, so a matrix can be
// interleaved in place (see interleave_rows); only the order changes.
//
// Layouts of one 8-row unit, row r = 0..7 (codes are copied 4 bytes at a time, "lane r"):
//   Q4_0  per 32-value block b: fp16 d[8], then qs: bytes 32j + 4r .. +3 = row r's qs[4j .. 4j+3],
//         j = 0..3 (low nibbles are values 4j.., high nibbles values 16 + 4j..).        144 bytes
//   Q8_0  per block b: fp16 d[8], then qs: bytes 32j + 4r .. +3 = row r's qs[4j ..], j = 0..7. 272 bytes
//   int4 groupwise (fp16 scales, whole 32-value groups): per group g: fp16 scale[8], then its
//         G / 32 chunks' codes, each as Q4_0's qs above (128 bytes). Q4_0 is the case G = 32.
//         (Scales next to their codes keep one sequential stream; a separate scale array
//         costs a memory-latency stall per cache line of scales.)
//   Q4_K  per 256-value super-block: fp16 d[8], fp16 dmin[8], the 12 scale bytes as three
//         32-bit words, word k of row r at 32 + 32k + 4r, then for each 64-value chunk c = 0..3
//         the qs: bytes 128 + 256c + 32j + 4r .. +3 = row r's qs[32c + 4j ..], j = 0..7. 1152 bytes
//   Q6_K  per 256-value super-block: fp16 d[8]; the 16 int8 scales as four 32-bit words, word
//         w of row r at 16 + 32w + 4r; then for each half h = 0..1 and j = 0..7, 96 bytes read
//         together: lanes of ql[64h + 4j ..], of ql[64h + 32 + 4j ..] and of qh[32h + 4j ..], at
//         144 + 768h + 96j + 32q + 4r (q = 0, 1, 2).                                        1680 bytes
//   Every layout is read front to back: short interleaved streams would defeat the hardware
//   prefetcher (an earlier Q6_K layout with separate ql and qh regions streamed at a quarter
//   of the bandwidth).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "ggml_types.hpp"

namespace tinyllm {

constexpr int interleave_rows_per_unit = 8;

// Whether a matrix of this type and shape has an interleaved layout. `group` matters only for
// the groupwise types (values per group).
inline bool interleavable(GgmlType type, int64_t cols, int64_t rows, int64_t group) {
    if (rows % interleave_rows_per_unit != 0) return false;
    switch (type) {
        case GgmlType::Q4_0:
        case GgmlType::Q8_0: return cols % 32 == 0;
        case GgmlType::Q4_K:
        case GgmlType::Q6_K: return cols % 256 == 0;
        case GgmlType::TINYLLM_INT4: return group % 32 == 0 && cols % group == 0;
        default: return false;
    }
}

namespace detail {

// Copies 4 bytes per row from 8 rows (row r at src + r * row_bytes + offset) to dst, lane order.
inline void gather_lanes(const uint8_t* src, uint64_t row_bytes, uint64_t offset, uint8_t* dst) {
    for (int r = 0; r < interleave_rows_per_unit; ++r)
        for (int k = 0; k < 4; ++k) dst[4 * r + k] = src[r * row_bytes + offset + k];
}

// Copies `size` bytes per row (fp16 scales: 2) from 8 rows into consecutive slots of dst.
inline void gather_fields(const uint8_t* src, uint64_t row_bytes, uint64_t offset, int size, uint8_t* dst) {
    for (int r = 0; r < interleave_rows_per_unit; ++r)
        for (int k = 0; k < size; ++k) dst[size * r + k] = src[r * row_bytes + offset + k];
}

} // namespace detail

// Writes the interleaved form of 8 plain rows (src, row_bytes apart) to dst (8 * row_bytes).
inline void interleave_unit(GgmlType type, int64_t cols, int64_t group, const uint8_t* src, uint64_t row_bytes, uint8_t* dst) {
    using detail::gather_fields;
    using detail::gather_lanes;
    switch (type) {
        case GgmlType::Q4_0:
        case GgmlType::Q8_0: {
            const int code_bytes = type == GgmlType::Q4_0 ? 16 : 32, block_bytes = 2 + code_bytes;
            for (int64_t b = 0; b < cols / 32; ++b, dst += 8 * block_bytes) {
                gather_fields(src, row_bytes, b * block_bytes, 2, dst);
                for (int j = 0; j < code_bytes / 4; ++j) gather_lanes(src, row_bytes, b * block_bytes + 2 + 4 * j, dst + 16 + 32 * j);
            }
            return;
        }
        case GgmlType::TINYLLM_INT4: {
            const int64_t chunks = cols / 32, per_group = group / 32;
            for (int64_t g = 0; g < cols / group; ++g) {
                gather_fields(src, row_bytes, 16 * chunks + 2 * g, 2, dst);
                dst += 16;
                for (int64_t b = g * per_group; b < (g + 1) * per_group; ++b, dst += 128)
                    for (int j = 0; j < 4; ++j) gather_lanes(src, row_bytes, 16 * b + 4 * j, dst + 32 * j);
            }
            return;
        }
        case GgmlType::Q4_K: {
            for (int64_t b = 0; b < cols / 256; ++b, dst += 8 * 144) {
                const uint64_t block = uint64_t(b) * 144;
                gather_fields(src, row_bytes, block, 2, dst);
                gather_fields(src, row_bytes, block + 2, 2, dst + 16);
                for (int k = 0; k < 3; ++k) gather_lanes(src, row_bytes, block + 4 + 4 * k, dst + 32 + 32 * k);
                for (int c = 0; c < 4; ++c)
                    for (int j = 0; j < 8; ++j) gather_lanes(src, row_bytes, block + 16 + 32 * c + 4 * j, dst + 128 + 256 * c + 32 * j);
            }
            return;
        }
        case GgmlType::Q6_K: {
            // Source block: ql[128], qh[64], scales[16], d.
            for (int64_t b = 0; b < cols / 256; ++b, dst += 8 * 210) {
                const uint64_t block = uint64_t(b) * 210;
                gather_fields(src, row_bytes, block + 208, 2, dst);
                for (int w = 0; w < 4; ++w) gather_lanes(src, row_bytes, block + 192 + 4 * w, dst + 16 + 32 * w);
                for (int h = 0; h < 2; ++h)
                    for (int j = 0; j < 8; ++j) {
                        uint8_t* lanes = dst + 144 + 768 * h + 96 * j;
                        gather_lanes(src, row_bytes, block + 64 * h + 4 * j, lanes);
                        gather_lanes(src, row_bytes, block + 64 * h + 32 + 4 * j, lanes + 32);
                        gather_lanes(src, row_bytes, block + 128 + 32 * h + 4 * j, lanes + 64);
                    }
            }
            return;
        }
        default: return;
    }
}

// Interleaves a whole matrix in place, one 8-row unit at a time, through `scratch`
// (8 * row_bytes bytes). The matrix must be interleavable().
inline void interleave_rows(GgmlType type, int64_t cols, int64_t rows, int64_t group, uint8_t* data, uint64_t row_bytes,
                            uint8_t* scratch) {
    const uint64_t unit_bytes = interleave_rows_per_unit * row_bytes;
    for (int64_t u = 0; u < rows / interleave_rows_per_unit; ++u) {
        uint8_t* unit = data + uint64_t(u) * unit_bytes;
        for (uint64_t i = 0; i < unit_bytes; ++i) scratch[i] = unit[i];
        interleave_unit(type, cols, group, scratch, row_bytes, unit);
    }
}

} // namespace tinyllm
