// Perplexity of a model over a tokenized text, laid out as llama.cpp's perplexity tool lays it out so
// the numbers compare one to one: chunks of n_ctx tokens, each evaluated from an empty cache with
// its first token replaced by BOS when the vocabulary adds one, and only the second half of each
// chunk scored (every scored token has at least n_ctx/2 tokens of context). Runs any LanguageModel.
// No heap.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/core/language_model.hpp"
#include "tinyllm/evaluation/token_scores.hpp"

namespace tinyllm {

struct ChunkLayout {
    int n_ctx = 0;
    // Logits at positions first..n_ctx-2 each predict the next token of the chunk.
    int first() const { return n_ctx / 2; }
    int n_scored() const { return n_ctx - 1 - first(); }
    // Whole chunks in a text of n_tokens (the last partial one is dropped), at most max_chunks when
    // that is positive.
    int n_chunks(size_t n_tokens, int max_chunks) const {
        const size_t whole = n_tokens / size_t(n_ctx);
        const int n = whole > size_t(INT32_MAX) ? INT32_MAX : int(whole);
        return max_chunks > 0 && max_chunks < n ? max_chunks : n;
    }
};

// Evaluates chunk[0..n_ctx) from an empty cache, n_batch tokens per call, into logits[n_ctx][n_vocab];
// bos >= 0 stands in for the chunk's first token.
inline Status eval_chunk(LanguageModel& model, const int32_t* chunk, int n_ctx, int n_batch, int32_t bos, float* logits) {
    if (n_ctx < 2 || n_ctx > model.n_ctx())
        return Status::fail(Error::invalid_argument, "chunk of ", n_ctx, " tokens (the model's context is ", model.n_ctx(), ")");
    if (n_batch < 1) return Status::fail(Error::invalid_argument, "batch of ", n_batch, " tokens");
    model.reset();
    const size_t n_vocab = size_t(model.n_vocab());
    Status st;
    if (bos >= 0) {
        if (!(st = model.eval(&bos, 1, logits, true))) return st;
    }
    for (int start = bos >= 0 ? 1 : 0; start < n_ctx; start += n_batch) {
        const int n = n_ctx - start < n_batch ? n_ctx - start : n_batch;
        if (!(st = model.eval(chunk + start, n, logits + size_t(start) * n_vocab, true))) return st;
    }
    return Status{};
}

// Running perplexity over scored tokens: PPL = exp(mean nll), with llama.cpp's error estimate.
struct PerplexityTotals {
    double sum_nll = 0, sum_nll2 = 0;
    size_t count = 0;

    // Scores one evaluated chunk: logits[n_ctx][n_vocab] against the chunk's own tokens. With
    // base_rows ([n_scored][base_row_words]), also writes each scored position's base row, and the
    // nll is the one llama.cpp computes while writing them.
    void add_chunk(const ChunkLayout& layout, const float* logits, int n_vocab, const int32_t* chunk, uint16_t* base_rows = nullptr) {
        for (int i = layout.first(); i < layout.n_ctx - 1; ++i) {
            const float* row = logits + size_t(i) * size_t(n_vocab);
            const double nll = base_rows ? pack_base_row(row, n_vocab, chunk[i + 1], base_rows + size_t(i - layout.first()) * base_row_words(n_vocab))
                                         : token_nll(row, n_vocab, chunk[i + 1]);
            sum_nll += nll;
            sum_nll2 += nll * nll;
            ++count;
        }
    }
    double perplexity() const { return count ? exp(sum_nll / double(count)) : 0.0; }
    // The standard error of PPL (from that of the mean nll); 0 when it cannot be estimated.
    double perplexity_error() const {
        if (count < 2) return 0;
        const double mean = sum_nll / double(count), var = sum_nll2 / double(count) - mean * mean;
        return var > 0 ? sqrt(var / double(count - 1)) * perplexity() : 0.0;
    }
};

} // namespace tinyllm
