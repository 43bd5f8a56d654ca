// Several sequences in one session: every token's logits bit-identical to the same sequence run
// alone one token at a time, whatever else shares its forward passes and at any thread count;
// truncating and clearing one sequence leaves the others alone; bad batches are refused before
// anything changes. A tree of tokens (drafts) gets each token its path's logits.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <random>

#include "../examples/random_model.hpp"
#include "model_support.hpp"
#include "tinyllm/core/parallel.hpp"

using namespace tinyllm;
using test_support::LoadedFile;
using test_support::SessionMemory;

namespace {

std::vector<std::vector<int32_t>> random_sequences(int count, int n_vocab, const std::vector<int>& lengths, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::vector<int32_t>> seqs{size_t(count)};
    for (int s = 0; s < count; ++s)
        for (int i = 0; i < lengths[size_t(s)]; ++i) seqs[size_t(s)].push_back(int32_t(rng() % uint32_t(n_vocab)));
    return seqs;
}

// Logits of every position of one sequence, fed one token per forward pass.
std::vector<float> alone(const Model& m, int n_ctx, const std::vector<int32_t>& tokens) {
    SessionMemory mem(m, n_ctx, 1, 1);
    const size_t V = size_t(m.config.n_vocab);
    std::vector<float> logits(tokens.size() * V);
    for (size_t i = 0; i < tokens.size(); ++i) REQUIRE(mem.session.eval(&tokens[i], 1, logits.data() + i * V, false).ok());
    return logits;
}

// The sequences through one session, interleaved: every step takes from each started sequence a
// chunk of 1..5 tokens (a prompt chunk or a decoded token), sequence s starting at step s.
std::vector<std::vector<float>> batched(const Model& m, int n_ctx, int n_batch, const std::vector<std::vector<int32_t>>& seqs) {
    const int n_seq = int(seqs.size());
    SessionMemory mem(m, n_ctx, n_batch, n_seq + 1);  // one sequence slot left unused
    const size_t V = size_t(m.config.n_vocab);
    std::vector<std::vector<float>> out(seqs.size());
    std::vector<size_t> done(seqs.size(), 0);
    for (int step = 0;; ++step) {
        std::vector<BatchToken> batch;
        std::vector<std::pair<int, size_t>> rows;  // (sequence, position) of each logits row
        for (int s = 0; s < n_seq && s <= step; ++s) {
            const size_t take = std::min(seqs[size_t(s)].size() - done[size_t(s)], size_t(1 + (step + s) % 5));
            for (size_t k = 0; k < take; ++k) {
                batch.push_back(BatchToken{seqs[size_t(s)][done[size_t(s)] + k], s, true});
                rows.push_back({s, done[size_t(s)] + k});
            }
            done[size_t(s)] += take;
        }
        if (batch.empty() && step >= n_seq) break;
        std::vector<float> logits(batch.size() * V);
        REQUIRE(mem.session.decode(batch.data(), int(batch.size()), logits.data()).ok());
        for (size_t r = 0; r < rows.size(); ++r) {
            std::vector<float>& dst = out[size_t(rows[r].first)];
            dst.insert(dst.end(), logits.begin() + std::ptrdiff_t(r * V), logits.begin() + std::ptrdiff_t((r + 1) * V));
        }
    }
    for (int s = 0; s < n_seq; ++s) CHECK(mem.session.n_past(s) == int(seqs[size_t(s)].size()));
    CHECK(mem.session.n_past(n_seq) == 0);
    return out;
}

void check_bit_identical(const Model& m, int n_ctx, const std::vector<int>& lengths, const char* what) {
    const auto seqs = random_sequences(int(lengths.size()), m.config.n_vocab, lengths, 7);
    std::vector<std::vector<float>> solo;
    for (const auto& s : seqs) solo.push_back(alone(m, n_ctx, s));
    for (int threads : {1, 2}) {
        set_thread_count(threads);
        for (int n_batch : {16, 5}) {
            const auto together = batched(m, n_ctx, n_batch, seqs);
            for (size_t s = 0; s < seqs.size(); ++s)
                CHECK_MESSAGE(together[s] == solo[s], what, ": sequence ", s, ", ", threads, " threads, batch ", n_batch);
        }
    }
    set_thread_count(2);
}

} // namespace

TEST_CASE("batched sequences give each token the logits it gets alone, bit for bit") {
    for (const char* file : {"models/shakespeare5m-q4_0.gguf", "models/shakespeare5m-q8_0.gguf", "models/shakespeare5m-q4_k_m.gguf",
                             "models/shakespeare5m-f16.gguf"}) {
        if (!test_support::require_shared(file)) return;
        LoadedFile f(file);
        check_bit_identical(f.model, 64, {14, 6, 11, 18}, file);
    }
}

