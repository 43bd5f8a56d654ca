// Shared by the .pte tests: a program with one method loaded into its own arena, one decode
// step of an LLM export, and the logits comparison they use.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tinyllm/pte/method.hpp"

namespace pte_support {

using namespace tinyllm;

inline std::string describe(const Status& s) { return std::string(error_name(s.code)) + ": " + s.detail; }

// A loaded program plus one method bound to its own arena.
struct Loaded {
    std::vector<uint8_t> file;
    pte::Program program;
    std::vector<uint8_t> memory;
    Arena arena;
    pte::Method method;
    Status status;

    Status open(std::vector<uint8_t> bytes, const char* method_name, const pte::ExternalData& external = {},
                const pte::MethodOptions& options = {}) {
        file = std::move(bytes);
        Result<pte::Program> p = pte::open_program(ByteSpan{file.data(), file.size()});
        if (!p) return status = p.status;
        program = *p;
        Result<size_t> need = pte::Method::required_bytes(program, cstr(method_name), options);
        if (!need) return status = need.status;
        // Mutated shapes can ask for any amount: more than a test gives is an arena too small.
        if (*need > (size_t(256) << 20)) return status = Status::fail(Error::out_of_memory, "needs ", uint64_t(*need), " bytes");
        memory.assign(*need, 0);
        arena = Arena(memory.data(), memory.size());
        return status = method.init(program, cstr(method_name), arena, external, options);
    }
};

// One decode step of an ExecuTorch Llama export: tokens [1,1], input_pos [1] -> logits.
inline std::vector<float> decode_step(pte::Method& m, int64_t token, int64_t pos) {
    const int64_t tok_shape[2] = {1, 1}, pos_shape[1] = {1};
    REQUIRE(m.set_input(0, pte::ScalarType::Long, &token, tok_shape, 2).ok());
    REQUIRE(m.set_input(1, pte::ScalarType::Long, &pos, pos_shape, 1).ok());
    Status s = m.execute();
    REQUIRE_MESSAGE(s.ok(), describe(s));
    const pte::Tensor& out = m.output(0).tensor;
    return std::vector<float>(out.as<float>(), out.as<float>() + out.numel());
}

inline double nrmse(const std::vector<float>& a, const std::vector<float>& b) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        err += double(a[i] - b[i]) * (a[i] - b[i]);
        norm += double(b[i]) * b[i];
    }
    return std::sqrt(err / norm);
}

} // namespace pte_support
