// Building blocks for ExecuTorch's portable operators on contiguous tensors: element access
// by scalar type, broadcasting, strided copies and reductions along a dimension.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/kernels/dot_dispatch.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/pte/value.hpp"

namespace tinyllm::pte {

// Elements as double: exact for every float type and for integers below 2^53, which covers
// the indices, positions and counts these programs compute with.
inline double load_element(const Tensor& t, int64_t i) {
    const uint8_t* p = t.data + size_t(i) * t.element_size();
    switch (t.type) {
    case ScalarType::Float: return fb::load<float>(p);
    case ScalarType::Double: return fb::load<double>(p);
    case ScalarType::Long: return double(fb::load<int64_t>(p));
    case ScalarType::Int: return fb::load<int32_t>(p);
    case ScalarType::Short: return fb::load<int16_t>(p);
    case ScalarType::Char: case ScalarType::QInt8: return int8_t(*p);
    case ScalarType::Byte: case ScalarType::QUInt8: return *p;
    case ScalarType::Bool: return *p ? 1.0 : 0.0;
    case ScalarType::Half: return fp16_to_f32(fb::load<uint16_t>(p));
    case ScalarType::BFloat16: return bf16_to_f32(fb::load<uint16_t>(p));
    default: return 0;
    }
}

inline void store_element(const Tensor& t, int64_t i, double v) {
    uint8_t* p = t.data + size_t(i) * t.element_size();
    auto put = [p](auto x) { __builtin_memcpy(p, &x, sizeof(x)); };
    switch (t.type) {
    case ScalarType::Float: put(float(v)); break;
    case ScalarType::Double: put(v); break;
    case ScalarType::Long: put(int64_t(v)); break;
    case ScalarType::Int: put(int32_t(v)); break;
    case ScalarType::Short: put(int16_t(v)); break;
    case ScalarType::Char: case ScalarType::QInt8: put(int8_t(v)); break;
    case ScalarType::Byte: case ScalarType::QUInt8: put(uint8_t(v)); break;
    case ScalarType::Bool: put(uint8_t(v != 0)); break;
    case ScalarType::Half: put(f32_to_fp16(float(v))); break;
    case ScalarType::BFloat16: put(f32_to_bf16(float(v))); break;
    default: break;
    }
}

inline bool is_floating(ScalarType t) {
    return t == ScalarType::Float || t == ScalarType::Double || t == ScalarType::Half || t == ScalarType::BFloat16;
}

// Normalises a possibly negative dimension index; false when out of range.
inline bool wrap_dim(int64_t& d, int rank) {
    int r = rank == 0 ? 1 : rank;
    if (d < 0) d += r;
    return d >= 0 && d < r;
}

// Walks an n-dimensional index space in row-major order, keeping the element offset of up
// to three operands whose strides may be 0 (broadcast) or arbitrary (views).
struct StridedWalk {
    int dim = 0;
    int64_t sizes[max_runtime_dims] = {};
    int64_t strides[3][max_runtime_dims] = {};
    int64_t counter[max_runtime_dims] = {};
    int64_t offset[3] = {};

