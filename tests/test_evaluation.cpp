// Perplexity and KL-divergence scoring (evaluation/): the per-token arithmetic against double
// references, llama.cpp's packed base rows, the chunk layout and evaluation over the demo model,
// and the base file's reader refusing what it cannot use.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tinyllm/evaluation/perplexity.hpp"
#include "tinyllm/loaders/host/log_prob_file.hpp"
#include "tinyllm/loaders/host/model_source.hpp"

using namespace tinyllm;

namespace {

std::vector<float> random_logits(int n, uint32_t seed, float spread) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, spread);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

std::vector<double> exact_log_probs(const std::vector<float>& logits) {
    double max = logits[0];
    for (float x : logits) max = std::max(max, double(x));
    double sum = 0;
    for (float x : logits) sum += std::exp(double(x) - max);
    std::vector<double> out;
    for (float x : logits) out.push_back(double(x) - max - std::log(sum));
    return out;
}

float row_scale(const std::vector<uint16_t>& row) {
    float f;
    std::memcpy(&f, row.data(), 4);
    return f;
}
float row_floor(const std::vector<uint16_t>& row) {
    float f;
    std::memcpy(&f, row.data() + 2, 4);
    return f;
}

std::string temp_path(const char* name) { return std::string("/tmp/tinyllm_test_evaluation_") + name; }

} // namespace

TEST_CASE("token_nll is -log softmax of the token's logit") {
    for (uint32_t seed : {1u, 2u, 3u}) {
        const std::vector<float> logits = random_logits(1000, seed, 4.0f);
        const std::vector<double> lp = exact_log_probs(logits);
        for (int tok : {0, 17, 999}) CHECK(token_nll(logits.data(), 1000, tok) == doctest::Approx(-lp[size_t(tok)]).epsilon(1e-6));
    }
}

TEST_CASE("a base row keeps every log-probability within 16 of the top to half a code, and the rest at the floor") {
    const int n = 1001;  // odd: the row is padded to an even count
    std::vector<float> logits = random_logits(n, 7, 6.0f);
    logits[5] = -1000.0f;  // far below the top: read back as the floor
    const std::vector<double> lp = exact_log_probs(logits);
    std::vector<uint16_t> row(base_row_words(n), 0xffff);
    CHECK(row.size() == size_t(4 + 1002));
    const double nll = pack_base_row(logits.data(), n, 3, row.data());
    CHECK(nll == doctest::Approx(-lp[3]).epsilon(1e-5));
    const float scale = row_scale(row), floor = row_floor(row);
    const double top = *std::max_element(lp.begin(), lp.end());
    CHECK(floor == doctest::Approx(top - 16).epsilon(1e-5));
    CHECK(scale == doctest::Approx(16.0 / 65535).epsilon(1e-4));
    for (int i = 0; i < n; ++i) {
        const double decoded = double(scale) * row[size_t(4 + i)] + double(floor);
        if (lp[size_t(i)] > floor) CHECK(std::fabs(decoded - lp[size_t(i)]) <= 0.5 * scale + 1e-5);
        else CHECK(row[size_t(4 + i)] == 0);
    }
    CHECK(row.back() == 0);  // the padding word
}

TEST_CASE("equal logits give a zero scale and every token log(1/n)") {
    const std::vector<float> logits(64, 2.5f);
    std::vector<uint16_t> row(base_row_words(64));
    CHECK(pack_base_row(logits.data(), 64, 0, row.data()) == doctest::Approx(std::log(64.0)).epsilon(1e-6));
    CHECK(row_scale(row) == 0.0f);
    CHECK(row_floor(row) == doctest::Approx(-std::log(64.0)).epsilon(1e-6));
    for (size_t i = 4; i < row.size(); ++i) CHECK(row[i] == 0);
}

