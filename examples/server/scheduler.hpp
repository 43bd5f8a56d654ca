// Continuous batching: one thread runs the model for every request at once. Each step feeds
// every decoding slot's last sampled token plus as many prompt tokens of newer requests as fit
// the batch, so a new request joins at the next step and long prompts go in chunks while the
// running streams keep flowing. Requests beyond the free slots wait in a bounded queue.
// With prompt lookup, a decoding slot also feeds tokens drafted from its own text where the
// batch has room. Its token is still sampled from the row it would have been without drafts
// (so a reply is the same with or without them); a draft equal to it is kept, and its row gives
// the next token; the rest leave the cache.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "model_backend.hpp"
#include "tinyllm/generation/draft_pacing.hpp"
#include "tinyllm/generation/drafter.hpp"
#include "tinyllm/generation/token_stream.hpp"

namespace tinyllm::server {

inline int64_t unix_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct TokenLogprob {
    int32_t id;
    float logprob;
};

// What one step gave a request: a token and the text it made final, or (id < 0) the text held
// back until the end.
struct Piece {
    int32_t id = -1;
    std::string text;
    float logprob = 0.0f;
    std::vector<TokenLogprob> top;  // the most likely tokens at this position, best first
    int64_t sampled_unix_us = 0;
};

struct Job {
    // The request, fixed before it is submitted.
    std::vector<int32_t> prompt;
    SamplerConfig sampling;
    std::vector<std::string> stop;
    int max_tokens = 16;
    bool ignore_eos = false;
    int top_logprobs = -1;  // -1: no log-probabilities; else how many alternatives per token

    // Results, under `mutex`: pieces not yet taken, then the end.
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Piece> pieces;
    bool finished = false;
    std::string finish_reason;  // "stop" or "length"; empty when the server stopped it (shutting down)
    std::string error;          // set when the model failed
    int n_generated = 0;

    std::atomic<bool> cancelled{false};
};

// Speculative decoding by prompt lookup (LookupDrafter), per slot.
struct DraftOptions {
    int lookup_ngram = 0;  // the longest n-gram looked up; 0: no drafting
    int max_draft = 3;     // the most drafted tokens per slot and step
};

struct Metrics {
    std::atomic<uint64_t> requests{0}, rejected{0}, prompt_tokens{0}, generated_tokens{0}, steps{0}, busy_us{0};
    std::atomic<uint64_t> drafted_tokens{0}, drafts_taken{0};
    std::atomic<int> queued{0}, active{0};
};

class Scheduler {
public:
    static constexpr size_t max_stop_bytes = 256;
    static constexpr int max_stops = 16;

    Scheduler(ModelBackend& backend, int queue_limit, const DraftOptions& drafting = {})
        : backend_(backend), queue_limit_(queue_limit), drafting_(drafting) {
        const int n_vocab = backend.n_vocab();
        const size_t stream_bytes = TokenStream::required_bytes(n_vocab, backend.vocabulary().max_token_bytes(), max_stop_bytes);
        if (drafting.lookup_ngram && (drafting.lookup_ngram < 2 || drafting.max_draft < 1))
            throw std::invalid_argument("prompt lookup of n-grams up to " + std::to_string(drafting.lookup_ngram) + " tokens, " +
                                        std::to_string(drafting.max_draft) + " drafted tokens per step (at least 2 and 1)");
        const size_t drafter_bytes = drafting.lookup_ngram ? LookupDrafter::required_bytes(backend.n_ctx()) : 0;
        slots_.resize(size_t(backend.n_slots()));
        for (Slot& s : slots_) {
            s.memory.resize(stream_bytes + drafter_bytes);
            Arena arena(s.memory.data(), s.memory.size());
            Status st = s.stream.init(n_vocab, &backend.vocabulary(), SamplerConfig{}, max_stop_bytes, arena);
            if (!st) throw std::runtime_error(std::string("token stream: ") + st.detail);
            if (drafting.lookup_ngram && !(st = s.drafter.init(backend.n_ctx(), drafting.lookup_ngram, arena)))
                throw std::runtime_error(std::string("prompt lookup: ") + st.detail);
            s.drafted.resize(size_t(drafting.max_draft + 1));
            s.parents.resize(size_t(drafting.max_draft + 1));
        }
        // A step asks for at most one row per slot (a decoded token's, or a prompt's last) and
        // one per drafted token, which only fill a batch's spare room.
        const size_t draft_rows = drafting.lookup_ngram ? std::min(size_t(backend.n_batch()), slots_.size() * size_t(drafting.max_draft)) : 0;
        logits_.resize((slots_.size() + draft_rows) * size_t(n_vocab));
        free_slots_ = int(slots_.size());
        thread_ = std::thread([this] { run(); });
    }
    ~Scheduler() { shutdown(); }

