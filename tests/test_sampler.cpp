// Sampler tests: each filter's kept set and probabilities on hand-made logits, penalties,
// greedy ties, seeded reproducibility, and empirical frequencies against the softmax.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "tinyllm/core/sampler.hpp"

using namespace tinyllm;

namespace {

struct Harness {
    std::vector<uint8_t> memory;
    Arena arena;
    Sampler sampler;
    Harness(const SamplerConfig& cfg, int n_vocab) : memory(Sampler::required_bytes(n_vocab)) {
        arena = Arena(memory.data(), memory.size());
        REQUIRE(sampler.init(cfg, n_vocab, arena).ok());
    }
};

SamplerConfig plain(float temperature) {
    SamplerConfig c;
    c.temperature = temperature;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.min_p = 0.0f;
    return c;
}

std::map<int, double> frequencies(SamplerConfig cfg, const std::vector<float>& logits, int draws) {
    Harness h(cfg, int(logits.size()));
    std::map<int, double> f;
    for (int i = 0; i < draws; ++i) f[h.sampler.sample(logits.data())] += 1.0 / draws;
    return f;
}

} // namespace

TEST_CASE("temperature 0 is greedy; ties go to the lowest id") {
    Harness h(plain(0.0f), 5);
    std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
    CHECK(h.sampler.sample(logits.data()) == 1);
}

TEST_CASE("empirical frequencies follow softmax(logits / T)") {
    std::vector<float> logits = {1.0f, 2.0f, 0.0f, 3.0f};
    for (float temp : {1.0f, 0.5f}) {
        SamplerConfig cfg = plain(temp);
        cfg.seed = 99;
        const int draws = 20000;
        std::map<int, double> f = frequencies(cfg, logits, draws);
        double z = 0;
        for (float l : logits) z += std::exp(l / temp);
        for (int i = 0; i < 4; ++i) {
            double p = std::exp(logits[size_t(i)] / temp) / z;
            double sigma = std::sqrt(p * (1 - p) / draws);
            INFO("token ", i, " temp ", temp);
            CHECK(std::fabs(f[i] - p) < 5 * sigma + 1e-9);
        }
    }
}

TEST_CASE("top-k keeps exactly the k best") {
    SamplerConfig cfg = plain(1.0f);
    cfg.top_k = 2;
    std::map<int, double> f = frequencies(cfg, {1.0f, 5.0f, 0.0f, 4.0f, 3.0f}, 5000);
    CHECK(f.size() == 2);
    CHECK(f.count(1) == 1);
    CHECK(f.count(3) == 1);
    double p1 = std::exp(5.0) / (std::exp(5.0) + std::exp(4.0));
    CHECK(std::fabs(f[1] - p1) < 0.03);
}

TEST_CASE("top-k over a large vocabulary with ties keeps the k best, ties to the lowest ids") {
    // 3000 logits from 50 values: many ties across the k-th place, broken by the lower id. Every
    // draw is one of the k best, and 2000 draws reach (nearly) all of them.
    std::mt19937 rng(5);
    std::vector<float> logits(3000);
    for (float& l : logits) l = float(rng() % 50) * 0.1f;
    std::vector<int> order(logits.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b); });
    for (int k : {1, 7, 40, 100}) {
        CAPTURE(k);
        SamplerConfig cfg = plain(1.0f);
        cfg.top_k = k;
        const std::set<int> best(order.begin(), order.begin() + k);
        std::map<int, double> f = frequencies(cfg, logits, 2000);
        for (const auto& [id, share] : f) CHECK(best.count(id) == 1);
        CHECK(f.size() >= size_t(k) * 9 / 10);
    }
}

TEST_CASE("top-p keeps the smallest prefix whose mass reaches p") {
    // softmax of log(0.5), log(0.3), log(0.15), log(0.05) is exactly 0.5, 0.3, 0.15, 0.05.
    std::vector<float> logits = {std::log(0.3f), std::log(0.5f), std::log(0.05f), std::log(0.15f)};
    SamplerConfig cfg = plain(1.0f);
    cfg.top_p = 0.75f;  // 0.5 + 0.3 = 0.8 >= 0.75: keeps ids 1 and 0
    std::map<int, double> f = frequencies(cfg, logits, 8000);
    CHECK(f.size() == 2);
    CHECK(std::fabs(f[1] - 0.5 / 0.8) < 0.03);
    cfg.top_p = 0.85f;  // needs the third (0.95)
    CHECK(frequencies(cfg, logits, 8000).size() == 3);
}

TEST_CASE("min-p drops tokens below p * max probability") {
    std::vector<float> logits = {std::log(0.3f), std::log(0.5f), std::log(0.05f), std::log(0.15f)};
    SamplerConfig cfg = plain(1.0f);
    cfg.min_p = 0.25f;  // threshold 0.125: keeps 0.5, 0.3, 0.15
    std::map<int, double> f = frequencies(cfg, logits, 8000);
    CHECK(f.size() == 3);
    CHECK(f.count(2) == 0);
}

TEST_CASE("repetition penalty divides positive logits and multiplies negative ones") {
    SamplerConfig cfg = plain(0.0f);
    cfg.repeat_penalty = 2.0f;
    Harness h(cfg, 3);
    std::vector<float> logits = {3.0f, 2.0f, -1.0f};
    CHECK(h.sampler.sample(logits.data()) == 0);
    h.sampler.accept(0);  // 3.0 -> 1.5: now id 1 (2.0) wins
    CHECK(h.sampler.sample(logits.data()) == 1);
    h.sampler.accept(1);  // 2.0 -> 1.0; id 0 still 1.5
    CHECK(h.sampler.sample(logits.data()) == 0);
}

