// perplexity: how well a model predicts a text, computed as llama.cpp's llama-perplexity computes it
// (same chunks, same scored tokens, same arithmetic), and its KL-divergence mode against a base
// model's log-probabilities saved in llama.cpp's own file format.
//
//   perplexity -m MODEL -f TEXT [-c N] [--chunks N] [-b N] [-t N] [--tokenizer FILE]
//              [--kl-divergence-base FILE [--kl-divergence]]
//
// Results on stdout, progress on stderr. Errors: exit 1, one line naming the problem.
#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tinyllm/core/parallel.hpp"
#include "tinyllm/evaluation/perplexity.hpp"
#include "tinyllm/loaders/host/log_prob_file.hpp"
#include "tinyllm/loaders/host/model_source.hpp"

using namespace tinyllm;

namespace {

constexpr int default_n_ctx = 512;

struct Options {
    std::string model, text_file, tokenizer, base_file;
    int n_ctx = 0;  // 0: default_n_ctx, or the model's context when that is shorter
    int max_chunks = 0;
    int n_batch = 0;  // 0: the whole chunk
    int threads = 0;
    bool kl_divergence = false;
};

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "perplexity: %s\n", msg.c_str());
    std::exit(1);
}

void die(const Status& st, const std::string& context) {
    die(context + ": " + error_name(st.code) + (st.detail[0] ? std::string(" (") + st.detail + ")" : ""));
}

const char* usage =
    "usage: perplexity -m MODEL -f TEXT [options]\n"
    "  -m FILE                     GGUF model, or .pte program (with --tokenizer)\n"
    "  -f FILE                     the text to score (not needed with --kl-divergence)\n"
    "  -c, --ctx-size N            tokens per chunk (default 512, or the model's context when shorter)\n"
    "  --chunks N                  score at most N chunks (default: every whole chunk)\n"
    "  -b, --batch-size N          tokens per forward pass (default: the chunk)\n"
    "  -t, --threads N             threads (default: one per CPU)\n"
    "  --tokenizer FILE            a .pte program's vocabulary (tokenizer.json or GGUF)\n"
    "  --kl-divergence-base FILE   write the model's log-probabilities to FILE (llama.cpp's format)\n"
    "  --kl-divergence             instead, compare with FILE (its tokens, chunks and context)\n";

Options parse_args(int argc, char** argv) {
    Options o;
    auto number = [](const std::string& flag, const std::string& v, long lo, long hi) {
        char* end = nullptr;
        errno = 0;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || errno || n < lo || n > hi)
            die("bad value '" + v + "' for " + flag + " (expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ")");
        return int(n);
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value after " + a);
            return argv[++i];
        };
        if (a == "-h" || a == "--help") std::fputs(usage, stdout), std::exit(0);
        else if (a == "-m" || a == "--model") o.model = value();
        else if (a == "-f" || a == "--file") o.text_file = value();
        else if (a == "--tokenizer") o.tokenizer = value();
        else if (a == "-c" || a == "--ctx-size") o.n_ctx = number(a, value(), 3, 1 << 20);  // 3: the least that scores a token
        else if (a == "--chunks") o.max_chunks = number(a, value(), 1, INT32_MAX);
        else if (a == "-b" || a == "--batch-size") o.n_batch = number(a, value(), 1, 1 << 20);
        else if (a == "-t" || a == "--threads") o.threads = number(a, value(), 1, 1024);
        else if (a == "--kl-divergence-base") o.base_file = value();
        else if (a == "--kl-divergence") o.kl_divergence = true;
        else die("unknown argument '" + a + "' (see --help)");
    }
    if (o.model.empty()) die("no model given (-m FILE)");
    if (o.kl_divergence && o.base_file.empty()) die("--kl-divergence needs the base file (--kl-divergence-base FILE)");
    if (!o.kl_divergence && o.text_file.empty()) die("no text given (-f FILE)");
    return o;
}

