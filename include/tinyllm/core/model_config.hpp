// Hyperparameters of a decoder-only model, read from GGUF metadata ("<arch>.<key>").
#pragma once
#include <stdint.h>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/kernels/math.hpp"
#include "tinyllm/kernels/rope.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm {

enum class Arch : uint8_t { llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, phi2, openelm, smollm3 };
enum class FfnActivation : uint8_t { silu, gelu_tanh };
enum class NormKind : uint8_t { rms, layer };  // RMSNorm, or LayerNorm with a bias (Phi-2)

// Everything the forward pass needs to know about a model. The architecture is data: each
// family differs from Llama only in the options below, all read from GGUF metadata or fixed
// by the family (see read_model_config).
struct ModelConfig {
    char architecture[32] = {};
    Arch arch = Arch::llama;
    int n_vocab = 0;
    int n_ctx_train = 0;
    int n_embd = 0;
    int n_layer = 0;
    // Feed-forward width and head counts. Metadata may give them per layer (OpenELM): then these
    // are the largest, which size the scratch buffers, and each layer's are its LayerShape.
    int n_ff = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;  // per-head size of q and k (attention.key_length, else n_embd / layer 0's n_head)
    int n_rot = 0;     // rotated dimensions per head (rope.dimension_count)
    int64_t kv_cache_width = 0;  // one token's keys (or values) over all layers: the sum of their kv widths
    NormKind norm = NormKind::rms;
    float norm_eps = 1e-5f;
    float rope_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // linear RoPE scaling: positions are multiplied by this
    RopeStyle rope_style = RopeStyle::adjacent;

    // Family options.
    bool embed_scale = false;      // multiply embeddings by sqrt(n_embd) (Gemma)
    FfnActivation activation = FfnActivation::silu;
    bool post_norms = false;       // RMSNorm after attention and after the FFN (Gemma 2/3)
    bool qk_norm = false;          // per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3)
    bool fused_qkv = false;        // one attn_qkv matrix, rows q | k | v (Phi-3, OpenELM; Phi-2 layers that have one)
    bool fused_gate_up = false;    // one ffn_up matrix, rows gate | up (Phi-3)
    bool gated_ffn = true;         // down(act(gate) * up); false: down(act(up)) (Phi-2)
    bool parallel_residual = false;  // attention and FFN both read the attention norm's output and add to x together (Phi-2)
    bool linear_biases = false;    // every linear layer has a bias: q, k, v, attention output, FFN, output head (Phi-2)
    float q_scale = 1.0f;          // applied to q before attention (Gemma, Phi-3) ...
    float kq_scale = 1.0f;         // ... or to q.k scores (Llama, Qwen)
    float attn_softcap = 0.0f;     // scores = cap * tanh(scores / cap) when > 0 (Gemma 2)
    float final_softcap = 0.0f;    // the same on the output logits
    int sliding_window = 0;        // keys further back than this are masked on SWA layers
    int swa_pattern = 0;           // layer l uses the window when l % pattern < pattern - 1
    float rope_base_swa = 0.0f;    // RoPE base of SWA layers when it differs (Gemma 3)
    int no_rope_layer_step = 0;    // every step-th layer (the last of each step) skips RoPE (SmolLM3)

    // The largest over layers. Both fit an int: read_model_config bounds them, computed in 64
    // bits, by max_width.
    int q_dim() const { return n_head * head_dim; }
    int kv_dim() const { return n_head_kv * head_dim; }
    bool layer_uses_rope(int layer) const { return no_rope_layer_step <= 0 || (layer + 1) % no_rope_layer_step != 0; }
    bool is_swa_layer(int layer) const {
        return sliding_window > 0 && swa_pattern > 0 && layer % swa_pattern < swa_pattern - 1;
    }
    // Gemma 3's local layers keep the original RoPE base and no scaling.
    bool layer_uses_local_rope(int layer) const { return is_swa_layer(layer) && rope_base_swa > 0.0f; }
};

