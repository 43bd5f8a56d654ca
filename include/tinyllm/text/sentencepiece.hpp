// Text to token ids without the standard library, for firmware: SentencePiece (SPM) encoding
// over the GGUF vocabulary in place (the pieces and scores are read from the model's bytes),
// giving the host Tokenizer's ids (tokenizer.hpp, llama.cpp's rules): special tokens split out
// first (user-defined ones always, control ones when asked; longest first; Phi-3 drops the white
// space after them), then in each stretch of text spaces become U+2581, with one prefixed at
// the start and after a special token when the vocabulary asks, the adjacent pair of symbols
// that forms the highest-scoring token merges first (the leftmost on equal scores), and a
// character that is no token becomes its byte tokens. Memory: a lookup table and the special
// tokens' list, required_bytes() from the arena at init(), and scratch_bytes(n) per encode()
// of n bytes, given back when it returns.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/status.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/text/token_text.hpp"

namespace tinyllm {

class SentencePieceEncoder {
public:
    static size_t required_bytes(const TokenText& vocabulary) {
        return size_t(table_slots(vocabulary.n_vocab())) * sizeof(int32_t) + size_t(count_specials(vocabulary)) * sizeof(Special) + 2 * 64;
    }
    // Arena bytes encode() uses for text of n bytes (and gives back).
    static size_t scratch_bytes(size_t n) {
        const uint64_t bytes = space.size() * (uint64_t(n) + 1) + sizeof(Symbol) * (uint64_t(n) + 1) + 2 * sizeof(Fragment) * (2 * uint64_t(n) + 2) + 4 * 64;
        return bytes > SIZE_MAX ? SIZE_MAX : size_t(bytes);  // 32-bit targets: no wrap to a small size
    }

    // vocabulary: the same model's TokenText, which must outlive the encoder.
    Status init(const gguf::File& f, const TokenText& vocabulary, Arena& arena) {
        if (vocabulary.spelling() != text::Spelling::sentencepiece)
            return Status::fail(Error::unsupported_type, "on-device encoding needs a SentencePiece (llama) vocabulary");
        vocab_ = &vocabulary;
        const int32_t n = vocabulary.n_vocab();
        scores_ = {};
        if (Result<gguf::Array> scores = f.get_array("tokenizer.ggml.scores")) {
            if (scores->type != gguf::ValueType::f32 || scores->count != uint64_t(n))
                return Status::fail(Error::shape_mismatch, "tokenizer.ggml.scores must hold ", n, " f32 values");
            scores_ = *scores;
        }
        bos_ = optional_int(f, "tokenizer.ggml.bos_token_id", 1);
        eos_ = optional_int(f, "tokenizer.ggml.eos_token_id", 2);
        add_bos_ = optional_int(f, "tokenizer.ggml.add_bos_token", 1) != 0 && bos_ >= 0;
        add_eos_ = optional_int(f, "tokenizer.ggml.add_eos_token", 0) != 0 && eos_ >= 0;
        add_space_prefix_ = optional_int(f, "tokenizer.ggml.add_space_prefix", 1) != 0;
        if (bos_ >= n || eos_ >= n) return Status::fail(Error::token_out_of_range, "bos/eos token id outside the vocabulary of ", n);
        slots_ = table_slots(n);
        table_ = arena.allocate_array<int32_t>(size_t(slots_));
        n_specials_ = count_specials(vocabulary);
        specials_ = arena.allocate_array<Special>(size_t(n_specials_ > 0 ? n_specials_ : 1));
        if (!table_ || !specials_) return Status::fail(Error::out_of_memory, "token lookup table of ", slots_, " slots");
        for (uint32_t i = 0; i < slots_; ++i) table_[i] = -1;
        for (int32_t id = 0; id < n; ++id) {  // the first of equal pieces keeps the text, as on the host
            uint32_t slot = hash(vocabulary.piece(id)) & (slots_ - 1);
            while (table_[slot] >= 0 && vocabulary.piece(table_[slot]) != vocabulary.piece(id)) slot = (slot + 1) & (slots_ - 1);
            if (table_[slot] < 0) table_[slot] = id;
        }
        // Special tokens, longest first (stable), as the host orders them. llama.cpp drops the
        // white space after every one but <unk>, <s> and <|endoftext|> when the model's name
        // says Phi-3: the vocabulary does not mark it.
        Result<StrView> name = f.get_string("general.name");
        const bool phi3 = name && (contains_ignoring_case(*name, "phi-3") || contains_ignoring_case(*name, "phi3"));
        const int32_t unk = find("<unk>"), bos = find("<s>"), end_of_text = find("<|endoftext|>");  // the ids the host exempts
        int32_t count = 0;
        for (int32_t id = 0; id < n; ++id) {
            if (!is_special(vocabulary, id)) continue;
            const StrView piece = vocabulary.piece(id);
            const bool keeps_space = id == unk || id == bos || id == end_of_text;
            int32_t at = count++;
            for (; at > 0 && vocabulary.piece(specials_[at - 1].id).size() < piece.size(); --at) specials_[at] = specials_[at - 1];
            specials_[at] = Special{id, phi3 && !keeps_space};
        }
        return Status{};
    }