std::string read_text(const std::string& path) {
    MappedFile file;
    if (Status st = file.open(path); !st) die(st, "cannot read the text");
    const ByteSpan b = file.bytes();
    if (!b.size) die("the text '" + path + "' is empty");
    return std::string(reinterpret_cast<const char*>(b.data), b.size);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void progress(int done, int total, std::chrono::steady_clock::time_point start) {
    const double per_chunk = seconds_since(start) / done;
    std::fprintf(stderr, "\rperplexity: chunk %d/%d, %.2f s per chunk, %.0f s left ", done, total, per_chunk, per_chunk * (total - done));
    if (done == total) std::fprintf(stderr, "\n");
}

// The model, ready to evaluate chunks of n_ctx tokens.
struct Evaluator {
    ModelSource source;
    ModelInstance instance;
    int32_t bos = -1;  // stands in for each chunk's first token when the vocabulary adds BOS
    int n_ctx = 0, n_batch = 0;

    void open(const Options& opt, int chunk_ctx) {
        if (opt.threads) set_thread_count(opt.threads);
        Status st = source.open_file(opt.model, opt.tokenizer);
        if (!st) die(st, "cannot load '" + opt.model + "'");
        if (!source.has_vocabulary()) die(source.vocabulary_status(), "the model has no usable vocabulary (a .pte program needs --tokenizer)");
        if (source.tokenizer().adds_eos()) die("the vocabulary adds EOS to every text, which llama.cpp's perplexity layout does not allow");
        const int model_ctx = source.n_ctx_max();
        n_ctx = chunk_ctx ? chunk_ctx : std::min(default_n_ctx, model_ctx);
        if (n_ctx > model_ctx) die("a chunk of " + std::to_string(n_ctx) + " tokens is longer than the model's context of " + std::to_string(model_ctx));
        n_batch = std::min(opt.n_batch ? opt.n_batch : n_ctx, n_ctx);
        if (!(st = instance.init(source, source.is_pte() ? 0 : n_ctx, n_batch))) die(st, "cannot run '" + opt.model + "'");
        bos = source.tokenizer().adds_bos() ? source.tokenizer().bos_id() : -1;
    }
    int n_vocab() const { return source.n_vocab(); }
    void eval(const int32_t* chunk, std::vector<float>& logits) {
        logits.resize(size_t(n_ctx) * size_t(n_vocab()));
        if (Status st = eval_chunk(instance.model(), chunk, n_ctx, n_batch, bos, logits.data()); !st) die(st, "evaluation failed");
    }
};

int run_perplexity(const Options& opt) {
    Evaluator ev;
    ev.open(opt, opt.n_ctx);
    LogProbFileWriter base;
    const bool write_base = !opt.base_file.empty();
    if (write_base) {
        if (Status st = base.open(opt.base_file); !st) die(st, "base file");
    }
    const std::vector<int32_t> tokens = ev.source.tokenizer().encode(read_text(opt.text_file), true, false);
    const ChunkLayout layout{ev.n_ctx};
    if (tokens.size() < 2 * size_t(layout.n_ctx))
        die("the text tokenizes to " + std::to_string(tokens.size()) + " tokens; a context of " + std::to_string(layout.n_ctx) + " needs at least " +
            std::to_string(2 * layout.n_ctx) + " (use a longer text or a smaller -c)");
    const int n_chunk = layout.n_chunks(tokens.size(), opt.max_chunks);
    const int n_vocab = ev.n_vocab();
    std::fprintf(stderr, "perplexity: %zu tokens, %d chunks of %d, batch %d, scoring the last %d of each\n", tokens.size(), n_chunk, layout.n_ctx,
                 ev.n_batch, layout.n_scored());
    std::vector<uint16_t> rows(write_base ? size_t(layout.n_scored()) * base_row_words(n_vocab) : 0);
    if (write_base) {
        if (Status st = base.write_header(layout.n_ctx, n_vocab, n_chunk, tokens.data()); !st) die(st, "base file");
    }
    std::vector<float> logits;
    PerplexityTotals totals;
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < n_chunk; ++c) {
        const int32_t* chunk = tokens.data() + size_t(c) * size_t(layout.n_ctx);
        ev.eval(chunk, logits);
        totals.add_chunk(layout, logits.data(), n_vocab, chunk, write_base ? rows.data() : nullptr);
        if (write_base) {
            if (Status st = base.write_rows(rows.data(), rows.size()); !st) die(st, "base file");
        }
        std::printf("[%d]%.4f,", c + 1, totals.perplexity());
        std::fflush(stdout);
        progress(c + 1, n_chunk, start);
    }
    if (write_base) {
        if (Status st = base.close(); !st) die(st, "base file");
    }
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", totals.perplexity(), totals.perplexity_error());
    return 0;
}

