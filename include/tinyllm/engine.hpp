// The embedding API: a model in a read-only memory span (a GGUF file, or an ExecuTorch .pte
// program with a GGUF vocabulary beside it), one caller-provided arena, tokens and their text
// through a callback. No heap, exceptions, RTTI, threads, files or iostreams; firmware and
// the host use the same calls:
//
//   tinyllm::EngineOptions options;                      // n_ctx, n_batch, sampling, stop strings
//   size_t need = *tinyllm::Engine::required_arena_bytes(model, options);
//   tinyllm::Engine engine;
//   engine.open(model, arena, need, options);            // parse, bind, session, generator
//   engine.generate(prompt, n_prompt, n_predict, on_token, user);
//
// Build with TINYLLM_WITH_PTE=0 to leave the .pte interpreter out (smaller firmware).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifndef TINYLLM_WITH_PTE
#define TINYLLM_WITH_PTE 1
#endif

#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/model.hpp"
#include "tinyllm/core/session.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/text/token_text.hpp"
#if TINYLLM_WITH_PTE
#include "tinyllm/pte/llm_program.hpp"
#endif

namespace tinyllm {

struct EngineOptions {
    int n_ctx = 0;     // 0: the model's own (a .pte program's is fixed)
    int n_batch = 16;  // prompt tokens per forward pass (GGUF)
    SamplerConfig sampling;
    GeneratorOptions generation;
    const StrView* stop = nullptr;  // stop strings for generate(); the caller keeps them alive
    int n_stop = 0;
    ByteSpan vocabulary;  // a GGUF with the vocabulary, for a .pte program (which carries none)
};

class Engine {
public:
    // Arena bytes open() needs for this model and these options, from the model bytes alone.
    static Result<size_t> required_arena_bytes(ByteSpan model, const EngineOptions& options) {
        Result<Shape> shape = pte::looks_like_program(model) ? pte_shape(model, options) : gguf_shape(model, options);
        if (!shape) return shape.status;
        size_t total = shape->model_bytes, max_token_bytes = 0;
        const ByteSpan vocabulary = pte::looks_like_program(model) ? options.vocabulary : model;
        if (vocabulary.size) {
            gguf::File header;
            Status st = gguf::read_header(vocabulary, header);
            if (!st) return st;
            if (pte::looks_like_program(model)) total += gguf::index_bytes(vocabulary);
            if (header.find("tokenizer.ggml.tokens")) {
                total += TokenText::required_bytes(header);
                max_token_bytes = TokenText::longest_piece(header);
            }
        }
        return total + Generator::required_bytes(shape->n_vocab, max_token_bytes, options.generation) + 4 * 64;
    }

    Status open(ByteSpan model, void* arena, size_t arena_bytes, const EngineOptions& options) {
        arena_ = Arena(arena, arena_bytes);
        options_ = options;
        Result<size_t> need = required_arena_bytes(model, options);
        if (!need) return need.status;
        if (arena_bytes < *need)
            return Status::fail(Error::out_of_memory, "the arena has ", uint64_t(arena_bytes), " bytes; this model and context need ",
                                uint64_t(*need));
        Status st = pte::looks_like_program(model) ? open_pte(model) : open_gguf(model);
        if (!st) return st;
        return generator_.init(*language_model_, vocabulary(), options.sampling, arena_, options.generation);
    }

    // Evaluates the prompt (after whatever the conversation holds), then samples up to
    // n_predict tokens, handing each with its text to on_token. Stops at an end-of-generation
    // token, a stop string, when on_token returns false, or when the context is full.
    Status generate(const int32_t* prompt, int n_prompt, int n_predict, TokenCallback on_token, void* user) {
        Status st = generator_.prompt(prompt, n_prompt);
        if (!st) return st;
        GenerationRequest request;
        request.n_predict = n_predict;
        request.stop = options_.stop;
        request.n_stop = options_.n_stop;
        return generator_.generate(request, on_token, user);
    }

