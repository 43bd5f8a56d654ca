// Lookahead decoding (Jacobi iteration with an n-gram pool, as llama.cpp's `lookahead` example and
// ExecuTorch's Qualcomm runner do it): draft-free, for models that evaluate token trees. Each
// step's tree holds, after its root (the conversation's next token):
//  - verification branches: up to G n-grams from the pool that begin with the root token (their
//    other N - 1 tokens, merged where they share a start);
//  - the lookahead window: N - 1 levels of W guesses. Level 0 is a chain after the root (the root
//    is its column 0); from column i of level 0 hangs a chain of that column's levels 1..N-2.
// The model's greedy outputs on the last level are the next step's last level (the levels move up
// one per token taken), and each column read top down, after the token that left level 0, is an
// n-gram for the pool. The conversation's own n-grams (prompt and reply) join the pool too, so
// recent text that repeats itself is drafted too. Every node continues its parent at the next
// position, so the Generator may take any node whose token the model samples: the window's
// guesses are drafts too. A conversation forgotten (reset, a restored state) starts all afresh.
// No heap: memory from the caller's arena.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/status.hpp"
#include "tinyllm/generation/drafter.hpp"

namespace tinyllm {

class LookaheadDrafter final : public Drafter {
public:
    static constexpr int pool_capacity = 1024;  // n-grams kept, newest replacing oldest
    // The largest window, n-gram and verification count: trees of up to 224 tokens, each with a
    // row of logits (llama.cpp's example uses 15, 5, 15).
    static constexpr int max_window = 16, max_ngram = 8, max_verify = 16;

    // Nodes of the largest tree for window W, n-gram size N and G verification n-grams (the
    // Generator's max_draft must be at least one less to check them all).
    static int tree_nodes(int W, int N, int G) { return 1 + (W - 1) + W * (N - 2) + G * (N - 1); }
    static size_t required_bytes(int W, int N) {
        return (size_t(N + 4) * size_t(W) + size_t(pool_capacity + 1) * size_t(N)) * sizeof(int32_t) + 6 * 64;
    }

    Status init(int W, int N, int G, Arena& arena) {
        if (W < 1 || N < 3 || G < 1 || W > max_window || N > max_ngram || G > max_verify)
            return Status::fail(Error::invalid_argument, "lookahead W,N,G = ", W, ",", N, ",", G, " (W 1..", max_window, ", N 3..", max_ngram,
                                ", G 1..", max_verify, ")");
        W_ = W, N_ = N, G_ = G;
        levels_ = arena.allocate_array<int32_t>(size_t(N - 1) * size_t(W));
        left_ = arena.allocate_array<int32_t>(size_t(W));
        guesses_ = arena.allocate_array<int32_t>(size_t(W));
        last_level_nodes_ = arena.allocate_array<int32_t>(size_t(W));
        pool_ = arena.allocate_array<int32_t>(size_t(pool_capacity) * size_t(N));
        recent_ = arena.allocate_array<int32_t>(size_t(N));
        if (!levels_ || !left_ || !guesses_ || !last_level_nodes_ || !pool_ || !recent_) return Status::fail(Error::out_of_memory, "a lookahead window of ", W, "x", N - 1, " and its n-gram pool");
        forget();
        return Status{};
    }

    void update(int n_keep, const int32_t* ids, int n) override {
        if (n_keep == 0 && n == 0) return forget();
        if (n_keep != position_) n_recent_ = 0;  // the conversation was cut: its n-grams start afresh
        position_ = n_keep + n;
        for (int i = 0; i < n; ++i) {
            // Until the window starts, it fills with the conversation's tokens (guesses better than none).
            if (!started_ && n_seen_ < (N_ - 1) * W_) levels_[n_seen_] = ids[i];
            ++n_seen_;
            last_ = ids[i];
            for (int k = 0; k + 1 < N_; ++k) recent_[k] = recent_[k + 1];
            recent_[N_ - 1] = ids[i];
            if (n_recent_ < N_) ++n_recent_;
            if (n_recent_ == N_) add_to_pool(recent_);
        }
        n_taken_ += n;
    }

