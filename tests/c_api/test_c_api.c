/* The C API from C: every function, on the shared demo model (GGUF, from a path and from
 * memory, and the .pte program with its GGUF vocabulary), and every error path: NULL
 * arguments, missing and wrong files, out-of-range values, buffers too small, states that do
 * not belong. Exit 0: all passed; 77: the shared models are absent (ctest: skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyllm.h"

static int failures = 0, checks = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        ++checks;                                                                      \
        if (!(cond)) {                                                                 \
            ++failures;                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond, tinyllm_last_error()); \
        }                                                                              \
    } while (0)

/* A call that must fail with `code` and a message containing `words`. */
#define CHECK_FAILS(call, code, words)                                                 \
    do {                                                                               \
        tinyllm_status st_ = (call);                                                   \
        CHECK(st_ == (code));                                                          \
        CHECK(strstr(tinyllm_last_error(), (words)) != NULL);                          \
    } while (0)

static char shared[1024];

static const char* path(const char* rel) {
    static char buf[4][1200];
    static int next = 0;
    char* out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", shared, rel);
    return out;
}

static unsigned char* read_file(const char* file, size_t* size) {
    FILE* f = fopen(file, "rb");
    unsigned char* data;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = (unsigned char*)malloc((size_t)n);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return data;
}

/* What a generate() callback saw. */
typedef struct {
    tinyllm_token ids[256];
    int n_ids;
    char text[4096];
    size_t text_len;
    int stop_after; /* return 0 after this many tokens (0: never) */
} Reply;

static int collect(const tinyllm_piece* piece, void* user) {
    Reply* r = (Reply*)user;
    if (piece->id >= 0 && r->n_ids < 256) r->ids[r->n_ids++] = piece->id;
    if (r->text_len + piece->text_len < sizeof r->text) {
        memcpy(r->text + r->text_len, piece->text, piece->text_len);
        r->text_len += piece->text_len;
        r->text[r->text_len] = 0;
    }
    return r->stop_after == 0 || r->n_ids < r->stop_after;
}

static tinyllm_context* greedy_context(tinyllm_model* model, int n_ctx) {
    tinyllm_context* ctx = NULL;
    tinyllm_context_params p = tinyllm_context_default_params();
    p.n_ctx = n_ctx;
    p.sampling.temperature = 0.0f;
    CHECK(tinyllm_context_create(model, &p, &ctx) == TINYLLM_OK);
    return ctx;
}

static int prompt_tokens(tinyllm_model* model, const char* text, tinyllm_token* ids, int capacity) {
    int n = 0;
    CHECK(tinyllm_tokenize(model, text, strlen(text), 1, 0, ids, capacity, &n) == TINYLLM_OK);
    return n;
}

static void test_basics(void) {
    tinyllm_model* model = (tinyllm_model*)&checks; /* must be overwritten with NULL on failure */
    CHECK(strcmp(tinyllm_version(), "0.1.0") == 0);
    CHECK(strcmp(tinyllm_status_name(TINYLLM_ERR_CONTEXT_FULL), "context full") == 0);
    CHECK(strcmp(tinyllm_status_name((tinyllm_status)99), "unknown status") == 0);
    CHECK_FAILS(tinyllm_model_open(NULL, NULL, &model), TINYLLM_ERR_INVALID_ARGUMENT, "path is NULL");
    CHECK_FAILS(tinyllm_model_open("/nonexistent/model.gguf", NULL, &model), TINYLLM_ERR_IO, "cannot open '/nonexistent/model.gguf'");
    CHECK(model == NULL);
    CHECK_FAILS(tinyllm_model_open(path("models/shakespeare5m.torch.json"), NULL, &model), TINYLLM_ERR_BAD_MAGIC, "bad magic");
    CHECK_FAILS(tinyllm_model_open(path("models/shakespeare5m_fp32_kv.pte"), NULL, &model), TINYLLM_ERR_MISSING_KEY, "no vocabulary");
    CHECK_FAILS(tinyllm_model_open(path("models/shakespeare5m-q8_0.gguf"), path("models/shakespeare5m-f16.gguf"), &model),
                TINYLLM_ERR_INVALID_ARGUMENT, "tokenizer is for .pte programs");
    CHECK_FAILS(tinyllm_model_open_memory(NULL, 10, NULL, 0, &model), TINYLLM_ERR_INVALID_ARGUMENT, "data is NULL");
    CHECK_FAILS(tinyllm_model_open_memory("GGUF", 4, NULL, 0, &model), TINYLLM_ERR_TRUNCATED, "GGUF version");
    /* Queries on NULL answer neutrally; frees of NULL do nothing. */
    CHECK(tinyllm_model_n_vocab(NULL) == 0);
    CHECK(tinyllm_n_ctx(NULL) == 0);
    CHECK(tinyllm_get_logits(NULL) == NULL);
    tinyllm_model_free(NULL);
    tinyllm_context_free(NULL);
}

