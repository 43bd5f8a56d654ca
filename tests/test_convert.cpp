// GGUF -> .pte conversion (loaders/host/gguf_to_pte.hpp): each converted program passes the
// .pte verifier and, run by tinyllm's interpreter, gives the GGUF path's logits and greedy ids;
// `keep` changes no weight value (its logits equal the f32 conversion's bit for bit); the
// constant methods say what the model is; other architectures are refused by name.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "model_support.hpp"
#include "pte_support.hpp"
#include "test_support.hpp"
#include "tinyllm/loaders/host/gguf_to_pte.hpp"
#include "tinyllm/pte/llm_program.hpp"

using namespace tinyllm;
using namespace test_support;

namespace {

std::string describe(const Status& s) { return std::string(error_name(s.code)) + ": " + s.detail; }

// The program bytes of `model` converted with `options`.
std::vector<uint8_t> convert(const Model& model, const pte::ConvertOptions& options, Status& status) {
    FILE* f = std::tmpfile();
    REQUIRE(f);
    pte::ConvertReport report;
    status = pte::write_llm_program(model, options, f, report);
    std::vector<uint8_t> bytes(size_t(std::ftell(f)));
    std::rewind(f);
    REQUIRE(std::fread(bytes.data(), 1, bytes.size(), f) == bytes.size());
    std::fclose(f);
    return bytes;
}

// A converted program loaded for decoding.
struct Converted {
    std::vector<uint8_t> bytes, memory;
    pte::Program program;
    Arena arena;
    pte::LlmProgram llm;

    Converted(const Model& model, pte::WeightFormat weights, int max_seq_len = 64) {
        pte::ConvertOptions options;
        options.weights = weights;
        options.max_seq_len = max_seq_len;
        options.bos_id = 1;
        options.eos_ids = {2};
        Status s;
        bytes = convert(model, options, s);
        REQUIRE_MESSAGE(s.ok(), describe(s));
        Result<pte::Program> p = pte::open_program(ByteSpan{bytes.data(), bytes.size()});
        REQUIRE_MESSAGE(p.ok(), describe(p.status));
        program = *p;
        Result<size_t> need = pte::LlmProgram::required_bytes(program);
        REQUIRE_MESSAGE(need.ok(), describe(need.status));
        memory.assign(*need, 0);
        arena = Arena(memory.data(), memory.size());
        Status st = llm.init(program, arena);
        REQUIRE_MESSAGE(st.ok(), describe(st));
    }
    // Logits of every prompt position, one token at a time.
    std::vector<float> logits(const std::vector<int>& prompt) {
        const int n_vocab = llm.n_vocab();
        std::vector<float> out(prompt.size() * size_t(n_vocab));
        for (size_t i = 0; i < prompt.size(); ++i) {
            const int32_t id = prompt[i];
            Status s = llm.eval(&id, 1, out.data() + i * size_t(n_vocab), false);
            REQUIRE_MESSAGE(s.ok(), describe(s));
        }
        return out;
    }
};

// A model bound as stored (no repacking): what the converter reads.
struct Stored {
    GgufModelFile file;
    Model model;
    explicit Stored(const std::string& name) {
        REQUIRE(file.open(shared_path(name)).ok());
        REQUIRE(file.load(model, /*repack=*/false).ok());
    }
};

double max_row_nrmse(const std::vector<float>& ours, const std::vector<float>& ref, int n_vocab) {
    return compare(ours, ref, n_vocab).max_nrmse;
}

int64_t constant_method(const pte::Program& p, const char* name, uint32_t k = 0) {
    const pte::PlanView plan = p.find_plan(cstr(name));
    REQUIRE(plan.t.valid());
    REQUIRE(k < plan.outputs().size());
    const pte::EValueView v = plan.value(uint32_t(plan.outputs()[k]));
    return v.kind() == pte::ValueKind::Bool ? int64_t(v.as_bool()) : v.as_int();
}

} // namespace

