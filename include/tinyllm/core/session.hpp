// The transformer forward pass over a KV cache. A Session owns (in a caller-provided arena)
// the cache and all activation scratch for n_seq sequences. decode() runs tokens of any of
// them together, up to n_batch per forward pass: every weight matrix is read once for the
// whole batch (matrix-matrix products), each token attends only within its own sequence, and
// a token's logits are bit-identical whether it runs alone or with others, at any thread
// count. As a LanguageModel a session is its sequence 0 (the whole session when n_seq is 1).
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/activation_fns.hpp"
#include "tinyllm/kernels/norm.hpp"
#include "tinyllm/kernels/rope.hpp"
#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/language_model.hpp"
#include "tinyllm/core/model.hpp"
#include "tinyllm/core/parallel.hpp"

namespace tinyllm {

// One token of a batch: the sequence it continues, and whether its logits are wanted.
struct BatchToken {
    int32_t id = 0;
    int32_t seq = 0;
    bool logits = false;
};

class Session final : public LanguageModel {
public:
    // Bytes of arena init() will take for this model, context (per sequence), batch size and
    // number of sequences.
    static size_t required_bytes(const Model& m, int n_ctx, int n_batch, int n_seq = 1) {
        Session s;
        s.model_ = &m;
        s.n_ctx_ = n_ctx;
        s.n_batch_ = n_batch;
        s.n_seq_ = n_seq;
        // Counts are 64-bit (a 32-bit size_t would wrap on a long context); a size that does not
        // fit a size_t is SIZE_MAX, which no arena holds.
        size_t total = 0;
        const bool fits = s.carve([&](auto*&, uint64_t count, size_t elem_size) {
            total = Arena::align_up(total, 64);
            if (count > (SIZE_MAX - 128 - total) / elem_size) return false;
            total += size_t(count) * elem_size;
            return true;
        });
        return fits ? total + 64 : SIZE_MAX;
    }

    Status init(const Model& m, int n_ctx, int n_batch, Arena& arena, int n_seq = 1) {
        if (n_ctx <= 0 || n_ctx > m.config.n_ctx_train)
            return Status::fail(Error::invalid_argument, "context ", n_ctx, " outside 1..", m.config.n_ctx_train);
        if (n_batch <= 0) return Status::fail(Error::invalid_argument, "batch size ", n_batch);
        if (n_seq <= 0 || n_seq > max_sequences)
            return Status::fail(Error::invalid_argument, "sequence count ", n_seq, " outside 1..", max_sequences);
        model_ = &m;
        n_ctx_ = n_ctx;
        n_seq_ = n_seq;
        n_batch_ = int64_t(n_batch) < int64_t(n_ctx) * n_seq ? n_batch : n_ctx * n_seq;
        bool ok = carve([&](auto*& ptr, uint64_t count, size_t elem_size) {
            if (count > SIZE_MAX / elem_size) return false;
            ptr = static_cast<decltype(+ptr)>(arena.allocate(size_t(count) * elem_size));
            return ptr != nullptr;
        });
        if (!ok)
            return Status::fail(Error::out_of_memory, "session needs ",
                                uint64_t(required_bytes(m, n_ctx, n_batch_, n_seq)), " bytes of arena");
        for (int q = 0; q < n_seq_; ++q) n_past_[q] = 0;
        return Status{};
    }

    static constexpr int max_sequences = 256;

    int n_seq() const { return n_seq_; }
    int n_ctx() const override { return n_ctx_; }
    int n_vocab() const override { return model_->config.n_vocab; }
    int n_past(int seq) const { return seq >= 0 && seq < n_seq_ && n_past_ ? n_past_[seq] : 0; }
    // Keeps the first n tokens of sequence seq. Positions from n on are overwritten by the next
    // tokens of that sequence; attention never reads past a sequence's own length.
    Status truncate(int seq, int n) {
        if (seq < 0 || seq >= n_seq_) return Status::fail(Error::invalid_argument, "sequence ", seq, " outside 0..", n_seq_ - 1);
        if (n < 0 || n > n_past_[seq])
            return Status::fail(Error::invalid_argument, "cannot truncate ", n_past_[seq], " tokens to ", n);
        if (seq == 0) tree_size_ = 0;
        n_past_[seq] = n;
        return Status{};
    }