TEST_CASE("compare_with_base: a model against its own row scores zero, another against an exact KL") {
    const int n = 512;
    const std::vector<float> base = random_logits(n, 11, 3.0f), other = random_logits(n, 12, 3.0f);
    std::vector<uint16_t> row(base_row_words(n));
    pack_base_row(base.data(), n, 9, row.data());

    KldTotals same;
    const TokenDivergence d0 = compare_with_base(base.data(), n, row.data(), 9, same);
    CHECK(std::fabs(d0.kld) < 1e-4);
    CHECK(std::fabs(d0.p_diff) < 1e-4);
    CHECK(same.n_same_top == 1);
    CHECK(same.count == 1);

    // KL(base || other) in double over the tokens within 16 nats of the base's top (the row's range).
    const std::vector<double> lp = exact_log_probs(base), lq = exact_log_probs(other);
    const double top = *std::max_element(lp.begin(), lp.end());
    double kl = 0;
    for (int i = 0; i < n; ++i)
        if (lp[size_t(i)] > top - 16) kl += std::exp(lp[size_t(i)]) * (lp[size_t(i)] - lq[size_t(i)]);
    KldTotals diff;
    const TokenDivergence d1 = compare_with_base(other.data(), n, row.data(), 9, diff);
    CHECK(d1.kld == doctest::Approx(kl).epsilon(1e-3));
    CHECK(d1.p_diff == doctest::Approx(std::exp(lq[9]) - std::exp(lp[9])).epsilon(1e-3));
    CHECK(diff.sum_nll == doctest::Approx(-lq[9]).epsilon(1e-5));
    CHECK(diff.sum_nll_base == doctest::Approx(-lp[9]).epsilon(1e-3));
}

TEST_CASE("mean_estimate and mean_covariance follow llama.cpp's rules") {
    // Values 1..20: mean 10.5, population variance 33.25, standard error sqrt(33.25 / 19).
    double sum = 0, sum2 = 0;
    for (int i = 1; i <= 20; ++i) sum += i, sum2 += double(i) * i;
    const Estimate e = mean_estimate(sum, sum2, 20);
    CHECK(e.value == doctest::Approx(10.5));
    CHECK(e.error == doctest::Approx(std::sqrt(33.25 / 19)));
    CHECK(mean_estimate(sum, sum2, 0).value == 0.0);
    CHECK(mean_estimate(30, 300, 10).error == 0.0);  // ten values or fewer: no error estimate
    CHECK(mean_covariance(sum, sum, sum2, 20) == doctest::Approx(33.25 / 19));
    CHECK(mean_covariance(sum, sum, sum2, 9) == 0.0);
}

TEST_CASE("chunk layout: whole chunks, the second half scored") {
    const ChunkLayout layout{256};
    CHECK(layout.first() == 128);
    CHECK(layout.n_scored() == 127);
    CHECK(layout.n_chunks(16538, 0) == 64);
    CHECK(layout.n_chunks(16538, 10) == 10);
    CHECK(layout.n_chunks(255, 0) == 0);
    CHECK(ChunkLayout{5}.n_scored() == 2);
}

TEST_CASE("eval_chunk on the demo model: the same logits at any batch size, BOS standing in for the first token") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    ModelSource source;
    REQUIRE(source.open_file(test_support::shared_path("models/shakespeare5m-q8_0.gguf"), ""));
    const int n_ctx = 64, n_vocab = source.n_vocab();
    const std::vector<int32_t> text = source.tokenizer().encode("ROMEO:\nBut soft, what light through yonder window breaks? It is the east, "
                                                                "and Juliet is the sun. Arise, fair sun, and kill the envious moon, "
                                                                "who is already sick and pale with grief.",
                                                                true, false);
    REQUIRE(text.size() >= size_t(n_ctx) + 1);
    std::vector<int32_t> chunk(text.begin() + 1, text.begin() + 1 + n_ctx);  // starts mid-text: BOS replaces its first token
    const int32_t bos = source.tokenizer().bos_id();
    REQUIRE(source.tokenizer().adds_bos());

    std::vector<std::vector<float>> runs;
    for (int n_batch : {64, 7, 1}) {
        ModelInstance instance;
        REQUIRE(instance.init(source, n_ctx, n_batch));
        std::vector<float> logits(size_t(n_ctx) * size_t(n_vocab));
        REQUIRE(eval_chunk(instance.model(), chunk.data(), n_ctx, n_batch, bos, logits.data()));
        runs.push_back(logits);
    }
    CHECK(runs[1] == runs[0]);
    CHECK(runs[2] == runs[0]);

    // The same as evaluating the chunk with its first token replaced, in one call.
    ModelInstance instance;
    REQUIRE(instance.init(source, n_ctx, n_ctx));
    std::vector<int32_t> replaced = chunk;
    replaced[0] = bos;
    std::vector<float> direct(size_t(n_ctx) * size_t(n_vocab));
    REQUIRE(instance.model().eval(replaced.data(), n_ctx, direct.data(), true));
    CHECK(direct == runs[0]);

    // Scoring: the mean of the scored tokens' nll, and the base rows give the same figure.
    const ChunkLayout layout{n_ctx};
    PerplexityTotals plain, packed;
    plain.add_chunk(layout, runs[0].data(), n_vocab, chunk.data());
    std::vector<uint16_t> rows(size_t(layout.n_scored()) * base_row_words(n_vocab));
    packed.add_chunk(layout, runs[0].data(), n_vocab, chunk.data(), rows.data());
    double sum = 0;
    for (int i = layout.first(); i < n_ctx - 1; ++i) sum += token_nll(runs[0].data() + size_t(i) * size_t(n_vocab), n_vocab, chunk[size_t(i) + 1]);
    CHECK(plain.count == size_t(layout.n_scored()));
    CHECK(plain.perplexity() == doctest::Approx(std::exp(sum / layout.n_scored())).epsilon(1e-12));
    CHECK(packed.perplexity() == doctest::Approx(plain.perplexity()).epsilon(1e-5));
    CHECK(plain.perplexity() > 1.0);
    CHECK(plain.perplexity() < 100.0);  // the model knows this passage's words

    // Out of range: a chunk longer than the context, a batch of zero.
    CHECK(eval_chunk(instance.model(), chunk.data(), n_ctx + 1, 8, bos, direct.data()).code == Error::invalid_argument);
    CHECK(eval_chunk(instance.model(), chunk.data(), n_ctx, 0, bos, direct.data()).code == Error::invalid_argument);
}

