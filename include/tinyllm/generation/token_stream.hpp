// The per-token half of generation, for whoever runs the model: sample the next token from
// logits, stop at the vocabulary's end-of-generation tokens, at stop strings (held back from
// the text until they can no longer match) or at a token budget, and release the UTF-8 text
// each token makes final. Generator drives one over a LanguageModel; a server drives one per
// sequence of a batched Session. Memory from the caller's arena; no heap or clock.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/sampler.hpp"
#include "tinyllm/generation/text_stream.hpp"
#include "tinyllm/text/token_text.hpp"

namespace tinyllm {

enum class StopReason : uint8_t { token_budget, end_of_generation, stop_string, callback, context_full };

inline const char* stop_reason_name(StopReason r) {
    switch (r) {
    case StopReason::token_budget: return "token budget";
    case StopReason::end_of_generation: return "end of generation";
    case StopReason::stop_string: return "stop string";
    case StopReason::callback: return "stopped by caller";
    case StopReason::context_full: return "context full";
    }
    return "?";
}

struct GenerationRequest {
    int n_predict = 128;
    const StrView* stop = nullptr;  // stop strings; the caller keeps them alive while generating
    int n_stop = 0;
    bool stop_at_end_of_generation = true;
};

// What one sampled token did.
struct NextToken {
    int32_t id = -1;
    bool in_text = true;   // false for an end-of-generation token, which ends generation unseen
    StrView text;          // the text it made final (may be empty while text is held back)
    bool done = false;     // generation ends with this token
};

class TokenStream {
public:
    // max_token_bytes: the vocabulary's TokenText::max_token_bytes(), 0 without a vocabulary.
    static size_t required_bytes(int n_vocab, size_t max_token_bytes, size_t max_stop_bytes) {
        return Sampler::required_bytes(n_vocab) + (max_token_bytes ? TextStream::required_bytes(max_token_bytes, max_stop_bytes) : 0) + 64;
    }

    // vocabulary may be null: tokens only, no text, no end-of-generation stop.
    Status init(int n_vocab, const TokenText* vocabulary, const SamplerConfig& sampling, size_t max_stop_bytes, Arena& arena) {
        vocabulary_ = vocabulary;
        Status st = sampler_.init(sampling, n_vocab, arena);
        if (!st) return st;
        if (vocabulary && !(st = text_.init(vocabulary->max_token_bytes(), max_stop_bytes, arena))) return st;
        done_ = true;
        return Status{};
    }

    // Starts a new reply; the sampler keeps its history (prompt tokens, earlier replies).
    Status start(const GenerationRequest& request) {
        if (request.n_predict < 0) return Status::fail(Error::invalid_argument, "n_predict ", request.n_predict);
        if (!vocabulary_ && request.n_stop > 0) return Status::fail(Error::invalid_argument, "stop strings need a vocabulary");
        if (vocabulary_) {
            Status st = text_.start(request.stop, request.n_stop);
            if (!st) return st;
        }
        request_ = request;
        n_generated_ = 0;
        reason_ = StopReason::token_budget;
        done_ = request.n_predict == 0;
        return Status{};
    }

    // Samples the next token from logits (not called once done()).
    NextToken next(const float* logits) {
        NextToken out;
        out.id = sampler_.sample(logits);
        sampler_.accept(out.id);
        if (request_.stop_at_end_of_generation && vocabulary_ && vocabulary_->is_end_of_generation(out.id)) {
            out.in_text = false;
            out.done = done_ = true;
            reason_ = StopReason::end_of_generation;
            return out;
        }
        ++n_generated_;
        if (vocabulary_) {
            if (text_.push(*vocabulary_, out.id)) {
                done_ = true;
                reason_ = StopReason::stop_string;
            }
            out.text = text_.release();
        }
        if (n_generated_ >= request_.n_predict) done_ = true;
        out.done = done_;
        return out;
    }

    // Ends the reply early (the caller stopped it, or the context is full).
    void stop(StopReason reason) {
        if (done_ && reason_ == StopReason::stop_string) return;
        done_ = true;
        reason_ = reason;
    }

    // The text still held back when the reply ends (none after a stop string: it is cut there).
    StrView finish() {
        if (!vocabulary_ || reason_ == StopReason::stop_string) return {};
        text_.finish();
        return text_.release();
    }

    // Prompt tokens join the sampler's history (repetition penalties).
    void accept(const int32_t* ids, int n) {
        for (int i = 0; i < n; ++i) sampler_.accept(ids[i]);
    }

    bool done() const { return done_; }
    StopReason reason() const { return reason_; }
    int n_generated() const { return n_generated_; }
    Sampler& sampler() { return sampler_; }
    const Sampler& sampler() const { return sampler_; }

private:
    const TokenText* vocabulary_ = nullptr;
    Sampler sampler_;
    TextStream text_;
    GenerationRequest request_;
    int n_generated_ = 0;
    StopReason reason_ = StopReason::token_budget;
    bool done_ = true;
};

} // namespace tinyllm
