// A smaller model of the same vocabulary as drafter: it follows the conversation in its own cache
// and proposes its greedy continuation, stopping early where it is unsure (its top token's
// probability below min_confidence, as llama.cpp's speculative example does). A draft model unsure
// of its first token three times in a row rests for 4 tokens, then 8, 16, ... up to 64 while that
// goes on (a draft it is sure of ends the rests), so a useless draft model costs little and one
// unsure now and then keeps drafting. Errors of the draft model only end a draft: the Generator then decodes
// without one. No heap.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/core/language_model.hpp"
#include "tinyllm/generation/drafter.hpp"
#include "tinyllm/kernels/math.hpp"

namespace tinyllm {

class ModelDrafter final : public Drafter {
public:
    static size_t required_bytes(int n_ctx, int n_vocab) {
        return 2 * TokenHistory::required_bytes(n_ctx) + size_t(n_vocab) * sizeof(float) + 64;
    }
    // n_ctx: the longest conversation to follow (the target's context).
    Status init(LanguageModel& model, int n_ctx, float min_confidence, Arena& arena) {
        model_ = &model;
        min_confidence_ = min_confidence;
        model.reset();
        Status st;
        if (!(st = history_.init(n_ctx, arena)) || !(st = cached_.init(n_ctx, arena))) return st;
        logits_ = arena.allocate_array<float>(size_t(model.n_vocab()));
        if (!logits_) return Status::fail(Error::out_of_memory, "draft logits of ", model.n_vocab(), " floats");
        return Status{};
    }
    void update(int n_keep, const int32_t* ids, int n) override { history_.update(n_keep, ids, n); }

    void draft(DraftTree& tree) override {
        const int max = tree.room();
        const int32_t* h = history_.tokens();
        const int n = history_.size();
        if (n == 0 || max <= 0) return;
        if (rest_ > 0) {
            --rest_;
            return;
        }
        // Keep what the draft cache shares with the conversation; evaluate the rest (at least the
        // last token, whose logits the draft starts from).
        int common = 0;
        while (common < cached_.size() && common < n && cached_.tokens()[common] == h[common]) ++common;
        if (common == n) --common;
        if (n + max > model_->n_ctx() || !model_->truncate(common)) return;
        cached_.update(common, nullptr, 0);
        if (!model_->eval(h + common, n - common, logits_, false)) return fail();
        cached_.update(common, h + common, n - common);
        const int n_vocab = model_->n_vocab();
        int m = 0;
        while (m < max) {
            int best = 0;
            for (int i = 1; i < n_vocab; ++i)
                if (logits_[i] > logits_[best]) best = i;
            double sum = 0;
            for (int i = 0; i < n_vocab; ++i) sum += math::expf(logits_[i] - logits_[best]);
            if (1.0 / sum < double(min_confidence_)) break;
            tree.add(best, m++);
            unsure_ = 0;
            backoff_ = 4;
            if (m == max) break;
            const int32_t id = best;
            if (!model_->eval(&id, 1, logits_, false)) return fail();
            cached_.update(cached_.size(), &id, 1);
        }
        if (m == 0 && ++unsure_ == 3) {
            unsure_ = 0;
            rest_ = backoff_;
            backoff_ = backoff_ < 64 ? 2 * backoff_ : 64;
        }
    }

private:
    // A failed evaluation leaves the draft cache unknown: start it over next time.
    void fail() {
        model_->reset();
        cached_.update(0, nullptr, 0);
    }

    LanguageModel* model_ = nullptr;
    float min_confidence_ = 0;
    int rest_ = 0, backoff_ = 4, unsure_ = 0;
    TokenHistory history_, cached_;
    float* logits_ = nullptr;
};

} // namespace tinyllm
