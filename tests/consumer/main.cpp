// Generates a few tokens through tinyllm with the consumer's own bare-named headers in use.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "bits.hpp"
#include "gguf.hpp"
#include "math.hpp"
#include "norm.hpp"
#include "tinyllm/engine.hpp"

namespace {
bool count(const tinyllm::GeneratedToken& t, void* user) {
    if (t.id != tinyllm::GeneratedToken::no_token) ++*static_cast<int*>(user);
    return true;
}
} // namespace

int main(int argc, char** argv) {
    std::printf("%s, %s, %s, %s\n", consumer::math_header(), consumer::norm_header(), consumer::bits_header(), consumer::gguf_header());
    if (argc < 2) return 0;
    std::ifstream f(argv[1], std::ios::binary);
    std::vector<uint8_t> model((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    tinyllm::EngineOptions options;
    options.n_ctx = 64;
    options.sampling.temperature = 0.0f;
    tinyllm::Result<size_t> need = tinyllm::Engine::required_arena_bytes({model.data(), model.size()}, options);
    if (!need) return std::printf("error: %s (%s)\n", tinyllm::error_name(need.status.code), need.status.detail), 1;
    std::vector<uint8_t> arena(*need);
    tinyllm::Engine engine;
    const int32_t prompt[] = {1, 403, 407};
    int generated = 0;
    tinyllm::Status st = engine.open({model.data(), model.size()}, arena.data(), arena.size(), options);
    if (st) st = engine.generate(prompt, 3, 8, count, &generated);
    if (!st) return std::printf("error: %s (%s)\n", tinyllm::error_name(st.code), st.detail), 1;
    std::printf("generated %d tokens\n", generated);
    return generated == 8 ? 0 : 1;
}
