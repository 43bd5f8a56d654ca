// tinyllm-server: an OpenAI-compatible HTTP server with continuous batching and a chat page.
//
//   tinyllm-server -m MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [-c CTX] [-t THREADS]
//                  [-b BATCH] [--queue N] [--api-key KEY] [--chat-template NAME] [--tokenizer FILE.gguf]
//                  [--lookup N [--draft-max K]]
//
// GET / (chat page), /health, /v1/models, /metrics; POST /v1/completions,
// /v1/chat/completions (stream: true for server-sent events), /tokenize, /detokenize.
// -c is the context of each of the --parallel sequences. --port 0 takes any free port; the
// address is printed as "listening on http://HOST:PORT". SIGINT/SIGTERM: stop accepting,
// end what is running (streams get an error event and [DONE]), exit 0. --lookup N: speculative
// decoding by prompt lookup (n-grams up to N, up to K drafted tokens per slot and step, default
// 3), for a GGUF model; replies stay what they are without it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <httplib.h>

#include "chat_page.hpp"
#include "model_backend.hpp"
#include "openai_api.hpp"
#include "scheduler.hpp"
#include "tinyllm/core/parallel.hpp"

using namespace tinyllm;
using namespace tinyllm::server;

namespace {

struct Options {
    BackendOptions backend;
    DraftOptions drafting;
    std::string host = "127.0.0.1", api_key, chat_template;
    int port = 8080, threads = 0, queue = 0;
};

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "tinyllm-server: %s\n", msg.c_str());
    std::exit(1);
}

void die(const Status& st, const std::string& context) {
    die(context + ": " + error_name(st.code) + (st.detail[0] ? std::string(" (") + st.detail + ")" : ""));
}

long parse_int(const std::string& flag, const char* v, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi)
        die(std::string("bad value '") + v + "' for " + flag + " (expected an integer in " + std::to_string(lo) + ".." +
            std::to_string(hi) + ")");
    return n;
}

Options parse_args(int argc, char** argv) {
    Options o;
    bool draft_max_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die("missing value for " + a);
            return argv[++i];
        };
        if (a == "-m" || a == "--model") o.backend.model = value();
        else if (a == "--host") o.host = value();
        else if (a == "--port") o.port = int(parse_int(a, value(), 0, 65535));
        else if (a == "--parallel" || a == "-np") o.backend.n_parallel = int(parse_int(a, value(), 1, Session::max_sequences));
        else if (a == "-c" || a == "--ctx-size") o.backend.n_ctx = int(parse_int(a, value(), 1, 1 << 24));
        else if (a == "-t" || a == "--threads") o.threads = int(parse_int(a, value(), 1, 1024));
        else if (a == "-b" || a == "--batch-size") o.backend.n_batch = int(parse_int(a, value(), 1, 1 << 16));
        else if (a == "--queue") o.queue = int(parse_int(a, value(), 0, 1024));
        else if (a == "--api-key") o.api_key = value();
        else if (a == "--chat-template") o.chat_template = value();
        else if (a == "--tokenizer") o.backend.tokenizer = value();
        else if (a == "--lookup") o.drafting.lookup_ngram = int(parse_int(a, value(), 2, 64));
        else if (a == "--draft-max") o.drafting.max_draft = int(parse_int(a, value(), 1, 64)), draft_max_given = true;
        else if (a == "-h" || a == "--help") {
            std::printf("usage: tinyllm-server -m MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [-c CTX] [-t THREADS]\n"
                        "                      [-b BATCH] [--queue N] [--api-key KEY] [--chat-template NAME] [--tokenizer FILE.gguf]\n"
                        "                      [--lookup N [--draft-max K]]\n");
            std::exit(0);
        } else die("unknown option '" + a + "' (see --help)");
    }
    if (o.backend.model.empty()) die("no model: give -m MODEL");
    if (draft_max_given && !o.drafting.lookup_ngram) die("--draft-max limits the drafts of --lookup, which is not given");
    if (o.api_key.empty() && std::getenv("TINYLLM_API_KEY")) o.api_key = std::getenv("TINYLLM_API_KEY");
    return o;
}

