// GGUF -> ExecuTorch program: the forward pass of a `llama`, `qwen2` or `qwen3` model written as
// a method of ExecuTorch's portable operators, the way ExecuTorch's own Llama export lays it out:
// `forward(tokens int64 [1, 1], input_pos int64 [1]) -> logits float [1, n_vocab]`, the KV cache
// in planned buffers that persist across calls (index_put, then copy_ back after the layer's
// attention), RoPE cos/sin and
// the causal mask as constants indexed by the position, and the constant methods ExecuTorch's
// LLM runner reads (get_vocab_size, get_max_seq_len, get_bos_id, get_eos_ids, use_kv_cache, ...).
//
// Weights: `keep` writes F32, F16 and BF16 matrices as they are (16-bit ones widened by
// _to_copy), Q8_0 and Q4_0 as their int8 codes and float32 group scales (the fp16 scales
// widened: code x scale is exact in float32), turned back into the same float weights by
// ExecuTorch's quantized_decomposed::dequantize_per_channel over the codes seen as
// [rows x cols / 32, 32] (one "channel" per group) and, for the token embedding,
// embedding_byte; every other type is dequantized to f32, exactly. `f32` and `f16` store every
// matrix in that type (f16 rounds what it cannot hold). Constants stream from the mapped GGUF
// to the file when written: converting never holds a second copy of the model.
//
// Arithmetic: the program rounds where llama.cpp (and tinyllm's GGUF path) rounds, so it picks
// the same tokens as `generate` on the GGUF even at near ties: a matrix's input is rounded to
// the format that weight type's dot products take (f16, bf16, or llama.cpp's int8 blocks
// q8_0 / q8_K, written as abs/amax/round ops), keys and values to fp16 (the cache's type),
// and queries and attention probabilities to fp16 where they meet the cache.
#pragma once
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tinyllm/core/model.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/kernels/groupwise.hpp"
#include "tinyllm/kernels/type_q4_0.hpp"
#include "tinyllm/kernels/type_q8_0.hpp"
#include "tinyllm/loaders/host/pte_writer.hpp"

namespace tinyllm::pte {

enum class WeightFormat : uint8_t { keep, f32, f16 };

constexpr int max_seq_len_limit = 32768;

struct ConvertOptions {
    WeightFormat weights = WeightFormat::keep;
    int max_seq_len = 0;  // 0: the model's training context, at most 4096
    int32_t bos_id = -1;
    std::vector<int64_t> eos_ids;
};

// What the conversion did that a user should know (types dequantized or rounded).
struct ConvertReport {
    std::vector<std::string> notes;
    int max_seq_len = 0;
    uint64_t planned_bytes = 0;
};

namespace detail {

inline const char* ggml_type_name_of(GgmlType t) { return ggml_type_info(uint32_t(t)).name; }

// Builds the forward method into a ProgramWriter.
class LlamaGraph {
public:
    LlamaGraph(const Model& model, const ConvertOptions& options, ProgramWriter& w, ConvertReport& report)
        : m_(model), c_(model.config), o_(options), w_(w), report_(report) {}

