// generate: run a GGUF model or an ExecuTorch .pte Llama export on a prompt and stream the
// continuation.
//
//   generate [-m MODEL] [-p TEXT | --prompt-ids 1,2,3] [-n N] [--temp T] [--top-k K] [--top-p P]
//            [--min-p P] [--repeat-penalty R] [--seed S] [-t THREADS] [-c CTX] [--print-ids] [--ignore-eos]
//            [--stop STR ...] [--dump-logits FILE] [--tokenizer FILE]
//
// Generation stops at the vocabulary's end-of-generation tokens and at any --stop string,
// which is never printed.
// A .pte program carries no vocabulary: text prompts and output need --tokenizer (a Hugging Face
// tokenizer.json, e.g. from `convert --tokenizer-out`, or a GGUF file with the same vocabulary),
// --prompt-ids with --print-ids do not.
//
// Text streams to stdout as tokens arrive (or, with --print-ids, the generated ids as one
// comma-separated line). Timings and peak memory go to stderr. Any bad input: exit code 1 and
// one line naming the problem.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>


#include "tinyllm/generation/draft_model.hpp"
#include "tinyllm/generation/lookahead.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/loaders/host/model_source.hpp"
#include "tinyllm/text/chat_template.hpp"

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
    bool ignore_eos = false;
    std::string dump_logits;
    bool chat = false;
    std::string chat_template;  // empty: detect from the model
    std::string system_prompt;
    std::string tokenizer;  // tokenizer.json or GGUF file with the vocabulary a .pte model uses
    std::string draft_model;  // speculative decoding with a smaller model of the same vocabulary
    int lookup_ngram = 0;     // speculative decoding from the text so far (prompt lookup)
    int lookahead[3] = {};    // lookahead decoding: window W, n-gram size N, verification n-grams G (W 0: off)
    int draft_max = 3;  // with the pending token, one 4-token tile of the prompt kernels
    bool draft_max_given = false;
    std::vector<std::string> stop;
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

