// Host-side helper (edge of the engine): anonymous private memory that Linux may back with
// 2 MiB transparent huge pages. Streaming weights from 2 MiB pages takes far fewer TLB misses
// than from 4 KiB ones, so it is faster (docs/benchmarks.md). Not for freestanding builds.
#pragma once
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/status.hpp"

namespace tinyllm {

class PrivateMemory {
public:
    PrivateMemory() = default;
    PrivateMemory(const PrivateMemory&) = delete;
    PrivateMemory& operator=(const PrivateMemory&) = delete;
    ~PrivateMemory() { release(); }

    // Reserves `bytes` (zero-filled on first touch), starting on a 2 MiB boundary so that every
    // whole 2 MiB of it can be one page.
    Status allocate(size_t bytes) {
        release();
        if (bytes == 0) return Status{};
        const size_t mapped = bytes + huge_page;
        void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return Status::fail(Error::out_of_memory, "cannot reserve ", uint64_t(bytes), " bytes");
        mapping_ = static_cast<uint8_t*>(p);
        mapped_ = mapped;
        data_ = mapping_ + (huge_page - reinterpret_cast<uintptr_t>(mapping_) % huge_page) % huge_page;
        size_ = bytes;
#if defined(MADV_HUGEPAGE)
        madvise(data_, size_, MADV_HUGEPAGE);  // advice only: without it the memory still works
#endif
        return Status{};
    }

    uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

    void release() {
        if (mapping_) munmap(mapping_, mapped_);
        mapping_ = data_ = nullptr;
        mapped_ = size_ = 0;
    }

private:
    static constexpr size_t huge_page = size_t(2) << 20;

    uint8_t* mapping_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t mapped_ = 0;
    size_t size_ = 0;
};

} // namespace tinyllm
