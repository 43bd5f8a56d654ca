// An ExecuTorch Llama export driven like a Session: its `forward(tokens [1,S] int64,
// input_pos [S] int64) -> logits` method keeps the KV cache in planned memory, so feeding
// tokens in order at increasing positions decodes. S = 1 for decode programs; prefill
// programs (S > 1) accept prompts in chunks of exactly S tokens.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/core/language_model.hpp"
#include "tinyllm/core/model_state.hpp"
#include "tinyllm/pte/method.hpp"

namespace tinyllm::pte {

class LlmProgram final : public LanguageModel {
public:
    static Result<size_t> required_bytes(const Program& program, const MethodOptions& options = {}) {
        return Method::required_bytes(program, "forward", options);
    }

    // The logits' last dimension, from the program's declared output shape.
    static Result<int> vocab_size(const Program& program) {
        PlanView plan = program.find_plan("forward");
        if (!plan.t.valid() || plan.outputs().size() < 1) return Status::fail(Error::missing_key, "pte: no method 'forward' with outputs");
        EValueView logits = plan.value(uint32_t(plan.outputs()[0]));
        if (logits.kind() != ValueKind::Tensor) return Status::fail(Error::unsupported_architecture, "pte: forward does not return a tensor");
        fb::Vector<int32_t> sizes = logits.as_tensor().sizes();
        if (sizes.size() < 1 || sizes[sizes.size() - 1] <= 0)
            return Status::fail(Error::bad_shape, "pte: forward's logits have no vocabulary dimension");
        return int(sizes[sizes.size() - 1]);
    }

    // The context it was exported with (get_max_context_len, else get_max_seq_len), 0 if neither.
    static int context_size(const Program& program) {
        const int64_t n = constant_int(program, "get_max_context_len", constant_int(program, "get_max_seq_len", 0));
        return n > 0 && n <= (int64_t(1) << 30) ? int(n) : 0;
    }

    // The value a constant method such as get_max_seq_len or get_bos_id returns (the first of
    // several, as get_eos_ids may return), or `fallback`.
    static int64_t constant_int(const Program& program, const char* name, int64_t fallback) {
        PlanView plan = program.find_plan(cstr(name));
        if (!plan.t.valid() || plan.outputs().size() < 1) return fallback;
        EValueView v = plan.value(uint32_t(plan.outputs()[0]));
        return v.kind() == ValueKind::Int ? v.as_int() : fallback;
    }

    Status init(const Program& program, Arena& arena, const MethodOptions& options = {}) {
        if (Status s = method_.init(program, "forward", arena, {}, options); !s) return s;
        if (method_.input_count() != 2 || method_.output_count() < 1)
            return Status::fail(Error::unsupported_architecture, "pte: forward must take (tokens, input_pos) and return logits");
        const Value &tokens = method_.input(0), &pos = method_.input(1), &logits = method_.output(0);
        if (!tokens.is_tensor() || tokens.tensor.type != ScalarType::Long || tokens.tensor.dim != 2 || tokens.tensor.sizes[0] != 1 ||
            !pos.is_tensor() || pos.tensor.type != ScalarType::Long || pos.tensor.numel() != tokens.tensor.sizes[1])
            return Status::fail(Error::unsupported_architecture, "pte: forward inputs are not tokens int64 [1,S] and input_pos int64 [S]");
        if (!logits.is_tensor() || logits.tensor.type != ScalarType::Float || logits.tensor.dim < 1)
            return Status::fail(Error::unsupported_architecture, "pte: forward does not return float logits");
        chunk_ = int(tokens.tensor.sizes[1]);
        n_vocab_ = int(logits.tensor.sizes[logits.tensor.dim - 1]);
        if (chunk_ <= 0 || n_vocab_ <= 0)
            return Status::fail(Error::bad_shape, "pte: forward takes ", chunk_, " tokens per call and returns ", n_vocab_, " logits per row");
        rows_ = int(logits.tensor.numel() / n_vocab_);
        n_ctx_ = context_size(program);
        if (n_ctx_ <= 0) return Status::fail(Error::missing_key, "pte: program has no get_max_context_len / get_max_seq_len method");
        n_past_ = 0;
        fingerprint_ = fingerprint(program);
        return Status();
    }

    int n_vocab() const override { return n_vocab_; }
    int n_ctx() const override { return n_ctx_; }
    int n_past() const override { return n_past_; }
    int chunk() const { return chunk_; }
    // Later positions overwrite the cache and the program's mask hides the rest.
    Status truncate(int n) override {
        if (n < 0 || n > n_past_) return Status::fail(Error::invalid_argument, "pte: cannot truncate ", n_past_, " tokens to ", n);
        n_past_ = n;
        return Status();
    }

    // A saved state is the program's whole persistent memory (the cache, wherever the export
    // planned it) and the token count: it restores into the same program only.
    size_t state_bytes() const override { return state::Header::bytes + memory_bytes(); }

    Result<size_t> save_state(uint8_t* dst, size_t capacity) const override {
        const size_t need = state_bytes();
        if (!dst || capacity < need)
            return Status::fail(Error::out_of_memory, "the state needs ", uint64_t(need), " bytes; the buffer has ", uint64_t(capacity));
        uint8_t* out = dst + state::Header::bytes;
        for_each_region([&](uint8_t* region, size_t size) {
            __builtin_memcpy(out, region, size);
            out += size;
        });
        state::write_header(dst, state_header(n_past_));
        return need;
    }

