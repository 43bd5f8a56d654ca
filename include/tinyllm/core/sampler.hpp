// Token sampling as a chain of steps applied to the logits, then a seeded draw from what is
// left. The default chain is llama.cpp's order (penalties, top-k, typical-p, top-p, min-p,
// temperature); any subset in any order can be configured (penalties, when used, come first).
// A step at its neutral value does nothing; temperature 0 is greedy (lowest id on ties). The
// random source is a fixed algorithm (splitmix64) so the same seed gives the same text on every
// platform.
// Work space comes from the caller's arena: no heap.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/kernels/activation_fns.hpp"
#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm {

enum class SamplerStep : uint8_t { penalties, top_k, typical_p, top_p, min_p, temperature };

struct SamplerConfig {
    static constexpr int max_steps = 8;
    SamplerStep steps[max_steps] = {SamplerStep::penalties, SamplerStep::top_k, SamplerStep::typical_p,
                                    SamplerStep::top_p, SamplerStep::min_p, SamplerStep::temperature};
    int n_steps = 6;
    float temperature = 0.8f;
    int top_k = 40;          // 0: off
    float top_p = 0.95f;     // 1: off
    float min_p = 0.05f;     // 0: off
    float typical_p = 1.0f;  // 1: off
    float repeat_penalty = 1.0f;     // 1: off
    float frequency_penalty = 0.0f;  // subtracted once per occurrence in the window
    float presence_penalty = 0.0f;   // subtracted once if present in the window
    int penalty_last_n = 64;
    uint64_t seed = 0;
};

class Sampler {
public:
    static constexpr int max_window = 1024;  // the longest penalty window
    static size_t required_bytes(int n_vocab) {
        return size_t(n_vocab) * (sizeof(Candidate)) + size_t(max_window) * sizeof(int32_t) + 256;
    }

    Status init(const SamplerConfig& cfg, int n_vocab, Arena& arena) {
        if (n_vocab <= 0) return Status::fail(Error::invalid_argument, "vocabulary size ", n_vocab);
        Status st = check(cfg);
        if (!st) return st;
        n_vocab_ = n_vocab;
        cand_ = arena.allocate_array<Candidate>(size_t(n_vocab));
        recent_ = arena.allocate_array<int32_t>(size_t(max_window));
        if (!cand_ || !recent_) return Status::fail(Error::out_of_memory, "sampler needs ", uint64_t(required_bytes(n_vocab)), " bytes");
        return configure(cfg);
    }

    // New settings (and a restart from their seed) without new memory; invalid ones change nothing.
    Status configure(const SamplerConfig& cfg) {
        Status st = check(cfg);
        if (!st) return st;
        cfg_ = cfg;
        if (cfg_.penalty_last_n > max_window) cfg_.penalty_last_n = max_window;
        state_ = cfg.seed;
        n_recent_ = 0;
        return Status{};
    }

    static Status check(const SamplerConfig& cfg) {
        if (!(cfg.temperature >= 0.0f) || cfg.top_k < 0 || !(cfg.top_p > 0.0f && cfg.top_p <= 1.0f) ||
            !(cfg.min_p >= 0.0f && cfg.min_p <= 1.0f) || !(cfg.typical_p > 0.0f && cfg.typical_p <= 1.0f) ||
            !(cfg.repeat_penalty > 0.0f) || cfg.penalty_last_n < 0)
            return Status::fail(Error::invalid_argument, "sampling parameters out of range");
        if (cfg.n_steps < 0 || cfg.n_steps > SamplerConfig::max_steps)
            return Status::fail(Error::invalid_argument, "sampler chain of ", cfg.n_steps, " steps");
        for (int i = 1; i < cfg.n_steps; ++i)
            if (cfg.steps[i] == SamplerStep::penalties)
                return Status::fail(Error::invalid_argument, "the penalties step must come first in the sampler chain");
        return Status{};
    }

    int n_vocab() const { return n_vocab_; }

    // Forgets the penalty window and restarts the random sequence from the seed, as for a new
    // conversation: the same inputs then give the same tokens again.
    void reset() {
        n_recent_ = 0;
        state_ = cfg_.seed;
    }

    // Where the random sequence is, to continue it under new settings.
    uint64_t random_state() const { return state_; }
    void set_random_state(uint64_t state) { state_ = state; }

