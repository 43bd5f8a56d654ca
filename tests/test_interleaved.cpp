// Row-interleaved layouts (kernels/interleaved.hpp): products over a repacked matrix equal the
// plain layout's reference dots, for every token count and thread count, and whole models keep
// their logits when loaded repacked.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <vector>

#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_quantize.hpp"
#include "model_support.hpp"
#include "tinyllm/core/interleave_weights.hpp"
#include "tinyllm/core/session.hpp"
#include "tinyllm/core/weights.hpp"

using namespace tinyllm;
using test_support::compare;
using test_support::Comparison;
using test_support::shared_path;

namespace {

struct Case {
    const char* name;
    GgmlType type;
    int64_t group;  // int4 only
};

const Case cases[] = {{"Q4_0", GgmlType::Q4_0, 0},          {"Q8_0", GgmlType::Q8_0, 0},
                      {"Q4_K", GgmlType::Q4_K, 0}, {"Q6_K", GgmlType::Q6_K, 0}, {"int4-g32", GgmlType::TINYLLM_INT4, 32},
                      {"int4-g64", GgmlType::TINYLLM_INT4, 64}, {"int4-g256", GgmlType::TINYLLM_INT4, 256}};

// y = W x through matmul, for a plain view and an interleaved copy of the same matrix.
std::vector<float> product(const WeightView& w, const std::vector<float>& x, int tokens) {
    std::vector<BlockQ8> q8(x.size() / 32 + 1);
    std::vector<uint16_t> half(x.size());
    std::vector<float> y(size_t(w.rows) * tokens);
    MatmulInput in;
    in.x = x.data();
    in.n_tokens = tokens;
    in.cols = int(w.cols);
    in.q8 = q8.data();
    in.half = half.data();
    matmul(w, in, y.data(), w.rows);
    return y;
}

} // namespace

TEST_CASE("interleaved products equal the plain layout's, for any token and thread count") {
    if (!best_interleaved_unit<1>()) {
        MESSAGE("skipped: this CPU has no interleaved kernels (they need AVX2, AVX-512 VNNI or AArch64 sdot)");
        return;
    }
    const int64_t rows = 24;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // 512 columns: an even number of scale groups for every type; 416 (13 blocks) leaves Q4_0,
    // Q8_0 and int4-g32 a last unpaired group.
    for (const int64_t cols : {512, 416}) {
        for (const Case& c : cases) {
            if (!interleavable(c.type, cols, rows, c.group ? c.group : cols) || !interleaved_kernel_takes(c.type)) continue;
            CAPTURE(c.name);
            CAPTURE(cols);
            std::vector<float> w(size_t(rows * cols)), x(size_t(cols) * 6);
            for (float& v : w) v = normal(rng);
            for (float& v : x) v = normal(rng);
            std::vector<uint8_t> plain = detail::encode(c.type, w, cols, rows, c.group);
            const uint64_t row_bytes = plain.size() / size_t(rows);
            const WeightView plain_view{c.type, plain.data(), cols, rows, row_bytes, c.group ? c.group : cols};
            std::vector<uint8_t> packed = plain, scratch(interleave_rows_per_unit * row_bytes);
            interleave_rows(c.type, cols, rows, plain_view.group, packed.data(), row_bytes, scratch.data());
            CHECK(packed != plain);
            WeightView packed_view = plain_view;
            packed_view.data = packed.data();
            packed_view.interleaved = true;

            const std::vector<float> expected = product(plain_view, x, 6);
            set_thread_count(1);
            const std::vector<float> one_thread = product(packed_view, x, 6);
            set_thread_count(2);
            const std::vector<float> two_threads = product(packed_view, x, 6);
            CHECK(one_thread == two_threads);
            for (size_t i = 0; i < expected.size(); ++i)
                CHECK(one_thread[i] == doctest::Approx(expected[i]).epsilon(1e-5).scale(std::sqrt(float(cols))));
#if defined(__aarch64__)
            if (c.type != GgmlType::TINYLLM_INT4) CHECK(one_thread == expected);  // AArch64's Q4_0 and Q8_0: the plain kernels' bits
#endif
            // Token t alone gives the same values as inside a batch of any size (4-token passes,
            // then one pass of the last 1-3 tokens).
            for (int t = 0; t < 6; ++t) {
                const std::vector<float> xt(x.begin() + t * cols, x.begin() + (t + 1) * cols);
                const std::vector<float> alone = product(packed_view, xt, 1);
                CHECK(std::equal(alone.begin(), alone.end(), one_thread.begin() + t * rows));
            }
            for (int n = 2; n < 6; ++n) {
                CAPTURE(n);
                const std::vector<float> batch = product(packed_view, x, n);
                CHECK(std::equal(batch.begin(), batch.end(), one_thread.begin()));
            }
        }
    }
}