    Status load_state(const uint8_t* src, size_t size) override {
        state::Header saved;
        Status st = state::read_header(src, size, saved);
        if (!st) return st;
        if (!(st = state::check_fits(saved, state_header(saved.n_tokens), n_ctx_, memory_bytes()))) return st;
        if (saved.n_ctx != n_ctx_)
            return Status::fail(Error::shape_mismatch, "the saved state has a context of ", saved.n_ctx, "; this program's is ", n_ctx_);
        const uint8_t* in = src + state::Header::bytes;
        for_each_region([&](uint8_t* region, size_t bytes) {
            __builtin_memcpy(region, in, bytes);
            in += bytes;
        });
        n_past_ = saved.n_tokens;
        return Status();
    }

    // Feeds n tokens at the next positions. logits receives the last token's row, or (all_rows)
    // one row per token, which only programs returning a row per position can provide.
    Status eval(const int32_t* ids, int n, float* logits, bool all_rows) override {
        if (n <= 0) return Status::fail(Error::invalid_argument, "pte: nothing to evaluate");
        if (n_past_ + n > n_ctx_) return Status::fail(Error::context_full, "pte: ", n_past_ + n, " tokens exceed the context of ", n_ctx_);
        if (n % chunk_ != 0)
            return Status::fail(Error::invalid_argument, "pte: this program takes tokens in chunks of ", chunk_, ", got ", n);
        if (all_rows && rows_ != chunk_)
            return Status::fail(Error::invalid_argument, "pte: this program returns ", rows_, " rows of logits for ", chunk_, " tokens, not one per token");
        int64_t tokens[max_chunk], positions[max_chunk];
        if (chunk_ > max_chunk) return Status::fail(Error::unsupported_type, "pte: chunks of more than 512 tokens");
        for (int at = 0; at < n; at += chunk_) {
            for (int k = 0; k < chunk_; ++k) {
                if (ids[at + k] < 0 || ids[at + k] >= n_vocab_)
                    return Status::fail(Error::token_out_of_range, "pte: token ", ids[at + k], " outside the vocabulary of ", n_vocab_);
                tokens[k] = ids[at + k];
                positions[k] = n_past_ + at + k;
            }
            const int64_t tok_shape[2] = {1, chunk_}, pos_shape[1] = {chunk_};
            if (Status s = method_.set_input(0, ScalarType::Long, tokens, tok_shape, 2); !s) return s;
            if (Status s = method_.set_input(1, ScalarType::Long, positions, pos_shape, 1); !s) return s;
            if (Status s = method_.execute(); !s) return s;
            const Tensor& out = method_.output(0).tensor;
            const size_t row = size_t(n_vocab_) * sizeof(float);
            if (logits && all_rows) __builtin_memcpy(logits + size_t(at) * size_t(n_vocab_), out.as<float>(), size_t(rows_) * row);
            else if (logits && at + chunk_ == n) __builtin_memcpy(logits, out.as<float>() + size_t(rows_ - 1) * size_t(n_vocab_), row);
        }
        n_past_ += n;
        return Status();
    }

private:
    static constexpr int max_chunk = 512;


    // Calls f(region, bytes) for each persistent memory region, in a fixed order.
    template <class F>
    void for_each_region(F&& f) const {
        const TensorMemory& m = method_.memory();
        for (uint32_t k = 0; k < m.n_buffers; ++k)
            if (m.buffer_size[k]) f(m.buffers[k], size_t(m.buffer_size[k]));
        if (m.unplaced_size) f(m.unplaced, size_t(m.unplaced_size));
    }
    size_t memory_bytes() const {
        size_t total = 0;
        for_each_region([&](uint8_t*, size_t bytes) { total += bytes; });
        return total;
    }
    state::Header state_header(int n_tokens) const {
        state::Header h;
        h.model_fingerprint = fingerprint_;
        h.kind = state::Kind::pte_memory;
        h.n_ctx = n_ctx_;
        h.n_tokens = n_tokens;
        h.payload_bytes = memory_bytes();
        h.extra = memory_bytes();
        return h;
    }
    // The program's size, its first 64 KiB (the flatbuffer: methods, shapes, small constants)
    // and 64 bytes every 1/1024 of the way through the rest (the weights), so two programs
    // that differ anywhere much are told apart, in the time of reading about 130 KiB.
    static uint64_t fingerprint(const Program& program) {
        const ByteSpan f = program.file;
        const size_t head = f.size < 65536 ? f.size : 65536;
        state::Hash h;
        h.add_u64(f.size);
        h.add(f.data, head);
        const size_t rest = f.size - head, step = rest / 1024;
        for (size_t k = 0; step >= 64 && k < 1024; ++k) h.add(f.data + head + k * step, 64);
        return h.h;
    }

    Method method_;
    uint64_t fingerprint_ = 0;
    int chunk_ = 1, rows_ = 1, n_vocab_ = 0, n_ctx_ = 0, n_past_ = 0;
};

} // namespace tinyllm::pte
