// quantize: rewrite a GGUF model with its weight matrices in another type.
//
//   quantize IN.gguf OUT.gguf TYPE [--group-size G] [--allow-requantize] [--pure]
//
// A file whose matrices are already quantized is refused unless --allow-requantize (as
// llama-quantize does): quantizing twice loses more than quantizing the float weights once.
//
// TYPE: q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k q4_k_m (llama.cpp's types and rules), or int8 / int4:
// tinyllm's groupwise formats (torchao's symmetric quantization, G values per group, default
// 128 for int4 and 0 = per row for int8), readable by tinyllm only. --pure (as llama-quantize's)
// puts the output head and embeddings in TYPE too, for programs built with fewer types' kernels
// (firmware: TINYLLM_WEIGHT_TYPES); rows TYPE cannot hold fall back as without it.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/host/gguf_quantize.hpp"

using namespace tinyllm;

int main(int argc, char** argv) {
    auto fail = [](const std::string& msg) {
        std::fprintf(stderr, "quantize: %s\n", msg.c_str());
        return 1;
    };
    const char* types = "q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k q4_k_m int8 int4";
    const std::string usage = std::string("usage: quantize IN.gguf OUT.gguf TYPE [--group-size G] [--allow-requantize] [--pure] (") + types + ")";
    std::vector<std::string> positional;
    const char* group_arg = nullptr;
    bool allow_requantize = false, pure = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") return std::printf("%s\n", usage.c_str()), 0;
        if (a == "--group-size") {
            if (i + 1 >= argc) return fail("missing value after --group-size");
            group_arg = argv[++i];
        } else if (a == "--allow-requantize") {
            allow_requantize = true;
        } else if (a == "--pure") {
            pure = true;
        } else if (a.size() > 1 && a[0] == '-') {
            return fail("unknown argument '" + a + "' (" + usage + ")");
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 3) return fail(usage);
    QuantMix mix;
    if (!parse_quant_mix(positional[2], mix)) return fail("unknown type '" + positional[2] + "' (" + types + ")");
    const bool groupwise = mix == QuantMix::int8 || mix == QuantMix::int4;
    long group = mix == QuantMix::int4 ? 128 : 0;
    if (group_arg) {
        char* end = nullptr;
        group = std::strtol(group_arg, &end, 10);
        if (!groupwise) return fail("--group-size applies to int8 and int4 only");
        if (*end || group < 0 || (group != 0 && (group < 32 || group > 256 || group % 32 != 0)))
            return fail(std::string("bad group size '") + group_arg + "' (0 = per row, or 32, 64, ..., 256)");
        if (mix == QuantMix::int4 && group == 0) return fail("int4 needs a group size (32 to 256)");
    }
    GgufModelFile in;
    Status st = in.open(positional[0]);
    if (!st) return fail("cannot load '" + positional[0] + "': " + error_name(st.code) + " (" + st.detail + ")");
    for (uint64_t i = 0; i < in.gguf.n_tensors && !allow_requantize; ++i) {
        const GgmlType t = in.gguf.tensors[i].type;
        if (t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16)
            return fail("'" + positional[0] + "' is already quantized (tensor '" +
                        std::string(in.gguf.tensors[i].name.data(), in.gguf.tensors[i].name.size()) + "' is " + ggml_type_name(t) +
                        "); quantize the float model, or pass --allow-requantize");
    }
    std::vector<uint8_t> bytes;
    if (!(st = quantize_gguf(in.gguf, mix, bytes, group, pure))) return fail(std::string(error_name(st.code)) + " (" + st.detail + ")");
    std::ofstream out(positional[1], std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!out) return fail("cannot write '" + positional[1] + "'");
    std::printf("wrote %s (%s): %.1f MB\n", positional[1].c_str(), positional[2].c_str(), double(bytes.size()) / 1e6);
    return 0;
}