    Status build() {
        if (c_.arch != Arch::llama && c_.arch != Arch::qwen2 && c_.arch != Arch::qwen3)
            return Status::fail(Error::unsupported_architecture, "architecture '", cstr(c_.architecture),
                                "' is not converted (llama, qwen2 and qwen3 are)");
        if (c_.n_rot != c_.head_dim || c_.head_dim % 2 != 0)
            return Status::fail(Error::unsupported_type, "rotary embeddings over ", c_.n_rot, " of ", c_.head_dim, " head dimensions (all of an even number are converted)");
        for (int l = 0; l < c_.n_layer; ++l) {
            const LayerShape& s = m_.layers[l].shape;
            if (s.n_head != c_.n_head || s.n_head_kv != c_.n_head_kv || s.n_ff != c_.n_ff)
                return Status::fail(Error::unsupported_type, "layer ", l, "'s widths differ from the others' (one width for every layer is converted)");
        }
        if (c_.n_head_kv <= 0 || c_.n_head % c_.n_head_kv != 0)
            return Status::fail(Error::bad_shape, c_.n_head, " query heads do not share ", c_.n_head_kv, " key/value heads evenly");
        if (c_.fused_qkv || c_.fused_gate_up || c_.post_norms || c_.embed_scale || c_.sliding_window > 0 || c_.attn_softcap > 0 ||
            c_.final_softcap > 0 || c_.q_scale != 1.0f)
            return Status::fail(Error::unsupported_type, "model options outside the llama/qwen forward pass");
        ctx_ = o_.max_seq_len > 0 ? o_.max_seq_len : (c_.n_ctx_train > 0 && c_.n_ctx_train < 4096 ? c_.n_ctx_train : 4096);
        // The causal mask is a [ctx, ctx] constant: 1 GiB at the limit.
        if (ctx_ > max_seq_len_limit) return Status::fail(Error::invalid_argument, "max_seq_len ", ctx_, " is above ", max_seq_len_limit);
        report_.max_seq_len = ctx_;
        const int64_t D = c_.n_embd, H = c_.n_head, KV = c_.n_head_kv, hd = c_.head_dim, V = c_.n_vocab;
        tokens_ = w_.input_tensor(ScalarType::Long, {1, 1});
        pos_ = w_.input_tensor(ScalarType::Long, {1});
        pos_index_ = w_.tensor_list({pos_}, true);

        int x = embedding();
        // Position-dependent constants, looked up once per call.
        cos_ = w_.planned_tensor(ScalarType::Float, {1, hd / 2});
        sin_ = w_.planned_tensor(ScalarType::Float, {1, hd / 2});
        w_.call("aten::index", "Tensor_out", {rope_table(false), pos_index_}, cos_);
        w_.call("aten::index", "Tensor_out", {rope_table(true), pos_index_}, sin_);
        const int mask_row = w_.planned_tensor(ScalarType::Bool, {1, ctx_});
        w_.call("aten::index", "Tensor_out", {causal_mask(), pos_index_}, mask_row);
        const int zero = w_.planned_tensor(ScalarType::Float, {}), minus_inf = w_.planned_tensor(ScalarType::Float, {});
        w_.call("aten::scalar_tensor", "out", {w_.double_value(0.0)}, zero);
        w_.call("aten::scalar_tensor", "out", {w_.double_value(-std::numeric_limits<double>::infinity())}, minus_inf);
        mask_ = w_.planned_tensor(ScalarType::Float, {1, ctx_});
        w_.call("aten::where", "self_out", {mask_row, zero, minus_inf}, mask_);

        std::vector<std::pair<int, int>> cache_updates;
        for (int l = 0; l < c_.n_layer; ++l) {
            const LayerWeights& L = m_.layers[l];
            const int xn = rms_norm(x, {1, 1, D}, L.attn_norm);
            int q = linear(xn, D, L.wq, L.bq), k = linear(xn, D, L.wk, L.bk), v = linear(xn, D, L.wv, L.bv);
            q = w_.view(q, {1, 1, H, hd});
            k = w_.view(k, {1, 1, KV, hd});
            v = w_.view(v, {1, 1, KV, hd});
            if (c_.qk_norm) {
                q = rms_norm(q, {1, 1, H, hd}, L.q_norm);
                k = rms_norm(k, {1, 1, KV, hd}, L.k_norm);
            }
            q = to_fp16_and_back(rope(q, H), {1, 1, H, hd});
            k = to_fp16_and_back(rope(k, KV), {1, 1, KV, hd});
            v = to_fp16_and_back(v, {1, 1, KV, hd});
            const int qt = permute(q, {1, 1, H, hd}, {0, 2, 1, 3});
            const int kt = permute(k, {1, 1, KV, hd}, {0, 2, 1, 3});
            const int vt = permute(v, {1, 1, KV, hd}, {0, 2, 1, 3});
            const int k_all = cache_update(kt, cache_updates), v_all = cache_update(vt, cache_updates);
            const int attn = attention(qt, k_all, v_all);
            // This layer's updated caches are written back now, so their copies do not stay
            // planned through the other layers.
            for (const auto& [cache, updated] : cache_updates)
                w_.call_raw("aten::copy_", "", {cache, updated, w_.bool_value(false), w_.view(cache, shape_of_cache())});
            cache_updates.clear();
            const int o = linear(attn, H * hd, L.wo, nullptr);
            x = add(x, w_.view(o, {1, 1, D}), {1, 1, D});
            const int hn = rms_norm(x, {1, 1, D}, L.ffn_norm);
            const int64_t F = L.w_gate.rows;
            const int g = linear(hn, D, L.w_gate, nullptr), u = linear(hn, D, L.w_up, nullptr);
            const int sig = w_.planned_tensor(ScalarType::Float, {1, F});
            w_.call("aten::sigmoid", "out", {g}, sig);
            const int act = w_.planned_tensor(ScalarType::Float, {1, F}), gated = w_.planned_tensor(ScalarType::Float, {1, F});
            w_.call("aten::mul", "out", {g, sig}, act);
            w_.call("aten::mul", "out", {act, u}, gated);
            const int d = linear(gated, F, L.w_down, nullptr);
            x = add(x, w_.view(d, {1, 1, D}), {1, 1, D});
        }
        const int xn = rms_norm(x, {1, 1, D}, m_.output_norm);
        logits_ = linear(xn, D, m_.output, nullptr);
        if (m_.output.rows != V) return Status::fail(Error::shape_mismatch, "output head has ", m_.output.rows, " rows, vocabulary ", V);
        w_.set_io({tokens_, pos_}, {logits_});
        return status_;
    }

private:
    std::vector<int64_t> shape_of_cache() const { return {1, c_.n_head_kv, ctx_, c_.head_dim}; }

