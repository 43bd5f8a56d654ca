// bench/llm: llama-bench-style end-to-end benchmark.
//
//   llm -m FILE [-m FILE ...] [-p 128] [-n 64] [-t 1,2] [-r 5] [--parallel 2,4,8] [--verify 2,4,8]
//       [--lookup N | --draft-model FILE | --lookahead W,N,G] [--draft-max K] [--json]
//
// For each model and thread count: pp<N> = prompt processing of N tokens in one batch, tg<N> =
// generating N tokens one at a time after a 1-token prompt, and with --parallel, tg<N>x<S> =
// S sequences generating N tokens each in lockstep, one forward pass of S tokens per step
// (aggregate tokens/s: what a server with S busy slots decodes); with --verify, vf<K> = what checking
// K drafted tokens costs (one pass over the last sampled token and K drafts, every row's logits) as a
// multiple of one decode step, speculative decoding's price per step; with --lookup, --draft-model or
// --lookahead, tg<N>+lookup / +draft / +lookahead = the same generation with drafts, runs alternating with plain ones,
// with its speed against theirs and the share of tokens that came from drafts. Reports the median, min and max
// tokens/s over the repetitions, and for tg the fraction of this machine's measured read
// bandwidth it reaches (bytes of weights read per token x tokens/s / bandwidth), each run
// against the mean of the bandwidths measured just before and just after it (median over the
// runs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>


#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/core/session.hpp"
#include "tinyllm/generation/draft_model.hpp"
#include "tinyllm/generation/lookahead.hpp"
#include "tinyllm/generation/generator.hpp"
#include "word_sum.hpp"

using namespace tinyllm;

namespace {

struct Stats {
    double median, min, max;
};

Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return {median, v.front(), v.back()};
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

uint64_t clock_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

bool count_token(const GeneratedToken&, void*) { return true; }

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "llm: %s\n", msg.c_str());
    std::exit(1);
}

// Read bandwidth in bytes/s: sum a buffer far larger than the caches with all threads, in the
// kind of memory the repacked weights live in (PrivateMemory). The buffer is reserved and
// written once, before any model loads, and kept for the whole run, because freeing memory
// between timed runs slows the runs on some VMs (docs/benchmarks.md).
class ReadBandwidth {
public:
    ReadBandwidth() {
        if (!memory_.allocate(word_count * sizeof(uint64_t))) die("cannot reserve memory for the bandwidth measurement");
        for (size_t i = 0; i < word_count; ++i) words()[i] = 1;
    }

    double measure() {
        std::vector<double> rates;
        for (int rep = 0; rep < 3; ++rep) {
            double t0 = now();
            const uint64_t total = bench::parallel_word_sum(words(), int64_t(word_count));
            double dt = now() - t0;
            if (total != word_count) std::fprintf(stderr, "bandwidth check mismatch\n");
            rates.push_back(double(word_count * sizeof(uint64_t)) / dt);
        }
        return stats(rates).median;
    }

private:
    static constexpr size_t word_count = size_t(1) << 27;  // 1 GiB
    uint64_t* words() const { return reinterpret_cast<uint64_t*>(memory_.data()); }
    PrivateMemory memory_;
};

