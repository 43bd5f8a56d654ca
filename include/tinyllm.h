/* tinyllm's C API: open a GGUF model (or an ExecuTorch .pte program with a GGUF vocabulary),
 * make contexts (conversations), tokenize, evaluate, sample, generate with streaming, apply
 * chat templates, and save and restore a conversation's state. C89/C99 compatible; no C++
 * types. The implementation is the header-only C++ library compiled once: link libtinyllm
 * (static or shared, built by the CMake project), or include "tinyllm/c_api/implementation.hpp"
 * in one C++ file of your own build.
 *
 * Every fallible call returns a tinyllm_status; on failure tinyllm_last_error() says what went
 * wrong and nothing the caller had is changed. Objects are not safe to use from two threads at
 * once; different contexts may run on different threads. */
#ifndef TINYLLM_H
#define TINYLLM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(TINYLLM_SHARED_BUILD)
#define TINYLLM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TINYLLM_API __attribute__((visibility("default")))
#else
#define TINYLLM_API
#endif

#define TINYLLM_VERSION_MAJOR 0
#define TINYLLM_VERSION_MINOR 1
#define TINYLLM_VERSION_PATCH 0

/* Token ids are 32-bit (C89 has no <stdint.h>: int is 32 bits on every target tinyllm runs on). */
typedef int tinyllm_token;

typedef enum tinyllm_status {
    TINYLLM_OK = 0,
    TINYLLM_ERR_TRUNCATED = 1,           /* a file or buffer ends before what it must hold */
    TINYLLM_ERR_BAD_MAGIC = 2,           /* not the kind of file or state expected */
    TINYLLM_ERR_UNSUPPORTED_VERSION = 3,
    TINYLLM_ERR_ABSURD_COUNT = 4,
    TINYLLM_ERR_BAD_STRING = 5,
    TINYLLM_ERR_UNKNOWN_VALUE_TYPE = 6,
    TINYLLM_ERR_UNKNOWN_TENSOR_TYPE = 7,
    TINYLLM_ERR_BAD_SHAPE = 8,
    TINYLLM_ERR_BAD_OFFSET = 9,
    TINYLLM_ERR_BAD_ALIGNMENT = 10,
    TINYLLM_ERR_MISSING_KEY = 11,
    TINYLLM_ERR_WRONG_KEY_TYPE = 12,
    TINYLLM_ERR_MISSING_TENSOR = 13,
    TINYLLM_ERR_SHAPE_MISMATCH = 14,     /* e.g. a saved state from another model */
    TINYLLM_ERR_UNSUPPORTED_ARCHITECTURE = 15,
    TINYLLM_ERR_UNSUPPORTED_OP = 16,
    TINYLLM_ERR_UNSUPPORTED_DELEGATE = 17,
    TINYLLM_ERR_UNSUPPORTED_TYPE = 18,
    TINYLLM_ERR_TOKEN_OUT_OF_RANGE = 19,
    TINYLLM_ERR_CONTEXT_FULL = 20,
    TINYLLM_ERR_OUT_OF_MEMORY = 21,      /* also: an output buffer too small (the size needed is reported) */
    TINYLLM_ERR_IO = 22,
    TINYLLM_ERR_INVALID_ARGUMENT = 23,
    TINYLLM_ERR_CORRUPT = 24,
    /* Not a status: it makes every int a value of the type, so C++ code may read whatever int a
     * C caller passes (C++ leaves a value outside an enum's range undefined). */
    TINYLLM_STATUS_INT_RANGE_ = 0x7fffffff
} tinyllm_status;

typedef enum tinyllm_stop_reason {
    TINYLLM_STOP_TOKEN_BUDGET = 0,       /* n_predict tokens generated */
    TINYLLM_STOP_END_OF_GENERATION = 1,  /* the model's end-of-turn / end-of-text token */
    TINYLLM_STOP_STRING = 2,             /* a stop string (not included in the text) */
    TINYLLM_STOP_CALLER = 3,             /* the callback returned 0 or the abort flag was set */
    TINYLLM_STOP_CONTEXT_FULL = 4
} tinyllm_stop_reason;

typedef struct tinyllm_model tinyllm_model;
typedef struct tinyllm_context tinyllm_context;

/* The library's version, "MAJOR.MINOR.PATCH". */
TINYLLM_API const char* tinyllm_version(void);
/* The message of this thread's last failed call ("" if none failed yet). */
TINYLLM_API const char* tinyllm_last_error(void);
/* A status's name, e.g. "context full". */
TINYLLM_API const char* tinyllm_status_name(tinyllm_status status);

/* Opens a GGUF model (tokenizer_path NULL) or a .pte program with the GGUF file holding its
 * vocabulary (tokenizer_path). Free with tinyllm_model_free. */
TINYLLM_API tinyllm_status tinyllm_model_open(const char* path, const char* tokenizer_path, tinyllm_model** model);
/* The same from memory, which the caller keeps alive and unchanged until the model is freed
 * (nothing is copied). tokenizer may be NULL with tokenizer_size 0 for a GGUF model. */
