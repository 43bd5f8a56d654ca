// tinyllm's groupwise weight formats, with torchao's semantics (the ones ExecuTorch's LLM
// quantizers emit): int8 or int4 codes, one scale per group of `group` consecutive values along
// a row and an optional int8 zero point per group; value = (code - zero) * scale. The group
// size is a runtime parameter of this one kernel family; the last group of a row may be
// shorter (a tail group), so any row length works. Per-channel int8 is group = row length.
//
// Code storage:
//   int8: one signed byte per value, in order (ExecuTorch stores int4 values this way too,
//         one per byte in -8..7, and they use the int8 layout);
//   int4: 32-value chunks of 16 bytes, value j in the low nibble of byte j and value j + 16 in
//         its high nibble, stored as code + 8 (0..15); a row's last chunk is zero-padded.
// Scales are float32, fp16 or bf16. Rows, scales and zero points each have their own stride,
// so the same view reads tinyllm's GGUF rows and a .pte program's separate tensors.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/block_codes.hpp"
#include "tinyllm/kernels/fp16.hpp"

namespace tinyllm {

enum class GroupScale : uint8_t { f32, f16, bf16 };

struct GroupwiseLayout {
    int bits = 4;       // 4 or 8
    int64_t cols = 0;   // values per row
    int64_t group = 0;  // values per group (the last group of a row may be shorter)
    GroupScale scale_type = GroupScale::f16;

    int64_t groups() const { return (cols + group - 1) / group; }
    int64_t code_bytes() const { return bits == 8 ? cols : (cols + 31) / 32 * 16; }
    int64_t scale_bytes() const { return groups() * (scale_type == GroupScale::f32 ? 4 : 2); }

    int code(const uint8_t* codes, int64_t i) const {
        if (bits == 8) return int8_t(codes[i]);
        const uint8_t byte = codes[i / 32 * 16 + i % 16];
        return int((i % 32) < 16 ? byte & 0x0f : byte >> 4) - 8;
    }
    // No scales (null) means 1: programs that apply per-channel scales after the product.
    float scale(const uint8_t* scales, int64_t g) const {
        if (!scales) return 1.0f;
        if (scale_type == GroupScale::f32) {
            float s;
            __builtin_memcpy(&s, scales + 4 * g, 4);
            return s;
        }
        uint16_t h;
        __builtin_memcpy(&h, scales + 2 * g, 2);
        return scale_type == GroupScale::f16 ? fp16_to_f32(h) : bf16_to_f32(h);
    }
};

// One row: its codes, its scales and (asymmetric formats) its zero points.
struct GroupwiseRow {
    const uint8_t* codes = nullptr;
    const uint8_t* scales = nullptr;  // null: every scale is 1
    const int8_t* zeros = nullptr;  // null: symmetric (zero point 0)
};

// A matrix of such rows.
struct GroupwiseMatrix {
    GroupwiseLayout layout;
    int64_t rows = 0;
    const uint8_t* codes = nullptr;
    int64_t code_stride = 0;  // bytes between rows
    const uint8_t* scales = nullptr;
    int64_t scale_stride = 0;
    const int8_t* zeros = nullptr;
    int64_t zero_stride = 0;

