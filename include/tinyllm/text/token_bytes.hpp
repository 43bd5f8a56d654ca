// What a vocabulary entry stands for as bytes, shared by the host tokenizer and the
// freestanding detokenizer so both print the same text. No standard library.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/span.hpp"

namespace tinyllm::text {

// GGUF token types (tokenizer.ggml.token_type).
enum TokenType : int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// How the vocabulary spells bytes: SentencePiece ("llama": U+2581 for a space, <0xXX> byte
// tokens) or byte-level BPE ("gpt2": every byte as a printable code point).
enum class Spelling : uint8_t { sentencepiece, byte_level };

// GPT-2's reversible byte <-> printable code point map: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 onwards in byte order.
constexpr bool byte_is_printable(int c) { return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF); }

inline uint32_t byte_to_codepoint(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (int c = 0; c < b; ++c)
        if (!byte_is_printable(c)) ++n;
    return 0x100 + n;
}

// The byte a code point spells in byte-level BPE, or -1 when it spells none.
inline int codepoint_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable(int(cp)) ? int(cp) : -1;
    uint32_t n = 0x100;
    for (int c = 0; c < 256; ++c)
        if (!byte_is_printable(c) && n++ == cp) return c;
    return -1;
}

// Decodes the UTF-8 sequence at s[i]; an invalid or truncated one yields its first byte.
// Advances i past what it read.
inline uint32_t next_codepoint(StrView s, size_t& i) {
    const uint8_t c = uint8_t(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (uint8_t(s[i + k]) & 0xC0) == 0x80;
    if (!ok) {
        ++i;
        return c;
    }
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3Fu);
    i += len;
    return cp;
}

// Writes cp as UTF-8 into out[0..cap) and returns the bytes written (0 when it does not fit).
inline size_t put_utf8(uint32_t cp, char* out, size_t cap) {
    const size_t len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (len > cap) return 0;
    if (len == 1) {
        out[0] = char(cp);
    } else {
        static constexpr uint8_t lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
        for (size_t k = len - 1; k > 0; --k, cp >>= 6) out[k] = char(0x80 | (cp & 0x3F));
        out[0] = char(lead[len] | cp);
    }
    return len;
}

// The bytes one vocabulary entry stands for, written to out[0..cap); returns their count.
// Control, unknown and unused tokens stand for nothing; user-defined ones for their text.
inline size_t token_bytes(StrView piece, int32_t type, Spelling spelling, char* out, size_t cap) {
    if (type == control || type == unknown || type == unused) return 0;
    if (type == byte && piece.size() == 6 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x') {  // <0xXX>
        auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
        if (cap == 0) return 0;
        out[0] = char(hex(piece[3]) * 16 + hex(piece[4]));
        return 1;
    }
    size_t n = 0;
    if (type == user_defined) {
        for (; n < piece.size() && n < cap; ++n) out[n] = piece[n];
        return n;
    }
    if (spelling == Spelling::byte_level) {
        for (size_t i = 0; i < piece.size() && n < cap;) {
            const uint32_t cp = next_codepoint(piece, i);
            const int b = codepoint_to_byte(cp);
            if (b >= 0) out[n++] = char(b);
            else n += put_utf8(cp, out + n, cap - n);
        }
        return n;
    }
    for (size_t i = 0; i < piece.size() && n < cap; ++i) {
        if (i + 2 < piece.size() && uint8_t(piece[i]) == 0xE2 && uint8_t(piece[i + 1]) == 0x96 && uint8_t(piece[i + 2]) == 0x81) {
            out[n++] = ' ';
            i += 2;
        } else {
            out[n++] = piece[i];
        }
    }
    return n;
}

// Control tokens whose text ends a turn in the chat formats tinyllm knows; with the
// vocabulary's EOS and EOT ids they make the end-of-generation set.
inline bool ends_turn(StrView piece) {
    static constexpr StrView names[] = {"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>"};
    for (StrView name : names)
        if (piece == name) return true;
    return false;
}

// Bytes at the end of s[0..n) that begin a UTF-8 character not yet complete (0 to 3).
inline size_t incomplete_utf8_tail(const char* s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const uint8_t c = uint8_t(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

} // namespace tinyllm::text
