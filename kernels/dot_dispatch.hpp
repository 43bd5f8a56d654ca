// Picks the fastest dot-product kernel for a weight type on the running CPU. The portable
// kernel (T::dot) is the reference every SIMD kernel is tested against.
#pragma once
#include "tinyllm/kernels/cpu_features.hpp"
#include "tinyllm/kernels/dot_mve.hpp"
#include "tinyllm/kernels/dot_neon.hpp"
#include "tinyllm/kernels/dot_x86.hpp"
#include "tinyllm/kernels/float_neon.hpp"
#include "tinyllm/kernels/groupwise.hpp"
#include "tinyllm/kernels/groupwise_neon.hpp"
#include "tinyllm/kernels/groupwise_x86.hpp"
#include "tinyllm/kernels/hvx/dot_hvx.hpp"
#include "tinyllm/kernels/hvx/groupwise_hvx.hpp"
#include "tinyllm/kernels/interleaved.hpp"
#include "tinyllm/kernels/interleaved_avx2.hpp"
#include "tinyllm/kernels/interleaved_neon.hpp"
#include "tinyllm/kernels/interleaved_x86.hpp"
#include "tinyllm/kernels/transpose.hpp"
#include "tinyllm/kernels/weight_types.hpp"

namespace tinyllm {

// The AVX2 kernel x86::avx2 (AVX2, FMA and F16C) where the CPU has it, else the portable one;
// the choice is made once per kernel per process.
#if defined(__x86_64__) || defined(__i386__)
#define TINYLLM_AVX2_OR(Fn, avx2, portable)                                          \
    ([] {                                                                            \
        static const Fn fn = x86::has_avx2() ? &x86::avx2 : &portable;               \
        return fn;                                                                   \
    }())
#else
#define TINYLLM_AVX2_OR(Fn, avx2, portable) (&portable)
#endif

// The reference dot product of a type and its function-pointer type: quantized types share
// one templated implementation (block_codes.hpp), float types each have their own.
template <class T, bool Quantized = T::quantized>
struct DotTraits;
template <class T>
struct DotTraits<T, true> {
    using Fn = float (*)(const typename T::Block*, const BlockQ8*, int);
    static constexpr Fn reference = &T::template dot<typename T::Block>;
};
template <class T>
struct DotTraits<T, false> {
    using Fn = decltype(&T::dot);
    static constexpr Fn reference = &T::dot;
};

template <class T>
using DotFn = typename DotTraits<T>::Fn;

// What a type's dot product reads its activations from: int8 blocks, or float or 16-bit values.
template <class Fn>
struct ActivationOf;
template <class R, class W, class A>
struct ActivationOf<R (*)(W, A, int)> {
    using type = A;
};
template <class T>
using ActPtr = typename ActivationOf<DotFn<T>>::type;

#if defined(__aarch64__)
// A type's AArch64 kernel (Kernel = dot or tile), with sdot where the CPU has it, or null where
// it has none.
#if TINYLLM_NEON_DOTPROD
#define TINYLLM_NEON_PICK(name) return arm::has_dotprod() ? &neon::name##_dotprod : &neon::name
#else
#define TINYLLM_NEON_PICK(name) return &neon::name
#endif
#define TINYLLM_NEON_SELECT(kernel)                                                         \
    if constexpr (T::id == GgmlType::Q8_0) TINYLLM_NEON_PICK(kernel##_q8_0);                \
    if constexpr (T::id == GgmlType::Q4_0) TINYLLM_NEON_PICK(kernel##_q4_0);                \
    if constexpr (T::id == GgmlType::Q4_1) TINYLLM_NEON_PICK(kernel##_q4_1);                \
    if constexpr (T::id == GgmlType::Q5_0) TINYLLM_NEON_PICK(kernel##_q5_0);                \
    if constexpr (T::id == GgmlType::Q5_1) TINYLLM_NEON_PICK(kernel##_q5_1);                \
    if constexpr (T::id == GgmlType::IQ4_NL) TINYLLM_NEON_PICK(kernel##_iq4_nl);            \
    if constexpr (T::id == GgmlType::Q4_K) TINYLLM_NEON_PICK(kernel##_q4_k);                \
    if constexpr (T::id == GgmlType::Q5_K) TINYLLM_NEON_PICK(kernel##_q5_k);                \
    if constexpr (T::id == GgmlType::Q6_K) TINYLLM_NEON_PICK(kernel##_q6_k);                \
    if constexpr (T::id == GgmlType::IQ4_XS) TINYLLM_NEON_PICK(kernel##_iq4_xs);

template <class T>
DotFn<T> select_dot_neon() {
    TINYLLM_NEON_SELECT(dot)
    if constexpr (T::id == GgmlType::F32) return &neon::dot_f32;
    if constexpr (T::id == GgmlType::F16) return &neon::dot_f16;
    if constexpr (T::id == GgmlType::BF16) return &neon::dot_bf16;
    return nullptr;
}
#endif

template <class T>
DotFn<T> select_dot() {
#if defined(__x86_64__) || defined(__i386__)
    if (x86::has_avx512_vnni()) {
        if constexpr (T::id == GgmlType::Q8_0) return &x86::dot_q8_0_vnni;
        if constexpr (T::id == GgmlType::Q4_0) return &x86::dot_q4_0_vnni;
    }
    if (x86::has_avx2()) {
        if constexpr (T::id == GgmlType::F32) return &x86::dot_f32_avx2;
        if constexpr (T::id == GgmlType::F16) return &x86::dot_f16_avx2;
        if constexpr (T::id == GgmlType::BF16) return &x86::dot_bf16_avx2;
        if constexpr (T::id == GgmlType::Q8_0) return &x86::dot_q8_0_avx2;
        if constexpr (T::id == GgmlType::Q4_0) return &x86::dot_q4_0_avx2;
        if constexpr (T::id == GgmlType::Q4_K) return &x86::dot_q4_k_avx2;
        if constexpr (T::id == GgmlType::Q6_K) return &x86::dot_q6_k_avx2;
    }
#endif
#if defined(__aarch64__)
    if (const DotFn<T> fn = select_dot_neon<T>()) return fn;
#endif
#if defined(__HVX__)
    if constexpr (T::id == GgmlType::Q8_0) return &hvx::dot_q8_0;
    if constexpr (T::id == GgmlType::Q4_0) return &hvx::dot_q4_0;
#endif
#if defined(__ARM_FEATURE_MVE)
    if constexpr (T::id == GgmlType::Q8_0) return &mve::dot_q8_0;
    if constexpr (T::id == GgmlType::Q4_0) return &mve::dot_q4_0;
#if __ARM_FEATURE_MVE & 2
    if constexpr (T::id == GgmlType::F32) return &mve::dot_f32;
#endif
#endif
    return DotTraits<T>::reference;
}

// A 2-row x 4-token tile kernel for prompt processing, or null where a type has none.
// Results equal four dots per row exactly (see tile_2x4_avx2 and tile_float_avx2).
template <class T>
using TileFn = void (*)(const typename T::Block*, const typename T::Block*, const ActPtr<T>*, int, float*);

template <class T>
TileFn<T> select_tile() {
#if defined(__x86_64__) || defined(__i386__)
    if (x86::has_avx2()) {
        if constexpr (T::id == GgmlType::Q8_0) return &x86::tile_q8_0_avx2;
        if constexpr (T::id == GgmlType::Q4_0) return &x86::tile_q4_0_avx2;
        if constexpr (T::id == GgmlType::F32) return &x86::tile_f32_avx2;
        if constexpr (T::id == GgmlType::F16) return &x86::tile_f16_avx2;
        if constexpr (T::id == GgmlType::BF16) return &x86::tile_bf16_avx2;
    }
#endif
#if defined(__aarch64__)
#if TINYLLM_NEON_I8MM
    if (arm::has_i8mm()) {  // smmla for the types of 32-value blocks
        if constexpr (T::id == GgmlType::Q8_0) return &neon::tile_q8_0_i8mm;
        if constexpr (T::id == GgmlType::Q4_0) return &neon::tile_q4_0_i8mm;
        if constexpr (T::id == GgmlType::Q4_1) return &neon::tile_q4_1_i8mm;
        if constexpr (T::id == GgmlType::Q5_0) return &neon::tile_q5_0_i8mm;
        if constexpr (T::id == GgmlType::Q5_1) return &neon::tile_q5_1_i8mm;
        if constexpr (T::id == GgmlType::IQ4_NL) return &neon::tile_iq4_nl_i8mm;
    }
#endif
    if constexpr (T::quantized) {
        TINYLLM_NEON_SELECT(tile)
    }
#endif
    return nullptr;
}

#if defined(__aarch64__)
#undef TINYLLM_NEON_SELECT
#undef TINYLLM_NEON_PICK
#endif

template <class T>
TileFn<T> best_tile() {
    static const TileFn<T> fn = select_tile<T>();
    return fn;
}

// A 4-row x 4-token tile, where one exists, replaces the 2-row tile: the float types on AVX-512
// hosts, whose 32 vector registers hold the 16 sums (8 loads per 16 multiply-adds, where the
// 2-row tile takes 6 per 8). Results equal four dots per row exactly, as the 2-row tiles do.
// y[t] receives token t's four outputs.
template <class T>
using Tile4Fn = void (*)(const typename T::Block* const* rows /* [4] */, const ActPtr<T>*, int, float* const* y /* [4] */);

template <class T>
Tile4Fn<T> select_tile4() {
#if defined(__x86_64__) || defined(__i386__)
    if (x86::has_avx512()) {
        if constexpr (T::id == GgmlType::F32) return &x86::tile4_f32_avx512;
        if constexpr (T::id == GgmlType::F16) return &x86::tile4_f16_avx512;
        if constexpr (T::id == GgmlType::BF16) return &x86::tile4_bf16_avx512;
    }
#endif
    return nullptr;
}

template <class T>
Tile4Fn<T> best_tile4() {
    static const Tile4Fn<T> fn = select_tile4<T>();
    return fn;
}

// The choice is made once per type per process.
template <class T>
DotFn<T> best_dot() {
    static const DotFn<T> fn = select_dot<T>();
    return fn;
}

// Groupwise formats (groupwise.hpp): the dot against int8 activation blocks, for rows and
// groups of whole 32-value blocks, and the dot against float activations for the rest.
using GroupwiseDotQ8 = float (*)(const GroupwiseLayout&, const GroupwiseRow&, const BlockQ8*);
using GroupwiseDotF32 = float (*)(const GroupwiseLayout&, const GroupwiseRow&, const float*);

inline GroupwiseDotQ8 select_groupwise_dot_q8() {
#if defined(__x86_64__) || defined(__i386__)
    if (x86::has_avx512_vnni()) return &x86::groupwise_dot_q8_vnni;
    if (x86::has_avx2()) return &x86::groupwise_dot_q8_avx2;
#endif
#if defined(__aarch64__)
#if TINYLLM_NEON_DOTPROD
    if (arm::has_dotprod()) return &neon::groupwise_dot_q8_dotprod;
#endif
    return &neon::groupwise_dot_q8;
#endif
#if defined(__HVX__)
    return &hvx::groupwise_dot_q8;
#endif
#if defined(__ARM_FEATURE_MVE)
    return &mve::groupwise_dot_q8;
#endif
    return &groupwise_dot_q8;
}

inline GroupwiseDotQ8 best_groupwise_dot_q8() {
    static const GroupwiseDotQ8 fn = select_groupwise_dot_q8();
    return fn;
}

inline GroupwiseDotF32 best_groupwise_dot_f32() { return TINYLLM_AVX2_OR(GroupwiseDotF32, groupwise_dot_f32_avx2, groupwise_dot_f32); }

using QuantizeRowQ8 = void (*)(const float*, BlockQ8*, int);

// Activations to q8_0 blocks (bit-identical to quantize_row_q8 on every path).
inline QuantizeRowQ8 best_quantize_row_q8() { return TINYLLM_AVX2_OR(QuantizeRowQ8, quantize_row_q8_avx2, quantize_row_q8); }

// Activations to Q8_K-style blocks (bit-identical to quantize_row_q8k on every path).
inline QuantizeRowQ8 best_quantize_row_q8k() { return TINYLLM_AVX2_OR(QuantizeRowQ8, quantize_row_q8k_avx2, quantize_row_q8k); }

using F32ToFp16Row = void (*)(const float*, uint16_t*, int64_t);
using RoundToFp16Row = void (*)(float*, int64_t);

inline F32ToFp16Row best_f32_to_fp16_row() { return TINYLLM_AVX2_OR(F32ToFp16Row, f32_to_fp16_row_f16c, f32_to_fp16_row); }

inline RoundToFp16Row best_round_to_fp16_row() { return TINYLLM_AVX2_OR(RoundToFp16Row, round_to_fp16_row_f16c, round_to_fp16_row); }

// Attention over the fp16 KV cache (type_float.hpp).
using DotRowsF16 = void (*)(const uint16_t*, int64_t, int, const uint16_t*, int, float*);
using WeightedSumF16 = void (*)(const float*, const uint16_t*, int64_t, int, float*, int);

inline DotRowsF16 best_dot_rows_f16() { return TINYLLM_AVX2_OR(DotRowsF16, dot_rows_f16_avx2, dot_rows_f16); }

inline WeightedSumF16 best_weighted_sum_f16() { return TINYLLM_AVX2_OR(WeightedSumF16, weighted_sum_f16_avx2, weighted_sum_f16); }

// Float activations against 16-bit rows holding exact copies of f32 weights (type_float.hpp).
using DotHalfF32 = float (*)(const uint16_t*, const float*, int);

inline DotHalfF32 best_dot_f16_f32() {
#if defined(__aarch64__)
    return &neon::dot_f16_f32;
#else
    return TINYLLM_AVX2_OR(DotHalfF32, dot_f16_f32_avx2, dot_f16_f32);
#endif
}

inline DotHalfF32 best_dot_bf16_f32() {
#if defined(__aarch64__)
    return &neon::dot_bf16_f32;
#else
    return TINYLLM_AVX2_OR(DotHalfF32, dot_bf16_f32_avx2, dot_bf16_f32);
#endif
}

// Whether those dots widen in vector instructions (F16C, AArch64's fcvtl), so that reading half
// the bytes is a gain; elsewhere each value widens by bit manipulation in scalar code.
inline bool half_dots_vectorized() {
#if defined(__x86_64__) || defined(__i386__)
    return x86::has_avx2();
#elif defined(__aarch64__)
    return true;
#else
    return false;
#endif
}

using VecmatF32 = void (*)(const float*, const float*, float*, int, int);

inline VecmatF32 best_vecmat_f32() { return TINYLLM_AVX2_OR(VecmatF32, vecmat_f32_avx2, vecmat_f32); }

inline TransposeU32 best_transpose_u32() { return TINYLLM_AVX2_OR(TransposeU32, transpose_u32_avx2, transpose_u32); }

// Row-interleaved matrices (interleaved.hpp): one unit (16 or 8 rows) against T tokens, or null
// where this CPU has no kernel for them (then matrices keep their plain layout).
using InterleavedUnitFn = void (*)(GgmlType, const uint8_t* unit, int unit_rows, int64_t cols, int64_t group, const BlockQ8* const*,
                                   float*, int64_t);

template <int T>
InterleavedUnitFn best_interleaved_unit() {
#if defined(__x86_64__) || defined(__i386__)
    static const InterleavedUnitFn fn = x86::has_avx512_vnni() ? &x86::interleaved_unit_vnni<T>
                                           : x86::has_avx2()       ? &x86::interleaved_unit_avx2<T>
                                                                   : nullptr;
    return fn;
#elif defined(__aarch64__) && TINYLLM_NEON_DOTPROD
    static const InterleavedUnitFn fn = arm::has_dotprod() ? &neon::interleaved_unit_dotprod<T> : nullptr;
    return fn;
#else
    return nullptr;
#endif
}

// Whether those kernels take a type (interleavable() says which shapes of it can be
// interleaved): on AArch64, the paired-scales types only.
inline bool interleaved_kernel_takes(GgmlType type) {
#if defined(__aarch64__)
    return type == GgmlType::Q4_0 || type == GgmlType::Q8_0 || type == GgmlType::TINYLLM_INT4;
#else
    (void)type;
    return true;
#endif
}

// The instruction sets the kernels chosen above use on this CPU (benchmarks report it).
inline const char* kernel_isa() {
#if defined(__x86_64__) || defined(__i386__)
    return x86::has_avx512_vnni() ? "x86 AVX2 + AVX-512 VNNI" : x86::has_avx2() ? "x86 AVX2" : "portable";
#elif defined(__aarch64__)
    if (arm::has_i8mm() && TINYLLM_NEON_I8MM) return arm::has_dotprod() && TINYLLM_NEON_DOTPROD ? "AArch64 NEON + dotprod + i8mm" : "AArch64 NEON + i8mm";
    return arm::has_dotprod() && TINYLLM_NEON_DOTPROD ? "AArch64 NEON + dotprod" : "AArch64 NEON";
#elif defined(__HVX__)
    return "Hexagon HVX";
#elif defined(__ARM_FEATURE_MVE)
    return (__ARM_FEATURE_MVE & 2) ? "Arm Helium (MVE integer and float)" : "Arm Helium (MVE integer)";
#else
    return "portable";
#endif
}

#undef TINYLLM_AVX2_OR

} // namespace tinyllm
