// Writes a random-weight Llama GGUF of a given shape, for benchmarks at realistic sizes.
//   make_random_model OUT.gguf [--arch llama|qwen2|qwen3|gemma|gemma2|gemma3|phi3]
//                     [--preset tinyllama-1.1b|llama-7b|small] [--type f32|f16|bf16|q8_0|q4_0]
//                     [--vocab N] [--embd N] [--layers N] [--ff N] [--heads N] [--kv-heads N] [--ctx N] [--seed S]
//                     [--vocab-type spm|chatml|llama3] [--zero-output]
// --vocab-type chatml / llama3 write byte-level BPE vocabularies with those chat formats' special
// tokens first; --zero-output writes an all-zero output head (greedy then always picks id 0, the
// end-of-turn token of those vocabularies): test models for stopping and text streaming.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "random_model.hpp"

using namespace tinyllm;

namespace {

int fail(const std::string& msg) {
    std::fprintf(stderr, "make_random_model: %s\n", msg.c_str());
    return 1;
}

bool parse_type(const std::string& s, GgmlType& t) {
    const std::pair<const char*, GgmlType> names[] = {{"f32", GgmlType::F32}, {"f16", GgmlType::F16},
        {"bf16", GgmlType::BF16}, {"q8_0", GgmlType::Q8_0}, {"q4_0", GgmlType::Q4_0}};
    for (auto& [name, type] : names)
        if (s == name) { t = type; return true; }
    return false;
}

} // namespace

const char* const usage =
    "usage: make_random_model OUT.gguf [--arch llama|qwen2|qwen3|gemma|gemma2|gemma3|phi3]\n"
    "         [--preset tinyllama-1.1b|llama-7b|small] [--type f32|f16|bf16|q8_0|q4_0] [--vocab N] [--embd N]\n"
    "         [--layers N] [--ff N] [--heads N] [--kv-heads N] [--ctx N] [--seed S] [--vocab-type spm|chatml|llama3]\n"
    "         [--zero-output]\n";

int main(int argc, char** argv) {
    if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::fputs(usage, stdout);
        return 0;
    }
    if (argc < 2) return fail("no output file given (see --help)");
    // An option where the output name goes is a mistake, not a file to create.
    if (argv[1][0] == '-') return fail(std::string("the first argument is the output file, not '") + argv[1] + "' (see --help)");
    RandomModelShape s;
    std::string out = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--zero-output") {
            s.zero_output = true;
            continue;
        }
        if (i + 1 >= argc) return fail("missing value after " + a);
        std::string v = argv[++i];
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        bool numeric = end && *end == 0 && n > 0;
        if (a == "--preset") {
            if (v == "tinyllama-1.1b") { s.n_vocab = 32000; s.n_embd = 2048; s.n_layer = 22; s.n_ff = 5632; s.n_head = 32; s.n_head_kv = 4; s.n_ctx = 2048; }
            else if (v == "llama-7b") { s.n_vocab = 32000; s.n_embd = 4096; s.n_layer = 32; s.n_ff = 11008; s.n_head = 32; s.n_head_kv = 32; s.n_ctx = 4096; }
            else if (v == "small") { s.n_vocab = 1024; s.n_embd = 256; s.n_layer = 2; s.n_ff = 512; s.n_head = 8; s.n_head_kv = 4; }
            else return fail("unknown preset '" + v + "' (tinyllama-1.1b, llama-7b, small)");
        } else if (a == "--arch") {
            if (v != "llama" && v != "qwen2" && v != "qwen3" && v != "gemma" && v != "gemma2" && v != "gemma3" && v != "phi3")
                return fail("unknown architecture '" + v + "' (llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3)");
            s.arch = v;
        } else if (a == "--vocab-type") {
            if (v != "spm" && v != "chatml" && v != "llama3") return fail("unknown vocabulary type '" + v + "' (spm, chatml, llama3)");
            s.vocabulary = v;
        } else if (a == "--type") {
            if (!parse_type(v, s.type)) return fail("unsupported type '" + v + "' (f32, f16, bf16, q8_0, q4_0)");
        } else if (!numeric) {
            return fail("bad value '" + v + "' for " + a);
        } else if (a == "--vocab") s.n_vocab = int(n);
        else if (a == "--embd") s.n_embd = int(n);
        else if (a == "--layers") s.n_layer = int(n);
        else if (a == "--ff") s.n_ff = int(n);
        else if (a == "--heads") s.n_head = int(n);
        else if (a == "--kv-heads") s.n_head_kv = int(n);
        else if (a == "--ctx") s.n_ctx = int(n);
        else if (a == "--seed") s.seed = uint32_t(n);
        else return fail("unknown option " + a);
    }
    if (s.n_vocab < 259) return fail("--vocab must be at least 259 (3 specials + 256 byte tokens)");
    if (s.n_embd % s.n_head || s.n_head % s.n_head_kv) return fail("heads must divide embd, kv-heads must divide heads");
    if ((s.n_embd % 32 || s.n_ff % 32) && s.type != GgmlType::F32) return fail("embd and ff must be multiples of 32");
    std::vector<uint8_t> bytes = random_model_gguf(s);
    if (bytes.empty()) return fail("could not build the model");
    std::ofstream f(out, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!f) return fail("cannot write '" + out + "'");
    std::printf("wrote %s: %.1f MB\n", out.c_str(), double(bytes.size()) / 1e6);
    return 0;
}
