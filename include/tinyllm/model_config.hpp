// Hyperparameters of a decoder-only model, read from GGUF metadata ("<arch>.<key>").
#pragma once
#include <stdint.h>

#include "gguf.hpp"
#include "rope.hpp"
#include "tinyllm/status.hpp"

namespace tinyllm {

struct ModelConfig {
    char architecture[32] = {};
    int n_vocab = 0;
    int n_ctx_train = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_ff = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;  // per-head size of q and k (attention.key_length, else n_embd / n_head)
    int n_rot = 0;     // rotated dimensions per head (rope.dimension_count)
    float rms_eps = 1e-5f;
    float rope_base = 10000.0f;
    RopeStyle rope_style = RopeStyle::adjacent;

    int q_dim() const { return n_head * head_dim; }
    int kv_dim() const { return n_head_kv * head_dim; }
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

inline Status read_positive(const gguf::File& f, const char* arch, const char* suffix, int& out) {
    ArchKey key(arch, suffix);
    Result<int64_t> v = f.get_int(key.view());
    if (!v) return v.status;
    if (*v <= 0 || *v > (int64_t(1) << 30))
        return Status::fail(Error::invalid_argument, "metadata key '", key.text, "' = ", *v, " is out of range");
    out = int(*v);
    return Status{};
}

} // namespace detail

inline Status read_model_config(const gguf::File& f, ModelConfig& c) {
    Result<StrView> arch = f.get_string("general.architecture");
    if (!arch) return arch.status;
    if (arch->size() >= sizeof(c.architecture))
        return Status::fail(Error::unsupported_architecture, "architecture name too long");
    memcpy(c.architecture, arch->data(), arch->size());
    c.architecture[arch->size()] = 0;
    if (*arch != StrView("llama"))
        return Status::fail(Error::unsupported_architecture, "architecture '", *arch, "'");
    const char* a = c.architecture;

    using detail::read_positive;
    Status st;
    if (!(st = read_positive(f, a, "context_length", c.n_ctx_train))) return st;
    if (!(st = read_positive(f, a, "embedding_length", c.n_embd))) return st;
    if (!(st = read_positive(f, a, "block_count", c.n_layer))) return st;
    if (!(st = read_positive(f, a, "feed_forward_length", c.n_ff))) return st;
    if (!(st = read_positive(f, a, "attention.head_count", c.n_head))) return st;
    c.n_head_kv = c.n_head;
    if (f.find(detail::ArchKey(a, "attention.head_count_kv").view()))
        if (!(st = read_positive(f, a, "attention.head_count_kv", c.n_head_kv))) return st;
    if (c.n_head % c.n_head_kv != 0)
        return Status::fail(Error::shape_mismatch, "head_count ", c.n_head, " is not a multiple of head_count_kv ", c.n_head_kv);
    c.head_dim = c.n_embd / c.n_head;
    if (f.find(detail::ArchKey(a, "attention.key_length").view()))
        if (!(st = read_positive(f, a, "attention.key_length", c.head_dim))) return st;
    c.n_rot = c.head_dim;
    if (f.find(detail::ArchKey(a, "rope.dimension_count").view()))
        if (!(st = read_positive(f, a, "rope.dimension_count", c.n_rot))) return st;
    if (c.n_rot > c.head_dim || c.n_rot % 2)
        return Status::fail(Error::shape_mismatch, "rope.dimension_count ", c.n_rot, " does not fit head size ", c.head_dim);

    Result<double> eps = f.get_float(detail::ArchKey(a, "attention.layer_norm_rms_epsilon").view());
    if (!eps) return eps.status;
    c.rms_eps = float(*eps);
    if (f.find(detail::ArchKey(a, "rope.freq_base").view())) {
        Result<double> base = f.get_float(detail::ArchKey(a, "rope.freq_base").view());
        if (!base) return base.status;
        c.rope_base = float(*base);
    }
    return Status{};
}

} // namespace tinyllm