static void test_text(tinyllm_model* model) {
    tinyllm_token ids[64], small[2];
    int n = 0, needed = 0;
    char text[256];
    size_t len = 0;
    tinyllm_chat_message chat[2];
    const char* expected_chat = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";

    CHECK(tinyllm_model_n_vocab(model) == 1024);
    CHECK(tinyllm_model_n_ctx_max(model) > 0);
    CHECK(tinyllm_tokenize(model, "To be, or not to be", 19, 1, 0, ids, 64, &n) == TINYLLM_OK);
    CHECK(n > 3 && ids[0] == tinyllm_model_bos(model));
    CHECK(tinyllm_model_bos(model) == 1 && tinyllm_model_eos(model) == 2);  /* SentencePiece's <s> and </s> */
    CHECK(tinyllm_model_is_eog(model, 2) == 1 && tinyllm_model_is_eog(model, ids[1]) == 0 && tinyllm_model_is_eog(NULL, 2) == 0);
    CHECK(tinyllm_model_bos(NULL) == -1 && tinyllm_model_eos(NULL) == -1);
    CHECK_FAILS(tinyllm_tokenize(model, "To be, or not to be", 19, 1, 0, small, 2, &needed), TINYLLM_ERR_OUT_OF_MEMORY, "tokens");
    CHECK(needed == n);
    CHECK_FAILS(tinyllm_tokenize(NULL, "x", 1, 1, 0, ids, 64, &n), TINYLLM_ERR_INVALID_ARGUMENT, "model is NULL");
    CHECK_FAILS(tinyllm_tokenize(model, NULL, 3, 1, 0, ids, 64, &n), TINYLLM_ERR_INVALID_ARGUMENT, "text is NULL");
    CHECK_FAILS(tinyllm_tokenize(model, "x", 1, 1, 0, ids, -1, &n), TINYLLM_ERR_INVALID_ARGUMENT, "capacity");

    /* Detokenizing the tokens after BOS gives the text back (SentencePiece adds one leading space). */
    CHECK(tinyllm_detokenize(model, ids + 1, n - 1, text, sizeof text, &len) == TINYLLM_OK);
    CHECK(len == 20 && memcmp(text, " To be, or not to be", 20) == 0);
    CHECK_FAILS(tinyllm_detokenize(model, ids + 1, n - 1, text, 5, &len), TINYLLM_ERR_OUT_OF_MEMORY, "20 bytes");
    CHECK(len == 20);
    ids[0] = 5000;
    CHECK_FAILS(tinyllm_detokenize(model, ids, 1, text, sizeof text, &len), TINYLLM_ERR_TOKEN_OUT_OF_RANGE, "token 5000");

    chat[0].role = "system";
    chat[0].content = "Be brief.";
    chat[1].role = "user";
    chat[1].content = "Hi";
    CHECK(tinyllm_chat_apply_template(model, "chatml", chat, 2, 1, text, sizeof text, &len) == TINYLLM_OK);
    CHECK(len == strlen(expected_chat) && memcmp(text, expected_chat, len) == 0);
    CHECK_FAILS(tinyllm_chat_apply_template(model, "nosuch", chat, 2, 1, text, sizeof text, &len), TINYLLM_ERR_INVALID_ARGUMENT, "nosuch");
    chat[1].role = "robot";
    CHECK_FAILS(tinyllm_chat_apply_template(model, "chatml", chat, 2, 1, text, sizeof text, &len), TINYLLM_ERR_INVALID_ARGUMENT, "robot");
    chat[1].role = "user";
    CHECK_FAILS(tinyllm_chat_apply_template(model, NULL, chat, 2, 1, text, sizeof text, &len), TINYLLM_ERR_MISSING_KEY, "chat_template");
}

