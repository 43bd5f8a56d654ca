// Fuzz target: the server's request bodies. The first byte picks completions or chat; the rest
// is the body. A body must either be refused with a 4xx naming the problem, or give a job whose
// prompt fits the context and whose settings the sampler accepts; replies built from it (with
// tokens whose bytes are not UTF-8) must serialize.
#include <stddef.h>
#include <stdint.h>

#include <string>

#include "../../examples/server/openai_api.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"

using namespace tinyllm;
using namespace tinyllm::server;

namespace {

struct Setup {
    GgufModelFile file;
    Tokenizer tokenizer;
    ModelInfo model;
    Setup() {
        if (!file.open(std::string(TINYLLM_SHARED_DIR) + "/models/shakespeare5m-q8_0.gguf") || !tokenizer.load(file.gguf)) return;
        model.name = "fuzz";
        model.tokenizer = &tokenizer;
        model.n_ctx = 64;
        model.n_vocab = tokenizer.n_vocab();
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Setup setup;
    if (!setup.model.tokenizer || size < 1) return 0;
    const bool chat = data[0] & 1;
    const json body = json::parse(data + 1, data + size, nullptr, false);
    if (body.is_discarded()) return 0;
    CompletionRequest request;
    ApiError error;
    if (!parse_completion(body, chat, setup.model, request, error)) {
        if (error.status < 400 || error.status > 499 || error.message.empty()) __builtin_trap();
        (void)dump(error_body(error));
        return 0;
    }
    const Job& job = *request.job;
    if (job.prompt.empty() || int(job.prompt.size()) > setup.model.n_ctx || job.max_tokens < 1 || !Sampler::check(job.sampling))
        __builtin_trap();
    for (int32_t id : job.prompt)
        if (id < 0 || id >= setup.model.n_vocab) __builtin_trap();
    std::vector<Piece> pieces(2);
    pieces[0].id = job.prompt[0];
    pieces[0].text = std::string("\xff\xfe", 2);
    pieces[0].top = {{job.prompt.back(), -1.0f}};
    pieces[1].text = "tail";
    (void)dump(response(request, setup.model, pieces, request.stream, "stop", true));
    return 0;
}