    void next() {
        for (int d = dim - 1; d >= 0; --d) {
            for (int k = 0; k < 3; ++k) offset[k] += strides[k][d];
            if (++counter[d] < sizes[d]) return;
            for (int k = 0; k < 3; ++k) offset[k] -= strides[k][d] * sizes[d];
            counter[d] = 0;
        }
    }
};

// Strides that read `in` broadcast to `shape`; false when the shapes are incompatible.
inline bool broadcast_strides(const Tensor& in, int dim, const int64_t* shape, int64_t* strides) {
    if (in.dim > dim) return false;
    for (int d = 0; d < dim; ++d) {
        int j = d - (dim - in.dim);
        if (j < 0 || in.sizes[j] == 1) { strides[d] = 0; continue; }
        if (in.sizes[j] != shape[d]) return false;
        strides[d] = in.inner(j);
    }
    return true;
}

inline Status shape_error(const char* op, const char* what) {
    return Status::fail(Error::shape_mismatch, op, ": ", what);
}

// Broadcasts up to three inputs to `out`'s shape (which must be their broadcast shape) and
// calls fn(out_index, offsets...) for every element.
template <class Fn>
Status broadcast_each(const char* op, const Tensor& out, const Tensor* const* ins, int n, Fn&& fn) {
    StridedWalk w;
    w.dim = out.dim;
    for (int d = 0; d < out.dim; ++d) w.sizes[d] = out.sizes[d];
    for (int k = 0; k < n; ++k)
        if (!broadcast_strides(*ins[k], out.dim, out.sizes, w.strides[k])) return shape_error(op, "inputs do not broadcast to the output shape");
    // The output must not be smaller than the broadcast shape (no silent truncation).
    for (int d = 0; d < out.dim; ++d) {
        bool covered = false;
        for (int k = 0; k < n; ++k) {
            int j = d - (out.dim - ins[k]->dim);
            if (j < 0 || ins[k]->sizes[j] == out.sizes[d]) covered = true;
        }
        if (!covered && out.sizes[d] != 1) return shape_error(op, "output larger than the broadcast inputs");
    }
    for (int k = 0; k < n; ++k) {
        int64_t in_numel = ins[k]->numel();
        if (in_numel > out.numel() && out.numel() > 0) return shape_error(op, "output smaller than an input");
    }
    // The walk carries the outer dimensions; the innermost one runs as a tight loop.
    const int64_t total = out.numel();
    if (total == 0) return Status();
    const int last = out.dim - 1;
    const int64_t inner = out.dim > 0 ? out.sizes[last] : 1;
    int64_t step[3] = {};
    for (int k = 0; k < n && out.dim > 0; ++k) step[k] = w.strides[k][last];
    w.dim = out.dim > 0 ? last : 0;
    for (int64_t i = 0; i < total; i += inner, w.next()) {
        int64_t off[3] = {w.offset[0], w.offset[1], w.offset[2]};
        for (int64_t j = 0; j < inner; ++j) {
            fn(i + j, off);
            for (int k = 0; k < 3; ++k) off[k] += step[k];
        }
    }
    return Status();
}

// Copies the elements of `src` seen through (shape, strides, start) into contiguous `dst`.
inline void strided_copy(uint8_t* dst, const uint8_t* src, size_t elem, int dim_in, const int64_t* shape_in,
                         const int64_t* strides_in, int64_t start) {
    // Dimensions of size 1 are dropped, and a dimension that continues the one after it in
    // the source (stride = next stride x next size) is merged with it, so runs are as long
    // as the layout allows: an expanded KV cache copies whole heads, not 32-element rows.
    int64_t shape[max_runtime_dims], strides[max_runtime_dims];
    int dim = 0;
    for (int d = 0; d < dim_in; ++d) {
        if (shape_in[d] == 1) continue;
        shape[dim] = shape_in[d];
        strides[dim++] = strides_in[d];
    }
    for (int d = dim - 1; d > 0; --d)
        if (strides[d - 1] == strides[d] * shape[d]) {
            shape[d - 1] *= shape[d];
            strides[d - 1] = strides[d];
            for (int k = d; k + 1 < dim; ++k) {
                shape[k] = shape[k + 1];
                strides[k] = strides[k + 1];
            }
            --dim;
        }
    StridedWalk w;
    w.dim = dim;
    int64_t total = 1;
    for (int d = 0; d < dim; ++d) {
        w.sizes[d] = shape[d];
        w.strides[0][d] = strides[d];
        total *= shape[d];
    }
    // Runs along a unit-stride innermost dimension are copied whole.
    int64_t run = dim > 0 && strides[dim - 1] == 1 ? shape[dim - 1] : 1;
    if (run > 1) {
        w.dim = dim - 1;
        for (int64_t i = 0; i < total; i += run, w.next())
            __builtin_memcpy(dst + size_t(i) * elem, src + size_t(start + w.offset[0]) * elem, size_t(run) * elem);
        return;
    }
    // Swapped last two dimensions of 32-bit elements: a transpose per outer index.
    if (elem == 4 && dim >= 2 && strides[dim - 2] == 1) {
        const int64_t rows = shape[dim - 2], cols = shape[dim - 1];
        const TransposeU32 transpose = best_transpose_u32();
        w.dim = dim - 2;
        for (int64_t i = 0; i < total; i += rows * cols, w.next())
            transpose(reinterpret_cast<uint32_t*>(dst) + i, reinterpret_cast<const uint32_t*>(src) + start + w.offset[0], strides[dim - 1], rows, cols);
        return;
    }
    // Otherwise the innermost dimension is walked in a tight strided loop.
    const int64_t inner = dim > 0 ? shape[dim - 1] : 1, stride = dim > 0 ? strides[dim - 1] : 0;
    w.dim = dim > 0 ? dim - 1 : 0;
    for (int64_t i = 0; i < total; i += inner, w.next()) {
        const uint8_t* s = src + size_t(start + w.offset[0]) * elem;
        uint8_t* d = dst + size_t(i) * elem;
        if (elem == 4)
            for (int64_t k = 0; k < inner; ++k) __builtin_memcpy(d + 4 * k, s + size_t(k * stride) * 4, 4);
        else
            for (int64_t k = 0; k < inner; ++k) __builtin_memcpy(d + size_t(k) * elem, s + size_t(k * stride) * elem, elem);
    }
}

// Reduction geometry for one dimension: outer x size x inner.
struct AxisSplit {
    int64_t outer = 1, size = 1, inner = 1;
};
inline AxisSplit split_at(const Tensor& t, int d) {
    if (t.dim == 0) return {};
    return {t.outer(d), t.sizes[d], t.inner(d)};
}

// Concatenates n tensors along dimension `dim` (already normalised) into `out`; input(k)
// returns the k-th tensor, or null for one to skip.
template <class Input>
Status concatenate(const char* op, const Tensor& out, int64_t dim, int n, Input input) {
    if (dim < 0 || dim >= out.dim) return shape_error(op, "dimension out of range");
    const AxisSplit o = split_at(out, int(dim));
    const size_t elem = out.element_size();
    int64_t at = 0;
    for (int k = 0; k < n; ++k) {
        const Tensor* in = input(k);
        if (!in) continue;
        if (in->dim != out.dim || in->type != out.type) return shape_error(op, "inputs differ in rank or dtype");
        for (int d = 0; d < out.dim; ++d)
            if (d != dim && in->sizes[d] != out.sizes[d]) return shape_error(op, "inputs differ outside the cat dimension");
        if (at + in->sizes[dim] > o.size) return shape_error(op, "inputs longer than the output");
        const size_t chunk = size_t(in->sizes[dim] * o.inner) * elem;
        for (int64_t r = 0; r < o.outer; ++r)
            __builtin_memcpy(out.data + (size_t(r * o.size + at) * size_t(o.inner)) * elem, in->data + size_t(r) * chunk, chunk);
        at += in->sizes[dim];
    }
    if (at != o.size) return shape_error(op, "inputs shorter than the output");
    return Status();
}

} // namespace tinyllm::pte
