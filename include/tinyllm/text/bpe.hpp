// Byte-level BPE (GPT-2 family: gpt2, falcon, starcoder, deepseek, mpt, refact, llama3, qwen2):
// a pre-tokenizer splits text into words, each word's bytes are mapped to printable code
// points, and adjacent symbols merge by the rank of the pair in tokenizer.ggml.merges.
//
// The pre-tokenizer of each vocabulary (tokenizer.ggml.pre) is a list of regexes applied one
// after the other, each splitting every piece into matches and the text between them. llama.cpp
// evaluates them with std::regex; here each is a hand-written scanner that finds the same
// matches (leftmost match, alternatives tried in order, greedy repetition with backtracking)
// in linear time and constant stack: libstdc++'s regex engine recurses once per character and
// overflows the stack on a long run of letters, digits or spaces. As in llama.cpp, a pattern
// with \p{..} classes sees a non-ASCII code point only as its Unicode class, and every pattern
// sees non-ASCII white space as \v, so \s is Unicode white space.
#pragma once
#include <cstdint>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "tinyllm/text/unicode.hpp"

namespace tinyllm::bpe {

// The regexes the pre-tokenizers are made of.
enum class Pattern : uint8_t {
    gpt2,          // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    llama3,        // (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                   //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    qwen2,         // the Llama 3 pattern with \p{N} in place of \p{N}{1,3}
    punctuation,   // [\p{P}\$\+<=>\^~\|]+
    punctuation_backtick,  // [\p{P}\$\+<=>\^~\|`]+
    digit_triple,  // [0-9][0-9][0-9]
    number,        // \p{N}
    numbers,       // \p{N}+
    newline,       // [\r\n]
    space_letters,      // \s?\p{L}+
    space_punctuation,  // \s?\p{P}+
    cjk,                // [\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+
    space_alphabetic,   // \s?[A-Za-z\u00B5\u00C0-\u00D6...]+ (alphabetic_ranges below)
    space_ascii_cjk_punctuation,  // \s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+
    trailing_space,     // \s+$
};

// The regex list for a tokenizer.ggml.pre name; empty if the name is unknown.
inline std::vector<Pattern> pretokenizer_patterns(const std::string& pre) {
    using P = Pattern;
    if (pre == "default") return {P::punctuation, P::gpt2, P::numbers, P::digit_triple};
    if (pre == "gpt-2" || pre == "mpt" || pre == "phi-2" || pre == "olmo" || pre == "jais") return {P::gpt2};
    if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "dbrx" || pre == "smaug-bpe")
        return {P::llama3};
    if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2") return {P::qwen2};
    if (pre == "starcoder" || pre == "refact" || pre == "smollm" || pre == "codeshell" || pre == "command-r")
        return {P::number, P::gpt2};
    if (pre == "falcon") return {P::punctuation_backtick, P::gpt2, P::digit_triple};
    if (pre == "deepseek-coder") return {P::newline, P::space_letters, P::space_punctuation, P::cjk, P::number};
    if (pre == "deepseek-llm")
        return {P::newline, P::space_alphabetic, P::space_ascii_cjk_punctuation, P::trailing_space, P::cjk, P::numbers};
    return {};
}

