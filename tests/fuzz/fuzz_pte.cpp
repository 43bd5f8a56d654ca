// Fuzz target: any bytes as an ExecuTorch program: open_program's verifier, then, where a
// 'forward' LLM method loads, one token through it. Must give a Status, never a crash.
#include <stddef.h>
#include <stdint.h>

#include <vector>

#include "tinyllm/pte/llm_program.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<uint8_t> memory(size_t(32) << 20);
    tinyllm::set_thread_count(1);
    tinyllm::Result<tinyllm::pte::Program> program = tinyllm::pte::open_program({data, size});
    if (!program) return 0;
    tinyllm::Result<size_t> need = tinyllm::pte::LlmProgram::required_bytes(*program);
    if (!need || *need > memory.size()) return 0;
    tinyllm::Arena arena(memory.data(), memory.size());
    tinyllm::pte::LlmProgram llm;
    if (!llm.init(*program, arena)) return 0;
    std::vector<float> logits(size_t(llm.n_vocab()));
    const int32_t token = 1;
    if (llm.chunk() == 1) (void)llm.eval(&token, 1, logits.data(), false);
    return 0;
}
