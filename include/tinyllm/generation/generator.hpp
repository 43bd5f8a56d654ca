// The generation loop every single-sequence program uses: prompt evaluation, then a TokenStream
// (sampling, stop rules, final text) fed back token by token, with per-token timings. Drives any LanguageModel (a GGUF Session, a .pte
// program). Memory from the caller's arena; no heap, exceptions or clock of its own.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/language_model.hpp"
#include "tinyllm/core/model_state.hpp"
#include "tinyllm/generation/draft_pacing.hpp"
#include "tinyllm/generation/drafter.hpp"
#include "tinyllm/generation/token_stream.hpp"

namespace tinyllm {

// One generated token and the text it made final (may be empty while text is held back).
// When generation ends with text still held, a last call brings it with id == no_token.
struct GeneratedToken {
    static constexpr int32_t no_token = -1;
    int32_t id = no_token;
    const char* text = nullptr;
    size_t text_len = 0;
    uint64_t nanoseconds = 0;  // sampling this token and evaluating the one before (0 without a clock)
};

// Return false to stop.
using TokenCallback = bool (*)(const GeneratedToken& token, void* user);

struct GeneratorOptions {
    size_t max_stop_bytes = 64;             // the longest stop string generate() accepts
    uint64_t (*clock_ns)() = nullptr;       // a monotonic clock for timings, if the platform has one
    int max_draft = 0;                      // the most drafted tokens checked per step (set_drafter); 0: none
};

struct GenerationStats {
    StopReason reason = StopReason::token_budget;
    int n_prompt = 0, n_generated = 0;
    uint64_t prompt_ns = 0, first_token_ns = 0, generation_ns = 0;
    int n_draft_steps = 0, n_drafted = 0, n_drafts_taken = 0;  // speculative decoding: batches checked, tokens in them, taken
};

class Generator {
public:
    // max_token_bytes: the vocabulary's TokenText::max_token_bytes(), 0 without a vocabulary.
    static size_t required_bytes(int n_vocab, size_t max_token_bytes, const GeneratorOptions& options = {}) {
        const size_t drafting =
            options.max_draft > 0 ? size_t(options.max_draft + 1) * (size_t(n_vocab) * sizeof(float) + 3 * sizeof(int32_t)) + 4 * 64 : 0;
        return TokenStream::required_bytes(n_vocab, max_token_bytes, options.max_stop_bytes) + size_t(n_vocab) * sizeof(float) + drafting + 64;
    }

    // vocabulary may be null: tokens only, no text, no end-of-generation stop.
    Status init(LanguageModel& model, const TokenText* vocabulary, const SamplerConfig& sampling, Arena& arena,
                const GeneratorOptions& options = {}) {
        model_ = &model;
        options_ = options;
        const int n_vocab = model.n_vocab();
        if (vocabulary && vocabulary->n_vocab() > n_vocab)
            return Status::fail(Error::shape_mismatch, "the vocabulary has ", vocabulary->n_vocab(), " tokens, the model ", n_vocab);
        Status st = stream_.init(n_vocab, vocabulary, sampling, options.max_stop_bytes, arena);
        if (!st) return st;
        logits_ = arena.allocate_array<float>(size_t(n_vocab));
        if (!logits_) return Status::fail(Error::out_of_memory, "logits of ", n_vocab, " floats");
        if (options.max_draft < 0) return Status::fail(Error::invalid_argument, "max_draft ", options.max_draft);
        if (options.max_draft > 0) {
            const size_t nodes = size_t(options.max_draft + 1);
            verify_rows_ = arena.allocate_array<float>(nodes * size_t(n_vocab));
            verify_tokens_ = arena.allocate_array<int32_t>(nodes);
            verify_parents_ = arena.allocate_array<int32_t>(nodes);
            path_ = arena.allocate_array<int32_t>(nodes);
            if (!verify_rows_ || !verify_tokens_ || !verify_parents_ || !path_) return Status::fail(Error::out_of_memory, "rows for ", options.max_draft, " drafted tokens");
        }
        drafter_ = nullptr;
        pending_ = GeneratedToken::no_token;
        have_logits_ = false;
        verify_row_ = -1;
        return Status{};
    }

