// The C API (tinyllm.h) over the C++ library: compiled once, into libtinyllm or into the one
// C++ file of an application's build that includes this header. Every function checks its pointers and
// arguments, turns a failed Status into its code and this thread's last error message, and
// lets no C++ exception cross into C.
#pragma once
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "tinyllm.h"
#include "tinyllm/core/parallel.hpp"
#include "tinyllm/generation/draft_model.hpp"
#include "tinyllm/generation/lookahead.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/loaders/host/model_source.hpp"
#include "tinyllm/text/chat_template.hpp"

static_assert(int(tinyllm::Error::corrupt) == TINYLLM_ERR_CORRUPT && int(tinyllm::Error::io_error) == TINYLLM_ERR_IO &&
                  int(tinyllm::Error::truncated) == TINYLLM_ERR_TRUNCATED,
              "tinyllm_status mirrors tinyllm::Error");
static_assert(int(tinyllm::StopReason::context_full) == TINYLLM_STOP_CONTEXT_FULL && int(tinyllm::StopReason::callback) == TINYLLM_STOP_CALLER,
              "tinyllm_stop_reason mirrors tinyllm::StopReason");
static_assert(sizeof(tinyllm_token) == sizeof(int32_t), "token ids are 32-bit");

struct tinyllm_model {
    tinyllm::ModelSource source;
};

struct tinyllm_context {
    tinyllm_model* model = nullptr;
    tinyllm::ModelInstance instance;
    // Speculative decoding: the draft model's own instance, prompt lookup, or lookahead.
    tinyllm::ModelInstance draft_instance;
    std::vector<uint8_t> drafter_memory;
    tinyllm::ModelDrafter model_drafter;
    tinyllm::LookupDrafter lookup_drafter;
    tinyllm::LookaheadDrafter lookahead_drafter;
    std::vector<uint8_t> generator_memory;
    tinyllm::Generator generator;
    std::vector<int32_t> tokens;  // the conversation: what the cache holds, then a pending sampled token
    int n_threads = 0;
    std::vector<std::string> stop;
    std::vector<tinyllm::StrView> stop_views;
    const volatile int* abort = nullptr;
};

namespace tinyllm::c_api {

// Stop strings up to this long; a longer one is refused by name.
constexpr size_t max_stop_bytes = 256;

inline std::string& last_error() {
    static thread_local std::string message;
    return message;
}

inline tinyllm_status fail(const Status& st) {
    last_error() = std::string(error_name(st.code)) + (st.detail[0] ? std::string(": ") + st.detail : std::string());
    return tinyllm_status(st.code);
}

template <class... Pieces>
tinyllm_status fail(Error code, const Pieces&... pieces) {
    return fail(Status::fail(code, pieces...));
}

inline tinyllm_status ok_or(const Status& st) { return st ? TINYLLM_OK : fail(st); }

// Runs a body that may allocate; memory running out is an error code, not an exception in C.
template <class Body>
tinyllm_status guarded(Body&& body) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return fail(Error::out_of_memory, "the host ran out of memory");
    } catch (...) {
        return fail(Error::corrupt, "an unexpected internal error");
    }
#else
    return body();
#endif
}

inline SamplerConfig sampler_config(const tinyllm_sampling& s) {
    SamplerConfig c;
    c.temperature = s.temperature;
    c.top_k = s.top_k;
    c.top_p = s.top_p;
    c.min_p = s.min_p;
    c.typical_p = s.typical_p;
    c.repeat_penalty = s.repeat_penalty;
    c.frequency_penalty = s.frequency_penalty;
    c.presence_penalty = s.presence_penalty;
    c.penalty_last_n = s.penalty_last_n;
    c.seed = uint64_t(s.seed);
    return c;
}

// Copies `bytes` out as the header promises: all of it, or the size needed.
inline tinyllm_status write_text(const std::string& bytes, char* out, size_t capacity, size_t* length) {
    if (!length) return fail(Error::invalid_argument, "length is NULL");
    *length = bytes.size();
    if (bytes.size() > capacity || (!out && !bytes.empty()))
        return fail(Error::out_of_memory, "the text needs ", uint64_t(bytes.size()), " bytes; the buffer has ", uint64_t(out ? capacity : 0));
    if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
    return TINYLLM_OK;
}