    void note(const std::string& text) {
        for (const std::string& n : report_.notes)
            if (n == text) return;
        report_.notes.push_back(text);
    }

    // A float32 [n] vector (norm weights, biases): copied from the model.
    int vector_constant(const float* data, int64_t n) {
        return w_.constant_tensor(ScalarType::Float, {n}, ByteSpan{reinterpret_cast<const uint8_t*>(data), size_t(n) * 4});
    }

    // A matrix stored as int8 codes [rows, cols] (value `codes`) with one float32 scale per
    // group of 32 (value `scales`, [rows x cols / 32]); quant_min/max bound the codes.
    struct Codes {
        int codes = -1, scales = -1;
        int64_t qmin = 0, qmax = 0;
    };

    // Q8_0 / Q4_0 matrices under `keep`: codes and scales written from the blocks.
    Codes code_constants(const WeightView& wv) {
        for (const auto& [view, value] : codes_)
            if (view == wv.data) return value;
        Codes c;
        const bool q8 = wv.type == GgmlType::Q8_0;
        c.qmin = q8 ? -128 : -8;
        c.qmax = q8 ? 127 : 7;
        const WeightView source = wv;
        auto blocks = [source](FILE* out, bool scales) {
            std::vector<int8_t> codes(size_t(source.cols));
            std::vector<float> row_scales(size_t(source.cols / 32));
            for (int64_t r = 0; r < source.rows; ++r) {
                for (int64_t b = 0; b < source.cols / 32; ++b) {
                    BlockCodes<32, 32> decoded;
                    if (source.type == GgmlType::Q8_0) TypeQ8_0::decode(reinterpret_cast<const TypeQ8_0::Block*>(source.row(r))[b], decoded);
                    else TypeQ4_0::decode(reinterpret_cast<const TypeQ4_0::Block*>(source.row(r))[b], decoded);
                    for (int i = 0; i < 32; ++i) codes[size_t(b * 32 + i)] = decoded.code[i];
                    row_scales[size_t(b)] = decoded.scale[0];
                }
                const bool ok = scales ? std::fwrite(row_scales.data(), 4, row_scales.size(), out) == row_scales.size()
                                       : std::fwrite(codes.data(), 1, codes.size(), out) == codes.size();
                if (!ok) return false;
            }
            return true;
        };
        c.codes = w_.generated_tensor(ScalarType::Char, {wv.rows, wv.cols}, [blocks](FILE* out) { return blocks(out, false); });
        c.scales = w_.generated_tensor(ScalarType::Float, {wv.rows * (wv.cols / 32)}, [blocks](FILE* out) { return blocks(out, true); });
        codes_.push_back({wv.data, c});
        return c;
    }

    bool keeps_codes(const WeightView& wv) const {
        return o_.weights == WeightFormat::keep && (wv.type == GgmlType::Q8_0 || wv.type == GgmlType::Q4_0) && wv.cols % 32 == 0;
    }

