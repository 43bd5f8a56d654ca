// HVX kernel tests under qemu-hexagon: every HVX kernel (Q8_0, Q4_0, groupwise int4/int8,
// activation abs-max) against the generic kernel on the same pseudo-random inputs, including
// odd block counts, tail chunks and unaligned data. Both sum the same integers in the same
// order, so results must be bit-identical.
#include <stdint.h>

#include "tinyllm/kernels/dot_dispatch.hpp"
#include "runtime.hpp"

using namespace tinyllm;

namespace {

uint32_t rng_state = 12345;
uint32_t next() {  // xorshift32
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

int passed = 0, failed = 0;

void report(const char* name, int n_blocks, int offset, bool ok) {
    (ok ? passed : failed)++;
    if (ok) return;
    hexagon_rt::write_str("FAIL: ");
    hexagon_rt::write_str(name);
    hexagon_rt::write_str(" blocks=");
    hexagon_rt::write_int(n_blocks);
    hexagon_rt::write_str(" offset=");
    hexagon_rt::write_int(offset);
    hexagon_rt::write_str("\n");
}

constexpr int max_blocks = 40;
// Raw storage, so blocks can start at any byte offset (GGUF rows are only 2-byte aligned).
alignas(128) uint8_t weight_bytes[max_blocks * 34 + 8];
alignas(128) uint8_t act_bytes[max_blocks * sizeof(BlockQ8) + 8];
float x[max_blocks * 32];

template <class T>
void check(const char* name, float (*hvx_dot)(const typename T::Block*, const BlockQ8*, int)) {
    static const int block_counts[] = {1, 2, 3, 4, 5, 7, 8, 33, 40};
    static const int offsets[] = {0, 2, 6};
    for (int n_blocks : block_counts) {
        for (int offset : offsets) {
            auto* w = reinterpret_cast<typename T::Block*>(weight_bytes + offset);
            for (size_t i = 0; i < size_t(n_blocks) * sizeof(typename T::Block); ++i) weight_bytes[offset + i] = uint8_t(next());
            for (int b = 0; b < n_blocks; ++b) w[b].d = f32_to_fp16(float(int(next() % 2000) - 1000) * 1e-5f);
            for (int i = 0; i < n_blocks * 32; ++i) x[i] = float(int(next() % 20001) - 10000) * 1e-3f;
            // BlockQ8 holds floats: keep it 4-byte aligned, vary only by whole words.
            auto* a = reinterpret_cast<BlockQ8*>(act_bytes + (offset / 4) * 4);
            quantize_row_q8(x, a, n_blocks * 32);
            const float expected = DotTraits<T>::reference(w, a, n_blocks);
            const float got = hvx_dot(w, a, n_blocks);
            report(name, n_blocks, offset, __builtin_bit_cast(uint32_t, expected) == __builtin_bit_cast(uint32_t, got));
        }
    }
}

// Groupwise int4/int8 rows (groupwise.hpp) of several lengths and group sizes, with and
// without zero points, at unaligned row starts.
alignas(128) uint8_t row_bytes[2048 + 8];
alignas(128) uint8_t scale_bytes[64 * 2 + 8];
int8_t zero_points[64];

void check_groupwise() {
    static const int lengths[] = {32, 96, 128, 160, 512, 1024};
    static const int groups[] = {32, 64, 128, 256};
    static const int widths[] = {4, 8};
    for (int bits : widths)
        for (int cols : lengths)
            for (int group : groups)
                for (int variant = 0; variant < 2; ++variant) {
                    if (group > cols) continue;
                    const int offset = variant ? 3 : 0;
                    GroupwiseLayout l{bits, cols, group, GroupScale::f16};
                    for (int64_t i = 0; i < l.code_bytes(); ++i) row_bytes[offset + i] = uint8_t(next());
                    for (int64_t g = 0; g < l.groups(); ++g) {
                        const uint16_t h = f32_to_fp16(float(int(next() % 1000) + 1) * 1e-4f);
                        __builtin_memcpy(scale_bytes + 2 * g, &h, 2);
                        zero_points[g] = int8_t(int(next() % 16) - 8);
                    }
                    for (int i = 0; i < cols; ++i) x[i] = float(int(next() % 20001) - 10000) * 1e-3f;
                    auto* a = reinterpret_cast<BlockQ8*>(act_bytes);
                    quantize_row_q8(x, a, cols);
                    const GroupwiseRow row{row_bytes + offset, scale_bytes, variant ? zero_points : nullptr};
                    const float expected = groupwise_dot_q8(l, row, a);
                    const float got = hvx::groupwise_dot_q8(l, row, a);
                    report(bits == 4 ? "hvx groupwise int4" : "hvx groupwise int8", cols, group,
                           __builtin_bit_cast(uint32_t, expected) == __builtin_bit_cast(uint32_t, got));
                }
}

// Activation quantization (HVX abs-max) against the portable loop, value by value.
void check_activation_quantization() {
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 32; ++i) x[i] = float(int(next() % 20001) - 10000) * (round % 2 ? 1e-5f : 3e-2f);
        if (round == 7)
            for (int i = 0; i < 32; ++i) x[i] = 0.0f;  // all zeros: scale 0
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = (x[i] < 0 ? -x[i] : x[i]) > amax ? (x[i] < 0 ? -x[i] : x[i]) : amax;
        report("hvx activation abs-max", round, 0, __builtin_bit_cast(uint32_t, hvx::abs_max32(x)) == __builtin_bit_cast(uint32_t, amax));
    }
}

} // namespace

extern "C" int main() {
    check_groupwise();
    check_activation_quantization();
    report("dispatch picks HVX for groupwise", 0, 0, best_groupwise_dot_q8() == &hvx::groupwise_dot_q8);
    check<TypeQ8_0>("hvx dot Q8_0", hvx::dot_q8_0);
    check<TypeQ4_0>("hvx dot Q4_0", hvx::dot_q4_0);
    // The dispatcher must pick the HVX kernels on this target.
    report("dispatch picks HVX for Q8_0", 0, 0, best_dot<TypeQ8_0>() == &hvx::dot_q8_0);
    report("dispatch picks HVX for Q4_0", 0, 0, best_dot<TypeQ4_0>() == &hvx::dot_q4_0);
    hexagon_rt::write_str("hexagon kernels: ");
    hexagon_rt::write_int(passed);
    hexagon_rt::write_str(" passed, ");
    hexagon_rt::write_int(failed);
    hexagon_rt::write_str(" failed\n");
    return failed == 0 ? 0 : 1;
}