inline void use_threads(const tinyllm_context* c) {
    const int n = c->n_threads > 0 ? c->n_threads : default_thread_count();
    if (thread_count() != n) set_thread_count(n);
}

// An end-of-generation token the generator holds to feed next (it gives no piece for it) joins
// the conversation's tokens as soon as it is sampled.
inline void sync_pending(tinyllm_context* c) {
    if (c->generator.n_tokens() == int(c->tokens.size()) + 1) c->tokens.push_back(c->generator.pending_token());
}

// The C API's own part of a saved state, after the generator's: the conversation's token ids,
// their count, a magic and a checksum, read from the end.
constexpr uint32_t tokens_magic = 0x4b544c54u;  // "TLTK"
constexpr size_t tokens_trailer = 16;

} // namespace tinyllm::c_api

extern "C" {

TINYLLM_API const char* tinyllm_version(void) { return "0.1.0"; }

TINYLLM_API const char* tinyllm_last_error(void) { return tinyllm::c_api::last_error().c_str(); }

TINYLLM_API const char* tinyllm_status_name(tinyllm_status status) {
    if (int(status) < 0 || int(status) > int(tinyllm::Error::corrupt)) return "unknown status";
    return tinyllm::error_name(tinyllm::Error(status));
}

TINYLLM_API tinyllm_status tinyllm_model_open(const char* path, const char* tokenizer_path, tinyllm_model** model) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!path || !model) return fail(Error::invalid_argument, !path ? "path is NULL" : "model is NULL");
    *model = nullptr;
    return guarded([&] {
        tinyllm_model* m = new tinyllm_model;
        Status st = m->source.open_file(path, tokenizer_path ? tokenizer_path : "");
        if (st && !m->source.has_vocabulary()) st = m->source.vocabulary_status();
        if (!st) {
            delete m;
            return fail(st);
        }
        *model = m;
        return TINYLLM_OK;
    });
}

TINYLLM_API tinyllm_status tinyllm_model_open_memory(const void* data, size_t size, const void* tokenizer, size_t tokenizer_size,
                                                     tinyllm_model** model) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!data || !model) return fail(Error::invalid_argument, !data ? "data is NULL" : "model is NULL");
    if (!tokenizer && tokenizer_size) return fail(Error::invalid_argument, "tokenizer is NULL with a size of ", uint64_t(tokenizer_size));
    *model = nullptr;
    return guarded([&] {
        tinyllm_model* m = new tinyllm_model;
        Status st = m->source.open_memory(ByteSpan{static_cast<const uint8_t*>(data), size},
                                          ByteSpan{static_cast<const uint8_t*>(tokenizer), tokenizer_size});
        if (st && !m->source.has_vocabulary()) st = m->source.vocabulary_status();
        if (!st) {
            delete m;
            return fail(st);
        }
        *model = m;
        return TINYLLM_OK;
    });
}

TINYLLM_API void tinyllm_model_free(tinyllm_model* model) { delete model; }

TINYLLM_API int tinyllm_model_n_vocab(const tinyllm_model* model) { return model ? model->source.n_vocab() : 0; }
TINYLLM_API int tinyllm_model_n_ctx_max(const tinyllm_model* model) { return model ? model->source.n_ctx_max() : 0; }
TINYLLM_API tinyllm_token tinyllm_model_bos(const tinyllm_model* model) { return model ? model->source.tokenizer().bos_id() : -1; }
TINYLLM_API tinyllm_token tinyllm_model_eos(const tinyllm_model* model) { return model ? model->source.vocabulary().eos_id() : -1; }
TINYLLM_API int tinyllm_model_is_eog(const tinyllm_model* model, tinyllm_token token) {
    return model && model->source.vocabulary().is_end_of_generation(token) ? 1 : 0;
}

