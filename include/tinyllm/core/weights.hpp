// A view of one weight matrix inside the mapped model, and the generic operations over it
// that dispatch on its type: dequantizing a row (embedding lookup) and y = W x.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/dot_dispatch.hpp"
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/core/parallel.hpp"
#include "tinyllm/kernels/weight_types.hpp"

namespace tinyllm {

struct WeightView {
    GgmlType type = GgmlType::F32;
    const uint8_t* data = nullptr;
    int64_t cols = 0;  // elements per row (the dot-product length)
    int64_t rows = 0;
    uint64_t row_bytes = 0;
    int64_t group = 0;  // groupwise types (TINYLLM_INT4/INT8): values per group
    bool interleaved = false;  // rows stored in interleaved units (interleaved.hpp); row() is then meaningless
    // Products against the float activations as given, never converted to the type's own
    // activation format: F16 and BF16 rows holding exact copies of f32 weights then give the f32
    // product's bits (dot_f16_f32), and groupwise rows the float reference's sums
    // (groupwise_dot_f32), which programs that re-quantize their activations depend on.
    bool float_act = false;
    // Groupwise rows whose scales and zero points are stored apart from the codes (a .pte
    // program's separate tensors); null: the layout below.
    const GroupwiseMatrix* separate = nullptr;

    bool empty() const { return data == nullptr; }
    const uint8_t* row(int64_t r) const { return data + uint64_t(r) * row_bytes; }

    // Groupwise rows: codes, then one fp16 scale per group.
    GroupwiseLayout groupwise() const {
        return separate ? separate->layout : GroupwiseLayout{groupwise_bits(type), cols, group, GroupScale::f16};
    }
    GroupwiseRow groupwise_row(int64_t r) const {
        return separate ? separate->row(r) : GroupwiseRow{row(r), row(r) + groupwise().code_bytes(), nullptr};
    }
};

inline void dequantize_row(const WeightView& w, int64_t r, float* out) {
    if (built_groupwise_bits(w.type)) return groupwise_dequantize_row(w.groupwise(), w.groupwise_row(r), out);
    visit_weight_type(w.type, [&](auto type) {
        using T = decltype(type);
        const auto* blocks = reinterpret_cast<const typename T::Block*>(w.row(r));
        for (int64_t b = 0; b < w.cols / T::block_elems; ++b) T::dequantize(&blocks[b], out + b * T::block_elems);
    });
}

// Input rows for a matrix product. Each weight type reads them in its own activation format
// (float, fp16, bf16 or int8 blocks); a converted form is made once and shared by every
// matrix that reads the same input (e.g. the q, k and v projections).
struct MatmulInput {
    const float* x = nullptr;  // [n_tokens][cols]
    int n_tokens = 0;
    int cols = 0;
    BlockQ8* q8 = nullptr;     // scratch: n_tokens * cols / 32 blocks
    uint16_t* half = nullptr;  // scratch: n_tokens * cols 16-bit values
    ActFormat q8_format = ActFormat::f32;    // what `q8` holds now (f32: nothing)
    ActFormat half_format = ActFormat::f32;  // what `half` holds now

