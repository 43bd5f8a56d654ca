// Host-side GGUF writer (edge of the engine): used by the quantizer, the random-model tool
// and tests that craft files. Writes version 3.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"

namespace tinyllm::gguf {

class Writer {
public:
    explicit Writer(uint64_t alignment = 32) : alignment_(alignment) {}

    void add_u32(const std::string& key, uint32_t v) { scalar(key, ValueType::u32, &v, 4); }
    void add_i32(const std::string& key, int32_t v) { scalar(key, ValueType::i32, &v, 4); }
    void add_u64(const std::string& key, uint64_t v) { scalar(key, ValueType::u64, &v, 8); }
    void add_f32(const std::string& key, float v) { scalar(key, ValueType::f32, &v, 4); }
    void add_bool(const std::string& key, bool v) { uint8_t b = v; scalar(key, ValueType::boolean, &b, 1); }
    void add_string(const std::string& key, const std::string& v) {
        begin_kv(key, ValueType::string);
        put_string(kv_, v);
        ++n_kv_;
    }
    void add_string_array(const std::string& key, const std::vector<std::string>& v) {
        begin_array(key, ValueType::string, v.size());
        for (const std::string& s : v) put_string(kv_, s);
        ++n_kv_;
    }
    void add_f32_array(const std::string& key, const std::vector<float>& v) {
        begin_array(key, ValueType::f32, v.size());
        put(kv_, v.data(), v.size() * 4);
        ++n_kv_;
    }
    void add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
        begin_array(key, ValueType::i32, v.size());
        put(kv_, v.data(), v.size() * 4);
        ++n_kv_;
    }
    // Copies a metadata entry from another file unchanged.
    void copy_kv(const KeyValue& kv, const File& from) {
        begin_kv(std::string(kv.key.data(), kv.key.size()), kv.value.type);
        const uint8_t* start = kv.value.data;
        const uint8_t* end = next_kv_start(kv, from);
        put(kv_, start, size_t(end - start));
        ++n_kv_;
    }

    // dims: ne[0] (row length) first, as GGUF stores them. `data` holds the encoded bytes.
    void add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& dims,
                    const void* data, size_t bytes) {
        put_string(infos_, name);
        uint32_t nd = uint32_t(dims.size());
        put(infos_, &nd, 4);
        for (int64_t d : dims) { uint64_t u = uint64_t(d); put(infos_, &u, 8); }
        uint32_t t = uint32_t(type);
        put(infos_, &t, 4);
        while (data_.size() % alignment_) data_.push_back(0);
        uint64_t off = data_.size();
        put(infos_, &off, 8);
        put(data_, data, bytes);
        ++n_tensors_;
    }

    std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> out;
        put(out, "GGUF", 4);
        uint32_t version = 3;
        put(out, &version, 4);
        put(out, &n_tensors_, 8);
        put(out, &n_kv_, 8);
        out.insert(out.end(), kv_.begin(), kv_.end());
        out.insert(out.end(), infos_.begin(), infos_.end());
        while (out.size() % alignment_) out.push_back(0);
        out.insert(out.end(), data_.begin(), data_.end());
        return out;
    }

    bool write(const std::string& path) const {
        std::vector<uint8_t> b = bytes();
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
        return bool(f);
    }

private:
    static void put(std::vector<uint8_t>& out, const void* p, size_t n) {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
    static void put_string(std::vector<uint8_t>& out, const std::string& s) {
        uint64_t n = s.size();
        put(out, &n, 8);
        put(out, s.data(), s.size());
    }
    void begin_kv(const std::string& key, ValueType type) {
        put_string(kv_, key);
        uint32_t t = uint32_t(type);
        put(kv_, &t, 4);
    }
    void begin_array(const std::string& key, ValueType elem, uint64_t count) {
        begin_kv(key, ValueType::array);
        uint32_t t = uint32_t(elem);
        put(kv_, &t, 4);
        put(kv_, &count, 8);
    }
    void scalar(const std::string& key, ValueType type, const void* v, size_t n) {
        begin_kv(key, type);
        put(kv_, v, n);
        ++n_kv_;
    }
    // The value of kv ends where the next key begins (or where tensor infos begin).
    static const uint8_t* next_kv_start(const KeyValue& kv, const File& f) {
        for (uint64_t i = 0; i + 1 < f.n_kv; ++i)
            if (&f.kvs[i] == &kv) return reinterpret_cast<const uint8_t*>(f.kvs[i + 1].key.data()) - 8;
        if (f.n_tensors) return reinterpret_cast<const uint8_t*>(f.tensors[0].name.data()) - 8;
        // Last key of a tensorless file: walk the value.
        detail::Reader r{f.buffer.data, f.buffer.size, size_t(kv.value.data - f.buffer.data)};
        detail::skip_value(r, kv.value.type, kv.key, false);
        return f.buffer.data + r.pos;
    }

    uint64_t alignment_;
    uint64_t n_kv_ = 0, n_tensors_ = 0;
    std::vector<uint8_t> kv_, infos_, data_;
};

} // namespace tinyllm::gguf
