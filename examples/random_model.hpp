// Builds a random-weight GGUF of any supported architecture, shape and weight type: benchmark
// inputs at realistic sizes (e.g. TinyLlama-1.1B) and test models of shapes the fixtures lack.
// Tensor names and metadata keys are the ones llama.cpp uses for each architecture.
// Quantized tensors get random codes with sane scales directly (no quantizer needed).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/loaders/host/gguf_writer.hpp"
#include "tinyllm/text/token_bytes.hpp"
#include "tinyllm/text/unicode.hpp"

namespace tinyllm {

struct RandomModelShape {
    std::string arch = "llama";  // llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3
    int n_vocab = 1024;
    int n_embd = 256;
    int n_layer = 2;
    int n_ff = 512;
    int n_head = 8;
    int n_head_kv = 4;
    int head_dim = 0;  // 0: n_embd / n_head
    int n_ctx = 512;
    bool tied_output = false;
    float rope_base = 10000.0f;
    int sliding_window = 0;          // gemma2/gemma3
    float attn_softcap = 0.0f;       // gemma2
    float final_softcap = 0.0f;      // gemma2
    bool rope_freq_factors = false;  // llama: write rope_freqs.weight
    GgmlType type = GgmlType::F16;  // matrices; norms are always F32
    uint32_t seed = 1;
    // "spm": a byte-fallback SentencePiece vocabulary; "chatml" / "llama3": byte-level BPE ones
    // whose lowest ids are the chat format's special tokens, end of turn first.
    std::string vocabulary = "spm";
    bool zero_output = false;  // an all-zero output head: every logit 0, so greedy picks id 0
};

// The vocabulary's tokenizer.* keys.
inline void add_random_vocabulary(const RandomModelShape& s, gguf::Writer& w) {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    auto special = [&](const char* text) {
        tokens.push_back(text);
        types.push_back(text::control);
    };
    if (s.vocabulary == "spm") {
        tokens = {"<unk>", "<s>", "</s>"};
        types = {text::unknown, text::control, text::control};
        for (int b = 0; b < 256; ++b) {
            char piece[8];
            std::snprintf(piece, sizeof piece, "<0x%02X>", b);
            tokens.push_back(piece);
            types.push_back(text::byte);
        }
        while (int(tokens.size()) < s.n_vocab) {
            tokens.push_back("\xe2\x96\x81t" + std::to_string(tokens.size()));
            types.push_back(text::normal);
        }
        w.add_string("tokenizer.ggml.model", "llama");
        w.add_f32_array("tokenizer.ggml.scores", std::vector<float>(tokens.size(), 0.0f));
        w.add_u32("tokenizer.ggml.bos_token_id", 1);
        w.add_u32("tokenizer.ggml.eos_token_id", 2);
    } else {
        const bool chatml = s.vocabulary == "chatml";
        if (chatml) {
            for (const char* t : {"<|im_end|>", "<|im_start|>", "<|endoftext|>"}) special(t);
        } else {
            for (const char* t : {"<|eot_id|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|end_of_text|>"}) special(t);
        }
        auto spell = [](const std::string& bytes) {  // bytes as GPT-2's printable code points
            std::string piece;
            for (unsigned char c : bytes) unicode::append_utf8(piece, text::byte_to_codepoint(c));
            return piece;
        };
        for (int b = 0; b < 256; ++b) {
            tokens.push_back(spell(std::string(1, char(b))));
            types.push_back(text::normal);
        }
        // Words, some with a two-byte character (e acute) and some a three-byte one split over
        // two tokens (the first two bytes of a CJK character, then its last with a letter).
        const char* const parts[] = {" t", "\xc3\xa9", " w", "\xe4\xbd", "\xa0x"};
        while (int(tokens.size()) < s.n_vocab) {
            const size_t i = tokens.size();
            tokens.push_back(spell(parts[i % 5] + std::to_string(i)));
            types.push_back(text::normal);
        }
        w.add_string("tokenizer.ggml.model", "gpt2");
        w.add_string("tokenizer.ggml.pre", chatml ? "qwen2" : "llama-bpe");
        w.add_string_array("tokenizer.ggml.merges", {});
        w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(chatml ? 2 : 4));
        if (!chatml) w.add_u32("tokenizer.ggml.bos_token_id", 1);
        w.add_bool("tokenizer.ggml.add_bos_token", !chatml);
    }
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_i32_array("tokenizer.ggml.token_type", types);
}

inline std::vector<uint8_t> random_tensor_bytes(GgmlType type, int64_t cols, int64_t rows, float scale, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<uint8_t> out;
    auto put16 = [&](uint16_t v) { out.push_back(uint8_t(v)); out.push_back(uint8_t(v >> 8)); };
    const int64_t n = cols * rows;
    switch (type) {
    case GgmlType::F32:
        for (int64_t i = 0; i < n; ++i) {
            float v = normal(rng);
            const uint8_t* b = reinterpret_cast<const uint8_t*>(&v);
            out.insert(out.end(), b, b + 4);
        }
        break;
    case GgmlType::F16: for (int64_t i = 0; i < n; ++i) put16(f32_to_fp16(normal(rng))); break;
    case GgmlType::BF16: for (int64_t i = 0; i < n; ++i) put16(f32_to_bf16(normal(rng))); break;
    case GgmlType::Q8_0:
        for (int64_t b = 0; b < n / 32; ++b) {
            put16(f32_to_fp16(scale * 2.0f / 127.0f));
            for (int i = 0; i < 32; ++i) out.push_back(uint8_t(int8_t(int(rng() % 255) - 127)));
        }
        break;
    case GgmlType::Q4_0:
        for (int64_t b = 0; b < n / 32; ++b) {
            put16(f32_to_fp16(scale * 2.0f / 8.0f));
            for (int i = 0; i < 16; ++i) out.push_back(uint8_t(rng()));
        }
        break;
    default: return {};  // unsupported here: caller reports it
    }
    return out;
}

