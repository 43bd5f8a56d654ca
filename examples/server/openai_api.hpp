// The OpenAI request and response shapes: a /v1/completions or /v1/chat/completions body
// checked field by field into a Job (every problem a 4xx naming the field), and the replies,
// whole or as server-sent-event chunks, built from what the Job produced.
#pragma once
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler.hpp"
#include "tinyllm/text/chat_template.hpp"

namespace tinyllm::server {

using json = nlohmann::json;

struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
};

inline json error_body(const ApiError& e) {
    return json{{"error", {{"code", e.status}, {"message", e.message}, {"type", e.type}}}};
}

// Model text may hold bytes that are not UTF-8 (a token can be half a character): replaced, never thrown on.
inline std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// What the endpoints need to know about the model.
struct ModelInfo {
    std::string name;
    const Tokenizer* tokenizer = nullptr;
    ChatTemplate chat_template = ChatTemplate::chatml;
    int n_ctx = 0, n_vocab = 0;
};

struct CompletionRequest {
    std::shared_ptr<Job> job = std::make_shared<Job>();
    bool chat = false, stream = false, timings = false, return_tokens = false;
    std::string id;
    int64_t created = 0;
};

namespace detail {

// Fields whose meaning tinyllm does not provide: refused rather than silently ignored, unless
// they carry their neutral value (clients send those by default).
inline const char* const unsupported_fields[] = {"tools", "tool_choice", "functions", "function_call", "suffix", "echo",
                                                 "response_format", "logit_bias", "grammar", "json_schema"};

inline bool neutral(const json& v) {
    return v.is_null() || v == false || ((v.is_array() || v.is_object() || v.is_string()) && v.empty()) || v == "none" ||
           v == "auto" || v == json{{"type", "text"}};
}

inline bool number_in(const json& v, double lo, double hi) { return v.is_number() && v.get<double>() >= lo && v.get<double>() <= hi; }

// A field given a value (null counts as not given, as in OpenAI's API).
inline bool has(const json& body, const char* name) { return body.contains(name) && !body[name].is_null(); }

} // namespace detail