TEST_CASE("same seed, same draws; different seed, different draws") {
    std::vector<float> logits(50);
    for (int i = 0; i < 50; ++i) logits[size_t(i)] = std::sin(float(i));
    auto run = [&](uint64_t seed) {
        SamplerConfig cfg = plain(1.0f);
        cfg.seed = seed;
        Harness h(cfg, 50);
        std::vector<int> out;
        for (int i = 0; i < 64; ++i) out.push_back(h.sampler.sample(logits.data()));
        return out;
    };
    CHECK(run(5) == run(5));
    CHECK(run(5) != run(6));
}

TEST_CASE("bad parameters and a small arena are named errors") {
    Sampler s;
    std::vector<uint8_t> mem(64);
    Arena small(mem.data(), mem.size());
    CHECK(s.init(plain(1.0f), 1000, small).code == Error::out_of_memory);
    SamplerConfig bad = plain(1.0f);
    bad.top_p = 0.0f;
    CHECK(s.init(bad, 10, small).code == Error::invalid_argument);
    bad = plain(-1.0f);
    CHECK(s.init(bad, 10, small).code == Error::invalid_argument);
}

TEST_CASE("frequency and presence penalties subtract count * f + p once per distinct token") {
    SamplerConfig cfg = plain(0.0f);
    cfg.frequency_penalty = 0.5f;
    cfg.presence_penalty = 0.25f;
    Harness h(cfg, 3);
    std::vector<float> logits = {2.0f, 1.0f, 0.0f};
    h.sampler.accept(0);
    h.sampler.accept(0);  // id 0: 2.0 - (2 * 0.5 + 0.25) = 0.75 < 1.0
    CHECK(h.sampler.sample(logits.data()) == 1);
    h.sampler.accept(1);  // id 1: 1.0 - 0.75 = 0.25 < 0.75
    CHECK(h.sampler.sample(logits.data()) == 0);
}

TEST_CASE("typical-p keeps the tokens whose surprise is closest to the entropy") {
    // p = 0.5, 0.3, 0.15, 0.05: entropy H = 1.1405 nats; |-log p - H| = 0.447, 0.063, 0.756, 1.855.
    // By distance: 0.3 (0.3), 0.5 (0.8), 0.15 (0.95), ... typical_p = 0.7 keeps {0.3, 0.5}.
    std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    SamplerConfig cfg = plain(1.0f);
    cfg.typical_p = 0.7f;
    std::map<int, double> f = frequencies(cfg, logits, 8000);
    CHECK(f.size() == 2);
    CHECK(f.count(0) == 1);
    CHECK(f.count(1) == 1);
    CHECK(std::fabs(f[0] - 0.5 / 0.8) < 0.03);
    cfg.typical_p = 0.25f;  // the single most typical token: 0.3
    std::map<int, double> g = frequencies(cfg, logits, 100);
    CHECK(g.size() == 1);
    CHECK(g.count(1) == 1);
}

TEST_CASE("custom chains: any subset, any order; penalties only first") {
    std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    // Only top-k 1: always the best token, whatever the temperature.
    SamplerConfig only_k = plain(5.0f);
    only_k.steps[0] = SamplerStep::top_k;
    only_k.n_steps = 1;
    only_k.top_k = 1;
    CHECK(frequencies(only_k, logits, 200).size() == 1);
    // top-p 0.75 before temperature 3 keeps {0.5, 0.3}; after it, the flattened distribution
    // needs three tokens to reach 0.75.
    SamplerConfig p_then_t = plain(3.0f), t_then_p = plain(3.0f);
    p_then_t.top_p = t_then_p.top_p = 0.75f;
    p_then_t.steps[0] = SamplerStep::top_p;
    p_then_t.steps[1] = SamplerStep::temperature;
    t_then_p.steps[0] = SamplerStep::temperature;
    t_then_p.steps[1] = SamplerStep::top_p;
    p_then_t.n_steps = t_then_p.n_steps = 2;
    CHECK(frequencies(p_then_t, logits, 4000).size() == 2);
    CHECK(frequencies(t_then_p, logits, 4000).size() == 3);
    // Penalties anywhere but first are refused by name.
    SamplerConfig bad = plain(1.0f);
    bad.steps[0] = SamplerStep::top_k;
    bad.steps[1] = SamplerStep::penalties;
    bad.n_steps = 2;
    std::vector<uint8_t> mem(Sampler::required_bytes(4));
    Arena arena(mem.data(), mem.size());
    Sampler s;
    Status st = s.init(bad, 4, arena);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("penalties") != std::string::npos);
}

TEST_CASE("reset restarts the random sequence and forgets the penalty window") {
    std::vector<float> logits(50);
    for (int i = 0; i < 50; ++i) logits[size_t(i)] = std::sin(float(i));
    SamplerConfig cfg = plain(1.0f);
    cfg.seed = 21;
    cfg.repeat_penalty = 1.5f;
    Harness h(cfg, 50);
    std::vector<int> first, second;
    for (int i = 0; i < 32; ++i) { first.push_back(h.sampler.sample(logits.data())); h.sampler.accept(first.back()); }
    h.sampler.reset();
    for (int i = 0; i < 32; ++i) { second.push_back(h.sampler.sample(logits.data())); h.sampler.accept(second.back()); }
    CHECK(first == second);
}

