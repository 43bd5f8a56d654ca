// ExecuTorch portable operators (`aten::*.out` and friends) on contiguous tensors.
//
// Each operator has a signature string checked against every call when a method loads, so a
// kernel can read its arguments without re-checking their kinds:
//   T tensor   t tensor or None   I int   B bool   S scalar (int, double or bool)
//   L int list  l int list or None   V tensor list   O optional tensor list   ? anything
// Shapes and dtypes are checked when the kernel runs (they are static in these programs, so a
// bad one fails on the first call). An `.out` call passes its inputs, the `out` tensor, and
// then the returned value (the same tensor again), so out() is always the last argument.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <initializer_list>

#include "tinyllm/kernels/map_f32.hpp"
#include "tinyllm/kernels/math.hpp"
#include "tinyllm/pte/tensor_ops.hpp"

namespace tinyllm::pte {

struct OpCall {
    Value* values = nullptr;
    fb::Vector<int32_t> args;

    Value& arg(uint32_t k) const { return values[args[k]]; }
    Tensor& t(uint32_t k) const { return values[args[k]].tensor; }
    int64_t i(uint32_t k) const { return values[args[k]].i; }
    bool b(uint32_t k) const { return values[args[k]].b; }
    double s(uint32_t k) const { return values[args[k]].scalar(); }
    Tensor& out() const { return values[args[args.size() - 1]].tensor; }
    // Item j of the int list argument k.
    int64_t list_int(uint32_t k, uint32_t j) const { return values[arg(k).int_items[j]].i; }
    uint32_t list_size(uint32_t k) const { return arg(k).kind == ValueKind::IntList ? arg(k).int_items.size() : 0; }
};

using OpFn = Status (*)(const OpCall&);

namespace ops {

inline Status writable(const char* op, const Tensor& out) {
    if (out.constant) return Status::fail(Error::invalid_argument, op, ": output is a constant of the program");
    return Status();
}

inline Status same_numel(const char* op, const Tensor& a, const Tensor& out) {
    if (a.numel() != out.numel()) return shape_error(op, "input and output sizes differ");
    return Status();
}

// Copies a tensor's elements into `out`, converting the type if they differ.
inline void convert_copy(const Tensor& in, const Tensor& out) {
    if (in.type == out.type) {
        if (in.data != out.data) __builtin_memmove(out.data, in.data, in.nbytes());
        return;
    }
    for (int64_t k = 0; k < in.numel(); ++k) store_element(out, k, load_element(in, k));
}

// ---- elementwise ----

template <class F>
Status binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& out, F f) {
    if (Status s = writable(op, out); !s) return s;
    if (a.type == ScalarType::Float && b.type == ScalarType::Float && out.type == ScalarType::Float && a.same_shape(out) &&
        b.same_shape(out)) {
        const float* x = a.as<float>(); const float* y = b.as<float>(); float* z = out.as<float>();
        const int64_t n = out.numel();
        if (z != x && z != y) {
            // Distinct buffers (the usual case): tell the compiler, so the loop vectorizes.
            const float* __restrict xr = x; const float* __restrict yr = y; float* __restrict zr = z;
            for (int64_t k = 0; k < n; ++k) zr[k] = float(f(double(xr[k]), double(yr[k])));
        } else {
            for (int64_t k = 0; k < n; ++k) z[k] = float(f(double(x[k]), double(y[k])));
        }
        return Status();
    }
    const Tensor* ins[2] = {&a, &b};
    if (a.type == ScalarType::Float && b.type == ScalarType::Float && out.type == ScalarType::Float) {
        const float* x = a.as<float>(); const float* y = b.as<float>(); float* z = out.as<float>();
        return broadcast_each(op, out, ins, 2, [&](int64_t k, const int64_t* off) { z[k] = float(f(double(x[off[0]]), double(y[off[1]]))); });
    }
    return broadcast_each(op, out, ins, 2, [&](int64_t k, const int64_t* off) {
        store_element(out, k, f(load_element(a, off[0]), load_element(b, off[1])));
    });
}

// f takes a float (float tensors, so the loops vectorize) or a double (every other type).
template <class F>
Status unary(const char* op, const Tensor& a, const Tensor& out, F f) {
    if (Status s = writable(op, out); !s) return s;
    if (Status s = same_numel(op, a, out); !s) return s;
    const int64_t n = out.numel();
    if (a.type == ScalarType::Float && out.type == ScalarType::Float) {
        map_f32(a.as<float>(), out.as<float>(), n, [&f](float x) { return float(f(x)); });
        return Status();
    }
    // Masks: float or bool in, bool out (eq/ne against a scalar, logical_not).
    if ((a.type == ScalarType::Float || a.type == ScalarType::Bool) && out.type == ScalarType::Bool) {
        uint8_t* z = out.as<uint8_t>();
        if (a.type == ScalarType::Float) {
            const float* x = a.as<float>();
            for (int64_t k = 0; k < n; ++k) z[k] = f(x[k]) != 0;
        } else {
            const uint8_t* x = a.as<uint8_t>();
            for (int64_t k = 0; k < n; ++k) z[k] = f(x[k] ? 1.0f : 0.0f) != 0;
        }
        return Status();
    }
    for (int64_t k = 0; k < n; ++k) store_element(out, k, double(f(load_element(a, k))));
    return Status();
}

// Integer results of float-free arithmetic stay exact; float outputs get float rounding.
inline Status add(const OpCall& c) {
    double alpha = c.s(2);
    return binary("aten::add", c.t(0), c.t(1), c.out(), [alpha](double x, double y) { return x + alpha * y; });
}
inline Status sub(const OpCall& c) {
    double alpha = c.s(2);
    return binary("aten::sub", c.t(0), c.t(1), c.out(), [alpha](double x, double y) { return x - alpha * y; });
}
inline Status mul(const OpCall& c) {
    return binary("aten::mul", c.t(0), c.t(1), c.out(), [](double x, double y) { return x * y; });
}
inline Status div(const OpCall& c) {
    return binary("aten::div", c.t(0), c.t(1), c.out(), [](double x, double y) { return x / y; });
}
inline Status mul_scalar(const OpCall& c) {
    // PyTorch multiplies a float tensor by a double scalar in float.
    const float k = float(c.s(1));
    return unary("aten::mul.Scalar", c.t(0), c.out(), [k](auto x) { return float(x) * k; });
}
inline Status eq_scalar(const OpCall& c) {
    double k = c.s(1);
    return unary("aten::eq.Scalar", c.t(0), c.out(), [k](auto x) { return double(x) == k ? 1.0f : 0.0f; });
}
inline Status ne_scalar(const OpCall& c) {
    double k = c.s(1);
    return unary("aten::ne.Scalar", c.t(0), c.out(), [k](auto x) { return double(x) != k ? 1.0f : 0.0f; });
}
inline Status rsqrt(const OpCall& c) {
    return unary("aten::rsqrt", c.t(0), c.out(), [](auto x) { return 1.0f / math::sqrtf(float(x)); });
}
inline Status sigmoid(const OpCall& c) {
    return unary("aten::sigmoid", c.t(0), c.out(), [](auto x) { return 1.0f / (1.0f + math::expf(-float(x))); });
}
inline Status exp(const OpCall& c) {
    return unary("aten::exp", c.t(0), c.out(), [](auto x) { return math::expf(float(x)); });
}
inline Status neg(const OpCall& c) {
    return unary("aten::neg", c.t(0), c.out(), [](auto x) { return -x; });
}
inline Status abs(const OpCall& c) {
    return unary("aten::abs", c.t(0), c.out(), [](auto x) { return __builtin_fabs(double(x)); });
}
// Rounds to the nearest integer, ties to even (as torch.round). Adding and taking away 2^52
// lets the FPU round a double; floats are exact in a double, and values that large are integers.
inline double round_half_even(double v) {
    const double big = 4503599627370496.0;
    const double a = __builtin_fabs(v);
    if (!(a < big)) return v;
    return __builtin_copysign((a + big) - big, v);
}
inline Status round(const OpCall& c) {
    return unary("aten::round", c.t(0), c.out(), [](auto x) { return round_half_even(double(x)); });
}
inline Status logical_not(const OpCall& c) {
    return unary("aten::logical_not", c.t(0), c.out(), [](auto x) { return x == 0 ? 1.0f : 0.0f; });
}

inline Status where(const OpCall& c) {
    const Tensor &cond = c.t(0), &a = c.t(1), &b = c.t(2), &out = c.out();
    if (Status s = writable("aten::where", out); !s) return s;
    const Tensor* ins[3] = {&cond, &a, &b};
    if (cond.type == ScalarType::Bool && a.type == ScalarType::Float && b.type == ScalarType::Float && out.type == ScalarType::Float) {
        const uint8_t* m = cond.as<uint8_t>();
        const float *x = a.as<float>(), *y = b.as<float>();
        float* z = out.as<float>();
        return broadcast_each("aten::where", out, ins, 3, [&](int64_t k, const int64_t* off) { z[k] = m[off[0]] ? x[off[1]] : y[off[2]]; });
    }
    return broadcast_each("aten::where", out, ins, 3, [&](int64_t k, const int64_t* off) {
        store_element(out, k, load_element(cond, off[0]) != 0 ? load_element(a, off[1]) : load_element(b, off[2]));
    });
}

inline Status scalar_tensor(const OpCall& c) {
    const Tensor& out = c.out();
    if (Status s = writable("aten::scalar_tensor", out); !s) return s;
    if (out.numel() != 1) return shape_error("aten::scalar_tensor", "output must hold one element");
    store_element(out, 0, c.s(0));
    return Status();
}

inline Status full_like(const OpCall& c) {
    const Tensor& out = c.out();
    if (Status s = writable("aten::full_like", out); !s) return s;
    if (!c.t(0).same_shape(out)) return shape_error("aten::full_like", "output shape differs from the input");
    // One element, then the filled bytes doubled until the tensor is full.
    const size_t bytes = out.nbytes();
    if (bytes == 0) return Status();
    store_element(out, 0, c.s(1));
    for (size_t have = out.element_size(); have < bytes; have *= 2)
        __builtin_memcpy(out.data + have, out.data, have < bytes - have ? have : bytes - have);
    return Status();
}

// ---- copies and views (all materialised: outputs are separate planned tensors) ----

inline Status reshape_copy(const char* op, const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable(op, out); !s) return s;
    if (Status s = same_numel(op, in, out); !s) return s;
    convert_copy(in, out);
    return Status();
}
inline Status view_copy(const OpCall& c) { return reshape_copy("aten::view_copy", c); }
inline Status alias_copy(const OpCall& c) { return reshape_copy("aten::alias_copy", c); }
inline Status clone(const OpCall& c) { return reshape_copy("aten::clone", c); }
inline Status squeeze_copy(const OpCall& c) { return reshape_copy("aten::squeeze_copy", c); }
inline Status unsqueeze_copy(const OpCall& c) { return reshape_copy("aten::unsqueeze_copy", c); }
inline Status to_dim_order_copy(const OpCall& c) {
    // Only the default (contiguous) order exists in this runtime.
    const Value& order = c.arg(2);
    if (order.kind == ValueKind::IntList)
        for (uint32_t j = 0; j < order.int_items.size(); ++j)
            if (c.list_int(2, j) != int64_t(j))
                return Status::fail(Error::unsupported_op, "dim_order_ops::_to_dim_order_copy: non-contiguous dim order");
    return reshape_copy("dim_order_ops::_to_dim_order_copy", c);
}

