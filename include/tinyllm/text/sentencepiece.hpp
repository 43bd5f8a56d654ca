// Text to token ids without the standard library, for firmware: SentencePiece (SPM) encoding
// over the GGUF vocabulary in place (the pieces and scores are read from the model's bytes),
// giving the host Tokenizer's ids (tokenizer.hpp, llama.cpp's rules) for text without special
// tokens: spaces become U+2581 with one prefixed when the vocabulary asks, the adjacent pair
// of symbols that forms the highest-scoring token merges first (the leftmost on equal scores),
// and a character that is no token becomes its byte tokens. Memory: a lookup table of
// required_bytes() from the arena at init(), and scratch_bytes(n) per encode() of n bytes,
// given back when it returns.
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
    static size_t required_bytes(int32_t n_vocab) { return size_t(table_slots(n_vocab)) * sizeof(int32_t) + 64; }
    // Arena bytes encode() uses for text of n bytes (and gives back).
    static size_t scratch_bytes(size_t n) { return space.size() * (n + 1) + sizeof(Symbol) * (n + 1) + 2 * 64; }

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
        const int32_t bos = optional_int(f, "tokenizer.ggml.bos_token_id", 1);
        add_bos_ = optional_int(f, "tokenizer.ggml.add_bos_token", 1) != 0 && bos >= 0;
        if (add_bos_ && bos >= n) return Status::fail(Error::token_out_of_range, "bos token id ", bos, " outside the vocabulary of ", n);
        bos_ = bos;
        add_space_prefix_ = optional_int(f, "tokenizer.ggml.add_space_prefix", 1) != 0;
        slots_ = table_slots(n);
        table_ = arena.allocate_array<int32_t>(size_t(slots_));
        if (!table_) return Status::fail(Error::out_of_memory, "token lookup table of ", slots_, " slots");
        for (uint32_t i = 0; i < slots_; ++i) table_[i] = -1;
        for (int32_t id = 0; id < n; ++id) {  // the first of equal pieces keeps the text, as on the host
            uint32_t slot = hash(vocabulary.piece(id)) & (slots_ - 1);
            while (table_[slot] >= 0 && vocabulary.piece(table_[slot]) != vocabulary.piece(id)) slot = (slot + 1) & (slots_ - 1);
            if (table_[slot] < 0) table_[slot] = id;
        }
        return Status{};
    }

    // Writes the ids of text to out and returns their count; with `start`, the text begins a
    // conversation: BOS first when the vocabulary adds one. Fails naming the problem when out
    // or the arena is too small.
    Result<int> encode(StrView text, bool start, int32_t* out, int capacity, Arena& arena) const {
        const size_t mark = arena.used();
        Result<int> r = encode_in(text, start && add_bos_, out, capacity, arena);
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

    Result<int> encode_in(StrView text, bool bos, int32_t* out, int capacity, Arena& arena) const {
        int n_out = 0;
        auto emit = [&](int32_t id) {
            if (n_out >= capacity) return false;
            out[n_out++] = id;
            return true;
        };
        auto full = [&] { return Status::fail(Error::context_full, "the text needs more than ", capacity, " tokens"); };
        if (bos && !emit(bos_)) return full();
        if (text.empty()) return n_out;
        char* normalized = arena.allocate_array<char>(space.size() * (text.size() + 1));
        Symbol* sym = arena.allocate_array<Symbol>(text.size() + 1);
        if (!normalized || !sym) return Status::fail(Error::out_of_memory, "encoding ", uint64_t(text.size()), " bytes of text");
        uint32_t length = 0;
        auto put_space = [&] {
            for (size_t k = 0; k < space.size(); ++k) normalized[length++] = space[k];
        };
        if (add_space_prefix_) put_space();
        for (size_t i = 0; i < text.size(); ++i) {
            if (text[i] == ' ') put_space();
            else normalized[length++] = text[i];
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
                if (!emit(id)) return full();
                continue;
            }
            for (size_t k = 0; k < piece.size(); ++k) {  // merged symbols are tokens: this is one character
                static constexpr char hex[] = "0123456789ABCDEF";
                const uint8_t byte = uint8_t(piece[k]);
                const char name[6] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
                const int32_t byte_id = find(StrView(name, 6));
                if (!emit(byte_id >= 0 ? byte_id : 0)) return full();
            }
        }
        return n_out;
    }

    const TokenText* vocab_ = nullptr;
    gguf::Array scores_;
    int32_t* table_ = nullptr;
    uint32_t slots_ = 0;
    int32_t bos_ = 1;
    bool add_bos_ = true, add_space_prefix_ = true;
};

} // namespace tinyllm
