// convert: write a GGUF model as an ExecuTorch program (.pte), in C++, without PyTorch.
//
//   convert IN.gguf OUT.pte [--weights keep|f32|f16] [--max-seq-len N] [--tokenizer-out tokenizer.json]
//
// The program has ExecuTorch's LLM export signature (forward(tokens [1,1], input_pos [1]) ->
// logits, the KV cache in planned memory, the constant methods its LLM runner reads) and uses
// only ExecuTorch's portable operators (loaders/host/gguf_to_pte.hpp). --weights keep (the
// default) carries F32/F16/BF16 matrices over unchanged and dequantizes the others to f32,
// exactly, saying which. --tokenizer-out also writes the vocabulary as a Hugging Face
// tokenizer.json (loaders/host/tokenizer_json.hpp), which `generate --tokenizer` and ExecuTorch's
// runner read. Files appear only when both are complete.
//
// Errors: exit 1 with one line naming the problem; nothing is left at OUT.pte or the tokenizer path.
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_to_pte.hpp"
#include "tinyllm/loaders/host/tokenizer_json.hpp"
#include "tinyllm/text/tokenizer.hpp"

using namespace tinyllm;

namespace {

// A new file beside `path` (mkstemp: no existing file is truncated), with the permissions a new
// file gets; renamed onto `path` by commit(), removed otherwise.
struct NewFile {
    std::string path, tmp;
    FILE* f = nullptr;
    explicit NewFile(const std::string& target) : path(target), tmp(target + ".XXXXXX") {
        const int fd = mkstemp(tmp.data());
        const mode_t umask_bits = umask(0);
        umask(umask_bits);
        if (fd >= 0) fchmod(fd, 0666 & ~umask_bits);  // not mkstemp's 0600
        f = fd >= 0 ? fdopen(fd, "wb") : nullptr;
        if (!f) tmp.clear();
    }
    Status close() {
        const bool closed = std::fclose(f) == 0;
        f = nullptr;
        return closed ? Status() : Status::fail(Error::io_error, "convert: writing '", cstr(path.c_str()), "' failed");
    }
    Status commit() {
        if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::fail(Error::io_error, "convert: cannot rename to '", cstr(path.c_str()), "'");
        tmp.clear();
        return Status();
    }
    ~NewFile() {
        if (f) std::fclose(f);
        if (!tmp.empty()) std::remove(tmp.c_str());
    }
};

} // namespace

int main(int argc, char** argv) {
    auto fail = [](const std::string& msg) {
        std::fprintf(stderr, "convert: %s\n", msg.c_str());
        return 1;
    };
    const std::string usage = "usage: convert IN.gguf OUT.pte [--weights keep|f32|f16] [--max-seq-len N] [--tokenizer-out tokenizer.json]";
    std::vector<std::string> positional;
    pte::ConvertOptions options;
    std::string tokenizer_out;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") return std::printf("%s\n", usage.c_str()), 0;
        if (a == "--weights" || a == "--max-seq-len" || a == "--tokenizer-out") {
            if (i + 1 >= argc) return fail("missing value after " + a);
            const std::string v = argv[++i];
            if (a == "--tokenizer-out") {
                tokenizer_out = v;
            } else if (a == "--weights") {
                if (v == "keep") options.weights = pte::WeightFormat::keep;
                else if (v == "f32") options.weights = pte::WeightFormat::f32;
                else if (v == "f16") options.weights = pte::WeightFormat::f16;
                else return fail("unknown weight format '" + v + "' (keep, f32 or f16)");
            } else {
                char* end = nullptr;
                const long n = std::strtol(v.c_str(), &end, 10);
                if (*end || n < 1 || n > pte::max_seq_len_limit)
                    return fail("bad --max-seq-len '" + v + "' (1 to " + std::to_string(pte::max_seq_len_limit) + ")");
                options.max_seq_len = int(n);
            }
        } else if (a.size() > 1 && a[0] == '-') {
            return fail("unknown argument '" + a + "' (" + usage + ")");
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 2) return fail(usage);
    const std::string& in_path = positional[0];
    const std::string& out_path = positional[1];

    GgufModelFile in;
    Status st = in.open(in_path);
    Model model;
    if (st) st = in.load(model, /*repack=*/false);
    if (!st) return fail("cannot load '" + in_path + "': " + error_name(st.code) + " (" + st.detail + ")");
    Tokenizer tokenizer;
    if (tokenizer.load(in.gguf)) {
        options.bos_id = tokenizer.bos_id();
        for (int32_t id = 0; id < tokenizer.n_vocab(); ++id)
            if (tokenizer.is_eog(id)) options.eos_ids.push_back(id);
    }

    std::string tokenizer_json;
    if (!tokenizer_out.empty() && !(st = write_tokenizer_json(in.gguf, tokenizer_json)))
        return fail("no tokenizer.json for '" + in_path + "': " + error_name(st.code) + " (" + st.detail + ")");

    // Both files are written beside their targets and renamed when both are complete: a failed
    // conversion leaves nothing behind, and no existing file is truncated on the way.
    NewFile program(out_path);
    if (!program.f) return fail("cannot create a file beside '" + out_path + "'");
    pte::ConvertReport report;
    try {
        st = pte::write_llm_program(model, options, program.f, report);
    } catch (const std::exception& e) {  // memory for the program's tables
        st = Status::fail(Error::out_of_memory, "convert: ", cstr(e.what()));
    }
    if (Status closed = program.close(); st && !closed) st = closed;
    std::unique_ptr<NewFile> vocabulary;
    if (st && !tokenizer_out.empty()) {
        vocabulary = std::make_unique<NewFile>(tokenizer_out);
        if (!vocabulary->f) st = Status::fail(Error::io_error, "convert: cannot create a file beside '", cstr(tokenizer_out.c_str()), "'");
        else if (std::fwrite(tokenizer_json.data(), 1, tokenizer_json.size(), vocabulary->f) != tokenizer_json.size()) st = Status::fail(Error::io_error, "convert: writing '", cstr(tokenizer_out.c_str()), "' failed");
        if (Status closed = vocabulary->f ? vocabulary->close() : Status(); st && !closed) st = closed;
    }
    if (st) st = program.commit();
    if (st && vocabulary) st = vocabulary->commit();
    if (!st) return fail(std::string(error_name(st.code)) + ": " + st.detail);
    if (vocabulary) std::printf("wrote %s\n", tokenizer_out.c_str());
    for (const std::string& note : report.notes) std::fprintf(stderr, "convert: note: %s\n", note.c_str());
    std::printf("wrote %s: %s, %d layers, max_seq_len %d, %.1f MB of planned memory\n", out_path.c_str(), model.config.architecture,
                model.config.n_layer, report.max_seq_len, double(report.planned_bytes) / 1e6);
    return 0;
}
