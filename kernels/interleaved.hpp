// Row-interleaved weight layouts: R consecutive rows of a matrix stored as one unit, so a
// matrix-vector kernel computes R outputs at once. Units hold R = 16 rows; a matrix whose row
// count is an odd multiple of 8 ends with one 8-row unit. Each 32-bit lane of a vector holds 4
// consecutive codes of one row, so a single 4-byte activation broadcast feeds all R rows (one
// vpdpbusd per 32 codes), the R rows' scales load as one vector, and no horizontal sums are
// needed. A unit has exactly the bytes of its R plain rows, so a matrix can be interleaved in
// place (see interleave_rows); only the order changes.
//
// Layouts of one R-row unit, row r = 0..R-1. A "lane group" is 4R bytes: 4 bytes of each row
// in row order (bytes 4r .. 4r+3 are row r's); a "field group" is 2R bytes: one fp16 per row.
//   int4 groupwise (fp16 scales, whole 32-value groups), Q4_0 and Q8_0 (the case G = 32):
//         groups in pairs: the two groups' field groups of scales, then the first group's
//         codes, then the second's; a last unpaired group has its one field group, then its
//         codes. A group's codes are its G / 32 blocks' lane groups of qs[4j ..]:
//           int4, Q4_0  j = 0..3 (low nibbles are values 4j.., high nibbles 16 + 4j..)  18R per block
//           Q8_0        j = 0..7, each code stored + 128 (its sign bit flipped), so that
//                       vpdpbusd takes it as an unsigned operand as it is; the offset comes
//                       off as 128 x sum(activations).                                 34R per block
//         Paired scales fill whole vectors (64 bytes for R = 16), so every code load is
//         vector-aligned where the unit is: with one scale field group before each block,
//         half of them straddled two cache lines, and the Q4_0 kernel ran ~25% slower from L2.
//         (Scales next to their codes keep one sequential stream; a separate scale array
//         costs a memory-latency stall per cache line of scales.)
//   Q4_K  per 256-value super-block: field groups of d and dmin, the 12 scale bytes as three
//         lane groups (words k = 0..2), then for each 64-value chunk c = 0..3 lane groups
//         j = 0..7 of qs[32c + 4j ..].                                                  144R bytes
//   Q6_K  per 256-value super-block: a field group of d; the 16 int8 scales as four lane groups
//         (words w = 0..3); then for each half h = 0..1 and j = 0..7, three lane groups read
//         together: of ql[64h + 4j ..], of ql[64h + 32 + 4j ..] and of qh[32h + 4j ..].  210R bytes
//   Every layout is read front to back as one stream: interleaved streams defeat the hardware
//   prefetcher (an earlier Q6_K layout with separate ql and qh regions streamed at a quarter of
//   the bandwidth, and reading two 8-row units side by side at half).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/kernels/ggml_types.hpp"

namespace tinyllm {

// Rows of a full unit; matrices need a multiple of the half of it.
constexpr int interleave_rows_per_unit = 16;

// Rows of the unit starting at `first_row` (16, or 8 for a last unit).
inline int interleave_unit_rows(int64_t rows, int64_t first_row) {
    return rows - first_row < interleave_rows_per_unit ? int(rows - first_row) : interleave_rows_per_unit;
}

// Whether a matrix of this type and shape has an interleaved layout. `group` matters only for
// the groupwise types (values per group).
inline bool interleavable(GgmlType type, int64_t cols, int64_t rows, int64_t group) {
    if (rows % (interleave_rows_per_unit / 2) != 0) return false;
    switch (type) {
        case GgmlType::Q4_0:
        case GgmlType::Q8_0: return cols % 32 == 0;
        case GgmlType::Q4_K:
        case GgmlType::Q6_K: return cols % 256 == 0;
        case GgmlType::TINYLLM_INT4: return group % 32 == 0 && cols % group == 0;
        default: return false;
    }
}

// Reading a paired-scales layout (int4, Q4_0, Q8_0) front to back, group g = 0, 1, ... in order
// with q at group g's place in the stream: returns the field group of g's scales. At an even g
// the pair's field groups (one for a last unpaired group) lie at q, and q moves past them.
inline const uint8_t* paired_scales(const uint8_t*& q, const uint8_t*& pair, int64_t g, int64_t n_groups, int64_t rows) {
    if (g % 2 == 0) {
        pair = q;
        q += 2 * rows * (g + 1 < n_groups ? 2 : 1);
    }
    return pair + 2 * rows * (g % 2);
}

namespace detail {

// Plain rows to gather from: `rows` rows, row r at src + r * row_bytes.
struct PlainRows {
    const uint8_t* src;
    uint64_t row_bytes;
    int rows;