    // Speculative decoding: each step, the drafter proposes up to options.max_draft tokens and one
    // batched evaluation checks them; the reply is what decoding without it gives (greedy: the
    // same ids; sampling: the same tokens for the same seed, each drawn from the model's own
    // distribution). Drafting pauses by itself while it does not pay (DraftPacing). Attach
    // before the first prompt (the drafter learns the conversation from then on); null detaches.
    Status set_drafter(Drafter* drafter) {
        if (drafter && options_.max_draft <= 0) return Status::fail(Error::invalid_argument, "drafting needs GeneratorOptions::max_draft > 0");
        drafter_ = drafter;
        restart_drafting();
        plain_ns_ = 0;
        return Status{};
    }

    // Evaluates prompt tokens after what the cache holds (first feeding the last sampled token,
    // if it was not fed yet); the logits of the last one are what generate() samples from.
    // all_logits, if given, receives [n][n_vocab]: every prompt position's logits.
    // A prompt that cannot run (empty, an id outside the vocabulary, too long) changes nothing.
    Status prompt(const int32_t* ids, int n, float* all_logits = nullptr) {
        if (n <= 0) return Status::fail(Error::invalid_argument, "empty prompt");
        for (int i = 0; i < n; ++i)
            if (ids[i] < 0 || ids[i] >= model_->n_vocab())
                return Status::fail(Error::token_out_of_range, "token id ", ids[i], " at index ", i, " is outside the vocabulary of ",
                                    model_->n_vocab());
        if (n_tokens() + n > model_->n_ctx())
            return Status::fail(Error::context_full, "prompt of ", n, " tokens after ", n_tokens(), " does not fit the context of ",
                                model_->n_ctx());
        Status st = settle();
        if (!st || !(st = feed_pending())) return st;
        const uint64_t t0 = now();
        if (!(st = model_->eval(ids, n, all_logits ? all_logits : logits_, all_logits != nullptr))) return st;
        if (drafter_) drafter_->update(model_->n_past() - n, ids, n);
        if (all_logits) __builtin_memcpy(logits_, all_logits + size_t(n - 1) * size_t(model_->n_vocab()), size_t(model_->n_vocab()) * sizeof(float));
        stream_.accept(ids, n);
        replying_ = false;
        stats_ = GenerationStats{};
        stats_.n_prompt = n;
        stats_.prompt_ns = now() - t0;
        have_logits_ = true;
        return Status{};
    }

    // Samples up to request.n_predict tokens, handing each to on_token with its final text.
    Status generate(const GenerationRequest& request, TokenCallback on_token, void* user) {
        Status st = begin(request);
        if (!st) return st;
        GeneratedToken token;
        for (Result<bool> more = step(token);; more = step(token)) {
            if (!more) return more.status;
            if (!*more) return Status{};
            if (!on_token(token, user) && token.id != GeneratedToken::no_token) stop();
        }
    }

    // The same loop driven by the caller: begin(), then step() until it returns false.
    Status begin(const GenerationRequest& request) {
        replying_ = false;
        Status st = settle();
        if (!st || !(st = feed_pending())) return st;
        if (!have_logits_) return Status::fail(Error::invalid_argument, "nothing to continue from: evaluate a prompt first");
        if (!(st = stream_.start(request))) return st;
        stats_.n_generated = 0;
        stats_.generation_ns = 0;
        stats_.n_draft_steps = stats_.n_drafted = stats_.n_drafts_taken = 0;
        t_start_ = t_token_ = now();
        n_steps_ = 0;
        replying_ = true;
        return Status{};
    }

