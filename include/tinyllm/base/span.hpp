// Non-owning views used across the core (no <span>/<string_view> dependency so the same
// headers build freestanding).
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace tinyllm {

struct ByteSpan {
    const uint8_t* data = nullptr;
    size_t size = 0;
};

// A string inside a mapped file: not NUL-terminated.
struct StrView {
    const char* ptr = nullptr;
    size_t len = 0;

    StrView() = default;
    constexpr StrView(const char* p, size_t n) : ptr(p), len(n) {}
    template <size_t N>
    constexpr StrView(const char (&lit)[N]) : ptr(lit), len(N - 1) {}

    const char* data() const { return ptr; }
    size_t size() const { return len; }
    bool empty() const { return len == 0; }
    char operator[](size_t i) const { return ptr[i]; }

    bool operator==(StrView o) const {
        if (len != o.len) return false;
        for (size_t i = 0; i < len; ++i)
            if (ptr[i] != o.ptr[i]) return false;
        return true;
    }
    bool operator!=(StrView o) const { return !(*this == o); }
    bool starts_with(StrView p) const { return len >= p.len && StrView(ptr, p.len) == p; }
    bool ends_with(StrView s) const { return len >= s.len && StrView(ptr + len - s.len, s.len) == s; }
};

// Builds a view of a NUL-terminated C string.
inline StrView cstr(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    return StrView(s, n);
}

} // namespace tinyllm