    // A weight matrix [rows, cols] as the options say: stored as is, or converted when written.
    // Returns the constant and the type it has in the program.
    std::pair<int, ScalarType> matrix_constant(const WeightView& wv) {
        if (wv.interleaved && status_.ok()) status_ = Status::fail(Error::invalid_argument, "the model's weights were repacked at load; bind it with repack off");
        for (const auto& [view, value] : matrices_)
            if (view == wv.data) return value;
        ScalarType type = ScalarType::Float;
        const bool f32_source = wv.type == GgmlType::F32, half_source = wv.type == GgmlType::F16 || wv.type == GgmlType::BF16;
        if (o_.weights == WeightFormat::f16) type = ScalarType::Half;
        else if (o_.weights == WeightFormat::keep && half_source) type = wv.type == GgmlType::F16 ? ScalarType::Half : ScalarType::BFloat16;
        if (o_.weights == WeightFormat::keep && !f32_source && !half_source && !keeps_codes(wv))
            note(std::string(detail::ggml_type_name_of(wv.type)) + " matrices have no exact ExecuTorch form: dequantized to f32 (exactly)");
        if (o_.weights == WeightFormat::f16 && wv.type != GgmlType::F16)
            note(std::string(detail::ggml_type_name_of(wv.type)) + " matrices stored as f16 (rounded)");
        const std::vector<int64_t> sizes{wv.rows, wv.cols};
        int value;
        const bool stored_as_is = (type == ScalarType::Float && f32_source) || (type == ScalarType::Half && wv.type == GgmlType::F16) ||
                                  (type == ScalarType::BFloat16 && wv.type == GgmlType::BF16);
        if (stored_as_is) {
            value = w_.constant_tensor(type, sizes, ByteSpan{wv.data, size_t(wv.row_bytes * uint64_t(wv.rows))});
        } else {
            const WeightView source = wv;
            const bool to_half = type == ScalarType::Half;
            value = w_.generated_tensor(type, sizes, [source, to_half](FILE* out) {
                std::vector<float> row(size_t(source.cols));
                std::vector<uint16_t> half(to_half ? size_t(source.cols) : 0);
                for (int64_t r = 0; r < source.rows; ++r) {
                    dequantize_row(source, r, row.data());
                    if (to_half) {
                        for (size_t i = 0; i < row.size(); ++i) half[i] = f32_to_fp16(row[i]);
                        if (std::fwrite(half.data(), 2, half.size(), out) != half.size()) return false;
                    } else if (std::fwrite(row.data(), 4, row.size(), out) != row.size()) {
                        return false;
                    }
                }
                return true;
            });
        }
        matrices_.push_back({wv.data, {value, type}});
        return {value, type};
    }

    int embedding() {
        const WeightView& e = m_.token_embd;
        const int64_t D = c_.n_embd;
        if (keeps_codes(e)) {
            const Codes c = code_constants(e);
            const int rows = w_.planned_tensor(ScalarType::Float, {1, 1, D});
            w_.call("quantized_decomposed::embedding_byte", "dtype_out",
                    {c.codes, w_.view(c.scales, {e.rows, e.cols / 32}), w_.null_value(), w_.int_value(c.qmin), w_.int_value(c.qmax), tokens_,
                     w_.int_value(int64_t(ScalarType::Float))},
                    rows);
            return rows;
        }
        const auto [table, type] = matrix_constant(e);
        const int rows = w_.planned_tensor(type, {1, 1, D});
        w_.call("aten::embedding", "out", {table, tokens_, w_.int_value(-1), w_.bool_value(false), w_.bool_value(false)}, rows);
        return widen(rows, type, {1, 1, D});
    }

    // `t` converted to `type` (_to_copy).
    int cast(int t, ScalarType type, const std::vector<int64_t>& sizes) {
        const int out = w_.planned_tensor(type, sizes);
        w_.call_raw("aten::_to_copy", "out", {t, w_.bool_value(false), w_.null_value(), out, out});
        return out;
    }

    // A 16-bit tensor as float32; float32 passes through.
    int widen(int t, ScalarType type, const std::vector<int64_t>& sizes) {
        return type == ScalarType::Float ? t : cast(t, ScalarType::Float, sizes);
    }

    // A float32 tensor rounded to a 16-bit type's values.
    int round_to(int t, ScalarType half_type, const std::vector<int64_t>& sizes) {
        return cast(cast(t, half_type, sizes), ScalarType::Float, sizes);
    }
    int to_fp16_and_back(int t, const std::vector<int64_t>& sizes) { return round_to(t, ScalarType::Half, sizes); }

    // The format llama.cpp's dot products for this matrix take their input in (the program's
    // weight type under f32/f16, the GGUF's under keep). Q4_1 and Q5_1 take float input here:
    // their min term multiplies fp16-rounded block sums (llama.cpp's q8_1), which the program's
    // folded-in float weights cannot reproduce, so 8-bit input would not bring it closer.
    ActFormat input_format(const WeightView& wv) const {
        if (o_.weights == WeightFormat::f32) return ActFormat::f32;
        if (o_.weights == WeightFormat::f16) return ActFormat::f16;
        if (wv.type == GgmlType::Q4_1 || wv.type == GgmlType::Q5_1) return ActFormat::f32;
        if (groupwise_bits(wv.type)) return groupwise_takes_q8(wv.groupwise()) ? ActFormat::q8_0 : ActFormat::f32;
        return ggml_type_info(uint32_t(wv.type)).act;
    }