inline Status copy_into(const OpCall& c) {
    // aten::copy_(self, src, non_blocking) -> self, with the returned alias as the last arg.
    const Tensor &self = c.t(0), &src = c.t(1), &out = c.out();
    if (Status s = writable("aten::copy_", self); !s) return s;
    const Tensor* ins[1] = {&src};
    if (src.same_shape(self) && src.type == self.type) {
        if (src.data != self.data) __builtin_memmove(self.data, src.data, src.nbytes());
    } else if (Status s = broadcast_each("aten::copy_", self, ins, 1,
                                         [&](int64_t k, const int64_t* off) { store_element(self, k, load_element(src, off[0])); });
               !s) {
        return s;
    }
    if (out.data != self.data) {
        if (!out.same_shape(self) || out.type != self.type) return shape_error("aten::copy_", "result differs from self");
        if (Status s = writable("aten::copy_", out); !s) return s;
        __builtin_memcpy(out.data, self.data, self.nbytes());
    }
    return Status();
}

inline Status permute_copy(const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable("aten::permute_copy", out); !s) return s;
    if (c.list_size(1) != uint32_t(in.dim) || out.dim != in.dim || out.type != in.type)
        return shape_error("aten::permute_copy", "permutation does not match the input rank");
    int64_t strides[max_runtime_dims];
    bool used[max_runtime_dims] = {};
    for (int d = 0; d < in.dim; ++d) {
        int64_t src = c.list_int(1, uint32_t(d));
        if (!wrap_dim(src, in.dim) || used[src]) return shape_error("aten::permute_copy", "not a permutation");
        used[src] = true;
        if (out.sizes[d] != in.sizes[src]) return shape_error("aten::permute_copy", "output shape is not the permuted input");
        strides[d] = in.inner(int(src));
    }
    strided_copy(out.data, in.data, in.element_size(), out.dim, out.sizes, strides, 0);
    return Status();
}

