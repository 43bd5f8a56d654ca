// Loops on threads (tinyllm/parallel.hpp), with either backend (the pool, or OpenMP when built
// with -DTINYLLM_THREADS=openmp): every iteration runs exactly once whatever the thread count,
// the count holds for loops started from any thread, loops started from inside a loop or from a
// second thread still complete, and sleeping workers wake for the next loop.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tinyllm/core/parallel.hpp"

using namespace tinyllm;

namespace {

// How many times parallel_for ran each index of [0, n).
std::vector<int> visits(int64_t n) {
    std::vector<std::atomic<int>> counts(size_t(n > 0 ? n : 0));
    parallel_for(n, [&](int64_t i) { counts[size_t(i)].fetch_add(1, std::memory_order_relaxed); });
    std::vector<int> out;
    for (auto& c : counts) out.push_back(c.load());
    return out;
}

// Whether a 64-iteration loop ran on more than one thread (each iteration waits, up to 5 s,
// until two have started: one thread alone finishes too, after waiting out its first one).
bool loop_uses_two_threads() {
    std::atomic<int> done{0};
    std::vector<std::thread::id> who(64);
    parallel_for(64, [&](int64_t i) {
        who[size_t(i)] = std::this_thread::get_id();
        done.fetch_add(1);
        const auto start = std::chrono::steady_clock::now();
        while (done.load() < 2 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) std::this_thread::yield();
    });
    bool two = false;
    for (const auto& id : who) two = two || id != who[0];
    return two;
}

} // namespace

TEST_CASE("every iteration runs exactly once, for every thread count and loop length") {
    for (int threads : {1, 2, 3, 4}) {
        set_thread_count(threads);
        CHECK(thread_count() == threads);
        for (int64_t n : {0, 1, 2, 7, 8, 9, 1000, 4097}) {
            CAPTURE(threads);
            CAPTURE(n);
            CHECK(visits(n) == std::vector<int>(size_t(n), 1));
        }
    }
    set_thread_count(0);
    CHECK(thread_count() == 1);
    set_thread_count(2);
}

TEST_CASE("more than one thread does the work") {
    set_thread_count(2);
    CHECK(loop_uses_two_threads());
}

TEST_CASE("the thread count holds for loops started from another thread") {
    // OpenMP's own setting (omp_set_num_threads) would hold for the calling thread only: a
    // server's model thread would not see what main() chose.
    set_thread_count(2);
    bool two = false;
    std::thread other([&] { two = loop_uses_two_threads(); });
    other.join();
    CHECK(two);
}

TEST_CASE("loops inside loops and loops from two threads complete") {
    set_thread_count(2);
    std::atomic<int64_t> inner_total{0};
    parallel_for(8, [&](int64_t i) {
        parallel_for(10, [&](int64_t j) { inner_total.fetch_add(i * 10 + j); });
    });
    CHECK(inner_total.load() == 79 * 80 / 2);

    std::vector<int> a, b;
    std::thread other([&] { a = visits(5000); });
    b = visits(5000);
    other.join();
    CHECK(a == std::vector<int>(5000, 1));
    CHECK(b == std::vector<int>(5000, 1));
}

TEST_CASE("workers that went to sleep wake for the next loop") {
    set_thread_count(2);
    CHECK(visits(100) == std::vector<int>(100, 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // far beyond the spinning time
    CHECK(visits(100) == std::vector<int>(100, 1));
    set_thread_count(3);  // restarting the workers, then using them at once
    CHECK(visits(100) == std::vector<int>(100, 1));
}

#if !defined(TINYLLM_OPENMP)
TEST_CASE("loops run alone while workers keep a loop waiting, and workers are tried again") {
    ContentionWatch watch(2);
    auto window = [&](uint64_t total, uint64_t waited) {
        for (int i = 0; i < ContentionWatch::window; ++i) watch.loop(total, waited);
    };
    auto alone_for = [&] {
        uint64_t n = 0;
        while (watch.alone()) ++n;
        return n;
    };
    window(400'000, 8'000);  // quiet: a 2% wait
    CHECK(alone_for() == 0);
    window(20'000, 10'000), window(20'000, 10'000);  // small loops waiting half their time, but only microseconds
    CHECK(alone_for() == 0);
    window(400'000, 150'000), window(400'000, 150'000);  // a worker often late: waiting 37% of the time still beats running alone
    CHECK(alone_for() == 0);
    window(400'000, 250'000);  // a worker descheduled: waits over half the time at 2 threads, once is not enough
    CHECK(alone_for() == 0);
    window(400'000, 250'000);  // twice in a row
    CHECK(alone_for() == ContentionWatch::min_backoff);
    window(400'000, 250'000), window(400'000, 250'000);  // still: twice as long alone
    CHECK(alone_for() == 2 * ContentionWatch::min_backoff);
    window(400'000, 8'000);  // gone: back to the first backoff next time
    CHECK(alone_for() == 0);
    watch.loop(ContentionWatch::stall_ticks * 2, ContentionWatch::stall_ticks + 1);  // a lost time slice ends a window
    CHECK(alone_for() == 0);
    window(400'000, 8'000);  // a VM's pause, then quiet: the workers stay
    CHECK(alone_for() == 0);
    watch.loop(ContentionWatch::stall_ticks * 2, ContentionWatch::stall_ticks + 1);  // time slices lost one after another
    watch.loop(ContentionWatch::stall_ticks * 2, ContentionWatch::stall_ticks + 1);
    CHECK(alone_for() == ContentionWatch::min_backoff);

    ContentionWatch four(4);  // at 4 threads, alone costs 4x the caller's time: waits over 3/4 of it
    for (int i = 0; i < ContentionWatch::window; ++i) four.loop(400'000, 250'000);
    CHECK(!four.alone());
    for (int i = 0; i < 2 * ContentionWatch::window; ++i) four.loop(400'000, 320'000);
    CHECK(four.alone());
}
#endif

TEST_CASE("the default thread count is the CPUs this process may use, or OpenMP's count") {
    cpu_set_t set;
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
#if defined(TINYLLM_OPENMP)
    // scripts/test-openmp.sh runs this case with OMP_NUM_THREADS=3 too.
    const char* omp_threads = std::getenv("OMP_NUM_THREADS");
    CHECK(default_thread_count() == (omp_threads ? std::atoi(omp_threads) : CPU_COUNT(&set)));
#else
    CHECK(default_thread_count() == CPU_COUNT(&set));
#endif
}
