// The GGML tensor types used by GGUF files, one row each in `ggml_types`: the one place a
// type's name, block geometry and activation format are stated. Knowing the size of every type
// (even those tinyllm cannot compute with) lets the loader validate any file and refuse an
// unsupported tensor by name instead of misreading it. A type tinyllm computes with also has
// kernels, WeightType<id> (type_*.hpp), which take their block size and activation format
// from its row; weight_types.hpp dispatches over the rows that have them.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"

namespace tinyllm {

enum class GgmlType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35,
    // tinyllm's groupwise formats (groupwise.hpp). Their ids are far above ggml's so that other
    // readers refuse such tensors as an unknown type instead of misreading them; the group size
    // is the file's `tinyllm.group_size` (0: one group per row).
    TINYLLM_INT4 = 1004, TINYLLM_INT8 = 1008,
};

// Bits per code of a groupwise type, 0 for every other type.
inline int groupwise_bits(GgmlType t) { return t == GgmlType::TINYLLM_INT4 ? 4 : t == GgmlType::TINYLLM_INT8 ? 8 : 0; }

// The weight types this build computes with. TINYLLM_WEIGHT_TYPES, a comma-separated list of
// qualified names (CMake's TINYLLM_WEIGHT_TYPES=Q8_0,Q4_0 writes it), leaves every other type's
// kernels out of the program, which firmware needs to fit its flash; a model that uses a type
// left out is refused when it is opened. Unset: every type.
#ifdef TINYLLM_WEIGHT_TYPES
inline constexpr GgmlType built_weight_types[] = {TINYLLM_WEIGHT_TYPES};
#endif
constexpr bool weight_type_built(GgmlType t) {
#ifdef TINYLLM_WEIGHT_TYPES
    for (GgmlType built : built_weight_types)
        if (built == t) return true;
    return false;
#else
    (void)t;
    return true;
#endif
}

// Whether `t` is `type` and this build keeps `type`: a test the compiler folds to false for a
// type left out, so the code behind it is left out too.
constexpr bool is_built_type(GgmlType t, GgmlType type) { return weight_type_built(type) && t == type; }

struct GgmlTypeInfo {
    GgmlType id;
    const char* name;      // nullptr: id not assigned
    uint32_t block_elems;  // elements per block (0: the size depends on the group size)
    uint32_t block_bytes;  // bytes per block
    ActFormat act;         // the activations tinyllm's kernels for the type read
};

// A type tinyllm only stores: no kernel reads its `act`.
constexpr GgmlTypeInfo stored_only(GgmlType id, const char* name, uint32_t block_elems, uint32_t block_bytes) {
    return {id, name, block_elems, block_bytes, ActFormat::f32};
}

// Float types take activations in their own storage format; quantized ones take int8 blocks,
// per 32 values (q8_0) or, where llama.cpp uses Q8_K, per 256 (q8_k).
inline constexpr GgmlTypeInfo ggml_types[] = {
    {GgmlType::F32, "F32", 1, 4, ActFormat::f32},
    {GgmlType::F16, "F16", 1, 2, ActFormat::f16},
    {GgmlType::Q4_0, "Q4_0", 32, 18, ActFormat::q8_0},
    {GgmlType::Q4_1, "Q4_1", 32, 20, ActFormat::q8_0},
    {GgmlType::Q5_0, "Q5_0", 32, 22, ActFormat::q8_0},
    {GgmlType::Q5_1, "Q5_1", 32, 24, ActFormat::q8_0},
    {GgmlType::Q8_0, "Q8_0", 32, 34, ActFormat::q8_0},
    stored_only(GgmlType::Q8_1, "Q8_1", 32, 36),
    {GgmlType::Q2_K, "Q2_K", 256, 84, ActFormat::q8_k},
    {GgmlType::Q3_K, "Q3_K", 256, 110, ActFormat::q8_k},
    {GgmlType::Q4_K, "Q4_K", 256, 144, ActFormat::q8_k},
    {GgmlType::Q5_K, "Q5_K", 256, 176, ActFormat::q8_k},
    {GgmlType::Q6_K, "Q6_K", 256, 210, ActFormat::q8_k},
    stored_only(GgmlType::Q8_K, "Q8_K", 256, 292),
    stored_only(GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66),
    stored_only(GgmlType::IQ2_XS, "IQ2_XS", 256, 74),
    stored_only(GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98),
    stored_only(GgmlType::IQ1_S, "IQ1_S", 256, 50),
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, ActFormat::q8_0},
    stored_only(GgmlType::IQ3_S, "IQ3_S", 256, 110),
    stored_only(GgmlType::IQ2_S, "IQ2_S", 256, 82),
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136, ActFormat::q8_k},
    stored_only(GgmlType::I8, "I8", 1, 1),
    stored_only(GgmlType::I16, "I16", 1, 2),
    stored_only(GgmlType::I32, "I32", 1, 4),
    stored_only(GgmlType::I64, "I64", 1, 8),
    stored_only(GgmlType::F64, "F64", 1, 8),
    stored_only(GgmlType::IQ1_M, "IQ1_M", 256, 56),
    {GgmlType::BF16, "BF16", 1, 2, ActFormat::bf16},
    stored_only(GgmlType::TQ1_0, "TQ1_0", 256, 54),
    stored_only(GgmlType::TQ2_0, "TQ2_0", 256, 66),
    // Groupwise rows take q8_0 blocks where their groups are whole blocks (groupwise_takes_q8).
    {GgmlType::TINYLLM_INT4, "TINYLLM_INT4", 0, 0, ActFormat::q8_0},
    {GgmlType::TINYLLM_INT8, "TINYLLM_INT8", 0, 0, ActFormat::q8_0},
};

constexpr GgmlTypeInfo ggml_type_info(uint32_t id) {
    for (const GgmlTypeInfo& t : ggml_types)
        if (uint32_t(t.id) == id) return t;
    return stored_only(GgmlType(id), nullptr, 0, 0);
}

inline const char* ggml_type_name(GgmlType t) {
    const char* n = ggml_type_info(uint32_t(t)).name;
    return n ? n : "unknown";
}

// The kernels for a type: type_*.hpp specializes WeightType<id> for each type tinyllm computes
// with (its Block layout, dequantize and dot), deriving it from WeightTypeRow<id>. The primary
// template stands for every other type.
template <GgmlType Id>
struct WeightType {
    static constexpr bool computed = false;
};

// What a WeightType specialization takes from its type's row.
template <GgmlType Id>
struct WeightTypeRow {
    static constexpr GgmlType id = Id;
    static constexpr bool computed = true;
    static constexpr int block_elems = int(ggml_type_info(uint32_t(Id)).block_elems);
    static constexpr ActFormat act = ggml_type_info(uint32_t(Id)).act;
};

} // namespace tinyllm