inline Status expand_copy(const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable("aten::expand_copy", out); !s) return s;
    if (out.type != in.type) return shape_error("aten::expand_copy", "dtype differs");
    int64_t strides[max_runtime_dims];
    if (!broadcast_strides(in, out.dim, out.sizes, strides)) return shape_error("aten::expand_copy", "input does not expand to the output");
    strided_copy(out.data, in.data, in.element_size(), out.dim, out.sizes, strides, 0);
    return Status();
}

inline Status slice_copy(const OpCall& c) {
    // slice_copy.Tensor_out(self, dim, start?, end?, step)
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable("aten::slice_copy", out); !s) return s;
    int64_t dim = c.i(1);
    if (!wrap_dim(dim, in.dim) || in.dim == 0) return shape_error("aten::slice_copy", "dimension out of range");
    const int64_t n = in.sizes[dim];
    int64_t start = c.arg(2).is_none() ? 0 : c.i(2), end = c.arg(3).is_none() ? n : c.i(3), step = c.i(4);
    if (step <= 0) return Status::fail(Error::invalid_argument, "aten::slice_copy: step must be positive");
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = start < 0 ? 0 : start > n ? n : start;
    end = end < start ? start : end > n ? n : end;
    int64_t count = (end - start + step - 1) / step;
    if (out.dim != in.dim || out.type != in.type || out.sizes[dim] != count)
        return shape_error("aten::slice_copy", "output shape does not match the slice");
    int64_t strides[max_runtime_dims];
    for (int d = 0; d < in.dim; ++d) {
        if (d != dim && out.sizes[d] != in.sizes[d]) return shape_error("aten::slice_copy", "output shape does not match the slice");
        strides[d] = in.inner(d) * (d == dim ? step : 1);
    }
    strided_copy(out.data, in.data, in.element_size(), out.dim, out.sizes, strides, start * in.inner(int(dim)));
    return Status();
}

