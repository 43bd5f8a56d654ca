// Quantization operators of ExecuTorch LLM exports: torchao's affine quantization
// (choose_qparams / quantize / dequantize, used by 8da4w and 4-bit weight programs),
// quantized_decomposed::embedding_byte (int8 embedding tables) and aten::_to_copy.
//
// Affine quantization works on blocks: `block_size` has one entry per input dimension, and the
// scale / zero-point tensors hold one value per block in row-major block order (their own
// shape may drop leading 1s). q = clamp(round_half_even(x * (1 / scale)) + zero_point) and
// x' = (q - zero_point) * scale, in float32 as torchao computes them.
#pragma once
#include <stdint.h>

#include "tinyllm/pte/ops.hpp"

namespace tinyllm::pte::ops {

inline float round_half_even(float v) {
    // |v| >= 2^23 is already an integer (and would overflow the cast below for huge values).
    if (!(v < 8388608.0f && v > -8388608.0f)) return v;
    float r = float(int64_t(v >= 0 ? v + 0.5f : v - 0.5f));
    if (r - v == 0.5f || v - r == 0.5f) {  // a tie: pick the even neighbour
        if (int64_t(r) % 2 != 0) r += v > r ? 1.0f : -1.0f;
    }
    return r;
}

// Block geometry of an affine (de)quantization: which scale entry element i uses.
struct Blocks {
    int dim = 0;
    int64_t sizes[max_runtime_dims] = {};
    int64_t block[max_runtime_dims] = {};
    int64_t count[max_runtime_dims] = {};  // blocks along each dim
    int64_t total = 1;

