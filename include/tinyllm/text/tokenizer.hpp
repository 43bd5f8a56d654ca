// Tokenizer read from GGUF metadata (tokenizer.ggml.*), with llama.cpp's exact rules so ids
// match it:
//  - "llama": SentencePiece-style BPE: merge adjacent symbols by the highest vocabulary score,
//    fall back to <0xXX> byte tokens;
//  - "gpt2": byte-level BPE with ranked merges after a pre-tokenizer (bpe.hpp).
// Text is first split around special tokens (user-defined ones always, control ones when
// parse_special). Host-side: uses the standard library, builds without exceptions or RTTI.
#pragma once
#include <cctype>
#include <cstdint>
#include <algorithm>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/text/bpe.hpp"
#include "tinyllm/text/token_bytes.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm {

class Tokenizer {
public:
    Status load(const gguf::File& f) {
        Result<StrView> model = f.get_string("tokenizer.ggml.model");
        if (!model) return model.status;
        if (*model == StrView("llama")) kind_ = Kind::spm;
        else if (*model == StrView("gpt2")) kind_ = Kind::bpe;
        else return Status::fail(Error::unsupported_type, "tokenizer model '", *model, "' (supported: llama, gpt2)");
        Result<gguf::Array> tokens = f.get_array("tokenizer.ggml.tokens");
        if (!tokens) return tokens.status;
        if (tokens->type != gguf::ValueType::string || tokens->count == 0 || tokens->count > (1u << 24))
            return Status::fail(Error::wrong_key_type, "tokenizer.ggml.tokens must be a non-empty string array");
        const size_t n = size_t(tokens->count);
        pieces_.clear();
        pieces_.reserve(n);
        auto cursor = tokens->strings();
        for (size_t i = 0; i < n; ++i) {
            StrView s = cursor.next();
            pieces_.emplace_back(s.data(), s.size());
        }
        scores_.assign(n, 0.0f);
        if (Result<gguf::Array> scores = f.get_array("tokenizer.ggml.scores")) {
            if (scores->type != gguf::ValueType::f32 || scores->count != n)
                return Status::fail(Error::shape_mismatch, "tokenizer.ggml.scores must hold ", uint64_t(n), " f32 values");
            for (size_t i = 0; i < n; ++i) scores_[i] = scores->f32_at(i);
        }
        types_.assign(n, text::normal);
        if (Result<gguf::Array> types = f.get_array("tokenizer.ggml.token_type")) {
            if (types->type != gguf::ValueType::i32 || types->count != n)
                return Status::fail(Error::shape_mismatch, "tokenizer.ggml.token_type must hold ", uint64_t(n), " i32 values");
            for (size_t i = 0; i < n; ++i) types_[i] = int32_t(types->int_at(i));
        }
        const bool spm = kind_ == Kind::spm;
        bos_ = optional_id(f, "tokenizer.ggml.bos_token_id", spm ? 1 : -1);
        eos_ = optional_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : -1);
        eot_ = optional_id(f, "tokenizer.ggml.eot_token_id", -1);
        add_bos_ = optional_flag(f, "tokenizer.ggml.add_bos_token", spm) && bos_ >= 0;
        add_eos_ = optional_flag(f, "tokenizer.ggml.add_eos_token", false) && eos_ >= 0;
        add_space_prefix_ = optional_flag(f, "tokenizer.ggml.add_space_prefix", spm);
        if (bos_ >= int32_t(n) || eos_ >= int32_t(n))
            return Status::fail(Error::token_out_of_range, "bos/eos token id outside the vocabulary of ", uint64_t(n));