TEST_CASE("every architecture batches sequences bit-identically") {
    for (const char* arch : {"llama3", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3"}) {
        const std::string file = std::string("fixtures/gguf/synthetic/") + arch + "-q4_k_m.gguf";
        if (!test_support::require_shared(file)) return;
        LoadedFile f(file);
        check_bit_identical(f.model, 32, {10, 5, 14}, arch);
    }
}

TEST_CASE("phi2, openelm (widths per layer) and smollm3 batch sequences bit-identically") {
    const std::vector<std::vector<std::string>> shapes = {
        {"--arch", "phi2", "--vocab", "300", "--embd", "128", "--heads", "2", "--kv-heads", "2", "--rot", "32", "--ff", "256", "--type", "q8_0"},
        {"--arch", "openelm", "--vocab", "300", "--embd", "128", "--head-dim", "32", "--layers", "3", "--layer-heads", "2,4,6",
         "--layer-kv-heads", "1,4,2", "--layer-ff", "128,192,256", "--type", "q8_0"},
        {"--arch", "smollm3", "--vocab", "300", "--embd", "128", "--heads", "4", "--kv-heads", "2", "--layers", "4", "--ff", "256", "--type", "q8_0"}};
    for (const auto& options : shapes) {
        RandomModelShape s;
        REQUIRE(parse_random_model_options(options, s).empty());
        test_support::InMemoryModel loaded(random_model_gguf(s));
        check_bit_identical(loaded.model, 32, {10, 5, 14}, s.arch.c_str());
    }
}

namespace {
// A small random Gemma 2/3 with a short sliding window (Q8_0, context 64).
RandomModelShape windowed(const char* arch, int n_layer, int window) {
    RandomModelShape s;
    s.arch = arch;
    s.n_vocab = 300;
    s.n_embd = 128;
    s.n_ff = 128;
    s.n_layer = n_layer;
    s.n_head = 2;
    s.n_head_kv = 1;
    s.head_dim = 64;
    s.n_ctx = 64;
    s.sliding_window = window;
    s.type = GgmlType::Q8_0;
    return s;
}
} // namespace

TEST_CASE("sequences longer than the sliding window batch bit-identically") {
    for (const char* arch : {"gemma2", "gemma3"}) {
        test_support::InMemoryModel loaded(random_model_gguf(windowed(arch, std::string(arch) == "gemma3" ? 7 : 3, 8)));
        check_bit_identical(loaded.model, 64, {40, 25, 33}, arch);
    }
}

namespace {

// A random tree after a random prefix: each token's logits are those of its path from the root
// run in a row after the prefix, bit for bit, at 1 and 2 threads; keeping one branch leaves the
// cache as running that branch would.
void check_tree(const Model& m, int prefix_len, int n_tree, uint32_t seed, const char* what) {
    std::mt19937 rng(seed);
    const int V = m.config.n_vocab;
    std::vector<int32_t> prefix, tokens, parents;
    for (int i = 0; i < prefix_len; ++i) prefix.push_back(int32_t(rng() % uint32_t(V)));
    for (int i = 0; i < n_tree; ++i) {
        tokens.push_back(int32_t(rng() % uint32_t(V)));
        // Mostly deep chains, some branching, a few more roots.
        const uint32_t r = rng() % 8;
        parents.push_back(i == 0 || r == 0 ? -1 : r < 5 ? i - 1 : int32_t(rng() % uint32_t(i)));
    }
    auto path_to = [&](int node) {
        std::vector<int32_t> path;
        for (int a = node; a >= 0; a = parents[size_t(a)]) path.insert(path.begin(), a);
        return path;
    };
    const int n_ctx = prefix_len + n_tree + 2;
    // The reference: a run of tokens in one forward pass (any batch gives a token the same bits).
    SessionMemory reference(m, n_ctx, n_ctx, 1);
    auto last_row = [&](const std::vector<int32_t>& run) {
        std::vector<float> row(static_cast<size_t>(V));
        reference.session.reset();
        REQUIRE(reference.session.eval(run.data(), int(run.size()), row.data(), false).ok());
        return row;
    };
    for (int threads : {1, 2}) {
        set_thread_count(threads);
        SessionMemory mem(m, n_ctx, n_tree, 1);
        Session& s = mem.session;
        std::vector<float> rows(size_t(n_tree) * size_t(V));
        REQUIRE(s.eval(prefix.data(), prefix_len, nullptr, false).ok());
        REQUIRE(s.eval_tree(tokens.data(), parents.data(), n_tree, rows.data()).ok());
        CHECK(s.n_past() == prefix_len);
        for (int node = 0; node < n_tree; ++node) {
            std::vector<int32_t> run = prefix;
            for (int32_t a : path_to(node)) run.push_back(tokens[size_t(a)]);
            CHECK_MESSAGE(std::vector<float>(rows.begin() + std::ptrdiff_t(size_t(node) * size_t(V)), rows.begin() + std::ptrdiff_t(size_t(node + 1) * size_t(V))) ==
                              last_row(run),
                          what, ": tree token ", node, ", ", threads, " threads");
        }
        // Keep the deepest path but its last token, then run that token and one more in a row.
        int deepest = 0;
        for (int node = 0; node < n_tree; ++node)
            if (path_to(node).size() > path_to(deepest).size()) deepest = node;
        std::vector<int32_t> path = path_to(deepest);
        path.pop_back();
        REQUIRE(s.keep_branch(path.data(), int(path.size())).ok());
        CHECK(s.n_past() == prefix_len + int(path.size()));
        std::vector<int32_t> run = prefix;
        for (int32_t a : path) run.push_back(tokens[size_t(a)]);
        const int32_t more[2] = {tokens[size_t(deepest)], 3};
        run.insert(run.end(), more, more + 2);
        std::vector<float> last(static_cast<size_t>(V));
        REQUIRE(s.eval(more, 2, last.data(), false).ok());
        CHECK_MESSAGE(last == last_row(run), what, ": after keeping a branch, ", threads, " threads");
    }
    set_thread_count(2);
}

} // namespace

TEST_CASE("a tree of tokens gets each token the logits of its path run in a row, bit for bit") {
    for (const char* file : {"models/shakespeare5m-q4_0.gguf", "models/shakespeare5m-f16.gguf"}) {
        if (!test_support::require_shared(file)) return;
        LoadedFile f(file);
        check_tree(f.model, 9, 24, 11, file);
    }
    for (const char* arch : {"qwen3", "gemma3", "phi3"}) {
        const std::string file = std::string("fixtures/gguf/synthetic/") + arch + "-q4_k_m.gguf";
        if (!test_support::require_shared(file)) return;
        LoadedFile f(file);
        check_tree(f.model, 5, 12, 5, arch);
    }
    // Paths longer than the sliding window: ancestors too far back are masked like the cache's.
    test_support::InMemoryModel loaded(random_model_gguf(windowed("gemma2", 3, 6)));
    check_tree(loaded.model, 11, 30, 9, "gemma2, window 6");
}

TEST_CASE("a bad tree or branch is named and changes nothing") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    LoadedFile f("models/shakespeare5m-q8_0.gguf");
    SessionMemory mem(f.model, 8, 4, 1);
    Session& s = mem.session;
    const int32_t tokens[5] = {1, 2, 3, 4, 5};
    const int32_t prefix[3] = {7, 8, 9};
    REQUIRE(s.eval(prefix, 3, nullptr, false).ok());
    const int32_t forward[3] = {-1, 2, 0}, below[3] = {-1, -2, 0}, chain[5] = {-1, 0, 1, 2, 3};
    CHECK(s.eval_tree(tokens, forward, 3, nullptr).code == Error::invalid_argument);
    CHECK(s.eval_tree(tokens, below, 3, nullptr).code == Error::invalid_argument);
    CHECK(s.eval_tree(tokens, chain, 5, nullptr).code == Error::invalid_argument);  // more than the batch of 4
    const int32_t out_of_vocab[2] = {1, int32_t(f.model.config.n_vocab)};
    CHECK(s.eval_tree(out_of_vocab, chain, 2, nullptr).code == Error::token_out_of_range);
    CHECK(s.keep_branch(chain, 1).code == Error::invalid_argument);  // no tree evaluated
    std::vector<float> rows(size_t(4) * size_t(f.model.config.n_vocab));
    const int32_t fork[4] = {-1, 0, 0, 2};
    REQUIRE(s.eval_tree(tokens, fork, 4, rows.data()).ok());
    const int32_t skips[2] = {0, 3}, not_root[1] = {1}, too_far[1] = {4};
    CHECK(s.keep_branch(skips, 2).code == Error::invalid_argument);
    CHECK(s.keep_branch(not_root, 1).code == Error::invalid_argument);
    CHECK(s.keep_branch(too_far, 1).code == Error::invalid_argument);
    CHECK(s.n_past() == 3);
    CHECK(s.eval_tree(tokens, chain, 4, rows.data()).ok());
    CHECK(s.eval(tokens, 1, nullptr, false).ok());  // any other call forgets the tree
    CHECK(s.keep_branch(chain, 1).code == Error::invalid_argument);
    CHECK(s.n_past() == 4);
    // Four more tokens do not fit the context of eight after five.
    REQUIRE(s.eval(tokens, 1, nullptr, false).ok());
    CHECK(s.eval_tree(tokens, chain, 4, rows.data()).code == Error::context_full);
    CHECK(s.n_past() == 5);
}

