// Kernel microbenchmarks (Google Benchmark): matrix-vector (decode) and matrix-matrix
// (prompt, 128 tokens) products for every weight type the quantizers can write, at 1 and 2
// threads. Reports effective GB/s of weights read, GFLOP/s, and the fraction of this machine's
// measured read bandwidth each GEMV reaches. Each benchmark cycles through enough copies of its
// matrix to fill 8 times the reported last-level cache, so every product streams its weights
// from memory (a 25 MB Q4_0 matrix would otherwise be served from a 32 MB L3, and a VM's two
// cores may sit on two chiplets with an L3 each). Beside the float prompt products, Eigen's
// float GEMM on one thread (where Eigen is installed), streaming its copies the same way: the
// anchor for F32 and F16 (its weights widened to float, as Eigen has no F16 GEMM of its own).
//
//   bench/kernels [--benchmark_filter=Q4_0] [--benchmark_min_time=0.2]
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tinyllm/loaders/host/gguf_quantize.hpp"
#include "tinyllm/loaders/host/private_memory.hpp"
#include "word_sum.hpp"
#if defined(TINYLLM_BENCH_EIGEN)
#include "eigen_gemm.hpp"
#endif
#include "tinyllm/core/weights.hpp"

using namespace tinyllm;

namespace {

// Read bandwidth (bytes/s) of the pool's threads summing `bytes` of memory, best of 3. Each
// benchmark measures it over its own matrices just before its products, so the fraction it
// reports compares the two on the same memory at the same moment (machines here drift).
double read_bandwidth(const std::vector<const uint8_t*>& buffers, size_t bytes) {
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        uint64_t total = 0;
        for (const uint8_t* b : buffers) total += bench::parallel_word_sum(reinterpret_cast<const uint64_t*>(b), int64_t(bytes / 8));
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(total);
        best = std::max(best, double(bytes) * double(buffers.size()) / dt);
    }
    return best;
}

// Bytes of weights to cycle through so that none of them is still cached when it is read again.
size_t streaming_bytes() {
    long l3 = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    return size_t(8) * size_t(l3 > 0 ? l3 : 32L << 20);
}

struct Matrix {
    std::vector<uint8_t> bytes;
    WeightView view;
};

// The float weights every benchmark's matrix is made from, and the activations it multiplies.
std::vector<float> random_weights(int64_t rows, int64_t cols) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> w(size_t(rows * cols));
    for (float& v : w) v = normal(rng);
    return w;
}
std::vector<float> activations(int64_t cols, int tokens) {
    std::vector<float> x(size_t(cols) * size_t(tokens));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i));
    return x;
}

// group: values per group for tinyllm's groupwise types (0 = per row).
Matrix make_matrix(GgmlType type, int64_t rows, int64_t cols, int64_t group) {
    const std::vector<float> w = random_weights(rows, cols);
    Matrix m;
    if (type == GgmlType::F16 || type == GgmlType::BF16) {
        m.bytes.resize(w.size() * 2);
        for (size_t i = 0; i < w.size(); ++i) {
            uint16_t h = type == GgmlType::F16 ? f32_to_fp16(w[i]) : f32_to_bf16(w[i]);
            std::memcpy(m.bytes.data() + 2 * i, &h, 2);
        }
    } else {
        m.bytes = detail::encode(type, w, cols, rows, group);
    }
    m.view = WeightView{type, m.bytes.data(), cols, rows, m.bytes.size() / size_t(rows), group ? group : cols};
    // The layout the engine runs: row-interleaved where this CPU has kernels for it.
    if (best_interleaved_unit<1>() && interleavable(type, cols, rows, m.view.group)) {
        std::vector<uint8_t> scratch(interleave_rows_per_unit * m.view.row_bytes);
        interleave_rows(type, cols, rows, m.view.group, m.bytes.data(), m.view.row_bytes, scratch.data());
        m.view.interleaved = true;
    }
    return m;
}