TINYLLM_API tinyllm_status tinyllm_tokenize(const tinyllm_model* model, const char* text, size_t text_len, int add_special,
                                            int parse_special, tinyllm_token* tokens, int capacity, int* n_tokens) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!model || !n_tokens || (!text && text_len)) return fail(Error::invalid_argument, !model ? "model is NULL" : !n_tokens ? "n_tokens is NULL" : "text is NULL");
    if (capacity < 0 || (!tokens && capacity)) return fail(Error::invalid_argument, "token buffer of capacity ", capacity);
    return guarded([&] {
        const std::vector<int32_t> ids = model->source.tokenizer().encode(std::string(text ? text : "", text_len), add_special != 0, parse_special != 0);
        *n_tokens = int(ids.size());
        if (int(ids.size()) > capacity)
            return fail(Error::out_of_memory, "the text has ", uint64_t(ids.size()), " tokens; the buffer holds ", capacity);
        if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
        return TINYLLM_OK;
    });
}

TINYLLM_API tinyllm_status tinyllm_detokenize(const tinyllm_model* model, const tinyllm_token* tokens, int n_tokens, char* text,
                                              size_t capacity, size_t* length) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!model || n_tokens < 0 || (!tokens && n_tokens)) return fail(Error::invalid_argument, !model ? "model is NULL" : "tokens is NULL or n_tokens negative");
    return guarded([&] {
        const TokenText& vocabulary = model->source.vocabulary();
        std::string bytes;
        std::vector<char> piece(vocabulary.max_token_bytes() + 1);
        for (int i = 0; i < n_tokens; ++i) {
            if (tokens[i] < 0 || tokens[i] >= vocabulary.n_vocab())
                return fail(Error::token_out_of_range, "token ", tokens[i], " at index ", i, " is outside the vocabulary of ", vocabulary.n_vocab());
            bytes.append(piece.data(), vocabulary.bytes(tokens[i], piece.data(), piece.size()));
        }
        return write_text(bytes, text, capacity, length);
    });
}

TINYLLM_API tinyllm_status tinyllm_chat_apply_template(const tinyllm_model* model, const char* template_name,
                                                       const tinyllm_chat_message* messages, size_t n_messages, int add_assistant,
                                                       char* text, size_t capacity, size_t* length) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!model || (!messages && n_messages)) return fail(Error::invalid_argument, !model ? "model is NULL" : "messages is NULL");
    return guarded([&] {
        ChatTemplate chat_template = ChatTemplate::chatml;
        Status st;
        if (template_name) st = chat_template_from_name(template_name, chat_template);
        else {
            Result<StrView> jinja = model->source.vocabulary_file().get_string("tokenizer.chat_template");
            if (!jinja) return fail(Error::missing_key, "the model has no tokenizer.chat_template; name a template");
            st = detect_chat_template(std::string(jinja->data(), jinja->size()), chat_template);
        }
        if (!st) return fail(st);
        std::vector<ChatMessage> chat;
        for (size_t i = 0; i < n_messages; ++i) {
            if (!messages[i].role || !messages[i].content) return fail(Error::invalid_argument, "message ", uint64_t(i), " has a NULL role or content");
            const std::string role = messages[i].role;
            if (role != "system" && role != "user" && role != "assistant")
                return fail(Error::invalid_argument, "message ", uint64_t(i), " has role '", messages[i].role, "' (system, user or assistant)");
            chat.push_back(ChatMessage{role, messages[i].content});
        }
        return write_text(format_chat(chat_template, chat, add_assistant != 0), text, capacity, length);
    });
}

TINYLLM_API tinyllm_sampling tinyllm_sampling_default(void) {
    const tinyllm::SamplerConfig d;
    tinyllm_sampling s;
    s.temperature = d.temperature;
    s.top_k = d.top_k;
    s.top_p = d.top_p;
    s.min_p = d.min_p;
    s.typical_p = d.typical_p;
    s.repeat_penalty = d.repeat_penalty;
    s.frequency_penalty = d.frequency_penalty;
    s.presence_penalty = d.presence_penalty;
    s.penalty_last_n = d.penalty_last_n;
    s.seed = (unsigned long)d.seed;
    return s;
}