TEST_CASE("truncating or clearing one sequence leaves the others as they were") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    LoadedFile f("models/shakespeare5m-q8_0.gguf");
    const Model& m = f.model;
    const size_t V = size_t(m.config.n_vocab);
    const auto seqs = random_sequences(2, m.config.n_vocab, {12, 12}, 3);
    const std::vector<float> solo0 = alone(m, 32, seqs[0]), solo1 = alone(m, 32, seqs[1]);
    SessionMemory mem(m, 32, 8, 2);
    Session& s = mem.session;
    std::vector<float> row(V);
    auto feed = [&](int seq, size_t from, size_t to) {
        for (size_t i = from; i < to; ++i) {
            const BatchToken t{seqs[size_t(seq)][i], seq, true};
            REQUIRE(s.decode(&t, 1, row.data()).ok());
        }
    };
    feed(0, 0, 12);
    feed(1, 0, 12);
    // Sequence 0 rewinds to 5 tokens and runs its own 6th..12th again: the same logits as before.
    REQUIRE(s.truncate(0, 5).ok());
    CHECK(s.n_past(0) == 5);
    CHECK(s.n_past(1) == 12);
    feed(0, 5, 12);
    CHECK(std::vector<float>(row) == std::vector<float>(solo0.end() - std::ptrdiff_t(V), solo0.end()));
    // Clearing sequence 0 and refilling it with sequence 1's tokens gives sequence 1's logits;
    // sequence 1 itself was untouched.
    REQUIRE(s.truncate(0, 0).ok());
    for (size_t i = 0; i < 12; ++i) {
        const BatchToken t{seqs[1][i], 0, true};
        REQUIRE(s.decode(&t, 1, row.data()).ok());
    }
    CHECK(std::vector<float>(row) == std::vector<float>(solo1.end() - std::ptrdiff_t(V), solo1.end()));
    const BatchToken next{seqs[0][0], 1, true};
    REQUIRE(s.decode(&next, 1, row.data()).ok());
    CHECK(s.n_past(1) == 13);
}