    Generator& generator() { return generator_; }
    LanguageModel& language_model() { return *language_model_; }
    // The vocabulary (ids to text), or null when the model came without one.
    const TokenText* vocabulary() const { return has_vocabulary_ ? &vocabulary_ : nullptr; }
    // The GGUF model's configuration (null for a .pte program).
    const ModelConfig* config() const { return language_model_ == &session_ ? &model_.config : nullptr; }
    size_t arena_used() const { return arena_.used(); }

private:
    struct Shape {
        size_t model_bytes;  // the index, weight bindings and session, or the program's memory
        int n_vocab;
    };

    static int clamp_batch(int n_batch, int n_ctx) { return n_batch < 1 ? 1 : n_batch > n_ctx && n_ctx > 0 ? n_ctx : n_batch; }

    static Result<Shape> gguf_shape(ByteSpan model, const EngineOptions& options) {
        gguf::File header;
        Status st = gguf::read_header(model, header);
        if (!st) return st;
        Model shape;
        if (!(st = read_model_config(header, shape.config))) return st;
        const gguf::TensorInfo* embd = header.find_tensor("token_embd.weight");
        if (!embd) return Status::fail(Error::missing_tensor, "token_embd.weight");
        shape.config.n_vocab = int(embd->ne[1]);
        const int n_ctx = options.n_ctx ? options.n_ctx : shape.config.n_ctx_train;
        return Shape{gguf::index_bytes(model) + size_t(shape.config.n_layer) * sizeof(LayerWeights) + 64 +
                         Session::required_bytes(shape, n_ctx, clamp_batch(options.n_batch, n_ctx)),
                     shape.config.n_vocab};
    }

    Status open_vocabulary(const gguf::File& f) {
        has_vocabulary_ = false;
        if (!f.find("tokenizer.ggml.tokens")) return Status{};
        Status st = vocabulary_.init(f, arena_);
        has_vocabulary_ = st.ok();
        return st;
    }

    Status open_gguf(ByteSpan model) {
        Status st = gguf::parse(model, arena_, file_);
        if (!st) return st;
        if (!(st = load_model(file_, arena_, model_))) return st;
        if (!(st = open_vocabulary(file_))) return st;
        const int n_ctx = options_.n_ctx ? options_.n_ctx : model_.config.n_ctx_train;
        if (!(st = session_.init(model_, n_ctx, clamp_batch(options_.n_batch, n_ctx), arena_))) return st;
        language_model_ = &session_;
        return Status{};
    }

#if TINYLLM_WITH_PTE
    static Result<Shape> pte_shape(ByteSpan model, const EngineOptions&) {
        Result<pte::Program> program = pte::open_program(model);
        if (!program) return program.status;
        Result<size_t> bytes = pte::LlmProgram::required_bytes(*program);
        if (!bytes) return bytes.status;
        Result<int> n_vocab = pte::LlmProgram::vocab_size(*program);
        if (!n_vocab) return n_vocab.status;
        return Shape{*bytes, *n_vocab};
    }

    Status open_pte(ByteSpan model) {
        Result<pte::Program> program = pte::open_program(model);
        if (!program) return program.status;
        program_ = *program;
        Status st = llm_.init(program_, arena_);
        if (!st) return st;
        if (options_.n_ctx && options_.n_ctx != llm_.n_ctx())
            return Status::fail(Error::invalid_argument, "a .pte program has a fixed context of ", llm_.n_ctx());
        if (options_.vocabulary.size) {
            if (!(st = gguf::parse(options_.vocabulary, arena_, file_))) return st;
            if (!(st = open_vocabulary(file_))) return st;
        }
        language_model_ = &llm_;
        return Status{};
    }

    pte::Program program_;
    pte::LlmProgram llm_;
#else
    static Result<Shape> pte_shape(ByteSpan, const EngineOptions&) {
        return Status::fail(Error::unsupported_type, "this build has no .pte support (TINYLLM_WITH_PTE=0)");
    }
    Status open_pte(ByteSpan) { return pte_shape({}, {}).status; }
#endif

    Arena arena_;
    EngineOptions options_;
    gguf::File file_;
    Model model_;
    Session session_;
    TokenText vocabulary_;
    bool has_vocabulary_ = false;
    LanguageModel* language_model_ = nullptr;
    Generator generator_;
};

} // namespace tinyllm
