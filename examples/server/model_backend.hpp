// The model behind the server: a GGUF model in one Session with a sequence per slot, or an
// ExecuTorch .pte program (one sequence: requests wait their turn), with the tokenizer and the
// vocabulary the replies are decoded with. One call runs a batch of tokens of any slots.
#pragma once
#include <string>
#include <vector>

#include "tinyllm/loaders/host/model_source.hpp"

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
        Status st = source_.open_file(opt.model, opt.tokenizer);
        if (!st) return st;
        if (!source_.has_vocabulary()) return source_.vocabulary_status();
        n_batch_ = source_.is_pte() ? source_.n_ctx_max() : opt.n_batch;
        if (!(st = instance_.init(source_, opt.n_ctx, n_batch_, source_.is_pte() ? 1 : opt.n_parallel))) return st;
        return warm_up();
    }

    // Runs tokens of any slots; logits receives a row per token that asks for one, in order.
    Status decode(const BatchToken* tokens, int n, float* logits) {
        if (!instance_.is_pte()) return instance_.session().decode(tokens, n, logits);
        // One sequence: the scheduler only ever asks for the last token's logits.
        ids_.resize(size_t(n));
        for (int i = 0; i < n; ++i) ids_[size_t(i)] = tokens[i].id;
        const bool want = n > 0 && tokens[n - 1].logits;
        return instance_.model().eval(ids_.data(), n, want ? logits : nullptr, false);
    }

    void clear(int slot) {
        if (instance_.is_pte()) instance_.model().reset();
        else instance_.session().truncate(slot, 0);
    }

    // Keeps the slot's first n tokens.
    Status truncate(int slot, int n) { return instance_.is_pte() ? instance_.model().truncate(n) : instance_.session().truncate(slot, n); }
    bool is_pte() const { return instance_.is_pte(); }

    int n_slots() const { return instance_.n_seq(); }
    int n_ctx() const { return instance_.model().n_ctx(); }
    int n_vocab() const { return instance_.model().n_vocab(); }
    int n_batch() const { return n_batch_; }
    const Tokenizer& tokenizer() const { return source_.tokenizer(); }
    const TokenText& vocabulary() const { return source_.vocabulary(); }
    const gguf::File& vocabulary_file() const { return source_.vocabulary_file(); }

private:
    // One step with a token in every slot before the first request, as llama-server does: the
    // threads start and the code and memory of a batched step are touched, so the first
    // requests are not the slow ones.
    Status warm_up() {
        std::vector<BatchToken> batch;
        for (int slot = 0; slot < n_slots(); ++slot) batch.push_back(BatchToken{tokenizer().bos_id() >= 0 ? tokenizer().bos_id() : 0, slot, true});
        std::vector<float> logits(batch.size() * size_t(n_vocab()));
        Status st = decode(batch.data(), int(batch.size()), logits.data());
        for (int slot = 0; slot < n_slots(); ++slot) clear(slot);
        return st;
    }

    ModelSource source_;
    ModelInstance instance_;
    int n_batch_ = 64;
    std::vector<int32_t> ids_;
};

} // namespace tinyllm::server