inline Status select_copy(const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable("aten::select_copy", out); !s) return s;
    int64_t dim = c.i(1), index = c.i(2);
    if (!wrap_dim(dim, in.dim) || in.dim == 0) return shape_error("aten::select_copy", "dimension out of range");
    if (index < 0) index += in.sizes[dim];
    if (index < 0 || index >= in.sizes[dim]) return Status::fail(Error::invalid_argument, "aten::select_copy: index out of range");
    if (out.numel() * in.sizes[dim] != in.numel() || out.type != in.type) return shape_error("aten::select_copy", "output shape");
    AxisSplit a = split_at(in, int(dim));
    const size_t row = size_t(a.inner) * in.element_size();
    for (int64_t o = 0; o < a.outer; ++o)
        __builtin_memcpy(out.data + size_t(o) * row, in.data + (size_t(o * a.size + index)) * row, row);
    return Status();
}

inline Status cat(const OpCall& c) {
    const Value& list = c.arg(0);
    const Tensor& out = c.out();
    if (Status s = writable("aten::cat", out); !s) return s;
    int64_t dim = c.i(1);
    if (!wrap_dim(dim, out.dim) || out.dim == 0) return shape_error("aten::cat", "dimension out of range");
    return concatenate("aten::cat", out, dim, int(list.list_items.size()), [&](int k) -> const Tensor* {
        const Tensor& in = c.values[list.list_items[uint32_t(k)]].tensor;
        return in.numel() == 0 && in.dim == 1 ? nullptr : &in;  // legacy empty tensors are skipped
    });
}

// ---- indexing ----

// The single index tensor of an OptionalTensorList (leading Nones select whole dimensions).
struct IndexSpec {
    int dim = -1;
    const Tensor* index = nullptr;
};
inline Status index_spec(const char* op, const OpCall& c, uint32_t k, IndexSpec& spec) {
    const Value& list = c.arg(k);
    for (uint32_t j = 0; j < list.list_items.size(); ++j) {
        int32_t v = list.list_items[j];
        if (v < 0 || c.values[v].is_none()) continue;
        if (spec.index) return Status::fail(Error::unsupported_op, op, ": more than one index tensor");
        if (!c.values[v].is_tensor()) return Status::fail(Error::invalid_argument, op, ": index is not a tensor");
        spec.dim = int(j);
        spec.index = &c.values[v].tensor;
    }
    if (!spec.index) return Status::fail(Error::unsupported_op, op, ": no index tensor");
    if (spec.index->type != ScalarType::Long && spec.index->type != ScalarType::Int)
        return Status::fail(Error::unsupported_type, op, ": indices must be int64 or int32 (boolean masks are not supported)");
    return Status();
}

