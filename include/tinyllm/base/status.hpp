// Error values for the whole engine. The core is built without exceptions, so every
// fallible call returns a Status (or a Result<T>) that names what went wrong.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace tinyllm {

enum class Error : uint8_t {
    ok = 0,
    truncated,           // buffer ends before the structure it must hold
    bad_magic,           // not the file type we were asked to read
    unsupported_version,
    absurd_count,        // a count or length that cannot fit in the buffer
    bad_string,
    unknown_value_type,  // GGUF metadata value type we do not know
    unknown_tensor_type, // tensor element / block type we do not know
    bad_shape,           // zero dims, too many dims, or an element count that overflows
    bad_offset,          // data offset outside the file or not aligned
    bad_alignment,
    missing_key,         // required metadata key absent
    wrong_key_type,      // metadata key present with another type
    missing_tensor,
    shape_mismatch,
    unsupported_architecture,
    unsupported_op,
    unsupported_delegate,
    unsupported_type,    // a known type the requested operation cannot use
    token_out_of_range,
    context_full,
    out_of_memory,       // the caller's arena is too small
    io_error,            // file helpers only
    invalid_argument,
    corrupt,             // structure inconsistent in a way the other codes do not name
};

inline const char* error_name(Error e) {
    switch (e) {
    case Error::ok: return "ok";
    case Error::truncated: return "truncated";
    case Error::bad_magic: return "bad magic";
    case Error::unsupported_version: return "unsupported version";
    case Error::absurd_count: return "absurd count";
    case Error::bad_string: return "bad string";
    case Error::unknown_value_type: return "unknown metadata value type";
    case Error::unknown_tensor_type: return "unknown tensor type";
    case Error::bad_shape: return "bad shape";
    case Error::bad_offset: return "bad offset";
    case Error::bad_alignment: return "bad alignment";
    case Error::missing_key: return "missing key";
    case Error::wrong_key_type: return "wrong key type";
    case Error::missing_tensor: return "missing tensor";
    case Error::shape_mismatch: return "shape mismatch";
    case Error::unsupported_architecture: return "unsupported architecture";
    case Error::unsupported_op: return "unsupported op";
    case Error::unsupported_delegate: return "unsupported delegate";
    case Error::unsupported_type: return "unsupported type";
    case Error::token_out_of_range: return "token out of range";
    case Error::context_full: return "context full";
    case Error::out_of_memory: return "out of memory";
    case Error::io_error: return "i/o error";
    case Error::invalid_argument: return "invalid argument";
    case Error::corrupt: return "corrupt";
    }
    return "unknown error";
}

// A code plus a short human detail ("tensor 'blk.0.attn_q.weight'"), stored inline so
// reporting an error never allocates.
struct Status {
    static constexpr size_t detail_capacity = 200;
    Error code = Error::ok;
    char detail[detail_capacity] = {};

    bool ok() const { return code == Error::ok; }
    explicit operator bool() const { return ok(); }

    // Builds "<piece1><piece2>..." into detail, truncating silently at capacity.
    template <class... Pieces>
    static Status fail(Error code, const Pieces&... pieces) {
        Status s;
        s.code = code;
        size_t n = 0;
        (append(s.detail, n, pieces), ...);
        return s;
    }

private:
    // Text in a detail often comes from the file being read (key names, architectures): control
    // bytes are written as \xNN, so a message stays one line that no input can forge or color.
    static void put(char* out, size_t& n, char c) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u != 0x7f) {
            if (n + 1 < detail_capacity) out[n++] = c;
        } else if (n + 4 < detail_capacity) {
            const char* hex = "0123456789abcdef";
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[u >> 4];
            out[n++] = hex[u & 15];
        } else {
            n = detail_capacity - 1;  // no room for the escape: the detail ends here
        }
        out[n] = 0;
    }
    static void append(char* out, size_t& n, const char* text) {
        for (; text && *text && n + 1 < detail_capacity; ++text) put(out, n, *text);
        out[n] = 0;
    }
    static void append_unsigned(char* out, size_t& n, uint64_t value) {
        char digits[24];
        int len = 0;
        do { digits[len++] = char('0' + value % 10); value /= 10; } while (value);
        while (len && n + 1 < detail_capacity) out[n++] = digits[--len];
        out[n] = 0;
    }
    // Any integer type (int32_t is `long` on some targets, `int` on others).
    template <class I>
    static auto append(char* out, size_t& n, I value) -> decltype(void(value % 2)) {
        if (I(-1) < I(0) && value < I(0)) {
            append(out, n, "-");
            append_unsigned(out, n, uint64_t(-(value + 1)) + 1);
        } else {
            append_unsigned(out, n, uint64_t(value));
        }
    }
    // Length-delimited text (names inside a mapped file are not NUL-terminated).
    struct Text { const char* data; size_t size; };
    static void append(char* out, size_t& n, const Text& t) {
        for (size_t i = 0; i < t.size && n + 1 < detail_capacity; ++i) put(out, n, t.data[i]);
        out[n] = 0;
    }
    template <class S>
    static auto append(char* out, size_t& n, const S& s) -> decltype(s.data(), s.size(), void()) {
        append(out, n, Text{s.data(), s.size()});
    }
};

// Value-or-error for the no-exceptions core. T must be default-constructible.
template <class T>
struct Result {
    T value{};
    Status status;

    Result() = default;
    Result(T v) : value(static_cast<T&&>(v)) {}
    Result(const Status& s) : status(s) {}

    bool ok() const { return status.ok(); }
    explicit operator bool() const { return ok(); }
    T& operator*() { return value; }
    const T& operator*() const { return value; }
    T* operator->() { return &value; }
    const T* operator->() const { return &value; }
};

} // namespace tinyllm