    // Runs tokens[0..n) at the next positions of their sequences (in the order given), in
    // forward passes of up to n_batch tokens. logits (may be null) receives one [n_vocab] row
    // per token that asks for it, in order. Checks everything before changing anything.
    Status decode(const BatchToken* tokens, int n, float* logits) {
        return run(n, [&](int i) { return tokens[i]; }, logits);
    }

    // A saved state of sequence seq (model_state.hpp): the keys and values of its tokens, layer
    // by layer. It restores into any sequence of a session of the same model whose context
    // holds its tokens.
    size_t state_bytes(int seq) const { return state::Header::bytes + state_payload_bytes(n_past(seq)); }

    Result<size_t> save_state(int seq, uint8_t* dst, size_t capacity) const {
        if (seq < 0 || seq >= n_seq_) return Status::fail(Error::invalid_argument, "sequence ", seq, " outside 0..", n_seq_ - 1);
        const size_t need = state_bytes(seq);
        if (!dst || capacity < need)
            return Status::fail(Error::out_of_memory, "the state needs ", uint64_t(need), " bytes; the buffer has ", uint64_t(capacity));
        const int n = n_past_[seq];
        uint8_t* out = dst + state::Header::bytes;
        for (int l = 0; l < model_->config.n_layer; ++l)
            for (int kv = 0; kv < 2; ++kv) {
                const size_t bytes = size_t(n) * size_t(model_->layers[l].shape.kv_dim) * sizeof(uint16_t);
                __builtin_memcpy(out, cache_row(kv ? v_cache_ : k_cache_, l, seq), bytes);
                out += bytes;
            }
        state::write_header(dst, state_header(n));
        return need;
    }

    // Replaces sequence seq's cache with a saved state; a state that does not belong here
    // changes nothing.
    Status load_state(int seq, const uint8_t* src, size_t size) {
        if (seq < 0 || seq >= n_seq_) return Status::fail(Error::invalid_argument, "sequence ", seq, " outside 0..", n_seq_ - 1);
        state::Header saved;
        Status st = state::read_header(src, size, saved);
        if (!st) return st;
        const int n_fit = saved.n_tokens <= n_ctx_ ? saved.n_tokens : 0;  // check_fits refuses the others
        if (!(st = state::check_fits(saved, state_header(n_fit), n_ctx_, state_payload_bytes(n_fit)))) return st;
        const uint8_t* in = src + state::Header::bytes;
        for (int l = 0; l < model_->config.n_layer; ++l)
            for (int kv = 0; kv < 2; ++kv) {
                const size_t bytes = size_t(saved.n_tokens) * size_t(model_->layers[l].shape.kv_dim) * sizeof(uint16_t);
                __builtin_memcpy(cache_row(kv ? v_cache_ : k_cache_, l, seq), in, bytes);
                in += bytes;
            }
        if (seq == 0) tree_size_ = 0;
        n_past_[seq] = saved.n_tokens;
        return Status{};
    }

    // Sequence 0 as a LanguageModel.
    size_t state_bytes() const override { return state_bytes(0); }
    Result<size_t> save_state(uint8_t* dst, size_t capacity) const override { return save_state(0, dst, capacity); }
    Status load_state(const uint8_t* src, size_t size) override { return load_state(0, src, size); }
    int n_past() const override { return n_past(0); }
    Status truncate(int n) override { return truncate(0, n); }
    Status eval(const int32_t* tokens, int n, float* logits, bool all_logits) override {
        return run(n, [&](int i) { return BatchToken{tokens[i], 0, all_logits || i == n - 1}; }, logits);
    }

    // Sequence 0's tree (LanguageModel::eval_tree), in one forward pass: each token at the
    // position after its parent's, its keys and values in the cache slots after the sequence's
    // tokens, attending to those tokens and to its own ancestors in the tree.
    Status eval_tree(const int32_t* tokens, const int32_t* parents, int n, float* logits) override {
        tree_size_ = 0;
        const int base = n_past_[0];
        if (n <= 0 || n > n_batch_) return Status::fail(Error::invalid_argument, "a tree of ", n, " tokens (the batch holds 1..", n_batch_, ")");
        if (n > n_ctx_ - base)
            return Status::fail(Error::context_full, "context of ", n_ctx_, " tokens is full (", base, " used, a tree of ", n, " more)");
        for (int i = 0; i < n; ++i) {
            if (tokens[i] < 0 || tokens[i] >= model_->config.n_vocab)
                return Status::fail(Error::token_out_of_range, "token id ", tokens[i], " at index ", i, " is outside the vocabulary of ",
                                    model_->config.n_vocab);
            if (parents[i] < -1 || parents[i] >= i)
                return Status::fail(Error::invalid_argument, "tree token ", i, " continues token ", parents[i], " (a parent comes before it, or is -1)");
            const int depth = parents[i] < 0 ? 0 : pos_[parents[i]] - base + 1;
            ids_[i] = tokens[i];
            seq_[i] = 0;
            pos_[i] = base + depth;
            slot_[i] = base + i;
            parent_[i] = parents[i];
            out_[i] = 1;
        }
        tree_base_ = base;
        forward_batch(n, logits);
        tree_base_ = -1;
        tree_size_ = n;
        return Status{};
    }