inline Status index_value(const char* op, const Tensor& idx, int64_t k, int64_t limit, int64_t& out) {
    int64_t v = int64_t(load_element(idx, k));
    if (v < 0) v += limit;
    if (v < 0 || v >= limit) return Status::fail(Error::invalid_argument, op, ": index ", int64_t(load_element(idx, k)), " out of range 0..", limit - 1);
    out = v;
    return Status();
}

inline Status index(const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable("aten::index", out); !s) return s;
    IndexSpec spec;
    if (Status s = index_spec("aten::index", c, 1, spec); !s) return s;
    if (spec.dim >= in.dim || out.type != in.type) return shape_error("aten::index", "index dimension past the input rank");
    AxisSplit a = split_at(in, spec.dim);
    const int64_t n = spec.index->numel();
    if (out.numel() != a.outer * n * a.inner) return shape_error("aten::index", "output shape");
    const size_t row = size_t(a.inner) * in.element_size();
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t k = 0; k < n; ++k) {
            int64_t v;
            if (Status s = index_value("aten::index", *spec.index, k, a.size, v); !s) return s;
            __builtin_memcpy(out.data + size_t(o * n + k) * row, in.data + size_t(o * a.size + v) * row, row);
        }
    return Status();
}

inline Status index_put(const OpCall& c) {
    // out = self; out[..., idx, ...] = values (broadcast), or += when accumulating.
    const Tensor &self = c.t(0), &vals = c.t(2), &out = c.out();
    const bool accumulate = c.b(3);
    if (Status s = writable("aten::index_put", out); !s) return s;
    IndexSpec spec;
    if (Status s = index_spec("aten::index_put", c, 1, spec); !s) return s;
    if (!out.same_shape(self) || out.type != self.type || spec.dim >= self.dim) return shape_error("aten::index_put", "output shape");
    if (out.data != self.data) __builtin_memcpy(out.data, self.data, self.nbytes());
    AxisSplit a = split_at(self, spec.dim);
    const int64_t n = spec.index->numel();
    // The selected region has shape self[:dim] + [n] + self[dim+1:]; values broadcast to it.
    Tensor region = self;
    region.sizes[spec.dim] = n;
    int64_t vstrides[max_runtime_dims];
    if (!broadcast_strides(vals, region.dim, region.sizes, vstrides)) return shape_error("aten::index_put", "values do not broadcast to the indexed region");
    if (!accumulate && vals.type == out.type && vals.numel() == region.numel()) {
        // Values laid out as the region (a KV-cache update): whole rows are copied.
        const size_t row = size_t(a.inner) * out.element_size();
        for (int64_t o = 0; o < a.outer; ++o)
            for (int64_t k = 0; k < n; ++k) {
                int64_t pos;
                if (Status s = index_value("aten::index_put", *spec.index, k, a.size, pos); !s) return s;
                __builtin_memcpy(out.data + size_t(o * a.size + pos) * row, vals.data + size_t(o * n + k) * row, row);
            }
        return Status();
    }
    StridedWalk w;
    w.dim = region.dim;
    for (int d = 0; d < region.dim; ++d) {
        w.sizes[d] = region.sizes[d];
        w.strides[0][d] = vstrides[d];
    }
    for (int64_t r = 0; r < region.numel(); ++r, w.next()) {
        int64_t o = r / (n * a.inner), k = r / a.inner % n, in = r % a.inner, pos;
        if (Status s = index_value("aten::index_put", *spec.index, k, a.size, pos); !s) return s;
        int64_t dst = (o * a.size + pos) * a.inner + in;
        double v = load_element(vals, w.offset[0]);
        store_element(out, dst, accumulate ? load_element(out, dst) + v : v);
    }
    return Status();
}

inline Status embedding(const OpCall& c) {
    const Tensor &weight = c.t(0), &idx = c.t(1), &out = c.out();
    if (Status s = writable("aten::embedding", out); !s) return s;
    if (weight.dim != 2 || out.type != weight.type || out.numel() != idx.numel() * weight.sizes[1])
        return shape_error("aten::embedding", "output shape");
    const size_t row = size_t(weight.sizes[1]) * weight.element_size();
    for (int64_t k = 0; k < idx.numel(); ++k) {
        int64_t v = int64_t(load_element(idx, k));
        if (v < 0 || v >= weight.sizes[0])
            return Status::fail(Error::token_out_of_range, "aten::embedding: token ", v, " outside the table of ", weight.sizes[0]);
        __builtin_memcpy(out.data + size_t(k) * row, weight.data + size_t(v) * row, row);
    }
    return Status();
}

