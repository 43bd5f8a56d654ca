// Fuzz target: the text layer on arbitrary bytes. The first byte picks a vocabulary (loaded once)
// and options; the rest is encoded (invalid UTF-8 included; with a SentencePiece vocabulary the
// freestanding encoder must give the host Tokenizer's ids), its bytes are read as token ids and
// decoded, streamed through a TextStream with a stop string, and formatted as a chat message.
// A first byte of 0xFF reads the rest as a tokenizer.json instead: a vocabulary it yields is
// loaded, encodes a few texts, and is written back as JSON.
#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include "tinyllm/generation/text_stream.hpp"
#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/tokenizer_json.hpp"
#include "tinyllm/text/chat_template.hpp"
#include "tinyllm/text/sentencepiece.hpp"
#include "tinyllm/text/token_text.hpp"
#include "tinyllm/text/tokenizer.hpp"

#ifndef TINYLLM_SHARED_DIR
#define TINYLLM_SHARED_DIR "../shared"
#endif

namespace {

struct Vocabulary {
    tinyllm::GgufModelFile file;
    tinyllm::Tokenizer tokenizer;
    std::vector<uint8_t> memory;
    tinyllm::TokenText text;
    tinyllm::TextStream stream;
    std::vector<uint8_t> encoder_memory;
    tinyllm::SentencePieceEncoder encoder;
    bool has_encoder = false;
};

std::vector<std::unique_ptr<Vocabulary>> load_vocabularies() {
    std::vector<std::unique_ptr<Vocabulary>> out;
    for (const char* name : {"llama-spm", "phi-3", "gpt-2", "falcon", "starcoder", "deepseek-coder", "deepseek-llm", "mpt", "refact"}) {
        auto v = std::make_unique<Vocabulary>();
        const std::string path = std::string(TINYLLM_SHARED_DIR) + "/fixtures/vocab/ggml-vocab-" + name + ".gguf";
        if (!v->file.open(path) || !v->tokenizer.load(v->file.gguf)) continue;
        v->memory.resize(tinyllm::TokenText::required_bytes(v->file.gguf) +
                         tinyllm::TextStream::required_bytes(tinyllm::TokenText::longest_piece(v->file.gguf), 16));
        tinyllm::Arena arena(v->memory.data(), v->memory.size());
        if (!v->text.init(v->file.gguf, arena) || !v->stream.init(v->text.max_token_bytes(), 16, arena)) continue;
        if (v->text.spelling() == tinyllm::text::Spelling::sentencepiece) {
            v->encoder_memory.resize(tinyllm::SentencePieceEncoder::required_bytes(v->text));
            tinyllm::Arena encoder_arena(v->encoder_memory.data(), v->encoder_memory.size());
            if (!v->encoder.init(v->file.gguf, v->text, encoder_arena)) __builtin_trap();  // the differential check must run
            v->has_encoder = true;
        }
        out.push_back(std::move(v));
    }
    return out;
}

void tokenizer_json(const std::string& json) {
    std::vector<uint8_t> bytes;
    if (!tinyllm::tokenizer_json_to_gguf(json, -1, -1, bytes)) return;
    tinyllm::GgufIndex index;
    tinyllm::Tokenizer tokenizer;
    if (!index.parse({bytes.data(), bytes.size()}) || !tokenizer.load(index.file)) return;
    for (const char* text : {"Hello world", " a  b\n\n12345 <s>", "\xe4\xbd\xa0\xff"}) (void)tokenizer.encode(text, true, true);
    std::string again;
    (void)tinyllm::write_tokenizer_json(index.file, again);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size >= 1 && data[0] == 0xFF) {
        tokenizer_json(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
        return 0;
    }
    static std::vector<std::unique_ptr<Vocabulary>> vocabularies = load_vocabularies();
    if (size < 1 || vocabularies.empty()) return 0;
    Vocabulary& v = *vocabularies[data[0] % vocabularies.size()];
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::vector<int32_t> ids = v.tokenizer.encode(text, data[0] & 0x10, data[0] & 0x20);
    if (v.has_encoder) {
        std::vector<uint8_t> scratch(tinyllm::SentencePieceEncoder::scratch_bytes(text.size()));
        tinyllm::Arena arena(scratch.data(), scratch.size());
        std::vector<int32_t> device(3 * text.size() + 8);  // a byte token per byte, three per space, BOS, EOS
        tinyllm::Result<int> n = v.encoder.encode(tinyllm::StrView(text.data(), text.size()), data[0] & 0x10, data[0] & 0x20, device.data(),
                                                  int(device.size()), arena);
        if (!n || std::vector<int32_t>(device.begin(), device.begin() + *n) != ids) __builtin_trap();  // the host's ids, always
    }

    const tinyllm::StrView stop[] = {tinyllm::StrView(text.data(), text.size() < 3 ? text.size() : 3)};
    if (!v.stream.start(stop, stop[0].empty() ? 0 : 1)) return 0;
    for (size_t i = 1; i + 1 < size; i += 2) {
        const int32_t id = int32_t((data[i] | data[i + 1] << 8) % uint32_t(v.text.n_vocab() + 8)) - 4;  // some out of range
        (void)v.text.is_end_of_generation(id);
        if (v.stream.push(v.text, id)) break;
        (void)v.stream.release();
    }
    v.stream.finish();
    (void)v.stream.release();

    const tinyllm::ChatTemplate templates[] = {tinyllm::ChatTemplate::llama2, tinyllm::ChatTemplate::llama3, tinyllm::ChatTemplate::chatml,
                                               tinyllm::ChatTemplate::gemma, tinyllm::ChatTemplate::phi3, tinyllm::ChatTemplate::falcon3};
    (void)tinyllm::format_chat(templates[data[0] % 6], {{"system", text}, {"user", text}}, true);
    return 0;
}