    // The sampler's part of a saved state: where the random sequence is and the penalty window
    // (its tokens oldest first, so it restores under any window length).
    static constexpr size_t state_bytes = 16 + size_t(max_window) * sizeof(int32_t);

    void save_state(uint8_t* dst) const {
        const uint64_t window = n_recent_ < uint64_t(cfg_.penalty_last_n) ? n_recent_ : uint64_t(cfg_.penalty_last_n);
        __builtin_memcpy(dst, &state_, 8);
        const uint32_t count = uint32_t(window);
        __builtin_memcpy(dst + 8, &count, 4);
        __builtin_memset(dst + 12, 0, state_bytes - 12);
        for (uint64_t i = 0; i < window; ++i) {
            const int32_t t = recent_[(n_recent_ - window + i) % uint64_t(cfg_.penalty_last_n)];
            __builtin_memcpy(dst + 16 + i * 4, &t, 4);
        }
    }

    // Restores what save_state() wrote (the caller has checked the bytes' integrity).
    void load_state(const uint8_t* src) {
        uint32_t count;
        __builtin_memcpy(&count, src + 8, 4);
        n_recent_ = 0;
        for (uint32_t i = 0; i < count && i < uint32_t(max_window); ++i) {
            int32_t t;
            __builtin_memcpy(&t, src + 16 + i * 4, 4);
            accept(t);
        }
        __builtin_memcpy(&state_, src, 8);
    }

    // Remembers a token for the repetition penalty window.
    void accept(int32_t token) {
        if (cfg_.penalty_last_n == 0) return;
        recent_[n_recent_ % cfg_.penalty_last_n] = token;
        ++n_recent_;
    }

    // A token from logits: the best (greedy), else a draw from the filtered softmax.
    int32_t sample(const float* logits) {
        int n = n_vocab_;
        for (int i = 0; i < n; ++i) cand_[i] = {int32_t(i), logits[i]};
        if (cfg_.n_steps > 0 && cfg_.steps[0] == SamplerStep::penalties) apply_penalties();
        if (cfg_.temperature == 0.0f) return greedy(n);
        bool sorted = false;      // candidates in descending logit order
        bool probs_fresh = false;  // p holds the softmax of the current logits
        auto sorted_probs = [&] {
            if (!sorted) {
                sort(0, n, before);
                sorted = true;
            }
            if (!probs_fresh) {
                softmax_sorted(n);
                probs_fresh = true;
            }
        };
        for (int s = 0; s < cfg_.n_steps; ++s) {
            switch (cfg_.steps[s]) {
            case SamplerStep::penalties: break;  // applied above, before any filter
            case SamplerStep::top_k:
                if (cfg_.top_k > 0 && cfg_.top_k < n) {
                    n = keep_top(n, cfg_.top_k);
                    sorted = true;
                    probs_fresh = false;
                }
                break;
            case SamplerStep::typical_p:
                if (cfg_.typical_p < 1.0f) {
                    sorted_probs();
                    n = keep_typical(n);
                }
                break;
            case SamplerStep::top_p:
                if (cfg_.top_p < 1.0f) {
                    sorted_probs();
                    double cum = 0.0;
                    for (int i = 0; i < n; ++i) {
                        cum += cand_[i].p;
                        if (cum >= cfg_.top_p) { n = i + 1; break; }
                    }
                    probs_fresh = false;
                }
                break;
            case SamplerStep::min_p:
                if (cfg_.min_p > 0.0f) {
                    sorted_probs();
                    const float threshold = cand_[0].p * cfg_.min_p;
                    int keep = 1;
                    while (keep < n && cand_[keep].p >= threshold) ++keep;
                    n = keep;
                    probs_fresh = false;
                }
                break;
            case SamplerStep::temperature:
                for (int i = 0; i < n; ++i) cand_[i].logit /= cfg_.temperature;
                probs_fresh = false;
                break;
            }
        }
        sorted_probs();
        double r = next_uniform(), cum = 0.0;
        for (int i = 0; i < n; ++i) {
            cum += cand_[i].p;
            if (r < cum) return cand_[i].id;
        }
        return cand_[n - 1].id;
    }

private:
    struct Candidate {
        int32_t id;
        float logit;
        float p = 0.0f;
        float key = 0.0f;  // scratch sort key
    };

