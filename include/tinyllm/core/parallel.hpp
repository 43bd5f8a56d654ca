// Loop-level threading. Host builds (TINYLLM_THREADS, set by the CMake target) run loops on a
// small pool of workers, or with TINYLLM_OPENMP (-DTINYLLM_THREADS=openmp) on OpenMP's threads, so
// an application that already runs OpenMP shares one set of threads instead of two pools
// oversubscribing its cores; firmware and DSP builds run them as ordinary loops. Bodies must
// compute each output in one iteration, so results are the same for every thread count, backend
// and whichever thread runs an iteration, and must not throw.
//
// Why a pool and not OpenMP: a decoded token runs ~8 parallel loops per layer, and a libgomp
// region costs ~3 us even when idle (futex calls at its start and end, on every region), 5-10%
// of a 2-thread decode. Here the workers spin between loops and take iterations in shrinking
// chunks from a shared counter, so a core the hypervisor slows down takes fewer chunks instead
// of holding the other one at a barrier. Workers idle for longer than ~0.7 ms go to sleep.
//
// When another process takes a core, a worker can be descheduled for a whole time slice
// (milliseconds) while the loop it holds waits for it, and a token's hundreds of loops each pay
// that. So the pool watches how long loops wait for their last worker: when waiting costs more
// than the workers save, it runs loops on the calling thread alone (the workers sleep and leave
// the core to the other process), and tries its workers again later, backing off while the
// contention lasts.
#pragma once
#include <stdint.h>

#if defined(TINYLLM_THREADS)
#include <sched.h>

#include <atomic>
#include <mutex>
#include <thread>
#if defined(TINYLLM_OPENMP)
#if !defined(_OPENMP)
#error "TINYLLM_OPENMP needs a compiler flag for OpenMP (-fopenmp; CMake: OpenMP::OpenMP_CXX)"
#endif
#include <omp.h>
#else
#include <chrono>
#include <condition_variable>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#endif
#endif

namespace tinyllm {

#if defined(TINYLLM_THREADS)

// CPUs this process may run on (its affinity mask: a container or taskset may allow fewer
// than the machine has).
inline int available_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? int(n) : 1;
}

#if defined(TINYLLM_OPENMP)

// Loops on OpenMP's threads. The count is kept here and given to every region (num_threads), as
// omp_set_num_threads() would set it for the calling thread only. As with the pool, one loop runs
// at a time: a loop started while another runs (from a second user thread, or from inside a body)
// runs on the calling thread alone, and so does a loop started inside the application's own
// OpenMP region (any nesting level, a team of one thread too). Chunks shrink with the iterations
// left (schedule(guided)), for the reasons the pool's do.
class OpenMPLoops {
public:
    static OpenMPLoops& shared() {
        static OpenMPLoops loops;
        return loops;
    }
    int threads() const { return threads_.load(std::memory_order_relaxed); }
    void resize(int n) { threads_.store(n > 1 ? n : 1, std::memory_order_relaxed); }

    template <class Body>
    void run(int64_t n, const Body& body) {
        const int threads = this->threads();
        std::unique_lock<std::mutex> running;
        if (n > 1 && threads > 1 && omp_get_level() == 0) running = std::unique_lock<std::mutex>(mutex_, std::try_to_lock);
        if (!running.owns_lock()) {
            for (int64_t i = 0; i < n; ++i) body(i);
            return;
        }
#pragma omp parallel for num_threads(threads) schedule(guided)
        for (int64_t i = 0; i < n; ++i) body(i);
    }

private:
    std::atomic<int> threads_{omp_get_max_threads()};  // default_thread_count()
    std::mutex mutex_;
};

using LoopThreads = OpenMPLoops;

#else

// Decides, loop by loop, whether the workers help or the calling thread runs loops alone.
// Windows of 16 loops with workers: a window is contended when its waits for the last worker
// are longer than running alone would have taken (the calling thread's own time in a loop,
// times the number of threads, less what it took with them: waits over half the time at 2
// threads) and add up to more than ~10 us a loop (small loops always wait a little for a
// spinning worker), or when one wait is as long as a lost time slice (the window ends there).
// Two contended windows among the last 8 make loops run alone for a while (2^12 loops, a few
// tokens; doubling while every try still finds contention, up to 2^18), then the workers get
// another window. A process beside a worker takes its core for a time slice every few windows;
// a VM whose cores pause now and then for a few milliseconds contends in one window in many,
// and a worker that is only late still helps. (With one window and waits over a quarter of the
// time, such a VM's 2-thread decoding ran alone most of the time, below the speed of one thread.)
class ContentionWatch {
public:
    explicit ContentionWatch(int threads = 2) : threads_(threads > 1 ? threads : 2) {}
    static constexpr int window = 16;
    static constexpr uint64_t min_backoff = 1 << 12, max_backoff = 1 << 18;
    static constexpr uint64_t min_wait_ticks = 30'000;    // ~10 us of a time-stamp counter (30 us of ns)
    static constexpr uint64_t stall_ticks = 10'000'000;  // ~3 ms of a time-stamp counter (10 ms of ns): a lost time slice