TEST_CASE("a group of products over one input gives each product's own values") {
    if (!best_interleaved_unit<1>()) {
        MESSAGE("skipped: this CPU has no interleaved kernels (they need AVX2, AVX-512 VNNI or AArch64 sdot)");
        return;
    }
    // Three matrices of different types and row counts: the first two share one loop (both
    // interleaved, one activation format); adding a plain matrix makes the group run one by one.
    const int64_t cols = 512, tokens = 5;
    struct Spec { GgmlType type; int64_t rows; bool interleave; };
    const bool k_quants = interleaved_kernel_takes(GgmlType::Q4_K);
    const Spec specs[] = {{k_quants ? GgmlType::Q4_K : GgmlType::Q4_0, 40, true}, {k_quants ? GgmlType::Q6_K : GgmlType::Q8_0, 24, true},
                          {k_quants ? GgmlType::Q8_0 : GgmlType::Q6_K, 16, false}};
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(size_t(cols * tokens));
    for (float& v : x) v = normal(rng);
    std::vector<std::vector<uint8_t>> storage;
    std::vector<WeightView> views;
    for (const auto& spec : specs) {
        std::vector<float> w(size_t(spec.rows * cols));
        for (float& v : w) v = normal(rng);
        storage.push_back(detail::encode(spec.type, w, cols, spec.rows, 0));
        const uint64_t row_bytes = storage.back().size() / size_t(spec.rows);
        WeightView view{spec.type, storage.back().data(), cols, spec.rows, row_bytes, cols};
        if (spec.interleave) {
            std::vector<uint8_t> scratch(interleave_rows_per_unit * row_bytes);
            interleave_rows(spec.type, cols, spec.rows, cols, storage.back().data(), row_bytes, scratch.data());
            view.interleaved = true;
        }
        views.push_back(view);
    }
    std::vector<BlockQ8> q8(x.size() / 32);
    std::vector<uint16_t> half(x.size());
    auto input = [&] {
        MatmulInput in;
        in.x = x.data();
        in.n_tokens = int(tokens);
        in.cols = int(cols);
        in.q8 = q8.data();
        in.half = half.data();
        return in;
    };
    // Outputs with a row stride wider than the matrix, as q, k and v write into their buffers.
    const int64_t stride = 48;
    std::vector<std::vector<float>> grouped(3, std::vector<float>(size_t(stride * tokens), -1.0f));
    for (int threads : {1, 2}) {
        set_thread_count(threads);
        MatmulInput in = input();
        matmul_group<2>({{&views[0], grouped[0].data(), stride}, {&views[1], grouped[1].data(), stride}}, in);
        MatmulInput mixed_in = input();
        matmul_group<2>({{&views[1], grouped[1].data(), stride}, {&views[2], grouped[2].data(), stride}}, mixed_in);
        for (int i = 0; i < 3; ++i) {
            CAPTURE(i);
            std::vector<float> alone(size_t(stride * tokens), -1.0f);
            MatmulInput single_in = input();
            matmul(views[size_t(i)], single_in, alone.data(), stride);
            CHECK(grouped[size_t(i)] == alone);
        }
    }
}

TEST_CASE("a row gives the same values in a 16-row unit and in a last 8-row unit") {
    if (!best_interleaved_unit<1>()) {
        MESSAGE("skipped: this CPU has no interleaved kernels (they need AVX2, AVX-512 VNNI or AArch64 sdot)");
        return;
    }
    // Rows 8..23 of a 24-row matrix: in its first (16-row) and last (8-row) units there, and
    // alone as one 16-row unit. Each row must come out bit-identical both ways.
    const int64_t rows = 24, cols = 512;
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> w(size_t(rows * cols)), x(size_t(cols) * 5);
    for (float& v : w) v = normal(rng);
    for (float& v : x) v = normal(rng);
    for (const Case& c : cases) {
        if (!interleaved_kernel_takes(c.type)) continue;
        CAPTURE(c.name);
        const int64_t group = c.group ? c.group : cols;
        auto packed_product = [&](int64_t first_row, int64_t n_rows) {
            const std::vector<float> part(w.begin() + first_row * cols, w.begin() + (first_row + n_rows) * cols);
            std::vector<uint8_t> bytes = detail::encode(c.type, part, cols, n_rows, c.group);
            const uint64_t row_bytes = bytes.size() / size_t(n_rows);
            std::vector<uint8_t> scratch(interleave_rows_per_unit * row_bytes);
            interleave_rows(c.type, cols, n_rows, group, bytes.data(), row_bytes, scratch.data());
            WeightView view{c.type, bytes.data(), cols, n_rows, row_bytes, group};
            view.interleaved = true;
            return product(view, x, 5);
        };
        const std::vector<float> all = packed_product(0, rows), tail = packed_product(8, 16);
        for (int t = 0; t < 5; ++t)
            CHECK(std::equal(tail.begin() + t * 16, tail.begin() + (t + 1) * 16, all.begin() + t * rows + 8));
    }
}

