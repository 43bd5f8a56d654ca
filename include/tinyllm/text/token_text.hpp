// Token ids to text without the standard library, for firmware and the generation loop: the
// GGUF vocabulary's pieces as bytes (SentencePiece and byte-level BPE spellings), and which
// ids end a generation. The full tokenizer (encoding) is tokenizer.hpp, on the host.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/text/token_bytes.hpp"

namespace tinyllm {

class TokenText {
public:
    // Bytes of arena init() takes for this vocabulary.
    static size_t required_bytes(const gguf::File& f) {
        Result<gguf::Array> tokens = f.get_array("tokenizer.ggml.tokens");
        return tokens ? size_t(tokens->count) * sizeof(StrView) + 64 : 0;
    }

    // The longest vocabulary entry in bytes; no token stands for more bytes than its entry.
    static size_t longest_piece(const gguf::File& f) {
        Result<gguf::Array> tokens = f.get_array("tokenizer.ggml.tokens");
        if (!tokens || tokens->type != gguf::ValueType::string) return 0;
        size_t longest = 0;
        auto cursor = tokens->strings();
        for (uint64_t i = 0; i < tokens->count; ++i) {
            const size_t n = cursor.next().size();
            if (n > longest) longest = n;
        }
        return longest;
    }

    Status init(const gguf::File& f, Arena& arena) {
        Result<StrView> model = f.get_string("tokenizer.ggml.model");
        if (!model) return model.status;
        if (*model == StrView("llama")) spelling_ = text::Spelling::sentencepiece;
        else if (*model == StrView("gpt2")) spelling_ = text::Spelling::byte_level;
        else return Status::fail(Error::unsupported_type, "tokenizer model '", *model, "' (supported: llama, gpt2)");
        Result<gguf::Array> tokens = f.get_array("tokenizer.ggml.tokens");
        if (!tokens) return tokens.status;
        if (tokens->type != gguf::ValueType::string || tokens->count == 0 || tokens->count > (1u << 24))
            return Status::fail(Error::wrong_key_type, "tokenizer.ggml.tokens must be a non-empty string array");
        n_ = int32_t(tokens->count);
        pieces_ = arena.allocate_array<StrView>(size_t(n_));
        if (!pieces_) return Status::fail(Error::out_of_memory, "token table of ", n_, " entries");
        auto cursor = tokens->strings();
        for (int32_t i = 0; i < n_; ++i) pieces_[i] = cursor.next();
        longest_ = longest_piece(f);
        types_ = {};
        if (Result<gguf::Array> t = f.get_array("tokenizer.ggml.token_type")) {
            if (t->type != gguf::ValueType::i32 || t->count != uint64_t(n_))
                return Status::fail(Error::shape_mismatch, "tokenizer.ggml.token_type must hold ", n_, " i32 values");
            types_ = *t;
        }
        const bool spm = spelling_ == text::Spelling::sentencepiece;
        eos_ = optional_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : -1);
        eot_ = optional_id(f, "tokenizer.ggml.eot_token_id", -1);
        return Status{};
    }

    int32_t n_vocab() const { return n_; }
    int32_t eos_id() const { return eos_; }
    text::Spelling spelling() const { return spelling_; }
    StrView piece(int32_t id) const { return id >= 0 && id < n_ ? pieces_[id] : StrView(); }
    int32_t type(int32_t id) const { return types_.count && id >= 0 && id < n_ ? int32_t(types_.int_at(uint64_t(id))) : text::normal; }
    // The most bytes one token can stand for.
    size_t max_token_bytes() const { return longest_; }

    // Writes the bytes of one token to out (at most cap) and returns their count.
    size_t bytes(int32_t id, char* out, size_t cap) const {
        if (id < 0 || id >= n_) return 0;
        return text::token_bytes(pieces_[id], type(id), spelling_, out, cap);
    }

    // End of generation: EOS, EOT, or a control token whose text ends a turn.
    bool is_end_of_generation(int32_t id) const {
        if (id < 0 || id >= n_) return false;
        if (id == eos_ || id == eot_) return true;
        return type(id) == text::control && text::ends_turn(pieces_[id]);
    }

private:
    static int32_t optional_id(const gguf::File& f, StrView key, int32_t fallback) {
        Result<int64_t> v = f.get_int(key);
        return v ? int32_t(*v) : fallback;
    }

    StrView* pieces_ = nullptr;
    int32_t n_ = 0;
    size_t longest_ = 0;
    gguf::Array types_;
    text::Spelling spelling_ = text::Spelling::sentencepiece;
    int32_t eos_ = -1, eot_ = -1;
};

} // namespace tinyllm
