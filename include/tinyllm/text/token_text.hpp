// Token ids to text without the standard library, for firmware: SentencePiece pieces from
// the GGUF vocabulary (U+2581 becomes a space, <0xXX> its byte, control tokens nothing).
// The full tokenizer (encoding, byte-level BPE) is tokenizer.hpp, on the host.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/base/arena.hpp"

namespace tinyllm {

class TokenText {
public:
    Status init(const gguf::File& f, Arena& arena) {
        Result<gguf::Array> tokens = f.get_array("tokenizer.ggml.tokens");
        if (!tokens) return tokens.status;
        if (tokens->type != gguf::ValueType::string) return Status::fail(Error::wrong_key_type, "tokenizer.ggml.tokens");
        n_ = tokens->count;
        pieces_ = arena.allocate_array<StrView>(size_t(n_));
        if (!pieces_) return Status::fail(Error::out_of_memory, "token table of ", n_, " entries");
        auto cursor = tokens->strings();
        for (uint64_t i = 0; i < n_; ++i) pieces_[i] = cursor.next();
        types_ = {};
        if (Result<gguf::Array> t = f.get_array("tokenizer.ggml.token_type"))
            if (t->type == gguf::ValueType::i32 && t->count == n_) types_ = *t;
        return Status{};
    }

    // Writes the bytes of one token to out (at most cap) and returns their count.
    size_t piece(int32_t id, char* out, size_t cap) const {
        if (id < 0 || uint64_t(id) >= n_) return 0;
        const int64_t type = types_.count ? types_.int_at(uint64_t(id)) : 1;
        if (type == 2 || type == 3 || type == 5) return 0;  // unknown, control, unused
        const StrView p = pieces_[id];
        if (type == 6 && p.size() == 6) {  // <0xXX>
            auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
            if (cap) out[0] = char(hex(p[3]) * 16 + hex(p[4]));
            return cap ? 1 : 0;
        }
        size_t n = 0;
        for (size_t i = 0; i < p.size() && n < cap; ++i) {
            if (i + 2 < p.size() && uint8_t(p[i]) == 0xE2 && uint8_t(p[i + 1]) == 0x96 && uint8_t(p[i + 2]) == 0x81) {
                out[n++] = ' ';
                i += 2;
            } else {
                out[n++] = p[i];
            }
        }
        return n;
    }

private:
    StrView* pieces_ = nullptr;
    uint64_t n_ = 0;
    gguf::Array types_;
};

} // namespace tinyllm
