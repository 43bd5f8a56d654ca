// Writes a random-weight GGUF of a given architecture and shape, for benchmarks at realistic
// sizes and test models of shapes no fixture has.
//   make_random_model OUT.gguf [--arch ARCH] [--preset NAME] [--type f32|f16|bf16|q8_0|q4_0]
//                     [--vocab N] [--embd N] [--layers N] [--ff N] [--heads N] [--kv-heads N]
//                     [--head-dim N] [--rot N] [--layer-ff A,B,..] [--layer-heads A,B,..]
//                     [--layer-kv-heads A,B,..] [--ctx N] [--rope-base N] [--seed S] [--tied-output] [--fused-qkv]
//                     [--vocab-type spm|chatml|llama3|gpt2] [--zero-output]
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

} // namespace

int main(int argc, char** argv) {
    const std::string usage = std::string("usage: make_random_model OUT.gguf [--arch ARCH] [--preset NAME] [--type f32|f16|bf16|q8_0|q4_0]\n"
        "         [--vocab N] [--embd N] [--layers N] [--ff N] [--heads N] [--kv-heads N] [--head-dim N] [--rot N]\n"
        "         [--layer-ff A,B,..] [--layer-heads A,B,..] [--layer-kv-heads A,B,..] [--ctx N] [--rope-base N] [--seed S]\n"
        "         [--tied-output] [--fused-qkv] [--vocab-type spm|chatml|llama3|gpt2] [--zero-output]\n"
        "  ARCH: ") + random_model_architectures + " (default llama)\n  NAME: " + random_model_presets + "\n"
        "  defaults: --type f16 --vocab 1024 --embd 256 --layers 2 --ff 512 --heads 8 --kv-heads 4 --ctx 512 --seed 1\n";
    if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::fputs(usage.c_str(), stdout);
        return 0;
    }
    if (argc < 2) return fail("no output file given (see --help)");
    // An option where the output name goes is a mistake, not a file to create.
    if (argv[1][0] == '-') return fail(std::string("the first argument is the output file, not '") + argv[1] + "' (see --help)");
    RandomModelShape s;
    const std::string problem = parse_random_model_options(std::vector<std::string>(argv + 2, argv + argc), s);
    if (!problem.empty()) return fail(problem);
    std::vector<uint8_t> bytes = random_model_gguf(s);
    if (bytes.empty()) return fail("could not build the model");
    std::ofstream f(argv[1], std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!f) return fail(std::string("cannot write '") + argv[1] + "'");
    std::printf("wrote %s: %.1f MB\n", argv[1], double(bytes.size()) / 1e6);
    return 0;
}