    // Whether the next loop runs on the calling thread alone.
    bool alone() {
        if (alone_left_ == 0) return false;
        --alone_left_;
        return true;
    }
    // A loop run with the workers: its ticks, and those the caller spent waiting for the last worker.
    void loop(uint64_t total, uint64_t waited) {
        total_ += total;
        waited_ += waited;
        const bool stall = waited > stall_ticks;
        if (++loops_ < window && !stall) return;
        const bool contended = stall || (waited_ * uint64_t(threads_) > total_ * uint64_t(threads_ - 1) && waited_ > window * min_wait_ticks);
        recent_ = uint8_t(recent_ << 1 | (contended ? 1 : 0));
        if (!contended) {
            if (recent_ == 0) backoff_ = min_backoff;
        } else if (__builtin_popcount(recent_) >= 2) {
            recent_ = 0;
            alone_left_ = backoff_;
            if (backoff_ < max_backoff) backoff_ *= 2;
        }
        loops_ = 0;
        total_ = waited_ = 0;
    }

private:
    int threads_, loops_ = 0;
    uint8_t recent_ = 0;  // the last 8 windows, newest in bit 0: 1 where contended
    uint64_t total_ = 0, waited_ = 0, alone_left_ = 0, backoff_ = min_backoff;
};

class ThreadPool {
public:
    // The process-wide pool, with one thread per available CPU until set_thread_count() says otherwise.
    static ThreadPool& shared() {
        static ThreadPool pool;
        return pool;
    }