    Status keep_branch(const int32_t* path, int n) override {
        if (tree_size_ == 0) return Status::fail(Error::invalid_argument, "no tree to keep a branch of: eval_tree() must come just before");
        if (n < 0 || n > tree_size_) return Status::fail(Error::invalid_argument, "a branch of ", n, " tokens from a tree of ", tree_size_);
        for (int j = 0; j < n; ++j)
            if (path[j] < 0 || path[j] >= tree_size_ || parent_[path[j]] != (j > 0 ? path[j - 1] : -1))
                return Status::fail(Error::invalid_argument, "branch token ", j, " (tree token ", path[j], ") does not continue the one before");
        const int base = n_past_[0];
        for (int l = 0; l < model_->config.n_layer; ++l) {
            const int64_t KV = model_->layers[l].shape.kv_dim;
            for (int kv = 0; kv < 2; ++kv) {
                uint16_t* rows = cache_row(kv ? v_cache_ : k_cache_, l, 0);
                for (int j = 0; j < n; ++j)  // path[j] >= j: a row never moves over one still to move
                    if (path[j] != j) __builtin_memcpy(rows + (base + j) * KV, rows + (base + path[j]) * KV, size_t(KV) * sizeof(uint16_t));
            }
        }
        n_past_[0] = base + n;
        tree_size_ = 0;
        return Status{};
    }

private:
    size_t state_payload_bytes(int n_tokens) const {
        return 2 * size_t(n_tokens) * size_t(model_->config.kv_cache_width) * sizeof(uint16_t);
    }
    state::Header state_header(int n_tokens) const {
        state::Header h;
        h.model_fingerprint = model_->fingerprint;
        h.kind = state::Kind::session_fp16;
        h.n_ctx = n_ctx_;
        h.n_tokens = n_tokens;
        h.payload_bytes = state_payload_bytes(n_tokens);
        return h;
    }
    // The cache holds each layer's [n_seq][n_ctx][kv_dim] block after the earlier layers'.
    uint16_t* layer_cache(uint16_t* cache, int layer) const {
        return cache + model_->layers[layer].shape.kv_offset * n_seq_ * n_ctx_;
    }
    // Where sequence seq's keys (or values) of one layer start.
    uint16_t* cache_row(uint16_t* cache, int layer, int seq) const {
        return layer_cache(cache, layer) + int64_t(seq) * n_ctx_ * model_->layers[layer].shape.kv_dim;
    }

    template <class TokenAt>
    Status run(int n, TokenAt token_at, float* logits) {
        const ModelConfig& c = model_->config;
        if (n < 0) return Status::fail(Error::invalid_argument, "token count ", n);
        tree_size_ = 0;
        for (int q = 0; q < n_seq_; ++q) seq_tokens_[q] = 0;
        for (int i = 0; i < n; ++i) {
            const BatchToken t = token_at(i);
            if (t.id < 0 || t.id >= c.n_vocab)
                return Status::fail(Error::token_out_of_range, "token id ", t.id, " at index ", i,
                                    " is outside the vocabulary of ", c.n_vocab);
            if (t.seq < 0 || t.seq >= n_seq_)
                return Status::fail(Error::invalid_argument, "sequence ", t.seq, " at index ", i, " outside 0..", n_seq_ - 1);
            ++seq_tokens_[t.seq];
        }
        for (int q = 0; q < n_seq_; ++q)
            if (seq_tokens_[q] > n_ctx_ - n_past_[q])
                return Status::fail(Error::context_full, "context of ", n_ctx_, " tokens is full (", n_past_[q], " used, ",
                                    seq_tokens_[q], " more requested", n_seq_ > 1 ? " in a sequence)" : ")");
        float* out = logits;
        for (int start = 0; start < n; start += n_batch_) {
            const int count = n - start < n_batch_ ? n - start : n_batch_;
            int n_out = 0;
            for (int t = 0; t < count; ++t) {
                const BatchToken b = token_at(start + t);
                ids_[t] = b.id;
                seq_[t] = b.seq;
                slot_[t] = pos_[t] = n_past_[b.seq]++;
                out_[t] = logits && b.logits;
                n_out += out_[t];
            }
            forward_batch(count, n_out ? out : nullptr);
            if (n_out) out += int64_t(n_out) * c.n_vocab;
        }
        return Status{};
    }

