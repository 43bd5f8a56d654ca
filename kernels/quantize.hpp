// Quantizers: float rows to GGUF blocks, with the same rules as llama.cpp's reference
// quantizers (so a file written here loads and behaves in llama.cpp like its own). Each
// function encodes n_blocks blocks from n_blocks * block_elems floats.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/activation_q8.hpp"
#include "tinyllm/kernels/math.hpp"
#include "tinyllm/kernels/type_k_quants.hpp"
#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q4_1.hpp"
#include "tinyllm/kernels/type_q5.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"

// The scale searches compare float errors: a fused multiply-add rounds differently and
// would pick other codes on targets that contract a*b+c (ARM), so keep every product rounded.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace tinyllm::quantize {

inline float fabs_(float v) { return v < 0 ? -v : v; }
inline int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

inline void q8_0(const float* x, TypeQ8_0::Block* y, int n_blocks) {
    for (int b = 0; b < n_blocks; ++b, x += 32) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = fabs_(x[i]) > amax ? fabs_(x[i]) : amax;
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        for (int i = 0; i < 32; ++i) {
            float v = x[i] * id;
            y[b].qs[i] = int8_t(int(v + (v >= 0 ? 0.5f : -0.5f)));  // round half away from zero
        }
    }
}

// The value of largest magnitude, with its sign.
inline float signed_max(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; ++i)
        if (fabs_(x[i]) > amax) {
            amax = fabs_(x[i]);
            max = x[i];
        }
    return max;
}

// Q4_0 / Q5_0: d = max / -(2^(bits-1)) so the extreme value lands on code 0.
inline void q4_0(const float* x, TypeQ4_0::Block* y, int n_blocks) {
    for (int b = 0; b < n_blocks; ++b, x += 32) {
        const float d = signed_max(x, 32) / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        for (int j = 0; j < 16; ++j) {
            int lo = clamp(int(int8_t(x[j] * id + 8.5f)), 0, 15), hi = clamp(int(int8_t(x[j + 16] * id + 8.5f)), 0, 15);
            y[b].qs[j] = uint8_t(lo | hi << 4);
        }
    }
}

inline void q5_0(const float* x, TypeQ5_0::Block* y, int n_blocks) {
    for (int b = 0; b < n_blocks; ++b, x += 32) {
        const float d = signed_max(x, 32) / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            int lo = clamp(int(int8_t(x[j] * id + 16.5f)), 0, 31), hi = clamp(int(int8_t(x[j + 16] * id + 16.5f)), 0, 31);
            y[b].qs[j] = uint8_t((lo & 15) | (hi & 15) << 4);
            qh |= uint32_t(lo >> 4) << j | uint32_t(hi >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; ++k) y[b].qh[k] = uint8_t(qh >> (8 * k));
    }
}

// Q4_1 / Q5_1: an offset (the minimum) and a scale spanning [min, max].
template <class Block, int Levels>
inline void with_min(const float* x, Block* y, int n_blocks) {
    for (int b = 0; b < n_blocks; ++b, x += 32) {
        float min = x[0], max = x[0];
        for (int i = 1; i < 32; ++i) {
            min = x[i] < min ? x[i] : min;
            max = x[i] > max ? x[i] : max;
        }
        const float d = (max - min) / float(Levels), id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        y[b].m = f32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            int lo = clamp(int(uint8_t((x[j] - min) * id + 0.5f)), 0, Levels);
            int hi = clamp(int(uint8_t((x[j + 16] - min) * id + 0.5f)), 0, Levels);
            y[b].qs[j] = uint8_t((lo & 15) | (hi & 15) << 4);
            qh |= uint32_t(lo >> 4) << j | uint32_t(hi >> 4) << (j + 16);
        }
        if constexpr (sizeof(Block) == sizeof(TypeQ5_1::Block))
            for (int k = 0; k < 4; ++k) y[b].qh[k] = uint8_t(qh >> (8 * k));
    }
}

inline void q4_1(const float* x, TypeQ4_1::Block* y, int n_blocks) { with_min<TypeQ4_1::Block, 15>(x, y, n_blocks); }
inline void q5_1(const float* x, TypeQ5_1::Block* y, int n_blocks) { with_min<TypeQ5_1::Block, 31>(x, y, n_blocks); }