static void test_contexts(tinyllm_model* model) {
    tinyllm_context* ctx = NULL;
    tinyllm_context_params p = tinyllm_context_default_params();
    tinyllm_sampling bad = tinyllm_sampling_default();
    tinyllm_token ids[64], tok = -1, history[64];
    const float* logits;
    int n, i, best = 0, n_hist = 0;

    p.n_ctx = tinyllm_model_n_ctx_max(model) + 1;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "context");
    CHECK(ctx == NULL);
    p = tinyllm_context_default_params();
    p.sampling.top_p = 0.0f;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "sampling");
    p = tinyllm_context_default_params();
    p.n_threads = -2;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "thread count -2");
    CHECK_FAILS(tinyllm_context_create(NULL, NULL, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "model is NULL");

    ctx = greedy_context(model, 32);
    CHECK(tinyllm_n_ctx(ctx) == 32);
    CHECK(tinyllm_get_logits(ctx) == NULL);
    CHECK_FAILS(tinyllm_sample(ctx, &tok), TINYLLM_ERR_INVALID_ARGUMENT, "evaluate tokens first");
    n = prompt_tokens(model, "To be, or not to be", ids, 64);
    CHECK(tinyllm_eval(ctx, ids, n) == TINYLLM_OK);
    CHECK(tinyllm_n_tokens(ctx) == n);
    logits = tinyllm_get_logits(ctx);
    CHECK(logits != NULL);
    for (i = 1; logits && i < tinyllm_model_n_vocab(model); ++i)
        if (logits[i] > logits[best]) best = i;
    CHECK(tinyllm_sample(ctx, &tok) == TINYLLM_OK && tok == best);
    CHECK(tinyllm_get_tokens(ctx, history, 64, &n_hist) == TINYLLM_OK && n_hist == n && memcmp(history, ids, (size_t)n * 4) == 0);
    CHECK_FAILS(tinyllm_get_tokens(ctx, history, 2, &n_hist), TINYLLM_ERR_OUT_OF_MEMORY, "tokens");

    ids[0] = 1024;
    CHECK_FAILS(tinyllm_eval(ctx, ids, 1), TINYLLM_ERR_TOKEN_OUT_OF_RANGE, "1024");
    CHECK(tinyllm_n_tokens(ctx) == n);
    CHECK_FAILS(tinyllm_eval(ctx, ids, 0), TINYLLM_ERR_INVALID_ARGUMENT, "nothing to evaluate");
    for (i = 0; i < 64; ++i) ids[i] = 7;
    CHECK_FAILS(tinyllm_eval(ctx, ids, 32 - n + 1), TINYLLM_ERR_CONTEXT_FULL, "context");
    CHECK(tinyllm_eval(ctx, ids, 32 - n) == TINYLLM_OK);
    CHECK(tinyllm_n_tokens(ctx) == 32);

    CHECK_FAILS(tinyllm_truncate(ctx, 33), TINYLLM_ERR_INVALID_ARGUMENT, "cannot keep 33");
    CHECK(tinyllm_truncate(ctx, 3) == TINYLLM_OK && tinyllm_n_tokens(ctx) == 3);
    CHECK(tinyllm_truncate(ctx, 0) == TINYLLM_OK && tinyllm_n_tokens(ctx) == 0);

    bad.min_p = 2.0f;
    CHECK_FAILS(tinyllm_set_sampling(ctx, &bad), TINYLLM_ERR_INVALID_ARGUMENT, "sampling");
    CHECK_FAILS(tinyllm_set_sampling(ctx, NULL), TINYLLM_ERR_INVALID_ARGUMENT, "sampling is NULL");
    tinyllm_context_free(ctx);
}