    // Every buffer the session needs, in one list used both to size and to allocate.
    template <class Alloc>
    bool carve(Alloc&& alloc) {
        const ModelConfig& c = model_->config;
        const uint64_t B = uint64_t(n_batch_), slots = uint64_t(n_seq_) * uint64_t(n_ctx_);
        const uint64_t kv = uint64_t(c.kv_cache_width) > UINT64_MAX / slots ? UINT64_MAX : slots * uint64_t(c.kv_cache_width);
        int widest = c.n_embd;
        if (c.n_ff > widest) widest = c.n_ff;
        if (c.q_dim() > widest) widest = c.q_dim();
        return alloc(k_cache_, kv, sizeof(uint16_t)) && alloc(v_cache_, kv, sizeof(uint16_t)) &&
               alloc(x_, B * c.n_embd, sizeof(float)) && alloc(xn_, B * c.n_embd, sizeof(float)) &&
               alloc(attn_out_, c.parallel_residual ? B * c.n_embd : 0, sizeof(float)) &&
               alloc(q_, B * c.q_dim(), sizeof(float)) && alloc(k_, B * c.kv_dim(), sizeof(float)) &&
               alloc(v_, B * c.kv_dim(), sizeof(float)) && alloc(att_, B * c.q_dim(), sizeof(float)) &&
               alloc(gate_, c.gated_ffn ? B * c.n_ff : 0, sizeof(float)) && alloc(up_, B * c.n_ff, sizeof(float)) &&
               alloc(scores_, uint64_t(c.n_head) * uint64_t(n_ctx_), sizeof(float)) &&
               alloc(rope_cs_, B * c.n_rot, sizeof(float)) && alloc(rope_cs_local_, B * c.n_rot, sizeof(float)) &&
               alloc(q16_, uint64_t(c.q_dim()), sizeof(uint16_t)) &&
               alloc(q8_, B * widest / BlockQ8::elems + 1, sizeof(BlockQ8)) &&
               alloc(half_, B * widest, sizeof(uint16_t)) && alloc(ids_, B, sizeof(int32_t)) &&
               alloc(seq_, B, sizeof(int32_t)) && alloc(pos_, B, sizeof(int32_t)) && alloc(slot_, B, sizeof(int32_t)) &&
               alloc(parent_, B, sizeof(int32_t)) && alloc(out_, B, sizeof(uint8_t)) &&
               alloc(n_past_, uint64_t(n_seq_), sizeof(int32_t)) && alloc(seq_tokens_, uint64_t(n_seq_), sizeof(int32_t));
    }

    MatmulInput input(const float* x, int n_tokens, int cols) {
        MatmulInput in;
        in.x = x;
        in.n_tokens = n_tokens;
        in.cols = cols;
        in.q8 = q8_;
        in.half = half_;
        return in;
    }

    // RoPE angles for the batch's positions, one table per distinct (base, scale) in use.
    void compute_rope_tables(int n) {
        const ModelConfig& c = model_->config;
        for (int t = 0; t < n; ++t) {
            rope_angles(rope_cs_ + t * c.n_rot, pos_[t], c.n_rot, c.rope_base, c.rope_freq_scale, model_->rope_freq_factors);
            if (c.rope_base_swa > 0.0f)
                rope_angles(rope_cs_local_ + t * c.n_rot, pos_[t], c.n_rot, c.rope_base_swa, 1.0f, model_->rope_freq_factors);
        }
    }

    static void add_bias(float* y, const float* bias, int n_tokens, int width) {
        if (!bias) return;
        for (int t = 0; t < n_tokens; ++t)
            for (int i = 0; i < width; ++i) y[int64_t(t) * width + i] += bias[i];
    }