    GroupwiseRow row(int64_t r) const {
        return {codes + r * code_stride, scales ? scales + r * scale_stride : nullptr, zeros ? zeros + r * zero_stride : nullptr};
    }
};

inline void groupwise_dequantize_row(const GroupwiseLayout& l, const GroupwiseRow& row, float* out) {
    for (int64_t i = 0; i < l.cols; ++i) {
        const int64_t g = i / l.group;
        const float zero = row.zeros ? float(row.zeros[g]) : 0.0f;
        out[i] = (float(l.code(row.codes, i)) - zero) * l.scale(row.scales, g);
    }
}

// Against float activations: per group, sum (code - zero) * x, then scale the sum. This is the
// reference for every row length and group size. It accumulates in double: programs that
// re-quantize activations after the product (8da4w) amplify float summation-order noise into
// int8 rounding flips, and a near-exact sum keeps them on PyTorch's side of each rounding.
inline float groupwise_dot_f32(const GroupwiseLayout& l, const GroupwiseRow& row, const float* x) {
    double total = 0.0;
    for (int64_t g = 0, begin = 0; begin < l.cols; ++g, begin += l.group) {
        const int64_t end = begin + l.group < l.cols ? begin + l.group : l.cols;
        const double zero = row.zeros ? double(row.zeros[g]) : 0.0;
        double acc = 0.0;
        for (int64_t i = begin; i < end; ++i) acc += (double(l.code(row.codes, i)) - zero) * double(x[i]);
        total += acc * double(l.scale(row.scales, g));
    }
    return float(total);
}

// Whether the int8-activation kernels apply: whole 32-value blocks in every group.
inline bool groupwise_takes_q8(const GroupwiseLayout& l) { return l.cols % 32 == 0 && l.group % 32 == 0; }

// Against int8 activation blocks (quantize_row_q8): per 32-value block the integer dot is
// exact; sum((q - zero) * d * a) = d * dot(q, a) - zero * (d * sum(a)).
inline float groupwise_dot_q8(const GroupwiseLayout& l, const GroupwiseRow& row, const BlockQ8* a) {
    float total = 0.0f;
    const int64_t blocks_per_group = l.group / 32, groups = l.groups(), n_blocks = l.cols / 32;
    for (int64_t g = 0; g < groups; ++g) {
        const float scale = l.scale(row.scales, g);
        const float zero = row.zeros ? float(row.zeros[g]) : 0.0f;
        const int64_t end = (g + 1) * blocks_per_group < n_blocks ? (g + 1) * blocks_per_group : n_blocks;  // tail group
        for (int64_t b = g * blocks_per_group; b < end; ++b) {
            int8_t codes[32];  // decoded once: code() per value made this loop ~3x slower on a Cortex-M7
            if (l.bits == 4) split_nibbles_32(row.codes + b * 16, codes, -8);
            else __builtin_memcpy(codes, row.codes + b * 32, 32);
            int32_t dot = 0;
            for (int i = 0; i < 32; ++i) dot += codes[i] * a[b].qs[i];
            total += scale * (a[b].d * float(dot) - zero * a[b].sum);
        }
    }
    return total;
}

// Symmetric quantization of one row as torchao does it: scale = max|x| / ((qmax - qmin) / 2)
// (7.5 for int4, 127.5 for int8, at least float32 epsilon), code = clamp(round_half_even(
// x * (1 / scale)), qmin, qmax). Writes codes (code_bytes()) and fp16/bf16/f32 scales.
inline void groupwise_quantize_row(const GroupwiseLayout& l, const float* x, uint8_t* codes, uint8_t* scales) {
    const int qmin = l.bits == 8 ? -128 : -8, qmax = l.bits == 8 ? 127 : 7;
    for (int64_t i = 0; i < l.code_bytes(); ++i) codes[i] = l.bits == 8 ? 0 : 0x88;  // padding decodes to 0
    for (int64_t g = 0, begin = 0; begin < l.cols; ++g, begin += l.group) {
        const int64_t end = begin + l.group < l.cols ? begin + l.group : l.cols;
        float amax = 0.0f;
        for (int64_t i = begin; i < end; ++i) amax = (x[i] < 0 ? -x[i] : x[i]) > amax ? (x[i] < 0 ? -x[i] : x[i]) : amax;
        float scale = amax / (float(qmax - qmin) / 2.0f);
        scale = scale > 1.1920929e-07f ? scale : 1.1920929e-07f;
        // Codes are computed with the scale as stored, so dequantization inverts them.
        if (l.scale_type == GroupScale::f32) {
            __builtin_memcpy(scales + 4 * g, &scale, 4);
        } else {
            const uint16_t h = l.scale_type == GroupScale::f16 ? f32_to_fp16(scale) : f32_to_bf16(scale);
            __builtin_memcpy(scales + 2 * g, &h, 2);
            scale = l.scale(scales, g);
        }
        const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;  // an fp16 scale can underflow to 0
        for (int64_t i = begin; i < end; ++i) {
            int q = round_half_even(x[i] * inv);
            q = q < qmin ? qmin : q > qmax ? qmax : q;
            if (l.bits == 8) {
                codes[i] = uint8_t(int8_t(q));
            } else {
                uint8_t& byte = codes[i / 32 * 16 + i % 16];
                const uint8_t nibble = uint8_t(q + 8);
                byte = (i % 32) < 16 ? uint8_t((byte & 0xf0) | nibble) : uint8_t((byte & 0x0f) | (nibble << 4));
            }
        }
    }
}

} // namespace tinyllm
