// UTF-8 and code point classification for the tokenizers (host-side).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tinyllm/text/unicode_tables.hpp"

namespace tinyllm::unicode {

inline CharClass char_class(uint32_t cp) {
    if (cp > 0x10FFFF) return CharClass::undefined;
    size_t lo = 0, hi = sizeof(class_ranges) / sizeof(class_ranges[0]);
    while (hi - lo > 1) {  // last range whose first <= cp
        size_t mid = (lo + hi) / 2;
        (class_ranges[mid].first <= cp ? lo : hi) = mid;
    }
    return class_ranges[lo].cls;
}

// White space as the BPE pre-tokenizers define \s (Unicode White_Space).
inline bool is_whitespace(uint32_t cp) {
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

inline bool is_letter(uint32_t cp) { return char_class(cp) == CharClass::letter; }
inline bool is_number(uint32_t cp) { return char_class(cp) == CharClass::number; }

// The length of the UTF-8 sequence starting at s[i] (lead byte, then continuation bytes), 0 if
// it is not one.
inline size_t utf8_sequence_length(const std::string& s, size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    return len;
}

// Decodes UTF-8; an invalid or truncated sequence yields its first byte as a code point,
// so any byte string round-trips through the byte-level tokenizers.
inline std::vector<uint32_t> decode_utf8(const std::string& s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t len = utf8_sequence_length(s, i);
        if (len == 0) {
            out.push_back(c);
            ++i;
            continue;
        }
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out.push_back(cp);
        i += len;
    }
    return out;
}

inline void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

} // namespace tinyllm::unicode