TINYLLM_API tinyllm_context_params tinyllm_context_default_params(void) {
    tinyllm_context_params p;
    p.n_ctx = 0;
    p.n_batch = 64;
    p.n_threads = 0;
    p.sampling = tinyllm_sampling_default();
    p.draft_model = NULL;
    p.lookup_ngram = 0;
    p.draft_max = 3;
    p.lookahead_window = p.lookahead_ngram = p.lookahead_verify = 0;
    return p;
}

TINYLLM_API tinyllm_status tinyllm_context_create(tinyllm_model* model, const tinyllm_context_params* params, tinyllm_context** context) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!model || !context) return fail(Error::invalid_argument, !model ? "model is NULL" : "context is NULL");
    *context = nullptr;
    const tinyllm_context_params p = params ? *params : tinyllm_context_default_params();
    if (p.sampling.seed == TINYLLM_SEED_CONTINUE) return fail(Error::invalid_argument, "a new context needs a seed to start from");
    if (p.n_threads < 0 || p.n_threads > 1024) return fail(Error::invalid_argument, "thread count ", p.n_threads, " outside 0..1024");
    Status st = Sampler::check(sampler_config(p.sampling));
    if (!st) return fail(st);
    const bool lookahead = p.lookahead_window || p.lookahead_ngram || p.lookahead_verify;
    const bool drafting = p.draft_model || p.lookup_ngram || lookahead;
    if ((p.draft_model != nullptr) + (p.lookup_ngram != 0) + lookahead > 1)
        return fail(Error::invalid_argument, "a draft model, lookup_ngram and lookahead are three ways of drafting; choose one");
    if (lookahead) {
        const int W = p.lookahead_window, N = p.lookahead_ngram, G = p.lookahead_verify;
        if (W < 1 || W > LookaheadDrafter::max_window || N < 3 || N > LookaheadDrafter::max_ngram || G < 1 || G > LookaheadDrafter::max_verify)
            return fail(Error::invalid_argument, "lookahead W,N,G = ", W, ",", N, ",", G, " (W 1..", LookaheadDrafter::max_window, ", N 3..",
                        LookaheadDrafter::max_ngram, ", G 1..", LookaheadDrafter::max_verify, ")");
        if (model->source.is_pte()) return fail(Error::unsupported_op, "lookahead evaluates token trees, which a .pte program cannot");
    }
    const int lookahead_nodes = lookahead ? LookaheadDrafter::tree_nodes(p.lookahead_window, p.lookahead_ngram, p.lookahead_verify) : 0;
    if (p.lookup_ngram && (p.lookup_ngram < 2 || p.lookup_ngram > 64)) return fail(Error::invalid_argument, "lookup_ngram ", p.lookup_ngram, " outside 2..64");
    if (drafting && !lookahead && (p.draft_max < 1 || p.draft_max > 64))
        return fail(Error::invalid_argument, "draft_max ", p.draft_max, " outside 1..64");
    if (p.draft_model && p.draft_model->source.n_vocab() != model->source.n_vocab())
        return fail(Error::shape_mismatch, "the draft model has ", p.draft_model->source.n_vocab(), " tokens, the model ", model->source.n_vocab());
    return guarded([&] {
        tinyllm_context* c = new tinyllm_context;
        c->model = model;
        c->n_threads = p.n_threads;
        // A lookahead step is one forward pass of its whole tree.
        Status s = c->instance.init(model->source, p.n_ctx, p.n_batch > lookahead_nodes ? p.n_batch : lookahead_nodes);
        if (s) {
            GeneratorOptions options;
            options.max_stop_bytes = max_stop_bytes;
            options.max_draft = lookahead ? lookahead_nodes - 1 : drafting ? p.draft_max : 0;
            const int n_vocab = c->instance.model().n_vocab();
            c->generator_memory.assign(Generator::required_bytes(n_vocab, model->source.vocabulary().max_token_bytes(), options), 0);
            Arena arena(c->generator_memory.data(), c->generator_memory.size());
            s = c->generator.init(c->instance.model(), &model->source.vocabulary(), sampler_config(p.sampling), arena, options);
        }
        if (s && drafting) {
            const int n_ctx = c->instance.model().n_ctx(), n_vocab = c->instance.model().n_vocab();
            c->drafter_memory.assign(p.draft_model ? ModelDrafter::required_bytes(n_ctx, n_vocab)
                                     : lookahead  ? LookaheadDrafter::required_bytes(p.lookahead_window, p.lookahead_ngram)
                                                  : LookupDrafter::required_bytes(n_ctx),
                                     0);
            Arena arena(c->drafter_memory.data(), c->drafter_memory.size());
            if (p.draft_model) {
                const ModelSource& draft = p.draft_model->source;
                s = c->draft_instance.init(draft, draft.is_pte() ? 0 : (n_ctx < draft.n_ctx_max() ? n_ctx : draft.n_ctx_max()), 64);
                if (s) s = c->model_drafter.init(c->draft_instance.model(), n_ctx, 0.75f, arena);
                if (s) s = c->generator.set_drafter(&c->model_drafter);
            } else if (lookahead) {
                s = c->lookahead_drafter.init(p.lookahead_window, p.lookahead_ngram, p.lookahead_verify, arena);
                if (s) s = c->generator.set_drafter(&c->lookahead_drafter);
            } else {
                s = c->lookup_drafter.init(n_ctx, p.lookup_ngram, arena);
                if (s) s = c->generator.set_drafter(&c->lookup_drafter);
            }
        }
        if (!s) {
            delete c;
            return fail(s);
        }
        *context = c;
        return TINYLLM_OK;
    });
}