float percentile(const std::vector<float>& sorted, float fraction) {
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    float p = fraction * float(sorted.size() - 1);
    const size_t ip = size_t(p);
    p -= float(ip);
    return (1 - p) * sorted[ip] + p * sorted[std::min(ip + 1, sorted.size() - 1)];
}

float median(const std::vector<float>& sorted) {
    const size_t n = sorted.size();
    return n % 2 == 0 ? 0.5f * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

// The statistics llama.cpp prints in its KL-divergence mode, in its layout.
struct KldReport {
    Estimate log_ppl, log_ppl_base, kld, p_diff_mse;
    double log_ppl_cov = 0, same_top = 0;

    explicit KldReport(const KldTotals& t) {
        log_ppl = mean_estimate(t.sum_nll, t.sum_nll2, t.count);
        log_ppl_base = mean_estimate(t.sum_nll_base, t.sum_nll_base2, t.count);
        log_ppl_cov = mean_covariance(t.sum_nll, t.sum_nll_base, t.sum_nll_nll_base, t.count);
        kld = mean_estimate(t.sum_kld, t.sum_kld2, t.count);
        p_diff_mse = mean_estimate(t.sum_p_diff2, t.sum_p_diff4, t.count);
        same_top = double(t.n_same_top) / double(t.count);
    }
    double log_ratio_error() const {
        return std::sqrt(log_ppl.error * log_ppl.error + log_ppl_base.error * log_ppl_base.error - 2.0 * log_ppl_cov);
    }
    double p_diff_rms() const { return std::sqrt(p_diff_mse.value); }
    double p_diff_rms_error() const { return 0.5 / p_diff_rms() * p_diff_mse.error; }
    double same_top_error(size_t count) const { return std::sqrt(same_top * (1 - same_top) / double(count - 1)); }
};

void print_chunk_line(int chunk, const KldTotals& t) {
    const KldReport r(t);
    const double ppl = std::exp(r.log_ppl.value);
    std::printf("%4d    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n", chunk, ppl,
                ppl * r.log_ppl.error, r.log_ppl.value - r.log_ppl_base.value, r.log_ratio_error(), r.kld.value, r.kld.error,
                100.0 * r.p_diff_rms(), 100.0 * r.p_diff_rms_error(), 100.0 * r.same_top, 100.0 * r.same_top_error(t.count));
}

void print_summary(const KldTotals& t, std::vector<float>& klds, std::vector<float>& p_diffs) {
    std::sort(klds.begin(), klds.end());
    std::sort(p_diffs.begin(), p_diffs.end());
    const KldReport r(t);
    const double ppl = std::exp(r.log_ppl.value), ppl_base = std::exp(r.log_ppl_base.value);
    const double ppl_error = ppl * r.log_ppl.error, ppl_base_error = ppl_base * r.log_ppl_base.error;
    const double log_ratio = r.log_ppl.value - r.log_ppl_base.value, ratio = std::exp(log_ratio);
    std::printf("====== Perplexity statistics ======\n");
    std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl, ppl_error);
    std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", ppl_base, ppl_base_error);
    std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * r.log_ppl_cov / (r.log_ppl.error * r.log_ppl_base.error));
    std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", log_ratio, r.log_ratio_error());
    std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", ratio, ratio * r.log_ratio_error());
    const double ppl_cov = ppl * ppl_base * r.log_ppl_cov;
    std::printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", ppl - ppl_base,
                std::sqrt(ppl_error * ppl_error + ppl_base_error * ppl_base_error - 2.0 * ppl_cov));

    std::printf("====== KL divergence statistics ======\n");
    std::printf("Mean    KLD: %10.6f ± %10.6f\n", r.kld.value, r.kld.error);
    std::printf("Maximum KLD: %10.6f\n", double(klds.back()));
    for (float f : {0.999f, 0.990f, 0.950f, 0.900f}) std::printf("%4.1f%%   KLD: %10.6f\n", 100.0 * f, double(percentile(klds, f)));
    std::printf("Median  KLD: %10.6f\n", double(median(klds)));
    for (float f : {0.100f, 0.050f, 0.010f, 0.001f}) std::printf("%4.1f%%   KLD: %10.6f\n", 100.0 * f, double(percentile(klds, f)));
    std::printf("Minimum KLD: %10.6f\n\n", double(klds.front()));

    std::printf("====== Token probability statistics ======\n");
    const Estimate p_diff = mean_estimate(t.sum_p_diff, t.sum_p_diff2, t.count);
    std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * p_diff.value, 100.0 * p_diff.error);
    std::printf("Maximum Δp: %6.3f%%\n", 100.0 * p_diffs.back());
    for (float f : {0.999f, 0.990f, 0.950f, 0.900f, 0.750f}) std::printf("%4.1f%%   Δp: %6.3f%%\n", 100.0 * f, 100.0 * percentile(p_diffs, f));
    std::printf("Median  Δp: %6.3f%%\n", 100.0 * median(p_diffs));
    for (float f : {0.250f, 0.100f, 0.050f, 0.010f, 0.001f}) std::printf("%4.1f%%   Δp: %6.3f%%\n", 100.0 * f, 100.0 * percentile(p_diffs, f));
    std::printf("Minimum Δp: %6.3f%%\n", 100.0 * p_diffs.front());
    std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * r.p_diff_rms(), 100.0 * r.p_diff_rms_error());
    std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * r.same_top, 100.0 * r.same_top_error(t.count));
}

