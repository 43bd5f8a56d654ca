// Registry of the weight types tinyllm computes with. Adding a type = writing its block
// definition (type_*.hpp: layout, dequantize, dot) and adding one case here.
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

// Calls f(TypeX{}) for a supported type and returns true; false if tinyllm cannot use it.
template <class F>
bool visit_weight_type(GgmlType t, F&& f) {
    switch (t) {
    case GgmlType::F32: f(TypeF32{}); return true;
    case GgmlType::F16: f(TypeF16{}); return true;
    case GgmlType::BF16: f(TypeBF16{}); return true;
    case GgmlType::Q8_0: f(TypeQ8_0{}); return true;
    case GgmlType::Q4_0: f(TypeQ4_0{}); return true;
    case GgmlType::Q4_1: f(TypeQ4_1{}); return true;
    case GgmlType::Q5_0: f(TypeQ5_0{}); return true;
    case GgmlType::Q5_1: f(TypeQ5_1{}); return true;
    case GgmlType::Q2_K: f(TypeQ2_K{}); return true;
    case GgmlType::Q3_K: f(TypeQ3_K{}); return true;
    case GgmlType::Q4_K: f(TypeQ4_K{}); return true;
    case GgmlType::Q5_K: f(TypeQ5_K{}); return true;
    case GgmlType::Q6_K: f(TypeQ6_K{}); return true;
    case GgmlType::IQ4_NL: f(TypeIQ4_NL{}); return true;
    case GgmlType::IQ4_XS: f(TypeIQ4_XS{}); return true;
    default: return false;
    }
}

// Block types, plus tinyllm's groupwise formats (groupwise.hpp), which have their own path.
inline bool is_supported_weight_type(GgmlType t) {
    return groupwise_bits(t) != 0 || visit_weight_type(t, [](auto) {});
}

} // namespace tinyllm
