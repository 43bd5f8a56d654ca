// Builds a random-weight GGUF of any supported architecture, shape and weight type: benchmark
// inputs at realistic sizes (e.g. TinyLlama-1.1B) and test models of shapes the fixtures lack.
// Tensor names and metadata keys are the ones llama.cpp uses for each architecture.
// Quantized tensors get random codes with sane scales directly (no quantizer needed).
#pragma once
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/loaders/host/gguf_writer.hpp"
#include "tinyllm/text/token_bytes.hpp"
#include "tinyllm/text/unicode.hpp"

namespace tinyllm {

struct RandomModelShape {
    std::string arch = "llama";  // llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, phi2, openelm, smollm3
    int n_vocab = 1024;
    int n_embd = 256;
    int n_layer = 2;
    int n_ff = 512;
    int n_head = 8;
    int n_head_kv = 4;
    int head_dim = 0;  // 0: n_embd / n_head
    int n_rot = 0;     // rotated dimensions per head; 0: all of them
    // One value per layer instead of n_ff / n_head / n_head_kv (written as arrays, as OpenELM's are).
    std::vector<int> layer_n_ff, layer_n_head, layer_n_head_kv;
    bool fused_qkv = false;  // phi2: one attn_qkv matrix (older conversions) instead of q, k and v
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
    // whose lowest ids are the chat format's special tokens, end of turn first; "gpt2": Phi-2's
    // byte-level BPE (<|endoftext|> first, no BOS). Empty: the architecture's usual kind.
    std::string vocabulary;
    bool zero_output = false;  // an all-zero output head: every logit 0, so greedy picks id 0
};

// The vocabulary's tokenizer.* keys.
inline std::string vocabulary_kind(const RandomModelShape& s) {
    if (!s.vocabulary.empty()) return s.vocabulary;
    return s.arch == "phi2" ? "gpt2" : s.arch == "smollm3" ? "llama3" : "spm";
}

inline void add_random_vocabulary(const RandomModelShape& s, gguf::Writer& w) {
    const std::string kind = vocabulary_kind(s);
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    auto special = [&](const char* text) {
        tokens.push_back(text);
        types.push_back(text::control);
    };
    if (kind == "spm") {
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
        const bool chatml = kind == "chatml", gpt2 = kind == "gpt2";
        if (chatml) {
            for (const char* t : {"<|im_end|>", "<|im_start|>", "<|endoftext|>"}) special(t);
        } else if (gpt2) {
            special("<|endoftext|>");
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
        w.add_string("tokenizer.ggml.pre", chatml ? "qwen2" : gpt2 ? "phi-2" : "llama-bpe");
        w.add_string_array("tokenizer.ggml.merges", {});
        w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(chatml ? 2 : gpt2 ? 0 : 4));
        if (gpt2) w.add_u32("tokenizer.ggml.bos_token_id", 0);
        if (!chatml && !gpt2) w.add_u32("tokenizer.ggml.bos_token_id", 1);
        w.add_bool("tokenizer.ggml.add_bos_token", !chatml && !gpt2);
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

// Layer l's widths: the per-layer value where one is given, else the model's.
inline int layer_width(const std::vector<int>& per_layer, int l, int uniform) {
    return per_layer.empty() ? uniform : per_layer[size_t(l)];
}

// Returns an empty vector if the type is not one this builder can fill.
inline std::vector<uint8_t> random_model_gguf(const RandomModelShape& s) {
    std::mt19937 rng(s.seed);
    // Without a key length readers take the embedding over layer 0's head count.
    const int head_dim = s.head_dim ? s.head_dim : s.n_embd / layer_width(s.layer_n_head, 0, s.n_head);
    const bool phi2 = s.arch == "phi2", openelm = s.arch == "openelm";
    gguf::Writer w;
    const std::string a = s.arch + ".";
    // Metadata as llama.cpp's converter writes it for each family.
    auto width_key = [&](const std::string& key, const std::vector<int>& per_layer, int uniform) {
        if (per_layer.empty()) w.add_u32(a + key, uint32_t(uniform));
        else w.add_i32_array(a + key, std::vector<int32_t>(per_layer.begin(), per_layer.end()));
    };
    w.add_string("general.architecture", s.arch);
    w.add_string("general.name", "random " + s.arch);
    w.add_u32(a + "context_length", uint32_t(s.n_ctx));
    w.add_u32(a + "embedding_length", uint32_t(s.n_embd));
    w.add_u32(a + "block_count", uint32_t(s.n_layer));
    width_key("feed_forward_length", s.layer_n_ff, s.n_ff);
    width_key("attention.head_count", s.layer_n_head, s.n_head);
    width_key("attention.head_count_kv", s.layer_n_head_kv, s.n_head_kv);
    if (s.head_dim || openelm) {  // OpenELM's converter always writes it
        w.add_u32(a + "attention.key_length", uint32_t(head_dim));
        w.add_u32(a + "attention.value_length", uint32_t(head_dim));
    }
    if (phi2) {
        w.add_f32(a + "attention.layer_norm_epsilon", 1e-5f);
    } else {
        w.add_f32(a + "attention.layer_norm_rms_epsilon", openelm ? 1e-6f : 1e-5f);
        w.add_f32(a + "rope.freq_base", s.rope_base);
    }
    w.add_u32(a + "rope.dimension_count", uint32_t(s.n_rot ? s.n_rot : head_dim));
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
    auto vector = [&](const std::string& name, int64_t n, float lo, float hi) {
        std::vector<float> v(static_cast<size_t>(n));
        std::uniform_real_distribution<float> u(lo, hi);
        for (float& x : v) x = u(rng);
        w.add_tensor(name, GgmlType::F32, {n}, v.data(), v.size() * 4);
    };
    auto norm = [&](const std::string& name, int64_t n) { vector(name, n, 0.8f, 1.2f); };
    auto bias = [&](const std::string& name, int64_t n) { vector(name, n, -0.1f, 0.1f); };
    const bool gemma = s.arch.rfind("gemma", 0) == 0;
    const bool post_norms = s.arch == "gemma2" || s.arch == "gemma3";
    const bool qk_norm = s.arch == "qwen3" || s.arch == "gemma3" || openelm;
    const bool fused_qkv = s.arch == "phi3" || openelm || (phi2 && s.fused_qkv);
    const float in_scale = 1.0f / std::sqrt(float(s.n_embd));
    // A tied head reads the embedding back: at unit scale each token's own row would outweigh
    // everything the layers add, and greedy decoding would repeat the last token.
    const bool tied = (s.tied_output || openelm) && !s.zero_output;
    matrix("token_embd.weight", s.n_embd, s.n_vocab, gemma || tied ? in_scale : 1.0f);
    norm("output_norm.weight", s.n_embd);
    if (phi2) bias("output_norm.bias", s.n_embd);
    if (s.zero_output) {
        std::vector<uint8_t> zeros = random_tensor_bytes(s.type, s.n_embd, s.n_vocab, 1.0f, rng);
        std::fill(zeros.begin(), zeros.end(), uint8_t(0));
        w.add_tensor("output.weight", s.type, {s.n_embd, s.n_vocab}, zeros.data(), zeros.size());
    } else if (!s.tied_output && !openelm) {  // OpenELM's head is the embedding
        matrix("output.weight", s.n_embd, s.n_vocab, in_scale);
    }
    if (phi2) bias("output.bias", s.n_vocab);
    if (s.rope_freq_factors) vector("rope_freqs.weight", head_dim / 2, 1.0f, 8.0f);
    for (int l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const int n_ff = layer_width(s.layer_n_ff, l, s.n_ff);
        const int q_dim = layer_width(s.layer_n_head, l, s.n_head) * head_dim;
        const int kv_dim = layer_width(s.layer_n_head_kv, l, s.n_head_kv) * head_dim;
        norm(p + "attn_norm.weight", s.n_embd);
        if (phi2) bias(p + "attn_norm.bias", s.n_embd);
        if (fused_qkv) {
            matrix(p + "attn_qkv.weight", s.n_embd, q_dim + 2 * kv_dim, in_scale);
            if (phi2) bias(p + "attn_qkv.bias", q_dim + 2 * kv_dim);
        } else {
            matrix(p + "attn_q.weight", s.n_embd, q_dim, in_scale);
            matrix(p + "attn_k.weight", s.n_embd, kv_dim, in_scale);
            matrix(p + "attn_v.weight", s.n_embd, kv_dim, in_scale);
        }
        if (s.arch == "qwen2" || (phi2 && !fused_qkv)) {
            const float range = phi2 ? 0.1f : 0.5f;
            vector(p + "attn_q.bias", q_dim, -range, range);
            vector(p + "attn_k.bias", kv_dim, -range, range);
            vector(p + "attn_v.bias", kv_dim, -range, range);
        }
        if (qk_norm) {
            norm(p + "attn_q_norm.weight", head_dim);
            norm(p + "attn_k_norm.weight", head_dim);
        }
        matrix(p + "attn_output.weight", q_dim, s.n_embd, 1.0f / std::sqrt(float(q_dim)));
        if (phi2) bias(p + "attn_output.bias", s.n_embd);
        if (post_norms) norm(p + "post_attention_norm.weight", s.n_embd);
        if (!phi2) norm(p + "ffn_norm.weight", s.n_embd);  // Phi-2's FFN reads the attention norm's output
        if (s.arch == "phi3") {
            matrix(p + "ffn_up.weight", s.n_embd, 2 * n_ff, in_scale);
        } else {
            if (!phi2) matrix(p + "ffn_gate.weight", s.n_embd, n_ff, in_scale);
            matrix(p + "ffn_up.weight", s.n_embd, n_ff, in_scale);
        }
        if (phi2) bias(p + "ffn_up.bias", n_ff);
        matrix(p + "ffn_down.weight", n_ff, s.n_embd, 1.0f / std::sqrt(float(n_ff)));
        if (phi2) bias(p + "ffn_down.bias", s.n_embd);
        if (post_norms) norm(p + "post_ffw_norm.weight", s.n_embd);
    }
    if (!ok) return {};
    return w.bytes();
}

// Shapes of real models, for benchmarks at their sizes (random weights).
inline bool apply_random_model_preset(const std::string& name, RandomModelShape& s) {
    if (name == "tinyllama-1.1b") {
        s.n_vocab = 32000; s.n_embd = 2048; s.n_layer = 22; s.n_ff = 5632; s.n_head = 32; s.n_head_kv = 4; s.n_ctx = 2048;
    } else if (name == "llama-7b") {
        s.n_vocab = 32000; s.n_embd = 4096; s.n_layer = 32; s.n_ff = 11008; s.n_head = 32; s.n_head_kv = 32; s.n_ctx = 4096;
    } else if (name == "small") {
        s.n_vocab = 1024; s.n_embd = 256; s.n_layer = 2; s.n_ff = 512; s.n_head = 8; s.n_head_kv = 4;
    } else if (name == "phi-2") {  // microsoft/phi-2: 2.7B, head 80 of which 32 rotate
        s.arch = "phi2"; s.n_vocab = 51200; s.n_embd = 2560; s.n_layer = 32; s.n_ff = 10240; s.n_head = 32; s.n_head_kv = 32;
        s.n_rot = 32; s.n_ctx = 2048;
    } else if (name == "openelm-270m") {  // apple/OpenELM-270M: widths grow with depth
        s.arch = "openelm"; s.n_vocab = 32000; s.n_embd = 1280; s.n_layer = 16; s.head_dim = 64; s.n_ctx = 2048;
        s.rope_base = 10000.0f;
        s.layer_n_head = {12, 12, 12, 12, 12, 16, 16, 16, 16, 16, 16, 16, 20, 20, 20, 20};
        s.layer_n_head_kv = {3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5};
        s.layer_n_ff = {768, 1024, 1280, 1536, 1792, 2048, 2560, 2816, 3072, 3328, 3584, 3840, 4352, 4608, 4864, 5120};
        s.n_head = 20; s.n_head_kv = 5; s.n_ff = 5120;
    } else if (name == "smollm3-3b") {  // HuggingFaceTB/SmolLM3-3B (tied embeddings)
        s.arch = "smollm3"; s.n_vocab = 128256; s.n_embd = 2048; s.n_layer = 36; s.n_ff = 11008; s.n_head = 16; s.n_head_kv = 4;
        s.n_ctx = 4096; s.rope_base = 5000000.0f; s.tied_output = true;
    } else {
        return false;
    }
    return true;
}

inline const char* random_model_architectures = "llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, phi2, openelm, smollm3";
inline const char* random_model_presets = "tinyllama-1.1b, llama-7b, small, phi-2, openelm-270m, smollm3-3b";

// Reads make_random_model's options (everything after the output file) into s; returns the
// problem, or an empty string. Test fixtures name their models with these options too.
inline std::string parse_random_model_options(const std::vector<std::string>& args, RandomModelShape& s) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--zero-output") { s.zero_output = true; continue; }
        if (a == "--fused-qkv") { s.fused_qkv = true; continue; }
        if (a == "--tied-output") { s.tied_output = true; continue; }
        if (i + 1 >= args.size()) return "missing value after " + a;
        const std::string& v = args[++i];
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        const bool numeric = !v.empty() && end && *end == 0 && n > 0 && n <= (1L << 24);
        if (a == "--preset") {
            if (!apply_random_model_preset(v, s)) return "unknown preset '" + v + "' (" + random_model_presets + ")";
        } else if (a == "--arch") {
            const std::string known = std::string(", ") + random_model_architectures + ",";
            if (known.find(", " + v + ",") == std::string::npos)
                return "unknown architecture '" + v + "' (" + random_model_architectures + ")";
            s.arch = v;
        } else if (a == "--vocab-type") {
            if (v != "spm" && v != "chatml" && v != "llama3" && v != "gpt2") return "unknown vocabulary type '" + v + "' (spm, chatml, llama3, gpt2)";
            s.vocabulary = v;
        } else if (a == "--type") {
            const std::pair<const char*, GgmlType> names[] = {{"f32", GgmlType::F32}, {"f16", GgmlType::F16},
                {"bf16", GgmlType::BF16}, {"q8_0", GgmlType::Q8_0}, {"q4_0", GgmlType::Q4_0}};
            bool found = false;
            for (auto& [name, type] : names)
                if (v == name) { s.type = type; found = true; }
            if (!found) return "unsupported type '" + v + "' (f32, f16, bf16, q8_0, q4_0; quantize makes the others)";
        } else if (a == "--layer-ff" || a == "--layer-heads" || a == "--layer-kv-heads") {
            std::vector<int>& out = a == "--layer-ff" ? s.layer_n_ff : a == "--layer-heads" ? s.layer_n_head : s.layer_n_head_kv;
            out.clear();
            for (size_t p = 0; p <= v.size();) {
                const size_t comma = std::min(v.find(',', p), v.size());
                const std::string item = v.substr(p, comma - p);
                const long x = std::strtol(item.c_str(), &end, 10);
                if (item.empty() || *end || x <= 0 || x > (1L << 24)) return "bad value '" + v + "' for " + a + " (comma-separated widths)";
                out.push_back(int(x));
                p = comma + 1;
            }
        } else if (!numeric) {
            return "bad value '" + v + "' for " + a;
        } else if (a == "--vocab") s.n_vocab = int(n);
        else if (a == "--embd") s.n_embd = int(n);
        else if (a == "--layers") s.n_layer = int(n);
        else if (a == "--ff") s.n_ff = int(n);
        else if (a == "--heads") s.n_head = int(n);
        else if (a == "--kv-heads") s.n_head_kv = int(n);
        else if (a == "--head-dim") s.head_dim = int(n);
        else if (a == "--rot") s.n_rot = int(n);
        else if (a == "--ctx") s.n_ctx = int(n);
        else if (a == "--rope-base") s.rope_base = float(n);
        else if (a == "--seed") s.seed = uint32_t(n);
        else return "unknown option " + a;
    }
    // Per-layer widths: the model-wide values are their largest (what readers size buffers by).
    auto largest = [](const std::vector<int>& v, int& out) { if (!v.empty()) out = *std::max_element(v.begin(), v.end()); };
    largest(s.layer_n_ff, s.n_ff);
    largest(s.layer_n_head, s.n_head);
    largest(s.layer_n_head_kv, s.n_head_kv);
    for (const std::vector<int>* v : {&s.layer_n_ff, &s.layer_n_head, &s.layer_n_head_kv}) {
        if (!v->empty() && s.arch != "openelm") return "per-layer widths are OpenELM's (other architectures have one width for all layers)";
        if (!v->empty() && int(v->size()) != s.n_layer) return "a per-layer list has " + std::to_string(v->size()) + " values for " + std::to_string(s.n_layer) + " layers";
    }
    if (s.n_vocab < 259) return "--vocab must be at least 259 (3 specials + 256 byte tokens)";
    const int head_dim = s.head_dim ? s.head_dim : s.n_embd / layer_width(s.layer_n_head, 0, s.n_head);
    for (int l = 0; l < s.n_layer; ++l) {
        const int heads = layer_width(s.layer_n_head, l, s.n_head), kv_heads = layer_width(s.layer_n_head_kv, l, s.n_head_kv);
        if (heads % kv_heads) return "kv-heads must divide heads";
    }
    if (!s.head_dim && s.n_embd % layer_width(s.layer_n_head, 0, s.n_head)) return "heads must divide embd (or give --head-dim)";
    if ((s.n_rot ? s.n_rot : head_dim) > head_dim || s.n_rot % 2) return "--rot must be even and at most the head size";
    if (s.arch == "phi2" && s.n_head * head_dim != s.n_embd) return "phi2 needs heads x head size = embd (its output projection is square)";
    if (s.type != GgmlType::F32) {
        bool whole_blocks = s.n_embd % 32 == 0 && s.n_ff % 32 == 0;
        for (int ff : s.layer_n_ff) whole_blocks = whole_blocks && ff % 32 == 0;
        if (!whole_blocks) return "embd and ff must be multiples of 32";
    }
    return {};
}

} // namespace tinyllm
