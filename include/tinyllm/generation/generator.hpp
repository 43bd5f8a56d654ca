// The generation loop every single-sequence program uses: prompt evaluation, then a TokenStream
// (sampling, stop rules, final text) fed back token by token, with per-token timings. Drives any LanguageModel (a GGUF Session, a .pte
// program). Memory from the caller's arena; no heap, exceptions or clock of its own.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/language_model.hpp"
#include "tinyllm/generation/token_stream.hpp"

namespace tinyllm {

// One generated token and the text it made final (may be empty while text is held back).
// When generation ends with text still held, a last call brings it with id == no_token.
struct GeneratedToken {
    static constexpr int32_t no_token = -1;
    int32_t id = no_token;
    const char* text = nullptr;
    size_t text_len = 0;
    uint64_t nanoseconds = 0;  // sampling this token and evaluating the one before (0 without a clock)
};

// Return false to stop.
using TokenCallback = bool (*)(const GeneratedToken& token, void* user);

struct GeneratorOptions {
    size_t max_stop_bytes = 64;             // the longest stop string generate() accepts
    uint64_t (*clock_ns)() = nullptr;       // a monotonic clock for timings, if the platform has one
};

struct GenerationStats {
    StopReason reason = StopReason::token_budget;
    int n_prompt = 0, n_generated = 0;
    uint64_t prompt_ns = 0, first_token_ns = 0, generation_ns = 0;
};

class Generator {
public:
    // max_token_bytes: the vocabulary's TokenText::max_token_bytes(), 0 without a vocabulary.
    static size_t required_bytes(int n_vocab, size_t max_token_bytes, const GeneratorOptions& options = {}) {
        return TokenStream::required_bytes(n_vocab, max_token_bytes, options.max_stop_bytes) + size_t(n_vocab) * sizeof(float) + 64;
    }

    // vocabulary may be null: tokens only, no text, no end-of-generation stop.
    Status init(LanguageModel& model, const TokenText* vocabulary, const SamplerConfig& sampling, Arena& arena,
                const GeneratorOptions& options = {}) {
        model_ = &model;
        options_ = options;
        const int n_vocab = model.n_vocab();
        if (vocabulary && vocabulary->n_vocab() > n_vocab)
            return Status::fail(Error::shape_mismatch, "the vocabulary has ", vocabulary->n_vocab(), " tokens, the model ", n_vocab);
        Status st = stream_.init(n_vocab, vocabulary, sampling, options.max_stop_bytes, arena);
        if (!st) return st;
        logits_ = arena.allocate_array<float>(size_t(n_vocab));
        if (!logits_) return Status::fail(Error::out_of_memory, "logits of ", n_vocab, " floats");
        pending_ = GeneratedToken::no_token;
        have_logits_ = false;
        return Status{};
    }

    // Evaluates prompt tokens after what the cache holds (first feeding the last sampled token,
    // if it was not fed yet); the logits of the last one are what generate() samples from.
    // all_logits, if given, receives [n][n_vocab]: every prompt position's logits.
    Status prompt(const int32_t* ids, int n, float* all_logits = nullptr) {
        if (n <= 0) return Status::fail(Error::invalid_argument, "empty prompt");
        Status st = feed_pending();
        if (!st) return st;
        if (model_->n_past() + n > model_->n_ctx())
            return Status::fail(Error::context_full, "prompt of ", n, " tokens after ", model_->n_past(), " does not fit the context of ",
                                model_->n_ctx());
        const uint64_t t0 = now();
        if (!(st = model_->eval(ids, n, all_logits ? all_logits : logits_, all_logits != nullptr))) return st;
        if (all_logits) __builtin_memcpy(logits_, all_logits + size_t(n - 1) * size_t(model_->n_vocab()), size_t(model_->n_vocab()) * sizeof(float));
        stream_.accept(ids, n);
        stats_ = GenerationStats{};
        stats_.n_prompt = n;
        stats_.prompt_ns = now() - t0;
        have_logits_ = true;
        return Status{};
    }

    // Samples up to request.n_predict tokens, handing each to on_token with its final text.
    Status generate(const GenerationRequest& request, TokenCallback on_token, void* user) {
        Status st = feed_pending();
        if (!st) return st;
        if (!have_logits_) return Status::fail(Error::invalid_argument, "nothing to continue from: evaluate a prompt first");
        if (!(st = stream_.start(request))) return st;
        stats_.n_generated = 0;
        stats_.generation_ns = 0;
        uint64_t t_token = now();
        const uint64_t t_start = t_token;
        for (int i = 0; !stream_.done(); ++i) {
            if (i > 0) {
                if (model_->n_past() >= model_->n_ctx()) {
                    stream_.stop(StopReason::context_full);
                    break;
                }
                if (!(st = feed_pending())) return st;
            }
            const NextToken next = stream_.next(logits_);
            pending_ = next.id;
            have_logits_ = false;
            if (!next.in_text) break;
            GeneratedToken token;
            token.id = next.id;
            token.text = next.text.data();
            token.text_len = next.text.size();
            const uint64_t t = now();
            token.nanoseconds = t - t_token;
            t_token = t;
            if (i == 0) stats_.first_token_ns = t - t_start;
            if (!on_token(token, user)) stream_.stop(StopReason::callback);
        }
        stats_.n_generated = stream_.n_generated();
        stats_.reason = stream_.reason();
        stats_.generation_ns = now() - t_start;
        const StrView rest = stream_.finish();
        if (!rest.empty()) {
            GeneratedToken tail;
            tail.text = rest.data();
            tail.text_len = rest.size();
            on_token(tail, user);
        }
        return Status{};
    }

    // Forgets the conversation: an empty cache, the sampler's history and seed restarted.
    void reset() {
        model_->reset();
        stream_.sampler().reset();
        pending_ = GeneratedToken::no_token;
        have_logits_ = false;
    }

    // Keeps the first n tokens of the cache (the next prompt() continues from there).
    Status truncate(int n) {
        Status st = model_->truncate(n);
        if (!st) return st;
        pending_ = GeneratedToken::no_token;
        have_logits_ = false;
        return Status{};
    }

    // Tokens in the cache, plus the last sampled one when it is still to be fed.
    int n_tokens() const { return model_->n_past() + (pending_ != GeneratedToken::no_token ? 1 : 0); }
    const GenerationStats& stats() const { return stats_; }
    const float* logits() const { return have_logits_ ? logits_ : nullptr; }
    Sampler& sampler() { return stream_.sampler(); }
    LanguageModel& model() { return *model_; }

private:
    // The last sampled token goes into the cache before anything that follows it.
    Status feed_pending() {
        if (pending_ == GeneratedToken::no_token) return Status{};
        const int32_t id = pending_;
        pending_ = GeneratedToken::no_token;
        if (model_->n_past() >= model_->n_ctx())
            return Status::fail(Error::context_full, "the context of ", model_->n_ctx(), " tokens is full");
        Status st = model_->eval(&id, 1, logits_, false);
        if (!st) return st;
        have_logits_ = true;
        return Status{};
    }

    uint64_t now() const { return options_.clock_ns ? options_.clock_ns() : 0; }

    LanguageModel* model_ = nullptr;
    GeneratorOptions options_;
    TokenStream stream_;
    float* logits_ = nullptr;
    int32_t pending_ = GeneratedToken::no_token;
    bool have_logits_ = false;
    GenerationStats stats_;
};

} // namespace tinyllm
