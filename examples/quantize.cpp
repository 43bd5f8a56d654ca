// quantize: rewrite a GGUF model with its weight matrices in another type.
//
//   quantize IN.gguf OUT.gguf TYPE [--group-size G]
//
// TYPE: q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k q4_k_m (llama.cpp's types and rules), or int8 / int4:
// tinyllm's groupwise formats (torchao's symmetric quantization, G values per group, default
// 128 for int4 and 0 = per row for int8), readable by tinyllm only.
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
    if (argc != 4 && !(argc == 6 && std::string(argv[4]) == "--group-size"))
        return fail(std::string("usage: quantize IN.gguf OUT.gguf TYPE [--group-size G] (") + types + ")");
    QuantMix mix;
    if (!parse_quant_mix(argv[3], mix)) return fail(std::string("unknown type '") + argv[3] + "' (" + types + ")");
    const bool groupwise = mix == QuantMix::int8 || mix == QuantMix::int4;
    long group = mix == QuantMix::int4 ? 128 : 0;
    if (argc == 6) {
        char* end = nullptr;
        group = std::strtol(argv[5], &end, 10);
        if (!groupwise) return fail("--group-size applies to int8 and int4 only");
        if (*end || group < 0 || (group != 0 && (group < 32 || group > 256 || group % 32 != 0)))
            return fail(std::string("bad group size '") + argv[5] + "' (0 = per row, or 32, 64, ..., 256)");
        if (mix == QuantMix::int4 && group == 0) return fail("int4 needs a group size (32 to 256)");
    }
    GgufModelFile in;
    Status st = in.open(argv[1]);
    if (!st) return fail(std::string("cannot load '") + argv[1] + "': " + error_name(st.code) + " (" + st.detail + ")");
    std::vector<uint8_t> bytes;
    if (!(st = quantize_gguf(in.gguf, mix, bytes, group))) return fail(std::string(error_name(st.code)) + " (" + st.detail + ")");
    std::ofstream out(argv[2], std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!out) return fail(std::string("cannot write '") + argv[2] + "'");
    std::printf("wrote %s (%s): %.1f MB\n", argv[2], argv[3], double(bytes.size()) / 1e6);
    return 0;
}
