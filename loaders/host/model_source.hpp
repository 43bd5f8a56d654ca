// Host-side (edge of the engine): a model opened from a file or from memory, a GGUF model or
// an ExecuTorch .pte program with a GGUF vocabulary beside it, with its tokenizer and token
// text; and ModelInstance, one conversation's model over it (a Session over the GGUF weights,
// or the program with planned memory of its own). Library bindings open models this way.
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include "tinyllm/core/session.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/mapped_file.hpp"
#include "tinyllm/loaders/host/private_memory.hpp"
#include "tinyllm/pte/llm_program.hpp"
#include "tinyllm/text/token_text.hpp"
#include "tinyllm/text/tokenizer.hpp"

namespace tinyllm {

// An ExecuTorch program has "ET" at byte 4 (a GGUF starts with "GGUF").
inline bool is_pte_bytes(ByteSpan b) { return b.size >= 8 && b.data[4] == 'E' && b.data[5] == 'T'; }

class ModelSource {
public:
    ModelSource() = default;
    ModelSource(const ModelSource&) = delete;
    ModelSource& operator=(const ModelSource&) = delete;

    // A GGUF file (vocabulary_path empty), or a .pte program and the GGUF file with its
    // vocabulary. GGUF weights are repacked for this CPU in a private copy, as generate does.
    Status open_file(const std::string& path, const std::string& vocabulary_path) {
        uint8_t magic[8] = {};
        std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(magic), sizeof magic);
        pte_ = is_pte_bytes(ByteSpan{magic, sizeof magic});
        Status st;
        if (!pte_) {  // a file that cannot be read fails here with its reason
            if (!vocabulary_path.empty())
                return Status::fail(Error::invalid_argument, "a tokenizer file is for .pte programs; a GGUF model has its own vocabulary");
            if (!(st = model_file_.open(path)) || !(st = model_file_.load(model_))) return st;
            return open_vocabulary(model_file_.gguf);
        }
        if (vocabulary_path.empty())
            return Status::fail(Error::missing_key, "a .pte program has no vocabulary; give the GGUF file that has it as the tokenizer");
        if (!(st = program_file_.open(path)) || !(st = open_program(program_file_.bytes()))) return st;
        if (!(st = model_file_.open(vocabulary_path))) return st;
        return open_vocabulary(model_file_.gguf);
    }

    // The same from bytes the caller keeps alive and unchanged while this source and its
    // instances live; nothing is copied, so GGUF weights keep their file layout.
    Status open_memory(ByteSpan model, ByteSpan vocabulary) {
        pte_ = is_pte_bytes(model);
        Status st;
        if (!pte_) {
            if (vocabulary.size)
                return Status::fail(Error::invalid_argument, "a tokenizer file is for .pte programs; a GGUF model has its own vocabulary");
            if (!(st = model_index_.parse(model))) return st;
            model_memory_.assign(size_t(model_index_.file.n_tensors + 1) * sizeof(LayerWeights) + 64, 0);
            Arena arena(model_memory_.data(), model_memory_.size());
            if (!(st = load_model(model_index_.file, arena, model_))) return st;
            return open_vocabulary(model_index_.file);
        }
        if (!vocabulary.size)
            return Status::fail(Error::missing_key, "a .pte program has no vocabulary; give the GGUF file that has it as the tokenizer");
        if (!(st = open_program(model))) return st;
        if (!(st = vocabulary_index_.parse(vocabulary))) return st;
        return open_vocabulary(vocabulary_index_.file);
    }

    bool is_pte() const { return pte_; }
    const Model& model() const { return model_; }
    const pte::Program& program() const { return program_; }
    int n_vocab() const { return pte_ ? program_vocab_ : model_.config.n_vocab; }
    // The longest context a conversation can have (a .pte program's is fixed).
    int n_ctx_max() const { return pte_ ? program_ctx_ : model_.config.n_ctx_train; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    const TokenText& vocabulary() const { return vocabulary_; }
    const gguf::File& vocabulary_file() const { return *vocabulary_file_; }

private:
    Status open_program(ByteSpan bytes) {
        Result<pte::Program> program = pte::open_program(bytes);
        if (!program) return program.status;
        program_ = *program;
        // The program's vocabulary and context, checked as an instance will: open it once.
        pte::LlmProgram probe;
        Result<size_t> need = pte::LlmProgram::required_bytes(program_);
        if (!need) return need.status;
        PrivateMemory memory;
        Status st = memory.allocate(*need);
        if (!st) return st;
        Arena arena(memory.data(), memory.size());
        if (!(st = probe.init(program_, arena))) return st;
        program_vocab_ = probe.n_vocab();
        program_ctx_ = probe.n_ctx();
        return Status{};
    }

    Status open_vocabulary(const gguf::File& f) {
        vocabulary_file_ = &f;
        Status st = tokenizer_.load(f);
        if (!st) return st;
        vocabulary_memory_.assign(TokenText::required_bytes(f), 0);
        Arena arena(vocabulary_memory_.data(), vocabulary_memory_.size());
        if (!(st = vocabulary_.init(f, arena))) return st;
        if (tokenizer_.n_vocab() != n_vocab())
            return Status::fail(Error::shape_mismatch, "the tokenizer has ", tokenizer_.n_vocab(), " tokens, the model ", n_vocab());
        return Status{};
    }

    bool pte_ = false;
    MappedFile program_file_;
    GgufModelFile model_file_;               // the GGUF model, or the GGUF with a program's vocabulary
    GgufIndex model_index_, vocabulary_index_;  // the same, from memory
    std::vector<uint8_t> model_memory_;
    Model model_;
    pte::Program program_;
    int program_vocab_ = 0, program_ctx_ = 0;
    const gguf::File* vocabulary_file_ = nullptr;
    Tokenizer tokenizer_;
    std::vector<uint8_t> vocabulary_memory_;
    TokenText vocabulary_;
};

// One conversation's model over an open source.
class ModelInstance {
public:
    // n_ctx 0: the model's own. A .pte program's context is fixed; its prompt chunking is its own.
    Status init(const ModelSource& source, int n_ctx, int n_batch) {
        if (n_ctx < 0 || n_ctx > source.n_ctx_max() || (source.is_pte() && n_ctx && n_ctx != source.n_ctx_max()))
            return Status::fail(Error::invalid_argument, "context ", n_ctx, source.is_pte() ? ": a .pte program's is fixed at " : " outside 1..",
                                source.n_ctx_max());
        if (n_batch <= 0) return Status::fail(Error::invalid_argument, "batch size ", n_batch);
        if (!n_ctx) n_ctx = source.n_ctx_max();
        Status st;
        if (source.is_pte()) {
            pte::MethodOptions options;
            options.narrow_exact_weights = half_dots_vectorized();  // the memory is RAM here: half the bytes to read
            Result<size_t> need = pte::LlmProgram::required_bytes(source.program(), options);
            if (!need) return need.status;
            if (!(st = memory_.allocate(*need))) return st;
            Arena arena(memory_.data(), memory_.size());
            if (!(st = program_.init(source.program(), arena, options))) return st;
            model_ = &program_;
            return Status{};
        }
        if (!(st = memory_.allocate(Session::required_bytes(source.model(), n_ctx, n_batch)))) return st;
        Arena arena(memory_.data(), memory_.size());
        if (!(st = session_.init(source.model(), n_ctx, n_batch, arena))) return st;
        model_ = &session_;
        return Status{};
    }

    LanguageModel& model() { return *model_; }

private:
    PrivateMemory memory_;
    Session session_;
    pte::LlmProgram program_;
    LanguageModel* model_ = nullptr;
};

} // namespace tinyllm