void run(benchmark::State& state, GgmlType type, int64_t group, int64_t rows, int64_t cols, int tokens) {
    const int threads = int(state.range(0));
    tinyllm::set_thread_count(threads);
    // Copies of the matrix side by side in the kind of memory the engine's repacked weights
    // live in (PrivateMemory: 2 MiB pages where granted).
    const Matrix m = make_matrix(type, rows, cols, group);
    const size_t matrix_bytes = m.bytes.size(), n_copies = (streaming_bytes() + matrix_bytes - 1) / matrix_bytes;
    PrivateMemory memory;
    if (!memory.allocate(n_copies * matrix_bytes)) {
        state.SkipWithError("cannot reserve memory for the matrix copies");
        return;
    }
    std::vector<WeightView> copies(n_copies, m.view);
    std::vector<const uint8_t*> buffers;
    for (size_t i = 0; i < n_copies; ++i) {
        uint8_t* copy = memory.data() + i * matrix_bytes;
        std::memcpy(copy, m.bytes.data(), matrix_bytes);
        buffers.push_back(copies[i].data = copy);
    }
    const double bandwidth = tokens == 1 ? read_bandwidth(buffers, matrix_bytes) : 0.0;
    const std::vector<float> x = activations(cols, tokens);
    std::vector<float> y(size_t(rows) * tokens);
    std::vector<BlockQ8> q8(x.size() / 32 + 1);
    std::vector<uint16_t> half(x.size());
    size_t next = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        MatmulInput in;
        in.x = x.data();
        in.n_tokens = tokens;
        in.cols = int(cols);
        in.q8 = q8.data();
        in.half = half.data();
        matmul(copies[next], in, y.data(), rows);
        next = (next + 1) % copies.size();
        benchmark::DoNotOptimize(y.data());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double iters = double(state.iterations());
    const double gbs = double(matrix_bytes) * iters / seconds / 1e9;
    state.counters["GB/s"] = gbs;
    state.counters["GFLOP/s"] = 2.0 * double(rows) * double(cols) * tokens * iters / seconds / 1e9;
    if (tokens == 1) {
        state.counters["read_GB/s"] = bandwidth / 1e9;
        state.counters["of_bandwidth"] = gbs / (bandwidth / 1e9);
    }
}

#if defined(TINYLLM_BENCH_EIGEN)
// Under the same rule as tinyllm's products: copies enough to stream the weights from memory.
void run_eigen(benchmark::State& state, int64_t rows, int64_t cols, int tokens) {
    const std::vector<float> w = random_weights(rows, cols), x = activations(cols, tokens);
    const size_t matrix_bytes = w.size() * sizeof(float), n_copies = (streaming_bytes() + matrix_bytes - 1) / matrix_bytes;
    PrivateMemory memory;
    if (!memory.allocate(n_copies * matrix_bytes)) {
        state.SkipWithError("cannot reserve memory for the matrix copies");
        return;
    }
    for (size_t i = 0; i < n_copies; ++i) std::memcpy(memory.data() + i * matrix_bytes, w.data(), matrix_bytes);
    std::vector<float> y(size_t(rows) * tokens);
    size_t next = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        bench::eigen_gemm(reinterpret_cast<const float*>(memory.data() + next * matrix_bytes), x.data(), y.data(), rows, cols, tokens);
        next = (next + 1) % n_copies;
        benchmark::DoNotOptimize(y.data());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["GFLOP/s"] = 2.0 * double(rows) * double(cols) * tokens * double(state.iterations()) / seconds / 1e9;
}
#endif

void register_all() {
    struct Type { const char* name; GgmlType type; int64_t group; };
    const Type types[] = {
        {"F32", GgmlType::F32, 0}, {"F16", GgmlType::F16, 0}, {"BF16", GgmlType::BF16, 0}, {"Q8_0", GgmlType::Q8_0, 0}, {"Q6_K", GgmlType::Q6_K, 0},
        {"Q5_1", GgmlType::Q5_1, 0}, {"Q5_0", GgmlType::Q5_0, 0}, {"Q4_1", GgmlType::Q4_1, 0}, {"Q4_K", GgmlType::Q4_K, 0},
        {"Q4_0", GgmlType::Q4_0, 0}, {"int8", GgmlType::TINYLLM_INT8, 0}, {"int4-g128", GgmlType::TINYLLM_INT4, 128},
        {"int4-g32", GgmlType::TINYLLM_INT4, 32}};
    struct Shape { const char* name; int64_t rows, cols; int tokens; };
    const Shape shapes[] = {{"gemv_4096x4096", 4096, 4096, 1}, {"gemv_11008x4096", 11008, 4096, 1},
                            {"gemm_4096x4096_n4", 4096, 4096, 4}, {"gemm_4096x4096_n128", 4096, 4096, 128},
                            {"gemm_2048x2048_n128", 2048, 2048, 128}, {"gemm_768x256_n128", 768, 256, 128}};
    for (const Type& t : types)
        for (const Shape& s : shapes) {
            std::string name = std::string(t.name) + "/" + s.name;
            benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run(st, t.type, t.group, s.rows, s.cols, s.tokens); })
                ->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime();
        }
#if defined(TINYLLM_BENCH_EIGEN)
    for (const Shape& s : shapes)
        if (s.tokens > 4) {
            std::string name = std::string("Eigen_F32/") + s.name;
            benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_eigen(st, s.rows, s.cols, s.tokens); })
                ->Arg(1)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime();
        }
#endif
}

} // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::AddCustomContext("kernels", kernel_isa());
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