    // False when the queue is full (requests about to take a free slot do not count).
    bool submit(const std::shared_ptr<Job>& job) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_ || int(queue_.size()) >= queue_limit_ + free_slots_) {
                ++metrics.rejected;
                return false;
            }
            queue_.push_back(job);
            metrics.queued = int(queue_.size());
            ++metrics.requests;
        }
        wake_.notify_one();
        return true;
    }

    // The client is gone or gave up: its slot is freed at the next step.
    void cancel(const std::shared_ptr<Job>& job) {
        job->cancelled = true;
        wake_.notify_one();
    }

    // Ends every request (queued and running) without a finish reason and stops the thread.
    void shutdown() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        wake_.notify_one();
        if (thread_.joinable()) thread_.join();
    }

    Metrics metrics;

private:
    struct Slot {
        std::shared_ptr<Job> job;
        std::vector<uint8_t> memory;
        TokenStream stream;
        std::vector<StrView> stops;
        size_t prompt_done = 0;  // prompt tokens in the cache
        int32_t pending = -1;    // the last sampled token, fed by the next step
        int n_past = 0;          // tokens in the cache, drafts not counted until taken
        // This step's logits rows: the next token's, then one per drafted token (row ==
        // -1: none). drafted[0] is the token fed before them, then the drafts after it.
        int row = -1, draft_row = 0, n_drafted = 0;
        LookupDrafter drafter;
        DraftPacing pacing;
        std::vector<int32_t> drafted, parents;
    };

    void run() {
        std::vector<BatchToken> batch;
        std::vector<int> members;  // the slots with tokens in the batch
        size_t next_prompt_slot = 0, next_draft_slot = 0;
        while (true) {
            if (!admit()) break;
            batch.clear();
            members.clear();
            int n_rows = 0;
            // Decoding slots first: one token each keeps every stream moving.
            for (size_t i = 0; i < slots_.size(); ++i) {
                Slot& s = slots_[i];
                if (!s.job || s.pending < 0) continue;
                if (s.n_past >= backend_.n_ctx()) {
                    s.stream.stop(StopReason::context_full);
                    finish(s, Piece{});
                    continue;
                }
                batch.push_back(BatchToken{s.pending, int32_t(i), true});
                s.row = n_rows++;
                s.n_drafted = 0;
                members.push_back(int(i));
                ++s.n_past;
            }
            // Then prompt chunks, in turn, as far as the batch has room (at least one token, so
            // that prompts advance even when more slots decode than a batch holds).
            int room = std::max(1, backend_.n_batch() - int(batch.size()));
            for (size_t k = 0; k < slots_.size() && room > 0; ++k) {
                const size_t i = (next_prompt_slot + k) % slots_.size();
                Slot& s = slots_[i];
                if (!s.job || s.prompt_done >= s.job->prompt.size()) continue;
                const int take = int(std::min(size_t(room), s.job->prompt.size() - s.prompt_done));
                for (int t = 0; t < take; ++t) {
                    const bool last = s.prompt_done + size_t(t) + 1 == s.job->prompt.size();
                    batch.push_back(BatchToken{s.job->prompt[s.prompt_done + size_t(t)], int32_t(i), last});
                    if (last) s.row = n_rows++, s.n_drafted = 0;
                }
                s.prompt_done += size_t(take);
                s.n_past += take;
                room -= take;
                members.push_back(int(i));
            }
            next_prompt_slot = (next_prompt_slot + 1) % slots_.size();
            // Drafts last: prompts go first, and a draft only fills a batch's spare room, offered
            // to the decoding slots in turn. A draft holds no more tokens than the reply may
            // still take after the next one, nor than the context holds.
            room = backend_.n_batch() - int(batch.size());
            for (size_t k = 0; k < slots_.size() && drafting_.lookup_ngram && room > 0; ++k) {
                const size_t i = (next_draft_slot + k) % slots_.size();
                Slot& s = slots_[i];
                if (!s.job || s.row < 0 || s.pending < 0 || s.pacing.paused()) continue;  // decoding in this step
                const int fits = std::min({drafting_.max_draft, room, backend_.n_ctx() - s.n_past, s.job->max_tokens - s.stream.n_generated() - 1});
                if (fits <= 0) continue;
                DraftTree tree(s.drafted.data(), s.parents.data(), fits + 1, s.pending);
                s.drafter.draft(tree);
                s.draft_row = n_rows;
                for (int d = 1; d < tree.size() && tree.token(d) >= 0 && tree.token(d) < backend_.n_vocab(); ++d) {
                    batch.push_back(BatchToken{tree.token(d), int32_t(i), true});
                    ++n_rows, ++s.n_drafted, --room;
                }
            }
            next_draft_slot = (next_draft_slot + 1) % slots_.size();
            if (batch.empty()) continue;

            const auto t0 = std::chrono::steady_clock::now();
            const Status st = backend_.decode(batch.data(), int(batch.size()), logits_.data());
            metrics.busy_us += uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
            ++metrics.steps;
            if (!st) {  // nothing of the batch is in the cache: every request in it ends
                const std::string error = std::string(error_name(st.code)) + (st.detail[0] ? std::string(": ") + st.detail : std::string());
                for (int i : members)
                    if (slots_[size_t(i)].job) fail(slots_[size_t(i)], error);
                for (Slot& s : slots_) s.row = -1;
                continue;
            }
            for (Slot& s : slots_)
                if (s.job && s.row >= 0) take(s);
        }
        // Shutting down: everything still here ends without a finish reason.
        for (Slot& s : slots_)
            if (s.job) end(s, "");
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& job : queue_) close(*job, "", {});
        queue_.clear();
    }

    // Frees the slots of cancelled requests and fills free slots from the queue; waits while
    // there is nothing to run. False when shutting down.
    bool admit() {
        for (Slot& s : slots_)
            if (s.job && s.job->cancelled) end(s, "");
        std::unique_lock<std::mutex> lock(mutex_);
        while (true) {
            if (stopping_) return false;
            for (size_t i = 0; i < slots_.size() && !queue_.empty(); ++i) {
                if (slots_[i].job) continue;
                std::shared_ptr<Job> job = queue_.front();
                queue_.pop_front();
                if (job->cancelled) {
                    close(*job, "", {});
                    --i;
                    continue;
                }
                start(int(i), job);
            }
            metrics.queued = int(queue_.size());
            int active = 0;
            for (const Slot& s : slots_) active += s.job != nullptr;
            metrics.active = active;
            free_slots_ = int(slots_.size()) - active;
            if (active) return true;
            wake_.wait(lock);
        }
    }

    void start(int index, const std::shared_ptr<Job>& job) {
        Slot& s = slots_[size_t(index)];
        backend_.clear(index);
        s.job = job;
        s.prompt_done = 0;
        s.pending = -1;
        s.n_past = 0;
        s.stops.clear();
        for (const std::string& stop : job->stop) s.stops.push_back(StrView(stop.data(), stop.size()));
        GenerationRequest request;
        request.n_predict = job->max_tokens;
        request.stop = s.stops.data();
        request.n_stop = int(s.stops.size());
        request.stop_at_end_of_generation = !job->ignore_eos;
        // The HTTP layer checked both: a failure here is a bug, reported to the client.
        Status st = s.stream.sampler().configure(job->sampling);
        if (st) st = s.stream.start(request);
        if (!st) return fail(s, std::string("cannot start: ") + st.detail);
        s.stream.accept(job->prompt.data(), int(job->prompt.size()));
        if (drafting_.lookup_ngram) s.drafter.update(0, job->prompt.data(), int(job->prompt.size()));
        s.pacing.restart(false);
        s.row = -1;
        metrics.prompt_tokens += job->prompt.size();
    }

    // Samples the slot's tokens from this step's rows: the next token, then while it equals the
    // next drafted token (already in the cache), the token after it from that draft's row.
    void take(Slot& s) {
        const float* rows = logits_.data();
        const size_t n_vocab = size_t(backend_.n_vocab());
        int row = s.row, taken = 0;
        s.row = -1;
        while (sample(s, rows + size_t(row) * n_vocab) && taken < s.n_drafted && s.pending == s.drafted[size_t(taken + 1)]) {
            row = s.draft_row + taken++;
            ++s.n_past;
        }
        if (s.n_drafted == 0) return;
        s.pacing.count(double(taken));
        metrics.drafted_tokens += uint64_t(s.n_drafted);
        metrics.drafts_taken += uint64_t(taken);
        // The drafts not taken leave the cache, as decoding without them leaves it.
        if (s.job && taken < s.n_drafted) {
            const Status st = backend_.truncate(int(&s - slots_.data()), s.n_past);
            if (!st) fail(s, std::string("dropping drafted tokens: ") + error_name(st.code));
        }
    }

    // The slot's next token from its logits row; false when the request ended.
    bool sample(Slot& s, const float* logits) {
        Job& job = *s.job;
        if (job.cancelled) return end(s, ""), false;
        Piece piece;
        const float log_sum = job.top_logprobs >= 0 ? log_softmax_top(logits, job.top_logprobs, piece.top) : 0.0f;
        const NextToken next = s.stream.next(logits);
        piece.sampled_unix_us = unix_us();
        piece.logprob = logits[next.id] - log_sum;
        s.pending = next.id;
        if (drafting_.lookup_ngram) s.drafter.update(s.n_past, &next.id, 1);
        if (next.in_text) {
            piece.id = next.id;
            piece.text.assign(next.text.data(), next.text.size());
            ++metrics.generated_tokens;
        }
        if (!next.done) return publish(job, std::move(piece)), true;
        if (!next.in_text) piece = Piece{};  // an end-of-generation token is not part of the reply
        finish(s, std::move(piece));
        return false;
    }

    // The last piece of a reply, with whatever text was held back.
    void finish(Slot& s, Piece last) {
        const StrView tail = s.stream.finish();
        last.text.append(tail.data(), tail.size());
        if (last.id >= 0 || !last.text.empty()) publish(*s.job, std::move(last));
        end(s, s.stream.reason() == StopReason::token_budget || s.stream.reason() == StopReason::context_full ? "length" : "stop");
    }

    void fail(Slot& s, const std::string& error) {
        close(*s.job, "stop", error);
        release(s);
    }

    void end(Slot& s, const char* reason) {
        close(*s.job, reason, {});
        release(s);
    }

    void release(Slot& s) {
        s.job.reset();
        --metrics.active;
    }

    static void publish(Job& job, Piece piece) {
        {
            std::lock_guard<std::mutex> lock(job.mutex);
            if (piece.id >= 0) ++job.n_generated;
            job.pieces.push_back(std::move(piece));
        }
        job.changed.notify_all();
    }

    static void close(Job& job, const char* reason, const std::string& error) {
        {
            std::lock_guard<std::mutex> lock(job.mutex);
            job.finished = true;
            job.finish_reason = reason;
            job.error = error;
        }
        job.changed.notify_all();
    }

    // The log of the softmax's denominator over the model's logits (before any sampling step,
    // as OpenAI reports them), and the n most likely tokens with their log-probabilities.
    float log_softmax_top(const float* logits, int n, std::vector<TokenLogprob>& top) const {
        const int V = backend_.n_vocab();
        float max = logits[0];
        for (int i = 1; i < V; ++i) max = logits[i] > max ? logits[i] : max;
        double sum = 0.0;
        for (int i = 0; i < V; ++i) sum += std::exp(double(logits[i] - max));
        const float log_sum = float(std::log(sum)) + max;
        top.clear();
        for (int i = 0; i < V && n > 0; ++i) {
            const TokenLogprob t{i, logits[i] - log_sum};
            if (int(top.size()) == n && t.logprob <= top.back().logprob) continue;
            if (int(top.size()) == n) top.pop_back();
            auto at = top.begin();
            while (at != top.end() && at->logprob >= t.logprob) ++at;
            top.insert(at, t);
        }
        return log_sum;
    }

    ModelBackend& backend_;
    const int queue_limit_;
    const DraftOptions drafting_;
    std::vector<Slot> slots_;
    std::vector<float> logits_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    bool stopping_ = false;
    int free_slots_ = 0;  // under mutex_: slots without a request as of the last admit()
    std::thread thread_;
};

} // namespace tinyllm::server