        ids_.clear();
        ids_.reserve(n);
        for (size_t i = 0; i < n; ++i) ids_.emplace(pieces_[i], int32_t(i));
        // Tokens matched verbatim in text, longest first (as llama.cpp orders them).
        specials_.clear();
        for (size_t i = 0; i < n; ++i)
            if ((types_[i] == text::control || types_[i] == text::user_defined || types_[i] == text::unknown) && !pieces_[i].empty())
                specials_.push_back(int32_t(i));
        std::stable_sort(specials_.begin(), specials_.end(),
                         [&](int32_t a, int32_t b) { return pieces_[size_t(a)].size() > pieces_[size_t(b)].size(); });
        // llama.cpp drops the white space after a special token when the model's name says Phi-3
        // (every special token but <unk>, <s> and <|endoftext|>): the vocabulary itself does not
        // mark it, so the name is the only way to give the same ids.
        rstrip_.assign(n, 0);
        Result<StrView> name = f.get_string("general.name");
        std::string lower = name ? std::string(name->data(), name->size()) : std::string();
        for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (lower.find("phi-3") != std::string::npos || lower.find("phi3") != std::string::npos) {
            for (int32_t id : specials_) rstrip_[size_t(id)] = 1;
            for (const char* keep : {"<unk>", "<s>", "<|endoftext|>"})
                if (int32_t id = find(keep); id >= 0) rstrip_[size_t(id)] = 0;
        }
        if (kind_ == Kind::bpe) {
            Status st = load_bpe(f);
            if (!st) return st;
        }
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            auto it = ids_.find(name);
            byte_ids_[b] = it == ids_.end() ? -1 : it->second;
        }
        return Status{};
    }

    int32_t n_vocab() const { return int32_t(pieces_.size()); }
    int32_t bos_id() const { return bos_; }
    int32_t eos_id() const { return eos_; }
    // Whether encode() with add_special puts BOS first and EOS last (the vocabulary's flags).
    bool adds_bos() const { return add_bos_; }
    bool adds_eos() const { return add_eos_; }
    // End of generation: EOS, EOT, or a control token whose text ends a turn.
    bool is_eog(int32_t id) const {
        if (id < 0 || id >= n_vocab()) return false;
        if (id == eos_ || id == eot_) return true;
        const std::string& p = pieces_[size_t(id)];
        return types_[size_t(id)] == text::control && text::ends_turn(StrView(p.data(), p.size()));
    }
    // Id of a token by its exact text, or -1.
    int32_t find(const std::string& s) const {
        auto it = ids_.find(s);
        return it == ids_.end() ? -1 : it->second;
    }

    std::vector<int32_t> encode(const std::string& text, bool add_special, bool parse_special) const {
        std::vector<int32_t> out;
        if (add_special && add_bos_) out.push_back(bos_);
        bool after_special = true;  // SentencePiece prefixes a space to text at the start or after a special token
        for (const Fragment& frag : partition(text, parse_special)) {
            if (frag.token >= 0) {
                out.push_back(frag.token);
                after_special = true;
                continue;
            }
            if (frag.len == 0) continue;
            std::string piece = text.substr(frag.start, frag.len);
            if (kind_ == Kind::spm) encode_spm(piece, after_special && add_space_prefix_, out);
            else encode_bpe(piece, out);
            after_special = false;
        }
        if (add_special && add_eos_) out.push_back(eos_);
        return out;
    }

    // The bytes one token stands for (text/token_bytes.hpp: the rule the detokenizer shares).
    std::string token_piece(int32_t id) const {
        if (id < 0 || id >= n_vocab()) return {};
        const std::string& p = pieces_[size_t(id)];
        std::string bytes(p.size(), '\0');
        bytes.resize(text::token_bytes(StrView(p.data(), p.size()), types_[size_t(id)],
                                       kind_ == Kind::bpe ? text::Spelling::byte_level : text::Spelling::sentencepiece, &bytes[0], bytes.size()));
        return bytes;
    }