namespace detail {

using Offsets = std::vector<size_t>;  // lengths (in code points) of consecutive pieces

struct Flags {
    bool in_range = false, letter = false, number = false, whitespace = false;
};

// Scanner for the GPT-2 pattern (case-sensitive contractions) and the Llama 3 pattern
// (case-insensitive contractions, a leading non-letter joins a word, digits in groups of up to
// three, runs of newlines kept together), or Qwen2's (Llama 3's with single digits).
inline Offsets split_scanned(const std::vector<uint32_t>& cpts, const Offsets& pieces, Pattern pattern) {
    const bool llama3 = pattern != Pattern::gpt2;
    const size_t digit_group = pattern == Pattern::qwen2 ? 1 : 3;
    Offsets out;
    size_t start = 0;
    for (size_t len : pieces) {
        const size_t begin = start, end = start + len;
        start = end;
        auto cpt = [&](size_t p) -> uint32_t { return p >= begin && p < end ? cpts[p] : 0xFFFFFFFFu; };
        auto flags = [&](size_t p) {
            Flags f;
            if (p < begin || p >= end) return f;
            f.in_range = true;
            f.letter = unicode::is_letter(cpts[p]);
            f.number = unicode::is_number(cpts[p]);
            f.whitespace = unicode::is_whitespace(cpts[p]);
            return f;
        };
        auto lower = [](uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
        size_t prev = begin;
        auto emit = [&](size_t to) {
            if (to > prev) out.push_back(to - prev);
            size_t n = to - prev;
            prev = to;
            return n;
        };
        for (size_t pos = begin; pos < end;) {
            const uint32_t c = cpt(pos);
            const Flags f = flags(pos);
            if (c == '\'' && pos + 1 < end) {
                uint32_t n1 = llama3 ? lower(cpt(pos + 1)) : cpt(pos + 1);
                if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                    pos += emit(pos + 2);
                    continue;
                }
                if (pos + 2 < end) {
                    uint32_t n2 = llama3 ? lower(cpt(pos + 2)) : cpt(pos + 2);
                    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                        pos += emit(pos + 3);
                        continue;
                    }
                }
            }
            if (llama3) {
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(c == '\r' || c == '\n' || f.number) && (f.letter || flags(pos + 1).letter)) {
                    ++pos;
                    while (flags(pos).letter) ++pos;
                    emit(pos);
                    continue;
                }
                // \p{N}{1,3} (Qwen2: \p{N})
                if (f.number) {
                    size_t first = pos;
                    while (flags(pos).number) {
                        if (++pos - first >= digit_group) {
                            emit(pos);
                            first = pos;
                        }
                    }
                    emit(pos);
                    continue;
                }
            } else {
                const Flags f2 = c == ' ' ? flags(pos + 1) : f;
                if (f2.letter || f2.number) {  //  ?\p{L}+ and  ?\p{N}+
                    const bool letters = f2.letter;
                    pos += c == ' ';
                    while (letters ? flags(pos).letter : flags(pos).number) ++pos;
                    emit(pos);
                    continue;
                }
            }
            //  ?[^\s\p{L}\p{N}]+ (Llama 3: followed by [\r\n]*)
            Flags f2 = c == ' ' ? flags(pos + 1) : f;
            if (!(f2.whitespace || f2.letter || f2.number) && (llama3 ? f.in_range : f2.in_range)) {
                pos += c == ' ';
                while (!(f2.whitespace || f2.letter || f2.number) && f2.in_range) f2 = flags(++pos);
                if (llama3)
                    while (cpt(pos) == '\r' || cpt(pos) == '\n') ++pos;
                emit(pos);
                continue;
            }
            size_t n_space = 0, last_newline_end = 0;
            while (flags(pos + n_space).whitespace) {
                uint32_t w = cpt(pos + n_space);
                if (w == '\r' || w == '\n') last_newline_end = pos + n_space + 1;
                ++n_space;
            }
            if (llama3 && last_newline_end > 0) {  // \s*[\r\n]+
                pos = last_newline_end;
                emit(pos);
                continue;
            }
            if (n_space > 1 && cpt(pos + n_space) != 0xFFFFFFFFu) {  // \s+(?!\S)
                pos += n_space - 1;
                emit(pos);
                continue;
            }
            if (n_space > 0) {  // \s+
                pos += n_space;
                emit(pos);
                continue;
            }
            emit(++pos);
        }
    }
    return out;
}

// One byte per code point, what the \p{..} patterns see: ASCII as itself, other white space as
// \v, other code points as a byte standing for their Unicode class.
constexpr uint8_t class_number = 0xD1, class_letter = 0xD2, class_punctuation = 0xD3;