namespace detail {

// "<arch>.<suffix>" into a fixed buffer (metadata keys are short).
struct ArchKey {
    char text[96];
    ArchKey(const char* arch, const char* suffix) {
        size_t n = 0;
        for (; *arch && n < sizeof(text) - 2; ++arch) text[n++] = *arch;
        text[n++] = '.';
        for (; *suffix && n < sizeof(text) - 1; ++suffix) text[n++] = *suffix;
        text[n] = 0;
    }
    StrView view() const { return cstr(text); }
};

// Widths (embedding, feed-forward, head, q and kv rows) are at most 2^24, so the sums of a few
// of them the forward pass forms in int (q_dim + 2 kv_dim rows of a fused QKV matrix) cannot
// overflow; a crafted file must not make them wrap to the shapes of its tensors.
constexpr int64_t max_width = int64_t(1) << 24;

inline Status read_positive(const gguf::File& f, const char* arch, const char* suffix, int& out,
                            int64_t limit = int64_t(1) << 30) {
    ArchKey key(arch, suffix);
    Result<int64_t> v = f.get_int(key.view());
    if (!v) return v.status;
    if (*v <= 0 || *v > limit)
        return Status::fail(Error::invalid_argument, "metadata key '", key.text, "' = ", *v, " is out of range");
    out = int(*v);
    return Status{};
}

} // namespace detail

namespace detail {

// A float value, left unchanged when the key is absent. NaN, infinities and values below
// `minimum` are rejected: they would reach RoPE angles, norms and scores.
inline Status read_optional_float(const gguf::File& f, const char* arch, const char* suffix, float& out,
                                  float minimum = -3.4e38f) {
    ArchKey key(arch, suffix);
    if (!f.find(key.view())) return Status{};
    Result<double> v = f.get_float(key.view());
    if (!v) return v.status;
    const float value = float(*v);
    if (!(value >= minimum && value <= 3.4e38f))
        return Status::fail(Error::invalid_argument, "metadata key '", key.text, "' is not a finite number in range");
    out = value;
    return Status{};
}

} // namespace detail

// The per-family differences from Llama (semantics as llama.cpp evaluates these models).
inline Status read_family_options(const gguf::File& f, ModelConfig& c) {
    const char* a = c.architecture;
    Status st;
    if (c.arch != Arch::llama && c.arch != Arch::smollm3) c.rope_style = RopeStyle::neox;
    // Attention scaling: Gemma and the Phis scale q; the others scale the scores.
    const bool scale_q = c.arch == Arch::gemma || c.arch == Arch::gemma2 || c.arch == Arch::gemma3 || c.arch == Arch::phi3 ||
                         c.arch == Arch::phi2;
    (scale_q ? c.q_scale : c.kq_scale) = 1.0f / math::sqrtf(float(c.head_dim));
    switch (c.arch) {
    case Arch::llama: case Arch::qwen2: break;
    case Arch::qwen3: c.qk_norm = true; break;
    case Arch::openelm: c.qk_norm = c.fused_qkv = true; break;
    case Arch::smollm3: c.no_rope_layer_step = 4; break;  // fixed by the family; no metadata key says it
    case Arch::phi3: c.fused_qkv = c.fused_gate_up = true; break;
    case Arch::phi2:  // converters write q, k and v fused or apart: load_model looks per layer
        c.activation = FfnActivation::gelu_tanh;
        c.gated_ffn = false;
        c.parallel_residual = true;
        c.linear_biases = true;
        break;
    case Arch::gemma: case Arch::gemma2: case Arch::gemma3:
        c.embed_scale = true;
        c.activation = FfnActivation::gelu_tanh;
        if (c.arch == Arch::gemma) break;
        c.post_norms = true;
        if (f.find(detail::ArchKey(a, "attention.sliding_window").view())) {
            if (!(st = detail::read_positive(f, a, "attention.sliding_window", c.sliding_window))) return st;
        }
        if (c.arch == Arch::gemma2) {
            c.swa_pattern = 2;
            if (!(st = detail::read_optional_float(f, a, "attn_logit_softcapping", c.attn_softcap))) return st;
            if (!(st = detail::read_optional_float(f, a, "final_logit_softcapping", c.final_softcap))) return st;
        } else {
            c.swa_pattern = 6;
            c.qk_norm = true;
            c.rope_base_swa = 10000.0f;  // Gemma 3's local layers keep the original base
        }
        break;
    }
    float scaling = 0.0f;
    if (!(st = detail::read_optional_float(f, a, "rope.scaling.factor", scaling))) return st;
    if (scaling > 0.0f) {
        Result<StrView> type = f.get_string(detail::ArchKey(a, "rope.scaling.type").view());
        if (type && *type != StrView("linear") && *type != StrView("none"))
            return Status::fail(Error::unsupported_op, "rope scaling type '", *type, "'");
        if (!type || *type == StrView("linear")) c.rope_freq_scale = 1.0f / scaling;
    }
    return Status{};
}

