// Drafters propose tokens likely to come next, which the Generator then checks with the model in
// one batched evaluation (speculative decoding). A proposal only changes speed: the Generator keeps
// a drafted token only where the model would have produced it. Drafts form a tree (a sequence is a
// tree of one branch; several candidates for a position need a model with eval_tree()). The
// Generator tells its drafter how the conversation grows and shrinks; each drafter keeps the
// history it needs.
// LookupDrafter drafts from the conversation itself (prompt lookup: what followed the last time
// the latest few tokens appeared). No heap: memory from the caller's arena.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm {

// Drafted tokens: node 0 is the conversation's next token (the root, given), each further node
// a token proposed to follow its parent node. Nodes come after their parents.
class DraftTree {
public:
    DraftTree(int32_t* tokens, int32_t* parents, int capacity, int32_t root) : tokens_(tokens), parents_(parents), capacity_(capacity) {
        tokens_[0] = root;
        parents_[0] = -1;
    }
    // Adds a token after node parent; returns its index, or -1 when the tree is full.
    int add(int32_t token, int parent) {
        if (size_ == capacity_ || parent < 0 || parent >= size_) return -1;
        tokens_[size_] = token;
        parents_[size_] = parent;
        return size_++;
    }
    // Adds ids[0..n) one after another from node parent while there is room; returns how many.
    int add_chain(const int32_t* ids, int n, int parent) {
        int added = 0;
        for (; added < n && (parent = add(ids[added], parent)) >= 0; ++added) {}
        return added;
    }
    int size() const { return size_; }
    int room() const { return capacity_ - size_; }
    int32_t token(int i) const { return tokens_[i]; }
    int32_t parent(int i) const { return parents_[i]; }
    const int32_t* tokens() const { return tokens_; }
    const int32_t* parents() const { return parents_; }
    // Each node continues the one before it: a sequence any model evaluates.
    bool is_chain() const {
        for (int i = 1; i < size_; ++i)
            if (parents_[i] != i - 1) return false;
        return true;
    }

private:
    int32_t *tokens_, *parents_;
    int capacity_, size_ = 1;
};

class Drafter {
public:
    // The conversation now keeps its first n_keep tokens, followed by ids[0..n).
    virtual void update(int n_keep, const int32_t* ids, int n) = 0;
    // Adds tokens likely to follow the conversation to the tree (its root is the conversation's
    // last token, still to be evaluated).
    virtual void draft(DraftTree& tree) = 0;
    // The model's logits for every node of the tree just drafted, [tree.size()][n_vocab], before
    // the Generator takes any: drafters that learn from the model's guesses read them here.
    virtual void evaluated(const DraftTree& tree, const float* rows, int n_vocab) { (void)tree, (void)rows, (void)n_vocab; }

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
    void draft(DraftTree& tree) override {
        const int max = tree.room();
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
            tree.add_chain(h + best + len, best_follow, 0);
            return;
        }
    }

private:
    TokenHistory history_;
    int max_ngram_ = 3;
};

} // namespace tinyllm