// Symmetric codes in [-nmax, nmax) for n values, searching scales around nmax / max for the
// one with the least weighted (w = x^2) squared error. Returns the scale; codes in L (+nmax).
inline float symmetric_codes(int n, int nmax, const float* x, int8_t* L) {
    const float max = signed_max(x, n);
    if (fabs_(max) < 1e-15f) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    auto fit = [&](float iscale, float& sumlx, float& suml2) {
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            int l = clamp(round_half_even(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
    };
    auto assign = [&](float iscale) {
        for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + clamp(round_half_even(iscale * x[i]), -nmax, nmax - 1));
    };
    float iscale = -float(nmax) / max, sumlx, suml2;
    fit(iscale, sumlx, suml2);
    assign(iscale);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        fit(iscale, sumlx, suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            assign(iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Codes in [0, nmax] with a scale and a (non-positive) minimum, searching scales for the least
// weighted squared error. Returns the scale; *neg_min receives -min.
inline float scale_min_codes(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; ++i) {
        min = x[i] < min ? x[i] : min;
        max = x[i] > max ? x[i] : max;
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = float(nmax) / (max - min), scale = 1.0f / iscale, best_error = 0.0f;
    for (int i = 0; i < n; ++i) {
        L[i] = uint8_t(clamp(round_half_even(iscale * (x[i] - min)), 0, nmax));
        float diff = scale * float(L[i]) + min - x[i];
        best_error += w[i] * diff * diff;
    }
    uint8_t trial[32];
    for (int step = 0; step <= 20; ++step) {
        iscale = (-1.0f + 0.1f * float(step) + float(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = clamp(round_half_even(iscale * (x[i] - min)), 0, nmax);
            trial[i] = uint8_t(l);
            sum_l += w[i] * float(l);
            sum_l2 += w[i] * float(l) * float(l);
            sum_xl += w[i] * float(l) * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D, this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; ++i) {
            float diff = this_scale * float(trial[i]) + this_min - x[i];
            err += w[i] * diff * diff;
        }
        if (err < best_error) {
            for (int i = 0; i < n; ++i) L[i] = trial[i];
            best_error = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

inline void q4_k(const float* x, TypeQ4_K::Block* y, int n_blocks) {
    for (int b = 0; b < n_blocks; ++b, x += 256) {
        uint8_t L[256];
        float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            const float av_x = math::sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) w[l] = av_x + fabs_(x[32 * j + l]);
            scales[j] = scale_min_codes(32, 15, x + 32 * j, w, L + 32 * j, &mins[j]);
            max_scale = scales[j] > max_scale ? scales[j] : max_scale;
            max_min = mins[j] > max_min ? mins[j] : max_min;
        }
        const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f, inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        for (int i = 0; i < 12; ++i) y[b].scales[i] = 0;
        for (int j = 0; j < 8; ++j) {
            int ls = clamp(round_half_even(inv_scale * scales[j]), 0, 63), lm = clamp(round_half_even(inv_min * mins[j]), 0, 63);
            if (j < 4) {
                y[b].scales[j] = uint8_t(ls);
                y[b].scales[j + 4] = uint8_t(lm);
            } else {
                y[b].scales[j + 4] = uint8_t((ls & 15) | (lm & 15) << 4);
                y[b].scales[j - 4] |= uint8_t((ls >> 4) << 6);
                y[b].scales[j] |= uint8_t((lm >> 4) << 6);
            }
        }
        y[b].d = f32_to_fp16(max_scale / 63.0f);
        y[b].dmin = f32_to_fp16(max_min / 63.0f);
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            k4_scale_min(y[b].scales, j, sc, m);
            const float d = fp16_to_f32(y[b].d) * float(sc);
            if (d == 0.0f) continue;
            const float dm = fp16_to_f32(y[b].dmin) * float(m);
            for (int i = 0; i < 32; ++i) L[32 * j + i] = uint8_t(clamp(round_half_even((x[32 * j + i] + dm) / d), 0, 15));
        }
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = uint8_t(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

inline void q6_k(const float* x, TypeQ6_K::Block* y, int n_blocks) {
    for (int b = 0; b < n_blocks; ++b, x += 256) {
        int8_t L[256];
        float scales[16], max_scale = 0, max_abs = 0;
        for (int g = 0; g < 16; ++g) {
            scales[g] = symmetric_codes(16, 32, x + 16 * g, L + 16 * g);
            if (fabs_(scales[g]) > max_abs) {
                max_abs = fabs_(scales[g]);
                max_scale = scales[g];
            }
        }
        TypeQ6_K::Block& out = y[b];
        for (auto& v : out.ql) v = 0;
        for (auto& v : out.qh) v = 0;
        if (max_abs < 1e-15f) {
            for (auto& v : out.scales) v = 0;
            out.d = f32_to_fp16(0.0f);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        out.d = f32_to_fp16(1.0f / iscale);
        for (int g = 0; g < 16; ++g) out.scales[g] = int8_t(clamp(round_half_even(iscale * scales[g]), -128, 127));
        for (int g = 0; g < 16; ++g) {
            const float d = fp16_to_f32(out.d) * float(out.scales[g]);
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; ++i) L[16 * g + i] = int8_t(clamp(round_half_even(x[16 * g + i] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; ++l) {
                const int8_t* q = L + 128 * h;
                out.ql[64 * h + l] = uint8_t((q[l] & 15) | (q[l + 64] & 15) << 4);
                out.ql[64 * h + l + 32] = uint8_t((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
                out.qh[32 * h + l] = uint8_t((q[l] >> 4) | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
            }
    }
}

} // namespace tinyllm::quantize

#if defined(__clang__)
#pragma clang fp contract(on)
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