private:
    static int32_t optional_id(const gguf::File& f, const char* key, int32_t fallback) {
        Result<int64_t> v = f.get_int(cstr(key));
        return v ? int32_t(*v) : fallback;
    }
    static bool optional_flag(const gguf::File& f, const char* key, bool fallback) {
        Result<int64_t> v = f.get_int(cstr(key));
        return v ? *v != 0 : fallback;
    }

    enum class Kind { spm, bpe };

    // A piece of the input: raw text [start, start + len), or a special token.
    struct Fragment {
        size_t start, len;
        int32_t token;  // -1 for raw text
    };

    std::vector<Fragment> partition(const std::string& text, bool parse_special) const {
        std::vector<Fragment> frags = {{0, text.size(), -1}};
        for (int32_t id : specials_) {
            if (!parse_special && types_[size_t(id)] != text::user_defined) continue;
            const std::string& tok = pieces_[size_t(id)];
            std::vector<Fragment> next;
            for (const Fragment& f : frags) {
                if (f.token >= 0) {
                    next.push_back(f);
                    continue;
                }
                size_t pos = f.start, end = f.start + f.len;
                for (size_t hit; (hit = text.find(tok, pos)) != std::string::npos && hit + tok.size() <= end;) {
                    if (hit > pos) next.push_back({pos, hit - pos, -1});
                    next.push_back({hit, tok.size(), id});
                    pos = hit + tok.size();
                    if (rstrip_[size_t(id)])
                        while (pos < end && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
                }
                if (pos < end) next.push_back({pos, end - pos, -1});
            }
            frags.swap(next);
        }
        return frags;
    }

    Status load_bpe(const gguf::File& f) {
        Result<gguf::Array> merges = f.get_array("tokenizer.ggml.merges");
        if (!merges) return merges.status;
        if (merges->type != gguf::ValueType::string)
            return Status::fail(Error::wrong_key_type, "tokenizer.ggml.merges must be a string array");
        ranks_.clear();
        ranks_.reserve(size_t(merges->count));
        auto cursor = merges->strings();
        for (uint64_t i = 0; i < merges->count; ++i) {
            StrView m = cursor.next();
            ranks_.emplace(std::string(m.data(), m.size()), int32_t(i));
        }
        Result<StrView> pre = f.get_string("tokenizer.ggml.pre");
        std::string pre_name = pre ? std::string(pre->data(), pre->size()) : "default";
        if (!pretokenizer_.init(pre_name))
            return Status::fail(Error::unsupported_type, "pre-tokenizer '", pre_name, "'");
        // Llama 3 style vocabularies take a whole word when it is a token, before merging.
        ignore_merges_ = pretokenizer_.uses_llama3_rules();
        return Status{};
    }

    void encode_bpe(const std::string& text, std::vector<int32_t>& out) const {
        for (const std::string& raw_word : pretokenizer_.split(text)) {
            std::string word;  // bytes as printable code points
            for (unsigned char c : raw_word) unicode::append_utf8(word, text::byte_to_codepoint(c));
            if (ignore_merges_) {
                int32_t id = find(word);
                if (id >= 0) {
                    out.push_back(id);
                    continue;
                }
            }
            merge_bpe(word, out);
        }
    }

    // Merges adjacent symbols of one word by merge rank (lowest first, leftmost on ties).
    void merge_bpe(const std::string& word, std::vector<int32_t>& out) const {
        struct Sym { int prev, next; size_t start, len; };
        struct Pair {
            int left, right, rank;
            size_t len;
            bool operator<(const Pair& o) const { return rank > o.rank || (rank == o.rank && left > o.left); }
        };
        std::vector<Sym> sym;
        for (size_t i = 0; i < word.size();) {
            unsigned char c = static_cast<unsigned char>(word[i]);
            size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            if (i + len > word.size()) len = word.size() - i;
            sym.push_back({int(sym.size()) - 1, int(sym.size()) + 1, i, len});
            i += len;
        }
        if (sym.empty()) return;
        sym.back().next = -1;
        std::priority_queue<Pair> queue;
        auto try_pair = [&](int l, int r) {
            if (l < 0 || r < 0) return;
            std::string key = word.substr(sym[size_t(l)].start, sym[size_t(l)].len) + " " +
                              word.substr(sym[size_t(r)].start, sym[size_t(r)].len);
            auto it = ranks_.find(key);
            if (it != ranks_.end()) queue.push({l, r, it->second, sym[size_t(l)].len + sym[size_t(r)].len});
        };
        for (size_t i = 1; i < sym.size(); ++i) try_pair(int(i) - 1, int(i));
        while (!queue.empty()) {
            Pair p = queue.top();
            queue.pop();
            Sym& l = sym[size_t(p.left)];
            Sym& r = sym[size_t(p.right)];
            if (l.len == 0 || r.len == 0 || l.len + r.len != p.len) continue;  // stale
            l.len += r.len;
            r.len = 0;
            l.next = r.next;
            if (r.next >= 0) sym[size_t(r.next)].prev = p.left;
            try_pair(l.prev, p.left);
            try_pair(p.left, l.next);
        }
        for (int i = 0; i >= 0; i = sym[size_t(i)].next) {
            std::string s = word.substr(sym[size_t(i)].start, sym[size_t(i)].len);
            int32_t id = find(s);
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            for (char c : s) {  // no token for the merged text: one token per byte, where they exist
                int32_t b = find(std::string(1, c));
                if (b >= 0) out.push_back(b);
            }
        }
    }

    struct Symbol {
        int prev, next;
        size_t start, len;  // bytes in the normalized text
    };
    struct Bigram {
        int left, right;
        float score;
        size_t len;
        // Highest score first; on equal scores the leftmost pair first.
        bool operator<(const Bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
    };

    void encode_spm(const std::string& raw, bool space_prefix, std::vector<int32_t>& out) const {
        std::string text;
        if (space_prefix) text = "\xe2\x96\x81";
        for (char c : raw) {
            if (c == ' ') text += "\xe2\x96\x81";
            else text += c;
        }
        // One symbol per UTF-8 character.
        std::vector<Symbol> sym;
        for (size_t i = 0; i < text.size();) {
            unsigned char c = static_cast<unsigned char>(text[i]);
            size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            if (i + len > text.size()) len = text.size() - i;
            sym.push_back({int(sym.size()) - 1, int(sym.size()) + 1, i, len});
            i += len;
        }
        if (sym.empty()) return;
        sym.back().next = -1;

        std::priority_queue<Bigram> queue;
        std::unordered_map<std::string, std::pair<int, int>> merged_from;  // text -> the pair that made it
        auto try_pair = [&](int left, int right) {
            if (left < 0 || right < 0) return;
            std::string s = text.substr(sym[size_t(left)].start, sym[size_t(left)].len + sym[size_t(right)].len);
            int32_t id = find(s);
            if (id < 0) return;
            queue.push({left, right, scores_[size_t(id)], s.size()});
            merged_from[s] = {left, right};
        };
        for (size_t i = 1; i < sym.size(); ++i) try_pair(int(i) - 1, int(i));
        while (!queue.empty()) {
            Bigram b = queue.top();
            queue.pop();
            Symbol& l = sym[size_t(b.left)];
            Symbol& r = sym[size_t(b.right)];
            if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale entry
            l.len += r.len;
            r.len = 0;
            l.next = r.next;
            if (r.next >= 0) sym[size_t(r.next)].prev = b.left;
            try_pair(l.prev, b.left);
            try_pair(b.left, l.next);
        }
        for (int i = 0; i >= 0; i = sym[size_t(i)].next)
            resegment(text, sym[size_t(i)].start, sym[size_t(i)].len, sym, merged_from, out);
    }

    // A merged symbol that is not itself a token splits back into the pair that formed it;
    // a single character that is not a token becomes byte tokens.
    void resegment(const std::string& text, size_t start, size_t len, const std::vector<Symbol>& sym,
                   const std::unordered_map<std::string, std::pair<int, int>>& merged_from,
                   std::vector<int32_t>& out) const {
        std::string s = text.substr(start, len);
        int32_t id = find(s);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
        auto it = merged_from.find(s);
        if (it == merged_from.end()) {
            for (unsigned char c : s) out.push_back(byte_ids_[c] >= 0 ? byte_ids_[c] : 0);
            return;
        }
        const Symbol& left = sym[size_t(it->second.first)];
        size_t left_len = 0;
        // The left part is the original left symbol's text at merge time: recover its length
        // from the right symbol's start.
        left_len = sym[size_t(it->second.second)].start - left.start;
        resegment(text, start, left_len, sym, merged_from, out);
        resegment(text, start + left_len, len - left_len, sym, merged_from, out);
    }

    Kind kind_ = Kind::spm;
    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::vector<int32_t> types_;
    std::unordered_map<std::string, int32_t> ids_;
    int32_t byte_ids_[256] = {};
    std::vector<int32_t> specials_;
    std::vector<uint8_t> rstrip_;  // per id: white space after the token is dropped
    std::unordered_map<std::string, int32_t> ranks_;  // "left right" -> merge rank
    bpe::PreTokenizer pretokenizer_;
    bool ignore_merges_ = false;
    int32_t bos_ = 1, eos_ = 2, eot_ = -1;
    bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
};

// Feeds ids one at a time and returns only complete UTF-8 characters, holding back a partial
// multi-byte sequence until the rest of its bytes arrive.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& t) : tok_(&t) {}

    std::string push(int32_t id) {
        pending_ += tok_->token_piece(id);
        size_t complete = complete_prefix(pending_);
        std::string out = pending_.substr(0, complete);
        pending_.erase(0, complete);
        return out;
    }
    std::string flush() {
        std::string out;
        out.swap(pending_);
        return out;
    }

private:
    // Length of the longest prefix that does not end inside a multi-byte character.
    static size_t complete_prefix(const std::string& s) {
        size_t n = s.size();
        for (size_t back = 1; back <= 3 && back <= n; ++back) {
            unsigned char c = static_cast<unsigned char>(s[n - back]);
            if ((c & 0xc0) == 0x80) continue;  // continuation byte: keep looking for the lead
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
    const Tokenizer* tok_;
    std::string pending_;
};

} // namespace tinyllm
