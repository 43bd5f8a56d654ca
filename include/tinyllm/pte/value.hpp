// Runtime values of an ExecuTorch method: tensors bound to memory, scalars and lists.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm::pte {

// Ranks above this are refused at load; ExecuTorch LLM exports use up to 5.
constexpr int max_runtime_dims = 8;

// A contiguous (default dim order) tensor: data laid out row-major in `sizes`.
struct Tensor {
    ScalarType type = ScalarType::Float;
    int dim = 0;
    int64_t sizes[max_runtime_dims] = {};
    uint8_t* data = nullptr;
    bool constant = false;  // points into the read-only program file
    // No instruction writes it: the memory plan placed it on bytes another tensor is written
    // into (ExecuTorch emits reshapes of planned tensors this way). Set by Method at load.
    bool view = false;

    int64_t numel() const {
        int64_t n = 1;
        for (int i = 0; i < dim; ++i) n *= sizes[i];
        return n;
    }
    size_t element_size() const { return scalar_type_size(type); }
    size_t nbytes() const { return size_t(numel()) * element_size(); }
    template <class T>
    T* as() const { return reinterpret_cast<T*>(data); }

    bool same_shape(const Tensor& o) const {
        if (dim != o.dim) return false;
        for (int i = 0; i < dim; ++i)
            if (sizes[i] != o.sizes[i]) return false;
        return true;
    }
    // Elements in dimensions after d (the stride of d in a contiguous layout).
    int64_t inner(int d) const {
        int64_t n = 1;
        for (int i = d + 1; i < dim; ++i) n *= sizes[i];
        return n;
    }
    int64_t outer(int d) const {
        int64_t n = 1;
        for (int i = 0; i < d; ++i) n *= sizes[i];
        return n;
    }
};

struct Value {
    ValueKind kind = ValueKind::None;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    StrView s;
    Tensor tensor;
    fb::Vector<int64_t> int_items;    // IntList: indices of Int values
    fb::Vector<int32_t> list_items;   // (Optional)TensorList: value indices, -1 = None
    fb::Vector<double> double_items;
    fb::Vector<uint8_t> bool_items;

    bool is_tensor() const { return kind == ValueKind::Tensor; }
    bool is_none() const { return kind == ValueKind::None || kind == ValueKind::Null; }
    // Int, Double or Bool as a number (PyTorch "Scalar").
    bool is_scalar() const { return kind == ValueKind::Int || kind == ValueKind::Double || kind == ValueKind::Bool; }
    double scalar() const { return kind == ValueKind::Double ? d : kind == ValueKind::Bool ? double(b) : double(i); }
};

} // namespace tinyllm::pte