    // q/k norms, RoPE, and the q scale, for n tokens of one layer.
    void prepare_qk(const LayerWeights& L, int layer, int n) {
        const ModelConfig& c = model_->config;
        const int Q = L.shape.q_dim, KV = L.shape.kv_dim, D = c.head_dim;
        const bool rope = c.layer_uses_rope(layer);
        const float* cs_table = c.layer_uses_local_rope(layer) ? rope_cs_local_ : rope_cs_;
        for (int t = 0; t < n; ++t) {
            const float* cs = cs_table + t * c.n_rot;
            for (int h = 0; h < L.shape.n_head; ++h) {
                float* q = q_ + t * Q + h * D;
                if (L.q_norm) rms_norm(q, L.q_norm, q, D, c.norm_eps);
                if (rope) rope_apply(q, cs, c.n_rot, c.rope_style);
                if (c.q_scale != 1.0f)
                    for (int d = 0; d < D; ++d) q[d] *= c.q_scale;
            }
            for (int h = 0; h < L.shape.n_head_kv; ++h) {
                float* k = k_ + t * KV + h * D;
                if (L.k_norm) rms_norm(k, L.k_norm, k, D, c.norm_eps);
                if (rope) rope_apply(k, cs, c.n_rot, c.rope_style);
            }
        }
    }

    // GELU follows llama.cpp: its input and output pass through fp16.
    static float gelu_as_llama_cpp(float x) {
        return x <= -10.0f ? 0.0f : x >= 10.0f ? x : fp16_to_f32(f32_to_fp16(gelu_tanh(fp16_to_f32(f32_to_fp16(x)))));
    }

    // The FFN's activation over n values: gate <- act(gate) * up, or (no gate) up <- act(up).
    static void ffn_activation(const ModelConfig& c, float* gate, float* up, int64_t n) {
        if (!c.gated_ffn) {
            for (int64_t i = 0; i < n; ++i) up[i] = gelu_as_llama_cpp(up[i]);
            return;
        }
        if (c.activation == FfnActivation::silu) {
            map_f32(gate, gate, n, [](float x) { return silu(x); });  // 8 wide where the CPU has AVX2
            for (int64_t i = 0; i < n; ++i) gate[i] *= up[i];
            return;
        }
        for (int64_t i = 0; i < n; ++i) gate[i] = gelu_as_llama_cpp(gate[i]) * up[i];
    }

    // out[t] = the model's norm of x[t] (weight, and bias with LayerNorm) for n rows of n_embd.
    void normalize(const float* x, const float* weight, const float* bias, float* out, int n) const {
        const ModelConfig& c = model_->config;
        const int E = c.n_embd;
        for (int t = 0; t < n; ++t) {
            if (c.norm == NormKind::layer) layer_norm(x + t * E, weight, bias, out + t * E, E, c.norm_eps);
            else rms_norm(x + t * E, weight, out + t * E, E, c.norm_eps);
        }
    }

    // x += (post_norm ? rmsnorm(y) * post_norm : y) for n rows.
    void residual_add(const float* post_norm, float* y, int n) {
        const ModelConfig& c = model_->config;
        const int E = c.n_embd;
        for (int t = 0; t < n; ++t) {
            float* row = y + t * E;
            if (post_norm) rms_norm(row, post_norm, row, E, c.norm_eps);
            for (int i = 0; i < E; ++i) x_[t * E + i] += row[i];
        }
    }

    // Attention for n tokens of one layer, from the normalized input in xn_ to its output
    // projection in `out` ([n][n_embd], may be xn_); the layer's keys and values go into the cache.
    void attention_block(const LayerWeights& L, int layer, int n, float* out) {
        const ModelConfig& c = model_->config;
        const int E = c.n_embd, Q = L.shape.q_dim, KV = L.shape.kv_dim;
        MatmulInput in = input(xn_, n, E);
        matmul_group<3>({{&L.wq, q_, Q}, {&L.wk, k_, KV}, {&L.wv, v_, KV}}, in);
        add_bias(q_, L.bq, n, Q);
        add_bias(k_, L.bk, n, KV);
        add_bias(v_, L.bv, n, KV);
        prepare_qk(L, layer, n);
        uint16_t* layer_k = layer_cache(k_cache_, layer);
        uint16_t* layer_v = layer_cache(v_cache_, layer);
        const auto to_fp16 = best_f32_to_fp16_row();
        for (int t = 0; t < n; ++t) {
            const int64_t slot = (int64_t(seq_[t]) * n_ctx_ + slot_[t]) * KV;
            to_fp16(k_ + int64_t(t) * KV, layer_k + slot, KV);
            to_fp16(v_ + int64_t(t) * KV, layer_v + slot, KV);
        }
        attention(L.shape, layer_k, layer_v, n, c.is_swa_layer(layer) ? c.sliding_window : 0);
        MatmulInput att_in = input(att_, n, Q);
        matmul(L.wo, att_in, out, E);
        add_bias(out, L.bo, n, E);
    }

