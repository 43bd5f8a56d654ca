// Drafters propose tokens likely to come next, which the Generator then checks with the model in
// one batched evaluation (speculative decoding). A proposal only changes speed: the Generator keeps
// a drafted token only where the model would have produced it. The Generator tells its drafter
// how the conversation grows and shrinks; each drafter keeps the history it needs.
// LookupDrafter drafts from the conversation itself (prompt lookup: what followed the last time
// the latest few tokens appeared). No heap: memory from the caller's arena.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm {

class Drafter {
public:
    // The conversation now keeps its first n_keep tokens, followed by ids[0..n).
    virtual void update(int n_keep, const int32_t* ids, int n) = 0;
    // Writes up to max tokens likely to follow the conversation into out; returns how many.
    virtual int draft(int32_t* out, int max) = 0;

protected:
    ~Drafter() = default;
};

// The tokens of a conversation from some position on (a drafter attached mid-conversation, or
// after a saved state was restored, knows only what came later), up to a capacity.
class TokenHistory {
public:
    static size_t required_bytes(int capacity) { return size_t(capacity) * sizeof(int32_t) + 64; }
    Status init(int capacity, Arena& arena) {
        tokens_ = arena.allocate_array<int32_t>(size_t(capacity));
        if (!tokens_) return Status::fail(Error::out_of_memory, "a token history of ", capacity);
        capacity_ = capacity;
        start_ = n_ = 0;
        return Status{};
    }
    // The conversation keeps its first n_keep tokens, then ids[0..n) follow. Keeping tokens this
    // history never saw starts it afresh at position n_keep.
    void update(int n_keep, const int32_t* ids, int n) {
        if (n_keep < start_ || n_keep > start_ + n_) start_ = n_keep < 0 ? 0 : n_keep, n_ = 0;
        else n_ = n_keep - start_;
        for (int i = 0; i < n && n_ < capacity_; ++i) tokens_[n_++] = ids[i];
    }
    const int32_t* tokens() const { return tokens_; }  // from position start()
    int size() const { return n_; }
    int start() const { return start_; }

private:
    int32_t* tokens_ = nullptr;
    int capacity_ = 0, start_ = 0, n_ = 0;
};

// Prompt lookup: the longest suffix of the conversation, up to max_ngram tokens (at least 2),
// that appeared before; the draft is what followed its most recent earlier appearance with a
// whole draft after it (else the appearance with the most after it).
class LookupDrafter final : public Drafter {
public:
    static size_t required_bytes(int n_ctx) { return TokenHistory::required_bytes(n_ctx); }
    Status init(int n_ctx, int max_ngram, Arena& arena) {
        if (max_ngram < 2) return Status::fail(Error::invalid_argument, "lookup n-grams of ", max_ngram, " tokens (at least 2)");
        max_ngram_ = max_ngram;
        return history_.init(n_ctx, arena);
    }
    void update(int n_keep, const int32_t* ids, int n) override { history_.update(n_keep, ids, n); }
    int draft(int32_t* out, int max) override {
        const int32_t* h = history_.tokens();
        const int n = history_.size();
        for (int len = max_ngram_ < n - 1 ? max_ngram_ : n - 1; len >= 2; --len) {
            const int32_t* suffix = h + n - len;
            int best = -1, best_follow = 0;
            for (int start = n - len - 1; start >= 0 && best_follow < max; --start) {
                int k = 0;
                while (k < len && h[start + k] == suffix[k]) ++k;
                const int follow = n - (start + len);
                if (k == len && follow > best_follow) best = start, best_follow = follow;
            }
            if (best < 0) continue;
            const int m = best_follow < max ? best_follow : max;
            for (int i = 0; i < m; ++i) out[i] = h[best + len + i];
            return m;
        }
        return 0;
    }

private:
    TokenHistory history_;
    int max_ngram_ = 3;
};

} // namespace tinyllm
