// A model = its configuration plus views of its weights inside the GGUF buffer. Loading binds
// every tensor by name and checks its shape and type; nothing is copied.
#pragma once
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/model_config.hpp"
#include "tinyllm/core/model_state.hpp"
#include "tinyllm/core/weights.hpp"

namespace tinyllm {

struct LayerWeights {
    LayerShape shape;
    const float *attn_norm = nullptr, *attn_norm_b = nullptr;  // the bias: LayerNorm only
    WeightView wq, wk, wv, wo;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;  // optional projection biases
    const float* bo = nullptr;                                 // linear_biases
    const float *q_norm = nullptr, *k_norm = nullptr;         // per-head norms (qk_norm)
    const float* post_attn_norm = nullptr;                     // post_norms
    const float* ffn_norm = nullptr;                           // absent with a parallel residual
    WeightView w_gate, w_up, w_down;                           // no gate when !gated_ffn
    const float *b_up = nullptr, *b_down = nullptr;            // linear_biases
    const float* post_ffn_norm = nullptr;                      // post_norms
};

struct Model {
    ModelConfig config;
    WeightView token_embd;
    const float *output_norm = nullptr, *output_norm_b = nullptr;
    WeightView output;  // the embedding itself when the output head is tied
    const float* output_b = nullptr;  // linear_biases
    const float* rope_freq_factors = nullptr;  // n_rot / 2 divisors of the RoPE angles (Llama 3)
    LayerWeights* layers = nullptr;
    uint64_t fingerprint = 0;  // model_fingerprint() at load: what saved states are checked against
};

namespace detail {

struct TensorName {
    char text[96];
    // "blk.<layer>.<suffix>", or just <suffix> when layer < 0.
    TensorName(int layer, const char* suffix) {
        size_t n = 0;
        if (layer >= 0) {
            const char* p = "blk.";
            while (*p) text[n++] = *p++;
            char digits[12];
            int len = 0;
            do { digits[len++] = char('0' + layer % 10); layer /= 10; } while (layer);
            while (len) text[n++] = digits[--len];
            text[n++] = '.';
        }
        for (; *suffix && n < sizeof(text) - 1; ++suffix) text[n++] = *suffix;
        text[n] = 0;
    }
};

inline Status find_tensor(const gguf::File& f, const ModelConfig& c, const TensorName& name,
                          const gguf::TensorInfo*& out) {
    out = f.find_tensor(cstr(name.text));
    if (!out)
        return Status::fail(Error::missing_tensor, "architecture '", c.architecture, "' needs tensor '", name.text, "'");
    return Status{};
}

inline Status bind_matrix(const gguf::File& f, const ModelConfig& c, int layer, const char* suffix,
                          int64_t cols, int64_t rows, WeightView& w) {
    TensorName name(layer, suffix);
    const gguf::TensorInfo* t;
    Status st = find_tensor(f, c, name, t);
    if (!st) return st;
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return Status::fail(Error::shape_mismatch, "tensor '", name.text, "' is [", t->ne[0], ", ", t->ne[1],
                            "], expected [", cols, ", ", rows, "]");
    if (!weight_type_has_kernels(t->type))
        return Status::fail(Error::unsupported_type, "tensor '", name.text, "' has type ", ggml_type_name(t->type),
                            ", which tinyllm cannot compute with yet");
    if (!is_supported_weight_type(t->type))
        return Status::fail(Error::unsupported_type, "tensor '", name.text, "' has type ", ggml_type_name(t->type),
                            ", which this build leaves out (TINYLLM_WEIGHT_TYPES)");
    w = WeightView{t->type, t->data, cols, rows, t->row_bytes(), t->group};
    return Status{};
}

// Rows [first, first + count) of a bound matrix, as a view of their own.
inline WeightView row_range(const WeightView& w, int64_t first, int64_t count) {
    WeightView v = w;
    v.data = w.row(first);
    v.rows = count;
    return v;
}

inline Status bind_vector(const gguf::File& f, const ModelConfig& c, int layer, const char* suffix, int64_t n,
                          const float*& out) {
    TensorName name(layer, suffix);
    const gguf::TensorInfo* t;
    Status st = find_tensor(f, c, name, t);
    if (!st) return st;
    if (t->n_elements() != n)
        return Status::fail(Error::shape_mismatch, "tensor '", name.text, "' has ", t->n_elements(), " elements, expected ", n);
    if (t->type != GgmlType::F32)
        return Status::fail(Error::unsupported_type, "tensor '", name.text, "' must be F32, is ", ggml_type_name(t->type));
    if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0)
        return Status::fail(Error::bad_alignment, "tensor '", name.text, "' data is not 4-byte aligned in memory");
    out = reinterpret_cast<const float*>(t->data);
    return Status{};
}

} // namespace detail