// Checks and converts a request body; the prompt is tokenized here, so its length is known.
inline bool parse_completion(const json& body, bool chat, const ModelInfo& model, CompletionRequest& out, ApiError& err) {
    auto bad = [&](std::string message) {
        err = ApiError{400, std::move(message)};
        return false;
    };
    if (!body.is_object()) return bad("the request body must be a JSON object");
    using detail::has;
    for (const char* field : detail::unsupported_fields)
        if (body.contains(field) && !detail::neutral(body[field])) return bad(std::string("'") + field + "' is not supported");
    Job& job = *out.job;
    out.chat = chat;

    // Sampling: llama.cpp's defaults, OpenAI's names.
    SamplerConfig& s = job.sampling;
    s.temperature = 1.0f;
    s.seed = uint64_t(std::random_device{}()) << 32 | std::random_device{}();
    if (has(body, "temperature")) {
        if (!detail::number_in(body["temperature"], 0.0, 100.0)) return bad("'temperature' must be a number from 0 to 100");
        s.temperature = body["temperature"].get<float>();
    }
    if (has(body, "top_p")) {
        if (!detail::number_in(body["top_p"], 0.0, 1.0) || body["top_p"].get<double>() == 0.0)
            return bad("'top_p' must be a number in (0, 1]");
        s.top_p = body["top_p"].get<float>();
    }
    if (has(body, "top_k")) {
        if (!body["top_k"].is_number_integer() || body["top_k"].get<int64_t>() < 0) return bad("'top_k' must be an integer >= 0");
        s.top_k = int(std::min<int64_t>(body["top_k"].get<int64_t>(), model.n_vocab));
    }
    if (has(body, "min_p")) {
        if (!detail::number_in(body["min_p"], 0.0, 1.0)) return bad("'min_p' must be a number in [0, 1]");
        s.min_p = body["min_p"].get<float>();
    }
    for (const char* name : {"presence_penalty", "frequency_penalty"})
        if (has(body, name)) {
            if (!detail::number_in(body[name], -2.0, 2.0)) return bad(std::string("'") + name + "' must be a number from -2 to 2");
            (name[0] == 'p' ? s.presence_penalty : s.frequency_penalty) = body[name].get<float>();
        }
    if (has(body, "seed")) {
        if (!body["seed"].is_number_integer()) return bad("'seed' must be an integer");
        s.seed = uint64_t(body["seed"].get<int64_t>());
    }
    // OpenAI's defaults: the rest of the context for chat, 16 for completions; -1 (llama.cpp's
    // web page sends it) is the rest of the context too.
    const char* max_name = has(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    job.max_tokens = chat ? model.n_ctx : 16;
    if (has(body, max_name)) {
        const json& v = body[max_name];
        if (!v.is_number_integer() || (v.get<int64_t>() < 1 && v.get<int64_t>() != -1))
            return bad(std::string("'") + max_name + "' must be an integer >= 1 (or -1: the rest of the context)");
        job.max_tokens = v.get<int64_t>() == -1 ? model.n_ctx : int(std::min<int64_t>(v.get<int64_t>(), model.n_ctx));
    }
    if (has(body, "n") && !(body["n"].is_number_integer() && body["n"].get<int64_t>() == 1)) return bad("'n' must be 1");
    if (has(body, "best_of") && !(body["best_of"].is_number_integer() && body["best_of"].get<int64_t>() == 1))
        return bad("'best_of' must be 1");
    auto flag = [&](const char* name, bool& value) {
        if (!has(body, name)) return true;
        if (!body[name].is_boolean()) return bad(std::string("'") + name + "' must be true or false");
        value = body[name].get<bool>();
        return true;
    };
    if (!flag("stream", out.stream) || !flag("ignore_eos", job.ignore_eos) || !flag("timings_per_token", out.timings) ||
        !flag("return_tokens", out.return_tokens))
        return false;

    if (has(body, "stop")) {
        const json& v = body["stop"];
        std::vector<json> stops = v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v};
        if (int(stops.size()) > Scheduler::max_stops) return bad("at most " + std::to_string(Scheduler::max_stops) + " stop strings");
        for (const json& one : stops) {
            if (!one.is_string() || one.get<std::string>().empty() || one.get<std::string>().size() > Scheduler::max_stop_bytes)
                return bad("'stop' must be a string or an array of strings of 1 to " + std::to_string(Scheduler::max_stop_bytes) + " bytes");
            job.stop.push_back(one.get<std::string>());
        }
    }

    // Log-probabilities: completions take a count; chat takes a flag and top_logprobs.
    if (chat) {
        bool logprobs = false;
        if (!flag("logprobs", logprobs)) return false;
        if (logprobs) job.top_logprobs = 0;
        if (has(body, "top_logprobs") && !body["top_logprobs"].is_null()) {
            if (!body["top_logprobs"].is_number_integer() || !detail::number_in(body["top_logprobs"], 0, 20))
                return bad("'top_logprobs' must be an integer from 0 to 20");
            if (job.top_logprobs < 0) return bad("'top_logprobs' needs 'logprobs': true");
            job.top_logprobs = body["top_logprobs"].get<int>();
        }
    } else if (has(body, "logprobs")) {
        if (!body["logprobs"].is_number_integer() || !detail::number_in(body["logprobs"], 0, 20))
            return bad("'logprobs' must be an integer from 0 to 20");
        job.top_logprobs = body["logprobs"].get<int>();
    }

    const Tokenizer& tok = *model.tokenizer;
    if (chat) {
        if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
            return bad("'messages' must be a non-empty array");
        std::vector<ChatMessage> messages;
        for (const json& m : body["messages"]) {
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) return bad("each message needs a 'role' string");
            const std::string role = m["role"].get<std::string>();
            if (role != "system" && role != "user" && role != "assistant" && role != "developer")
                return bad("message role '" + role + "' is not system, user or assistant");
            std::string content;
            const json& c = m.contains("content") ? m["content"] : json();
            if (c.is_string()) {
                content = c.get<std::string>();
            } else if (c.is_array()) {  // content parts: text only
                for (const json& part : c) {
                    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
                        !part["text"].is_string())
                        return bad("message content parts must be {\"type\": \"text\", \"text\": ...}");
                    content += part["text"].get<std::string>();
                }
            } else {
                return bad("each message needs 'content': a string or an array of text parts");
            }
            messages.push_back({role == "developer" ? "system" : role, content});
        }
        job.prompt = tok.encode(format_chat(model.chat_template, messages, true), true, true);
    } else {
        if (!body.contains("prompt")) return bad("'prompt' is required");
        const json& p = body["prompt"];
        if (p.is_string() || (p.is_array() && p.size() == 1 && p[0].is_string())) {
            job.prompt = tok.encode(p.is_string() ? p.get<std::string>() : p[0].get<std::string>(), true, true);
        } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
            for (const json& id : p) {
                if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= model.n_vocab)
                    return bad("prompt token ids must be integers from 0 to " + std::to_string(model.n_vocab - 1));
                job.prompt.push_back(int32_t(id.get<int64_t>()));
            }
        } else {
            return bad("'prompt' must be a string or an array of token ids (one prompt per request)");
        }
    }
    if (job.prompt.empty()) return bad("the prompt is empty");
    if (int(job.prompt.size()) > model.n_ctx)
        return bad("the prompt has " + std::to_string(job.prompt.size()) + " tokens; the context holds " + std::to_string(model.n_ctx));
    Status st = Sampler::check(s);
    if (!st) return bad(std::string("sampling settings: ") + st.detail);
    out.created = int64_t(std::time(nullptr));
    return true;
}

