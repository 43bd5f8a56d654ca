// When speculative decoding drafts: it pauses while drafting does not pay. Each checked batch
// reports its gain. With a clock (timed), the gain is the tokens the batch gave per the time it
// took, against a plain step's time (a batch costs from little more than a plain step, for a
// model bound by reading its weights, to many, for one bound by arithmetic or a big tree).
// Without one, it is the drafts taken. Drafting pauses as soon as a running mean of the gains is
// below 1 (timed) or 1/4 (untimed). A pause lasts at least 8 tokens, doubling up to 256 while
// drafting goes on not paying, and (timed) at least 20 tokens per plain step's time the batch
// lost, so a batch that gives nothing costs at most about 5% of the tokens.
#pragma once

namespace tinyllm {

class DraftPacing {
public:
    explicit DraftPacing(bool timed = false) { restart(timed); }

    // As before the first batch.
    void restart(bool timed) {
        timed_ = timed;
        gain_ = initial_gain();
        backoff_ = 8;
        pause_ = 0;
    }

    // Called once for each token that could be drafted after: true while drafting pauses.
    bool paused() {
        if (pause_ <= 0) return false;
        --pause_;
        return true;
    }

    // A checked batch's gain; lost_steps (timed): how many plain steps' time beyond one it took.
    void count(double gain, double lost_steps = 0.0) {
        gain_ = 0.5 * gain_ + 0.5 * gain;
        if (gain_ < (timed_ ? 1.0 : 0.25)) {
            const double lost = timed_ ? 20.0 * lost_steps : 0.0;
            pause_ = lost > 256 ? 256 : lost > backoff_ ? int(lost) : backoff_;
            backoff_ = backoff_ < 128 ? 2 * backoff_ : 256;
            gain_ = initial_gain();
        } else if (gain >= 1.0) {  // a batch that paid (untimed: a draft taken)
            backoff_ = 8;
        }
    }

private:
    double initial_gain() const { return timed_ ? 1.0 : 0.5; }

    bool timed_ = false;
    double gain_ = 0.5;
    int backoff_ = 8, pause_ = 0;
};

} // namespace tinyllm