    ThreadPool() { resize(available_cpus()); }
    ~ThreadPool() {
        std::lock_guard<std::mutex> running(run_mutex_);
        stop_workers();
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int threads() const { return threads_.load(std::memory_order_relaxed); }

    // Threads that run a loop, the calling thread included (at least 1). Workers start with
    // the first loop that needs them.
    void resize(int n) {
        std::lock_guard<std::mutex> running(run_mutex_);
        stop_workers();
        threads_.store(n > 1 ? n : 1, std::memory_order_relaxed);
        contention_ = ContentionWatch(threads());
    }

    // body(i) for i in [0, n). A loop started while another runs (from a second user thread,
    // or from inside a body) runs on the calling thread alone.
    template <class Body>
    void run(int64_t n, const Body& body) {
        std::unique_lock<std::mutex> running;
        if (n > 1 && threads() > 1 && !in_loop()) running = std::unique_lock<std::mutex>(run_mutex_, std::try_to_lock);
        if (!running.owns_lock() || contention_.alone()) {
            for (int64_t i = 0; i < n; ++i) body(i);
            return;
        }
        const uint64_t t_start = ticks();
        // Starting or waking workers is slow for reasons other than contention: not counted.
        const bool counted = !workers_.empty() && sleepers_.load(std::memory_order_relaxed) == 0;
        if (workers_.empty()) start_workers();
        in_loop() = true;
        job_ = Job{&body, &run_range<Body>, n, int64_t(threads())};
        next_.store(0, std::memory_order_relaxed);
        busy_workers_.store(int(workers_.size()), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) > 0) {
            std::lock_guard<std::mutex> lock(sleep_mutex_);
            wake_.notify_all();
        }
        take_chunks();
        const uint64_t t_mine = ticks();
        while (busy_workers_.load(std::memory_order_acquire) != 0) pause();
        in_loop() = false;
        const uint64_t t_end = ticks();
        if (counted) contention_.loop(t_end - t_start, t_end - t_mine);
    }

private:
    // A cheap monotonic tick: the time-stamp counter on x86 (a few ns to read), else nanoseconds.
    static uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
        return __rdtsc();
#else
        return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
#endif
    }

    struct Job {
        const void* body = nullptr;
        void (*run)(const void*, int64_t, int64_t) = nullptr;
        int64_t n = 0, share = 1;  // a chunk takes 1 / share of the iterations left
    };

    template <class Body>
    static void run_range(const void* body, int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) (*static_cast<const Body*>(body))(i);
    }

    // Whether this thread is running a loop's body (one flag per thread, for every Body type).
    static bool& in_loop() {
        static thread_local bool flag = false;
        return flag;
    }

    static void pause() {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    }

    // Chunks shrink with the iterations left (guided scheduling): long contiguous runs of rows
    // for the prefetcher first, then single iterations at the end, so neither thread waits
    // long for the other when a loop ends. With fixed chunks of n / (4 x threads), that wait
    // took ~6% of a 2-thread TinyLlama decode's samples; now ~2%. A chunk takes 1 / threads
    // of what is left (the first thread half a loop at 2 threads): each chunk restarts the
    // hardware prefetcher's stream, and taking 1 / (2 x threads) instead, decode-shaped Q4_0
    // products streamed 4-10% slower.
    void take_chunks() {
        int64_t begin = next_.load(std::memory_order_relaxed);
        for (;;) {
            if (begin >= job_.n) return;
            const int64_t size = (job_.n - begin) / job_.share > 0 ? (job_.n - begin) / job_.share : 1;
            if (!next_.compare_exchange_weak(begin, begin + size, std::memory_order_relaxed)) continue;
            job_.run(job_.body, begin, begin + size);
            begin = next_.load(std::memory_order_relaxed);
        }
    }

    void worker_loop(uint64_t seen) {
        for (;;) {
            uint64_t now = generation_.load(std::memory_order_acquire);
            for (int spins = 0; now == seen && spins < spins_before_sleep; ++spins) {
                pause();
                now = generation_.load(std::memory_order_acquire);
            }
            if (now == seen) {
                std::unique_lock<std::mutex> lock(sleep_mutex_);
                sleepers_.fetch_add(1, std::memory_order_seq_cst);
                wake_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
                sleepers_.fetch_sub(1, std::memory_order_relaxed);
                now = generation_.load(std::memory_order_acquire);
            }
            seen = now;
            if (stop_) return;
            take_chunks();
            busy_workers_.fetch_sub(1, std::memory_order_release);
        }
    }

    // These two are called with run_mutex_ held.
    void start_workers() {
        stop_ = false;
        // Workers wait for the generation after this one, even if they start after it is published.
        const uint64_t current = generation_.load(std::memory_order_relaxed);
        for (int i = 1; i < threads(); ++i) workers_.emplace_back([this, current] { worker_loop(current); });
    }
    void stop_workers() {
        if (workers_.empty()) return;
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_seq_cst);
        {
            std::lock_guard<std::mutex> lock(sleep_mutex_);
            wake_.notify_all();
        }
        for (std::thread& t : workers_) t.join();
        workers_.clear();
    }

    // ~0.7 ms of pause instructions on a Zen 5: far longer than the gaps between a token's loops.
    static constexpr int spins_before_sleep = 1 << 15;

    std::mutex run_mutex_;  // one loop at a time; held while resizing
    std::vector<std::thread> workers_;
    std::atomic<int> threads_{1};
    Job job_;
    bool stop_ = false;  // read by workers after a generation change (acquire)
    alignas(64) std::atomic<uint64_t> generation_{0};  // bumped to start a loop
    alignas(64) std::atomic<int64_t> next_{0};         // first iteration not yet taken
    alignas(64) std::atomic<int> busy_workers_{0};     // workers still in the current loop
    alignas(64) std::atomic<int> sleepers_{0};
    std::mutex sleep_mutex_;
    std::condition_variable wake_;
    ContentionWatch contention_;  // used with run_mutex_ held
};

using LoopThreads = ThreadPool;

#endif  // TINYLLM_OPENMP

// The threads loops start with: the CPUs this process may use or, on OpenMP's threads, what
// OpenMP says (OMP_NUM_THREADS, as an application that runs OpenMP expects).
inline int default_thread_count() {
#if defined(TINYLLM_OPENMP)
    return omp_get_max_threads();
#else
    return available_cpus();
#endif
}
inline void set_thread_count(int n) { LoopThreads::shared().resize(n); }
inline int thread_count() { return LoopThreads::shared().threads(); }

template <class Body>
inline void parallel_for(int64_t n, const Body& body) {
    LoopThreads::shared().run(n, body);
}
#else

inline void set_thread_count(int) {}
inline int thread_count() { return 1; }
inline int default_thread_count() { return 1; }

template <class Body>
inline void parallel_for(int64_t n, const Body& body) {
    for (int64_t i = 0; i < n; ++i) body(i);
}

#endif

} // namespace tinyllm