static void test_generation(tinyllm_model* model) {
    tinyllm_context *a = greedy_context(model, 0), *b = greedy_context(model, 0);
    tinyllm_generate_params gp = tinyllm_generate_default_params();
    tinyllm_token ids[64];
    int n = prompt_tokens(model, "ROMEO:", ids, 64), more = 1;
    Reply r1, r2, r3;
    tinyllm_stop_reason reason = TINYLLM_STOP_CONTEXT_FULL;
    tinyllm_piece piece;
    volatile int abort_now = 1;
    const char* stops[1];
    char stop_text[8];

    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    memset(&r3, 0, sizeof r3);
    gp.n_predict = 24;
    CHECK(tinyllm_generate(a, ids, n, &gp, collect, &r1, &reason) == TINYLLM_OK);
    CHECK(reason == TINYLLM_STOP_TOKEN_BUDGET && r1.n_ids == 24 && r1.text_len > 0);
    CHECK(tinyllm_n_tokens(a) == n + 24);

    /* The step-by-step calls give the same reply. */
    CHECK(tinyllm_generate_begin(b, ids, n, &gp) == TINYLLM_OK);
    while (more && tinyllm_generate_next(b, &piece, &more) == TINYLLM_OK)
        if (more) collect(&piece, &r2);
    CHECK(r2.n_ids == 24 && memcmp(r1.ids, r2.ids, sizeof r1.ids) == 0 && strcmp(r1.text, r2.text) == 0);
    CHECK(tinyllm_stop_reason_of(b) == TINYLLM_STOP_TOKEN_BUDGET);

    /* The callback stops it; so does the abort flag. */
    tinyllm_truncate(b, 0);
    r3.stop_after = 3;
    CHECK(tinyllm_generate(b, ids, n, &gp, collect, &r3, &reason) == TINYLLM_OK);
    CHECK(reason == TINYLLM_STOP_CALLER && r3.n_ids == 3 && memcmp(r3.ids, r1.ids, 3 * sizeof(tinyllm_token)) == 0);
    gp.abort = &abort_now;
    memset(&r3, 0, sizeof r3);
    CHECK(tinyllm_generate(b, NULL, 0, &gp, collect, &r3, &reason) == TINYLLM_OK);
    CHECK(reason == TINYLLM_STOP_CALLER && r3.n_ids == 0);
    gp.abort = NULL;

    /* A stop string taken from the greedy reply: the text ends just before it. */
    tinyllm_truncate(b, 0);
    memcpy(stop_text, r1.text + 6, 3);
    stop_text[3] = 0;
    stops[0] = stop_text;
    gp.stop = stops;
    gp.n_stop = 1;
    memset(&r3, 0, sizeof r3);
    CHECK(tinyllm_generate(b, ids, n, &gp, collect, &r3, &reason) == TINYLLM_OK);
    CHECK(reason == TINYLLM_STOP_STRING && strstr(r3.text, stop_text) == NULL);
    CHECK(r3.text_len <= 6 + 2 && strncmp(r3.text, r1.text, r3.text_len) == 0);
    stops[0] = NULL;
    CHECK_FAILS(tinyllm_generate(b, NULL, 0, &gp, collect, &r3, &reason), TINYLLM_ERR_INVALID_ARGUMENT, "stop string 0 is NULL or empty");
    gp.n_stop = 0;
    gp.n_predict = -1;
    CHECK_FAILS(tinyllm_generate(b, NULL, 0, &gp, collect, &r3, &reason), TINYLLM_ERR_INVALID_ARGUMENT, "n_predict -1");
    CHECK_FAILS(tinyllm_generate_next(NULL, &piece, &more), TINYLLM_ERR_INVALID_ARGUMENT, "context is NULL");

    /* A refused start changes nothing and leaves no reply to step through. */
    {
        char long_stop[300];
        const char* bad_stops[1];
        int before = tinyllm_n_tokens(b);
        memset(long_stop, 'x', sizeof long_stop - 1);
        long_stop[sizeof long_stop - 1] = 0;
        bad_stops[0] = long_stop;
        gp.n_predict = 8;
        gp.stop = bad_stops;
        gp.n_stop = 1;
        CHECK_FAILS(tinyllm_generate_begin(b, ids, n, &gp), TINYLLM_ERR_INVALID_ARGUMENT, "longer than 256 bytes");
        CHECK(tinyllm_n_tokens(b) == before);
        more = 1;
        CHECK(tinyllm_generate_next(b, &piece, &more) == TINYLLM_OK && more == 0);
    }
    tinyllm_context_free(a);
    tinyllm_context_free(b);
}

/* Generates n tokens after what the context holds, sampled with temperature, into r. */
static void continue_sampled(tinyllm_context* ctx, const tinyllm_token* prompt, int n_prompt, int n, Reply* r) {
    tinyllm_generate_params gp = tinyllm_generate_default_params();
    gp.n_predict = n;
    CHECK(tinyllm_generate(ctx, prompt, n_prompt, &gp, collect, r, NULL) == TINYLLM_OK);
}