TINYLLM_API void tinyllm_context_free(tinyllm_context* context) { delete context; }

TINYLLM_API int tinyllm_n_ctx(const tinyllm_context* context) { return context ? context->instance.model().n_ctx() : 0; }
TINYLLM_API int tinyllm_n_tokens(const tinyllm_context* context) { return context ? int(context->tokens.size()) : 0; }

TINYLLM_API tinyllm_status tinyllm_get_tokens(const tinyllm_context* context, tinyllm_token* tokens, int capacity, int* n_tokens) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !n_tokens || capacity < 0 || (!tokens && capacity)) return fail(Error::invalid_argument, "NULL context, count or buffer");
    *n_tokens = int(context->tokens.size());
    if (int(context->tokens.size()) > capacity)
        return fail(Error::out_of_memory, "the conversation has ", uint64_t(context->tokens.size()), " tokens; the buffer holds ", capacity);
    if (!context->tokens.empty()) std::memcpy(tokens, context->tokens.data(), context->tokens.size() * sizeof(int32_t));
    return TINYLLM_OK;
}

TINYLLM_API tinyllm_status tinyllm_set_sampling(tinyllm_context* context, const tinyllm_sampling* sampling) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !sampling) return fail(Error::invalid_argument, !context ? "context is NULL" : "sampling is NULL");
    Sampler& sampler = context->generator.sampler();
    const uint64_t position = sampler.random_state();
    Status st = sampler.configure(sampler_config(*sampling));
    if (!st) return fail(st);
    if (sampling->seed == TINYLLM_SEED_CONTINUE) sampler.set_random_state(position);
    // The penalty window looks back over the conversation, as if the settings had always held.
    const size_t n = context->tokens.size(), window = size_t(sampling->penalty_last_n);
    for (size_t i = n > window ? n - window : 0; i < n; ++i) sampler.accept(context->tokens[i]);
    return TINYLLM_OK;
}

TINYLLM_API tinyllm_status tinyllm_truncate(tinyllm_context* context, int n) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context) return fail(Error::invalid_argument, "context is NULL");
    if (n < 0 || n > int(context->tokens.size()))
        return fail(Error::invalid_argument, "cannot keep ", n, " of the conversation's ", uint64_t(context->tokens.size()), " tokens");
    if (n == int(context->tokens.size())) return TINYLLM_OK;
    Status st = context->generator.truncate(n);
    if (!st) return fail(st);
    context->tokens.resize(size_t(n));
    return TINYLLM_OK;
}