#if defined(__x86_64__) || defined(__i386__)
// One instruction set's unit kernels for 1 to 4 tokens per pass.
struct UnitKernels {
    InterleavedUnitFn by_tokens[5];
};

// y = W x over an interleaved matrix with the given unit kernels (4 tokens at a time, then the
// last 1-3 tokens in one pass, as matmul_interleaved runs them).
std::vector<float> unit_product(const UnitKernels& kernels, const WeightView& w, std::vector<float> x, int tokens) {
    std::vector<BlockQ8> q8(x.size() / 32);
    MatmulInput in;
    in.x = x.data();
    in.n_tokens = tokens;
    in.cols = int(w.cols);
    in.q8 = q8.data();
    const BlockQ8* act = in.as_q8(interleaved_act_format(w.type));
    const int64_t act_stride = w.cols / 32;
    std::vector<float> y(size_t(w.rows) * tokens, -1.0f);
    for (int64_t first = 0; first < w.rows; first += interleave_rows_per_unit) {
        const int unit_rows = interleave_unit_rows(w.rows, first);
        const uint8_t* unit = w.data + first * int64_t(w.row_bytes);
        for (int t = 0; t < tokens; t += 4) {
            const int n = tokens - t < 4 ? tokens - t : 4;
            const BlockQ8* acts[4] = {};
            for (int k = 0; k < n; ++k) acts[k] = act + (t + k) * act_stride;
            kernels.by_tokens[n](w.type, unit, unit_rows, w.cols, w.group, acts, y.data() + t * w.rows + first, w.rows);
        }
    }
    return y;
}

TEST_CASE("the AVX2 kernels give the plain layout's values, and the VNNI kernels' bit for bit") {
    if (!x86::has_avx2()) {
        MESSAGE("skipped: this CPU has no AVX2");
        return;
    }
    // 24 rows: a 16-row unit, then an 8-row one. 416 columns leave Q4_0, Q8_0 and int4-g32 a
    // last unpaired group. The extreme case tests the int16 sums' headroom: every block's first
    // value sets its scale, the rest quantize to the largest code, and every activation code is
    // 127 (a saturating sum comes out far off).
    const int64_t rows = 24, tokens = 7;
    const UnitKernels avx2_kernels{{nullptr, &x86::interleaved_unit_avx2<1>, &x86::interleaved_unit_avx2<2>, &x86::interleaved_unit_avx2<3>,
                                    &x86::interleaved_unit_avx2<4>}};
    const UnitKernels vnni_kernels{{nullptr, &x86::interleaved_unit_vnni<1>, &x86::interleaved_unit_vnni<2>, &x86::interleaved_unit_vnni<3>,
                                    &x86::interleaved_unit_vnni<4>}};
    std::mt19937 rng(13);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const bool extreme : {false, true})
    for (const int64_t cols : {512, 416}) {
        for (const Case& c : cases) {
            if (!interleavable(c.type, cols, rows, c.group ? c.group : cols) || !interleaved_kernel_takes(c.type)) continue;
            CAPTURE(c.name);
            CAPTURE(cols);
            CAPTURE(extreme);
            std::vector<float> w(size_t(rows * cols)), x(size_t(cols) * tokens);
            for (size_t i = 0; i < w.size(); ++i) w[i] = extreme ? (i % 16 == 0 ? -1.0f : 0.99f) : normal(rng);
            for (float& v : x) v = extreme ? 1.0f : normal(rng);
            std::vector<uint8_t> plain = detail::encode(c.type, w, cols, rows, c.group);
            const uint64_t row_bytes = plain.size() / size_t(rows);
            const WeightView plain_view{c.type, plain.data(), cols, rows, row_bytes, c.group ? c.group : cols};
            std::vector<uint8_t> packed = plain, scratch(interleave_rows_per_unit * row_bytes);
            interleave_rows(c.type, cols, rows, plain_view.group, packed.data(), row_bytes, scratch.data());
            WeightView packed_view = plain_view;
            packed_view.data = packed.data();
            packed_view.interleaved = true;

            // 7 tokens: a 4-token pass, then a 3-token one; 6 and 5 end with 2 and 1.
            const std::vector<float> avx2 = unit_product(avx2_kernels, packed_view, x, tokens);
            const std::vector<float> expected = product(plain_view, x, tokens);
            for (size_t i = 0; i < expected.size(); ++i)
                CHECK(avx2[i] == doctest::Approx(expected[i]).epsilon(1e-5).scale(std::sqrt(float(cols))));
            for (int n = 5; n < tokens; ++n) {
                CAPTURE(n);
                const std::vector<float> fewer = unit_product(avx2_kernels, packed_view, x, n);
                CHECK(std::equal(fewer.begin(), fewer.end(), avx2.begin()));
            }
            if (x86::has_avx512_vnni())
                CHECK(avx2 == unit_product(vnni_kernels, packed_view, x, tokens));
            else
                MESSAGE("no AVX-512 VNNI here: AVX2 results checked against the plain layout only");
        }
    }
}
#endif