    // The FFN for n tokens, from the normalized input in xn_ to `out` ([n][n_embd], may be xn_).
    void ffn_block(const LayerWeights& L, int n, float* out) {
        const ModelConfig& c = model_->config;
        const int E = c.n_embd, F = L.shape.n_ff;
        MatmulInput ffn_in = input(xn_, n, E);
        if (c.gated_ffn) matmul_group<2>({{&L.w_gate, gate_, F}, {&L.w_up, up_, F}}, ffn_in);
        else matmul(L.w_up, ffn_in, up_, F);
        add_bias(up_, L.b_up, n, F);
        ffn_activation(c, gate_, up_, int64_t(n) * F);
        MatmulInput down_in = input(c.gated_ffn ? gate_ : up_, n, F);
        matmul(L.w_down, down_in, out, E);
        add_bias(out, L.b_down, n, E);
    }

    // One forward pass over the n tokens in ids_/seq_/pos_; logits (may be null) receives the
    // rows of the tokens marked in out_, in order.
    void forward_batch(int n, float* logits) {
        const Model& m = *model_;
        const ModelConfig& c = m.config;
        const int E = c.n_embd;

        for (int t = 0; t < n; ++t) dequantize_row(m.token_embd, ids_[t], x_ + int64_t(t) * E);
        if (c.embed_scale) {
            const float scale = math::sqrtf(float(E));
            for (int64_t i = 0; i < int64_t(n) * E; ++i) x_[i] *= scale;
        }
        compute_rope_tables(n);

        for (int l = 0; l < c.n_layer; ++l) {
            const LayerWeights& L = m.layers[l];
            normalize(x_, L.attn_norm, L.attn_norm_b, xn_, n);
            if (c.parallel_residual) {
                // x = (attention(norm(x)) + ffn(norm(x))) + x, summed in llama.cpp's order.
                attention_block(L, l, n, attn_out_);
                ffn_block(L, n, xn_);
                for (int64_t i = 0; i < int64_t(n) * E; ++i) x_[i] = (attn_out_[i] + xn_[i]) + x_[i];
                continue;
            }
            attention_block(L, l, n, xn_);
            residual_add(L.post_attn_norm, xn_, n);
            normalize(x_, L.ffn_norm, nullptr, xn_, n);
            ffn_block(L, n, xn_);
            residual_add(L.post_ffn_norm, xn_, n);
        }

        if (!logits) return;
        // Only the rows asked for go through the (large) output head.
        int n_out = 0;
        for (int t = 0; t < n; ++t)
            if (out_[t]) normalize(x_ + t * E, m.output_norm, m.output_norm_b, xn_ + (n_out++) * E, 1);
        MatmulInput out_in = input(xn_, n_out, E);
        matmul(m.output, out_in, logits, c.n_vocab);
        add_bias(logits, m.output_b, n_out, c.n_vocab);
        if (c.final_softcap > 0.0f) {
            const int64_t count = int64_t(n_out) * c.n_vocab;
            for (int64_t i = 0; i < count; ++i) logits[i] = c.final_softcap * math::tanhf(logits[i] / c.final_softcap);
        }
    }