// gather / scatter: element r of `idx` names, along `dim`, the element of `in` it pairs with;
// fn(r, offset of that element in `in`).
template <class Fn>
Status along_index(const char* op, const Tensor& in, int64_t dim, const Tensor& idx, Fn fn) {
    if (!wrap_dim(dim, in.dim) || idx.dim != in.dim) return shape_error(op, "index and output shapes");
    const AxisSplit oi = split_at(idx, int(dim)), a = split_at(in, int(dim));
    for (int64_t r = 0; r < idx.numel(); ++r) {
        int64_t o = r / (oi.size * oi.inner), inner = r % oi.inner, v = 0;
        if (Status s = index_value(op, idx, r, a.size, v); !s) return s;
        if (o >= a.outer || inner >= a.inner) return shape_error(op, "index larger than the input");
        fn(r, (o * a.size + v) * a.inner + inner);
    }
    return Status();
}

inline Status gather(const OpCall& c) {
    const Tensor &in = c.t(0), &idx = c.t(2), &out = c.out();
    if (Status s = writable("aten::gather", out); !s) return s;
    if (!out.same_shape(idx) || out.type != in.type) return shape_error("aten::gather", "index and output shapes");
    return along_index("aten::gather", in, c.i(1), idx, [&](int64_t r, int64_t at) { store_element(out, r, load_element(in, at)); });
}

inline Status scatter_value(const OpCall& c) {
    const Tensor &in = c.t(0), &idx = c.t(2), &out = c.out();
    if (Status s = writable("aten::scatter", out); !s) return s;
    if (!out.same_shape(in) || out.type != in.type) return shape_error("aten::scatter", "index and output shapes");
    if (out.data != in.data) __builtin_memcpy(out.data, in.data, in.nbytes());
    const double value = c.s(3);
    return along_index("aten::scatter", in, c.i(1), idx, [&](int64_t, int64_t at) { store_element(out, at, value); });
}

// ---- reductions ----

// Reduces over the dims in int list argument k (empty or None: all dims), calling
// fold(acc, value) and finish(acc, count) per output element.
template <class Fold, class Finish>
Status reduce(const char* op, const OpCall& c, uint32_t k, bool keepdim, double init, Fold fold, Finish finish) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable(op, out); !s) return s;
    bool reduced[max_runtime_dims] = {};
    uint32_t n_dims = c.list_size(k);
    for (uint32_t j = 0; j < n_dims; ++j) {
        int64_t d = c.list_int(k, j);
        if (!wrap_dim(d, in.dim)) return shape_error(op, "dimension out of range");
        if (in.dim) reduced[d] = true;
    }
    if (n_dims == 0)
        for (int d = 0; d < in.dim; ++d) reduced[d] = true;
    int64_t out_numel = 1, count = 1;
    int out_rank = 0;
    for (int d = 0; d < in.dim; ++d) {
        if (reduced[d]) count *= in.sizes[d];
        else out_numel *= in.sizes[d];
        if (!reduced[d] || keepdim) ++out_rank;
    }
    if (out.numel() != out_numel || (out.dim != out_rank && !(out_rank == 0 && out.dim <= 1)))
        return shape_error(op, "output shape does not match the reduction");
    // For each output element, walk the reduced dims from its base offset in the input.
    StridedWalk kept, red;
    int64_t stride = 1;
    for (int d = in.dim - 1; d >= 0; --d) {
        StridedWalk& w = reduced[d] ? red : kept;
        w.sizes[w.dim] = in.sizes[d];
        w.strides[0][w.dim] = stride;
        ++w.dim;
        stride *= in.sizes[d];
    }
    // The walks were filled innermost first; put them in row-major order.
    for (StridedWalk* w : {&kept, &red})
        for (int x = 0, y = w->dim - 1; x < y; ++x, --y) {
            int64_t t = w->sizes[x]; w->sizes[x] = w->sizes[y]; w->sizes[y] = t;
            t = w->strides[0][x]; w->strides[0][x] = w->strides[0][y]; w->strides[0][y] = t;
        }
    for (int64_t o = 0; o < out_numel; ++o, kept.next()) {
        double acc = init;
        red.offset[0] = 0;
        for (int64_t r = 0; r < count; ++r, red.next()) acc = fold(acc, load_element(in, kept.offset[0] + red.offset[0]));
        store_element(out, o, finish(acc, count));
    }
    return Status();
}

