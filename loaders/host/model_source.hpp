// Host-side (edge of the engine): a model opened from a file or from memory, a GGUF model or
// an ExecuTorch .pte program with a vocabulary beside it (a GGUF file or a Hugging Face
// tokenizer.json), with its tokenizer and token
// text; and ModelInstance, the model conversations run on (a Session over the GGUF weights, or
// the program with planned memory of its own). generate, the server and the C API open models this way.
#pragma once
#include <string>
#include <vector>

#include "tinyllm/core/session.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/mapped_file.hpp"
#include "tinyllm/loaders/host/private_memory.hpp"
#include "tinyllm/loaders/host/tokenizer_json.hpp"
#include "tinyllm/pte/llm_program.hpp"
#include "tinyllm/text/token_text.hpp"
#include "tinyllm/text/tokenizer.hpp"

namespace tinyllm {

class ModelSource {
public:
    ModelSource() = default;
    ModelSource(const ModelSource&) = delete;
    ModelSource& operator=(const ModelSource&) = delete;

    // A GGUF file (vocabulary_path empty), or a .pte program and the file with its vocabulary,
    // a GGUF file or a tokenizer.json (without one: token ids only). GGUF weights are repacked
    // for this CPU in a private copy.
    Status open_file(const std::string& path, const std::string& vocabulary_path) {
        Status st;
        {
            MappedFile probe;  // refuses what is not a regular file (a FIFO would block a read)
            if (!(st = probe.open(path))) return st;
            pte_ = pte::looks_like_program(probe.bytes());
        }
        if (!pte_) {
            if (!vocabulary_path.empty())
                return Status::fail(Error::invalid_argument, "a tokenizer is for .pte programs; a GGUF model has its own vocabulary");
            if (!(st = model_file_.open(path)) || !(st = model_file_.load(model_))) return st;
            return open_vocabulary(model_file_.gguf);
        }
        if (!(st = program_file_.open(path)) || !(st = open_program(program_file_.bytes()))) return st;
        if (vocabulary_path.empty()) return Status{};
        if (!(st = vocabulary_file_mapping_.open(vocabulary_path))) return st;
        return open_program_vocabulary(vocabulary_file_mapping_.bytes());
    }

    // The same from bytes the caller keeps alive and unchanged while this source and its
    // instances live; nothing is copied, so GGUF weights keep their file layout.
    Status open_memory(ByteSpan model, ByteSpan vocabulary) {
        pte_ = pte::looks_like_program(model);
        Status st;
        if (!pte_) {
            if (vocabulary.size)
                return Status::fail(Error::invalid_argument, "a tokenizer is for .pte programs; a GGUF model has its own vocabulary");
            if (!(st = model_index_.parse(model))) return st;
            model_memory_.assign(size_t(model_index_.file.n_tensors + 1) * sizeof(LayerWeights) + 64, 0);
            Arena arena(model_memory_.data(), model_memory_.size());
            if (!(st = load_model(model_index_.file, arena, model_))) return st;
            return open_vocabulary(model_index_.file);
        }
        if (!(st = open_program(model))) return st;
        if (!vocabulary.size) return Status{};
        return open_program_vocabulary(vocabulary);
    }