    void draft(DraftTree& tree) override {
        if (n_seen_ == 0) return;
        if (!started_) start();
        for (int s = 0; s < n_taken_ && s < N_ - 1; ++s) advance(s == 0 && have_guesses_);
        have_guesses_ = false;
        n_taken_ = 0;

        // Verification branches, newest n-grams first.
        int found = 0;
        for (int k = 0; k < n_pool_ && found < G_; ++k) {
            const int32_t* g = pool_ + size_t((pool_head_ - 1 - k + pool_capacity) % pool_capacity) * size_t(N_);
            if (g[0] != last_) continue;
            ++found;
            for (int t = 1, node = 0; t < N_ && node >= 0; ++t) node = child(tree, node, g[t]);
        }
        // The window: level 0 after the root, then each column's chain of higher levels.
        for (int i = 0, column = 0; i < W_; ++i) {
            if (i > 0 && column >= 0) column = tree.add(level(0)[i], column);
            int node = column;
            for (int j = 1; j < N_ - 1 && node >= 0; ++j) node = tree.add(level(j)[i], node);
            last_level_nodes_[i] = node;
        }
    }

    // The next guesses for the last level: the model's greedy token after each of its nodes.
    void evaluated(const DraftTree& tree, const float* rows, int n_vocab) override {
        (void)tree;
        for (int i = 0; i < W_; ++i) {
            const int node = last_level_nodes_[i];
            if (node < 0) {
                guesses_[i] = level(N_ - 2)[i];
                continue;
            }
            const float* row = rows + size_t(node) * size_t(n_vocab);
            int best = 0;
            for (int v = 1; v < n_vocab; ++v)
                if (row[v] > row[best]) best = v;
            guesses_[i] = best;
        }
        have_guesses_ = true;
    }

private:
    int32_t* level(int j) const { return levels_ + size_t(j) * size_t(W_); }

    void forget() {
        n_pool_ = pool_head_ = 0;
        started_ = have_guesses_ = false;
        n_seen_ = n_taken_ = 0;
        n_recent_ = position_ = 0;
    }

    // The window's first guesses: the conversation's tokens so far, repeated to fill it.
    void start() {
        const int filled = n_seen_ < (N_ - 1) * W_ ? int(n_seen_) : (N_ - 1) * W_;
        for (int k = filled; k < (N_ - 1) * W_; ++k) levels_[k] = levels_[k % filled];
        started_ = true;
    }

    // One token taken: the levels move up; the last takes the model's guesses (with_guesses) or
    // repeats the level before it. With guesses, each column becomes an n-gram for the pool.
    void advance(bool with_guesses) {
        for (int i = 0; i < W_; ++i) left_[i] = level(0)[i];
        for (int j = 0; j + 1 < N_ - 1; ++j) __builtin_memcpy(level(j), level(j + 1), size_t(W_) * sizeof(int32_t));
        __builtin_memcpy(level(N_ - 2), with_guesses ? guesses_ : level(0), size_t(W_) * sizeof(int32_t));
        if (!with_guesses) return;
        for (int i = 0; i < W_; ++i) {
            int32_t g[max_ngram];
            g[0] = left_[i];
            for (int j = 0; j < N_ - 1; ++j) g[j + 1] = level(j)[i];
            add_to_pool(g);
        }
    }

    // Adds an n-gram to the pool unless it is there already.
    void add_to_pool(const int32_t* g) {
        for (int k = 1; k <= n_pool_; ++k) {
            const int32_t* other = pool_ + size_t((pool_head_ - k + pool_capacity) % pool_capacity) * size_t(N_);
            int t = 0;
            while (t < N_ && other[t] == g[t]) ++t;
            if (t == N_) return;
        }
        __builtin_memcpy(pool_ + size_t(pool_head_) * size_t(N_), g, size_t(N_) * sizeof(int32_t));
        pool_head_ = (pool_head_ + 1) % pool_capacity;
        if (n_pool_ < pool_capacity) ++n_pool_;
    }

    // The child of node with this token, added when there is none yet (-1: the tree is full).
    static int child(DraftTree& tree, int node, int32_t token) {
        for (int i = node + 1; i < tree.size(); ++i)
            if (tree.parent(i) == node && tree.token(i) == token) return i;
        return tree.add(token, node);
    }

    int W_ = 0, N_ = 0, G_ = 0;
    int32_t* levels_ = nullptr;            // [N - 1][W] guesses, level 0 first
    int32_t *left_ = nullptr, *guesses_ = nullptr, *last_level_nodes_ = nullptr;  // [W] scratch and the last level's tree nodes
    int32_t* pool_ = nullptr;              // [pool_capacity][N] n-grams, a ring
    int n_pool_ = 0, pool_head_ = 0;
    int32_t* recent_ = nullptr;            // [N] the conversation's last tokens
    int n_recent_ = 0, position_ = 0;      // how many of them follow on (capped at N), and the conversation's length
    bool started_ = false, have_guesses_ = false;
    int64_t n_seen_ = 0;                   // tokens of the conversation seen
    int n_taken_ = 0;                      // tokens taken since the last draft
    int32_t last_ = 0;                     // the conversation's last token (the next tree's root)
};

} // namespace tinyllm