    int64_t of(int64_t i) const {
        int64_t index = 0, rest = i;
        int64_t coords[max_runtime_dims];
        for (int d = dim - 1; d >= 0; --d) {
            coords[d] = rest % sizes[d];
            rest /= sizes[d];
        }
        for (int d = 0; d < dim; ++d) index = index * count[d] + coords[d] / block[d];
        return index;
    }
};

inline Status blocks_of(const char* op, const OpCall& c, uint32_t block_arg, const Tensor& in, const Tensor& scale, Blocks& b) {
    if (c.list_size(block_arg) != uint32_t(in.dim)) return shape_error(op, "block_size rank differs from the input's");
    b.dim = in.dim;
    for (int d = 0; d < in.dim; ++d) {
        b.sizes[d] = in.sizes[d];
        b.block[d] = c.list_int(block_arg, uint32_t(d));
        if (b.block[d] <= 0) return shape_error(op, "block size must be positive");
        b.count[d] = (in.sizes[d] + b.block[d] - 1) / b.block[d];  // a shorter tail block
        b.total *= b.count[d];
    }
    if (scale.numel() != b.total) return shape_error(op, "scale has one entry per block");
    return Status();
}

inline Status affine_range(const char* op, const OpCall& c, uint32_t at, int64_t& qmin, int64_t& qmax) {
    qmin = c.i(at);
    qmax = c.i(at + 1);
    if (qmin > qmax) return Status::fail(Error::invalid_argument, op, ": quant_min above quant_max");
    return Status();
}

// choose_qparams_affine(input, mapping_type, block_size, target_dtype, quant_min, quant_max,
//                       eps, scale_dtype, zero_point_dtype, preserve_zero?) -> (scale, zero_point)
inline Status choose_qparams_affine(const OpCall& c) {
    const char* op = "torchao::choose_qparams_affine";
    const Tensor &in = c.t(0), &scale = c.t(10), &zero = c.t(11);
    if (Status s = writable(op, scale); !s) return s;
    if (Status s = writable(op, zero); !s) return s;
    if (c.arg(1).s != StrView("ASYMMETRIC"))
        return Status::fail(Error::unsupported_op, op, ": mapping type '", c.arg(1).s, "' (ASYMMETRIC only)");
    int64_t qmin, qmax;
    if (Status s = affine_range(op, c, 4, qmin, qmax); !s) return s;
    Blocks b;
    if (Status s = blocks_of(op, c, 2, in, scale, b); !s) return s;
    if (zero.numel() != b.total) return shape_error(op, "zero point has one entry per block");
    const float eps = c.arg(6).is_none() ? 1.1920929e-07f : float(c.s(6));
    // Per block: the range always includes 0 so that 0 is exactly representable.
    for (int64_t k = 0; k < b.total; ++k) {
        store_element(scale, k, 0);
        store_element(zero, k, 0);
    }
    // One pass over the input per block: activations have a handful of blocks (one per token).
    for (int64_t blk = 0; blk < b.total; ++blk) {
        float lo = 0, hi = 0;
        for (int64_t i = 0; i < in.numel(); ++i) {
            if (b.of(i) != blk) continue;
            float v = float(load_element(in, i));
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        float s = (hi - lo) / float(qmax - qmin);
        s = s > eps ? s : eps;
        float zp = float(qmin) - round_half_even(lo / s);
        zp = zp < float(qmin) ? float(qmin) : zp > float(qmax) ? float(qmax) : zp;
        store_element(scale, blk, s);
        store_element(zero, blk, zp);
    }
    return Status();
}

// What quantize_affine and dequantize_affine both check: a writable output of the input's
// size, the block geometry, and a zero point (if any) with one entry per block.
inline Status affine_operands(const char* op, const OpCall& c, const Tensor& in, const Tensor& scale, const Tensor& out, Blocks& b) {
    if (Status s = writable(op, out); !s) return s;
    if (Status s = same_numel(op, in, out); !s) return s;
    if (Status s = blocks_of(op, c, 1, in, scale, b); !s) return s;
    const Value& zero = c.arg(3);
    if (zero.is_tensor() && zero.tensor.numel() != b.total) return shape_error(op, "zero point has one entry per block");
    return Status();
}

// quantize_affine(input, block_size, scale, zero_point, output_dtype, quant_min, quant_max)
inline Status quantize_affine(const OpCall& c) {
    const char* op = "torchao::quantize_affine";
    const Tensor &in = c.t(0), &scale = c.t(2), &out = c.out();
    Blocks b;
    if (Status s = affine_operands(op, c, in, scale, out, b); !s) return s;
    int64_t qmin, qmax;
    if (Status s = affine_range(op, c, 5, qmin, qmax); !s) return s;
    const Value& zero = c.arg(3);
    for (int64_t i = 0; i < in.numel(); ++i) {
        const int64_t blk = b.of(i);
        const float inv = 1.0f / float(load_element(scale, blk));
        const float zp = zero.is_tensor() ? float(load_element(zero.tensor, blk)) : 0.0f;
        float q = round_half_even(float(load_element(in, i)) * inv) + zp;
        q = q < float(qmin) ? float(qmin) : q > float(qmax) ? float(qmax) : q;
        store_element(out, i, q);
    }
    return Status();
}

// dequantize_affine(input, block_size, scale, zero_point?, input_dtype, quant_min, quant_max,
//                   output_dtype)
inline Status dequantize_affine(const OpCall& c) {
    const char* op = "torchao::dequantize_affine";
    const Tensor &in = c.t(0), &scale = c.t(2), &out = c.out();
    Blocks b;
    if (Status s = affine_operands(op, c, in, scale, out, b); !s) return s;
    const Value& zero = c.arg(3);
    // Weights are [N,K] with blocks along K: walk rows and groups instead of per-element math.
    const bool rowwise = in.dim == 2 && b.block[0] == 1;
    for (int64_t i = 0; i < in.numel(); ++i) {
        const int64_t blk = rowwise ? (i / in.sizes[1]) * b.count[1] + (i % in.sizes[1]) / b.block[1] : b.of(i);
        const float zp = zero.is_tensor() ? float(load_element(zero.tensor, blk)) : 0.0f;
        store_element(out, i, (float(load_element(in, i)) - zp) * float(load_element(scale, blk)));
    }
    return Status();
}

// embedding_byte.dtype_out(weight int8 [V,D], scales [V] or [V,G], zero_points?, quant_min,
//                          quant_max, indices, dtype)
inline Status embedding_byte(const OpCall& c) {
    const char* op = "quantized_decomposed::embedding_byte";
    const Tensor &weight = c.t(0), &scales = c.t(1), &idx = c.t(5), &out = c.out();
    if (Status s = writable(op, out); !s) return s;
    if (weight.dim != 2 || out.numel() != idx.numel() * weight.sizes[1]) return shape_error(op, "output shape");
    const int64_t rows = weight.sizes[0], cols = weight.sizes[1];
    const int64_t groups = scales.dim == 2 ? scales.sizes[1] : 1;
    if (scales.numel() != rows * groups || cols % groups != 0) return shape_error(op, "scales are not [V] or [V, groups]");
    const Value& zero = c.arg(2);
    if (zero.is_tensor() && zero.tensor.numel() != scales.numel()) return shape_error(op, "zero points differ from scales");
    const int64_t group = cols / groups;
    for (int64_t k = 0; k < idx.numel(); ++k) {
        const int64_t row = int64_t(load_element(idx, k));
        if (row < 0 || row >= rows) return Status::fail(Error::token_out_of_range, op, ": token ", row, " outside the table of ", rows);
        for (int64_t j = 0; j < cols; ++j) {
            const int64_t s = row * groups + j / group;
            const float zp = zero.is_tensor() ? float(load_element(zero.tensor, s)) : 0.0f;
            store_element(out, k * cols + j, (float(load_element(weight, row * cols + j)) - zp) * float(load_element(scales, s)));
        }
    }
    return Status();
}

// dequantize_per_channel.out(input, scales [C], zero_points? [C], axis, quant_min, quant_max,
// dtype, out_dtype?): out = (input - zero_point[c]) * scale[c], c the index along `axis`, in
// float32 as ExecuTorch's quantized kernel computes it.
inline Status dequantize_per_channel(const OpCall& c) {
    const char* op = "quantized_decomposed::dequantize_per_channel";
    const Tensor &in = c.t(0), &scales = c.t(1), &out = c.out();
    if (Status s = writable(op, out); !s) return s;
    if (Status s = same_numel(op, in, out); !s) return s;
    int64_t axis = c.i(3);
    if (!wrap_dim(axis, in.dim) || in.dim == 0) return shape_error(op, "axis out of range");
    const AxisSplit a = split_at(in, int(axis));
    if (scales.numel() != a.size) return shape_error(op, "one scale per channel");
    const Value& zero = c.arg(2);
    if (zero.is_tensor() && zero.tensor.numel() != a.size) return shape_error(op, "one zero point per channel");
    if (out.type != ScalarType::Float) return Status::fail(Error::unsupported_type, op, ": float32 output only");
    float* y = out.as<float>();
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t ch = 0; ch < a.size; ++ch) {
            const float scale = float(load_element(scales, ch));
            const int32_t zp = zero.is_tensor() ? int32_t(load_element(zero.tensor, ch)) : 0;
            const int64_t base = (o * a.size + ch) * a.inner;
            for (int64_t i = 0; i < a.inner; ++i) y[base + i] = float(int32_t(load_element(in, base + i)) - zp) * scale;
        }
    return Status();
}

inline Status to_copy(const OpCall& c) { return reshape_copy("aten::_to_copy", c); }

} // namespace tinyllm::pte::ops