// Bytes of weights one decoded token reads: every matrix once, plus one embedding row.
double weight_bytes_per_token(const Model& m) {
    const ModelConfig& c = m.config;
    double bytes = double(m.token_embd.row_bytes) + double(m.output.row_bytes) * double(m.output.rows);
    for (int l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[l];
        for (const WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
            bytes += double(w->row_bytes) * double(w->rows);
        bytes += 2.0 * c.n_embd * sizeof(float);
    }
    return bytes;
}

std::vector<int> parse_list(const char* s) {
    std::vector<int> out;
    for (const char* p = s; *p;) {
        out.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p) ++p;
    }
    return out;
}


} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> models;
    int n_prompt = 128, n_gen = 64, reps = 5;
    std::vector<int> thread_counts = {1, 2}, parallel, verify;
    bool json = false;
    std::string draft_path;
    int lookup = 0, draft_max = 3;
    std::vector<int> lookahead;  // W, N, G
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die("missing value after " + a);
            return argv[++i];
        };
        if (a == "-m") models.push_back(value());
        else if (a == "-p") n_prompt = std::atoi(value());
        else if (a == "-n") n_gen = std::atoi(value());
        else if (a == "-t") thread_counts = parse_list(value());
        else if (a == "-r") reps = std::atoi(value());
        else if (a == "--parallel") parallel = parse_list(value());
        else if (a == "--verify") verify = parse_list(value());
        else if (a == "--lookup") lookup = std::atoi(value());
        else if (a == "--draft-model") draft_path = value();
        else if (a == "--draft-max") draft_max = std::atoi(value());
        else if (a == "--lookahead") lookahead = parse_list(value());
        else if (a == "--json") json = true;
        else die("unknown argument '" + a + "' (usage: llm -m FILE [-p N] [-n N] [-t 1,2] [-r R] [--parallel 2,4] [--verify 2,4] [--json])");
    }
    if (models.empty()) die("give at least one -m FILE");
    if (n_prompt < 0 || n_gen < 0 || reps < 1) die("bad -p/-n/-r");
    for (int k : verify)
        if (k < 1 || k > 64) die("bad --verify");
    if ((lookup > 0) + !draft_path.empty() + !lookahead.empty() > 1 || (lookup && lookup < 2) || draft_max < 1 || draft_max > 64)
        die("bad --lookup/--draft-model/--lookahead/--draft-max");
    if (!lookahead.empty()) {
        if (lookahead.size() != 3 || lookahead[0] < 1 || lookahead[0] > LookaheadDrafter::max_window || lookahead[1] < 3 ||
            lookahead[1] > LookaheadDrafter::max_ngram || lookahead[2] < 1 || lookahead[2] > LookaheadDrafter::max_verify)
            die("--lookahead needs W,N,G within 16,8,16");
        draft_max = LookaheadDrafter::tree_nodes(lookahead[0], lookahead[1], lookahead[2]) - 1;  // a step checks its whole tree
    }
    const bool drafting = lookup || !draft_path.empty() || !lookahead.empty();
    GgufModelFile draft_file;
    Model draft_model;
    if (!draft_path.empty()) {
        Status st = draft_file.open(draft_path);
        if (st) st = draft_file.load(draft_model);
        if (!st) die(draft_path + ": " + error_name(st.code) + " (" + st.detail + ")");
    }
    int n_seq = 1;
    for (int p : parallel) {
        if (p < 1 || p > Session::max_sequences) die("bad --parallel");
        n_seq = std::max(n_seq, p);
    }

    std::fprintf(stderr, "llm: kernels for %s\n", kernel_isa());
    std::unique_ptr<ReadBandwidth> read_bandwidth;
    if (n_gen > 0) read_bandwidth = std::make_unique<ReadBandwidth>();
    for (const std::string& path : models) {
        GgufModelFile file;
        Status st = file.open(path);
        Model model;
        if (st) st = file.load(model);
        if (!st) die(path + ": " + error_name(st.code) + " (" + st.detail + ")");
        const ModelConfig& c = model.config;
        const int n_ctx = std::min(c.n_ctx_train, std::max(n_prompt, n_gen + 1));
        int max_verify = 0;
        for (int k : verify) max_verify = std::max(max_verify, k + 1);
        if (drafting) max_verify = std::max(max_verify, draft_max + 1);  // a check is one batch
        const int n_batch = std::max({1, std::min(n_prompt, 512), n_seq, max_verify});
        std::vector<uint8_t> mem(Session::required_bytes(model, n_ctx, n_batch, n_seq));
        Arena arena(mem.data(), mem.size());
        Session session;
        if (!(st = session.init(model, n_ctx, n_batch, arena, n_seq))) die(path + ": " + st.detail);
        std::vector<int32_t> tokens(size_t(std::max(n_prompt, 1)));
        for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 7919 + 1) % size_t(c.n_vocab));
        std::vector<float> logits(size_t(c.n_vocab) * size_t(std::max(1, max_verify)));
        // Generation runs through the library's loop, greedy, without stopping early.
        GeneratorOptions generator_options;
        generator_options.clock_ns = clock_ns;
        std::vector<uint8_t> generator_memory(Generator::required_bytes(c.n_vocab, 0, generator_options));
        Arena generator_arena(generator_memory.data(), generator_memory.size());
        SamplerConfig greedy;
        greedy.temperature = 0.0f;
        Generator generator;
        if (!(st = generator.init(session, nullptr, greedy, generator_arena, generator_options))) die(path + ": " + st.detail);
        // The same loop with drafts, over the same session, and its drafter.
        GeneratorOptions drafted_options = generator_options;
        drafted_options.max_draft = draft_max;
        std::vector<uint8_t> drafted_memory(drafting ? Generator::required_bytes(c.n_vocab, 0, drafted_options) : 0);
        Arena drafted_arena(drafted_memory.data(), drafted_memory.size());
        Generator drafted;
        std::vector<uint8_t> draft_session_memory, drafter_memory;
        Session draft_session;
        ModelDrafter model_drafter;
        LookupDrafter lookup_drafter;
        LookaheadDrafter lookahead_drafter;
        if (drafting) {
            if (!(st = drafted.init(session, nullptr, greedy, drafted_arena, drafted_options))) die(path + ": " + st.detail);
            drafter_memory.resize(ModelDrafter::required_bytes(n_ctx, c.n_vocab) + LookupDrafter::required_bytes(n_ctx) +
                                  (lookahead.empty() ? 0 : LookaheadDrafter::required_bytes(lookahead[0], lookahead[1])));
            Arena arena(drafter_memory.data(), drafter_memory.size());
            if (lookup) {
                if (!(st = lookup_drafter.init(n_ctx, lookup, arena)) || !(st = drafted.set_drafter(&lookup_drafter))) die(path + ": " + st.detail);
            } else if (!lookahead.empty()) {
                if (!(st = lookahead_drafter.init(lookahead[0], lookahead[1], lookahead[2], arena)) || !(st = drafted.set_drafter(&lookahead_drafter)))
                    die(path + ": " + st.detail);
            } else {
                if (draft_model.config.n_vocab != c.n_vocab) die(draft_path + ": another vocabulary");
                draft_session_memory.resize(Session::required_bytes(draft_model, n_ctx, 64));
                Arena session_arena(draft_session_memory.data(), draft_session_memory.size());
                if (!(st = draft_session.init(draft_model, n_ctx, 64, session_arena)) || !(st = model_drafter.init(draft_session, n_ctx, 0.75f, arena)) ||
                    !(st = drafted.set_drafter(&model_drafter)))
                    die(draft_path + ": " + st.detail);
            }
        }
        GenerationRequest request;
        request.n_predict = n_gen;
        request.stop_at_end_of_generation = false;
        const double bytes_per_token = weight_bytes_per_token(model);
        std::string name = path.substr(path.find_last_of('/') + 1);

        for (int threads : thread_counts) {
            set_thread_count(threads);
            // bandwidths: for tg, the read bandwidth measured before the first timed run and after
            // each; run r's roofline fraction is taken against the mean of bandwidths r and r + 1
            // (these machines drift within seconds).
            auto report = [&](const std::string& test, const std::vector<double>& rates, const std::vector<double>& bandwidths) {
                Stats s = stats(rates);
                const bool roofline = !bandwidths.empty();
                std::vector<double> fractions, around;
                if (roofline)
                    for (size_t r = 0; r < rates.size(); ++r) {
                        around.push_back(0.5 * (bandwidths[r] + bandwidths[r + 1]));
                        fractions.push_back(rates[r] * bytes_per_token / around.back());
                    }
                const double fraction = roofline ? stats(fractions).median : 0.0, bandwidth = roofline ? stats(around).median : 0.0;
                if (json) {
                    std::printf("{\"model\":\"%s\",\"test\":\"%s\",\"threads\":%d,\"tokens_per_s\":%.3f,\"min\":%.3f,"
                                "\"max\":%.3f%s}\n",
                                name.c_str(), test.c_str(), threads, s.median, s.min, s.max,
                                roofline ? (",\"bandwidth_gbs\":" + std::to_string(bandwidth / 1e9) +
                                            ",\"roofline_fraction\":" + std::to_string(fraction)).c_str()
                                         : "");
                } else {
                    std::printf("%-36s %-6s t=%d  %9.2f tok/s  (min %.2f, max %.2f)", name.c_str(), test.c_str(), threads,
                                s.median, s.min, s.max);
                    if (roofline) std::printf("  %.0f%% of %.1f GB/s", 100.0 * fraction, bandwidth / 1e9);
                    std::printf("\n");
                }
                std::fflush(stdout);
            };
            if (n_prompt > 0) {
                std::vector<double> rates;
                session.reset();
                session.eval(tokens.data(), n_prompt, logits.data(), false);  // warm-up
                for (int r = 0; r < reps; ++r) {
                    session.reset();
                    double t0 = now();
                    session.eval(tokens.data(), n_prompt, logits.data(), false);
                    rates.push_back(n_prompt / (now() - t0));
                }
                report("pp" + std::to_string(n_prompt), rates, {});
            }
            if (n_gen > 0) {
                std::vector<double> rates, bandwidths;
                for (int r = 0; r <= reps; ++r) {  // the first run warms up
                    if (r > 0) bandwidths.push_back(read_bandwidth->measure());
                    generator.reset();
                    if (!(st = generator.prompt(tokens.data(), 1)) || !(st = generator.generate(request, count_token, nullptr)))
                        die(path + ": " + st.detail);
                    // The first token comes from the prompt's logits; the rest each decode one.
                    const GenerationStats& g = generator.stats();
                    if (r > 0) rates.push_back(double(n_gen) / (double(g.prompt_ns + g.generation_ns) * 1e-9));
                }
                bandwidths.push_back(read_bandwidth->measure());
                report("tg" + std::to_string(n_gen), rates, bandwidths);
            }
            if (n_gen > 0 && drafting) {
                // Plain and drafted runs alternate; each pair gives a speed ratio.
                std::vector<double> rates, ratios, taken;
                auto run = [&](Generator& g) {
                    g.reset();
                    if (!(st = g.prompt(tokens.data(), 1)) || !(st = g.generate(request, count_token, nullptr))) die(path + ": " + st.detail);
                    const GenerationStats& s = g.stats();
                    return double(n_gen) / (double(s.prompt_ns + s.generation_ns) * 1e-9);
                };
                for (int r = 0; r <= reps; ++r) {  // the first pair warms up
                    const double plain = run(generator), fast = run(drafted);
                    const GenerationStats& s = drafted.stats();
                    if (r == 0) continue;
                    rates.push_back(fast);
                    ratios.push_back(fast / plain);
                    taken.push_back(double(s.n_drafts_taken) / n_gen);
                }
                const std::string test = "tg" + std::to_string(n_gen) + (lookup ? "+lookup" : lookahead.empty() ? "+draft" : "+lookahead");
                const Stats s = stats(rates), q = stats(ratios), t = stats(taken);
                if (json)
                    std::printf("{\"model\":\"%s\",\"test\":\"%s\",\"threads\":%d,\"tokens_per_s\":%.3f,\"vs_plain\":%.3f,\"tokens_from_drafts\":%.3f}\n",
                                name.c_str(), test.c_str(), threads, s.median, q.median, t.median);
                else
                    std::printf("%-36s %-11s t=%d  %9.2f tok/s  %.2fx plain (min %.2f, max %.2f)  %.0f%% of tokens from drafts\n", name.c_str(),
                                test.c_str(), threads, s.median, q.median, q.min, q.max, 100.0 * t.median);
                std::fflush(stdout);
            }
            for (int k : verify) {
                if (n_gen <= 0) break;
                // Alternating a 1-token step and a (k + 1)-token check at the same positions (after
                // a prompt of half the context), each rolled back; the cost is their time ratio.
                if (n_ctx < k + 2) die(path + ": --verify " + std::to_string(k) + " needs a context of " + std::to_string(k + 2) + " (raise -n)");
                const int at = std::min(n_ctx / 2, n_ctx - k - 1);
                std::vector<int32_t> probe(size_t(k) + 2);
                for (size_t i = 0; i < probe.size(); ++i) probe[i] = int32_t((i * 7919 + 1) % size_t(c.n_vocab));
                auto timed = [&](int n) {
                    const double t0 = now();
                    for (int i = 0; i < n_gen; ++i) {
                        if (!(st = session.eval(probe.data() + (i % 2), n, logits.data(), true)) || !(st = session.truncate(at)))
                            die(path + ": " + st.detail);
                    }
                    return now() - t0;
                };
                std::vector<double> costs;
                session.reset();
                std::vector<int32_t> context(size_t(at), 1);
                if (at > 0 && !(st = session.eval(context.data(), at, logits.data(), false))) die(path + ": " + st.detail);
                timed(k + 1);  // warm-up
                for (int r = 0; r < reps; ++r) {
                    const double one = timed(1), many = timed(k + 1);
                    costs.push_back(many / one);
                }
                const Stats s = stats(costs);
                if (json)
                    std::printf("{\"model\":\"%s\",\"test\":\"vf%d\",\"threads\":%d,\"cost_vs_step\":%.3f,\"min\":%.3f,\"max\":%.3f}\n", name.c_str(),
                                k, threads, s.median, s.min, s.max);
                else
                    std::printf("%-36s vf%-4d t=%d  %9.2fx a decode step  (min %.2f, max %.2f)\n", name.c_str(), k, threads, s.median, s.min, s.max);
                std::fflush(stdout);
            }
            for (int n_par : parallel) {
                if (n_gen <= 0) break;
                std::vector<float> rows(size_t(n_par) * size_t(c.n_vocab));
                std::vector<BatchToken> step(static_cast<size_t>(n_par));
                std::vector<double> rates;
                for (int r = 0; r <= reps; ++r) {  // the first run warms up
                    for (int q = 0; q < n_par; ++q) session.truncate(q, 0);
                    const double t0 = now();
                    for (int i = 0; i < n_gen; ++i) {
                        for (int q = 0; q < n_par; ++q) step[size_t(q)] = BatchToken{tokens[size_t(i + q) % tokens.size()], q, true};
                        if (!(st = session.decode(step.data(), n_par, rows.data()))) die(path + ": " + st.detail);
                    }
                    if (r > 0) rates.push_back(double(n_par) * n_gen / (now() - t0));
                }
                report("tg" + std::to_string(n_gen) + "x" + std::to_string(n_par), rates, {});
            }
        }
    }
    return 0;
}
