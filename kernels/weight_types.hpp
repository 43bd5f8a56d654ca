// The weight types tinyllm computes with: the rows of the type table (ggml_types.hpp) whose
// WeightType is specialized. The includes below bring in every specialization, so adding a type
// = its type_*.hpp (included here) and its table row.
#pragma once
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/kernels/type_float.hpp"
#include "tinyllm/kernels/type_iq4.hpp"
#include "tinyllm/kernels/type_k_quants.hpp"
#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q4_1.hpp"
#include "tinyllm/kernels/type_q5.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

namespace tinyllm {

// Calls f(WeightType<t>{}) for a type tinyllm computes with (and this build keeps:
// weight_type_built) and returns true; false for any other type. Row walks the table at
// compile time; callers leave it at 0.
template <size_t Row = 0, class F>
bool visit_weight_type(GgmlType t, F&& f) {
    if constexpr (Row == sizeof(ggml_types) / sizeof(ggml_types[0])) {
        return false;
    } else {
        using T = WeightType<ggml_types[Row].id>;
        if constexpr (T::computed && weight_type_built(ggml_types[Row].id)) {
            static_assert(sizeof(typename T::Block) == ggml_types[Row].block_bytes, "Block layout differs from the table row");
            if (t == T::id) {
                f(T{});
                return true;
            }
        }
        return visit_weight_type<Row + 1>(t, f);
    }
}

// Whether tinyllm has kernels for a type, in this build or not (errors say which).
template <size_t Row = 0>
bool weight_type_has_kernels(GgmlType t) {
    if constexpr (Row == sizeof(ggml_types) / sizeof(ggml_types[0])) {
        return groupwise_bits(t) != 0;
    } else {
        return (WeightType<ggml_types[Row].id>::computed && t == ggml_types[Row].id) || weight_type_has_kernels<Row + 1>(t);
    }
}

// groupwise_bits() of the groupwise types this build keeps, 0 for every other type: the test
// that leads to the groupwise path, so that a build without them has no groupwise code.
inline int built_groupwise_bits(GgmlType t) {
    return is_built_type(t, GgmlType::TINYLLM_INT4) ? 4 : is_built_type(t, GgmlType::TINYLLM_INT8) ? 8 : 0;
}

// Block types, plus tinyllm's groupwise formats (groupwise.hpp), which have their own path.
inline bool is_supported_weight_type(GgmlType t) {
    return built_groupwise_bits(t) != 0 || visit_weight_type(t, [](auto) {});
}

} // namespace tinyllm
