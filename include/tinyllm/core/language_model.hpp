// What generation needs from a model, whatever runs it (a GGUF Session, a .pte program): feed
// tokens at the next positions of its cache, read logits, rewind, save and restore. Freestanding.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/status.hpp"

namespace tinyllm {

class LanguageModel {
public:
    // Feeds tokens[0..n) at positions n_past()..n_past()+n-1. logits (may be null) receives
    // [n][n_vocab] rows when all_logits, else only the last token's row.
    virtual Status eval(const int32_t* tokens, int n, float* logits, bool all_logits) = 0;
    // A tree of tokens after the cache (drafts with several candidates per position): token i
    // continues parents[i], an earlier index, or the cache's last token when -1, at the position
    // after its parent's. logits receives every token's row. The cache is unchanged until
    // keep_branch() keeps one path of the tree; any other call forgets the tree.
    virtual Status eval_tree(const int32_t* tokens, const int32_t* parents, int n, float* logits) {
        (void)tokens, (void)parents, (void)n, (void)logits;
        return Status::fail(Error::unsupported_op, "this model evaluates token sequences, not trees");
    }
    // After eval_tree(): the cache gains the tree's tokens path[0..n), a chain from a token whose
    // parent is -1, each the parent of the next.
    virtual Status keep_branch(const int32_t* path, int n) {
        (void)path, (void)n;
        return Status::fail(Error::unsupported_op, "this model evaluates token sequences, not trees");
    }
    // Keeps the first n tokens of the cache and forgets the rest (n <= n_past()).
    virtual Status truncate(int n) = 0;
    virtual int n_past() const = 0;
    virtual int n_ctx() const = 0;
    virtual int n_vocab() const = 0;
    // The conversation's saved state (model_state.hpp): its size now, a copy into dst (returns
    // the bytes written), and a restore that checks the state belongs to this model.
    virtual size_t state_bytes() const = 0;
    virtual Result<size_t> save_state(uint8_t* dst, size_t capacity) const = 0;
    virtual Status load_state(const uint8_t* src, size_t size) = 0;

    void reset() { truncate(0); }

protected:
    ~LanguageModel() = default;
};

} // namespace tinyllm
