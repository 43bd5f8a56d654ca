// Host-side (edge of the engine): llama.cpp's KL-divergence base file, written by one perplexity
// run and read by a later one (either tool reads the other's). Layout, little-endian:
//   "_logits_", int32 n_ctx, int32 n_vocab, int32 n_chunk, int32 tokens[n_chunk * n_ctx],
//   then per chunk its n_ctx - 1 - n_ctx/2 scored positions' base rows (token_scores.hpp).
// The reader checks the header, every token and the exact size before anything is used.
#pragma once
#include <stdint.h>

#include <fstream>
#include <string>
#include <vector>

#include "tinyllm/evaluation/perplexity.hpp"
#include "tinyllm/loaders/host/mapped_file.hpp"

namespace tinyllm {

class LogProbFileWriter {
public:
    // Opens the file before any work, so an unwritable path fails first.
    Status open(const std::string& path) {
        path_ = path;
        out_.open(path, std::ios::binary | std::ios::trunc);
        if (!out_) return Status::fail(Error::io_error, "cannot write '", path, "'");
        return Status{};
    }
    Status write_header(int n_ctx, int n_vocab, int n_chunk, const int32_t* tokens) {
        out_.write("_logits_", 8);
        const int32_t header[3] = {n_ctx, n_vocab, n_chunk};
        out_.write(reinterpret_cast<const char*>(header), sizeof header);
        out_.write(reinterpret_cast<const char*>(tokens), std::streamsize(size_t(n_chunk) * size_t(n_ctx) * sizeof(int32_t)));
        return check();
    }
    Status write_rows(const uint16_t* rows, size_t n_words) {
        out_.write(reinterpret_cast<const char*>(rows), std::streamsize(n_words * sizeof(uint16_t)));
        return check();
    }
    Status close() {
        out_.close();
        return out_ ? Status{} : Status::fail(Error::io_error, "cannot write '", path_, "'");
    }

private:
    Status check() { return out_.flush() ? Status{} : Status::fail(Error::io_error, "cannot write '", path_, "'"); }
    std::string path_;
    std::ofstream out_;
};

class LogProbFileReader {
public:
    Status open(const std::string& path) {
        Status st = file_.open(path);
        return st ? read(file_.bytes(), path) : st;
    }

    // The same over bytes the caller keeps alive and unchanged while the reader is used; name
    // is what errors call them.
    Status read(ByteSpan b, const std::string& name) {
        const std::string& path = name;
        if (b.size < 8 || __builtin_memcmp(b.data, "_logits_", 8) != 0)
            return Status::fail(Error::bad_magic, "'", path, "' is not a file of base log-probabilities (no '_logits_' header)");
        if (b.size < 20) return Status::fail(Error::truncated, "'", path, "' ends inside its header (", uint64_t(b.size), " bytes)");
        int32_t header[3];
        __builtin_memcpy(header, b.data + 8, sizeof header);
        layout_.n_ctx = header[0];
        n_vocab_ = header[1];
        n_chunk_ = header[2];
        if (layout_.n_ctx < 2 || n_vocab_ < 1 || n_chunk_ < 1)
            return Status::fail(Error::corrupt, "'", path, "': context ", layout_.n_ctx, ", vocabulary ", n_vocab_, ", chunks ", n_chunk_);
        // The size the header implies, with every product checked (a header can claim any counts).
        const uint64_t n_tokens = uint64_t(n_chunk_) * uint64_t(layout_.n_ctx);  // below 2^62
        const uint64_t row_bytes = uint64_t(base_row_words(n_vocab_)) * sizeof(uint16_t);
        uint64_t rows_bytes = 0, expected = 0;
        const bool overflow = __builtin_mul_overflow(uint64_t(n_chunk_) * uint64_t(layout_.n_scored()), row_bytes, &rows_bytes) ||
                              __builtin_add_overflow(20 + n_tokens * 4, rows_bytes, &expected);
        if (overflow)
            return Status::fail(Error::absurd_count, "'", path, "': ", n_chunk_, " chunks of ", layout_.n_ctx, " tokens over a vocabulary of ",
                                n_vocab_, " need more bytes than a file can hold");
        if (uint64_t(b.size) != expected)
            return Status::fail(b.size < expected ? Error::truncated : Error::corrupt, "'", path, "' holds ", uint64_t(b.size), " bytes; ",
                                n_chunk_, " chunks of ", layout_.n_ctx, " tokens over a vocabulary of ", n_vocab_, " need ", expected);
        tokens_ = b.data + 20;
        rows_ = b.data + 20 + n_tokens * 4;
        for (uint64_t i = 0; i < n_tokens; ++i) {
            const int32_t t = token(i);
            if (t < 0 || t >= n_vocab_)
                return Status::fail(Error::token_out_of_range, "'", path, "': token ", t, " at ", i, " is outside the vocabulary of ", n_vocab_);
        }
        return Status{};
    }

    const ChunkLayout& layout() const { return layout_; }
    int n_vocab() const { return n_vocab_; }
    int n_chunk() const { return n_chunk_; }
    int32_t token(uint64_t i) const {
        int32_t t;
        __builtin_memcpy(&t, tokens_ + i * 4, 4);
        return t;
    }
    // The chunk's tokens (as they were read, before any BOS substitution).
    void chunk_tokens(int chunk, std::vector<int32_t>& out) const {
        out.resize(size_t(layout_.n_ctx));
        __builtin_memcpy(out.data(), tokens_ + uint64_t(chunk) * uint64_t(layout_.n_ctx) * 4, out.size() * 4);
    }
    // Base row j (0..n_scored) of a chunk, copied out so it is aligned.
    void base_row(int chunk, int j, std::vector<uint16_t>& out) const {
        const size_t words = base_row_words(n_vocab_);
        out.resize(words);
        const uint64_t index = uint64_t(chunk) * uint64_t(layout_.n_scored()) + uint64_t(j);
        __builtin_memcpy(out.data(), rows_ + index * words * 2, words * 2);
    }

private:
    MappedFile file_;
    ChunkLayout layout_;
    int n_vocab_ = 0, n_chunk_ = 0;
    const uint8_t* tokens_ = nullptr;
    const uint8_t* rows_ = nullptr;
};

} // namespace tinyllm