inline std::string classify(const std::vector<uint32_t>& cpts) {
    std::string out(cpts.size(), '\0');
    for (size_t i = 0; i < cpts.size(); ++i) {
        uint32_t c = cpts[i];
        if (c < 128) { out[i] = char(c); continue; }
        if (unicode::is_whitespace(c)) { out[i] = '\x0B'; continue; }
        switch (unicode::char_class(c)) {
        case unicode::CharClass::number: out[i] = char(class_number); break;
        case unicode::CharClass::letter: out[i] = char(class_letter); break;
        case unicode::CharClass::punctuation: out[i] = char(class_punctuation); break;
        default: out[i] = char(0xD0); break;
        }
    }
    return out;
}

// Character classes over classify()'s bytes. \s is ASCII white space (\v standing for the rest).
inline bool is_space(char b) { return b == ' ' || (b >= '\t' && b <= '\r'); }
inline bool is_letter(char b) { return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || uint8_t(b) == class_letter; }
inline bool is_number(char b) { return (b >= '0' && b <= '9') || uint8_t(b) == class_number; }
// \p{P}: ASCII !"#%&'()*,-./:;?@[\]_{} and the punctuation class.
inline bool is_punctuation(char b) {
    switch (b) {
    case '!': case '"': case '#': case '%': case '&': case '\'': case '(': case ')': case '*': case ',': case '-':
    case '.': case '/': case ':': case ';': case '?': case '@': case '[': case '\\': case ']': case '_': case '{': case '}':
        return true;
    default: return uint8_t(b) == class_punctuation;
    }
}

// Splits every piece into the matches of a pattern and the text between them, as a regex
// iterator does: match(p, end) is the length of the match starting at p, 0 if none (no
// pattern here matches empty text).
template <class Match>
Offsets split_matches(const Offsets& pieces, Match match) {
    Offsets out;
    size_t start = 0;
    for (size_t len : pieces) {
        const size_t end = start + len;
        size_t gap = start;  // start of the unmatched text before p
        for (size_t p = start; p < end;) {
            const size_t n = match(p, end);
            if (n == 0) {
                ++p;
                continue;
            }
            if (p > gap) out.push_back(p - gap);
            out.push_back(n);
            p += n;
            gap = p;
        }
        if (end > gap) out.push_back(end - gap);
        start = end;
    }
    return out;
}

// \s+$: the white space that ends each piece. (Found from the end: trying every start, as a
// regex search does, is quadratic in a run of white space followed by other text.)
inline Offsets split_trailing_space(const std::string& classes, const Offsets& pieces) {
    Offsets out;
    size_t start = 0;
    for (size_t len : pieces) {
        size_t text = start + len;
        while (text > start && is_space(classes[text - 1])) --text;
        if (text > start) out.push_back(text - start);
        if (start + len > text) out.push_back(start + len - text);
        start += len;
    }
    return out;
}

struct Range { uint32_t first, last; };

template <size_t N>
bool in_ranges(const Range (&ranges)[N], uint32_t c) {
    for (const Range& r : ranges)
        if (c >= r.first && c <= r.last) return true;
    return false;
}