inline Status mean(const OpCall& c) {
    if (!is_floating(c.out().type)) return Status::fail(Error::unsupported_type, "aten::mean: integer output");
    return reduce("aten::mean", c, 1, c.b(2), 0.0, [](double a, double v) { return a + v; },
                  [](double a, int64_t n) { return n ? double(float(a) / float(n)) : 0.0; });
}
// The largest value (a NaN, once met, stays).
inline Status amax(const OpCall& c) {
    return reduce("aten::amax", c, 1, c.b(2), -__builtin_inf(), [](double a, double v) { return v > a || v != v ? v : a; },
                  [](double a, int64_t) { return a; });
}
inline Status sum(const OpCall& c) {
    return reduce("aten::sum", c, 1, c.b(2), 0.0, [](double a, double v) { return a + v; }, [](double a, int64_t) { return a; });
}

// Reduction along one dimension with outer x size x inner geometry.
inline Status one_dim(const char* op, const Tensor& in, int64_t& dim, bool keepdim, const Tensor& out, AxisSplit& a) {
    if (Status s = writable(op, out); !s) return s;
    if (!wrap_dim(dim, in.dim)) return shape_error(op, "dimension out of range");
    a = split_at(in, int(dim));
    if (out.numel() != a.outer * a.inner) return shape_error(op, "output shape");
    if (keepdim && in.dim && out.dim != in.dim) return shape_error(op, "keepdim output rank");
    return Status();
}

inline Status any(const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    int64_t dim = c.i(1);
    AxisSplit a;
    if (Status s = one_dim("aten::any", in, dim, c.b(2), out, a); !s) return s;
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t i = 0; i < a.inner; ++i) {
            bool hit = false;
            for (int64_t k = 0; k < a.size && !hit; ++k) hit = load_element(in, (o * a.size + k) * a.inner + i) != 0;
            store_element(out, o * a.inner + i, hit ? 1 : 0);
        }
    return Status();
}

inline Status argmax(const OpCall& c) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable("aten::argmax", out); !s) return s;
    AxisSplit a{1, in.numel(), 1};
    if (!c.arg(1).is_none()) {
        int64_t dim = c.i(1);
        if (Status s = one_dim("aten::argmax", in, dim, c.b(2), out, a); !s) return s;
    } else if (out.numel() != 1) {
        return shape_error("aten::argmax", "output shape");
    }
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t i = 0; i < a.inner; ++i) {
            int64_t best = 0;
            double best_v = load_element(in, o * a.size * a.inner + i);
            for (int64_t k = 1; k < a.size; ++k) {
                double v = load_element(in, (o * a.size + k) * a.inner + i);
                if (v > best_v) { best_v = v; best = k; }
            }
            store_element(out, o * a.inner + i, double(best));
        }
    return Status();
}

// One softmax (or log-softmax) over n values `stride` apart. The exponentials are taken once,
// in a vectorized map for a contiguous row (stride 1); the sum runs in order, because the
// dynamically quantized programs amplify its last bit.
inline void softmax_row(const float* x, float* y, int64_t n, int64_t stride, bool log) {
    float mx = x[0];
    for (int64_t k = 1; k < n; ++k) mx = x[k * stride] > mx ? x[k * stride] : mx;
    float total = 0;
    if (log) {
        for (int64_t k = 0; k < n; ++k) total += math::expf(x[k * stride] - mx);
        const float log_total = float(math::log(double(total)));
        for (int64_t k = 0; k < n; ++k) y[k * stride] = x[k * stride] - mx - log_total;
        return;
    }
    if (stride == 1)
        map_f32(x, y, n, [mx](float v) { return math::expf(v - mx); });
    else
        for (int64_t k = 0; k < n; ++k) y[k * stride] = math::expf(x[k * stride] - mx);
    for (int64_t k = 0; k < n; ++k) total += y[k * stride];
    for (int64_t k = 0; k < n; ++k) y[k * stride] /= total;
}