// A number in [lo, hi], or in (lo, hi] when lo itself is not allowed (a top-p of 0 keeps nothing).
enum class Low { included, excluded };
float parse_float(const std::string& flag, const std::string& v, float lo, float hi, Low low = Low::included) {
    char* end = nullptr;
    float f = std::strtof(v.c_str(), &end);
    const bool above_lo = low == Low::included ? f >= lo : f > lo;
    if (v.empty() || *end || !(above_lo && f <= hi))
        die("bad value '" + v + "' for " + flag + " (expected a number " + (low == Low::included ? "from " : "above ") + trim_number(lo) +
            (low == Low::included ? " to " : " and at most ") + trim_number(hi) + ")");
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

// "top_k,top_p,temperature": the sampler chain, in order.
void parse_samplers(const std::string& list, SamplerConfig& cfg) {
    const std::pair<const char*, SamplerStep> names[] = {{"penalties", SamplerStep::penalties}, {"top_k", SamplerStep::top_k},
        {"typical_p", SamplerStep::typical_p}, {"top_p", SamplerStep::top_p}, {"min_p", SamplerStep::min_p},
        {"temperature", SamplerStep::temperature}};
    cfg.n_steps = 0;
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        bool found = false;
        for (auto& [n, step] : names)
            if (name == n && cfg.n_steps < SamplerConfig::max_steps) {
                cfg.steps[cfg.n_steps++] = step;
                found = true;
            }
        if (!found) die("unknown sampler '" + name + "' in --samplers (penalties, top_k, typical_p, top_p, min_p, temperature)");
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
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
        else if (a == "--top-p") o.sampling.top_p = parse_float(a, value(), 0.0f, 1.0f, Low::excluded);
        else if (a == "--min-p") o.sampling.min_p = parse_float(a, value(), 0.0f, 1.0f);
        else if (a == "--repeat-penalty") o.sampling.repeat_penalty = parse_float(a, value(), 0.0f, 100.0f, Low::excluded);
        else if (a == "--seed") o.sampling.seed = uint64_t(parse_int(a, value(), 0, LONG_MAX));
        else if (a == "--print-ids") o.print_ids = true;
        else if (a == "--ignore-eos") o.ignore_eos = true;
        else if (a == "--dump-logits") o.dump_logits = value();
        else if (a == "--chat") o.chat = true;
        else if (a == "--chat-template") { o.chat_template = value(); o.chat = true; }
        else if (a == "--system") o.system_prompt = value();
        else if (a == "--typical-p") o.sampling.typical_p = parse_float(a, value(), 0.0f, 1.0f, Low::excluded);
        else if (a == "--frequency-penalty") o.sampling.frequency_penalty = parse_float(a, value(), -10.0f, 10.0f);
        else if (a == "--presence-penalty") o.sampling.presence_penalty = parse_float(a, value(), -10.0f, 10.0f);
        else if (a == "--penalty-last-n") o.sampling.penalty_last_n = int(parse_int(a, value(), 0, 1024));
        else if (a == "--samplers") parse_samplers(value(), o.sampling);
        else if (a == "--tokenizer") o.tokenizer = value();
        else if (a == "--draft-model") o.draft_model = value();
        else if (a == "--draft-max") o.draft_max = int(parse_int(a, value(), 1, 64)), o.draft_max_given = true;
        else if (a == "--lookup") o.lookup_ngram = int(parse_int(a, value(), 2, 64));
        else if (a == "--lookahead") {
            const std::string v = value();
            const size_t c1 = v.find(','), c2 = c1 == std::string::npos ? c1 : v.find(',', c1 + 1);
            if (c2 == std::string::npos) die("--lookahead needs W,N,G (window, n-gram size, verification n-grams), not '" + v + "'");
            o.lookahead[0] = int(parse_int("--lookahead W", v.substr(0, c1), 1, LookaheadDrafter::max_window));
            o.lookahead[1] = int(parse_int("--lookahead N", v.substr(c1 + 1, c2 - c1 - 1), 3, LookaheadDrafter::max_ngram));
            o.lookahead[2] = int(parse_int("--lookahead G", v.substr(c2 + 1), 1, LookaheadDrafter::max_verify));
        }
        else if (a == "--stop") {
            o.stop.push_back(value());
            if (o.stop.back().empty()) die("--stop needs a non-empty string");
        }
        else if (a == "-h" || a == "--help") {
            const SamplerConfig d;
            std::printf("usage: generate [options]\n"
                        "  -m, --model FILE         GGUF model or ExecuTorch .pte program (default %s)\n"
                        "  -p, --prompt TEXT        prompt text (BOS added as the vocabulary says)\n"
                        "  --prompt-ids 1,2,3       prompt token ids, used as given\n"
                        "  -n, --n-predict N        tokens to generate (default 128)\n"
                        "  -t, --threads N          threads (default: one per CPU)\n"
                        "  -c, --ctx-size N         context (default: the model's)\n"
                        "  --temp T                 temperature, 0 = greedy (default %g)\n"
                        "  --top-k K                0 = off (default %d)\n"
                        "  --top-p P                1 = off (default %g)\n"
                        "  --min-p P                0 = off (default %g)\n"
                        "  --typical-p P            1 = off (default %g)\n"
                        "  --repeat-penalty R       1 = off (default %g)\n"
                        "  --frequency-penalty F    (default %g)\n"
                        "  --presence-penalty P     (default %g)\n"
                        "  --penalty-last-n N       tokens the penalties look back (default %d)\n"
                        "  --samplers LIST          order of penalties,top_k,typical_p,top_p,min_p,temperature\n"
                        "  --seed S                 (default %llu)\n"
                        "  --stop STR               stop at STR, never printed (repeatable)\n"
                        "  --print-ids              print the generated ids instead of text\n"
                        "  --ignore-eos             do not stop at end-of-generation tokens\n"
                        "  --dump-logits FILE       write the prompt's logits, float32 [n_prompt][n_vocab]\n"
                        "  --chat                   chat on stdin, one user turn per line\n"
                        "  --chat-template NAME     llama2, llama2-sys, llama3, chatml, gemma, phi3, falcon3\n"
                        "                           (default: detected from the model)\n"
                        "  --system TEXT            system prompt for --chat\n"
                        "  --tokenizer FILE         the vocabulary of a .pte program: tokenizer.json or .gguf\n"
                        "  --draft-model FILE       speculative decoding: a smaller model of the same vocabulary drafts\n"
                        "  --lookup N               speculative decoding: drafts from the text so far (n-grams up to N)\n"
                        "  --lookahead W,N,G        lookahead decoding: a window of W guesses, N-grams, G checked per step\n"
                        "                           (GGUF models; each step evaluates 1+(W-1)+W(N-2)+G(N-1) tokens)\n"
                        "  --draft-max K            the most drafted tokens checked per step (default 3)\n",
                        TINYLLM_DEFAULT_MODEL, double(d.temperature), d.top_k, double(d.top_p), double(d.min_p), double(d.typical_p),
                        double(d.repeat_penalty), double(d.frequency_penalty), double(d.presence_penalty), d.penalty_last_n,
                        static_cast<unsigned long long>(d.seed));
            std::exit(0);
        } else die("unknown argument '" + a + "' (see --help)");
    }
    if ((!o.draft_model.empty()) + (o.lookup_ngram > 0) + (o.lookahead[0] > 0) > 1)
        die("--draft-model, --lookup and --lookahead are three ways of drafting; choose one");
    if (o.lookahead[0] && o.draft_max_given) die("--draft-max is for --draft-model and --lookup: a --lookahead step checks its whole tree");
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
        for (const WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
            if (!w->empty()) count(*w);
    }
    char line[512];
    int n = std::snprintf(line, sizeof line, "%s | %d layers | %d/%d heads, head dim %d | vocab %d | ctx %d |",
                          c.architecture, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.n_vocab, c.n_ctx_train);
    for (size_t i = 0; i < types.size() && n < int(sizeof line) - 32; ++i)
        n += std::snprintf(line + n, sizeof line - size_t(n), "%s %s x%d", i ? "," : "", ggml_type_name(types[i].first), types[i].second);
    std::snprintf(line + n, sizeof line - size_t(n), " | %.1f MB", double(file_bytes) / 1e6);
    return line;
}

