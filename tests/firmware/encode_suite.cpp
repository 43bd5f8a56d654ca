// The on-device SentencePiece encoder (text/sentencepiece.hpp) on a vocabulary test suite:
//   encode_suite VOCAB.gguf SUITE.inp SUITE.out
// (files read from the host through semihosting). Each case of the .inp (cases end with
// "\n__ggml_vocab_test__\n") is encoded without BOS and compared with its line of the .out
// (llama.cpp's ids, " id id ..."). Prints 'encode: N passed, M failed' and the encoder's memory.
#include <stdio.h>
#include <string.h>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/text/sentencepiece.hpp"
#include "tinyllm/text/token_text.hpp"

namespace {

alignas(64) uint8_t vocab_file[12 << 20];  // a whole GGUF: its vocabulary is in the header
alignas(64) uint8_t arena_memory[1 << 20];
char inp[64 << 10], expected[64 << 10];
int32_t ids[4096];

size_t read_file(const char* path, void* buffer, size_t capacity) {
    FILE* f = fopen(path, "rb");
    if (!f) return 0;
    const size_t n = fread(buffer, 1, capacity, f);
    fclose(f);
    return n < capacity ? n : 0;  // 0: missing, or too big for the buffer
}

} // namespace

int main(int argc, char** argv) {
    // The last three arguments: semihosting command lines start with the program's name, which
    // the C runtime may pass again as argv[1].
    if (argc < 4) {
        printf("usage: encode_suite VOCAB.gguf SUITE.inp SUITE.out\n");
        return 2;
    }
    argv += argc - 4;
    const size_t vocab_bytes = read_file(argv[1], vocab_file, sizeof vocab_file);
    const size_t inp_bytes = read_file(argv[2], inp, sizeof inp - 1), out_bytes = read_file(argv[3], expected, sizeof expected - 1);
    if (!vocab_bytes || !inp_bytes || !out_bytes) {
        printf("error: cannot read %s, %s or %s\n", argv[1], argv[2], argv[3]);
        return 2;
    }
    tinyllm::Arena arena(arena_memory, sizeof arena_memory);
    tinyllm::gguf::File header;
    tinyllm::TokenText vocabulary;
    static tinyllm::SentencePieceEncoder encoder;
    tinyllm::Status st = tinyllm::gguf::read_header(tinyllm::ByteSpan{vocab_file, vocab_bytes}, header);
    if (st) st = vocabulary.init(header, arena);
    const size_t before_encoder = arena.used();
    if (st) st = encoder.init(header, vocabulary, arena);
    if (!st) {
        printf("error: %s (%s)\n", tinyllm::error_name(st.code), st.detail);
        return 2;
    }
    const size_t table = arena.used() - before_encoder;
    const char separator[] = "\n__ggml_vocab_test__\n";
    const size_t separator_len = sizeof separator - 1;
    int passed = 0, failed = 0;
    char* line = expected;
    char* text = inp;
    for (;;) {
        char* end = strstr(text, separator);
        char* line_end = strchr(line, '\n');
        if (!end || !line_end) break;
        const tinyllm::Result<int> n = encoder.encode(tinyllm::StrView(text, size_t(end - text)), false, false, ids, 4096, arena);
        char got[4096 * 7] = "";
        size_t len = 0;
        for (int i = 0; n && i < *n; ++i) len += size_t(snprintf(got + len, sizeof got - len, " %ld", long(ids[i])));
        if (n && len == size_t(line_end - line) && memcmp(got, line, len) == 0) {
            ++passed;
        } else {
            ++failed;
            printf("FAIL: [%.*s]\n  expected:%.*s\n  got:     %s\n", int(end - text), text, int(line_end - line), line, got);
        }
        text = end + separator_len;
        line = line_end + 1;
    }
    if (strstr(text, separator) || strchr(line, '\n')) {  // the files disagree on the number of cases
        printf("FAIL: %s and %s hold different numbers of cases\n", argv[2], argv[3]);
        ++failed;
    }
    printf("encode: %d passed, %d failed (vocabulary of %ld tokens; lookup table %u bytes, scratch at most %u bytes)\n", passed, failed,
           long(vocabulary.n_vocab()), unsigned(table), unsigned(arena.peak() - arena.used()));
    return failed == 0 && passed > 0 ? 0 : 1;
}
