// generate: run a GGUF model on a prompt and stream the continuation.
//
//   generate [-m MODEL] [-p TEXT | --prompt-ids 1,2,3] [-n N] [--temp T] [--top-k K] [--top-p P]
//            [--min-p P] [--repeat-penalty R] [--seed S] [-t THREADS] [-c CTX] [--print-ids]
//            [--dump-logits FILE]
//
// Text streams to stdout as tokens arrive (or, with --print-ids, the generated ids as one
// comma-separated line). Timings and peak memory go to stderr. Any bad input: exit code 1 and
// one line naming the problem.
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "gguf_model_file.hpp"
#include "tinyllm/sampler.hpp"
#include "tinyllm/session.hpp"
#include "tinyllm/tokenizer.hpp"

using namespace tinyllm;

namespace {

struct Options {
    std::string model = std::string(TINYLLM_DEFAULT_MODEL);
    std::string prompt;
    bool have_prompt_text = false;
    std::vector<int32_t> prompt_ids;
    bool have_prompt_ids = false;
    int n_predict = 128;
    int threads = 0;
    int n_ctx = 0;
    bool print_ids = false;
    std::string dump_logits;
    SamplerConfig sampling;
};

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "generate: %s\n", msg.c_str());
    std::exit(1);
}

void die(const Status& st, const std::string& context) {
    die(context + ": " + error_name(st.code) + (st.detail[0] ? std::string(" (") + st.detail + ")" : ""));
}

long parse_int(const std::string& flag, const std::string& v, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || errno || n < lo || n > hi)
        die("bad value '" + v + "' for " + flag + " (expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    return n;
}

std::string trim_number(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", double(v));
    return buf;
}

float parse_float(const std::string& flag, const std::string& v, float lo, float hi) {
    char* end = nullptr;
    float f = std::strtof(v.c_str(), &end);
    if (v.empty() || *end || !(f >= lo && f <= hi))
        die("bad value '" + v + "' for " + flag + " (expected a number from " + trim_number(lo) + " to " + trim_number(hi) + ")");
    return f;
}

std::vector<int32_t> parse_ids(const std::string& v) {
    std::vector<int32_t> ids;
    size_t start = 0;
    while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        ids.push_back(int32_t(parse_int("--prompt-ids", item, 0, INT32_MAX)));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return ids;
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value after " + a);
            return argv[++i];
        };
        if (a == "-m" || a == "--model") o.model = value();
        else if (a == "-p" || a == "--prompt") { o.prompt = value(); o.have_prompt_text = true; }
        else if (a == "--prompt-ids") { o.prompt_ids = parse_ids(value()); o.have_prompt_ids = true; }
        else if (a == "-n" || a == "--n-predict") o.n_predict = int(parse_int(a, value(), 0, 1 << 24));
        else if (a == "-t" || a == "--threads") o.threads = int(parse_int(a, value(), 1, 1024));
        else if (a == "-c" || a == "--ctx-size") o.n_ctx = int(parse_int(a, value(), 1, 1 << 24));
        else if (a == "--temp") o.sampling.temperature = parse_float(a, value(), 0.0f, 100.0f);
        else if (a == "--top-k") o.sampling.top_k = int(parse_int(a, value(), 0, 1 << 24));
        else if (a == "--top-p") o.sampling.top_p = parse_float(a, value(), 0.0f, 1.0f);
        else if (a == "--min-p") o.sampling.min_p = parse_float(a, value(), 0.0f, 1.0f);
        else if (a == "--repeat-penalty") o.sampling.repeat_penalty = parse_float(a, value(), 0.0f, 100.0f);
        else if (a == "--seed") o.sampling.seed = uint64_t(parse_int(a, value(), 0, LONG_MAX));
        else if (a == "--print-ids") o.print_ids = true;
        else if (a == "--dump-logits") o.dump_logits = value();
        else if (a == "-h" || a == "--help") {
            std::printf("usage: generate [-m MODEL] [-p TEXT | --prompt-ids 1,2,3] [-n N] [--temp T] [--top-k K]\n"
                        "                [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [-t THREADS]\n"
                        "                [-c CTX] [--print-ids] [--dump-logits FILE]\n");
            std::exit(0);
        } else die("unknown argument '" + a + "' (see --help)");
    }
    if (o.have_prompt_text && o.have_prompt_ids) die("give either -p or --prompt-ids, not both");
    return o;
}

