// Unquantized weight types: F32, F16, BF16. Each takes its dot product against activations
// rounded to its own storage format (as llama.cpp does), so results match llama.cpp closely
// and activations cost half the bandwidth for the 16-bit types.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/kernels/ggml_types.hpp"

namespace tinyllm {

template <>
struct WeightType<GgmlType::F32> : WeightTypeRow<GgmlType::F32> {
    static constexpr bool quantized = false;
    struct Block { float v; };
    static void dequantize(const Block* b, float* out) { *out = b->v; }
    static float dot(const Block* w, const float* x, int n);
};
using TypeF32 = WeightType<GgmlType::F32>;

// Float activations against weights kept in any float format: each weight widens exactly, so
// a row stored as f16 or bf16 whose values are exact copies of f32 ones gives the f32 row's
// bits (see narrow_exactly in fp16.hpp).
template <class W, float (*Widen)(W)>
inline float dot_widened(const W* w, const float* x, int n) {
    float acc[8] = {};
    int i = 0;
    for (; i + 8 <= n; i += 8)
#pragma GCC unroll 8  // the accumulators then live in registers (GCC -O2 otherwise keeps them on the stack)
        for (int k = 0; k < 8; ++k) acc[k] += Widen(w[i + k]) * x[i + k];
    for (; i < n; ++i) acc[0] += Widen(w[i]) * x[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}
inline float as_float(float f) { return f; }
inline float TypeF32::dot(const Block* w, const float* x, int n) { return dot_widened<float, as_float>(&w->v, x, n); }
inline float dot_f16_f32(const uint16_t* w, const float* x, int n) { return dot_widened<uint16_t, fp16_to_f32>(w, x, n); }
inline float dot_bf16_f32(const uint16_t* w, const float* x, int n) { return dot_widened<uint16_t, bf16_to_f32>(w, x, n); }

// F16 and BF16 differ only in how a 16-bit value widens to float.
template <GgmlType Id, float (*Widen)(uint16_t)>
struct TypeHalf : WeightTypeRow<Id> {
    static constexpr bool quantized = false;
    struct Block { uint16_t v; };
    static void dequantize(const Block* b, float* out) { *out = Widen(b->v); }
    // x: activations in the same 16-bit format.
    static float dot(const Block* w, const uint16_t* x, int n) {
        float acc[8] = {};
        int i = 0;
        for (; i + 8 <= n; i += 8)
#pragma GCC unroll 8
            for (int k = 0; k < 8; ++k) acc[k] += Widen(w[i + k].v) * Widen(x[i + k]);
        for (; i < n; ++i) acc[0] += Widen(w[i].v) * Widen(x[i]);
        return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    }
};

template <>
struct WeightType<GgmlType::F16> : TypeHalf<GgmlType::F16, fp16_to_f32> {};
using TypeF16 = WeightType<GgmlType::F16>;

// Attention over the fp16 KV cache, whose rows lie `stride` values apart. A head's keys or
// values go to one call (not one call per row): at short contexts the per-row call cost was
// most of a decoded token's attention time.
// scores[j] = dot(row j, q) over n values, for j < n_rows.
inline void dot_rows_f16(const uint16_t* rows, int64_t stride, int n_rows, const uint16_t* q, int n, float* scores) {
    for (int j = 0; j < n_rows; ++j) scores[j] = TypeF16::dot(reinterpret_cast<const TypeF16::Block*>(rows + j * stride), q, n);
}
// out[i] += p[j] * row j [i], rows added in order j = 0, 1, ...
inline void weighted_sum_f16(const float* p, const uint16_t* rows, int64_t stride, int n_rows, float* out, int n) {
    for (int j = 0; j < n_rows; ++j)
        for (int i = 0; i < n; ++i) out[i] += p[j] * fp16_to_f32(rows[j * stride + i]);
}
template <>
struct WeightType<GgmlType::BF16> : TypeHalf<GgmlType::BF16, bf16_to_f32> {};
using TypeBF16 = WeightType<GgmlType::BF16>;

// out[j] = sum over p of a[p] * w[p * n + j] for a row-major w [k, n] (one row of a small
// matrix product, w streamed row by row). Each sum runs from p = 0 up, a multiply then an add:
// the order every SIMD version keeps, so they all give these bits.
inline void vecmat_f32(const float* a, const float* w, float* out, int k, int n) {
    for (int j = 0; j < n; ++j) out[j] = 0.0f;
    for (int p = 0; p < k; ++p)
        for (int j = 0; j < n; ++j) out[j] += a[p] * w[int64_t(p) * n + j];
}

} // namespace tinyllm