inline Status softmax_impl(const char* op, const OpCall& c, bool log) {
    const Tensor &in = c.t(0), &out = c.out();
    if (Status s = writable(op, out); !s) return s;
    if (in.type != ScalarType::Float || out.type != ScalarType::Float || !in.same_shape(out))
        return Status::fail(Error::unsupported_type, op, ": float32 tensors of equal shape only");
    int64_t dim = c.i(1);
    if (!wrap_dim(dim, in.dim)) return shape_error(op, "dimension out of range");
    AxisSplit a = split_at(in, int(dim));
    if (a.size == 0) return Status();
    const float* x = in.as<float>();
    float* y = out.as<float>();
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t i = 0; i < a.inner; ++i) {
            const int64_t base = o * a.size * a.inner + i;
            softmax_row(x + base, y + base, a.size, a.inner, log);
        }
    return Status();
}
inline Status softmax(const OpCall& c) { return softmax_impl("aten::_softmax", c, false); }
inline Status log_softmax(const OpCall& c) { return softmax_impl("aten::_log_softmax", c, true); }

// ---- matrix products (float32) ----

// out[b] (+)= a[b] @ w[b] for row-major a [m,k], w [k,n]; rows of w stream contiguously.
inline void matmul_f32(const float* a, const float* w, float* out, int64_t m, int64_t k, int64_t n) {
    const VecmatF32 vecmat = best_vecmat_f32();
    for (int64_t r = 0; r < m; ++r) vecmat(a + r * k, w, out + r * n, int(k), int(n));
}

// Float32 operands and a writable output, as every matrix product here needs.
inline Status check_f32(const char* op, std::initializer_list<const Tensor*> operands, const Tensor& out) {
    for (const Tensor* t : operands)
        if (t->type != ScalarType::Float) return Status::fail(Error::unsupported_type, op, ": ", scalar_type_name(t->type), " operands (float32 only)");
    return writable(op, out);
}

inline Status mm(const OpCall& c) {
    const Tensor &a = c.t(0), &b = c.t(1), &out = c.out();
    if (Status s = check_f32("aten::mm", {&a, &b, &out}, out); !s) return s;
    if (a.dim != 2 || b.dim != 2 || out.dim != 2 || a.sizes[1] != b.sizes[0] || out.sizes[0] != a.sizes[0] || out.sizes[1] != b.sizes[1])
        return shape_error("aten::mm", "operands are not [m,k] x [k,n] -> [m,n]");
    matmul_f32(a.as<float>(), b.as<float>(), out.as<float>(), a.sizes[0], a.sizes[1], b.sizes[1]);
    return Status();
}

inline Status bmm(const OpCall& c) {
    const Tensor &a = c.t(0), &b = c.t(1), &out = c.out();
    if (Status s = check_f32("aten::bmm", {&a, &b, &out}, out); !s) return s;
    if (a.dim != 3 || b.dim != 3 || out.dim != 3 || a.sizes[0] != b.sizes[0] || a.sizes[2] != b.sizes[1] ||
        out.sizes[0] != a.sizes[0] || out.sizes[1] != a.sizes[1] || out.sizes[2] != b.sizes[2])
        return shape_error("aten::bmm", "operands are not [b,m,k] x [b,k,n] -> [b,m,n]");
    const int64_t m = a.sizes[1], k = a.sizes[2], n = b.sizes[2];
    for (int64_t i = 0; i < a.sizes[0]; ++i)
        matmul_f32(a.as<float>() + i * m * k, b.as<float>() + i * k * n, out.as<float>() + i * m * n, m, k, n);
    return Status();
}

inline Status addmm(const OpCall& c) {
    // beta * bias + alpha * (a @ b)
    const Tensor &bias = c.t(0), &a = c.t(1), &b = c.t(2), &out = c.out();
    if (Status s = check_f32("aten::addmm", {&bias, &a, &b, &out}, out); !s) return s;
    if (a.dim != 2 || b.dim != 2 || out.dim != 2 || a.sizes[1] != b.sizes[0] || out.sizes[0] != a.sizes[0] || out.sizes[1] != b.sizes[1])
        return shape_error("aten::addmm", "operands are not [m,k] x [k,n] -> [m,n]");
    matmul_f32(a.as<float>(), b.as<float>(), out.as<float>(), a.sizes[0], a.sizes[1], b.sizes[1]);
    const float beta = float(c.s(3)), alpha = float(c.s(4));
    const Tensor* ins[1] = {&bias};
    return broadcast_each("aten::addmm", out, ins, 1, [&](int64_t k, const int64_t* off) {
        out.as<float>()[k] = beta * bias.as<float>()[off[0]] + alpha * out.as<float>()[k];
    });
}

} // namespace ops

} // namespace tinyllm::pte