TEST_CASE("float models: converted programs give the GGUF path's logits and the references' greedy ids") {
    struct Case {
        const char* gguf;
        const char* reference;  // JSON with the prompt and the greedy ids
        const char* logits;     // float32 [n_prompt][n_vocab]
        const char* greedy_key;
    };
    const Case cases[] = {{"fixtures/gguf/stories260K-f32.gguf", "fixtures/gguf/stories260K.llama2c.json",
                           "fixtures/gguf/stories260K.llama2c.logits.f32", "greedy_after_prompt"},
                          {"models/shakespeare5m-f16.gguf", "models/shakespeare5m.torch.json", "models/shakespeare5m.torch.logits.f32", "greedy"}};
    for (const Case& c : cases) {
        CAPTURE(std::string(c.gguf));
        if (!require_shared(c.gguf) || !require_shared(c.reference)) continue;
        Stored f(c.gguf);
        Converted program(f.model, pte::WeightFormat::keep);
        const std::string json = read_text(shared_path(c.reference));
        const std::vector<int> prompt = json_int_array(json, "prompt"), greedy = json_int_array(json, c.greedy_key);
        const std::vector<float> want = read_f32(shared_path(c.logits));
        const int n_vocab = f.model.config.n_vocab;
        const std::vector<float> got = program.logits(prompt);
        REQUIRE(want.size() == got.size());
        // The program rounds where the GGUF path does (fp16 cache, f16 activations for f16
        // matrices): that path's arithmetic, up to the order of float sums, which can move a
        // value across a rounding boundary. Against PyTorch / llama2.c's
        // float32, the forward tests' float tolerance.
        CHECK(max_row_nrmse(got, prompt_logits(f.model, prompt), n_vocab) <= 1e-3);
        CHECK(max_row_nrmse(got, want, n_vocab) <= 5e-3);
        std::vector<int> generated;
        std::vector<float> row(got.end() - n_vocab, got.end());
        for (size_t step = 0; step < 32 && step < greedy.size(); ++step) {
            const int32_t id = argmax(row.data(), n_vocab);
            generated.push_back(id);
            REQUIRE(program.llm.eval(&id, 1, row.data(), false).ok());
        }
        CHECK(generated == std::vector<int>(greedy.begin(), greedy.begin() + std::ptrdiff_t(generated.size())));
    }
}

TEST_CASE("synthetic llama, llama3, qwen2, qwen3: the GGUF path's logits (float tolerance) and greedy ids") {
    for (const char* name : {"fixtures/gguf/synthetic/llama-f16.gguf", "fixtures/gguf/synthetic/llama3-f16.gguf",
                             "fixtures/gguf/synthetic/qwen2-f16.gguf", "fixtures/gguf/synthetic/qwen3-f16.gguf"}) {
        CAPTURE(std::string(name));
        if (!require_shared(name)) continue;
        Stored f(name);
        Converted c(f.model, pte::WeightFormat::keep);
        const std::vector<int> prompt{1, 20, 30, 40, 50, 60, 70, 80};
        const int n_vocab = f.model.config.n_vocab;
        const std::vector<float> got = c.logits(prompt);
        CHECK(max_row_nrmse(got, prompt_logits(f.model, prompt), n_vocab) <= 1e-3);  // as above
        std::vector<uint8_t> mem(Session::required_bytes(f.model, 64, 16));
        Arena arena(mem.data(), mem.size());
        Session s;
        REQUIRE(s.init(f.model, 64, 16, arena).ok());
        std::vector<float> row(static_cast<size_t>(n_vocab)), p(got.end() - n_vocab, got.end());
        REQUIRE(s.eval(prompt.data(), int(prompt.size()), row.data(), false).ok());
        for (int step = 0; step < 16; ++step) {
            const int32_t id = argmax(row.data(), n_vocab);
            REQUIRE(id == argmax(p.data(), n_vocab));
            REQUIRE(s.eval(&id, 1, row.data(), false).ok());
            REQUIRE(c.llm.eval(&id, 1, p.data(), false).ok());
        }
    }
}

TEST_CASE("keep changes no weight value: Q8_0 and Q4_0 codes x scales are the GGUF's weights, bit for bit") {
    for (const char* name : {"models/shakespeare5m-q8_0.gguf", "models/shakespeare5m-q4_0.gguf", "fixtures/gguf/synthetic/llama-q4_k_m.gguf"}) {
        CAPTURE(std::string(name));
        if (!require_shared(name)) continue;
        Stored f(name);
        Converted keep(f.model, pte::WeightFormat::keep), f32(f.model, pte::WeightFormat::f32);
        // The first dequantization in the program is layer 0's q projection (a Q8_0 or Q4_0
        // matrix; the q4_k_m file keeps none, its matrices are f32 already).
        const pte::PlanView plan = keep.program.find_plan(cstr("forward"));
        const WeightView& wq = f.model.layers[0].wq;
        int checked = 0;
        for (uint32_t i = 0; i < plan.instruction_count(0) && !checked; ++i) {
            const pte::InstructionView in = plan.instruction(0, i);
            if (in.kind() != pte::InstructionKind::KernelCall || plan.op(uint32_t(in.callee())).name() != cstr("quantized_decomposed::dequantize_per_channel"))
                continue;
            const ByteSpan codes = keep.program.constant(plan.value(uint32_t(in.call_args()[0])).as_tensor().data_buffer_idx());
            const ByteSpan scales = keep.program.constant(plan.value(uint32_t(in.call_args()[1])).as_tensor().data_buffer_idx());
            std::vector<float> row(static_cast<size_t>(wq.cols));
            for (int64_t r = 0; r < wq.rows; ++r) {
                dequantize_row(wq, r, row.data());
                for (int64_t k = 0; k < wq.cols; ++k) {
                    float scale;
                    std::memcpy(&scale, scales.data + 4 * size_t((r * wq.cols + k) / 32), 4);
                    const float value = float(int8_t(codes.data[size_t(r * wq.cols + k)])) * scale;
                    if (value != row[size_t(k)]) FAIL_CHECK("weight " << r << "," << k << ": " << value << " != " << row[size_t(k)]);
                }
            }
            ++checked;
        }
        CHECK(checked == (wq.type == GgmlType::Q8_0 || wq.type == GgmlType::Q4_0 ? 1 : 0));
        // Every product (7 per layer and the head) runs on the stored codes, never on a
        // dequantized copy: fusion holds however the memory plan reuses the copies' bytes.
        pte_support::Loaded method;
        REQUIRE_MESSAGE(method.open(keep.bytes, "forward").ok(), describe(method.status));
        CHECK(method.method.linear_layers() == uint32_t(7 * f.model.config.n_layer + 1));
        // A float32 program skips the 8-bit rounding of matrix inputs: the quantized tolerance.
        const std::vector<int> prompt{1, 5, 9, 200, 31, 7};
        CHECK(max_row_nrmse(f32.logits(prompt), prompt_logits(f.model, prompt), f.model.config.n_vocab) <= 0.05);
    }
}