double peak_rss_mib() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

} // namespace

uint64_t clock_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// What one generate() call produced, as the callback saw it.
struct Output {
    std::vector<int32_t> ids;
    std::string text;
    bool stream = false;  // print the text as it arrives
};

bool on_token(const GeneratedToken& t, void* user) {
    Output& out = *static_cast<Output*>(user);
    if (t.id != GeneratedToken::no_token) out.ids.push_back(t.id);
    out.text.append(t.text, t.text_len);
    if (out.stream && t.text_len) {
        std::fwrite(t.text, 1, t.text_len, stdout);
        std::fflush(stdout);
    }
    return true;
}

// Generates up to n tokens from the last evaluated position, streaming text when asked.
Output generate(Generator& generator, const std::vector<StrView>& stop, int n, bool stream, bool ignore_eos) {
    Output out;
    out.stream = stream;
    GenerationRequest request;
    request.n_predict = n;
    request.stop_at_end_of_generation = !ignore_eos;
    request.stop = stop.data();
    request.n_stop = int(stop.size());
    Status st = generator.generate(request, on_token, &out);
    if (!st) die(st, "generation failed");
    if (generator.stats().reason == StopReason::context_full)
        std::fprintf(stderr, "\ngenerate: the context of %d tokens is full; stopping\n", generator.model().n_ctx());
    return out;
}

// The text a template puts after an assistant reply (e.g. "<|im_end|>\n"). The cache lacks it:
// generation stops at the end-of-turn token without feeding it back.
std::string turn_closing(ChatTemplate t, const std::vector<ChatMessage>& history_with_reply) {
    std::vector<ChatMessage> before(history_with_reply.begin(), history_with_reply.end() - 1);
    const std::string opened = format_chat(t, before, true) + history_with_reply.back().content;
    const std::string full = format_chat(t, history_with_reply, false);
    return full.compare(0, opened.size(), opened) == 0 ? full.substr(opened.size()) : std::string();
}

