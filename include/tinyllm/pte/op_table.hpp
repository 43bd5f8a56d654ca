// The operators tinyllm implements, by ExecuTorch name and overload, with the argument
// signatures (see pte_ops.hpp) that Method checks every call against at load.
#pragma once
#include <stddef.h>

#include "tinyllm/pte/ops.hpp"
#include "tinyllm/pte/quant_ops.hpp"

namespace tinyllm::pte {

struct OpEntry {
    const char* name;
    const char* overload;
    const char* signature;
    OpFn fn;
    // How many trailing arguments the kernel writes: an `.out` call's output and the alias it
    // returns. copy_ also writes its first argument (Method knows).
    int written = 2;
    // Output element k reads only input elements at index k (or broadcast ones), so an input
    // may occupy exactly the output's bytes.
    bool elementwise = false;
};

inline const OpEntry* op_table(size_t& count) {
    static const OpEntry table[] = {
        {"aten::add", "out", "TTSTT", ops::add, 2, true},
        {"aten::sub", "out", "TTSTT", ops::sub, 2, true},
        {"aten::mul", "out", "TTTT", ops::mul, 2, true},
        {"aten::div", "out", "TTTT", ops::div, 2, true},
        {"aten::mul", "Scalar_out", "TSTT", ops::mul_scalar, 2, true},
        {"aten::eq", "Scalar_out", "TSTT", ops::eq_scalar},
        {"aten::ne", "Scalar_out", "TSTT", ops::ne_scalar},
        {"aten::rsqrt", "out", "TTT", ops::rsqrt, 2, true},
        {"aten::sigmoid", "out", "TTT", ops::sigmoid, 2, true},
        {"aten::exp", "out", "TTT", ops::exp, 2, true},
        {"aten::neg", "out", "TTT", ops::neg, 2, true},
        {"aten::abs", "out", "TTT", ops::abs, 2, true},
        {"aten::round", "out", "TTT", ops::round, 2, true},
        {"aten::logical_not", "out", "TTT", ops::logical_not},
        {"aten::where", "self_out", "TTTTT", ops::where, 2, true},
        {"aten::scalar_tensor", "out", "STT", ops::scalar_tensor},
        {"aten::full_like", "out", "TS?TT", ops::full_like},
        {"aten::view_copy", "out", "TLTT", ops::view_copy},
        {"aten::alias_copy", "out", "TTT", ops::alias_copy},
        {"aten::clone", "out", "T?TT", ops::clone},
        {"aten::squeeze_copy", "dims_out", "TLTT", ops::squeeze_copy},
        {"aten::unsqueeze_copy", "out", "TITT", ops::unsqueeze_copy},
        {"dim_order_ops::_to_dim_order_copy", "out", "TBlTT", ops::to_dim_order_copy},
        {"aten::copy_", "", "TTBT", ops::copy_into, 1},
        {"aten::permute_copy", "out", "TLTT", ops::permute_copy},
        {"aten::expand_copy", "out", "TLBTT", ops::expand_copy},
        {"aten::slice_copy", "Tensor_out", "TI??ITT", ops::slice_copy},
        {"aten::select_copy", "int_out", "TIITT", ops::select_copy},
        {"aten::cat", "out", "VITT", ops::cat},
        {"aten::index", "Tensor_out", "TOTT", ops::index},
        {"aten::index_put", "out", "TOTBTT", ops::index_put},
        {"aten::embedding", "out", "TTIBBTT", ops::embedding},
        {"aten::gather", "out", "TITBTT", ops::gather},
        {"aten::scatter", "value_out", "TITSTT", ops::scatter_value},
        {"aten::mean", "out", "Tl??TT", ops::mean},
        {"aten::amax", "out", "TlBTT", ops::amax},
        {"aten::sum", "IntList_out", "Tl??TT", ops::sum},
        {"aten::any", "out", "TIBTT", ops::any},
        {"aten::argmax", "out", "T?BTT", ops::argmax},
        {"aten::_softmax", "out", "TIBTT", ops::softmax},
        {"aten::_log_softmax", "out", "TIBTT", ops::log_softmax},
        {"aten::mm", "out", "TTTT", ops::mm},
        {"aten::bmm", "out", "TTTT", ops::bmm},
        {"aten::addmm", "out", "TTTSSTT", ops::addmm},
        {"aten::_to_copy", "out", "TB?TT", ops::to_copy},
        {"torchao::choose_qparams_affine", "out", "T?LIII???BTTV", ops::choose_qparams_affine, 3},
        {"torchao::quantize_affine", "out", "TLTtIIITT", ops::quantize_affine},
        {"torchao::dequantize_affine", "out", "TLTtIIIITT", ops::dequantize_affine},
        {"quantized_decomposed::embedding_byte", "dtype_out", "TTtIIT?TT", ops::embedding_byte},
        {"quantized_decomposed::dequantize_per_channel", "out", "TTtIIII?TT", ops::dequantize_per_channel},
    };
    count = sizeof(table) / sizeof(table[0]);
    return table;
}

inline const OpEntry* find_op(StrView name, StrView overload) {
    size_t n;
    const OpEntry* table = op_table(n);
    for (size_t k = 0; k < n; ++k)
        if (cstr(table[k].name) == name && cstr(table[k].overload) == overload) return &table[k];
    return nullptr;
}

// Does value kind `k` satisfy signature character `c`?
inline bool kind_matches(char c, ValueKind k) {
    bool none = k == ValueKind::None || k == ValueKind::Null;
    switch (c) {
    case 'T': return k == ValueKind::Tensor;
    case 't': return k == ValueKind::Tensor || none;
    case 'I': return k == ValueKind::Int;
    case 'B': return k == ValueKind::Bool;
    case 'S': return k == ValueKind::Int || k == ValueKind::Double || k == ValueKind::Bool;
    case 'L': return k == ValueKind::IntList;
    case 'l': return k == ValueKind::IntList || none;
    case 'V': return k == ValueKind::TensorList;
    case 'O': return k == ValueKind::OptionalTensorList;
    default: return true;
    }
}

} // namespace tinyllm::pte