// "llama | 6 layers | 8/4 heads, head dim 32 | vocab 1024 | ctx 256 | Q8_0 x42, F32 x13 | 7.1 MB"
std::string model_summary(const Model& m, size_t file_bytes) {
    const ModelConfig& c = m.config;
    std::vector<std::pair<GgmlType, int>> types;
    auto count = [&](const WeightView& w) {
        for (auto& [t, n] : types)
            if (t == w.type) { ++n; return; }
        types.push_back({w.type, 1});
    };
    count(m.token_embd);
    if (m.output.data != m.token_embd.data) count(m.output);
    for (int l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[l];
        for (const WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) count(*w);
    }
    char line[512];
    int n = std::snprintf(line, sizeof line, "%s | %d layers | %d/%d heads, head dim %d | vocab %d | ctx %d |",
                          c.architecture, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.n_vocab, c.n_ctx_train);
    for (size_t i = 0; i < types.size() && n < int(sizeof line) - 32; ++i)
        n += std::snprintf(line + n, sizeof line - size_t(n), "%s %s x%d", i ? "," : "", ggml_type_name(types[i].first), types[i].second);
    std::snprintf(line + n, sizeof line - size_t(n), " | %.1f MB", double(file_bytes) / 1e6);
    return line;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double peak_rss_mib() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_args(argc, argv);
#if defined(_OPENMP)
    if (opt.threads) omp_set_num_threads(opt.threads);
#endif

    GgufModelFile file;
    Status st = file.open(opt.model);
    if (!st) die(st, "cannot load '" + opt.model + "'");
    Model model;
    if (!(st = file.load(model))) die(st, "cannot load '" + opt.model + "'");
    const ModelConfig& cfg = model.config;

    Tokenizer tokenizer;
    const bool have_tokenizer = (st = tokenizer.load(file.gguf)).ok();
    if (!have_tokenizer && !opt.have_prompt_ids) die(st, "model has no usable tokenizer");

    std::vector<int32_t> prompt = opt.prompt_ids;
    if (!opt.have_prompt_ids) prompt = tokenizer.encode(opt.have_prompt_text ? opt.prompt : std::string(), true, false);
    if (prompt.empty()) die("the prompt is empty (give -p TEXT or --prompt-ids)");

    const int n_ctx = opt.n_ctx ? opt.n_ctx : cfg.n_ctx_train;
    if (n_ctx > cfg.n_ctx_train) die("context " + std::to_string(n_ctx) + " exceeds the model's " + std::to_string(cfg.n_ctx_train));
    if (int(prompt.size()) > n_ctx)
        die("prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " + std::to_string(n_ctx));

    // Session::eval checks ids too; checking here reports the problem before any output.
    for (size_t i = 0; i < prompt.size(); ++i)
        if (prompt[i] >= cfg.n_vocab)
            die("token out of range: prompt id " + std::to_string(prompt[i]) + " at index " + std::to_string(i) +
                " is outside the vocabulary of " + std::to_string(cfg.n_vocab));
    std::fprintf(stderr, "model: %s\n", model_summary(model, file.mapping.bytes().size).c_str());

    const int n_batch = 64;
    std::vector<uint8_t> memory(Session::required_bytes(model, n_ctx, n_batch) + Sampler::required_bytes(cfg.n_vocab));
    Arena arena(memory.data(), memory.size());
    Session session;
    if (!(st = session.init(model, n_ctx, n_batch, arena))) die(st, "cannot create session");
    Sampler sampler;
    if (!(st = sampler.init(opt.sampling, cfg.n_vocab, arena))) die(st, "bad sampling options");

    // Prompt: all rows of logits when dumping them, else just the last.
    const bool dump = !opt.dump_logits.empty();
    std::vector<float> logits(size_t(cfg.n_vocab) * (dump ? prompt.size() : 1));
    auto t_start = std::chrono::steady_clock::now();
    if (!(st = session.eval(prompt.data(), int(prompt.size()), logits.data(), dump))) die(st, "prompt failed");
    const double t_prompt = seconds_since(t_start);
    if (dump) {
        std::ofstream out(opt.dump_logits, std::ios::binary);
        out.write(reinterpret_cast<const char*>(logits.data()), std::streamsize(logits.size() * sizeof(float)));
        if (!out) die("cannot write '" + opt.dump_logits + "'");
    }
    const float* last = logits.data() + (dump ? (prompt.size() - 1) * size_t(cfg.n_vocab) : 0);
    for (int32_t t : prompt) sampler.accept(t);

    std::vector<int32_t> generated;
    StreamDecoder decoder(tokenizer);
    if (!opt.print_ids && have_tokenizer && opt.have_prompt_text) {
        std::fputs(opt.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    double t_first = 0.0;
    auto t_gen = std::chrono::steady_clock::now();
    std::vector<float> step_logits(size_t(cfg.n_vocab));
    for (int i = 0; i < opt.n_predict; ++i) {
        int32_t tok = sampler.sample(last);
        sampler.accept(tok);
        if (i == 0) t_first = seconds_since(t_start);
        if (have_tokenizer && tokenizer.is_eog(tok)) break;
        generated.push_back(tok);
        if (!opt.print_ids && have_tokenizer) {
            std::string piece = decoder.push(tok);
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
        }
        if (i + 1 == opt.n_predict) break;
        if (session.n_past() >= n_ctx) {
            std::fprintf(stderr, "\ngenerate: context of %d tokens is full; stopping\n", n_ctx);
            break;
        }
        if (!(st = session.eval(&tok, 1, step_logits.data(), false))) die(st, "decode failed");
        last = step_logits.data();
    }
    const double t_decode = seconds_since(t_gen);

    if (opt.print_ids) {
        for (size_t i = 0; i < generated.size(); ++i) std::printf(i ? ",%d" : "%d", generated[i]);
        std::printf("\n");
    } else {
        std::string rest = decoder.flush();
        std::fwrite(rest.data(), 1, rest.size(), stdout);
        std::printf("\n");
    }
    std::fflush(stdout);

    const double gen_rate = generated.size() > 1 ? double(generated.size() - 1) / t_decode : 0.0;
    std::fprintf(stderr,
                 "\nprompt tokens: %zu | prompt: %.1f tok/s | generation: %zu tokens, %.1f tok/s | "
                 "time to first token: %.1f ms | peak memory: %.1f MiB\n",
                 prompt.size(), double(prompt.size()) / t_prompt, generated.size(), gen_rate, t_first * 1e3,
                 peak_rss_mib());
    return 0;
}