    // Each distinct token of the window once: repetition penalty divides a positive logit and
    // multiplies a negative one; then count * frequency + presence is subtracted.
    void apply_penalties() {
        if (cfg_.repeat_penalty == 1.0f && cfg_.frequency_penalty == 0.0f && cfg_.presence_penalty == 0.0f) return;
        int window = n_recent_ < uint64_t(cfg_.penalty_last_n) ? int(n_recent_) : cfg_.penalty_last_n;
        for (int i = 0; i < window; ++i) {
            int32_t t = recent_[i];
            if (t < 0 || t >= n_vocab_) continue;
            bool seen = false;
            int count = 0;
            for (int j = 0; j < window; ++j) {
                seen = seen || (j < i && recent_[j] == t);
                count += recent_[j] == t;
            }
            if (seen) continue;
            float& l = cand_[t].logit;
            l = l > 0 ? l / cfg_.repeat_penalty : l * cfg_.repeat_penalty;
            l -= float(count) * cfg_.frequency_penalty + cfg_.presence_penalty;
        }
    }

    // Locally typical sampling: keep the tokens whose surprise -log p is closest to the
    // distribution's entropy until their mass reaches typical_p; then renormalize by logit order.
    int keep_typical(int n) {
        double entropy = 0.0;
        for (int i = 0; i < n; ++i)
            if (cand_[i].p > 0.0f) entropy -= double(cand_[i].p) * math::log(double(cand_[i].p));
        auto distance = [&](const Candidate& c) {
            double d = -math::log(double(c.p)) - entropy;
            return d < 0 ? -d : d;
        };
        // Order by distance (ties by logit order), take the prefix, restore logit order.
        for (int i = 0; i < n; ++i) cand_[i].key = float(distance(cand_[i]));
        sort(0, n, [](const Candidate& a, const Candidate& b) { return a.key < b.key || (a.key == b.key && before(a, b)); });
        double cum = 0.0;
        int keep = n;
        for (int i = 0; i < n; ++i) {
            cum += cand_[i].p;
            if (cum > cfg_.typical_p) { keep = i + 1; break; }
        }
        sort(0, keep, before);
        softmax_sorted(keep);
        return keep;
    }

    int32_t greedy(int n) const {
        int best = 0;
        for (int i = 1; i < n; ++i)
            if (cand_[i].logit > cand_[best].logit) best = i;
        return cand_[best].id;
    }

    static bool before(const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }

    // Moves the k best candidates to the front, sorted descending: the first k sorted, then one
    // pass over the rest, each compared with the k-th best so far and inserted where it beats it.
    // Most candidates take one comparison (k passes over all of them, as a selection sort
    // makes, took 1.1 ms a token for top_k 40 of 32k tokens); no heap, no <algorithm>.
    int keep_top(int n, int k) {
        if (k >= n) {
            sort(0, n, before);
            return n;
        }
        sort(0, k, before);
        for (int j = k; j < n; ++j) {
            if (!before(cand_[j], cand_[k - 1])) continue;
            const Candidate c = cand_[j];
            cand_[j] = cand_[k - 1];
            int i = k - 1;
            for (; i > 0 && before(c, cand_[i - 1]); --i) cand_[i] = cand_[i - 1];
            cand_[i] = c;
        }
        return k;
    }

    // In-place shell sort: deterministic and allocation-free (the core has no <algorithm>).
    template <class Less>
    void sort(int lo, int hi, Less less) {
        for (int gap = (hi - lo) / 2; gap > 0; gap /= 2)
            for (int i = lo + gap; i < hi; ++i) {
                Candidate c = cand_[i];
                int j = i;
                for (; j - gap >= lo && less(c, cand_[j - gap]); j -= gap) cand_[j] = cand_[j - gap];
                cand_[j] = c;
            }
    }

    void softmax_sorted(int n) {
        double sum = 0.0;
        const float max = cand_[0].logit;
        for (int i = 0; i < n; ++i) sum += (cand_[i].p = math::expf(cand_[i].logit - max));
        for (int i = 0; i < n; ++i) cand_[i].p = float(cand_[i].p / sum);
    }

    // splitmix64 -> uniform double in [0, 1).
    double next_uniform() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        return double(z >> 11) * (1.0 / 9007199254740992.0);
    }

    SamplerConfig cfg_;
    int n_vocab_ = 0;
    Candidate* cand_ = nullptr;
    int32_t* recent_ = nullptr;
    uint64_t n_recent_ = 0;
    uint64_t state_ = 0;
};

} // namespace tinyllm