    // x as [1, cols], rounded as that format does; each value and format is rounded once (q, k
    // and v share theirs).
    int rounded_input(int x, int64_t cols, ActFormat format) {
        const int row = w_.view(x, {1, cols});
        if (format == ActFormat::f32) return row;
        for (const RoundedInput& r : rounded_)
            if (r.x == x && r.format == format) return r.out;
        int out = row;
        if (format == ActFormat::f16 || format == ActFormat::bf16) {
            out = round_to(row, format == ActFormat::f16 ? ScalarType::Half : ScalarType::BFloat16, {1, cols});
        } else {
            const int64_t block = format == ActFormat::q8_0 ? 32 : 256;
            if (cols % block != 0) {
                if (status_.ok()) status_ = Status::fail(Error::bad_shape, "a matrix input of ", cols, " values does not split into blocks of ", block);
                return row;
            }
            out = int8_blocks(row, cols, block, format == ActFormat::q8_k);
        }
        rounded_.push_back({x, format, out});
        return out;
    }

    // llama.cpp's activation quantization, as float values: per block of 32 (q8_0), d = amax /
    // 127 rounded to fp16 and codes round(x * 127 / amax); per block of 256 (q8_K), with m the
    // value of largest magnitude, codes round(x * -127 / m) and d = m / -127 (as 1 / scale).
    // Rounding is to nearest, ties to even; an all-zero block stays zero. Returns codes x d.
    int int8_blocks(int x, int64_t cols, int64_t block, bool signed_max) {
        const int64_t R = cols / block;
        const std::vector<int64_t> full{R, block}, per_block{R, 1};
        const int v = w_.view(x, full);
        const int magnitudes = w_.planned_tensor(ScalarType::Float, full);
        w_.call("aten::abs", "out", {v}, magnitudes);
        const int m = w_.planned_tensor(ScalarType::Float, per_block);
        if (signed_max) {
            const int at = w_.planned_tensor(ScalarType::Long, per_block);
            w_.call("aten::argmax", "out", {magnitudes, w_.int_value(-1), w_.bool_value(true)}, at);
            w_.call("aten::gather", "out", {v, w_.int_value(-1), at, w_.bool_value(false)}, m);
        } else {
            w_.call("aten::amax", "out", {magnitudes, w_.int_list({-1}), w_.bool_value(true)}, m);
        }
        const int zero_block = w_.planned_tensor(ScalarType::Bool, per_block);
        w_.call("aten::eq", "Scalar_out", {m, w_.double_value(0.0)}, zero_block);
        const int safe_m = w_.planned_tensor(ScalarType::Float, per_block);
        w_.call("aten::where", "self_out", {zero_block, scalar_constant(1.0f), m}, safe_m);
        auto divide = [&](int a, int b) {
            const int out = w_.planned_tensor(ScalarType::Float, per_block);
            w_.call("aten::div", "out", {a, b}, out);
            return out;
        };
        int inverse_d, d;
        if (signed_max) {
            inverse_d = divide(scalar_constant(-127.0f), safe_m);
            d = divide(scalar_constant(1.0f), inverse_d);
        } else {
            inverse_d = divide(scalar_constant(127.0f), safe_m);
            d = to_fp16_and_back(divide(safe_m, scalar_constant(127.0f)), per_block);
        }
        const int scaled = w_.planned_tensor(ScalarType::Float, full), codes = w_.planned_tensor(ScalarType::Float, full);
        w_.call("aten::mul", "out", {v, inverse_d}, scaled);
        w_.call("aten::round", "out", {scaled}, codes);
        const int out = w_.planned_tensor(ScalarType::Float, full);
        w_.call("aten::mul", "out", {codes, d}, out);
        return w_.view(out, {1, cols});
    }