/* A reply that fills the context keeps its last token waiting; nothing after it fits, and the
 * state saved then restores. */
static void test_full_context(tinyllm_model* model) {
    tinyllm_context *ctx = greedy_context(model, 16), *copy = greedy_context(model, 16);
    tinyllm_generate_params gp = tinyllm_generate_default_params();
    tinyllm_token ids[64];
    int n = prompt_tokens(model, "ROMEO:", ids, 64);
    tinyllm_stop_reason reason = TINYLLM_STOP_TOKEN_BUDGET;
    unsigned char* state;
    size_t size;
    Reply r;
    memset(&r, 0, sizeof r);
    gp.n_predict = 100;
    CHECK(tinyllm_generate(ctx, ids, n, &gp, collect, &r, &reason) == TINYLLM_OK);
    CHECK(reason == TINYLLM_STOP_CONTEXT_FULL && r.n_ids == 16 - n + 1 && tinyllm_n_tokens(ctx) == 17);
    CHECK_FAILS(tinyllm_eval(ctx, ids, 1), TINYLLM_ERR_CONTEXT_FULL, "does not fit");
    CHECK(tinyllm_n_tokens(ctx) == 17);
    size = tinyllm_state_size(ctx);
    state = (unsigned char*)malloc(size);
    CHECK(tinyllm_state_save(ctx, state, size, NULL) == TINYLLM_OK);
    CHECK(tinyllm_state_load(copy, state, size) == TINYLLM_OK && tinyllm_n_tokens(copy) == 17);
    CHECK(tinyllm_truncate(copy, 10) == TINYLLM_OK && tinyllm_eval(copy, ids, 1) == TINYLLM_OK && tinyllm_n_tokens(copy) == 11);
    free(state);
    tinyllm_context_free(ctx);
    tinyllm_context_free(copy);
}

static void test_state(tinyllm_model* model, tinyllm_model* other) {
    tinyllm_context_params p = tinyllm_context_default_params();
    tinyllm_context *whole = NULL, *first = NULL, *second = NULL, *foreign = NULL, *small = NULL;
    tinyllm_token ids[64], h1[128], h2[128];
    int n = prompt_tokens(model, "JULIET:", ids, 64), n1 = 0, n2 = 0;
    Reply expected, got;
    unsigned char* state;
    size_t size, written = 0;

    p.sampling.seed = 1234;
    p.sampling.repeat_penalty = 1.2f;
    CHECK(tinyllm_context_create(model, &p, &whole) == TINYLLM_OK);
    CHECK(tinyllm_context_create(model, &p, &first) == TINYLLM_OK);
    CHECK(tinyllm_context_create(model, &p, &second) == TINYLLM_OK);
    CHECK(tinyllm_context_create(other, &p, &foreign) == TINYLLM_OK);
    p.n_ctx = 8;
    CHECK(tinyllm_context_create(model, &p, &small) == TINYLLM_OK);
    memset(&expected, 0, sizeof expected);
    memset(&got, 0, sizeof got);
    continue_sampled(whole, ids, n, 10, &expected);
    continue_sampled(whole, NULL, 0, 10, &expected);

    continue_sampled(first, ids, n, 10, &got);
    size = tinyllm_state_size(first);
    state = (unsigned char*)malloc(size);
    CHECK_FAILS(tinyllm_state_save(first, state, size - 1, &written), TINYLLM_ERR_OUT_OF_MEMORY, "bytes");
    CHECK(tinyllm_state_save(first, state, size, &written) == TINYLLM_OK && written == size);
    CHECK(tinyllm_state_load(second, state, size) == TINYLLM_OK);
    CHECK(tinyllm_get_tokens(first, h1, 128, &n1) == TINYLLM_OK && tinyllm_get_tokens(second, h2, 128, &n2) == TINYLLM_OK);
    CHECK(n1 == n2 && n1 == n + 10 && memcmp(h1, h2, (size_t)n1 * 4) == 0);
    continue_sampled(second, NULL, 0, 10, &got);
    CHECK(got.n_ids == 20 && memcmp(got.ids, expected.ids, 20 * sizeof(tinyllm_token)) == 0);

    /* States that do not belong: refused by name, the context unchanged. */
    CHECK_FAILS(tinyllm_state_load(foreign, state, size), TINYLLM_ERR_SHAPE_MISMATCH, "another model");
    CHECK(tinyllm_n_tokens(foreign) == 0);
    CHECK_FAILS(tinyllm_state_load(small, state, size), TINYLLM_ERR_CONTEXT_FULL, "room for 8");
    CHECK_FAILS(tinyllm_state_load(second, state, size - 3), TINYLLM_ERR_CORRUPT, "cut short");
    CHECK_FAILS(tinyllm_state_load(second, state, 30), TINYLLM_ERR_TRUNCATED, "56-byte header");
    CHECK(tinyllm_n_tokens(second) == n + 20);
    state[100] ^= 4;
    CHECK_FAILS(tinyllm_state_load(second, state, size), TINYLLM_ERR_CORRUPT, "checksum");
    state[100] ^= 4;
    state[size - 20] ^= 4;
    CHECK_FAILS(tinyllm_state_load(second, state, size), TINYLLM_ERR_CORRUPT, "token list");
    state[0] = 'X';
    CHECK_FAILS(tinyllm_state_load(second, state, size), TINYLLM_ERR_BAD_MAGIC, "not a tinyllm saved state");
    CHECK(tinyllm_n_tokens(second) == n + 20);
    CHECK_FAILS(tinyllm_state_save(NULL, state, size, &written), TINYLLM_ERR_INVALID_ARGUMENT, "context is NULL");
    free(state);
    tinyllm_context_free(whole);
    tinyllm_context_free(first);
    tinyllm_context_free(second);
    tinyllm_context_free(foreign);
    tinyllm_context_free(small);
}