    // Writes the ids of text to out and returns their count, as the host Tokenizer's
    // encode(text, add_special, parse_special): add_special puts BOS first and EOS last where the
    // vocabulary asks (the start of a conversation); parse_special reads control tokens' text
    // as those tokens. Fails naming the problem when out or the arena is too small.
    Result<int> encode(StrView text, bool add_special, bool parse_special, int32_t* out, int capacity, Arena& arena) const {
        const size_t mark = arena.used();
        Result<int> r = encode_in(text, add_special, parse_special, out, capacity, arena);
        arena.reset_to(mark);
        return r;
    }

    // The id of a token by its exact text, or -1.
    int32_t find(StrView piece) const {
        if (!table_) return -1;
        for (uint32_t slot = hash(piece) & (slots_ - 1);; slot = (slot + 1) & (slots_ - 1)) {
            if (table_[slot] < 0) return -1;
            if (vocab_->piece(table_[slot]) == piece) return table_[slot];
        }
    }

private:
    static constexpr StrView space{"\xe2\x96\x81"};  // U+2581, SentencePiece's space

    struct Special {
        int32_t id;
        bool rstrip;  // the white space after it is dropped
    };
    // A stretch of the text [start, start + len): raw text (token -1) or a special token.
    struct Fragment {
        uint32_t start, len;
        int32_t token;
    };
    // One UTF-8 character of the normalized text at first; merged symbols grow, absorbed ones
    // get len 0. best: the score of the token this symbol and the next would form, if any.
    struct Symbol {
        int32_t prev, next;
        uint32_t start, len;
        float best;
        bool pairs;
    };

