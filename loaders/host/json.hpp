// JSON (RFC 8259) read into a tree of values, and strings written with the escapes JSON needs:
// what reading and writing Hugging Face tokenizer.json files takes. Objects keep their members
// in file order. Nesting deeper than max_depth is refused, so a hostile file cannot exhaust the
// stack; every malformed input gets an error naming the byte where it went wrong.
#pragma once
#include <stdint.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tinyllm/base/status.hpp"
#include "tinyllm/text/unicode.hpp"

namespace tinyllm {

constexpr int json_max_depth = 64;

struct JsonValue {
    enum class Kind : uint8_t { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string text;                // a string's UTF-8 bytes
    std::vector<JsonValue> items;        // an array's elements, an object's member values
    std::vector<std::string> keys;   // an object's member names, in step with items

    bool is(Kind k) const { return kind == k; }
    // The first member named `key` of an object, or null.
    const JsonValue* get(const char* key) const {
        for (size_t i = 0; i < keys.size(); ++i)
            if (keys[i] == key) return &items[i];
        return nullptr;
    }
    // A member's string, or `fallback` when it is absent or not a string.
    std::string string_or(const char* key, const std::string& fallback) const {
        const JsonValue* v = get(key);
        return v && v->is(Kind::string) ? v->text : fallback;
    }
    bool bool_or(const char* key, bool fallback) const {
        const JsonValue* v = get(key);
        return v && v->is(Kind::boolean) ? v->boolean : fallback;
    }
};

namespace json_detail {

class Parser {
public:
    explicit Parser(const std::string& text) : s_(text) {}

    Status document(JsonValue& out) {
        if (Status st = value(out, 0); !st) return st;
        skip_space();
        if (at_ != s_.size()) return error("text after the document");
        return Status();
    }

private:
    Status error(const char* what) const { return Status::fail(Error::corrupt, "JSON: ", what, " at byte ", uint64_t(at_)); }

    void skip_space() {
        while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r')) ++at_;
    }
    bool literal(const char* word) {
        size_t n = 0;
        while (word[n]) ++n;
        if (s_.compare(at_, n, word) != 0) return false;
        at_ += n;
        return true;
    }

    Status value(JsonValue& out, int depth) {
        if (depth > json_max_depth) return error("nesting too deep");
        skip_space();
        if (at_ >= s_.size()) return error("unexpected end");
        const char c = s_[at_];
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            out.kind = JsonValue::Kind::string;
            return string(out.text);
        }
        if (literal("true") || literal("false")) {
            out.kind = JsonValue::Kind::boolean;
            out.boolean = c == 't';
            return Status();
        }
        if (literal("null")) return Status();
        return number(out);
    }

    Status object(JsonValue& out, int depth) {
        out.kind = JsonValue::Kind::object;
        ++at_;
        skip_space();
        if (at_ < s_.size() && s_[at_] == '}') return ++at_, Status();
        for (;;) {
            skip_space();
            if (at_ >= s_.size() || s_[at_] != '"') return error("expected a member name");
            out.keys.emplace_back();
            if (Status st = string(out.keys.back()); !st) return st;
            skip_space();
            if (at_ >= s_.size() || s_[at_] != ':') return error("expected ':'");
            ++at_;
            out.items.emplace_back();
            if (Status st = value(out.items.back(), depth + 1); !st) return st;
            skip_space();
            if (at_ < s_.size() && s_[at_] == ',') { ++at_; continue; }
            if (at_ < s_.size() && s_[at_] == '}') return ++at_, Status();
            return error("expected ',' or '}'");
        }
    }

    Status array(JsonValue& out, int depth) {
        out.kind = JsonValue::Kind::array;
        ++at_;
        skip_space();
        if (at_ < s_.size() && s_[at_] == ']') return ++at_, Status();
        for (;;) {
            out.items.emplace_back();
            if (Status st = value(out.items.back(), depth + 1); !st) return st;
            skip_space();
            if (at_ < s_.size() && s_[at_] == ',') { ++at_; continue; }
            if (at_ < s_.size() && s_[at_] == ']') return ++at_, Status();
            return error("expected ',' or ']'");
        }
    }

    int hex4() {
        if (s_.size() - at_ < 4) return -1;
        int v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[at_ + size_t(k)];
            const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        at_ += 4;
        return v;
    }

    // A string's bytes with escapes resolved; \u escapes (surrogate pairs joined) become UTF-8.
    Status string(std::string& out) {
        ++at_;
        for (;;) {
            if (at_ >= s_.size()) return error("unterminated string");
            const unsigned char c = static_cast<unsigned char>(s_[at_++]);
            if (c == '"') return Status();
            if (c < 0x20) return error("control character in a string");
            if (c != '\\') {
                out.push_back(char(c));
                continue;
            }
            if (at_ >= s_.size()) return error("unterminated escape");
            const char e = s_[at_++];
            switch (e) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                int cp = hex4();
                if (cp < 0) return error("bad \\u escape");
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (!literal("\\u")) return error("unpaired surrogate");
                    const int low = hex4();
                    if (low < 0xDC00 || low >= 0xE000) return error("unpaired surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return error("unpaired surrogate");
                }
                unicode::append_utf8(out, uint32_t(cp));
                break;
            }
            default: return error("unknown escape");
            }
        }
    }

    Status number(JsonValue& out) {
        const size_t start = at_;
        if (at_ < s_.size() && s_[at_] == '-') ++at_;
        auto digits = [&] {
            const size_t from = at_;
            while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
            return at_ > from;
        };
        if (!digits()) return error("unexpected character");
        if (at_ < s_.size() && s_[at_] == '.') {
            ++at_;
            if (!digits()) return error("bad number");
        }
        if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
            ++at_;
            if (at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-')) ++at_;
            if (!digits()) return error("bad number");
        }
        out.kind = JsonValue::Kind::number;
        out.number = std::strtod(s_.substr(start, at_ - start).c_str(), nullptr);
        return Status();
    }

    const std::string& s_;
    size_t at_ = 0;
};

} // namespace json_detail

inline Status parse_json(const std::string& text, JsonValue& out) {
    out = JsonValue();
    return json_detail::Parser(text).document(out);
}

// Appends `s` as a JSON string literal. Bytes that are not UTF-8 cannot be written: false.
inline bool append_json_string(std::string& out, const std::string& s) {
    out.push_back('"');
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(char(c));
            ++i;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
            ++i;
        } else {
            const size_t n = unicode::utf8_sequence_length(s, i);
            if (n == 0) return false;
            out.append(s, i, n);
            i += n;
        }
    }
    out.push_back('"');
    return true;
}

} // namespace tinyllm