    // The next token of the reply and the text it made final: true with a token (id no_token:
    // the text held back until the end), false once the reply is over.
    Result<bool> step(GeneratedToken& token) {
        if (!replying_) return false;
        token = GeneratedToken{};
        Status st = stop_status_;
        stop_status_ = Status{};
        if (!st) return fail(st);
        if (!stream_.done() && verify_row_ < 0 && n_steps_ > 0) {
            if (model_->n_past() >= model_->n_ctx()) stream_.stop(StopReason::context_full);
            else if (!(st = verify_drafts()) || (verify_row_ < 0 && !(st = feed_pending()))) return fail(st);
        }
        if (!stream_.done()) {
            // From the last evaluation's logits, or a node's row in a tree of drafted tokens. The
            // token is drawn as without drafts (the same draw, so the same reply for a seed); a
            // child of the node with that token is a draft taken: its row comes next.
            const bool verifying = verify_row_ >= 0;
            const float* row = verifying ? verify_rows_ + size_t(verify_row_) * size_t(model_->n_vocab()) : logits_;
            const int position = verifying ? verify_base_ + path_len_ : n_tokens();
            const NextToken next = stream_.next(row);
            if (drafter_) drafter_->update(position, &next.id, 1);
            have_logits_ = false;
            int taken = -1;
            for (int i = verifying ? verify_row_ + 1 : verify_size_; i < verify_size_ && taken < 0; ++i)
                if (verify_parents_[i] == verify_row_ && verify_tokens_[i] == next.id) taken = i;
            if (taken >= 0 && !next.done) {
                verify_row_ = path_[path_len_++] = taken;  // the drafted token is in the cache already
            } else {
                // As decoding without drafts leaves it: the cache up to the token before, this one pending.
                if (verifying && !(st = end_verification(path_len_, path_len_ - 1 + (taken >= 0 ? 1 : 0)))) return fail(st);
                pending_ = next.id;
            }
            if (next.in_text) {
                token.id = next.id;
                token.text = next.text.data();
                token.text_len = next.text.size();
                const uint64_t t = now();
                token.nanoseconds = t - t_token_;
                t_token_ = t;
                if (n_steps_++ == 0) stats_.first_token_ns = t - t_start_;
                return true;
            }
        }
        if (!(st = settle())) return fail(st);  // stopped by the caller while taking drafted tokens
        replying_ = false;
        stats_.n_generated = stream_.n_generated();
        stats_.reason = stream_.reason();
        stats_.generation_ns = now() - t_start_;
        const StrView rest = stream_.finish();
        if (rest.empty()) return false;
        token.text = rest.data();
        token.text_len = rest.size();
        return true;
    }

    // Ends the reply after the token step() gave last (the caller's abort); the conversation is
    // then as decoding without drafts leaves it (a state can be saved).
    void stop() {
        stream_.stop(StopReason::callback);
        if (Status st = settle(); !st) stop_status_ = st;
    }

    // A saved conversation (model_state.hpp): the model's state, then the generator's own (the
    // token still to be fed, the logits the next token is sampled from, the sampler's place),
    // so a generator restored into a fresh model continues exactly as the saved one would.
    size_t state_bytes() const { return model_->state_bytes() + own_state_bytes(); }

    Result<size_t> save_state(uint8_t* dst, size_t capacity) const {
        if (verify_row_ >= 0)
            return Status::fail(Error::invalid_argument, "the reply is taking drafted tokens; save the state between replies or after stop()");
        const size_t need = state_bytes();
        if (!dst || capacity < need)
            return Status::fail(Error::out_of_memory, "the state needs ", uint64_t(need), " bytes; the buffer has ", uint64_t(capacity));
        Result<size_t> model_bytes = model_->save_state(dst, capacity);
        if (!model_bytes) return model_bytes.status;
        uint8_t* p = dst + *model_bytes;
        const uint32_t fields[4] = {0x4e474c54u /* "TLGN" */, uint32_t(pending_), uint32_t(have_logits_), uint32_t(model_->n_vocab())};
        __builtin_memcpy(p, fields, sizeof fields);
        stream_.sampler().save_state(p + sizeof fields);
        __builtin_memcpy(p + sizeof fields + Sampler::state_bytes, logits_, size_t(model_->n_vocab()) * sizeof(float));
        const uint64_t sum = state::checksum(p, own_state_bytes() - 8);
        __builtin_memcpy(p + own_state_bytes() - 8, &sum, 8);
        return *model_bytes + own_state_bytes();
    }

    // Restores a saved conversation; a state that does not belong here changes nothing.
    Status load_state(const uint8_t* src, size_t size) {
        Result<OwnState> own = read_own_state(src, size);
        if (!own) return own.status;
        Status st = model_->load_state(src, own->model_bytes);
        if (!st) return st;
        pending_ = own->pending;
        have_logits_ = own->have_logits;
        stream_.sampler().load_state(own->sampler);
        __builtin_memcpy(logits_, own->logits, size_t(model_->n_vocab()) * sizeof(float));
        replying_ = false;
        verify_row_ = -1;
        if (drafter_) drafter_->update(0, nullptr, 0);  // the restored tokens are not known here
        return Status{};
    }

    // The n_tokens() a saved state restores to (checked as load_state() checks it, except the
    // model's payload), for a caller that keeps more beside it.
    Result<int> state_tokens(const uint8_t* src, size_t size) const {
        Result<OwnState> own = read_own_state(src, size);
        if (!own) return own.status;
        return own->n_tokens + (own->pending != GeneratedToken::no_token ? 1 : 0);
    }