// A layer's widths. In most models every layer has the model's; OpenELM's vary by layer.
struct LayerShape {
    int n_head = 0, n_head_kv = 0, n_ff = 0;
    int q_dim = 0, kv_dim = 0;
    int64_t kv_offset = 0;  // the earlier layers' kv widths: where this layer's keys start in a token's cache
};

namespace detail {

// A width that is either one integer for every layer or an array with one per layer (as
// llama.cpp reads feed_forward_length and the head counts).
inline Status read_layer_width(const gguf::File& f, const char* arch, const char* suffix, int n_layer, int layer, int& out) {
    ArchKey key(arch, suffix);
    const gguf::KeyValue* kv = f.find(key.view());
    if (!kv || kv->value.type != gguf::ValueType::array) return read_positive(f, arch, suffix, out, max_width);
    const gguf::Array values = kv->value.as_array();
    if (values.type != gguf::ValueType::i32 && values.type != gguf::ValueType::u32)  // what llama.cpp reads
        return Status::fail(Error::wrong_key_type, "metadata key '", key.text, "' is an array of ", gguf::value_type_name(values.type));
    if (values.count != uint64_t(n_layer))
        return Status::fail(Error::shape_mismatch, "metadata key '", key.text, "' has ", values.count, " values for ", n_layer, " layers");
    const int64_t v = values.int_at(uint64_t(layer));
    if (v <= 0 || v > max_width)
        return Status::fail(Error::invalid_argument, "metadata key '", key.text, "' = ", v, " at layer ", layer, " is out of range");
    out = int(v);
    return Status{};
}

// Layer `layer`'s head counts and feed-forward width (kv_offset is the caller's to fill).
inline Status read_layer_counts(const gguf::File& f, const ModelConfig& c, int layer, LayerShape& s) {
    const char* a = c.architecture;
    Status st;
    if (!(st = read_layer_width(f, a, "feed_forward_length", c.n_layer, layer, s.n_ff))) return st;
    if (!(st = read_layer_width(f, a, "attention.head_count", c.n_layer, layer, s.n_head))) return st;
    s.n_head_kv = s.n_head;
    if (f.find(ArchKey(a, "attention.head_count_kv").view()))
        if (!(st = read_layer_width(f, a, "attention.head_count_kv", c.n_layer, layer, s.n_head_kv))) return st;
    if (s.n_head % s.n_head_kv != 0) {
        const gguf::KeyValue* heads = f.find(ArchKey(a, "attention.head_count").view());
        const gguf::KeyValue* kv_heads = f.find(ArchKey(a, "attention.head_count_kv").view());
        const bool per_layer = (heads && heads->value.type == gguf::ValueType::array) ||
                               (kv_heads && kv_heads->value.type == gguf::ValueType::array);
        if (!per_layer)
            return Status::fail(Error::shape_mismatch, "head_count ", s.n_head, " is not a multiple of head_count_kv ", s.n_head_kv);
        return Status::fail(Error::shape_mismatch, "head_count ", s.n_head, " is not a multiple of head_count_kv ", s.n_head_kv,
                            " at layer ", layer);
    }
    return Status{};
}

} // namespace detail

// Layer `layer`'s widths in a model whose config read_model_config has read (and checked).
inline Status read_layer_shape(const gguf::File& f, const ModelConfig& c, int layer, int64_t kv_offset, LayerShape& s) {
    Status st = detail::read_layer_counts(f, c, layer, s);
    if (!st) return st;
    s.q_dim = s.n_head * c.head_dim;
    s.kv_dim = s.n_head_kv * c.head_dim;
    s.kv_offset = kv_offset;
    return Status{};
}