    // The lane group of the 4 bytes at `offset` of each row, each XOR `flip`.
    uint8_t* lanes(uint64_t offset, uint8_t* dst, uint8_t flip = 0) const {
        for (int r = 0; r < rows; ++r)
            for (int k = 0; k < 4; ++k) dst[4 * r + k] = src[r * row_bytes + offset + k] ^ flip;
        return dst + 4 * rows;
    }
    // The field group of the fp16 at `offset` of each row.
    uint8_t* fields(uint64_t offset, uint8_t* dst) const {
        for (int r = 0; r < rows; ++r)
            for (int k = 0; k < 2; ++k) dst[2 * r + k] = src[r * row_bytes + offset + k];
        return dst + 2 * rows;
    }
};

} // namespace detail

// Writes the interleaved form of `unit_rows` plain rows (src, row_bytes apart) to dst, which
// receives unit_rows * row_bytes bytes front to back.
inline void interleave_unit(GgmlType type, int64_t cols, int64_t group, int unit_rows, const uint8_t* src, uint64_t row_bytes,
                            uint8_t* dst) {
    const detail::PlainRows in{src, row_bytes, unit_rows};
    switch (type) {
        case GgmlType::Q4_0:
        case GgmlType::Q8_0:
        case GgmlType::TINYLLM_INT4: {
            // Source offsets of block b's codes and group g's scale: Q4_0 and Q8_0 rows are
            // blocks of (d, qs); int4 rows hold all codes, then all scales.
            const bool q8 = type == GgmlType::Q8_0, int4 = type == GgmlType::TINYLLM_INT4;
            const int64_t block_bytes = q8 ? 34 : 18, code_lanes = q8 ? 8 : 4;
            const int64_t blocks = cols / 32, per_group = int4 ? group / 32 : 1, groups = blocks / per_group;
            auto codes_at = [&](int64_t b) { return int4 ? 16 * b : block_bytes * b + 2; };
            auto scale_at = [&](int64_t g) { return int4 ? 16 * blocks + 2 * g : block_bytes * g; };
            for (int64_t g = 0; g < groups; g += 2) {
                const int64_t end = g + 2 < groups ? g + 2 : groups;
                for (int64_t k = g; k < end; ++k) dst = in.fields(scale_at(k), dst);
                for (int64_t b = g * per_group; b < end * per_group; ++b)
                    for (int j = 0; j < code_lanes; ++j) dst = in.lanes(codes_at(b) + 4 * j, dst, q8 ? 0x80 : 0);
            }
            return;
        }
        case GgmlType::Q4_K: {
            for (int64_t b = 0; b < cols / 256; ++b) {
                const uint64_t block = uint64_t(b) * 144;
                dst = in.fields(block, dst);
                dst = in.fields(block + 2, dst);
                for (int k = 0; k < 3; ++k) dst = in.lanes(block + 4 + 4 * k, dst);
                for (int c = 0; c < 4; ++c)
                    for (int j = 0; j < 8; ++j) dst = in.lanes(block + 16 + 32 * c + 4 * j, dst);
            }
            return;
        }
        case GgmlType::Q6_K: {
            // Source block: ql[128], qh[64], scales[16], d.
            for (int64_t b = 0; b < cols / 256; ++b) {
                const uint64_t block = uint64_t(b) * 210;
                dst = in.fields(block + 208, dst);
                for (int w = 0; w < 4; ++w) dst = in.lanes(block + 192 + 4 * w, dst);
                for (int h = 0; h < 2; ++h)
                    for (int j = 0; j < 8; ++j) {
                        dst = in.lanes(block + 64 * h + 4 * j, dst);
                        dst = in.lanes(block + 64 * h + 32 + 4 * j, dst);
                        dst = in.lanes(block + 128 + 32 * h + 4 * j, dst);
                    }
            }
            return;
        }
        default: return;
    }
}

// Interleaves a whole matrix in place, one unit at a time, through `scratch`
// (interleave_rows_per_unit * row_bytes bytes). The matrix must be interleavable().
inline void interleave_rows(GgmlType type, int64_t cols, int64_t rows, int64_t group, uint8_t* data, uint64_t row_bytes,
                            uint8_t* scratch) {
    for (int64_t first = 0; first < rows; first += interleave_rows_per_unit) {
        const int unit_rows = interleave_unit_rows(rows, first);
        uint8_t* unit = data + uint64_t(first) * row_bytes;
        for (uint64_t i = 0; i < unit_rows * row_bytes; ++i) scratch[i] = unit[i];
        interleave_unit(type, cols, group, unit_rows, scratch, row_bytes, unit);
    }
}

} // namespace tinyllm