    // Forgets the conversation: an empty cache, the sampler's history and seed restarted, and
    // drafting as after set_drafter().
    void reset() {
        model_->reset();
        stream_.sampler().reset();
        restart_drafting();
        pending_ = GeneratedToken::no_token;
        have_logits_ = false;
        replying_ = false;
        verify_row_ = -1;
        if (drafter_) drafter_->update(0, nullptr, 0);
    }

    // Keeps the first n tokens of the cache (the next prompt() continues from there).
    Status truncate(int n) {
        Status st = settle();
        if (!st || !(st = model_->truncate(n))) return st;
        pending_ = GeneratedToken::no_token;
        have_logits_ = false;
        replying_ = false;
        if (drafter_) drafter_->update(n, nullptr, 0);
        return Status{};
    }

    // Tokens of the conversation: in the cache, plus the last sampled one when it is still to be fed.
    int n_tokens() const {
        if (verify_row_ >= 0) return verify_base_ + path_len_;
        return model_->n_past() + (pending_ != GeneratedToken::no_token ? 1 : 0);
    }
    // The last sampled token while it waits to be fed, else GeneratedToken::no_token.
    int32_t pending_token() const { return verify_row_ >= 0 ? verify_tokens_[verify_row_] : pending_; }
    const GenerationStats& stats() const { return stats_; }
    const float* logits() const { return have_logits_ ? logits_ : nullptr; }
    Sampler& sampler() { return stream_.sampler(); }
    LanguageModel& model() { return *model_; }

private:
    // The generator's part of a saved state, after the model's: magic, pending token, whether
    // logits are current, vocabulary size, the sampler's state, the logits, a checksum.
    struct OwnState {
        size_t model_bytes;
        int n_tokens;  // in the model's cache
        int32_t pending;
        bool have_logits;
        const uint8_t* sampler;
        const uint8_t* logits;
    };
    Result<OwnState> read_own_state(const uint8_t* src, size_t size) const {
        state::Header header;
        Status st = state::peek_header(src, size, header);
        if (!st) return st;
        OwnState own;
        own.model_bytes = state::Header::bytes + size_t(header.payload_bytes);
        own.n_tokens = header.n_tokens;
        const uint8_t* p = src + own.model_bytes;
        if (size - own.model_bytes != own_state_bytes())
            return Status::fail(Error::truncated, "the generator's part of the state has ", uint64_t(size - own.model_bytes), " bytes, not ",
                                uint64_t(own_state_bytes()));
        uint32_t fields[4];
        __builtin_memcpy(fields, p, sizeof fields);
        uint64_t sum;
        __builtin_memcpy(&sum, p + own_state_bytes() - 8, 8);
        if (fields[0] != 0x4e474c54u || sum != state::checksum(p, own_state_bytes() - 8))
            return Status::fail(Error::corrupt, "the generator's part of the saved state is damaged");
        if (int(fields[3]) != model_->n_vocab() || int32_t(fields[1]) < GeneratedToken::no_token || int32_t(fields[1]) >= model_->n_vocab())
            return Status::fail(Error::shape_mismatch, "the saved state is from a vocabulary of ", fields[3], " tokens; this one has ",
                                model_->n_vocab());
        own.pending = int32_t(fields[1]);
        own.have_logits = fields[2] != 0;
        own.sampler = p + sizeof fields;
        own.logits = p + sizeof fields + Sampler::state_bytes;
        return own;
    }

    size_t own_state_bytes() const { return 16 + Sampler::state_bytes + size_t(model_->n_vocab()) * sizeof(float) + 8; }

    // Ends a batch of drafted tokens the reply stopped taking, as decoding without drafts leaves
    // the conversation: the cache up to the token before the last taken, that one pending.
    Status settle() {
        if (verify_row_ < 0) return Status{};
        const int32_t last = verify_tokens_[verify_row_];
        Status st = end_verification(path_len_ - 1, path_len_ - 1);
        if (st) pending_ = last;
        return st;
    }

    Result<bool> fail(const Status& st) {
        replying_ = false;
        return st;
    }