/* Greedy ids of a model opened some way, for comparing ways of opening. */
static int greedy_ids(tinyllm_model* model, tinyllm_token* out, int n_predict) {
    tinyllm_context* ctx = greedy_context(model, 0);
    tinyllm_generate_params gp = tinyllm_generate_default_params();
    tinyllm_token ids[64];
    int n = prompt_tokens(model, "First Citizen:", ids, 64);
    Reply r;
    memset(&r, 0, sizeof r);
    gp.n_predict = n_predict;
    CHECK(tinyllm_generate(ctx, ids, n, &gp, collect, &r, NULL) == TINYLLM_OK);
    memcpy(out, r.ids, (size_t)r.n_ids * sizeof(tinyllm_token));
    tinyllm_context_free(ctx);
    return r.n_ids;
}

static void test_other_sources(tinyllm_model* from_path) {
    size_t size = 0, vocab_size = 0;
    unsigned char* bytes = read_file(path("models/shakespeare5m-q8_0.gguf"), &size);
    unsigned char* vocab = read_file(path("models/shakespeare5m-f16.gguf"), &vocab_size);
    tinyllm_model *from_memory = NULL, *program = NULL;
    tinyllm_token a[32], b[32];
    int na, nb;
    CHECK(bytes != NULL && vocab != NULL);
    CHECK(tinyllm_model_open_memory(bytes, size, NULL, 0, &from_memory) == TINYLLM_OK);
    na = greedy_ids(from_path, a, 16);
    nb = greedy_ids(from_memory, b, 16);
    CHECK(na == 16 && na == nb && memcmp(a, b, 16 * sizeof(tinyllm_token)) == 0);
    CHECK_FAILS(tinyllm_model_open_memory(bytes, size / 2, NULL, 0, &program), TINYLLM_ERR_BAD_OFFSET, "past the end of the file");
    tinyllm_model_free(from_memory);
    free(bytes);

    /* The .pte program with the GGUF vocabulary: from a path, and from memory. */
    CHECK(tinyllm_model_open(path("models/shakespeare5m_fp32_kv.pte"), path("models/shakespeare5m-f16.gguf"), &program) == TINYLLM_OK);
    CHECK(tinyllm_model_n_vocab(program) == 1024);
    nb = greedy_ids(program, b, 16);
    CHECK(nb == 16);
    tinyllm_model_free(program);
    bytes = read_file(path("models/shakespeare5m_fp32_kv.pte"), &size);
    CHECK(tinyllm_model_open_memory(bytes, size, vocab, vocab_size, &program) == TINYLLM_OK);
    na = greedy_ids(program, a, 16);
    CHECK(na == 16 && memcmp(a, b, 16 * sizeof(tinyllm_token)) == 0);
    tinyllm_model_free(program);
    CHECK_FAILS(tinyllm_model_open_memory(bytes, size, NULL, 0, &program), TINYLLM_ERR_MISSING_KEY, "no vocabulary");
    free(bytes);
    free(vocab);
}