TEST_CASE("keep: each weight type's program computes the GGUF path's arithmetic") {
    // The program rounds each matrix input as the GGUF path does for the type (q8_0, q8_K, f16,
    // bf16), so its products are that path's integer or 16-bit products, summed in another
    // order. A sum's last bit can still move a value across a rounding boundary (a tie in
    // round(x * 127 / amax), an fp16 scale): that token's logits then differ by about one
    // quantum. So most tokens (three in four; without the rounding, none), not all, agree
    // within 1e-5; every one within the quantized tolerance. Q4_1 and Q5_1 (whose min terms llama.cpp sums in fp16) take float input: the
    // tolerance only.
    struct Case {
        const char* name;
        bool exact;
    };
    const Case cases[] = {{"llama-q8_0", true}, {"llama-q4_0", true}, {"llama-q5_0", true}, {"llama-iq4_nl", true}, {"llama-iq4_xs", true},
                          {"llama-q2_k", true}, {"llama-q4_k_m", true}, {"llama-q6_k", true}, {"llama-bf16", true}, {"llama-f16", true},
                          {"llama-q4_1", false}, {"llama-q5_1", false}};
    for (const Case& c : cases) {
        const std::string name = std::string("fixtures/gguf/synthetic/") + c.name + ".gguf";
        CAPTURE(name);
        if (!require_shared(name)) continue;
        Stored f(name);
        Converted keep(f.model, pte::WeightFormat::keep);
        SessionMemory gguf(f.model, 64, 16);
        const int n_vocab = f.model.config.n_vocab, n = 64;
        std::vector<float> a(static_cast<size_t>(n_vocab)), b(static_cast<size_t>(n_vocab));
        int within = 0;
        double worst = 0;
        for (int t = 0; t < n; ++t) {
            const int32_t id = (t * 37 + 11) % n_vocab;
            REQUIRE(keep.llm.truncate(0).ok());
            REQUIRE(gguf.session.truncate(0).ok());
            REQUIRE(keep.llm.eval(&id, 1, a.data(), false).ok());
            REQUIRE(gguf.session.eval(&id, 1, b.data(), false).ok());
            const double e = max_row_nrmse(a, b, n_vocab);
            within += e <= 1e-5;
            worst = std::max(worst, e);
        }
        MESSAGE(c.name, ": ", within, "/", n, " tokens within 1e-5, worst ", worst);
        if (c.exact) CHECK(within >= n * 3 / 4);
        CHECK(worst <= 0.05);
    }
}

TEST_CASE("constant methods: vocabulary, context, layers, BOS/EOS, KV cache") {
    if (!require_shared("models/shakespeare5m-f16.gguf")) return;
    Stored f("models/shakespeare5m-f16.gguf");
    Converted c(f.model, pte::WeightFormat::f16, 100);
    CHECK(constant_method(c.program, "get_vocab_size") == f.model.config.n_vocab);
    CHECK(constant_method(c.program, "get_max_seq_len") == 100);
    CHECK(constant_method(c.program, "get_n_layers") == f.model.config.n_layer);
    CHECK(constant_method(c.program, "get_bos_id") == 1);
    CHECK(constant_method(c.program, "get_eos_ids") == 2);
    CHECK(constant_method(c.program, "use_kv_cache") == 1);
    CHECK(c.llm.n_ctx() == 100);
}

TEST_CASE("architectures outside llama/qwen2/qwen3 are refused by name, nothing written") {
    if (!require_shared("fixtures/gguf/synthetic/gemma-f16.gguf")) return;
    Stored f("fixtures/gguf/synthetic/gemma-f16.gguf");
    FILE* out = std::tmpfile();
    pte::ConvertReport report;
    Status s = pte::write_llm_program(f.model, {}, out, report);
    CHECK(s.code == Error::unsupported_architecture);
    CHECK_MESSAGE(std::string(s.detail).find("'gemma'") != std::string::npos, s.detail);
    CHECK(std::ftell(out) == 0);
    std::fclose(out);
}
