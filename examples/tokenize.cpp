// tokenize: text to token ids with a GGUF model's (or vocab-only file's) tokenizer.
//
//   tokenize -m MODEL.gguf (-p TEXT | -f FILE.inp) [--add-special] [--parse-special]
//
// With -p: prints the ids, comma-separated, on one line. With -f: reads llama.cpp's
// vocab-test format (cases separated by "\n__ggml_vocab_test__\n") and prints one line per
// case, each id preceded by a space (the `.out` format). Errors: exit 1, one line.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/text/tokenizer.hpp"

using namespace tinyllm;

namespace {

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "tokenize: %s\n", msg.c_str());
    std::exit(1);
}

} // namespace

int main(int argc, char** argv) {
    const char* usage = "usage: tokenize -m MODEL (-p TEXT | -f FILE) [--add-special] [--parse-special]";
    std::string model, text, file;
    bool have_text = false, add_special = false, parse_special = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value after " + a);
            return argv[++i];
        };
        if (a == "-h" || a == "--help") return std::printf("%s\n", usage), 0;
        if (a == "-m") model = value();
        else if (a == "-p") { text = value(); have_text = true; }
        else if (a == "-f") file = value();
        else if (a == "--add-special") add_special = true;
        else if (a == "--parse-special") parse_special = true;
        else die("unknown argument '" + a + "' (" + usage + ")");
    }
    if (model.empty()) die("give -m MODEL.gguf");
    if (have_text == !file.empty()) die("give exactly one of -p TEXT or -f FILE");

    GgufModelFile gguf;
    Status st = gguf.open(model);
    if (!st) die("cannot load '" + model + "': " + error_name(st.code) + " (" + st.detail + ")");
    Tokenizer tok;
    if (!(st = tok.load(gguf.gguf))) die("cannot load the tokenizer of '" + model + "': " + error_name(st.code) + " (" + st.detail + ")");

    if (have_text) {
        std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
        for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? ",%d" : "%d", ids[i]);
        std::printf("\n");
        return 0;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) die("cannot open '" + file + "'");
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string all = buf.str(), sep = "\n__ggml_vocab_test__\n";
    // Every case ends at a separator, except a last one the file does not close (kept, as
    // llama.cpp's reader keeps it).
    for (size_t pos = 0; pos < all.size();) {
        size_t end = all.find(sep, pos);
        if (end == std::string::npos) end = all.size();
        std::string line;
        for (int32_t id : tok.encode(all.substr(pos, end - pos), add_special, parse_special)) line += " " + std::to_string(id);
        std::printf("%s\n", line.c_str());
        pos = end == all.size() ? end : end + sep.size();
    }
    return 0;
}