    bool is_pte() const { return pte_; }
    const Model& model() const { return model_; }
    const pte::Program& program() const { return program_; }
    int n_vocab() const { return pte_ ? program_vocab_ : model_.config.n_vocab; }
    // The longest context a conversation can have (a .pte program's is fixed).
    int n_ctx_max() const { return pte_ ? program_ctx_ : model_.config.n_ctx_train; }
    size_t file_bytes() const { return pte_ ? program_file_.bytes().size : model_file_.mapping.bytes().size; }
    // Text in and out needs a vocabulary: a .pte program opened without one, or a GGUF file
    // whose tokenizer tinyllm cannot use, has none, and vocabulary_status() says why.
    bool has_vocabulary() const { return vocabulary_status_.ok(); }
    const Status& vocabulary_status() const { return vocabulary_status_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    const TokenText& vocabulary() const { return vocabulary_; }
    const gguf::File& vocabulary_file() const { return *vocabulary_file_; }  // with has_vocabulary()

private:
    // The program's memory plan, vocabulary and context from its declarations; whether it is an
    // LLM export tinyllm can drive is checked when an instance opens it.
    Status open_program(ByteSpan bytes) {
        Result<pte::Program> program = pte::open_program(bytes);
        if (!program) return program.status;
        program_ = *program;
        Result<size_t> plan = pte::LlmProgram::required_bytes(program_);  // names a missing delegate or operator
        if (!plan) return plan.status;
        Result<int> n_vocab = pte::LlmProgram::vocab_size(program_);
        if (!n_vocab) return n_vocab.status;
        program_vocab_ = *n_vocab;
        program_ctx_ = pte::LlmProgram::context_size(program_);
        return Status{};
    }

    // A program's vocabulary: GGUF metadata, or a tokenizer.json (a JSON object) read into GGUF
    // metadata in memory, with the BOS and EOS ids the program declares.
    Status open_program_vocabulary(ByteSpan bytes) {
        size_t first = 0;
        while (first < bytes.size && (bytes.data[first] == ' ' || bytes.data[first] == '\n' || bytes.data[first] == '\r' || bytes.data[first] == '\t')) ++first;
        if (first < bytes.size && bytes.data[first] == '{') {
            const std::string text(reinterpret_cast<const char*>(bytes.data), bytes.size);
            const int64_t bos = pte::LlmProgram::constant_int(program_, "get_bos_id", -1), eos = pte::LlmProgram::constant_int(program_, "get_eos_ids", -1);
            auto id = [&](int64_t v) { return v >= 0 && v < program_vocab_ ? int32_t(v) : -1; };
            if (Status st = tokenizer_json_to_gguf(text, id(bos), id(eos), vocabulary_gguf_); !st) return st;
            bytes = ByteSpan{vocabulary_gguf_.data(), vocabulary_gguf_.size()};
        }
        if (Status st = vocabulary_index_.parse(bytes); !st) return st;
        return open_vocabulary(vocabulary_index_.file);
    }

    // A vocabulary that does not fit the model is an error; one that is missing or unusable
    // leaves the model without text (vocabulary_status()).
    Status open_vocabulary(const gguf::File& f) {
        vocabulary_file_ = &f;
        if (!(vocabulary_status_ = tokenizer_.load(f))) return Status{};
        vocabulary_memory_.assign(TokenText::required_bytes(f), 0);
        Arena arena(vocabulary_memory_.data(), vocabulary_memory_.size());
        Status st = vocabulary_.init(f, arena);
        if (!st) return st;
        if (tokenizer_.n_vocab() != n_vocab())
            return Status::fail(Error::shape_mismatch, "the tokenizer has ", tokenizer_.n_vocab(), " tokens, the model ", n_vocab());
        return Status{};
    }

    bool pte_ = false;
    MappedFile program_file_;
    GgufModelFile model_file_;                  // the GGUF model
    GgufIndex model_index_, vocabulary_index_;  // the model from memory; a program's vocabulary
    MappedFile vocabulary_file_mapping_;        // a program's vocabulary file
    std::vector<uint8_t> vocabulary_gguf_;      // a tokenizer.json's vocabulary as GGUF metadata
    std::vector<uint8_t> model_memory_;
    Model model_;
    pte::Program program_;
    int program_vocab_ = 0, program_ctx_ = 0;
    const gguf::File* vocabulary_file_ = nullptr;
    Status vocabulary_status_ = Status::fail(Error::missing_key, "a .pte program has no vocabulary; give its tokenizer.json or a GGUF file that has it as the tokenizer");
    Tokenizer tokenizer_;
    std::vector<uint8_t> vocabulary_memory_;
    TokenText vocabulary_;
};

// The model conversations run on, over an open source: a Session with n_seq sequences over
// the GGUF weights, or the .pte program with planned memory of its own (one sequence).
class ModelInstance {
public:
    // n_ctx 0: the model's own (a .pte program's is fixed). n_batch: tokens per forward pass
    // over all sequences; a .pte program takes prompts in its own chunks.
    Status init(const ModelSource& source, int n_ctx, int n_batch, int n_seq = 1) {
        if (n_ctx < 0 || n_ctx > source.n_ctx_max() || (source.is_pte() && n_ctx && n_ctx != source.n_ctx_max()))
            return Status::fail(Error::invalid_argument, "context ", n_ctx, source.is_pte() ? ": a .pte program's is fixed at " : " outside 1..",
                                source.n_ctx_max());
        if (n_batch <= 0) return Status::fail(Error::invalid_argument, "batch size ", n_batch);
        if (source.is_pte() && n_seq != 1) return Status::fail(Error::invalid_argument, "a .pte program runs one sequence, not ", n_seq);
        if (!n_ctx) n_ctx = source.n_ctx_max();
        pte_ = source.is_pte();
        Status st;
        if (pte_) {
            pte::MethodOptions options;
            options.narrow_exact_weights = half_dots_vectorized();  // the memory is RAM here: half the bytes to read
            Result<size_t> need = pte::LlmProgram::required_bytes(source.program(), options);
            if (!need) return need.status;
            if (!(st = memory_.allocate(*need))) return st;
            Arena arena(memory_.data(), memory_.size());
            return program_.init(source.program(), arena, options);
        }
        if (!(st = memory_.allocate(Session::required_bytes(source.model(), n_ctx, n_batch, n_seq)))) return st;
        Arena arena(memory_.data(), memory_.size());
        return session_.init(source.model(), n_ctx, n_batch, arena, n_seq);
    }

    bool is_pte() const { return pte_; }
    // Sequence 0 (the only one of a .pte program) as a LanguageModel.
    LanguageModel& model() { return pte_ ? static_cast<LanguageModel&>(program_) : session_; }
    const LanguageModel& model() const { return pte_ ? static_cast<const LanguageModel&>(program_) : session_; }
    // All sequences of a GGUF model.
    Session& session() { return session_; }
    int n_seq() const { return pte_ ? 1 : session_.n_seq(); }

private:
    bool pte_ = false;
    PrivateMemory memory_;
    Session session_;
    pte::LlmProgram program_;
};

} // namespace tinyllm
