// Byte-level BPE (GPT-2 family: gpt2, falcon, starcoder, deepseek, mpt, refact, llama3, qwen2):
// a pre-tokenizer splits text into words, each word's bytes are mapped to printable code
// points, and adjacent symbols merge by the rank of the pair in tokenizer.ggml.merges.
//
// The pre-tokenizer of each vocabulary (tokenizer.ggml.pre) is a list of regexes applied one
// after the other, each splitting every piece into matches and the text between them. Two of
// them (the GPT-2 and Llama 3 patterns) are matched by hand-written scanners; the others are
// evaluated by std::regex over a text where every non-ASCII code point is replaced by one byte
// standing for its Unicode class, so \p{L}, \p{N}, ... become byte classes. This reproduces
// llama.cpp's splitting exactly, including its treatment of non-ASCII white space.
#pragma once
#include <cstdint>
#include <queue>
#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tinyllm/text/unicode.hpp"

namespace tinyllm::bpe {

inline const char* const gpt2_pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
inline const char* const llama3_pattern =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The regex list for a tokenizer.ggml.pre name; empty if the name is unknown.
inline std::vector<std::string> pretokenizer_patterns(const std::string& pre) {
    const std::string cjk = "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+";  // [一-龥ࠀ-一가-퟿]+
    if (pre == "default") return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2_pattern, "\\p{N}+", "[0-9][0-9][0-9]"};
    if (pre == "gpt-2" || pre == "mpt" || pre == "phi-2" || pre == "olmo" || pre == "jais") return {gpt2_pattern};
    if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "dbrx" || pre == "smaug-bpe")
        return {llama3_pattern};
    if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2")
        return {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    if (pre == "starcoder" || pre == "refact" || pre == "smollm" || pre == "codeshell" || pre == "command-r")
        return {"\\p{N}", gpt2_pattern};
    if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2_pattern, "[0-9][0-9][0-9]"};
    if (pre == "deepseek-coder") return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", cjk, "\\p{N}"};
    if (pre == "deepseek-llm")
        return {"[\r\n]",
                "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+",
                "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
                "\\s+$", cjk, "\\p{N}+"};
    return {};
}