int run_kl_divergence(const Options& opt) {
    LogProbFileReader base;
    if (Status st = base.open(opt.base_file); !st) die(st, "base file");
    const ChunkLayout layout = base.layout();
    if (opt.n_ctx && opt.n_ctx != layout.n_ctx)
        die("the base file holds chunks of " + std::to_string(layout.n_ctx) + " tokens, not " + std::to_string(opt.n_ctx) + " (-c)");
    Evaluator ev;
    ev.open(opt, layout.n_ctx);
    if (base.n_vocab() != ev.n_vocab())
        die("the base file's vocabulary has " + std::to_string(base.n_vocab()) + " tokens, the model's " + std::to_string(ev.n_vocab()));
    const int n_chunk = opt.max_chunks ? std::min(opt.max_chunks, base.n_chunk()) : base.n_chunk();
    const int n_vocab = ev.n_vocab();
    std::fprintf(stderr, "perplexity: KL divergence over %d chunks of %d from '%s'\n", n_chunk, layout.n_ctx, opt.base_file.c_str());
    std::printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p\n");
    std::vector<int32_t> chunk;
    std::vector<uint16_t> row;
    std::vector<float> logits, klds, p_diffs;
    KldTotals totals;
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < n_chunk; ++c) {
        base.chunk_tokens(c, chunk);
        ev.eval(chunk.data(), logits);
        for (int j = 0; j < layout.n_scored(); ++j) {
            const int i = layout.first() + j;
            base.base_row(c, j, row);
            const TokenDivergence d = compare_with_base(logits.data() + size_t(i) * size_t(n_vocab), n_vocab, row.data(), chunk[size_t(i) + 1], totals);
            klds.push_back(float(d.kld));
            p_diffs.push_back(d.p_diff);
        }
        print_chunk_line(c + 1, totals);
        std::fflush(stdout);
        progress(c + 1, n_chunk, start);
    }
    std::printf("\n");
    if (totals.count < 100) {
        std::fprintf(stderr, "perplexity: %zu scored tokens are too few for the summary statistics (100 needed)\n", totals.count);
        return 0;
    }
    print_summary(totals, klds, p_diffs);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const Options opt = parse_args(argc, argv);
    return opt.kl_divergence ? run_kl_divergence(opt) : run_perplexity(opt);
}
