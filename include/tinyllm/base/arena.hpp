// Bump allocator over a caller-provided buffer: the core's only source of memory.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace tinyllm {

class Arena {
public:
    Arena() = default;
    Arena(void* buffer, size_t capacity) : base_(static_cast<uint8_t*>(buffer)), capacity_(capacity) {}

    // Returns nullptr when the buffer is exhausted; callers turn that into Error::out_of_memory.
    void* allocate(size_t bytes, size_t alignment = 64) {
        size_t start = align_up(used_, alignment);
        if (start < used_ || start > capacity_ || bytes > capacity_ - start) return nullptr;
        used_ = start + bytes;
        if (used_ > peak_) peak_ = used_;
        return base_ + start;
    }

    template <class T>
    T* allocate_array(size_t count, size_t alignment = alignof(T) < 64 ? 64 : alignof(T)) {
        if (count > SIZE_MAX / sizeof(T)) return nullptr;
        return static_cast<T*>(allocate(count * sizeof(T), alignment));
    }

    size_t used() const { return used_; }
    size_t capacity() const { return capacity_; }
    size_t peak() const { return peak_; }
    // Rewinds to a mark taken with used(): scratch space for one step.
    void reset_to(size_t mark) { used_ = mark; }

    static size_t align_up(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

private:
    uint8_t* base_ = nullptr;
    size_t capacity_ = 0;
    size_t used_ = 0;
    size_t peak_ = 0;
};

} // namespace tinyllm