inline Status read_model_config(const gguf::File& f, ModelConfig& c) {
    Result<StrView> arch = f.get_string("general.architecture");
    if (!arch) return arch.status;
    if (arch->size() >= sizeof(c.architecture))
        return Status::fail(Error::unsupported_architecture, "architecture name too long");
    __builtin_memcpy(c.architecture, arch->data(), arch->size());
    c.architecture[arch->size()] = 0;
    struct Family { const char* name; Arch arch; };
    const Family families[] = {{"llama", Arch::llama}, {"qwen2", Arch::qwen2}, {"qwen3", Arch::qwen3},
                               {"gemma", Arch::gemma}, {"gemma2", Arch::gemma2}, {"gemma3", Arch::gemma3},
                               {"phi3", Arch::phi3}, {"phi2", Arch::phi2}, {"openelm", Arch::openelm},
                               {"smollm3", Arch::smollm3}};
    bool known = false;
    for (const Family& fam : families)
        if (*arch == cstr(fam.name)) {
            c.arch = fam.arch;
            known = true;
        }
    if (!known)
        return Status::fail(Error::unsupported_architecture, "architecture '", *arch,
                            "' (supported: llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, phi2, openelm, smollm3)");
    const char* a = c.architecture;

    using detail::read_positive;
    Status st;
    if (!(st = read_positive(f, a, "context_length", c.n_ctx_train))) return st;
    if (!(st = read_positive(f, a, "embedding_length", c.n_embd, detail::max_width))) return st;
    if (!(st = read_positive(f, a, "block_count", c.n_layer))) return st;
    // Every layer has tensors: more layers than tensors is a corrupt count, not a big model.
    if (uint64_t(c.n_layer) > f.n_tensors)
        return Status::fail(Error::absurd_count, "metadata key '", detail::ArchKey(a, "block_count").text, "' = ", c.n_layer,
                            " exceeds the file's ", f.n_tensors, " tensors");
    LayerShape first;
    int64_t kv_heads_total = 0;
    for (int l = 0; l < c.n_layer; ++l) {
        LayerShape s;
        if (!(st = detail::read_layer_counts(f, c, l, s))) return st;
        if (l == 0) first = s;
        // Only OpenELM's forward pass takes each layer's widths; llama.cpp shapes the others' by layer 0's.
        if (c.arch != Arch::openelm && (s.n_head != first.n_head || s.n_head_kv != first.n_head_kv || s.n_ff != first.n_ff))
            return Status::fail(Error::unsupported_type, "architecture '", a, "' has one head count and feed-forward width for every layer; layer ", l,
                                " differs from layer 0");
        if (s.n_ff > c.n_ff) c.n_ff = s.n_ff;
        if (s.n_head > c.n_head) c.n_head = s.n_head;
        if (s.n_head_kv > c.n_head_kv) c.n_head_kv = s.n_head_kv;
        kv_heads_total += s.n_head_kv;
    }
    const int first_n_head = first.n_head;
    c.head_dim = c.n_embd / first_n_head;
    if (f.find(detail::ArchKey(a, "attention.key_length").view())) {
        if (!(st = read_positive(f, a, "attention.key_length", c.head_dim, detail::max_width))) return st;
    } else if (c.head_dim == 0) {
        return Status::fail(Error::shape_mismatch, "head_count ", first_n_head, " exceeds embedding_length ", c.n_embd);
    }
    // Every layer's head_count_kv divides its head_count, so kv widths are at most q widths.
    const int64_t q_dim = int64_t(c.n_head) * c.head_dim;
    if (q_dim > detail::max_width)
        return Status::fail(Error::invalid_argument, "head_count ", c.n_head, " x key_length ", c.head_dim, " = ", q_dim,
                            " exceeds the width limit ", detail::max_width);
    c.kv_cache_width = kv_heads_total * c.head_dim;
    c.n_rot = c.head_dim;
    if (f.find(detail::ArchKey(a, "rope.dimension_count").view()))
        if (!(st = read_positive(f, a, "rope.dimension_count", c.n_rot))) return st;
    if (c.n_rot > c.head_dim || c.n_rot % 2)
        return Status::fail(Error::shape_mismatch, "rope.dimension_count ", c.n_rot, " does not fit head size ", c.head_dim);
    // Family constraints llama.cpp's graphs assume: Phi-2's attention output is square; SmolLM3 rotates whole heads.
    if (c.arch == Arch::phi2 && q_dim != c.n_embd)
        return Status::fail(Error::shape_mismatch, "phi2 needs head_count x head size = embedding_length; ", c.n_head, " x ", c.head_dim,
                            " != ", c.n_embd);
    if (c.arch == Arch::smollm3 && c.n_rot != c.head_dim)
        return Status::fail(Error::shape_mismatch, "smollm3 rotates whole heads; rope.dimension_count ", c.n_rot, " != head size ", c.head_dim);

    // Phi-2's LayerNorm has its own epsilon key; the others' RMSNorm this one. Required, as in llama.cpp.
    if (c.arch == Arch::phi2) c.norm = NormKind::layer;
    const char* eps_key = c.norm == NormKind::layer ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon";
    Result<double> eps = f.get_float(detail::ArchKey(a, eps_key).view());
    if (!eps) return eps.status;
    if (!(st = detail::read_optional_float(f, a, eps_key, c.norm_eps, 0.0f))) return st;
    if (!(st = detail::read_optional_float(f, a, "rope.freq_base", c.rope_base, 1e-30f))) return st;
    return read_family_options(f, c);
}

} // namespace tinyllm