// Interactive chat: each line of stdin is a user turn; replies stream to stdout. The KV cache
// keeps the conversation, so each turn only evaluates its new tokens.
// The --chat-template named, or the one the model's tokenizer.chat_template describes.
ChatTemplate chat_template(const Options& opt, const gguf::File& vocab_file) {
    ChatTemplate tmpl;
    Status st;
    if (!opt.chat_template.empty()) st = chat_template_from_name(opt.chat_template, tmpl);
    else {
        Result<StrView> jinja = vocab_file.get_string("tokenizer.chat_template");
        if (!jinja) die("the model has no tokenizer.chat_template; choose one with --chat-template NAME");
        st = detect_chat_template(std::string(jinja->data(), jinja->size()), tmpl);
    }
    if (!st) die(st, "chat template");
    return tmpl;
}

int run_chat(const Options& opt, ChatTemplate tmpl, Generator& generator, const std::vector<StrView>& stop, const Tokenizer& tokenizer) {
    Status st;
    const int n_ctx = generator.model().n_ctx();
    std::vector<ChatMessage> history;
    if (!opt.system_prompt.empty()) history.push_back({"system", opt.system_prompt});
    std::string line;
    bool first = true;
    auto context_full = [&]() {
        std::printf("[context full: %d of %d tokens used; start a new chat]\n", generator.n_tokens(), n_ctx);
        return 0;
    };
    while (true) {
        if (isatty(STDIN_FILENO)) std::fprintf(stderr, "> ");
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        ChatMessage user{"user", line};
        std::string text = format_chat_increment(tmpl, first ? std::vector<ChatMessage>() : history, user, true);
        if (first && !history.empty()) text = format_chat(tmpl, {history[0], user}, true);  // with the system prompt
        std::vector<int32_t> ids = tokenizer.encode(text, first, true);
        if (int(ids.size()) >= n_ctx - generator.n_tokens()) return context_full();
        if (!(st = generator.prompt(ids.data(), int(ids.size())))) die(st, "prompt failed");
        history.push_back(user);
        Output reply = generate(generator, stop, opt.n_predict, true, opt.ignore_eos);
        std::printf("\n");
        std::fflush(stdout);
        std::fprintf(stderr, "[turn: %zu new prompt tokens, %zu generated, context %d/%d]\n", ids.size(), reply.ids.size(),
                     generator.n_tokens(), n_ctx);
        history.push_back({"assistant", reply.text});
        // The template's text after the reply; its end-of-turn token, when the model sampled it,
        // is already on its way into the cache.
        std::vector<int32_t> tail = tokenizer.encode(turn_closing(tmpl, history), false, true);
        if (generator.stats().reason == StopReason::end_of_generation && !tail.empty() && tokenizer.is_eog(tail[0]))
            tail.erase(tail.begin());
        if (generator.stats().reason == StopReason::context_full || int(tail.size()) >= n_ctx - generator.n_tokens())
            return context_full();
        if (!tail.empty() && !(st = generator.prompt(tail.data(), int(tail.size())))) die(st, "turn end failed");
        first = false;
    }
    return 0;
}

