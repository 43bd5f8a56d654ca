// Each Helium kernel (kernels/dot_mve.hpp) against the generic kernel it replaces, bit for bit,
// over random rows of every length class (whole vector steps and tails) and every groupwise
// shape (int4/int8, group sizes, a tail group, zero points, f32/f16/bf16 scales). Float inputs
// stay in the normal range: Helium flushes subnormal results to zero (dot_mve.hpp). Prints 'kernels: N passed, M failed'.
#include <stdio.h>
#include <string.h>

#include <initializer_list>

#include "tinyllm/kernels/dot_mve.hpp"
#include "tinyllm/kernels/groupwise.hpp"

#if !defined(__ARM_FEATURE_MVE) || !(__ARM_FEATURE_MVE & 2)
#error "check_kernels is for a core with Helium integer and float (-mcpu=cortex-m55)"
#endif

namespace {

using namespace tinyllm;

uint32_t state = 12345;
uint32_t next() {  // xorshift32
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}
float uniform() { return float(next() >> 8) / float(1 << 24) * 2.0f - 1.0f; }  // [-1, 1)

int passed = 0, failed = 0;
void check(bool same, const char* what, int n) {
    if (same) {
        ++passed;
    } else if (failed++ < 10) {
        printf("FAIL: %s, n = %d\n", what, n);
    }
}
bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

constexpr int max_blocks = 40, max_values = max_blocks * 32;
float x[max_values], y[max_values];
BlockQ8 acts[max_blocks];
TypeQ8_0::Block q8[max_blocks];
TypeQ4_0::Block q4[max_blocks];
uint8_t codes[max_values], scales[4 * max_blocks];
int8_t zeros[max_blocks];

void random_activations(int n_blocks) {
    for (int i = 0; i < n_blocks * 32; ++i) x[i] = uniform() * 3.0f;
    quantize_row_q8(x, acts, n_blocks * 32);
}

void check_quantized() {
    for (int n = 1; n <= 33; ++n) {
        random_activations(n);
        for (int b = 0; b < n; ++b) {
            q8[b].d = q4[b].d = f32_to_fp16(uniform() * 0.05f + 0.06f);
            for (int i = 0; i < 32; ++i) q8[b].qs[i] = int8_t(next());
            for (int i = 0; i < 16; ++i) q4[b].qs[i] = uint8_t(next());
        }
        check(same_bits(mve::dot_q8_0(q8, acts, n), TypeQ8_0::dot(q8, acts, n)), "Q8_0 dot", n);
        check(same_bits(mve::dot_q4_0(q4, acts, n), TypeQ4_0::dot(q4, acts, n)), "Q4_0 dot", n);
    }
}

void check_groupwise() {
    const GroupScale scale_types[] = {GroupScale::f32, GroupScale::f16, GroupScale::bf16};
    for (int bits : {4, 8})
        for (int64_t group : {32, 64, 128})
            for (int64_t cols : {int64_t(32), int64_t(96), int64_t(320), int64_t(max_values)})
                for (GroupScale scale_type : scale_types)
                    for (bool with_zeros : {false, true}) {
                        const GroupwiseLayout l{bits, cols, group, scale_type};
                        random_activations(int(cols / 32));
                        for (int64_t i = 0; i < l.code_bytes(); ++i) codes[i] = uint8_t(next());
                        for (int64_t g = 0; g < l.groups(); ++g) {
                            const float s = uniform() * 0.05f + 0.06f;
                            if (scale_type == GroupScale::f32) memcpy(scales + 4 * g, &s, 4);
                            const uint16_t h = scale_type == GroupScale::f16 ? f32_to_fp16(s) : f32_to_bf16(s);
                            if (scale_type != GroupScale::f32) memcpy(scales + 2 * g, &h, 2);
                            zeros[g] = int8_t(next() % 16) - 8;
                        }
                        const GroupwiseRow row{codes, scales, with_zeros ? zeros : nullptr};
                        check(same_bits(mve::groupwise_dot_q8(l, row, acts), groupwise_dot_q8(l, row, acts)), "groupwise dot", int(cols));
                    }
}

void check_float() {
    for (int n = 1; n <= 67; ++n) {
        for (int i = 0; i < n; ++i) {
            x[i] = uniform();
            y[i] = uniform();
        }
        check(same_bits(mve::dot_f32(reinterpret_cast<const TypeF32::Block*>(x), y, n),
                        TypeF32::dot(reinterpret_cast<const TypeF32::Block*>(x), y, n)), "F32 dot", n);
    }
}

} // namespace

int main() {
    check_quantized();
    check_groupwise();
    check_float();
    printf("kernels: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