    // x [.., n] . W^T for x of `cols` values per row, plus the bias: [1, rows].
    int linear(int x, int64_t cols, const WeightView& wv, const float* bias) {
        if (wv.cols != cols) {
            if (status_.ok()) status_ = Status::fail(Error::shape_mismatch, "a matrix has ", wv.cols, " columns where ", cols, " are expected");
            return x;
        }
        int w_float;
        if (keeps_codes(wv)) {
            const Codes c = code_constants(wv);
            const int64_t groups = wv.rows * (wv.cols / 32);
            const int dequantized = w_.planned_tensor(ScalarType::Float, {groups, 32});
            w_.call("quantized_decomposed::dequantize_per_channel", "out",
                    {w_.view(c.codes, {groups, 32}), c.scales, w_.null_value(), w_.int_value(0), w_.int_value(c.qmin), w_.int_value(c.qmax),
                     w_.int_value(int64_t(ScalarType::Char)), w_.null_value()},
                    dequantized);
            w_float = w_.view(dequantized, {wv.rows, wv.cols});
        } else {
            const auto [weight, type] = matrix_constant(wv);
            w_float = widen(weight, type, {wv.rows, wv.cols});
        }
        const int wt = permute(w_float, {wv.rows, wv.cols}, {1, 0});
        const int out = w_.planned_tensor(ScalarType::Float, {1, wv.rows});
        w_.call("aten::mm", "out", {rounded_input(x, cols, input_format(wv)), wt}, out);
        if (!bias) return out;
        const int biased = w_.planned_tensor(ScalarType::Float, {1, wv.rows});
        w_.call("aten::add", "out", {out, vector_constant(bias, wv.rows), w_.int_value(1)}, biased);
        return biased;
    }

    int permute(int t, const std::vector<int64_t>& sizes, const std::vector<int64_t>& dims) {
        std::vector<int64_t> out_sizes;
        for (int64_t d : dims) out_sizes.push_back(sizes[size_t(d)]);
        const int out = w_.planned_tensor(ScalarType::Float, out_sizes);
        w_.call("aten::permute_copy", "out", {t, w_.int_list(dims)}, out);
        return out;
    }

    int add(int a, int b, const std::vector<int64_t>& sizes) {
        const int out = w_.planned_tensor(ScalarType::Float, sizes);
        w_.call("aten::add", "out", {a, b, w_.int_value(1)}, out);
        return out;
    }

    // x * rsqrt(mean(x^2, -1) + eps) * weight, over the last dimension of `sizes`.
    int rms_norm(int x, std::vector<int64_t> sizes, const float* weight) {
        const int sq = w_.planned_tensor(ScalarType::Float, sizes);
        w_.call("aten::mul", "out", {x, x}, sq);
        std::vector<int64_t> reduced = sizes;
        reduced.back() = 1;
        const int mean = w_.planned_tensor(ScalarType::Float, reduced);
        w_.call("aten::mean", "out", {sq, w_.int_list({-1}), w_.bool_value(true), w_.null_value()}, mean);
        const int eps = w_.planned_tensor(ScalarType::Float, reduced);
        w_.call("aten::add", "out", {mean, scalar_constant(c_.norm_eps), w_.int_value(1)}, eps);
        const int inv = w_.planned_tensor(ScalarType::Float, reduced);
        w_.call("aten::rsqrt", "out", {eps}, inv);
        const int scaled = w_.planned_tensor(ScalarType::Float, sizes);
        w_.call("aten::mul", "out", {x, inv}, scaled);
        const int out = w_.planned_tensor(ScalarType::Float, sizes);
        w_.call("aten::mul", "out", {scaled, vector_constant(weight, sizes.back())}, out);
        return out;
    }

    // A float32 scalar constant, written once per value.
    int scalar_constant(float value) {
        for (const auto& [known, tensor] : scalars_)
            if (std::memcmp(&known, &value, 4) == 0) return tensor;
        std::vector<uint8_t> bytes(4);
        std::memcpy(bytes.data(), &value, 4);
        const int tensor = w_.constant_tensor(ScalarType::Float, {}, std::move(bytes));
        scalars_.push_back({value, tensor});
        return tensor;
    }

    // cos or sin of every position's angles: [ctx, head_dim / 2], as the GGUF path computes them.
    // Tables and mask are written row by row when the file is: a long context costs no memory.
    int rope_table(bool sine) {
        const int n = c_.n_rot / 2, ctx = ctx_, n_rot = c_.n_rot;
        const float base = c_.rope_base, scale = c_.rope_freq_scale;
        const float* factors = m_.rope_freq_factors;
        return w_.generated_tensor(ScalarType::Float, {ctx_, n}, [=](FILE* out) {
            std::vector<float> cs(static_cast<size_t>(2 * n)), row(static_cast<size_t>(n));
            for (int p = 0; p < ctx; ++p) {
                rope_angles(cs.data(), p, n_rot, base, scale, factors);
                for (int i = 0; i < n; ++i) row[size_t(i)] = cs[size_t(2 * i + (sine ? 1 : 0))];
                if (std::fwrite(row.data(), 4, row.size(), out) != row.size()) return false;
            }
            return true;
        });
    }