    static uint32_t table_slots(int32_t n_vocab) {
        uint32_t slots = 16;
        while (slots < 2 * uint32_t(n_vocab > 0 ? n_vocab : 1)) slots *= 2;
        return slots;
    }
    static bool is_special(const TokenText& v, int32_t id) {
        const int32_t type = v.type(id);
        return (type == text::control || type == text::user_defined || type == text::unknown) && !v.piece(id).empty();
    }
    static int32_t count_specials(const TokenText& v) {
        int32_t count = 0;
        for (int32_t id = 0; id < v.n_vocab(); ++id) count += is_special(v, id);
        return count;
    }
    static bool contains_ignoring_case(StrView s, StrView lower) {
        for (size_t i = 0; i + lower.size() <= s.size(); ++i) {
            size_t k = 0;
            while (k < lower.size() && (s[i + k] >= 'A' && s[i + k] <= 'Z' ? char(s[i + k] - 'A' + 'a') : s[i + k]) == lower[k]) ++k;
            if (k == lower.size()) return true;
        }
        return false;
    }
    static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }  // std::isspace in the C locale
    static uint32_t hash(StrView s) {  // FNV-1a
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < s.size(); ++i) h = (h ^ uint8_t(s[i])) * 16777619u;
        return h;
    }
    static int32_t optional_int(const gguf::File& f, const char* key, int32_t fallback) {
        Result<int64_t> v = f.get_int(cstr(key));
        return v ? int32_t(*v) : fallback;
    }
    float score(int32_t id) const { return scores_.count ? scores_.f32_at(uint64_t(id)) : 0.0f; }

    // Output with a capacity.
    struct Ids {
        int32_t* out;
        int capacity, count;
        bool add(int32_t id) {
            if (count >= capacity) return false;
            out[count++] = id;
            return true;
        }
    };

    // Splits the raw fragments of `in` around each occurrence of the special token s into `out`.
    size_t split(StrView text, const Special& s, const Fragment* in, size_t n_in, Fragment* out) const {
        const StrView token = vocab_->piece(s.id);
        size_t n_out = 0;
        for (size_t i = 0; i < n_in; ++i) {
            if (in[i].token >= 0) {
                out[n_out++] = in[i];
                continue;
            }
            uint32_t pos = in[i].start;
            const uint32_t end = in[i].start + in[i].len;
            for (uint32_t hit = pos; hit + token.size() <= end;) {
                if (StrView(text.data() + hit, token.size()) != token) {
                    ++hit;
                    continue;
                }
                if (hit > pos) out[n_out++] = Fragment{pos, hit - pos, -1};
                out[n_out++] = Fragment{hit, uint32_t(token.size()), s.id};
                pos = hit + uint32_t(token.size());
                if (s.rstrip)
                    while (pos < end && is_space(text[pos])) ++pos;
                hit = pos;
            }
            if (pos < end) out[n_out++] = Fragment{pos, end - pos, -1};
        }
        return n_out;
    }

    // Whether symbol i and the next form a token, and its score.
    void rate_pair(const char* normalized, Symbol* sym, int32_t i) const {
        if (i < 0) return;
        sym[i].pairs = false;
        if (sym[i].next < 0) return;
        const int32_t id = find(StrView(normalized + sym[i].start, sym[i].len + sym[sym[i].next].len));
        if (id < 0) return;
        sym[i].pairs = true;
        sym[i].best = score(id);
    }

    // One stretch of raw text, normalized into `normalized` with symbols in `sym` (both sized
    // for it by the caller).
    bool encode_raw(StrView raw, bool space_prefix, char* normalized, Symbol* sym, Ids& ids) const {
        uint32_t length = 0;
        auto put_space = [&] {
            for (size_t k = 0; k < space.size(); ++k) normalized[length++] = space[k];
        };
        if (space_prefix) put_space();
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == ' ') put_space();
            else normalized[length++] = raw[i];
        }
        int32_t n_sym = 0;
        for (uint32_t i = 0; i < length;) {
            const uint8_t c = uint8_t(normalized[i]);
            uint32_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            if (i + len > length) len = length - i;
            sym[n_sym] = Symbol{n_sym - 1, n_sym + 1, i, len, 0.0f, false};
            ++n_sym;
            i += len;
        }
        sym[n_sym - 1].next = -1;
        for (int32_t i = 0; i < n_sym; ++i) rate_pair(normalized, sym, i);
        for (;;) {  // merge the best pair until none forms a token
            int32_t left = -1;
            for (int32_t i = 0; i >= 0; i = sym[i].next)
                if (sym[i].pairs && (left < 0 || sym[i].best > sym[left].best)) left = i;
            if (left < 0) break;
            Symbol& l = sym[left];
            Symbol& r = sym[l.next];
            l.len += r.len;
            r.len = 0;
            l.next = r.next;
            if (l.next >= 0) sym[l.next].prev = left;
            rate_pair(normalized, sym, l.prev);
            rate_pair(normalized, sym, left);
        }
        for (int32_t i = 0; i >= 0; i = sym[i].next) {
            const StrView piece(normalized + sym[i].start, sym[i].len);
            const int32_t id = find(piece);
            if (id >= 0) {
                if (!ids.add(id)) return false;
                continue;
            }
            for (size_t k = 0; k < piece.size(); ++k) {  // merged symbols are tokens: this is one character
                static constexpr char hex[] = "0123456789ABCDEF";
                const uint8_t byte = uint8_t(piece[k]);
                const char name[6] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
                const int32_t byte_id = find(StrView(name, 6));
                if (!ids.add(byte_id >= 0 ? byte_id : 0)) return false;
            }
        }
        return true;
    }

    Result<int> encode_in(StrView text, bool add_special, bool parse_special, int32_t* out, int capacity, Arena& arena) const {
        Ids ids{out, capacity, 0};
        auto full = [&] { return Status::fail(Error::context_full, "the text needs more than ", capacity, " tokens"); };
        if (text.size() >= (size_t(1) << 30)) return Status::fail(Error::invalid_argument, "text of ", uint64_t(text.size()), " bytes");
        if (add_special && add_bos_ && !ids.add(bos_)) return full();
        const size_t max_fragments = 2 * text.size() + 2;
        Fragment* frags = arena.allocate_array<Fragment>(max_fragments);
        Fragment* next = arena.allocate_array<Fragment>(max_fragments);
        char* normalized = arena.allocate_array<char>(space.size() * (text.size() + 1));
        Symbol* sym = arena.allocate_array<Symbol>(text.size() + 1);
        if (!frags || !next || !normalized || !sym)
            return Status::fail(Error::out_of_memory, "encoding ", uint64_t(text.size()), " bytes of text");
        size_t n_frags = 0;
        if (!text.empty()) frags[n_frags++] = Fragment{0, uint32_t(text.size()), -1};
        for (int32_t s = 0; s < n_specials_; ++s) {
            if (!parse_special && vocab_->type(specials_[s].id) != text::user_defined) continue;
            n_frags = split(text, specials_[s], frags, n_frags, next);
            Fragment* swap = frags;
            frags = next;
            next = swap;
        }
        bool after_special = true;  // SentencePiece prefixes a space at the start and after a special token
        for (size_t i = 0; i < n_frags; ++i) {
            if (frags[i].token >= 0) {
                if (!ids.add(frags[i].token)) return full();
                after_special = true;
                continue;
            }
            if (frags[i].len == 0) continue;
            if (!encode_raw(StrView(text.data() + frags[i].start, frags[i].len), after_special && add_space_prefix_, normalized, sym, ids))
                return full();
            after_special = false;
        }
        if (add_special && add_eos_ && !ids.add(eos_)) return full();
        return ids.count;
    }

    const TokenText* vocab_ = nullptr;
    gguf::Array scores_;
    int32_t* table_ = nullptr;
    uint32_t slots_ = 0;
    Special* specials_ = nullptr;
    int32_t n_specials_ = 0;
    int32_t bos_ = 1, eos_ = 2;
    bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
};

} // namespace tinyllm