TEST_CASE("shapes without an interleaved layout stay plain") {
    CHECK_FALSE(interleavable(GgmlType::Q4_0, 512, 12, 0));           // rows not a multiple of 8
    CHECK_FALSE(interleavable(GgmlType::Q4_K, 320, 16, 0));           // not whole super-blocks
    CHECK_FALSE(interleavable(GgmlType::TINYLLM_INT4, 320, 16, 128)); // tail group
    CHECK_FALSE(interleavable(GgmlType::F16, 512, 16, 0));
    CHECK(interleavable(GgmlType::TINYLLM_INT4, 512, 16, 128));
}

TEST_CASE("models loaded repacked keep their logits") {
    if (!best_interleaved_unit<1>()) {
        MESSAGE("skipped: this CPU has no interleaved kernels (they need AVX2, AVX-512 VNNI or AArch64 sdot)");
        return;
    }
    for (const char* path : {"models/shakespeare5m-q4_0.gguf", "models/shakespeare5m-q8_0.gguf",
                             "models/shakespeare5m-q4_k_m.gguf"}) {
        if (!test_support::require_shared(path)) return;
        INFO("model ", std::string(path));
        std::vector<std::vector<float>> logits;
        int repacked = 0;
        bool takes = false;  // whether this CPU's kernels take the model's wq or w_down type
        for (bool repack : {false, true}) {
            GgufModelFile file;
            REQUIRE(file.open(shared_path(path)).ok());
            Model m;
            REQUIRE(file.load(m, repack).ok());
            takes = interleaved_kernel_takes(m.layers[0].wq.type) || interleaved_kernel_takes(m.layers[0].w_down.type);
            for (int l = 0; l < m.config.n_layer; ++l) repacked += m.layers[l].w_down.interleaved + m.layers[l].wq.interleaved;
            logits.push_back(test_support::prompt_logits(m, {1, 870, 983, 13, 1002, 322, 379}));
        }
        CHECK((repacked > 0) == takes);
        // Summation order differs, and a last-bit difference can flip an int8 activation
        // rounding in a later layer; that stays far below the quantized tolerance (0.05).
        const Comparison c = compare(logits[1], logits[0], int(logits[0].size() / 7));
        CHECK(c.max_nrmse < 0.005);
        CHECK(c.argmax_equal == 7);
    }
}