TINYLLM_API tinyllm_status tinyllm_model_open_memory(const void* data, size_t size, const void* tokenizer, size_t tokenizer_size,
                                                     tinyllm_model** model);
/* Frees a model (NULL is ignored). Free its contexts first. */
TINYLLM_API void tinyllm_model_free(tinyllm_model* model);
/* Vocabulary size. */
TINYLLM_API int tinyllm_model_n_vocab(const tinyllm_model* model);
/* The longest context a context of this model can have (its training context; a .pte program's fixed one). */
TINYLLM_API int tinyllm_model_n_ctx_max(const tinyllm_model* model);
/* The beginning-of-text token, or -1. */
TINYLLM_API tinyllm_token tinyllm_model_bos(const tinyllm_model* model);
/* The end-of-text token, or -1. */
TINYLLM_API tinyllm_token tinyllm_model_eos(const tinyllm_model* model);
/* 1 if the token ends generation (end of text or of a turn), else 0. */
TINYLLM_API int tinyllm_model_is_eog(const tinyllm_model* model, tinyllm_token token);

/* Text to tokens with the model's tokenizer (llama.cpp's ids). add_special: the BOS the
 * vocabulary asks for; parse_special: special-token text such as "<|im_start|>" becomes its
 * token. Writes up to capacity ids and sets *n_tokens to the count; if capacity is too small,
 * returns TINYLLM_ERR_OUT_OF_MEMORY with *n_tokens set to the count needed. */
TINYLLM_API tinyllm_status tinyllm_tokenize(const tinyllm_model* model, const char* text, size_t text_len, int add_special,
                                            int parse_special, tinyllm_token* tokens, int capacity, int* n_tokens);
/* Tokens to text (their bytes, concatenated; may end mid UTF-8 character). Writes up to
 * capacity bytes, no terminator, and sets *length; too small a buffer: TINYLLM_ERR_OUT_OF_MEMORY
 * with *length set to the bytes needed. */
TINYLLM_API tinyllm_status tinyllm_detokenize(const tinyllm_model* model, const tinyllm_token* tokens, int n_tokens, char* text,
                                              size_t capacity, size_t* length);

typedef struct tinyllm_chat_message {
    const char* role;    /* "system", "user" or "assistant" */
    const char* content;
} tinyllm_chat_message;

/* Formats a conversation with a chat template: template_name (llama2, llama2-sys, llama3, chatml,
 * gemma, phi3, falcon3) or NULL for the one the model's tokenizer.chat_template names.
 * add_assistant: end with the assistant's turn opened. Output as tinyllm_detokenize's. */
TINYLLM_API tinyllm_status tinyllm_chat_apply_template(const tinyllm_model* model, const char* template_name,
                                                       const tinyllm_chat_message* messages, size_t n_messages, int add_assistant,
                                                       char* text, size_t capacity, size_t* length);

/* How tokens are drawn from the logits (llama.cpp's chain: penalties, top-k, typical-p, top-p,
 * min-p, temperature). */
typedef struct tinyllm_sampling {
    float temperature;        /* 0: greedy */
    int top_k;                /* 0: off */
    float top_p;              /* 1: off */
    float min_p;              /* 0: off */
    float typical_p;          /* 1: off */
    float repeat_penalty;     /* 1: off */
    float frequency_penalty;  /* 0: off */
    float presence_penalty;   /* 0: off */
    int penalty_last_n;       /* tokens the penalties look back over */
    unsigned long seed;       /* TINYLLM_SEED_CONTINUE: tinyllm_set_sampling keeps the random sequence where it is */
} tinyllm_sampling;

#define TINYLLM_SEED_CONTINUE ((unsigned long)-1)

/* llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, seed 0. */
TINYLLM_API tinyllm_sampling tinyllm_sampling_default(void);

typedef struct tinyllm_context_params {
    int n_ctx;      /* tokens the conversation can hold; 0: the model's maximum */
    int n_batch;    /* prompt tokens per forward pass */
    int n_threads;  /* 0: one per CPU. Threads are process-wide: each call runs on this many */
    tinyllm_sampling sampling;
    /* Speculative decoding (the same replies, faster when drafts are taken): drafts of up to
     * draft_max tokens from draft_model (a smaller model of the same vocabulary, which must
     * outlive the context) or from the conversation's own n-grams of up to lookup_ngram tokens
     * (2..64); or lookahead decoding (GGUF models) with a window of lookahead_window guesses
     * (1..16), n-grams of lookahead_ngram tokens (3..8) and up to lookahead_verify of them
     * checked per step (1..16), each step one batch of 1+(W-1)+W(N-2)+G(N-1) tokens (draft_max
     * unused). One or none. */
    const struct tinyllm_model* draft_model;
    int lookup_ngram;
    int draft_max;
    int lookahead_window, lookahead_ngram, lookahead_verify;
} tinyllm_context_params;