    // With a drafter and room in the context, feeds the pending token and the drafted ones in one
    // evaluation (a tree's with eval_tree()), keeping every node's logits; step() then walks the
    // tree from its root, node by node, while the sampled token is a child.
    Status verify_drafts() {
        if (!drafter_ || pending_ == GeneratedToken::no_token) return Status{};
        if (pacing_.paused()) return Status{};
        if (options_.clock_ns && plain_ns_ == 0) return Status{};  // a plain step first, to time drafting against
        const uint64_t t0 = now();
        const int room = model_->n_ctx() - model_->n_past() - 1;
        const int max = options_.max_draft < room ? options_.max_draft : room;
        if (max <= 0) return Status{};
        DraftTree tree(verify_tokens_, verify_parents_, max + 1, pending_);
        drafter_->draft(tree);
        const int n = tree.size();
        if (n <= 1) return Status{};
        for (int i = 1; i < n; ++i)
            if (tree.token(i) < 0 || tree.token(i) >= model_->n_vocab()) {
                pacing_.count(0.0);  // a drafter's id outside the vocabulary: no draft (and no time lost) this time
                return Status{};
            }
        verify_base_ = model_->n_past();
        verify_chain_ = tree.is_chain();
        Status st = verify_chain_ ? model_->eval(tree.tokens(), n, verify_rows_, true)
                                  : model_->eval_tree(tree.tokens(), tree.parents(), n, verify_rows_);
        if (!st && !verify_chain_ && (st.code == Error::unsupported_op || st.code == Error::invalid_argument)) {
            pacing_.count(0.0);  // a tree this model cannot evaluate (changing nothing): no draft (and no time lost) this time
            return Status{};
        }
        if (!st) return st;
        drafter_->evaluated(tree, verify_rows_, model_->n_vocab());
        batch_ns_ = now() - t0;
        pending_ = GeneratedToken::no_token;
        verify_size_ = n;
        verify_row_ = path_[0] = 0;
        path_len_ = 1;
        ++stats_.n_draft_steps;
        stats_.n_drafted += n - 1;
        return Status{};
    }

    // Ends a batch of drafted tokens: the cache keeps the first `keep` nodes of the path taken.
    Status end_verification(int keep, int taken) {
        verify_row_ = -1;
        verify_size_ = 0;
        stats_.n_drafts_taken += taken;
        // With a clock, the batch's gain: the tokens it gave per its time in plain steps.
        if (options_.clock_ns)
            pacing_.count(double(taken + 1) * double(plain_ns_) / double(batch_ns_ > 0 ? batch_ns_ : 1), double(batch_ns_) / double(plain_ns_) - 1.0);
        else
            pacing_.count(double(taken));
        return verify_chain_ ? model_->truncate(verify_base_ + keep) : model_->keep_branch(path_, keep);
    }

    void restart_drafting() { pacing_.restart(options_.clock_ns != nullptr); }

    // The last sampled token goes into the cache before anything that follows it.
    // Without room for it, the token stays pending (and in n_tokens()).
    Status feed_pending() {
        if (pending_ == GeneratedToken::no_token) return Status{};
        if (model_->n_past() >= model_->n_ctx())
            return Status::fail(Error::context_full, "the context of ", model_->n_ctx(), " tokens is full");
        const uint64_t t0 = now();
        Status st = model_->eval(&pending_, 1, logits_, false);
        if (!st) return st;
        const uint64_t took = now() - t0;
        plain_ns_ = (plain_ns_ ? (plain_ns_ + took) / 2 : took) | 1;  // never 0, "not yet timed"
        pending_ = GeneratedToken::no_token;
        have_logits_ = true;
        return Status{};
    }

    uint64_t now() const { return options_.clock_ns ? options_.clock_ns() : 0; }

    LanguageModel* model_ = nullptr;
    GeneratorOptions options_;
    TokenStream stream_;
    float* logits_ = nullptr;
    int32_t pending_ = GeneratedToken::no_token;
    bool have_logits_ = false;
    GenerationStats stats_;
    // The reply step() is in: started, tokens given so far, and its clock readings.
    bool replying_ = false;
    int n_steps_ = 0;
    uint64_t t_start_ = 0, t_token_ = 0;
    // Speculative decoding: the drafter; the tree being taken (the pending token then the drafts,
    // fed at verify_base_, as a sequence or a tree; their logits rows; the node whose row comes
    // next, -1 when none; the path of nodes taken to it); and the pause rule's state.
    Drafter* drafter_ = nullptr;
    float* verify_rows_ = nullptr;
    int32_t *verify_tokens_ = nullptr, *verify_parents_ = nullptr, *path_ = nullptr;
    int verify_base_ = 0, verify_size_ = 0, verify_row_ = -1, path_len_ = 0;
    bool verify_chain_ = true;
    DraftPacing pacing_;
    uint64_t plain_ns_ = 0, batch_ns_ = 0;  // with a clock: a plain step's time (a running mean), the last batch's
    Status stop_status_;  // a failure while stop() ended a batch, for the next step() to report
};

} // namespace tinyllm