TEST_CASE("a matrix shared by two views is repacked once; overlapping matrices stay plain") {
    if (!best_interleaved_unit<1>()) {
        MESSAGE("skipped: this CPU has no interleaved kernels (they need AVX2, AVX-512 VNNI or AArch64 sdot)");
        return;
    }
    const char* path = "models/shakespeare5m-q4_0.gguf";
    if (!test_support::require_shared(path)) return;
    const std::vector<uint8_t> file = test_support::read_bytes(shared_path(path));
    auto repack = [](test_support::InMemoryModel& im) {
        std::vector<uint8_t> scratch(interleave_scratch_bytes(im.model, im.bytes.data(), im.bytes.size()));
        return interleave_weights(im.model, im.bytes.data(), im.bytes.size(), scratch.data(), scratch.size());
    };
    test_support::InMemoryModel plain(file);
    const WeightView wq = plain.model.layers[0].wq;
    std::vector<float> x(size_t(wq.cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i));
    const std::vector<float> expected = product(wq, x, 1);

    test_support::InMemoryModel shared(file);
    LayerWeights& s0 = shared.model.layers[0];
    s0.wk = s0.wq;  // two views of one matrix
    CHECK(repack(shared) > 0);
    CHECK(s0.wq.interleaved);
    CHECK(s0.wk.interleaved);
    const std::vector<float> via_second_view = product(s0.wk, x, 1);
    for (size_t i = 0; i < expected.size(); ++i) CHECK(via_second_view[i] == doctest::Approx(expected[i]).epsilon(1e-5).scale(1.0));

    test_support::InMemoryModel overlapping(file);
    LayerWeights& o0 = overlapping.model.layers[0];
    o0.wk = detail::row_range(o0.wq, 8, 16);  // rows 8..23 of wq
    CHECK(repack(overlapping) > 0);
    CHECK_FALSE(o0.wq.interleaved);
    CHECK_FALSE(o0.wk.interleaved);
    CHECK(overlapping.model.layers[1].wq.interleaved);
    CHECK(product(o0.wq, x, 1) == expected);  // its bytes untouched, read in the plain layout
}

TEST_CASE("a repacking load works on a private copy of the file; nothing read before it moves") {
    if (!best_interleaved_unit<1>()) {
        MESSAGE("skipped: this CPU has no interleaved kernels (they need AVX2, AVX-512 VNNI or AArch64 sdot)");
        return;
    }
    const char* path = "models/shakespeare5m-q4_0.gguf";
    if (!test_support::require_shared(path)) return;
    const std::vector<uint8_t> on_disk = test_support::read_bytes(shared_path(path));

    GgufModelFile plain;
    REQUIRE(plain.open(shared_path(path)).ok());
    const uint8_t* mapped = plain.mapping.bytes().data;
    Model unpacked;
    REQUIRE(plain.load(unpacked, false).ok());
    CHECK(plain.mapping.bytes().data == mapped);  // no repacking, no copy

    GgufModelFile file;
    REQUIRE(file.open(shared_path(path)).ok());
    const ByteSpan before = file.mapping.bytes();
    const Result<StrView> arch = file.gguf.get_string("general.architecture");
    REQUIRE(arch.ok());
    Model m;
    REQUIRE(file.load(m).ok());
    const ByteSpan after = file.mapping.bytes();
    CHECK(after.data != before.data);
    CHECK(after.size == before.size);
    CHECK(m.layers[0].wq.interleaved);
    CHECK(m.layers[0].wq.data >= after.data);
    CHECK(m.layers[0].wq.data < after.data + after.size);
    // The metadata view taken before load still reads the mapping; the copy holds the file's
    // header and tensor table, and its embedding table (never repacked) as in the file.
    CHECK(std::string(arch.value.ptr, arch.value.len) == "llama");
    const uint8_t* first_data = after.data + after.size;
    for (uint64_t i = 0; i < file.gguf.n_tensors; ++i) first_data = std::min(first_data, file.gguf.tensors[i].data);
    CHECK(first_data > after.data + 1000);
    CHECK(std::equal(after.data, first_data, on_disk.begin()));
    const size_t embd_at = size_t(m.token_embd.data - after.data), embd_bytes = size_t(m.token_embd.rows) * m.token_embd.row_bytes;
    CHECK(std::equal(after.data + embd_at, after.data + embd_at + embd_bytes, on_disk.begin() + long(embd_at)));
    CHECK(std::equal(before.data, before.data + before.size, on_disk.begin()));  // the mapping is unchanged
    CHECK(uintptr_t(after.data + file.gguf.data_offset) % 64 == 0);
}

TEST_CASE("a private copy puts the asked-for file offset on a 64-byte boundary") {
    const std::string path = "interleaved_copy_test.bin";
    std::vector<uint8_t> bytes(5000);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 31 + 7);
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    for (uint64_t offset : {0, 32, 96, 4001}) {
        MappedFile file;
        REQUIRE(file.open(path).ok());
        const uint8_t* mapped = file.bytes().data;
        REQUIRE(file.copy_to_private_memory(offset).ok());
        CAPTURE(offset);
        CHECK(file.bytes().data != mapped);
        CHECK(uintptr_t(file.bytes().data + offset) % 64 == 0);
        REQUIRE(file.bytes().size == bytes.size());
        CHECK(std::equal(bytes.begin(), bytes.end(), file.bytes().data));
    }
    std::remove(path.c_str());
}
