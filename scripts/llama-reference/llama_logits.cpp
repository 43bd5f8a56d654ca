// Reference outputs from llama.cpp for a GGUF model: the logits of every prompt position
// (one batch), then greedy ids decoded one token at a time. Built and run by
// scripts/llama-references.sh against a local llama.cpp build; tinyllm never links it.
//   llama_logits MODEL.gguf OUT.logits.f32 N_GREEDY ID [ID...]
// Writes the logits as raw little-endian f32 rows; prints "greedy: a,b,c,..." on stdout.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: llama_logits MODEL.gguf OUT.logits.f32 N_GREEDY ID [ID...]\n");
        return 1;
    }
    const int n_greedy = std::atoi(argv[3]);
    std::vector<llama_token> prompt;
    for (int i = 4; i < argc; ++i) prompt.push_back(llama_token(std::atoi(argv[i])));
    const int n_prompt = int(prompt.size());

    llama_log_set([](ggml_log_level level, const char* text, void*) { if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr); }, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.progress_callback = [](float, void*) { return true; };  // no progress dots
    llama_model* model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = uint32_t(n_prompt + n_greedy + 8);
    cp.n_batch = cp.n_ubatch = uint32_t(n_prompt);
    cp.n_threads = cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    llama_batch batch = llama_batch_init(n_prompt, 0, 1);
    for (int i = 0; i < n_prompt; ++i) {
        batch.token[i] = prompt[size_t(i)];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n_prompt;
    if (llama_decode(ctx, batch) != 0) return 1;
    FILE* out = std::fopen(argv[2], "wb");
    if (!out) return 1;
    for (int i = 0; i < n_prompt; ++i) std::fwrite(llama_get_logits_ith(ctx, i), sizeof(float), size_t(n_vocab), out);
    if (std::fclose(out) != 0) return 1;

    auto argmax = [&](const float* l) {
        int best = 0;
        for (int v = 1; v < n_vocab; ++v)
            if (l[v] > l[best]) best = v;
        return best;
    };
    llama_token next = argmax(llama_get_logits_ith(ctx, n_prompt - 1));
    std::printf("greedy:");
    for (int i = 0; i < n_greedy; ++i) {
        std::printf("%s%d", i ? "," : " ", next);
        if (i + 1 == n_greedy) break;
        llama_batch one = llama_batch_get_one(&next, 1);
        if (llama_decode(ctx, one) != 0) return 1;
        next = argmax(llama_get_logits_ith(ctx, -1));
    }
    std::printf("\n");
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