// Identifies a model for saved states: its shape, options and weight types, its norm vectors
// and the first and last 64 bytes of every matrix, as the file has them (load_model computes it
// before any repacking), so a state restores only into the model that wrote it, fine-tunes of
// one base model told apart, however the file was opened.
inline uint64_t model_fingerprint(const Model& m) {
    const ModelConfig& c = m.config;
    state::Hash h;
    const int64_t shape[] = {int64_t(c.arch), c.n_vocab, c.n_embd, c.n_layer, c.n_ff, c.n_head, c.n_head_kv, c.head_dim, c.n_rot,
                             c.sliding_window, c.swa_pattern, int64_t(c.rope_style), int64_t(c.activation), c.kv_cache_width,
                             int64_t(c.norm), c.no_rope_layer_step};
    for (int64_t v : shape) h.add_u64(uint64_t(v));
    const float options[] = {c.norm_eps, c.rope_base, c.rope_freq_scale, c.q_scale, c.kq_scale, c.attn_softcap, c.final_softcap, c.rope_base_swa};
    h.add(reinterpret_cast<const uint8_t*>(options), sizeof options);
    auto matrix = [&](const WeightView& w) {
        const size_t bytes = size_t(w.rows) * size_t(w.row_bytes), edge = bytes < 64 ? bytes : 64;
        h.add_u64(uint64_t(w.type));
        h.add(w.data, edge);
        h.add(w.data + bytes - edge, edge);
    };
    const size_t row = size_t(c.n_embd) * sizeof(float);
    matrix(m.token_embd);
    matrix(m.output);
    h.add(reinterpret_cast<const uint8_t*>(m.output_norm), row);
    for (int l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[l];
        const int64_t widths[] = {L.shape.n_head, L.shape.n_head_kv, L.shape.n_ff};
        for (int64_t v : widths) h.add_u64(uint64_t(v));
        h.add(reinterpret_cast<const uint8_t*>(L.attn_norm), row);
        if (L.ffn_norm) h.add(reinterpret_cast<const uint8_t*>(L.ffn_norm), row);
        const WeightView* matrices[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
        for (const WeightView* w : matrices) matrix(*w);
    }
    return h.h;
}

// Binds all weights of a parsed GGUF file. The layer table comes from `arena`; the weights
// stay where they are in the file's buffer, which must outlive the model.
inline Status load_model(const gguf::File& f, Arena& arena, Model& m) {
    m = Model{};
    Status st = read_model_config(f, m.config);
    if (!st) return st;
    ModelConfig& c = m.config;
    using detail::bind_matrix;
    using detail::bind_vector;
    using detail::row_range;

    const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
    if (!embd) return Status::fail(Error::missing_tensor, "architecture '", c.architecture, "' needs tensor 'token_embd.weight'");
    if (embd->ne[1] <= 0 || embd->ne[1] > (int64_t(1) << 24)) return Status::fail(Error::bad_shape, "token_embd.weight vocabulary size");
    c.n_vocab = int(embd->ne[1]);
    if (!(st = bind_matrix(f, c, -1, "token_embd.weight", c.n_embd, c.n_vocab, m.token_embd))) return st;
    if (!(st = bind_vector(f, c, -1, "output_norm.weight", c.n_embd, m.output_norm))) return st;
    if (c.norm == NormKind::layer)
        if (!(st = bind_vector(f, c, -1, "output_norm.bias", c.n_embd, m.output_norm_b))) return st;
    // As in llama.cpp: Phi-2 needs its own head; OpenELM's is always the embedding, whatever the file holds.
    if (c.arch == Arch::phi2 || (f.find_tensor("output.weight") && c.arch != Arch::openelm)) {
        if (!(st = bind_matrix(f, c, -1, "output.weight", c.n_embd, c.n_vocab, m.output))) return st;
    } else {
        m.output = m.token_embd;
    }
    if (c.linear_biases)
        if (!(st = bind_vector(f, c, -1, "output.bias", c.n_vocab, m.output_b))) return st;

    if (c.arch == Arch::llama && f.find_tensor("rope_freqs.weight"))  // Llama 3's long-context factors
        if (!(st = bind_vector(f, c, -1, "rope_freqs.weight", c.n_rot / 2, m.rope_freq_factors))) return st;

    m.layers = arena.allocate_array<LayerWeights>(size_t(c.n_layer));
    if (!m.layers) return Status::fail(Error::out_of_memory, "layer table");
    auto has = [&](int layer, const char* suffix) { return f.find_tensor(cstr(detail::TensorName(layer, suffix).text)) != nullptr; };
    int64_t kv_offset = 0;
    for (int l = 0; l < c.n_layer; ++l) {
        LayerWeights& L = m.layers[l];
        L = LayerWeights{};
        if (!(st = read_layer_shape(f, c, l, kv_offset, L.shape))) return st;
        kv_offset += L.shape.kv_dim;
        const int Q = L.shape.q_dim, KV = L.shape.kv_dim, F = L.shape.n_ff;
        if (!(st = bind_vector(f, c, l, "attn_norm.weight", c.n_embd, L.attn_norm))) return st;
        if (c.norm == NormKind::layer)
            if (!(st = bind_vector(f, c, l, "attn_norm.bias", c.n_embd, L.attn_norm_b))) return st;
        const bool fused_qkv = c.fused_qkv || (c.arch == Arch::phi2 && has(l, "attn_qkv.weight"));
        if (fused_qkv) {
            WeightView qkv;
            if (!(st = bind_matrix(f, c, l, "attn_qkv.weight", c.n_embd, Q + 2 * KV, qkv))) return st;
            L.wq = row_range(qkv, 0, Q);
            L.wk = row_range(qkv, Q, KV);
            L.wv = row_range(qkv, Q + KV, KV);
        } else {
            if (!(st = bind_matrix(f, c, l, "attn_q.weight", c.n_embd, Q, L.wq))) return st;
            if (!(st = bind_matrix(f, c, l, "attn_k.weight", c.n_embd, KV, L.wk))) return st;
            if (!(st = bind_matrix(f, c, l, "attn_v.weight", c.n_embd, KV, L.wv))) return st;
        }
        if (fused_qkv && c.linear_biases) {  // one bias vector, rows q | k | v
            const float* qkv_b = nullptr;
            if (!(st = bind_vector(f, c, l, "attn_qkv.bias", Q + 2 * KV, qkv_b))) return st;
            L.bq = qkv_b;
            L.bk = qkv_b + Q;
            L.bv = qkv_b + Q + KV;
        } else if (c.linear_biases || ((c.arch == Arch::llama || c.arch == Arch::qwen2) && has(l, "attn_q.bias"))) {
            if (!(st = bind_vector(f, c, l, "attn_q.bias", Q, L.bq))) return st;
            if (!(st = bind_vector(f, c, l, "attn_k.bias", KV, L.bk))) return st;
            if (!(st = bind_vector(f, c, l, "attn_v.bias", KV, L.bv))) return st;
        }
        if (c.qk_norm) {
            if (!(st = bind_vector(f, c, l, "attn_q_norm.weight", c.head_dim, L.q_norm))) return st;
            if (!(st = bind_vector(f, c, l, "attn_k_norm.weight", c.head_dim, L.k_norm))) return st;
        }
        if (!(st = bind_matrix(f, c, l, "attn_output.weight", Q, c.n_embd, L.wo))) return st;
        if (c.linear_biases)
            if (!(st = bind_vector(f, c, l, "attn_output.bias", c.n_embd, L.bo))) return st;
        if (!c.parallel_residual)
            if (!(st = bind_vector(f, c, l, "ffn_norm.weight", c.n_embd, L.ffn_norm))) return st;
        if (c.fused_gate_up) {
            WeightView gate_up;
            if (!(st = bind_matrix(f, c, l, "ffn_up.weight", c.n_embd, 2 * int64_t(F), gate_up))) return st;
            L.w_gate = row_range(gate_up, 0, F);
            L.w_up = row_range(gate_up, F, F);
        } else {
            if (c.gated_ffn)
                if (!(st = bind_matrix(f, c, l, "ffn_gate.weight", c.n_embd, F, L.w_gate))) return st;
            if (!(st = bind_matrix(f, c, l, "ffn_up.weight", c.n_embd, F, L.w_up))) return st;
        }
        if (!(st = bind_matrix(f, c, l, "ffn_down.weight", F, c.n_embd, L.w_down))) return st;
        if (c.linear_biases) {
            if (!(st = bind_vector(f, c, l, "ffn_up.bias", F, L.b_up))) return st;
            if (!(st = bind_vector(f, c, l, "ffn_down.bias", c.n_embd, L.b_down))) return st;
        }
        if (c.post_norms) {
            if (!(st = bind_vector(f, c, l, "post_attention_norm.weight", c.n_embd, L.post_attn_norm))) return st;
            if (!(st = bind_vector(f, c, l, "post_ffw_norm.weight", c.n_embd, L.post_ffn_norm))) return st;
        }
    }
    m.fingerprint = model_fingerprint(m);
    return Status{};
}

} // namespace tinyllm