/* n_ctx 0, n_batch 64, n_threads 0, tinyllm_sampling_default(), no drafting (draft_max 3). */
TINYLLM_API tinyllm_context_params tinyllm_context_default_params(void);
/* A conversation over the model (its own KV cache and sampler). params NULL: the defaults. */
TINYLLM_API tinyllm_status tinyllm_context_create(tinyllm_model* model, const tinyllm_context_params* params, tinyllm_context** context);
/* Frees a context (NULL is ignored). */
TINYLLM_API void tinyllm_context_free(tinyllm_context* context);
/* The context's size in tokens. */
TINYLLM_API int tinyllm_n_ctx(const tinyllm_context* context);
/* Tokens in the conversation: evaluated ones plus the last sampled one, which is evaluated
 * with whatever comes next. */
TINYLLM_API int tinyllm_n_tokens(const tinyllm_context* context);
/* The conversation's tokens, as tinyllm_tokenize writes them. */
TINYLLM_API tinyllm_status tinyllm_get_tokens(const tinyllm_context* context, tinyllm_token* tokens, int capacity, int* n_tokens);
/* New sampling settings; the random sequence restarts from their seed (or, with
 * TINYLLM_SEED_CONTINUE, goes on). The penalties look back over the conversation. */
TINYLLM_API tinyllm_status tinyllm_set_sampling(tinyllm_context* context, const tinyllm_sampling* sampling);
/* Keeps the first n tokens of the conversation (0: start over). */
TINYLLM_API tinyllm_status tinyllm_truncate(tinyllm_context* context, int n);

/* Evaluates tokens after the conversation; their last one's logits become current. */
TINYLLM_API tinyllm_status tinyllm_eval(tinyllm_context* context, const tinyllm_token* tokens, int n_tokens);
/* The current logits [n_vocab], or NULL when the last call did not leave any (valid until the
 * next call on the context). */
TINYLLM_API const float* tinyllm_get_logits(const tinyllm_context* context);
/* Draws a token from the current logits with the context's sampler. The token is not
 * evaluated: pass it to tinyllm_eval to continue. */
TINYLLM_API tinyllm_status tinyllm_sample(tinyllm_context* context, tinyllm_token* token);

typedef struct tinyllm_generate_params {
    int n_predict;             /* tokens to generate at most */
    const char* const* stop;   /* stop strings (never part of the text), or NULL */
    int n_stop;
    const volatile int* abort; /* if not NULL: generation stops once *abort is nonzero */
} tinyllm_generate_params;

/* One generated token and the text it made final (empty while text is held back: a possible
 * stop string, an incomplete UTF-8 character). At the end, held-back text comes with id -1. */
typedef struct tinyllm_piece {
    tinyllm_token id;
    const char* text;  /* valid until the next call on the context */
    size_t text_len;
} tinyllm_piece;

/* Return 0 to stop generating. */
typedef int (*tinyllm_piece_callback)(const tinyllm_piece* piece, void* user);

/* n_predict 128, no stop strings, no abort flag. */
TINYLLM_API tinyllm_generate_params tinyllm_generate_default_params(void);
/* Evaluates prompt (may be empty: continue from the current logits), then generates, calling
 * on_piece for each token. Stops at an end-of-generation token, a stop string, n_predict, a
 * full context, on_piece returning 0 or the abort flag; *reason (if not NULL) says which. */
TINYLLM_API tinyllm_status tinyllm_generate(tinyllm_context* context, const tinyllm_token* prompt, int n_prompt,
                                            const tinyllm_generate_params* params, tinyllm_piece_callback on_piece, void* user,
                                            tinyllm_stop_reason* reason);
/* The same, driven by the caller: begin, then tinyllm_generate_next until *more is 0. */
TINYLLM_API tinyllm_status tinyllm_generate_begin(tinyllm_context* context, const tinyllm_token* prompt, int n_prompt,
                                                  const tinyllm_generate_params* params);
/* The next piece (*more 1), or the end of the reply (*more 0, piece untouched). */
TINYLLM_API tinyllm_status tinyllm_generate_next(tinyllm_context* context, tinyllm_piece* piece, int* more);
/* Why the last reply ended. */
TINYLLM_API tinyllm_stop_reason tinyllm_stop_reason_of(const tinyllm_context* context);

/* Bytes a saved state of the conversation takes now. */
TINYLLM_API size_t tinyllm_state_size(const tinyllm_context* context);
/* Saves the conversation (KV cache, tokens, sampler, current logits) into buffer; *written
 * (if not NULL) gets its size. */
TINYLLM_API tinyllm_status tinyllm_state_save(const tinyllm_context* context, void* buffer, size_t capacity, size_t* written);
/* Restores a saved conversation into a context of the same model whose n_ctx holds it; a
 * state from another model, cut short or damaged is refused and changes nothing. */
TINYLLM_API tinyllm_status tinyllm_state_load(tinyllm_context* context, const void* buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLLM_H */
