// quantize: rewrite a GGUF model with its weight matrices in another type.
//
//   quantize IN.gguf OUT.gguf TYPE     TYPE: q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k q4_k_m
#include <cstdio>
#include <fstream>
#include <string>

#include "gguf_model_file.hpp"
#include "gguf_quantize.hpp"

using namespace tinyllm;

int main(int argc, char** argv) {
    auto fail = [](const std::string& msg) {
        std::fprintf(stderr, "quantize: %s\n", msg.c_str());
        return 1;
    };
    if (argc != 4) return fail("usage: quantize IN.gguf OUT.gguf TYPE (q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k q4_k_m)");
    QuantMix mix;
    if (!parse_quant_mix(argv[3], mix)) return fail(std::string("unknown type '") + argv[3] + "' (q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k q4_k_m)");
    GgufModelFile in;
    Status st = in.open(argv[1]);
    if (!st) return fail(std::string("cannot load '") + argv[1] + "': " + error_name(st.code) + " (" + st.detail + ")");
    std::vector<uint8_t> bytes;
    if (!(st = quantize_gguf(in.gguf, mix, bytes))) return fail(std::string(error_name(st.code)) + " (" + st.detail + ")");
    std::ofstream out(argv[2], std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!out) return fail(std::string("cannot write '") + argv[2] + "'");
    std::printf("wrote %s (%s): %.1f MB\n", argv[2], argv[3], double(bytes.size()) / 1e6);
    return 0;
}