// Returns an empty vector if the type is not one this builder can fill.
inline std::vector<uint8_t> random_model_gguf(const RandomModelShape& s) {
    std::mt19937 rng(s.seed);
    const int head_dim = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
    const int q_dim = s.n_head * head_dim, kv_dim = s.n_head_kv * head_dim;
    gguf::Writer w;
    const std::string a = s.arch + ".";
    w.add_string("general.architecture", s.arch);
    w.add_string("general.name", "random " + s.arch);
    w.add_u32(a + "context_length", uint32_t(s.n_ctx));
    w.add_u32(a + "embedding_length", uint32_t(s.n_embd));
    w.add_u32(a + "block_count", uint32_t(s.n_layer));
    w.add_u32(a + "feed_forward_length", uint32_t(s.n_ff));
    w.add_u32(a + "attention.head_count", uint32_t(s.n_head));
    w.add_u32(a + "attention.head_count_kv", uint32_t(s.n_head_kv));
    if (s.head_dim) {
        w.add_u32(a + "attention.key_length", uint32_t(head_dim));
        w.add_u32(a + "attention.value_length", uint32_t(head_dim));
    }
    w.add_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_f32(a + "rope.freq_base", s.rope_base);
    w.add_u32(a + "rope.dimension_count", uint32_t(head_dim));
    if (s.sliding_window) w.add_u32(a + "attention.sliding_window", uint32_t(s.sliding_window));
    if (s.attn_softcap > 0.0f) w.add_f32(a + "attn_logit_softcapping", s.attn_softcap);
    if (s.final_softcap > 0.0f) w.add_f32(a + "final_logit_softcapping", s.final_softcap);

    add_random_vocabulary(s, w);

    bool ok = true;
    auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, float scale) {
        std::vector<uint8_t> bytes = random_tensor_bytes(s.type, cols, rows, scale, rng);
        ok = ok && !bytes.empty();
        w.add_tensor(name, s.type, {cols, rows}, bytes.data(), bytes.size());
    };
    auto norm = [&](const std::string& name, int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        std::uniform_real_distribution<float> u(0.8f, 1.2f);
        for (float& x : v) x = u(rng);
        w.add_tensor(name, GgmlType::F32, {n}, v.data(), v.size() * 4);
    };
    auto vector = [&](const std::string& name, int64_t n, float lo, float hi) {
        std::vector<float> v(static_cast<size_t>(n));
        std::uniform_real_distribution<float> u(lo, hi);
        for (float& x : v) x = u(rng);
        w.add_tensor(name, GgmlType::F32, {n}, v.data(), v.size() * 4);
    };
    const bool gemma = s.arch.rfind("gemma", 0) == 0;
    const bool post_norms = s.arch == "gemma2" || s.arch == "gemma3";
    const bool qk_norm = s.arch == "qwen3" || s.arch == "gemma3";
    const float in_scale = 1.0f / std::sqrt(float(s.n_embd));
    matrix("token_embd.weight", s.n_embd, s.n_vocab, gemma ? in_scale : 1.0f);
    norm("output_norm.weight", s.n_embd);
    if (s.zero_output) {
        std::vector<uint8_t> zeros = random_tensor_bytes(s.type, s.n_embd, s.n_vocab, 1.0f, rng);
        std::fill(zeros.begin(), zeros.end(), uint8_t(0));
        w.add_tensor("output.weight", s.type, {s.n_embd, s.n_vocab}, zeros.data(), zeros.size());
    } else if (!s.tied_output) {
        matrix("output.weight", s.n_embd, s.n_vocab, in_scale);
    }
    if (s.rope_freq_factors) vector("rope_freqs.weight", head_dim / 2, 1.0f, 8.0f);
    for (int l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        norm(p + "attn_norm.weight", s.n_embd);
        if (s.arch == "phi3") {
            matrix(p + "attn_qkv.weight", s.n_embd, q_dim + 2 * kv_dim, in_scale);
        } else {
            matrix(p + "attn_q.weight", s.n_embd, q_dim, in_scale);
            matrix(p + "attn_k.weight", s.n_embd, kv_dim, in_scale);
            matrix(p + "attn_v.weight", s.n_embd, kv_dim, in_scale);
        }
        if (s.arch == "qwen2") {
            vector(p + "attn_q.bias", q_dim, -0.5f, 0.5f);
            vector(p + "attn_k.bias", kv_dim, -0.5f, 0.5f);
            vector(p + "attn_v.bias", kv_dim, -0.5f, 0.5f);
        }
        if (qk_norm) {
            norm(p + "attn_q_norm.weight", head_dim);
            norm(p + "attn_k_norm.weight", head_dim);
        }
        matrix(p + "attn_output.weight", q_dim, s.n_embd, 1.0f / std::sqrt(float(q_dim)));
        if (post_norms) norm(p + "post_attention_norm.weight", s.n_embd);
        norm(p + "ffn_norm.weight", s.n_embd);
        if (s.arch == "phi3") {
            matrix(p + "ffn_up.weight", s.n_embd, 2 * s.n_ff, in_scale);
        } else {
            matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff, in_scale);
            matrix(p + "ffn_up.weight", s.n_embd, s.n_ff, in_scale);
        }
        matrix(p + "ffn_down.weight", s.n_ff, s.n_embd, 1.0f / std::sqrt(float(s.n_ff)));
        if (post_norms) norm(p + "post_ffw_norm.weight", s.n_embd);
    }
    if (!ok) return {};
    return w.bytes();
}

} // namespace tinyllm