namespace detail {

using Offsets = std::vector<size_t>;  // lengths (in code points) of consecutive pieces

struct Flags {
    bool in_range = false, letter = false, number = false, whitespace = false;
};

// Scanner for the GPT-2 pattern (case-sensitive contractions) and, with llama3 = true, the
// Llama 3 pattern (case-insensitive contractions, a leading non-letter joins a word, digits
// in groups of up to three, runs of newlines kept together).
inline Offsets split_scanned(const std::vector<uint32_t>& cpts, const Offsets& pieces, bool llama3) {
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
                // \p{N}{1,3}
                if (f.number) {
                    size_t first = pos;
                    while (flags(pos).number) {
                        if (++pos - first >= 3) {
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

// Applies a regex to every piece: matches and the gaps between them become pieces.
template <class Char>
Offsets split_regex(const std::basic_string<Char>& text, const std::basic_regex<Char>& re, const Offsets& pieces) {
    Offsets out;
    size_t start = 0;
    for (size_t len : pieces) {
        using Iter = std::regex_iterator<const Char*>;
        size_t done = 0;
        for (Iter it(text.data() + start, text.data() + start + len, re), stop; it != stop; ++it) {
            size_t at = size_t(it->position()), n = size_t(it->length());
            if (at > done) out.push_back(at - done);
            out.push_back(n);
            done = at + n;
        }
        if (done < len) out.push_back(len - done);
        start += len;
    }
    return out;
}

// One byte per code point: ASCII as itself, white space as \v, others as their class byte.
inline std::string collapse(const std::vector<uint32_t>& cpts) {
    std::string out(cpts.size(), '\0');
    for (size_t i = 0; i < cpts.size(); ++i) {
        uint32_t c = cpts[i];
        if (c < 128) { out[i] = char(c); continue; }
        if (unicode::is_whitespace(c)) { out[i] = '\x0B'; continue; }
        switch (unicode::char_class(c)) {
        case unicode::CharClass::number: out[i] = char(0xD1); break;
        case unicode::CharClass::letter: out[i] = char(0xD2); break;
        case unicode::CharClass::punctuation: out[i] = char(0xD3); break;
        case unicode::CharClass::mark: out[i] = char(0xD4); break;
        case unicode::CharClass::symbol: out[i] = char(0xD5); break;
        default: out[i] = char(0xD0); break;
        }
    }
    return out;
}

// Rewrites \p{X} in a pattern as a byte class: the class byte plus X's ASCII members.
inline std::string collapse_pattern(const std::string& p) {
    struct Cat { const char* name; char byte; const char* ascii; };
    static const Cat cats[] = {
        {"\\p{N}", char(0xD1), "0-9"},
        {"\\p{L}", char(0xD2), "A-Za-z"},
        {"\\p{P}", char(0xD3), "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
        {"\\p{M}", char(0xD4), ""},
        {"\\p{S}", char(0xD5), "\\$\\+<->\\^`\\|"},
    };
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] == '[' && (i == 0 || p[i - 1] != '\\')) in_class = true;
        else if (in_class && p[i] == ']' && p[i - 1] != '\\') in_class = false;
        bool replaced = false;
        for (const Cat& cat : cats) {
            if (p.compare(i, 5, cat.name) != 0) continue;
            if (!in_class) out += '[';
            out += cat.byte;
            out += cat.ascii;
            if (!in_class) out += ']';
            i += 4;
            replaced = true;
            break;
        }
        if (!replaced) out += p[i];
    }
    return out;
}

} // namespace detail

// A compiled pre-tokenizer.
class PreTokenizer {
public:
    bool init(const std::string& name) {
        patterns_ = pretokenizer_patterns(name);
        compiled_.clear();
        compiled_wide_.clear();
        for (const std::string& p : patterns_) {
            bool uses_classes = p.find("\\p{") != std::string::npos;
            if (p == gpt2_pattern || p == llama3_pattern) {
                compiled_.emplace_back();
                compiled_wide_.emplace_back();
            } else if (uses_classes) {
                compiled_.emplace_back(detail::collapse_pattern(p));
                compiled_wide_.emplace_back();
            } else {
                std::vector<uint32_t> cps = unicode::decode_utf8(p);
                compiled_.emplace_back();
                compiled_wide_.emplace_back(std::wstring(cps.begin(), cps.end()));
            }
        }
        return !patterns_.empty();
    }

    bool uses_llama3_rules() const { return patterns_.size() == 1 && patterns_[0] == llama3_pattern; }

    // Splits text into words (UTF-8 strings).
    std::vector<std::string> split(const std::string& text) const {
        std::vector<uint32_t> cpts = unicode::decode_utf8(text);
        detail::Offsets pieces = {cpts.size()};
        std::string collapsed;
        std::wstring wide;
        for (size_t i = 0; i < patterns_.size(); ++i) {
            const std::string& p = patterns_[i];
            if (p == gpt2_pattern || p == llama3_pattern) {
                pieces = detail::split_scanned(cpts, pieces, p == llama3_pattern);
            } else if (p.find("\\p{") != std::string::npos) {
                if (collapsed.empty()) collapsed = detail::collapse(cpts);
                pieces = detail::split_regex(collapsed, compiled_[i], pieces);
            } else {
                if (wide.empty()) {
                    // std::wregex's \s only knows ASCII white space: stand in \v for the rest.
                    wide.assign(cpts.begin(), cpts.end());
                    for (wchar_t& c : wide)
                        if (uint32_t(c) > 0x7F && unicode::is_whitespace(uint32_t(c))) c = 0x0B;
                }
                pieces = detail::split_regex(wide, compiled_wide_[i], pieces);
            }
        }
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
    std::vector<std::string> patterns_;
    std::vector<std::regex> compiled_;        // patterns over the collapsed text
    std::vector<std::wregex> compiled_wide_;  // patterns over code points
};

} // namespace tinyllm::bpe