TEST_CASE("bad batches are named and change nothing") {
    if (!test_support::require_shared("models/shakespeare5m-q8_0.gguf")) return;
    LoadedFile f("models/shakespeare5m-q8_0.gguf");
    const Model& m = f.model;
    SessionMemory mem(m, 8, 4, 2);
    Session& s = mem.session;
    std::vector<BatchToken> batch = {{1, 0, false}, {2, 1, false}, {3, 2, true}};
    Status st = s.decode(batch.data(), 3, nullptr);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("sequence 2") != std::string::npos);
    batch = {{1, 0, false}, {int32_t(m.config.n_vocab), 1, false}};
    CHECK(s.decode(batch.data(), 2, nullptr).code == Error::token_out_of_range);
    CHECK(s.n_past(0) == 0);
    // Nine tokens for one sequence do not fit its context of eight, even with the other empty.
    batch.assign(9, BatchToken{5, 1, false});
    batch[0].seq = 0;
    CHECK(s.decode(batch.data(), 9, nullptr).ok());
    batch.assign(9, BatchToken{5, 1, false});
    CHECK(s.decode(batch.data(), 9, nullptr).code == Error::context_full);
    CHECK(s.n_past(0) == 1);
    CHECK(s.n_past(1) == 8);
    CHECK(s.truncate(2, 0).code == Error::invalid_argument);
    CHECK(s.truncate(1, 9).code == Error::invalid_argument);
    std::vector<uint8_t> small(64);
    Arena arena(small.data(), small.size());
    Session other;
    CHECK(other.init(m, 8, 4, arena, 0).code == Error::invalid_argument);
    CHECK(other.init(m, 8, 4, arena, Session::max_sequences + 1).code == Error::invalid_argument);
}
