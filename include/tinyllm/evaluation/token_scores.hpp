// How well one row of logits predicts the next token, with llama.cpp's perplexity tool's exact
// arithmetic (float maxima, a double sum of float exponentials, the same float/double mixing), so
// the two tools' numbers compare one to one. Also llama.cpp's packed row of base log-probabilities
// (the KL-divergence base file) and the totals its KL-divergence report is computed from.
// No heap; <math.h> for expf/log.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>

namespace tinyllm {

// -log p(token) under softmax(logits).
inline double token_nll(const float* logits, int n_vocab, int32_t token) {
    float max_logit = logits[0];
    for (int i = 1; i < n_vocab; ++i) max_logit = logits[i] > max_logit ? logits[i] : max_logit;
    double sum_exp = 0;
    for (int i = 0; i < n_vocab; ++i) sum_exp += expf(logits[i] - max_logit);
    return -(logits[token] - max_logit - log(sum_exp));
}

// A base row: two floats (scale, min_log_prob) in the first four words, then one 16-bit code per
// token, log p = scale * code + min_log_prob, codes covering log-probabilities down to 16 below the
// top one (lower ones read as the floor); rows are padded to an even token count.
inline size_t base_row_words(int n_vocab) { return 2 * ((size_t(n_vocab) + 1) / 2) + 4; }

// Writes the base row of logits into row[base_row_words(n_vocab)] and returns the token's nll as
// llama.cpp computes it when it writes the row (float arithmetic).
inline double pack_base_row(const float* logits, int n_vocab, int32_t token, uint16_t* row) {
    float max_logit = logits[0], min_logit = logits[0];
    for (int i = 1; i < n_vocab; ++i) {
        max_logit = logits[i] > max_logit ? logits[i] : max_logit;
        min_logit = logits[i] < min_logit ? logits[i] : min_logit;
    }
    min_logit = min_logit > max_logit - 16 ? min_logit : max_logit - 16;
    double sum_exp = 0;
    for (int i = 0; i < n_vocab; ++i) sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = float(log(sum_exp));
    const float min_log_prob = min_logit - max_logit - log_sum_exp;
    const float scale = (max_logit - min_logit) / 65535.f;
    __builtin_memcpy(row, &scale, sizeof(float));
    __builtin_memcpy(row + 2, &min_log_prob, sizeof(float));
    uint16_t* codes = row + 4;
    const size_t padded = base_row_words(n_vocab) - 4;
    for (size_t i = 0; i < padded; ++i) codes[i] = 0;
    if (scale != 0) {
        const float inv_scale = 1 / scale;
        for (int i = 0; i < n_vocab; ++i) {
            if (!(logits[i] > min_logit)) continue;
            // Round to nearest (ties to even) through the float's mantissa, as llama.cpp does.
            const float shifted = inv_scale * (logits[i] - min_logit) + 12582912.f;
            int32_t bits;
            __builtin_memcpy(&bits, &shifted, sizeof bits);
            codes[i] = uint16_t((bits & 0x007fffff) - 0x00400000);
        }
    }
    return max_logit + log_sum_exp - logits[token];
}

// Sums over scored tokens from which llama.cpp's KL-divergence report is computed.
struct KldTotals {
    double sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
    double sum_kld = 0, sum_kld2 = 0, sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
    float max_p_diff = 0;
    size_t n_same_top = 0, count = 0;
};

struct TokenDivergence {
    double kld = 0;     // KL(base || this) at this position
    float p_diff = 0;   // p(token) - p_base(token)
};

// Compares logits with a base row for the scored token and adds to the totals.
inline TokenDivergence compare_with_base(const float* logits, int n_vocab, const uint16_t* base_row, int32_t token, KldTotals& t) {
    float max_logit = logits[0];
    int top = 0;
    for (int i = 1; i < n_vocab; ++i)
        if (logits[i] > max_logit) max_logit = logits[i], top = i;
    double sum_exp = 0;
    for (int i = 0; i < n_vocab; ++i) sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = float(log(sum_exp));
    float scale, min_log_prob;
    __builtin_memcpy(&scale, base_row, sizeof(float));
    __builtin_memcpy(&min_log_prob, base_row + 2, sizeof(float));
    const uint16_t* codes = base_row + 4;

    const float nll = max_logit + log_sum_exp - logits[token];
    t.sum_nll += nll;
    t.sum_nll2 += nll * nll;
    const float nll_base = -(scale * codes[token] + min_log_prob);
    t.sum_nll_base += nll_base;
    t.sum_nll_base2 += nll_base * nll_base;
    t.sum_nll_nll_base += nll * nll_base;

    const float log_norm = max_logit + log_sum_exp;
    double kld = 0;
    int top_base = -1;
    float top_base_log_p = 0;
    for (int i = 0; i < n_vocab; ++i) {
        const float log_p_base = scale * codes[i] + min_log_prob;
        if (i == 0 || log_p_base > top_base_log_p) top_base_log_p = log_p_base, top_base = i;
        if (log_p_base > -16.f) kld += expf(log_p_base) * (log_p_base - logits[i] + log_norm);
    }
    t.sum_kld += kld;
    t.sum_kld2 += kld * kld;
    ++t.count;
    if (top == top_base) ++t.n_same_top;

    const float p_diff = expf(-nll) - expf(-nll_base);
    t.sum_p_diff += p_diff;
    const double p_diff2 = p_diff * p_diff;
    t.sum_p_diff2 += p_diff2;
    t.sum_p_diff4 += p_diff2 * p_diff2;
    const float abs_diff = p_diff < 0 ? -p_diff : p_diff;
    t.max_p_diff = abs_diff > t.max_p_diff ? abs_diff : t.max_p_diff;
    return {kld, p_diff};
}

// A mean over count values from their sum and sum of squares, with the standard error of the
// mean (0 for ten values or fewer, as llama.cpp reports it).
struct Estimate {
    double value = 0, error = 0;
};

inline Estimate mean_estimate(double sum, double sum2, size_t count) {
    if (count < 1) return {};
    const double mean = sum / double(count);
    const double var = sum2 / double(count) - mean * mean;
    return {mean, var > 0 && count > 10 ? sqrt(var / double(count - 1)) : 0.0};
}

// The covariance of the two means (0 below ten values).
inline double mean_covariance(double sum_a, double sum_b, double sum_ab, size_t count) {
    if (count < 10) return 0;
    const double n = double(count);
    return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

} // namespace tinyllm