TINYLLM_API tinyllm_status tinyllm_eval(tinyllm_context* context, const tinyllm_token* tokens, int n_tokens) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !tokens || n_tokens <= 0)
        return fail(Error::invalid_argument, !context ? "context is NULL" : !tokens ? "tokens is NULL" : "nothing to evaluate");
    return guarded([&] {
        use_threads(context);
        Status st = context->generator.prompt(tokens, n_tokens);
        if (!st) return fail(st);
        context->tokens.insert(context->tokens.end(), tokens, tokens + n_tokens);
        return TINYLLM_OK;
    });
}

TINYLLM_API const float* tinyllm_get_logits(const tinyllm_context* context) { return context ? context->generator.logits() : nullptr; }

TINYLLM_API tinyllm_status tinyllm_sample(tinyllm_context* context, tinyllm_token* token) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !token) return fail(Error::invalid_argument, !context ? "context is NULL" : "token is NULL");
    const float* logits = context->generator.logits();
    if (!logits) return fail(Error::invalid_argument, "no logits to sample from: evaluate tokens first");
    *token = context->generator.sampler().sample(logits);  // it joins the penalty window when evaluated
    return TINYLLM_OK;
}

TINYLLM_API tinyllm_generate_params tinyllm_generate_default_params(void) {
    tinyllm_generate_params p;
    p.n_predict = 128;
    p.stop = nullptr;
    p.n_stop = 0;
    p.abort = nullptr;
    return p;
}

TINYLLM_API tinyllm_status tinyllm_generate_begin(tinyllm_context* context, const tinyllm_token* prompt, int n_prompt,
                                                  const tinyllm_generate_params* params) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context) return fail(Error::invalid_argument, "context is NULL");
    if (n_prompt < 0 || (!prompt && n_prompt)) return fail(Error::invalid_argument, "prompt is NULL or n_prompt negative");
    const tinyllm_generate_params p = params ? *params : tinyllm_generate_default_params();
    if (p.n_predict < 0) return fail(Error::invalid_argument, "n_predict ", p.n_predict);
    if (p.n_stop < 0 || (!p.stop && p.n_stop)) return fail(Error::invalid_argument, "stop is NULL or n_stop negative");
    for (int i = 0; i < p.n_stop; ++i) {
        if (!p.stop[i] || !p.stop[i][0]) return fail(Error::invalid_argument, "stop string ", i, " is NULL or empty");
        if (std::strlen(p.stop[i]) > max_stop_bytes)
            return fail(Error::invalid_argument, "stop string ", i, " is longer than ", uint64_t(max_stop_bytes), " bytes");
    }
    return guarded([&] {
        use_threads(context);
        Status st;
        if (n_prompt) {
            if (!(st = context->generator.prompt(prompt, n_prompt))) return fail(st);
            context->tokens.insert(context->tokens.end(), prompt, prompt + n_prompt);
        }
        context->stop.assign(p.stop, p.stop + p.n_stop);
        context->stop_views.clear();
        for (const std::string& s : context->stop) context->stop_views.push_back(StrView(s.data(), s.size()));
        context->abort = p.abort;
        GenerationRequest request;
        request.n_predict = p.n_predict;
        request.stop = context->stop_views.data();
        request.n_stop = int(context->stop_views.size());
        return ok_or(context->generator.begin(request));
    });
}

TINYLLM_API tinyllm_status tinyllm_generate_next(tinyllm_context* context, tinyllm_piece* piece, int* more) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !piece || !more) return fail(Error::invalid_argument, !context ? "context is NULL" : "piece or more is NULL");
    *more = 0;
    if (context->abort && *context->abort) context->generator.stop();
    GeneratedToken token;
    Result<bool> next = context->generator.step(token);
    if (!next) return fail(next.status);
    if (*next && token.id != GeneratedToken::no_token) context->tokens.push_back(token.id);
    sync_pending(context);
    if (!*next) return TINYLLM_OK;
    piece->id = token.id;
    piece->text = token.text;
    piece->text_len = token.text_len;
    *more = 1;
    return TINYLLM_OK;
}

