// The K-quant super-blocks (256 weights). Each stores integer codes plus per-group scales
// (and for Q2_K/Q4_K/Q5_K per-group mins) that are themselves quantized against fp16
// super-scales d (and dmin):  w = d * scale[g] * q - dmin * min[g].
#pragma once
#include "tinyllm/kernels/block_codes.hpp"

namespace tinyllm {

// Q2_K: 16 groups of 16; 2-bit codes; scales[g] low nibble = scale, high nibble = min.
// Element 128h + 32j + 16k + l is bits 2j..2j+1 of qs[32h + 16k + l].
template <>
struct WeightType<GgmlType::Q2_K> : QuantizedType<GgmlType::Q2_K, 16> {
    struct Block {
        uint8_t scales[16];
        uint8_t qs[64];
        uint16_t d, dmin;
    };
    static void decode(const Block& b, Codes& c) {
        const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
        for (int e = 0; e < 256; ++e) {
            int h = e / 128, j = (e % 128) / 32, kl = e % 32;
            c.code[e] = int8_t((b.qs[32 * h + kl] >> (2 * j)) & 3);
        }
        for (int g = 0; g < 16; ++g) {
            c.scale[g] = d * float(b.scales[g] & 0x0f);
            c.min[g] = dmin * float(b.scales[g] >> 4);
        }
    }
};
using TypeQ2_K = WeightType<GgmlType::Q2_K>;

// Q3_K: 16 groups of 16; 3-bit codes (2 low bits as in Q2_K, the high bit in hmask; a clear
// high bit means subtract 4); 6-bit signed scales (s - 32) packed into 12 bytes.
template <>
struct WeightType<GgmlType::Q3_K> : QuantizedType<GgmlType::Q3_K, 16> {
    struct Block {
        uint8_t hmask[32];
        uint8_t qs[64];
        uint8_t scales[12];
        uint16_t d;
    };
    static void decode(const Block& b, Codes& c) {
        const float d = fp16_to_f32(b.d);
        for (int e = 0; e < 256; ++e) {
            int h = e / 128, j = (e % 128) / 32, kl = e % 32;
            int low = (b.qs[32 * h + kl] >> (2 * j)) & 3;
            bool high = b.hmask[kl] & (1 << (4 * h + j));
            c.code[e] = int8_t(low - (high ? 0 : 4));
        }
        for (int g = 0; g < 16; ++g) {
            int low = g < 8 ? b.scales[g] & 0x0f : b.scales[g - 8] >> 4;
            int high = (b.scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            c.scale[g] = d * float((low | (high << 4)) - 32);
            c.min[g] = 0.0f;
        }
    }
};
using TypeQ3_K = WeightType<GgmlType::Q3_K>;

// Q4_K / Q5_K share 8 groups of 32 with 6-bit scales and mins packed into 12 bytes:
// groups 0-3 in the low 6 bits of bytes g (scale) and g + 4 (min); groups 4-7 take their low
// 4 bits from the nibbles of byte g + 4 and their high 2 bits from the top of bytes g - 4 / g.
// Unpacked four groups at a time as 32-bit words: byte g of `scales` / `mins` is group g's.
inline void k4_scale_min_bytes(const uint8_t* s, uint64_t& scales, uint64_t& mins) {
    uint32_t u[3];
    __builtin_memcpy(u, s, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x30303030;
    scales = uint64_t(u[0] & low6) | uint64_t((u[2] & low4) | ((u[0] >> 2) & top2)) << 32;
    mins = uint64_t(u[1] & low6) | uint64_t(((u[2] >> 4) & low4) | ((u[1] >> 2) & top2)) << 32;
}

inline void k4_scale_min(const uint8_t* s, int g, int& scale, int& min) {
    uint64_t scales, mins;
    k4_scale_min_bytes(s, scales, mins);
    scale = int((scales >> (8 * g)) & 0xff);
    min = int((mins >> (8 * g)) & 0xff);
}

// The 8 groups' integer scales and mins and the fp16 super-scales of a Q4_K / Q5_K block.
template <class Block>
inline void k4_ints(const Block& b, SuperBlockInts<32>& s) {
    uint64_t scales, mins;
    k4_scale_min_bytes(b.scales, scales, mins);
    for (int g = 0; g < 8; ++g) {
        s.scale[g] = int32_t((scales >> (8 * g)) & 0xff);
        s.min[g] = int32_t((mins >> (8 * g)) & 0xff);
    }
    s.d = fp16_to_f32(b.d);
    s.dmin = fp16_to_f32(b.dmin);
}

// Q4_K: element 64c + 32k + l is the low (k = 0) or high (k = 1) nibble of qs[32c + l].
template <>
struct WeightType<GgmlType::Q4_K> : SuperBlockType<GgmlType::Q4_K, 32, true> {
    struct Block {
        uint16_t d, dmin;
        uint8_t scales[12];
        uint8_t qs[128];
    };
    static void decode_ints(const Block& b, Ints& s) {
        for (int e = 0; e < 256; ++e) {
            uint8_t byte = b.qs[32 * (e / 64) + e % 32];
            s.code[e] = int8_t((e % 64) < 32 ? byte & 0x0f : byte >> 4);
        }
        k4_ints(b, s);
    }
};
using TypeQ4_K = WeightType<GgmlType::Q4_K>;

// Q5_K: Q4_K's layout plus a fifth bit for element 32g + l in bit g of qh[l].
template <>
struct WeightType<GgmlType::Q5_K> : SuperBlockType<GgmlType::Q5_K, 32, true> {
    struct Block {
        uint16_t d, dmin;
        uint8_t scales[12];
        uint8_t qh[32];
        uint8_t qs[128];
    };
    static void decode_ints(const Block& b, Ints& s) {
        for (int e = 0; e < 256; ++e) {
            uint8_t byte = b.qs[32 * (e / 64) + e % 32];
            int low = (e % 64) < 32 ? byte & 0x0f : byte >> 4;
            int high = (b.qh[e % 32] >> (e / 32)) & 1;
            s.code[e] = int8_t(low | (high << 4));
        }
        k4_ints(b, s);
    }
};
using TypeQ5_K = WeightType<GgmlType::Q5_K>;

// Q6_K: 16 groups of 16 with int8 scales; 6-bit codes stored as q - 32. The low 4 bits are in
// ql, the high 2 in qh. Within each 128-element half (64 ql bytes, 32 qh bytes), element
// 32k + l takes the low (k = 0, 1) or high (k = 2, 3) nibble of ql[l + 32 (k % 2)] and bits
// 2k..2k+1 of qh[l].
template <>
struct WeightType<GgmlType::Q6_K> : SuperBlockType<GgmlType::Q6_K, 16, false> {
    struct Block {
        uint8_t ql[128];
        uint8_t qh[64];
        int8_t scales[16];
        uint16_t d;
    };
    static void decode_ints(const Block& b, Ints& s) {
        for (int e = 0; e < 256; ++e) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            uint8_t ql = b.ql[64 * h + l + 32 * (k % 2)];
            int low = k < 2 ? ql & 0x0f : ql >> 4;
            int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
            s.code[e] = int8_t((low | (high << 4)) - 32);
        }
        for (int g = 0; g < 16; ++g) {
            s.scale[g] = b.scales[g];
            s.min[g] = 0;
        }
        s.d = fp16_to_f32(b.d);
        s.dmin = 0.0f;
    }
};
using TypeQ6_K = WeightType<GgmlType::Q6_K>;

} // namespace tinyllm
