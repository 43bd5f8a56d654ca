// A saved conversation state (what a model keeps between calls: the KV cache) in a caller
// buffer: a fixed 56-byte header saying what the bytes belong to, then the model's payload.
// Restoring checks the header against the model it goes into (identity, kind, cache type, how
// many tokens, whether they fit) and the payload against its checksum, so a state from another
// model, a truncated copy or flipped bits give a named error instead of a wrong answer.
// Freestanding: no heap; the caller owns every buffer.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/status.hpp"

namespace tinyllm::state {

// What holds the state: a GGUF Session's fp16 cache, or a .pte program's planned memory.
enum class Kind : uint32_t { session_fp16 = 1, pte_memory = 2 };

struct Header {
    static constexpr size_t bytes = 56;
    static constexpr uint32_t version = 1;
    uint64_t model_fingerprint = 0;  // model_fingerprint() of the model that wrote it
    Kind kind = Kind::session_fp16;
    int32_t n_ctx = 0;               // the context of the session that wrote it
    int32_t n_tokens = 0;            // tokens in the cache
    uint64_t payload_bytes = 0;
    uint64_t checksum = 0;           // of the payload
    uint64_t extra = 0;              // the kind's own check value (a .pte program: its memory size)
};

// A 64-bit FNV-1a style hash, eight bytes per step: cheap enough to cover a whole KV cache
// (several GB/s), and any changed byte changes it.
struct Hash {
    uint64_t h = 0xcbf29ce484222325ull;
    void add_u64(uint64_t v) {
        h ^= v;
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    void add(const uint8_t* p, size_t n) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            __builtin_memcpy(&w, p + i, 8);
            add_u64(w);
        }
        uint64_t tail = n;
        for (; i < n; ++i) tail = (tail << 8) | p[i];
        add_u64(tail);
    }
};

inline uint64_t checksum(const uint8_t* p, size_t n) {
    Hash h;
    h.add(p, n);
    return h.h;
}

namespace detail {
template <class T>
void put(uint8_t*& p, T v) {
    __builtin_memcpy(p, &v, sizeof v);
    p += sizeof v;
}
template <class T>
T get(const uint8_t*& p) {
    T v;
    __builtin_memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
}
} // namespace detail

// Writes the header (with the payload's checksum) in front of a payload already at dst + bytes.
inline void write_header(uint8_t* dst, Header h) {
    h.checksum = checksum(dst + Header::bytes, size_t(h.payload_bytes));
    uint8_t* p = dst;
    __builtin_memcpy(p, "TLST", 4);
    p += 4;
    detail::put(p, Header::version);
    detail::put(p, h.model_fingerprint);
    detail::put(p, uint32_t(h.kind));
    detail::put(p, h.n_ctx);
    detail::put(p, h.n_tokens);
    detail::put(p, uint32_t(0));
    detail::put(p, h.payload_bytes);
    detail::put(p, h.checksum);
    detail::put(p, h.extra);
}

// Reads the header at the start of src, whose payload follows within size bytes (a caller
// may store more after it). Checks the magic, version and lengths; not the checksum.
inline Status peek_header(const uint8_t* src, size_t size, Header& h) {
    if (!src || size < Header::bytes)
        return Status::fail(Error::truncated, "a saved state has a ", uint64_t(Header::bytes), "-byte header; got ", uint64_t(size), " bytes");
    if (__builtin_memcmp(src, "TLST", 4) != 0) return Status::fail(Error::bad_magic, "not a tinyllm saved state");
    const uint8_t* p = src + 4;
    const uint32_t version = detail::get<uint32_t>(p);
    if (version != Header::version)
        return Status::fail(Error::unsupported_version, "saved state version ", version, " (this build reads ", Header::version, ")");
    h.model_fingerprint = detail::get<uint64_t>(p);
    h.kind = Kind(detail::get<uint32_t>(p));
    h.n_ctx = detail::get<int32_t>(p);
    h.n_tokens = detail::get<int32_t>(p);
    p += 4;
    h.payload_bytes = detail::get<uint64_t>(p);
    h.checksum = detail::get<uint64_t>(p);
    h.extra = detail::get<uint64_t>(p);
    if (h.payload_bytes > size - Header::bytes)
        return Status::fail(Error::truncated, "the saved state says ", h.payload_bytes, " payload bytes; the buffer has ",
                            uint64_t(size - Header::bytes));
    if (h.n_tokens < 0 || h.n_ctx <= 0) return Status::fail(Error::corrupt, "saved state of ", h.n_tokens, " tokens in a context of ", h.n_ctx);
    return Status{};
}

// Reads and checks a state buffer of exactly size bytes: its header and the payload's checksum.
inline Status read_header(const uint8_t* src, size_t size, Header& h) {
    Status st = peek_header(src, size, h);
    if (!st) return st;
    if (h.payload_bytes != size - Header::bytes)
        return Status::fail(Error::truncated, "the saved state says ", h.payload_bytes, " payload bytes; the buffer has ",
                            uint64_t(size - Header::bytes));
    if (checksum(src + Header::bytes, size_t(h.payload_bytes)) != h.checksum)
        return Status::fail(Error::corrupt, "the saved state's checksum does not match its bytes");
    return Status{};
}

// Checks that a state read by read_header belongs in a model described by `here`: the same
// model and kind, tokens that fit the context, and the payload size those tokens imply.
inline Status check_fits(const Header& saved, const Header& here, int n_ctx, uint64_t expected_payload) {
    if (saved.kind != here.kind)
        return Status::fail(Error::shape_mismatch, "the saved state is from a ", saved.kind == Kind::pte_memory ? ".pte program" : "GGUF model",
                            "; this is a ", here.kind == Kind::pte_memory ? ".pte program" : "GGUF model");
    if (saved.model_fingerprint != here.model_fingerprint)
        return Status::fail(Error::shape_mismatch, "the saved state is from another model");
    if (saved.n_tokens > n_ctx)
        return Status::fail(Error::context_full, "the saved state holds ", saved.n_tokens, " tokens; this context has room for ", n_ctx);
    if (saved.extra != here.extra) return Status::fail(Error::shape_mismatch, "the saved state's layout differs from this model's");
    if (saved.payload_bytes != expected_payload)
        return Status::fail(Error::corrupt, "the saved state has ", saved.payload_bytes, " payload bytes; ", saved.n_tokens, " tokens need ",
                            expected_payload);
    return Status{};
}

} // namespace tinyllm::state