TINYLLM_API tinyllm_status tinyllm_generate(tinyllm_context* context, const tinyllm_token* prompt, int n_prompt,
                                            const tinyllm_generate_params* params, tinyllm_piece_callback on_piece, void* user,
                                            tinyllm_stop_reason* reason) {
    tinyllm_status st = tinyllm_generate_begin(context, prompt, n_prompt, params);
    for (int more = 1; st == TINYLLM_OK;) {
        tinyllm_piece piece;
        if ((st = tinyllm_generate_next(context, &piece, &more)) != TINYLLM_OK || !more) break;
        if (on_piece && !on_piece(&piece, user) && piece.id >= 0) context->generator.stop();
    }
    if (st == TINYLLM_OK && reason) *reason = tinyllm_stop_reason_of(context);
    return st;
}

TINYLLM_API tinyllm_stop_reason tinyllm_stop_reason_of(const tinyllm_context* context) {
    return context ? tinyllm_stop_reason(context->generator.stats().reason) : TINYLLM_STOP_TOKEN_BUDGET;
}

TINYLLM_API size_t tinyllm_state_size(const tinyllm_context* context) {
    return context ? context->generator.state_bytes() + context->tokens.size() * sizeof(int32_t) + tinyllm::c_api::tokens_trailer : 0;
}

TINYLLM_API tinyllm_status tinyllm_state_save(const tinyllm_context* context, void* buffer, size_t capacity, size_t* written) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !buffer) return fail(Error::invalid_argument, !context ? "context is NULL" : "buffer is NULL");
    const size_t need = tinyllm_state_size(context);
    if (capacity < need) return fail(Error::out_of_memory, "the state needs ", uint64_t(need), " bytes; the buffer has ", uint64_t(capacity));
    uint8_t* out = static_cast<uint8_t*>(buffer);
    Result<size_t> generator_bytes = context->generator.save_state(out, capacity);
    if (!generator_bytes) return fail(generator_bytes.status);
    uint8_t* p = out + *generator_bytes;
    const uint32_t n = uint32_t(context->tokens.size());
    std::memcpy(p, context->tokens.data(), size_t(n) * sizeof(int32_t));
    std::memcpy(p + size_t(n) * 4, &n, 4);
    std::memcpy(p + size_t(n) * 4 + 4, &tokens_magic, 4);
    const uint64_t sum = state::checksum(p, size_t(n) * 4 + 8);
    std::memcpy(p + size_t(n) * 4 + 8, &sum, 8);
    if (written) *written = need;
    return TINYLLM_OK;
}

TINYLLM_API tinyllm_status tinyllm_state_load(tinyllm_context* context, const void* buffer, size_t size) {
    using namespace tinyllm;
    using namespace tinyllm::c_api;
    if (!context || !buffer) return fail(Error::invalid_argument, !context ? "context is NULL" : "buffer is NULL");
    const uint8_t* in = static_cast<const uint8_t*>(buffer);
    state::Header header;
    Status st = state::peek_header(in, size, header);  // a cut-short or foreign buffer is named as such first
    if (!st) return fail(st);
    // The token list is read from the end; everything is checked before the context changes.
    uint32_t n, magic;
    uint64_t sum;
    std::memcpy(&n, in + size - 16, 4);
    std::memcpy(&magic, in + size - 12, 4);
    std::memcpy(&sum, in + size - 8, 8);
    if (magic != tokens_magic || uint64_t(n) * 4 > size - state::Header::bytes - tokens_trailer)
        return fail(Error::corrupt, "the saved state's token list is damaged or cut short");
    const uint8_t* ids = in + size - tokens_trailer - size_t(n) * 4;
    if (state::checksum(ids, size_t(n) * 4 + 8) != sum) return fail(Error::corrupt, "the saved state's token list is damaged");
    const size_t generator_bytes = size_t(ids - in);
    Result<int> n_tokens = context->generator.state_tokens(in, generator_bytes);
    if (!n_tokens) return fail(n_tokens.status);
    if (int64_t(n) != *n_tokens) return fail(Error::corrupt, "the saved state lists ", n, " tokens for a conversation of ", *n_tokens);
    return guarded([&] {
        std::vector<int32_t> tokens(n);
        std::memcpy(tokens.data(), ids, size_t(n) * 4);
        Status s = context->generator.load_state(in, generator_bytes);
        if (!s) return fail(s);
        context->tokens = std::move(tokens);
        return TINYLLM_OK;
    });
}

} // extern "C"