// The template named, else the one the vocabulary's tokenizer.chat_template describes, else
// chatml (as llama.cpp falls back to).
ChatTemplate choose_chat_template(const Options& o, const gguf::File& vocab) {
    ChatTemplate t = ChatTemplate::chatml;
    if (!o.chat_template.empty()) {
        const Status st = chat_template_from_name(o.chat_template, t);
        if (!st) die(st, "--chat-template");
    } else if (Result<StrView> jinja = vocab.get_string("tokenizer.chat_template")) {
        if (!detect_chat_template(std::string(jinja->data(), jinja->size()), t))
            std::fprintf(stderr, "tinyllm-server: the model's chat template is not one tinyllm knows; chat uses chatml "
                                 "(choose with --chat-template)\n");
    }
    return t;
}

std::string file_name(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

int main(int argc, char** argv) {
    const Options opt = parse_args(argc, argv);
    // Signals go to one thread that stops the server; every other thread has them blocked.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    if (opt.threads) set_thread_count(opt.threads);
    ModelBackend backend;
    Status st = backend.open(opt.backend);
    if (!st) die(st, "cannot load '" + opt.backend.model + "'");
    if (opt.drafting.lookup_ngram && backend.is_pte())
        die("--lookup needs a GGUF model: behind the server a .pte program returns only the last token's logits");
    ModelInfo model;
    model.name = file_name(opt.backend.model);
    model.tokenizer = &backend.tokenizer();
    model.chat_template = choose_chat_template(opt, backend.vocabulary_file());
    model.n_ctx = backend.n_ctx();
    model.n_vocab = backend.n_vocab();

    const int queue_limit = opt.queue ? opt.queue : 4 * backend.n_slots();
    Scheduler scheduler(backend, queue_limit, opt.drafting);
    std::atomic<uint64_t> next_id{1}, client_errors{0};

    httplib::Server http;
    // A thread per open connection: every slot and queued request, plus a few for health checks
    // and metrics while all of them stream. Idle keep-alive connections give theirs back soon.
    const size_t connections = size_t(backend.n_slots() + queue_limit + 4);
    http.new_task_queue = [connections] { return new httplib::ThreadPool(connections); };
    http.set_payload_max_length(4 << 20);
    http.set_keep_alive_max_count(100);
    http.set_keep_alive_timeout(2);
    std::atomic<int> open_streams{0};

    auto send_error = [&](httplib::Response& res, const ApiError& e) {
        if (e.status < 500) ++client_errors;
        res.status = e.status;
        res.set_content(dump(error_body(e)), "application/json");
    };
    http.set_error_handler([&](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        const char* type = res.status == 404 ? "not_found_error" : res.status == 413 ? "request_too_large" : "invalid_request_error";
        std::string message = res.status == 404 ? "no such endpoint"
                              : res.status == 413 ? "the request body is larger than 4 MiB"
                                                  : std::string("HTTP ") + std::to_string(res.status);
        send_error(res, ApiError{res.status, message, type});
    });
    http.set_exception_handler([&](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        send_error(res, ApiError{500, what, "server_error"});
    });
    if (!opt.api_key.empty()) {
        const std::string expected = "Bearer " + opt.api_key;
        http.set_pre_routing_handler([&, expected](const httplib::Request& req, httplib::Response& res) {
            if (req.path == "/" || req.path == "/health" || req.get_header_value("Authorization") == expected)
                return httplib::Server::HandlerResponse::Unhandled;
            send_error(res, ApiError{401, "invalid or missing API key (Authorization: Bearer KEY)", "authentication_error"});
            return httplib::Server::HandlerResponse::Handled;
        });
    }

    http.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(chat_page_html, "text/html; charset=utf-8"); });
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("{\"status\":\"ok\"}", "application/json"); });
    http.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
        const json body = {{"object", "list"},
                           {"data", json::array({{{"id", model.name},
                                                  {"object", "model"},
                                                  {"created", 0},
                                                  {"owned_by", "tinyllm"},
                                                  {"meta", {{"n_ctx", model.n_ctx}, {"n_vocab", model.n_vocab}, {"parallel", backend.n_slots()}}}}})}};
        res.set_content(dump(body), "application/json");
    });
    http.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        const Metrics& m = scheduler.metrics;
        const double busy_s = double(m.busy_us.load()) * 1e-6;
        std::string text;
        auto metric = [&](const char* name, const char* type, const char* help, double value) {
            text += std::string("# HELP tinyllm_") + name + " " + help + "\n# TYPE tinyllm_" + name + " " + type + "\ntinyllm_" + name + " ";
            char number[32];
            std::snprintf(number, sizeof number, "%.17g\n", value);
            text += number;
        };
        metric("requests_total", "counter", "Completion requests accepted.", double(m.requests.load()));
        metric("requests_rejected_total", "counter", "Completion requests refused because the queue was full (503).", double(m.rejected.load()));
        metric("client_errors_total", "counter", "Requests answered with a 4xx error.", double(client_errors.load()));
        metric("prompt_tokens_total", "counter", "Prompt tokens evaluated.", double(m.prompt_tokens.load()));
        metric("generated_tokens_total", "counter", "Tokens generated.", double(m.generated_tokens.load()));
        metric("decode_steps_total", "counter", "Forward passes run.", double(m.steps.load()));
        metric("drafted_tokens_total", "counter", "Tokens drafted by --lookup and checked.", double(m.drafted_tokens.load()));
        metric("drafted_tokens_taken_total", "counter", "Drafted tokens the replies took.", double(m.drafts_taken.load()));
        metric("queue_depth", "gauge", "Requests waiting for a slot.", double(m.queued.load()));
        metric("active_slots", "gauge", "Slots holding a request.", double(m.active.load()));
        metric("slots", "gauge", "Sequences the model runs at once.", double(backend.n_slots()));
        metric("generated_tokens_per_second", "gauge", "Tokens generated per second of model time.",
               busy_s > 0 ? double(m.generated_tokens.load()) / busy_s : 0.0);
        res.set_content(text, "text/plain; version=0.0.4");
    });

    auto parse_body = [&](const httplib::Request& req, httplib::Response& res, json& body) {
        body = json::parse(req.body, nullptr, false);
        if (!body.is_discarded()) return true;
        send_error(res, ApiError{400, "the request body is not valid JSON"});
        return false;
    };

    auto completions = [&](bool chat) {
        return [&, chat](const httplib::Request& req, httplib::Response& res) {
            json body;
            if (!parse_body(req, res, body)) return;
            CompletionRequest r;
            ApiError err;
            if (!parse_completion(body, chat, model, r, err)) return send_error(res, err);
            r.id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
            if (!scheduler.submit(r.job))
                return send_error(res, ApiError{503, "the server is busy: " + std::to_string(queue_limit) + " requests are already waiting",
                                                "unavailable_error"});
            Job& job = *r.job;
            const ApiError stopping{503, "the server is shutting down", "unavailable_error"};
            if (!r.stream) {
                std::unique_lock<std::mutex> lock(job.mutex);
                job.changed.wait(lock, [&] { return job.finished; });
                if (!job.error.empty()) return send_error(res, ApiError{500, job.error, "server_error"});
                if (job.finish_reason.empty()) return send_error(res, stopping);
                const std::vector<Piece> pieces(job.pieces.begin(), job.pieces.end());
                json j = response(r, model, pieces, false, job.finish_reason);
                j["usage"] = usage(job);
                return res.set_content(dump(j), "application/json");
            }
            auto first = std::make_shared<bool>(true);
            res.set_header("Cache-Control", "no-cache");
            ++open_streams;
            res.set_chunked_content_provider(
                "text/event-stream",
                [&, r, first, stopping](size_t, httplib::DataSink& sink) {
                    Job& job = *r.job;
                    std::vector<Piece> pieces;
                    bool finished;
                    {
                        std::unique_lock<std::mutex> lock(job.mutex);
                        job.changed.wait_for(lock, std::chrono::milliseconds(50), [&] { return !job.pieces.empty() || job.finished; });
                        pieces.assign(std::make_move_iterator(job.pieces.begin()), std::make_move_iterator(job.pieces.end()));
                        job.pieces.clear();
                        finished = job.finished;
                    }
                    auto send = [&](const std::string& data) {
                        const std::string event = "data: " + data + "\n\n";
                        return sink.write(event.data(), event.size());
                    };
                    for (Piece& p : pieces) {
                        if (!send(dump(response(r, model, {p}, true, nullptr, *first)))) return false;
                        *first = false;
                    }
                    if (!finished) return sink.is_writable();
                    if (!job.error.empty()) {
                        send(dump(error_body(ApiError{500, job.error, "server_error"})));
                    } else if (job.finish_reason.empty()) {
                        send(dump(error_body(stopping)));
                    } else {
                        json last = response(r, model, {}, true, job.finish_reason, *first);
                        last["usage"] = usage(job);
                        if (!send(dump(last))) return false;
                    }
                    send("[DONE]");
                    sink.done();
                    return true;
                },
                // Whether the stream ended or the client left, the request stops taking a slot.
                [&, job = r.job](bool) {
                    scheduler.cancel(job);
                    --open_streams;
                });
        };
    };
    for (const char* prefix : {"/v1", ""}) {
        http.Post(std::string(prefix) + "/completions", completions(false));
        http.Post(std::string(prefix) + "/chat/completions", completions(true));
    }

    http.Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!parse_body(req, res, body)) return;
        if (!body.is_object() || !body.contains("content") || !body["content"].is_string())
            return send_error(res, ApiError{400, "'content' must be a string"});
        for (const char* flag : {"add_special", "parse_special"})
            if (body.contains(flag) && !body[flag].is_boolean()) return send_error(res, ApiError{400, std::string("'") + flag + "' must be true or false"});
        const std::vector<int32_t> ids =
            backend.tokenizer().encode(body["content"].get<std::string>(), body.value("add_special", false), body.value("parse_special", true));
        res.set_content(dump(json{{"tokens", ids}}), "application/json");
    });
    http.Post("/detokenize", [&](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!parse_body(req, res, body)) return;
        if (!body.is_object() || !body.contains("tokens") || !body["tokens"].is_array())
            return send_error(res, ApiError{400, "'tokens' must be an array of token ids"});
        std::string text;
        StreamDecoder decoder(backend.tokenizer());
        for (const json& id : body["tokens"]) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= model.n_vocab)
                return send_error(res, ApiError{400, "token ids must be integers from 0 to " + std::to_string(model.n_vocab - 1)});
            text += decoder.push(int32_t(id.get<int64_t>()));
        }
        text += decoder.flush();
        res.set_content(dump(json{{"content", text}}), "application/json");
    });

    // Stopping: the requests end first (streams send their last event while the server still
    // writes), then the server stops accepting; a signal before it listens waits until it does.
    std::atomic<bool> listening_ended{false};
    std::thread signal_thread([&] {
        int received = 0;
        sigwait(&signals, &received);
        std::fprintf(stderr, "tinyllm-server: %s: stopping\n", received == SIGINT ? "SIGINT" : "SIGTERM");
        scheduler.shutdown();
        for (int i = 0; i < 200 && open_streams > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        while (!listening_ended) {
            if (http.is_running()) http.stop();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });

    const int port = opt.port ? (http.bind_to_port(opt.host, opt.port) ? opt.port : -1) : http.bind_to_any_port(opt.host);
    if (port < 0) {
        std::fprintf(stderr, "tinyllm-server: cannot listen on %s:%d\n", opt.host.c_str(), opt.port);
        std::_Exit(1);
    }
    std::fprintf(stderr, "tinyllm-server: %s | %d slots x %d tokens of context | listening on http://%s:%d\n", model.name.c_str(),
                 backend.n_slots(), backend.n_ctx(), opt.host.c_str(), port);
    const bool clean = http.listen_after_bind();
    listening_ended = true;
    if (!clean) kill(getpid(), SIGTERM);  // wakes the signal thread, which is the only one waiting for it
    signal_thread.join();
    if (!clean) std::fprintf(stderr, "tinyllm-server: the listening socket failed\n");
    return clean ? 0 : 1;
}