    const BlockQ8* as_q8(ActFormat format) {
        if (q8_format != format) {
            const int blocks_per_row = cols / BlockQ8::elems;
            const QuantizeRowQ8 quantize = format == ActFormat::q8_k ? best_quantize_row_q8k() : best_quantize_row_q8();
            parallel_for(n_tokens, [&](int64_t t) { quantize(x + t * cols, q8 + t * blocks_per_row, cols); });
            q8_format = format;
        }
        return q8;
    }
    const uint16_t* as_half(ActFormat format) {
        if (half_format != format) {
            const int64_t n = int64_t(n_tokens) * cols;
            if (format == ActFormat::f16) best_f32_to_fp16_row()(x, half, n);
            else
                for (int64_t i = 0; i < n; ++i) half[i] = f32_to_bf16(x[i]);
            half_format = format;
        }
        return half;
    }
};

// y[t][r] = dot(W row r, x[t]) for every token t; y has row stride y_stride.
// Work splits by output row, so every value is computed by one thread in one fixed order:
// results do not depend on the thread count.
inline void matmul_groupwise(const WeightView& w, MatmulInput& in, float* y, int64_t y_stride) {
    const GroupwiseLayout layout = w.groupwise();
    if (!w.float_act && groupwise_takes_q8(layout)) {
        const BlockQ8* act = in.as_q8(ActFormat::q8_0);
        const int64_t act_stride = w.cols / BlockQ8::elems;
        const GroupwiseDotQ8 dot = best_groupwise_dot_q8();
        parallel_for(w.rows, [&](int64_t r) {
            for (int t = 0; t < in.n_tokens; ++t) y[t * y_stride + r] = dot(layout, w.groupwise_row(r), act + t * act_stride);
        });
        return;
    }
    // Rows with a tail group (or groups that are not whole 32-value blocks): float activations.
    const GroupwiseDotF32 dot = best_groupwise_dot_f32();
    parallel_for(w.rows, [&](int64_t r) {
        for (int t = 0; t < in.n_tokens; ++t) y[t * y_stride + r] = dot(layout, w.groupwise_row(r), in.x + int64_t(t) * w.cols);
    });
}

// One product of a group that reads the same input: y = W x, y with row stride y_stride.
struct MatmulOut {
    const WeightView* w;
    float* y;
    int64_t y_stride;
};

inline ActFormat interleaved_act_format(GgmlType type) {
    return ggml_type_info(uint32_t(type)).act;
}

inline int64_t interleaved_units(const WeightView& w) { return (w.rows + interleave_rows_per_unit - 1) / interleave_rows_per_unit; }

// Interleaved matrices that take the same activation format, as one parallel loop over all
// their units: one unit (16 rows, or a last 8) x 4 tokens at a time, then the last 1-3 tokens
// in one pass (the same values either way). Every pass over a unit beyond the first costs
// nearly a decode step's time where memory is fast, so 2 or 3 tokens (a draft check, a few
// sequences decoding together) must not take one pass each. One loop for q, k and v (or gate
// and up) instead of one each: a decoded token starts and ends ~70 fewer loops, and k and v
// (16 units each in TinyLlama) no longer make a loop of their own too short to split well
// between threads.
inline void matmul_interleaved(const MatmulOut* outs, int n_outs, MatmulInput& in) {
    const BlockQ8* act = in.as_q8(interleaved_act_format(outs[0].w->type));
    // By token count: a pass takes up to 4 tokens.
    const InterleavedUnitFn by_tokens[5] = {nullptr, best_interleaved_unit<1>(), best_interleaved_unit<2>(), best_interleaved_unit<3>(),
                                            best_interleaved_unit<4>()};
    int64_t units = 0;
    for (int i = 0; i < n_outs; ++i) units += interleaved_units(*outs[i].w);
    parallel_for(units, [&](int64_t u) {
        int i = 0;
        for (; u >= interleaved_units(*outs[i].w); ++i) u -= interleaved_units(*outs[i].w);
        const WeightView& w = *outs[i].w;
        const int64_t act_stride = w.cols / BlockQ8::elems, y_stride = outs[i].y_stride;
        const int64_t first_row = u * interleave_rows_per_unit;
        const int unit_rows = interleave_unit_rows(w.rows, first_row);
        const uint8_t* unit = w.data + first_row * int64_t(w.row_bytes);
        float* out = outs[i].y + first_row;
        for (int t = 0; t < in.n_tokens; t += 4) {
            const int tokens = in.n_tokens - t < 4 ? in.n_tokens - t : 4;
            const BlockQ8* acts[4] = {};
            for (int k = 0; k < tokens; ++k) acts[k] = act + (t + k) * act_stride;
            by_tokens[tokens](w.type, unit, unit_rows, w.cols, w.group, acts, out + t * y_stride, y_stride);
        }
    });
}

// F16 or BF16 rows against float activations (WeightView::float_act).
inline void matmul_half_f32(const WeightView& w, const MatmulInput& in, float* y, int64_t y_stride) {
    const DotHalfF32 dot = w.type == GgmlType::BF16 ? best_dot_bf16_f32() : best_dot_f16_f32();
    parallel_for(w.rows, [&](int64_t r) {
        const auto* row = reinterpret_cast<const uint16_t*>(w.row(r));
        for (int t = 0; t < in.n_tokens; ++t) y[t * y_stride + r] = dot(row, in.x + int64_t(t) * w.cols, int(w.cols));
    });
}

inline void matmul(const WeightView& w, MatmulInput& in, float* y, int64_t y_stride) {
    if (w.interleaved) {
        const MatmulOut out{&w, y, y_stride};
        return matmul_interleaved(&out, 1, in);
    }
    if (built_groupwise_bits(w.type)) return matmul_groupwise(w, in, y, y_stride);
    if (w.float_act && (is_built_type(w.type, GgmlType::F16) || is_built_type(w.type, GgmlType::BF16))) return matmul_half_f32(w, in, y, y_stride);
    visit_weight_type(w.type, [&](auto type) {
        using T = decltype(type);
        const auto dot = best_dot<T>();
        const int64_t n_blocks = w.cols / T::block_elems;
        const auto* act = [&] {
            if constexpr (T::quantized) return in.as_q8(T::act);
            else if constexpr (T::act == ActFormat::f32) return in.x;
            else return in.as_half(T::act);
        }();
        const int64_t act_stride = T::quantized ? w.cols / BlockQ8::elems : w.cols;
        auto block_row = [&](int64_t r) { return reinterpret_cast<const typename T::Block*>(w.row(r)); };
        // Prompts: 4 tokens x 2 or 4 rows at a time where a tile kernel exists (same results). A
        // loop iteration takes 16 rows, each group of 4 tokens going through all of them while its
        // activations are in the L1 cache. Meanwhile it asks for the next 16 rows, a share per
        // group of tokens, into the L2 cache: a tile waiting on memory for its first rows would
        // otherwise stall the arithmetic (12% of a demo-sized F32 product).
        const auto tile = best_tile<T>();
        const auto tile4 = best_tile4<T>();
        if ((tile || tile4) && in.n_tokens >= 4) {
            constexpr int64_t rows_per_iteration = 16;
            const int rows_per_tile = tile4 ? 4 : 2;
            const int64_t tiled_rows = w.rows / rows_per_tile * rows_per_tile;
            const int token_quads = in.n_tokens / 4;
            parallel_for((tiled_rows + rows_per_iteration - 1) / rows_per_iteration, [&](int64_t g) {
                const int64_t first = g * rows_per_iteration;
                const int64_t end = first + rows_per_iteration < tiled_rows ? first + rows_per_iteration : tiled_rows;
                const int64_t next_end = end + rows_per_iteration < w.rows ? end + rows_per_iteration : w.rows;
                // The cache lines of rows [end, next_end), from the line holding the first byte.
                const uintptr_t next_first = reinterpret_cast<uintptr_t>(w.row(end)) & ~uintptr_t(63);
                const uint64_t next_lines = next_end > end ? (reinterpret_cast<uintptr_t>(w.row(next_end)) - next_first + 63) / 64 : 0;
                const uint64_t share = next_lines / uint64_t(token_quads) + 1;
                for (int q = 0; q < token_quads; ++q) {
                    for (uint64_t l = uint64_t(q) * share; l < next_lines && l < uint64_t(q + 1) * share; ++l)
                        __builtin_prefetch(reinterpret_cast<const void*>(next_first + 64 * l), 0, 2);
                    ActPtr<T> acts[4];
                    for (int k = 0; k < 4; ++k) acts[k] = act + (4 * q + k) * act_stride;
                    for (int64_t r = first; r < end; r += rows_per_tile) {
                        if (tile4) {
                            const typename T::Block* const rows[4] = {block_row(r), block_row(r + 1), block_row(r + 2), block_row(r + 3)};
                            float* const ys[4] = {y + (4 * q) * y_stride + r, y + (4 * q + 1) * y_stride + r, y + (4 * q + 2) * y_stride + r,
                                                  y + (4 * q + 3) * y_stride + r};
                            tile4(rows, acts, int(n_blocks), ys);
                        } else {
                            float out[8];
                            tile(block_row(r), block_row(r + 1), acts, int(n_blocks), out);
                            for (int k = 0; k < 4; ++k) {
                                y[(4 * q + k) * y_stride + r] = out[k];
                                y[(4 * q + k) * y_stride + r + 1] = out[4 + k];
                            }
                        }
                    }
                }
                for (int t = 4 * token_quads; t < in.n_tokens; ++t)
                    for (int64_t rr = first; rr < end; ++rr) y[t * y_stride + rr] = dot(block_row(rr), act + t * act_stride, int(n_blocks));
            });
            for (int64_t r = tiled_rows; r < w.rows; ++r)
                for (int t = 0; t < in.n_tokens; ++t) y[t * y_stride + r] = dot(block_row(r), act + t * act_stride, int(n_blocks));
            return;
        }
        parallel_for(w.rows, [&](int64_t r) {
            for (int t = 0; t < in.n_tokens; ++t) y[t * y_stride + r] = dot(block_row(r), act + t * act_stride, int(n_blocks));
        });
    });
}

// Products that read the same input (q, k and v; gate and up), each with its own output.
// Interleaved matrices with one activation format share a single parallel loop; any other
// mix runs one product after another. The values are the same either way.
template <int N>
inline void matmul_group(const MatmulOut (&outs)[N], MatmulInput& in) {
    bool shared_loop = true;
    for (const MatmulOut& o : outs)
        shared_loop = shared_loop && o.w->interleaved && interleaved_act_format(o.w->type) == interleaved_act_format(outs[0].w->type);
    if (shared_loop) return matmul_interleaved(outs, N, in);
    for (const MatmulOut& o : outs) matmul(*o.w, in, o.y, o.y_stride);
}

} // namespace tinyllm
