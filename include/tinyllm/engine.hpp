// The embedding API: everything needed to run a model from a read-only memory span (a GGUF
// array in flash, or a mapped file) with one caller-provided arena. No heap, exceptions, RTTI,
// threads, files or iostreams; tokens are delivered through a callback. Firmware and the host
// use the same calls:
//
//   tinyllm::Engine engine;
//   engine.open({model, model_size}, arena, arena_size);        // parse + bind, a few KB
//   size_t need = engine.required_arena_bytes(n_ctx, n_batch);  // the whole budget
//   engine.start(n_ctx, n_batch, sampling);                     // session + sampler
//   engine.generate(prompt, n_prompt, n_predict, on_token, user);
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/model.hpp"
#include "tinyllm/core/sampler.hpp"
#include "tinyllm/core/session.hpp"

namespace tinyllm {

// Called for every generated token; return false to stop.
using TokenCallback = bool (*)(int32_t token, void* user);

class Engine {
public:
    Status open(ByteSpan model_bytes, void* arena, size_t arena_bytes) {
        arena_ = Arena(arena, arena_bytes);
        Status st = gguf::parse(model_bytes, arena_, file_);
        if (!st) return st;
        return load_model(file_, arena_, model_);
    }

    // Total arena bytes for a session of n_ctx tokens: what open() used plus the session,
    // the sampler, and logits. Valid after open().
    size_t required_arena_bytes(int n_ctx, int n_batch) const {
        return arena_.used() + Session::required_bytes(model_, n_ctx, n_batch) + Sampler::required_bytes(model_.config.n_vocab) +
               size_t(model_.config.n_vocab) * sizeof(float) + 4 * 64;
    }

    Status start(int n_ctx, int n_batch, const SamplerConfig& sampling) {
        if (arena_.capacity() < required_arena_bytes(n_ctx, n_batch))
            return Status::fail(Error::out_of_memory, "the arena has ", uint64_t(arena_.capacity()), " bytes; this model and context need ",
                                uint64_t(required_arena_bytes(n_ctx, n_batch)));
        Status st = session_.init(model_, n_ctx, n_batch, arena_);
        if (!st) return st;
        if (!(st = sampler_.init(sampling, model_.config.n_vocab, arena_))) return st;
        logits_ = arena_.allocate_array<float>(size_t(model_.config.n_vocab));
        if (!logits_) return Status::fail(Error::out_of_memory, "logits");
        return Status{};
    }

    // Feeds the prompt, then samples up to n_predict tokens, handing each to on_token. Stops at
    // the model's EOS token, when on_token returns false, or with context_full.
    Status generate(const int32_t* prompt, int n_prompt, int n_predict, TokenCallback on_token, void* user) {
        if (n_prompt <= 0) return Status::fail(Error::invalid_argument, "empty prompt");
        Status st = session_.eval(prompt, n_prompt, logits_, false);
        if (!st) return st;
        for (int i = 0; i < n_prompt; ++i) sampler_.accept(prompt[i]);
        const int64_t eos = eos_id();
        for (int i = 0; i < n_predict; ++i) {
            int32_t tok = sampler_.sample(logits_);
            sampler_.accept(tok);
            if (tok == eos || !on_token(tok, user)) break;
            if (i + 1 == n_predict) break;
            if (!(st = session_.eval(&tok, 1, logits_, false))) return st;
        }
        return Status{};
    }

    const Model& model() const { return model_; }
    const gguf::File& file() const { return file_; }
    Session& session() { return session_; }
    size_t arena_used() const { return arena_.used(); }

private:
    int64_t eos_id() const {
        Result<int64_t> v = file_.get_int("tokenizer.ggml.eos_token_id");
        return v ? *v : -1;
    }

    Arena arena_;
    gguf::File file_;
    Model model_;
    Session session_;
    Sampler sampler_;
    float* logits_ = nullptr;
};

} // namespace tinyllm