    // Row p lets position p see positions 0..p.
    int causal_mask() {
        const int ctx = ctx_;
        return w_.generated_tensor(ScalarType::Bool, {ctx_, ctx_}, [ctx](FILE* out) {
            std::vector<uint8_t> row(size_t(ctx), 0);
            for (int p = 0; p < ctx; ++p) {
                row[size_t(p)] = 1;
                if (std::fwrite(row.data(), 1, row.size(), out) != row.size()) return false;
            }
            return true;
        });
    }

    // RoPE on [1, 1, heads, hd]: pairs (2i, 2i+1) for llama, (i, i + hd/2) for qwen (neox).
    int rope(int t, int64_t heads) {
        const int64_t hd = c_.head_dim, half = hd / 2;
        int a, b;
        std::vector<int64_t> part;
        if (c_.rope_style == RopeStyle::adjacent) {
            const int pairs = w_.view(t, {1, 1, heads, half, 2});
            const int a5 = w_.planned_tensor(ScalarType::Float, {1, 1, heads, half, 1}), b5 = w_.planned_tensor(ScalarType::Float, {1, 1, heads, half, 1});
            w_.call("aten::slice_copy", "Tensor_out", {pairs, w_.int_value(4), w_.int_value(0), w_.int_value(1), w_.int_value(1)}, a5);
            w_.call("aten::slice_copy", "Tensor_out", {pairs, w_.int_value(4), w_.int_value(1), w_.int_value(2), w_.int_value(1)}, b5);
            a = w_.view(a5, {1, 1, heads, half});
            b = w_.view(b5, {1, 1, heads, half});
        } else {
            a = w_.planned_tensor(ScalarType::Float, {1, 1, heads, half});
            b = w_.planned_tensor(ScalarType::Float, {1, 1, heads, half});
            w_.call("aten::slice_copy", "Tensor_out", {t, w_.int_value(3), w_.int_value(0), w_.int_value(half), w_.int_value(1)}, a);
            w_.call("aten::slice_copy", "Tensor_out", {t, w_.int_value(3), w_.int_value(half), w_.int_value(hd), w_.int_value(1)}, b);
        }
        const std::vector<int64_t> s{1, 1, heads, half};
        const int cs = w_.view(cos_, {1, 1, 1, half}), sn = w_.view(sin_, {1, 1, 1, half});
        auto mul = [&](int x, int y) {
            const int out = w_.planned_tensor(ScalarType::Float, s);
            w_.call("aten::mul", "out", {x, y}, out);
            return out;
        };
        const int ac = mul(a, cs), bs = mul(b, sn), as = mul(a, sn), bc = mul(b, cs);
        const int ra = w_.planned_tensor(ScalarType::Float, s), rb = w_.planned_tensor(ScalarType::Float, s);
        w_.call("aten::sub", "out", {ac, bs, w_.int_value(1)}, ra);
        w_.call("aten::add", "out", {as, bc, w_.int_value(1)}, rb);
        if (c_.rope_style == RopeStyle::adjacent) {
            const int out = w_.planned_tensor(ScalarType::Float, {1, 1, heads, half, 2});
            w_.call("aten::cat", "out", {w_.tensor_list({w_.view(ra, {1, 1, heads, half, 1}), w_.view(rb, {1, 1, heads, half, 1})}), w_.int_value(-1)}, out);
            return w_.view(out, {1, 1, heads, hd});
        }
        const int out = w_.planned_tensor(ScalarType::Float, {1, 1, heads, hd});
        w_.call("aten::cat", "out", {w_.tensor_list({ra, rb}), w_.int_value(-1)}, out);
        return out;
    }

    // Writes this position's k or v ([1, KV, 1, hd]) into a new cache buffer; returns the
    // updated cache [1, KV, ctx, hd], to be copied back at the end.
    int cache_update(int t, std::vector<std::pair<int, int>>& updates) {
        const int cache = w_.persistent_tensor(ScalarType::Float, shape_of_cache());
        const int updated = w_.planned_tensor(ScalarType::Float, shape_of_cache());
        const int indices = w_.tensor_list({-1, -1, pos_}, true);
        w_.call("aten::index_put", "out", {cache, indices, w_.view(t, {c_.n_head_kv, 1, c_.head_dim}), w_.bool_value(false)}, updated);
        updates.push_back({cache, updated});
        return updated;
    }