TEST_CASE("base file: written and read back; a truncated, foreign or inconsistent file is refused by name") {
    const int n_ctx = 8, n_vocab = 5, n_chunk = 2;
    const ChunkLayout layout{n_ctx};
    std::vector<int32_t> tokens(size_t(n_chunk * n_ctx));
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(i % n_vocab);
    const size_t words = size_t(layout.n_scored()) * base_row_words(n_vocab);
    std::vector<uint16_t> rows(words);
    for (size_t i = 0; i < words; ++i) rows[i] = uint16_t(i * 7);
    const std::string path = temp_path("base.kld");
    {
        LogProbFileWriter w;
        REQUIRE(w.open(path));
        REQUIRE(w.write_header(n_ctx, n_vocab, n_chunk, tokens.data()));
        REQUIRE(w.write_rows(rows.data(), rows.size()));
        REQUIRE(w.write_rows(rows.data(), rows.size()));
        REQUIRE(w.close());
    }
    LogProbFileReader r;
    REQUIRE(r.open(path));
    CHECK(r.layout().n_ctx == n_ctx);
    CHECK(r.n_vocab() == n_vocab);
    CHECK(r.n_chunk() == n_chunk);
    std::vector<int32_t> chunk;
    r.chunk_tokens(1, chunk);
    CHECK(chunk == std::vector<int32_t>(tokens.begin() + n_ctx, tokens.end()));
    std::vector<uint16_t> row;
    r.base_row(1, 2, row);
    CHECK(row == std::vector<uint16_t>(rows.begin() + 2 * long(base_row_words(n_vocab)), rows.begin() + 3 * long(base_row_words(n_vocab))));

    const std::vector<uint8_t> good = test_support::read_bytes(path);
    auto refused = [&](std::vector<uint8_t> bytes) {
        const std::string bad = temp_path("bad.kld");
        std::FILE* f = std::fopen(bad.c_str(), "wb");
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
        LogProbFileReader reader;
        const Status st = reader.open(bad);
        std::remove(bad.c_str());
        return st;
    };
    std::vector<uint8_t> b = good;
    b.pop_back();
    Status st = refused(b);
    CHECK(st.code == Error::truncated);
    CHECK(std::string(st.detail).find("need") != std::string::npos);
    b = good;
    b.push_back(0);
    CHECK(refused(b).code == Error::corrupt);
    b = good;
    b[0] = 'X';
    CHECK(refused(b).code == Error::bad_magic);
    b = good;
    b[20] = 9;  // the first token, outside a vocabulary of 5
    CHECK(refused(b).code == Error::token_out_of_range);
    b = good;
    b[12] = 0;  // a vocabulary of 0
    CHECK(refused(b).code == Error::corrupt);
    b = good;
    b[19] = 0x80;  // a negative chunk count
    CHECK(refused(b).code == Error::corrupt);
    b.assign(good.begin(), good.begin() + 12);  // the magic, then the header cut short
    CHECK(refused(b).code == Error::truncated);
    // A header whose sizes wrap around 2^64 to the file's own 20 bytes is refused before any token is read.
    b.assign(good.begin(), good.begin() + 20);
    const int32_t wrapping[3] = {10839, 1623194865, 1048576};
    std::memcpy(b.data() + 8, wrapping, sizeof wrapping);
    CHECK(refused(b).code == Error::absurd_count);
    std::remove(path.c_str());
}