// A token's text as bytes (its piece), for log-probabilities.
inline std::string token_text(const ModelInfo& model, int32_t id) { return model.tokenizer->token_piece(id); }

inline json logprobs_chat(const ModelInfo& model, const std::vector<Piece>& pieces) {
    json content = json::array();
    for (const Piece& p : pieces) {
        if (p.id < 0) continue;
        auto entry = [&](int32_t id, float lp) {
            const std::string t = token_text(model, id);
            std::vector<int> bytes;
            for (unsigned char b : t) bytes.push_back(b);
            return json{{"token", t}, {"logprob", lp}, {"bytes", bytes}};
        };
        json e = entry(p.id, p.logprob);
        e["top_logprobs"] = json::array();
        for (const TokenLogprob& t : p.top) e["top_logprobs"].push_back(entry(t.id, t.logprob));
        content.push_back(e);
    }
    return json{{"content", content}};
}

inline json logprobs_completion(const ModelInfo& model, const std::vector<Piece>& pieces, size_t text_offset) {
    json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    for (const Piece& p : pieces) {
        if (p.id < 0) continue;
        const std::string t = token_text(model, p.id);
        tokens.push_back(t);
        lps.push_back(p.logprob);
        json top = json::object();
        for (const TokenLogprob& alt : p.top) top[token_text(model, alt.id)] = alt.logprob;
        tops.push_back(top);
        offsets.push_back(text_offset);
        text_offset += t.size();
    }
    return json{{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

inline json usage(const Job& job) {
    const int n_prompt = int(job.prompt.size());
    return json{{"prompt_tokens", n_prompt}, {"completion_tokens", job.n_generated}, {"total_tokens", n_prompt + job.n_generated}};
}

// One choice with the text (and ids, log-probabilities) of these pieces.
inline json choice(const CompletionRequest& r, const ModelInfo& model, const std::vector<Piece>& pieces, bool delta,
                   const json& finish_reason, bool first_chunk) {
    std::string text;
    std::vector<int32_t> ids;
    for (const Piece& p : pieces) {
        text += p.text;
        if (p.id >= 0) ids.push_back(p.id);
    }
    json c = {{"index", 0}, {"finish_reason", finish_reason}};
    if (r.chat) {
        json message = {{"content", text}};
        if (!delta || first_chunk) message["role"] = "assistant";
        c[delta ? "delta" : "message"] = message;
    } else {
        c["text"] = text;
    }
    const Job& job = *r.job;
    if (job.top_logprobs < 0) c["logprobs"] = nullptr;
    else c["logprobs"] = r.chat ? logprobs_chat(model, pieces) : logprobs_completion(model, pieces, 0);
    if (r.return_tokens) c["tokens"] = ids;
    return c;
}

inline json response(const CompletionRequest& r, const ModelInfo& model, const std::vector<Piece>& pieces, bool chunk,
                     const json& finish_reason, bool first_chunk = false) {
    json j = {{"id", r.id},
              {"object", r.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
              {"created", r.created},
              {"model", model.name},
              {"choices", json::array({choice(r, model, pieces, chunk, finish_reason, first_chunk)})}};
    if (chunk && r.timings && !pieces.empty()) j["timings"] = {{"sampled_unix_us", pieces.back().sampled_unix_us}};
    return j;
}

} // namespace tinyllm::server