    // Scaled dot-product attention of q [1, H, 1, hd] over the cache [1, KV, ctx, hd]:
    // returns [1, H * hd].
    int attention(int q, int k_all, int v_all) {
        const int64_t H = c_.n_head, KV = c_.n_head_kv, hd = c_.head_dim, G = H / KV, T = ctx_;
        auto expand = [&](int cache) {
            if (G == 1) return cache;
            const int wide = w_.planned_tensor(ScalarType::Float, {1, KV, G, T, hd});
            w_.call("aten::expand_copy", "out", {w_.view(cache, {1, KV, 1, T, hd}), w_.int_list({1, KV, G, T, hd}), w_.bool_value(false)}, wide);
            return w_.view(wide, {1, H, T, hd});
        };
        const int k = expand(k_all), v = expand(v_all);
        const int kt = permute(k, {1, H, T, hd}, {0, 1, 3, 2});
        const int scores = w_.planned_tensor(ScalarType::Float, {H, 1, T});
        w_.call("aten::bmm", "out", {w_.view(q, {H, 1, hd}), w_.view(kt, {H, hd, T})}, scores);
        const int scaled = w_.planned_tensor(ScalarType::Float, {1, H, 1, T});
        w_.call("aten::mul", "Scalar_out", {w_.view(scores, {1, H, 1, T}), w_.double_value(double(c_.kq_scale))}, scaled);
        const int masked = add(scaled, mask_, {1, H, 1, T});
        const int softmax = w_.planned_tensor(ScalarType::Float, {1, H, 1, T});
        w_.call("aten::_softmax", "out", {masked, w_.int_value(-1), w_.bool_value(false)}, softmax);
        const int probs = to_fp16_and_back(softmax, {1, H, 1, T});
        const int out = w_.planned_tensor(ScalarType::Float, {H, 1, hd});
        w_.call("aten::bmm", "out", {w_.view(probs, {H, 1, T}), w_.view(v, {H, T, hd})}, out);
        const int heads = permute(w_.view(out, {1, H, 1, hd}), {1, H, 1, hd}, {0, 2, 1, 3});
        return w_.view(heads, {1, H * hd});
    }

    const Model& m_;
    const ModelConfig& c_;
    const ConvertOptions& o_;
    ProgramWriter& w_;
    ConvertReport& report_;
    Status status_;
    int ctx_ = 0;
    int tokens_ = -1, pos_ = -1, pos_index_ = -1, cos_ = -1, sin_ = -1, mask_ = -1, logits_ = -1;
    std::vector<std::pair<const uint8_t*, std::pair<int, ScalarType>>> matrices_;  // written once, shared (tied head)
    std::vector<std::pair<const uint8_t*, Codes>> codes_;
    std::vector<std::pair<float, int>> scalars_;
    struct RoundedInput {
        int x;
        ActFormat format;
        int out;
    };
    std::vector<RoundedInput> rounded_;
};

} // namespace detail

// Writes `model` (bound from a GGUF file, not repacked) as an ExecuTorch program to `out`.
inline Status write_llm_program(const Model& model, const ConvertOptions& options, FILE* out, ConvertReport& report) {
    ProgramWriter w;
    detail::LlamaGraph graph(model, options, w, report);
    if (Status s = graph.build(); !s) return s;
    if (!w.status().ok()) return w.status();
    const ModelConfig& c = model.config;
    w.constant_method("get_vocab_size", {c.n_vocab});
    w.constant_method("get_max_seq_len", {report.max_seq_len});
    w.constant_method("get_max_context_len", {report.max_seq_len});
    w.constant_method("get_n_layers", {c.n_layer});
    if (options.bos_id >= 0) w.constant_method("get_bos_id", {options.bos_id});
    if (!options.eos_ids.empty()) w.constant_method("get_eos_ids", options.eos_ids);
    w.constant_method("use_kv_cache", {1}, true);
    w.constant_method("use_sdpa_with_kv_cache", {0}, true);
    w.constant_method("enable_dynamic_shape", {0}, true);
    if (!w.write("forward", out)) return Status::fail(Error::io_error, "writing the program failed");
    report.planned_bytes = w.planned_bytes();
    return Status();
}

} // namespace tinyllm::pte
