// The model behind the server: a GGUF model in one Session with a sequence per slot, or an
// ExecuTorch .pte program (one sequence: requests wait their turn), with the tokenizer and the
// vocabulary the replies are decoded with. One call runs a batch of tokens of any slots.
#pragma once
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tinyllm/core/session.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/mapped_file.hpp"
#include "tinyllm/loaders/host/private_memory.hpp"
#include "tinyllm/pte/llm_program.hpp"
#include "tinyllm/text/token_text.hpp"
#include "tinyllm/text/tokenizer.hpp"

namespace tinyllm::server {

struct BackendOptions {
    std::string model, tokenizer;  // tokenizer: a GGUF with the vocabulary, for a .pte program
    int n_ctx = 0;                 // per sequence; 0: the model's own
    int n_parallel = 1;
    int n_batch = 64;  // tokens per forward pass, over all slots (a .pte program takes whole prompts)
};

class ModelBackend {
public:
    Status open(const BackendOptions& opt) {
        // An ExecuTorch program has "ET" at byte 4 (a GGUF starts with "GGUF").
        char magic[8] = {};
        std::ifstream(opt.model, std::ios::binary).read(magic, sizeof magic);
        pte_ = std::memcmp(magic + 4, "ET", 2) == 0;
        Status st = pte_ ? pte_file_.open(opt.model) : model_file_.open(opt.model);
        if (!st) return st;
        if (!(st = pte_ ? open_pte(opt) : open_gguf(opt))) return st;
        return warm_up();
    }

    // Runs tokens of any slots; logits receives a row per token that asks for one, in order.
    Status decode(const BatchToken* tokens, int n, float* logits) {
        if (!pte_) return session_.decode(tokens, n, logits);
        // One sequence: the scheduler only ever asks for the last token's logits.
        ids_.resize(size_t(n));
        for (int i = 0; i < n; ++i) ids_[size_t(i)] = tokens[i].id;
        const bool want = n > 0 && tokens[n - 1].logits;
        return llm_.eval(ids_.data(), n, want ? logits : nullptr, false);
    }

    void clear(int slot) {
        if (pte_) llm_.reset();
        else session_.truncate(slot, 0);
    }

    int n_slots() const { return pte_ ? 1 : session_.n_seq(); }
    int n_ctx() const { return pte_ ? llm_.n_ctx() : session_.n_ctx(); }
    int n_vocab() const { return pte_ ? llm_.n_vocab() : session_.n_vocab(); }
    int n_batch() const { return n_batch_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    const TokenText& vocabulary() const { return vocabulary_; }
    const gguf::File& vocabulary_file() const { return vocab_file_->gguf; }

private:
    // One step with a token in every slot before the first request, as llama-server does: the
    // threads start and the code and memory of a batched step are touched, so the first
    // requests are not the slow ones.
    Status warm_up() {
        std::vector<BatchToken> batch;
        for (int slot = 0; slot < n_slots(); ++slot) batch.push_back(BatchToken{tokenizer_.bos_id() >= 0 ? tokenizer_.bos_id() : 0, slot, true});
        std::vector<float> logits(batch.size() * size_t(n_vocab()));
        Status st = decode(batch.data(), int(batch.size()), logits.data());
        for (int slot = 0; slot < n_slots(); ++slot) clear(slot);
        return st;
    }

    Status open_vocabulary(GgufModelFile& file) {
        vocab_file_ = &file;
        Status st = tokenizer_.load(file.gguf);
        if (!st) return st;
        vocabulary_memory_.resize(TokenText::required_bytes(file.gguf));
        Arena arena(vocabulary_memory_.data(), vocabulary_memory_.size());
        return vocabulary_.init(file.gguf, arena);
    }

    Status open_gguf(const BackendOptions& opt) {
        if (!opt.tokenizer.empty()) return Status::fail(Error::invalid_argument, "--tokenizer is for .pte programs; a GGUF model has its own");
        Status st = model_file_.load(model_);
        if (!st) return st;
        const int n_ctx = opt.n_ctx ? opt.n_ctx : model_.config.n_ctx_train;
        n_batch_ = opt.n_batch;
        if (!(st = memory_.allocate(Session::required_bytes(model_, n_ctx, n_batch_, opt.n_parallel)))) return st;
        Arena arena(memory_.data(), memory_.size());
        if (!(st = session_.init(model_, n_ctx, n_batch_, arena, opt.n_parallel))) return st;
        return open_vocabulary(model_file_);
    }

    Status open_pte(const BackendOptions& opt) {
        if (opt.tokenizer.empty())
            return Status::fail(Error::missing_key, "a .pte program has no vocabulary; pass --tokenizer FILE.gguf");
        Result<pte::Program> program = pte::open_program(pte_file_.bytes());
        if (!program) return program.status;
        program_ = *program;
        pte::MethodOptions options;
        options.narrow_exact_weights = half_dots_vectorized();  // the memory is RAM here: half the bytes to read
        Result<size_t> need = pte::LlmProgram::required_bytes(program_, options);
        if (!need) return need.status;
        Status st = memory_.allocate(*need);
        if (!st) return st;
        Arena arena(memory_.data(), memory_.size());
        if (!(st = llm_.init(program_, arena, options))) return st;
        if (opt.n_ctx && opt.n_ctx != llm_.n_ctx())
            return Status::fail(Error::invalid_argument, "a .pte program has a fixed context of ", llm_.n_ctx());
        n_batch_ = llm_.n_ctx();
        if (!(st = tokenizer_file_.open(opt.tokenizer))) return st;
        if (!(st = open_vocabulary(tokenizer_file_))) return st;
        if (tokenizer_.n_vocab() != llm_.n_vocab())
            return Status::fail(Error::shape_mismatch, "the tokenizer has ", tokenizer_.n_vocab(), " tokens, the program ", llm_.n_vocab());
        return Status{};
    }

    MappedFile pte_file_;
    GgufModelFile model_file_, tokenizer_file_;
    GgufModelFile* vocab_file_ = nullptr;
    bool pte_ = false;
    Model model_;
    Session session_;
    pte::Program program_;
    pte::LlmProgram llm_;
    PrivateMemory memory_;
    int n_batch_ = 64;
    Tokenizer tokenizer_;
    std::vector<uint8_t> vocabulary_memory_;
    TokenText vocabulary_;
    std::vector<int32_t> ids_;
};

} // namespace tinyllm::server