int main(int argc, char** argv) {
    Options opt = parse_args(argc, argv);
    if (opt.threads) set_thread_count(opt.threads);

    ModelSource source;
    Status st = source.open_file(opt.model, opt.tokenizer);
    if (!st) die(st, "cannot load '" + opt.model + "'" + (opt.tokenizer.empty() ? "" : " with '" + opt.tokenizer + "'"));
    const bool have_tokenizer = source.has_vocabulary();
    const Tokenizer& tokenizer = source.tokenizer();
    st = source.is_pte() ? Status::fail(Error::missing_key, "a .pte program has no vocabulary; pass --tokenizer tokenizer.json (or a .gguf)")
                         : source.vocabulary_status();
    if (!have_tokenizer && !opt.have_prompt_ids) die(st, "model has no usable tokenizer");
    if (source.is_pte() && !have_tokenizer && !opt.print_ids) die(st, "printing text needs a tokenizer (or use --print-ids)");
    if (opt.chat && !have_tokenizer) die(st, "chat needs the model's tokenizer");
    const ChatTemplate tmpl = opt.chat ? chat_template(opt, source.vocabulary_file()) : ChatTemplate{};
    // Opened before any work, so an unwritable path fails first.
    std::ofstream dump_file;
    if (!opt.dump_logits.empty()) {
        dump_file.open(opt.dump_logits, std::ios::binary);
        if (!dump_file) die("cannot write '" + opt.dump_logits + "'");
    }
    if (!opt.stop.empty() && !have_tokenizer) die(st, "--stop needs the model's tokenizer");
    std::vector<int32_t> prompt = opt.prompt_ids;
    if (!opt.have_prompt_ids) prompt = tokenizer.encode(opt.have_prompt_text ? opt.prompt : std::string(), true, false);
    if (prompt.empty() && !opt.chat) die("the prompt is empty (give -p TEXT or --prompt-ids)");

    // Memory: the session's (or the program's memory plan) and the generator's.
    ModelInstance instance;
    // A lookahead step is one forward pass of its whole tree.
    const int lookahead_nodes = opt.lookahead[0] ? LookaheadDrafter::tree_nodes(opt.lookahead[0], opt.lookahead[1], opt.lookahead[2]) : 0;
    if (!(st = instance.init(source, opt.n_ctx, std::max(64, lookahead_nodes)))) die(st, "cannot run '" + opt.model + "'");
    LanguageModel& language_model = instance.model();
    const int n_vocab = language_model.n_vocab(), n_ctx = language_model.n_ctx();
    std::string summary;
    if (source.is_pte()) {
        char line[160];
        const pte::PlanView forward = source.program().find_plan("forward");
        std::snprintf(line, sizeof line, "ExecuTorch program | vocab %d | ctx %d | %u values, %u instructions | %.1f MB", n_vocab, n_ctx,
                      forward.value_count(), forward.instruction_count(0), double(source.file_bytes()) / 1e6);
        summary = line;
    } else {
        summary = model_summary(source.model(), source.file_bytes());
    }
    if (int(prompt.size()) > n_ctx)
        die("prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " + std::to_string(n_ctx));
    // eval checks ids too; checking here reports the problem before any output.
    for (size_t i = 0; i < prompt.size(); ++i)
        if (prompt[i] >= n_vocab)
            die("token out of range: prompt id " + std::to_string(prompt[i]) + " at index " + std::to_string(i) +
                " is outside the vocabulary of " + std::to_string(n_vocab));

    GeneratorOptions generator_options;
    generator_options.clock_ns = clock_ns;
    const bool drafting = !opt.draft_model.empty() || opt.lookup_ngram || lookahead_nodes;
    generator_options.max_draft = lookahead_nodes ? lookahead_nodes - 1 : drafting ? opt.draft_max : 0;
    for (const std::string& s : opt.stop)
        if (s.size() > generator_options.max_stop_bytes) generator_options.max_stop_bytes = s.size();
    const TokenText* vocabulary = have_tokenizer ? &source.vocabulary() : nullptr;
    std::vector<uint8_t> sampling_memory(Generator::required_bytes(n_vocab, vocabulary ? vocabulary->max_token_bytes() : 0, generator_options));
    Arena sampling_arena(sampling_memory.data(), sampling_memory.size());
    Generator generator;
    if (!(st = generator.init(language_model, vocabulary, opt.sampling, sampling_arena, generator_options))) die(st, "bad sampling options");
    // Speculative decoding: drafts from a second model, from the text so far, or from the model's own guesses.
    ModelSource draft_source;
    ModelInstance draft_instance;
    std::vector<uint8_t> drafter_memory(drafting ? std::max({ModelDrafter::required_bytes(n_ctx, n_vocab), LookupDrafter::required_bytes(n_ctx),
                                                             LookaheadDrafter::required_bytes(opt.lookahead[0], opt.lookahead[1])})
                                                 : 0);
    Arena drafter_arena(drafter_memory.data(), drafter_memory.size());
    ModelDrafter model_drafter;
    LookupDrafter lookup_drafter;
    LookaheadDrafter lookahead_drafter;
    if (!opt.draft_model.empty()) {
        if (!(st = draft_source.open_file(opt.draft_model, ""))) die(st, "cannot load the draft model '" + opt.draft_model + "'");
        if (draft_source.n_vocab() != n_vocab)
            die("the draft model has " + std::to_string(draft_source.n_vocab()) + " tokens, the model " + std::to_string(n_vocab) + " (drafts need the same vocabulary)");
        if (!(st = draft_instance.init(draft_source, draft_source.is_pte() ? 0 : std::min(n_ctx, draft_source.n_ctx_max()), 64)))
            die(st, "cannot run the draft model '" + opt.draft_model + "'");
        if (!(st = model_drafter.init(draft_instance.model(), n_ctx, 0.75f, drafter_arena))) die(st, "draft model");
        st = generator.set_drafter(&model_drafter);
    } else if (opt.lookup_ngram) {
        if (!(st = lookup_drafter.init(n_ctx, opt.lookup_ngram, drafter_arena))) die(st, "--lookup");
        st = generator.set_drafter(&lookup_drafter);
    } else if (lookahead_nodes) {
        if (source.is_pte()) die("--lookahead evaluates token trees, which a .pte program cannot: use a GGUF model, or --lookup");
        if (!(st = lookahead_drafter.init(opt.lookahead[0], opt.lookahead[1], opt.lookahead[2], drafter_arena))) die(st, "--lookahead");
        st = generator.set_drafter(&lookahead_drafter);
    }
    if (!st) die(st, "drafting");
    std::vector<StrView> stop;
    for (const std::string& s : opt.stop) stop.push_back(StrView(s.data(), s.size()));
    std::fprintf(stderr, "model: %s\n", summary.c_str());
    if (opt.chat) return run_chat(opt, tmpl, generator, stop, tokenizer);

    // Prompt: all rows of logits when dumping them, else just the last.
    const bool dump = !opt.dump_logits.empty();
    std::vector<float> logits(dump ? size_t(n_vocab) * prompt.size() : 0);
    if (!(st = generator.prompt(prompt.data(), int(prompt.size()), dump ? logits.data() : nullptr))) die(st, "prompt failed");
    if (dump) {
        dump_file.write(reinterpret_cast<const char*>(logits.data()), std::streamsize(logits.size() * sizeof(float)));
        if (!dump_file.flush()) die("cannot write '" + opt.dump_logits + "'");
    }
    if (!opt.print_ids && have_tokenizer && opt.have_prompt_text) {
        std::fputs(opt.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    Output gen = generate(generator, stop, opt.n_predict, !opt.print_ids && have_tokenizer, opt.ignore_eos);
    if (opt.print_ids) {
        for (size_t i = 0; i < gen.ids.size(); ++i) std::printf(i ? ",%d" : "%d", gen.ids[i]);
    }
    std::printf("\n");
    std::fflush(stdout);

    const GenerationStats& stats = generator.stats();
    const double prompt_s = double(stats.prompt_ns) * 1e-9, gen_s = double(stats.generation_ns - stats.first_token_ns) * 1e-9;
    const double gen_rate = stats.n_generated > 1 && gen_s > 0 ? double(stats.n_generated - 1) / gen_s : 0.0;
    std::fprintf(stderr,
                 "\nprompt tokens: %d | prompt: %.1f tok/s | generation: %d tokens, %.1f tok/s | "
                 "time to first token: %.1f ms | stop: %s | peak memory: %.1f MiB\n",
                 stats.n_prompt, double(stats.n_prompt) / prompt_s, stats.n_generated, gen_rate,
                 double(stats.prompt_ns + stats.first_token_ns) * 1e-6, stop_reason_name(stats.reason), peak_rss_mib());
    if (drafting)
        std::fprintf(stderr, "drafts: %d checked in %d steps, %d taken (%.0f%%)\n", stats.n_drafted, stats.n_draft_steps, stats.n_drafts_taken,
                     stats.n_drafted ? 100.0 * stats.n_drafts_taken / stats.n_drafted : 0.0);
    return 0;
}