// deepseek-llm's letter class (Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee, Glagolitic,
// Coptic, Deseret, Osage, Old Hungarian, Warang Citi, Adlam letters and letter-like symbols).
inline constexpr Range alphabetic_ranges[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
    {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3},
    {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
inline constexpr Range ascii_cjk_punctuation_ranges[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
inline constexpr Range cjk_ranges[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

// Applies one pattern to every piece.
inline Offsets split_pattern(Pattern pattern, const std::vector<uint32_t>& cpts, const std::string& classes,
                             const Offsets& pieces) {
    // Code points as the patterns without \p{..} see them: non-ASCII white space as \v.
    auto code = [&](size_t p) { return classes[p] == '\x0B' ? uint32_t(0x0B) : cpts[p]; };
    // X+ from p, or 0.
    auto run = [&](size_t p, size_t end, auto in_class) {
        size_t q = p;
        while (q < end && in_class(q)) ++q;
        return q - p;
    };
    // \s?X+ from p, or 0: with the white space if X+ follows it, else X+ from p itself.
    auto space_run = [&](size_t p, size_t end, auto in_class) {
        if (is_space(classes[p]) && p + 1 < end) {
            if (size_t n = run(p + 1, end, in_class)) return n + 1;
        }
        return run(p, end, in_class);
    };
    // [\p{P}\$\+<=>\^~\|]+, with backtick: [\p{P}\$\+<=>\^~\|`]+
    auto punctuation = [&](size_t p, size_t end, bool backtick) {
        return run(p, end, [&](size_t q) {
            const char b = classes[q];
            return is_punctuation(b) || b == '$' || b == '+' || b == '<' || b == '=' || b == '>' || b == '^' || b == '~' ||
                   b == '|' || (backtick && b == '`');
        });
    };
    auto number = [&](size_t q) { return is_number(classes[q]); };
    switch (pattern) {
    case Pattern::gpt2: case Pattern::llama3: case Pattern::qwen2: return split_scanned(cpts, pieces, pattern);
    case Pattern::punctuation:
        return split_matches(pieces, [&](size_t p, size_t end) { return punctuation(p, end, false); });
    case Pattern::punctuation_backtick:
        return split_matches(pieces, [&](size_t p, size_t end) { return punctuation(p, end, true); });
    case Pattern::digit_triple:
        return split_matches(pieces, [&](size_t p, size_t end) -> size_t {
            auto digit = [&](size_t q) { return classes[q] >= '0' && classes[q] <= '9'; };
            return end - p >= 3 && digit(p) && digit(p + 1) && digit(p + 2) ? 3 : 0;
        });
    case Pattern::number: return split_matches(pieces, [&](size_t p, size_t) -> size_t { return number(p); });
    case Pattern::numbers: return split_matches(pieces, [&](size_t p, size_t end) { return run(p, end, number); });
    case Pattern::newline:
        return split_matches(pieces, [&](size_t p, size_t) -> size_t { return cpts[p] == '\r' || cpts[p] == '\n'; });
    case Pattern::space_letters:
        return split_matches(pieces, [&](size_t p, size_t end) {
            return space_run(p, end, [&](size_t q) { return is_letter(classes[q]); });
        });
    case Pattern::space_punctuation:
        return split_matches(pieces, [&](size_t p, size_t end) {
            return space_run(p, end, [&](size_t q) { return is_punctuation(classes[q]); });
        });
    case Pattern::cjk:
        return split_matches(pieces, [&](size_t p, size_t end) {
            return run(p, end, [&](size_t q) { return in_ranges(cjk_ranges, code(q)); });
        });
    case Pattern::space_alphabetic:
        return split_matches(pieces, [&](size_t p, size_t end) {
            return space_run(p, end, [&](size_t q) { return in_ranges(alphabetic_ranges, code(q)); });
        });
    case Pattern::space_ascii_cjk_punctuation:
        return split_matches(pieces, [&](size_t p, size_t end) {
            return space_run(p, end, [&](size_t q) { return in_ranges(ascii_cjk_punctuation_ranges, code(q)); });
        });
    case Pattern::trailing_space: return split_trailing_space(classes, pieces);
    }
    return pieces;
}

} // namespace detail

// A pre-tokenizer: its list of patterns.
class PreTokenizer {
public:
    bool init(const std::string& name) {
        patterns_ = pretokenizer_patterns(name);
        return !patterns_.empty();
    }

    bool uses_llama3_rules() const { return patterns_.size() == 1 && patterns_[0] == Pattern::llama3; }

    // Splits text into words (UTF-8 strings).
    std::vector<std::string> split(const std::string& text) const {
        std::vector<uint32_t> cpts = unicode::decode_utf8(text);
        const std::string classes = detail::classify(cpts);
        detail::Offsets pieces = {cpts.size()};
        for (Pattern p : patterns_) pieces = detail::split_pattern(p, cpts, classes, pieces);
        std::vector<std::string> words;
        size_t start = 0;
        for (size_t len : pieces) {
            std::string w;
            for (size_t k = start; k < start + len; ++k) unicode::append_utf8(w, cpts[k]);
            words.push_back(std::move(w));
            start += len;
        }
        return words;
    }

private:
    std::vector<Pattern> patterns_;
};

} // namespace tinyllm::bpe
