// Host-side model quantizer (edge of the engine): rewrites a GGUF model with its weight
// matrices in another type, keeping metadata, norms and biases. Mixes follow llama.cpp's
// choices so files behave like its own (e.g. Q4_K_M keeps sensitive tensors in Q6_K). The
// int8 / int4 mixes write tinyllm's groupwise types (torchao's symmetric rules), which only
// tinyllm reads: other readers refuse their type ids.
#pragma once
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/loaders/host/gguf_writer.hpp"
#include "tinyllm/kernels/quantize.hpp"
#include "tinyllm/core/weights.hpp"

namespace tinyllm {

enum class QuantMix { q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k, q4_k_m, int8, int4 };

inline bool parse_quant_mix(const std::string& name, QuantMix& out) {
    const std::pair<const char*, QuantMix> names[] = {{"q8_0", QuantMix::q8_0}, {"q4_0", QuantMix::q4_0},
        {"q4_1", QuantMix::q4_1}, {"q5_0", QuantMix::q5_0}, {"q5_1", QuantMix::q5_1}, {"q4_k", QuantMix::q4_k},
        {"q6_k", QuantMix::q6_k}, {"q4_k_m", QuantMix::q4_k_m}, {"int8", QuantMix::int8}, {"int4", QuantMix::int4}};
    for (auto& [n, m] : names)
        if (name == n) { out = m; return true; }
    return false;
}

namespace detail {

// llama.cpp's LLAMA_FTYPE_MOSTLY_* value for general.file_type.
inline uint32_t file_type_of(QuantMix m) {
    switch (m) {
    case QuantMix::q8_0: return 7;
    case QuantMix::q4_0: return 2;
    case QuantMix::q4_1: return 3;
    case QuantMix::q5_0: return 8;
    case QuantMix::q5_1: return 9;
    case QuantMix::q4_k: return 14;
    case QuantMix::q6_k: return 18;
    case QuantMix::q4_k_m: return 15;
    case QuantMix::int8: case QuantMix::int4: return 0;  // no llama.cpp file type: not written
    }
    return 0;
}

inline GgmlType base_type(QuantMix m) {
    switch (m) {
    case QuantMix::q8_0: return GgmlType::Q8_0;
    case QuantMix::q4_0: return GgmlType::Q4_0;
    case QuantMix::q4_1: return GgmlType::Q4_1;
    case QuantMix::q5_0: return GgmlType::Q5_0;
    case QuantMix::q5_1: return GgmlType::Q5_1;
    case QuantMix::q4_k: case QuantMix::q4_k_m: return GgmlType::Q4_K;
    case QuantMix::q6_k: return GgmlType::Q6_K;
    case QuantMix::int8: return GgmlType::TINYLLM_INT8;
    case QuantMix::int4: return GgmlType::TINYLLM_INT4;
    }
    return GgmlType::F32;
}

// Layers that get more bits in the _M mixes: the first and last eighth, and every third one
// in between (llama.cpp's use_more_bits).
inline bool more_bits_layer(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

inline int layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    return std::atoi(name.c_str() + 4);
}

inline bool ends_with(const std::string& s, const char* suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

inline std::vector<uint8_t> encode(GgmlType type, const std::vector<float>& x, int64_t cols, int64_t rows, int64_t group) {
    if (groupwise_bits(type)) {
        const GroupwiseLayout l{groupwise_bits(type), cols, group ? group : cols, GroupScale::f16};
        const size_t row_bytes = size_t(l.code_bytes() + l.scale_bytes());
        std::vector<uint8_t> out(size_t(rows) * row_bytes);
        for (int64_t r = 0; r < rows; ++r) {
            uint8_t* dst = out.data() + size_t(r) * row_bytes;
            groupwise_quantize_row(l, x.data() + r * cols, dst, dst + l.code_bytes());
        }
        return out;
    }
    GgmlTypeInfo info = ggml_type_info(uint32_t(type));
    std::vector<uint8_t> out(size_t(rows * (cols / info.block_elems) * info.block_bytes));
    const int n_blocks = int(cols / info.block_elems);
    for (int64_t r = 0; r < rows; ++r) {
        const float* src = x.data() + r * cols;
        uint8_t* dst = out.data() + size_t(r) * size_t(n_blocks) * info.block_bytes;
        switch (type) {
        case GgmlType::Q8_0: quantize::q8_0(src, reinterpret_cast<TypeQ8_0::Block*>(dst), n_blocks); break;
        case GgmlType::Q4_0: quantize::q4_0(src, reinterpret_cast<TypeQ4_0::Block*>(dst), n_blocks); break;
        case GgmlType::Q4_1: quantize::q4_1(src, reinterpret_cast<TypeQ4_1::Block*>(dst), n_blocks); break;
        case GgmlType::Q5_0: quantize::q5_0(src, reinterpret_cast<TypeQ5_0::Block*>(dst), n_blocks); break;
        case GgmlType::Q5_1: quantize::q5_1(src, reinterpret_cast<TypeQ5_1::Block*>(dst), n_blocks); break;
        case GgmlType::Q4_K: quantize::q4_k(src, reinterpret_cast<TypeQ4_K::Block*>(dst), n_blocks); break;
        case GgmlType::Q6_K: quantize::q6_k(src, reinterpret_cast<TypeQ6_K::Block*>(dst), n_blocks); break;
        default: std::memcpy(dst, src, sizeof(float) * size_t(cols)); break;  // F32
        }
    }
    return out;
}

} // namespace detail

// Quantizes every weight matrix of `in` to `mix`; vectors (norms, biases) stay F32.
// group_size applies to the int8/int4 mixes: values per group, 0 = one group per row.
// pure (llama.cpp's --pure): the output head and embeddings in the mix's base type too (no
// sensitive tensors in more bits), for programs built with fewer types' kernels (firmware).
// Rows the type cannot hold still fall back as below.
inline Status quantize_gguf(const gguf::File& in, QuantMix mix, std::vector<uint8_t>& out, int64_t group_size = 0, bool pure = false) {
    using namespace detail;
    int n_layer = 0;
    for (uint64_t i = 0; i < in.n_tensors; ++i) {
        int l = layer_of(std::string(in.tensors[i].name.data(), in.tensors[i].name.size()));
        if (l + 1 > n_layer) n_layer = l + 1;
    }
    const bool tied = in.find_tensor("output.weight") == nullptr;
    gguf::Writer w(in.alignment);
    const bool groupwise = mix == QuantMix::int8 || mix == QuantMix::int4;
    if (groupwise && group_size < 0) return Status::fail(Error::invalid_argument, "group size ", group_size, " is negative");
    for (uint64_t i = 0; i < in.n_kv; ++i)
        if (in.kvs[i].key != StrView("general.file_type") && in.kvs[i].key != StrView("general.quantization_version") &&
            !in.kvs[i].key.starts_with("tinyllm."))
            w.copy_kv(in.kvs[i], in);
    w.add_u32("general.quantization_version", 2);
    if (groupwise) {
        // Marks the file as tinyllm-only; readers that skip the key still refuse the type ids.
        const std::string g = group_size ? "g" + std::to_string(group_size) : std::string("per-row");
        w.add_string("tinyllm.quantization", (mix == QuantMix::int4 ? "int4 " : "int8 ") + g + ", torchao symmetric groupwise" +
                                                 (pure ? "" : "; output and embeddings int8"));
        w.add_u32("tinyllm.group_size", uint32_t(group_size));
    } else {
        w.add_u32("general.file_type", file_type_of(mix));
    }

    for (uint64_t i = 0; i < in.n_tensors; ++i) {
        const gguf::TensorInfo& t = in.tensors[i];
        const std::string name(t.name.data(), t.name.size());
        if (!is_supported_weight_type(t.type))
            return Status::fail(Error::unsupported_type, "tensor '", name, "' has type ", ggml_type_name(t.type));
        const int64_t cols = t.ne[0], rows = t.n_rows();
        std::vector<float> x(size_t(cols * rows));
        WeightView view{t.type, t.data, cols, rows, t.row_bytes(), t.group};
        for (int64_t r = 0; r < rows; ++r) dequantize_row(view, r, x.data() + r * cols);

        GgmlType target = GgmlType::F32;
        if (t.n_dims >= 2 && ends_with(name, ".weight")) {
            target = base_type(mix);
            const int layer = layer_of(name);
            if (groupwise) {
                // The output head and embeddings are the most sensitive tensors: int8.
                if (!pure && (name == "output.weight" || name == "token_embd.weight")) target = GgmlType::TINYLLM_INT8;
                std::vector<uint8_t> bytes = encode(target, x, cols, rows, group_size);
                std::vector<int64_t> dims(t.ne, t.ne + t.n_dims);
                w.add_tensor(name, target, dims, bytes.data(), bytes.size());
                continue;
            }
            // The output head is the most sensitive tensor: Q6_K unless the whole model is Q8_0.
            if (!pure && (name == "output.weight" || (tied && name == "token_embd.weight")) && target != GgmlType::Q8_0)
                target = GgmlType::Q6_K;
            if (!pure && mix == QuantMix::q4_k_m) {
                if ((ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight")) && more_bits_layer(layer, n_layer))
                    target = GgmlType::Q6_K;
            }
            // Rows that do not fill whole K-quant super-blocks fall back as llama.cpp does.
            if (cols % ggml_type_info(uint32_t(target)).block_elems != 0)
                target = target == GgmlType::Q6_K ? GgmlType::Q8_0 : GgmlType::Q5_0;
            if (cols % 32 != 0) target = GgmlType::F32;
        }
        std::vector<uint8_t> bytes = encode(target, x, cols, rows, 0);
        std::vector<int64_t> dims(t.ne, t.ne + t.n_dims);
        w.add_tensor(name, target, dims, bytes.data(), bytes.size());
    }
    out = w.bytes();
    return Status{};
}

} // namespace tinyllm
