// convert: write a GGUF model as an ExecuTorch program (.pte), in C++, without PyTorch.
//
//   convert IN.gguf OUT.pte [--weights keep|f32|f16] [--max-seq-len N]
//
// The program has ExecuTorch's LLM export signature (forward(tokens [1,1], input_pos [1]) ->
// logits, the KV cache in planned memory, the constant methods its LLM runner reads) and uses
// only ExecuTorch's portable operators (loaders/host/gguf_to_pte.hpp). --weights keep (the
// default) carries F32/F16/BF16 matrices over unchanged and dequantizes the others to f32,
// exactly, saying which. The file appears only when it is complete.
//
// Errors: exit 1 with one line naming the problem; nothing is left at OUT.pte.
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_to_pte.hpp"
#include "tinyllm/text/tokenizer.hpp"

using namespace tinyllm;

int main(int argc, char** argv) {
    auto fail = [](const std::string& msg) {
        std::fprintf(stderr, "convert: %s\n", msg.c_str());
        return 1;
    };
    const std::string usage = "usage: convert IN.gguf OUT.pte [--weights keep|f32|f16] [--max-seq-len N]";
    std::vector<std::string> positional;
    pte::ConvertOptions options;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") return std::printf("%s\n", usage.c_str()), 0;
        if (a == "--weights" || a == "--max-seq-len") {
            if (i + 1 >= argc) return fail("missing value after " + a);
            const std::string v = argv[++i];
            if (a == "--weights") {
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

    // Written to a new file beside the target, then renamed: a failed conversion leaves nothing
    // behind, and no existing file is truncated on the way.
    std::string tmp_path = out_path + ".XXXXXX";
    const int fd = mkstemp(tmp_path.data());
    const mode_t umask_bits = umask(0);
    umask(umask_bits);
    if (fd >= 0) fchmod(fd, 0666 & ~umask_bits);  // the permissions a new file gets, not mkstemp's 0600
    FILE* out = fd >= 0 ? fdopen(fd, "wb") : nullptr;
    if (!out) return fail("cannot create a file beside '" + out_path + "'");
    pte::ConvertReport report;
    try {
        st = pte::write_llm_program(model, options, out, report);
    } catch (const std::exception& e) {  // memory for the program's tables
        st = Status::fail(Error::out_of_memory, "convert: ", cstr(e.what()));
    }
    const bool closed = std::fclose(out) == 0;
    if (st && !closed) st = Status::fail(Error::io_error, "convert: closing the output failed");
    if (st && std::rename(tmp_path.c_str(), out_path.c_str()) != 0) st = Status::fail(Error::io_error, "convert: cannot rename to '", cstr(out_path.c_str()), "'");
    if (!st) {
        std::remove(tmp_path.c_str());
        return fail(std::string(error_name(st.code)) + ": " + st.detail);
    }
    for (const std::string& note : report.notes) std::fprintf(stderr, "convert: note: %s\n", note.c_str());
    std::printf("wrote %s: %s, %d layers, max_seq_len %d, %.1f MB of planned memory\n", out_path.c_str(), model.config.architecture,
                model.config.n_layer, report.max_seq_len, double(report.planned_bytes) / 1e6);
    return 0;
}