/* Speculative decoding: a draft model (the q4_0 file drafting for the q8_0), prompt lookup or
 * lookahead gives the greedy reply a context without drafts gives; bad settings are refused by name. */
static void test_drafting(tinyllm_model* model, tinyllm_model* draft) {
    tinyllm_context *plain = greedy_context(model, 256), *ctx = NULL;
    tinyllm_context_params p = tinyllm_context_default_params();
    tinyllm_generate_params g = tinyllm_generate_default_params();
    tinyllm_token ids[64];
    int n = prompt_tokens(model, "ROMEO:\nBut soft, what light through yonder window breaks?", ids, 64), mode;
    Reply want, got;
    p.n_ctx = 256;
    p.sampling.temperature = 0.0f;
    g.n_predict = 96;
    memset(&want, 0, sizeof want);
    CHECK(tinyllm_generate(plain, ids, n, &g, collect, &want, NULL) == TINYLLM_OK);
    for (mode = 0; mode < 3; ++mode) {
        p.draft_model = mode == 0 ? draft : NULL;
        p.lookup_ngram = mode == 1 ? 3 : 0;
        p.lookahead_window = mode == 2 ? 3 : 0;
        p.lookahead_ngram = p.lookahead_verify = mode == 2 ? 3 : 0;
        CHECK(tinyllm_context_create(model, &p, &ctx) == TINYLLM_OK);
        memset(&got, 0, sizeof got);
        CHECK(tinyllm_generate(ctx, ids, n, &g, collect, &got, NULL) == TINYLLM_OK);
        CHECK(got.n_ids == want.n_ids && memcmp(got.ids, want.ids, sizeof(tinyllm_token) * (size_t)want.n_ids) == 0);
        CHECK(tinyllm_n_tokens(ctx) == tinyllm_n_tokens(plain));
        tinyllm_context_free(ctx);
        ctx = NULL;
    }
    p.draft_model = draft;
    p.lookup_ngram = 3;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "three ways of drafting");
    p.draft_model = NULL;
    p.lookup_ngram = 0;
    p.lookahead_window = 4;
    p.lookahead_ngram = 2;
    p.lookahead_verify = 1;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "lookahead W,N,G = 4,2,1");
    p.lookahead_window = 0;
    p.lookahead_ngram = 3;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "lookahead W,N,G = 0,3,1");
    p.lookahead_ngram = p.lookahead_verify = 0;
    p.draft_model = NULL;
    p.lookup_ngram = 1;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "lookup_ngram 1 outside 2..64");
    p.lookup_ngram = 3;
    p.draft_max = 0;
    CHECK_FAILS(tinyllm_context_create(model, &p, &ctx), TINYLLM_ERR_INVALID_ARGUMENT, "draft_max 0");
    CHECK(ctx == NULL);
    tinyllm_context_free(plain);
}

int main(int argc, char** argv) {
    tinyllm_model *model = NULL, *other = NULL;
    FILE* probe;
    snprintf(shared, sizeof shared, "%s", argc > 1 ? argv[1] : "../shared");
    probe = fopen(path("models/shakespeare5m-q8_0.gguf"), "rb");
    if (!probe) {
        printf("SKIP: the shared models are not in %s (pass the shared folder as the argument)\n", shared);
        return 77;
    }
    fclose(probe);
    test_basics();
    CHECK(tinyllm_model_open(path("models/shakespeare5m-q8_0.gguf"), NULL, &model) == TINYLLM_OK);
    CHECK(tinyllm_model_open(path("models/shakespeare5m-q4_0.gguf"), NULL, &other) == TINYLLM_OK);
    if (!model || !other) return 1;
    test_text(model);
    test_contexts(model);
    test_generation(model);
    test_full_context(model);
    test_state(model, other);
    test_drafting(model, other);
    test_other_sources(model);
    tinyllm_model_free(model);
    tinyllm_model_free(other);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