    // Causal grouped-query attention for the batch's n tokens of one layer, each against its own
    // sequence's cache up to its position (a tree's token: the cache before the tree, then its
    // ancestors in the tree, root first); with a window, keys `window` or more positions back
    // are masked. A token's keys are in position order either way, and the kernels take each
    // key in order, so a tree's token gets the bits the same tokens in a row would. Queries and probabilities meet the fp16 cache in fp16, as in llama.cpp. Split
    // by head: each head's outputs are computed by one thread, in a fixed order.
    void attention(const LayerShape& shape, const uint16_t* cache_k, const uint16_t* cache_v, int n, int window) {
        const ModelConfig& c = model_->config;
        const int Q = shape.q_dim, KV = shape.kv_dim, D = c.head_dim, group = shape.n_head / shape.n_head_kv;
        const auto dot_rows = best_dot_rows_f16();
        const auto weighted_sum = best_weighted_sum_f16();
        const auto to_fp16 = best_f32_to_fp16_row();
        const auto round_to_fp16 = best_round_to_fp16_row();
        parallel_for(shape.n_head, [&](int64_t h) {
            float* scores = scores_ + int64_t(h) * n_ctx_;
            uint16_t* q16 = q16_ + int64_t(h) * D;
            const int kv_off = (h / group) * D;
            for (int t = 0; t < n; ++t) {
                const float* q = q_ + t * Q + h * D;
                to_fp16(q, q16, D);
                const int64_t seq_offset = int64_t(seq_[t]) * n_ctx_ * KV;
                const uint16_t* layer_k = cache_k + seq_offset;
                const uint16_t* layer_v = cache_v + seq_offset;
                const int pos = pos_[t];
                const int first_pos = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
                // Keys: the run of cache slots [first, first + n_run), then (a tree's token) its
                // ancestors at depths d0..depth in the tree, one per depth, the token itself last.
                int first = first_pos, n_run = pos + 1 - first_pos, d0 = 0, depth = -1;
                if (tree_base_ >= 0) {
                    first = first_pos < tree_base_ ? first_pos : tree_base_;
                    n_run = tree_base_ - first;
                    depth = pos - tree_base_;
                    d0 = first_pos > tree_base_ ? first_pos - tree_base_ : 0;
                }
                auto ancestor = [&](int d) {  // the token's ancestor at depth d
                    int a = t;
                    for (int up = depth - d; up > 0; --up) a = parent_[a];
                    return int64_t(tree_base_ + a) * KV + kv_off;
                };
                const int n_keys = n_run + (depth - d0 + 1);
                dot_rows(layer_k + int64_t(first) * KV + kv_off, KV, n_run, q16, D, scores);
                for (int d = d0; d <= depth; ++d) dot_rows(layer_k + ancestor(d), KV, 1, q16, D, scores + n_run + d - d0);
                for (int j = 0; j < n_keys; ++j) {
                    float score = scores[j] * c.kq_scale;
                    if (c.attn_softcap > 0.0f) score = c.attn_softcap * math::tanhf(score / c.attn_softcap);
                    scores[j] = score;
                }
                softmax(scores, n_keys);
                round_to_fp16(scores, n_keys);
                float* out = att_ + t * Q + h * D;
                for (int d = 0; d < D; ++d) out[d] = 0.0f;
                weighted_sum(scores, layer_v + int64_t(first) * KV + kv_off, KV, n_run, out, D);
                for (int d = d0; d <= depth; ++d) weighted_sum(scores + n_run + d - d0, layer_v + ancestor(d), KV, 1, out, D);
            }
        });
    }

    const Model* model_ = nullptr;
    int n_ctx_ = 0, n_batch_ = 0, n_seq_ = 1;
    int32_t* n_past_ = nullptr;      // [n_seq] tokens in each sequence's cache
    int32_t* seq_tokens_ = nullptr;  // [n_seq] scratch: tokens per sequence in one decode()
    int tree_base_ = -1;  // during eval_tree()'s forward pass: the sequence's length before the tree
    int tree_size_ = 0;   // the tree keep_branch() may keep a branch of (0: none)
    // The forward pass's tokens: id, sequence, position, cache slot (the position, except in a
    // tree), parent in a tree, and whether its logits are wanted.
    int32_t *ids_ = nullptr, *seq_ = nullptr, *pos_ = nullptr, *slot_ = nullptr, *parent_ = nullptr;
    uint8_t* out_ = nullptr;
    // The cache holds fp16, as llama.cpp's does: half the memory traffic, same answers.
    uint16_t *k_cache_ = nullptr, *v_cache_ = nullptr;
    float* attn_out_ = nullptr;  // parallel_residual: the attention output while the FFN runs
    float *x_ = nullptr, *xn_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *att_ = nullptr;
    float *gate_ = nullptr, *up_ = nullptr, *scores_ = nullptr, *rope_cs_ = nullptr, *rope_cs_local_ = nullptr;
    uint16_t* q16_ = nullptr;  // one fp16 query per head
    BlockQ8* q8_ = nullptr;
    uint16_t* half_ = nullptr;
};

} // namespace tinyllm
