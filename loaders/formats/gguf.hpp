// GGUF reader: validates a whole file held in memory (flash, mmap, or a buffer) and gives
// zero-copy views of its metadata and tensors. Index tables live in a caller-provided arena;
// nothing is copied out of the file.
//
// Layout (versions 2 and 3, little-endian):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x { string key, u32 value_type, value },
//   n_tensors x { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset },
//   padding to general.alignment (default 32), tensor data (offsets relative to here).
// Strings are u64 length + bytes; arrays are u32 element type + u64 count + elements.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/span.hpp"
#include "tinyllm/base/status.hpp"
#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/kernels/groupwise.hpp"

namespace tinyllm::gguf {

enum class ValueType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

// The one place a value type's name and size are stated.
struct ValueTypeInfo {
    ValueType type;
    const char* name;
    size_t size;  // fixed byte size of a scalar; 0 for string and array
};

inline constexpr ValueTypeInfo value_types[] = {
    {ValueType::u8, "u8", 1},
    {ValueType::i8, "i8", 1},
    {ValueType::u16, "u16", 2},
    {ValueType::i16, "i16", 2},
    {ValueType::u32, "u32", 4},
    {ValueType::i32, "i32", 4},
    {ValueType::f32, "f32", 4},
    {ValueType::boolean, "bool", 1},
    {ValueType::string, "string", 0},
    {ValueType::array, "array", 0},
    {ValueType::u64, "u64", 8},
    {ValueType::i64, "i64", 8},
    {ValueType::f64, "f64", 8},
};

// The row of t; name "unknown" and size 0 for codes GGUF does not define.
constexpr ValueTypeInfo value_type_info(ValueType t) {
    for (const ValueTypeInfo& row : value_types)
        if (row.type == t) return row;
    return {t, "unknown", 0};
}

inline const char* value_type_name(ValueType t) { return value_type_info(t).name; }

// Fixed byte size of a scalar value type; 0 for string/array/unknown.
inline size_t scalar_size(ValueType t) { return value_type_info(t).size; }

// Integer scalars (booleans included): every fixed-size type but the two floats.
inline bool is_integer_type(ValueType t) { return scalar_size(t) && t != ValueType::f32 && t != ValueType::f64; }

inline uint64_t load_u64(const uint8_t* p) { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
inline uint32_t load_u32(const uint8_t* p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }

// An array value. Elements of scalar type sit contiguously; strings are walked in order.
struct Array {
    ValueType type = ValueType::u8;
    uint64_t count = 0;
    const uint8_t* data = nullptr;  // first element

    // Scalar element i converted to double/int64 (caller checks type).
    int64_t int_at(uint64_t i) const {
        const uint8_t* p = data + i * scalar_size(type);
        switch (type) {
        case ValueType::u8: case ValueType::boolean: return *p;
        case ValueType::i8: return int8_t(*p);
        case ValueType::u16: { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
        case ValueType::i16: { int16_t v; __builtin_memcpy(&v, p, 2); return v; }
        case ValueType::u32: return load_u32(p);
        case ValueType::i32: return int32_t(load_u32(p));
        case ValueType::u64: return int64_t(load_u64(p));
        case ValueType::i64: return int64_t(load_u64(p));
        case ValueType::f32: { float v; __builtin_memcpy(&v, p, 4); return int64_t(v); }
        case ValueType::f64: { double v; __builtin_memcpy(&v, p, 8); return int64_t(v); }
        default: return 0;
        }
    }
    float f32_at(uint64_t i) const {
        float v;
        __builtin_memcpy(&v, data + i * 4, 4);
        return v;
    }

    // Sequential reader over an array of strings (validated at parse time).
    struct StringCursor {
        const uint8_t* p;
        StrView next() {
            uint64_t n = load_u64(p);
            StrView s(reinterpret_cast<const char*>(p + 8), size_t(n));
            p += 8 + n;
            return s;
        }
    };
    StringCursor strings() const { return StringCursor{data}; }
};

struct Value {
    ValueType type = ValueType::u8;
    const uint8_t* data = nullptr;  // scalar bytes, string length prefix, or array header

    StrView as_string() const {
        return StrView(reinterpret_cast<const char*>(data + 8), size_t(load_u64(data)));
    }
    Array as_array() const {
        return Array{ValueType(load_u32(data)), load_u64(data + 4), data + 12};
    }
    int64_t as_int() const { return Array{type, 1, data}.int_at(0); }
    double as_float() const {
        if (type == ValueType::f32) { float v; __builtin_memcpy(&v, data, 4); return v; }
        if (type == ValueType::f64) { double v; __builtin_memcpy(&v, data, 8); return v; }
        return double(as_int());
    }
    bool is_integer() const { return is_integer_type(type); }
    bool is_number() const { return scalar_size(type) != 0; }
};

struct KeyValue {
    StrView key;
    Value value;
};

struct TensorInfo {
    static constexpr int max_dims = 4;
    StrView name;
    uint32_t n_dims = 0;
    int64_t ne[max_dims] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;                  // relative to the data section
    const uint8_t* data = nullptr;
    uint64_t n_bytes = 0;
    int64_t group = 0;  // groupwise types: values per group (the file's tinyllm.group_size)

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    // Groupwise rows hold their codes, then one fp16 scale per group.
    GroupwiseLayout groupwise() const { return GroupwiseLayout{groupwise_bits(type), ne[0], group, GroupScale::f16}; }
    uint64_t row_bytes() const {
        if (groupwise_bits(type)) return uint64_t(groupwise().code_bytes() + groupwise().scale_bytes());
        GgmlTypeInfo t = ggml_type_info(uint32_t(type));
        return uint64_t(ne[0]) / t.block_elems * t.block_bytes;
    }
};

class File {
public:
    uint32_t version = 0;
    uint64_t alignment = 32;
    uint64_t data_offset = 0;  // start of the tensor data section within the buffer
    ByteSpan buffer;

    const KeyValue* kvs = nullptr;
    uint64_t n_kv = 0;
    const TensorInfo* tensors = nullptr;
    uint64_t n_tensors = 0;

    // Without an index (read_header), lookups walk the header each time and return a view
    // valid until the next lookup of the same kind; tensors found that way carry no data.
    const KeyValue* find(StrView key) const {
        if (!kvs) return walk_metadata(key);
        for (uint64_t i = 0; i < n_kv; ++i)
            if (kvs[i].key == key) return &kvs[i];
        return nullptr;
    }
    const TensorInfo* find_tensor(StrView name) const {
        if (!tensors) return walk_tensors(name);
        for (uint64_t i = 0; i < n_tensors; ++i)
            if (tensors[i].name == name) return &tensors[i];
        return nullptr;
    }

    // Typed metadata getters: missing_key / wrong_key_type name the key.
    Result<int64_t> get_int(StrView key) const {
        const KeyValue* kv = find(key);
        if (!kv) return Status::fail(Error::missing_key, "metadata key '", key, "'");
        if (!kv->value.is_integer())
            return Status::fail(Error::wrong_key_type, "metadata key '", key, "' is ", value_type_name(kv->value.type));
        return kv->value.as_int();
    }
    Result<double> get_float(StrView key) const {
        const KeyValue* kv = find(key);
        if (!kv) return Status::fail(Error::missing_key, "metadata key '", key, "'");
        if (!kv->value.is_number())
            return Status::fail(Error::wrong_key_type, "metadata key '", key, "' is ", value_type_name(kv->value.type));
        return kv->value.as_float();
    }
    Result<StrView> get_string(StrView key) const {
        const KeyValue* kv = find(key);
        if (!kv) return Status::fail(Error::missing_key, "metadata key '", key, "'");
        if (kv->value.type != ValueType::string)
            return Status::fail(Error::wrong_key_type, "metadata key '", key, "' is ", value_type_name(kv->value.type));
        return kv->value.as_string();
    }
    Result<Array> get_array(StrView key) const {
        const KeyValue* kv = find(key);
        if (!kv) return Status::fail(Error::missing_key, "metadata key '", key, "'");
        if (kv->value.type != ValueType::array)
            return Status::fail(Error::wrong_key_type, "metadata key '", key, "' is ", value_type_name(kv->value.type));
        return kv->value.as_array();
    }

private:
    friend Status read_header(ByteSpan buffer, File& out);
    const KeyValue* walk_metadata(StrView key) const;
    const TensorInfo* walk_tensors(StrView name) const;

    size_t metadata_start_ = 0;  // header-only files: where the first key starts
    mutable KeyValue walked_kv_;
    mutable TensorInfo walked_tensor_;
};

namespace detail {

// Bounds-checked cursor: every read checks the remaining length first.
struct Reader {
    const uint8_t* base;
    size_t size;
    size_t pos = 0;

    size_t remaining() const { return size - pos; }
    bool read_u32(uint32_t& v) {
        if (remaining() < 4) return false;
        v = load_u32(base + pos);
        pos += 4;
        return true;
    }
    bool read_u64(uint64_t& v) {
        if (remaining() < 8) return false;
        v = load_u64(base + pos);
        pos += 8;
        return true;
    }
    bool skip(uint64_t n) {
        if (n > remaining()) return false;
        pos += size_t(n);
        return true;
    }
};

// A count too large for the bytes left is a truncated file if it could fit some real file
// (it is no larger than the bytes left), and an absurd value otherwise.
template <class... Pieces>
Status count_error(uint64_t count, size_t remaining, const Pieces&... pieces) {
    if (count <= remaining) return Status::fail(Error::truncated, "file ends inside ", pieces...);
    return Status::fail(Error::absurd_count, pieces...);
}

// Each key-value needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least
// 8 + 4 + 8 + 4 + 8. Larger counts than the bytes after the header can hold cannot be genuine
// (and would let loops over them run for minutes).
inline Status check_counts(uint64_t n_kv, uint64_t n_tensors, size_t remaining) {
    if (n_kv > remaining / 13) return count_error(n_kv, remaining, "metadata of ", n_kv, " keys");
    if (n_tensors > remaining / 32) return count_error(n_tensors, remaining, "table of ", n_tensors, " tensors");
    return Status{};
}

inline Status read_string(Reader& r, StrView& out, const char* what) {
    uint64_t len;
    if (!r.read_u64(len)) return Status::fail(Error::truncated, what, " string length");
    if (len > r.remaining())
        return Status::fail(Error::bad_string, what, " string of length ", len, " runs past the end of the file");
    out = StrView(reinterpret_cast<const char*>(r.base + r.pos), size_t(len));
    r.pos += size_t(len);
    return Status{};
}

// Validates one value of the given type starting at r.pos and advances past it.
inline Status skip_value(Reader& r, ValueType type, StrView key, bool inside_array) {
    if (size_t sz = scalar_size(type)) {
        if (!r.skip(sz)) return Status::fail(Error::truncated, "value of key '", key, "'");
        return Status{};
    }
    if (type == ValueType::string) {
        StrView s;
        return read_string(r, s, "value");
    }
    if (type == ValueType::array) {
        if (inside_array) return Status::fail(Error::unknown_value_type, "nested array in key '", key, "'");
        uint32_t elem_type;
        uint64_t count;
        if (!r.read_u32(elem_type) || !r.read_u64(count))
            return Status::fail(Error::truncated, "array header of key '", key, "'");
        ValueType et = ValueType(elem_type);
        if (elem_type > uint32_t(ValueType::f64) || et == ValueType::array)
            return Status::fail(Error::unknown_value_type, "array element type ", elem_type, " in key '", key, "'");
        size_t min_elem = et == ValueType::string ? 8 : scalar_size(et);
        if (count > r.remaining() / min_elem)
            return count_error(count, r.remaining(), "array of ", count, " elements in key '", key, "'");
        if (et != ValueType::string) {
            r.pos += size_t(count) * min_elem;
            return Status{};
        }
        for (uint64_t i = 0; i < count; ++i) {
            StrView s;
            Status st = read_string(r, s, "array element");
            if (!st) return Status::fail(st.code, st.detail, " in key '", key, "'");
        }
        return Status{};
    }
    return Status::fail(Error::unknown_value_type, "value type ", uint32_t(type), " in key '", key, "'");
}

} // namespace detail

inline const KeyValue* File::walk_metadata(StrView key) const {
    detail::Reader r{buffer.data, buffer.size, metadata_start_};
    for (uint64_t i = 0; metadata_start_ && i < n_kv; ++i) {
        StrView k;
        uint32_t type;
        if (!detail::read_string(r, k, "metadata key") || !r.read_u32(type) || type > uint32_t(ValueType::f64)) return nullptr;
        const uint8_t* value = r.base + r.pos;
        if (!detail::skip_value(r, ValueType(type), k, false)) return nullptr;
        if (k == key) {
            walked_kv_.key = k;
            walked_kv_.value.type = ValueType(type);
            walked_kv_.value.data = value;
            return &walked_kv_;
        }
    }
    return nullptr;
}

inline const TensorInfo* File::walk_tensors(StrView name) const {
    detail::Reader r{buffer.data, buffer.size, metadata_start_};
    for (uint64_t i = 0; metadata_start_ && i < n_kv; ++i) {
        StrView k;
        uint32_t type;
        if (!detail::read_string(r, k, "metadata key") || !r.read_u32(type) || type > uint32_t(ValueType::f64) ||
            !detail::skip_value(r, ValueType(type), k, false))
            return nullptr;
    }
    for (uint64_t i = 0; metadata_start_ && i < n_tensors; ++i) {
        TensorInfo t;
        if (!detail::read_string(r, t.name, "tensor name") || !r.read_u32(t.n_dims) || t.n_dims == 0 || t.n_dims > TensorInfo::max_dims)
            return nullptr;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            uint64_t n;
            if (!r.read_u64(n) || n == 0 || n > (uint64_t(1) << 40)) return nullptr;
            t.ne[d] = int64_t(n);
        }
        uint32_t type;
        if (!r.read_u32(type) || !r.read_u64(t.offset)) return nullptr;
        if (t.name == name) {
            t.type = GgmlType(type);
            walked_tensor_ = t;
            return &walked_tensor_;
        }
    }
    return nullptr;
}

// Reads only the header (magic, version, counts): enough to look keys and tensor shapes up
// without an index, e.g. to size an arena before it exists. parse() validates the file.
inline Status read_header(ByteSpan buffer, File& out) {
    out = File{};
    out.buffer = buffer;
    if (buffer.size < 24) return Status::fail(Error::truncated, "file shorter than the GGUF header");
    if (__builtin_memcmp(buffer.data, "GGUF", 4) != 0) return Status::fail(Error::bad_magic, "not a GGUF file (magic is not 'GGUF')");
    out.version = load_u32(buffer.data + 4);
    if (out.version != 2 && out.version != 3)
        return Status::fail(Error::unsupported_version, "GGUF version ", out.version, " (supported: 2, 3)");
    out.n_tensors = load_u64(buffer.data + 8);
    out.n_kv = load_u64(buffer.data + 16);
    Status st = detail::check_counts(out.n_kv, out.n_tensors, buffer.size - 24);
    if (!st) return st;
    out.metadata_start_ = 24;
    return Status{};
}

// Bytes of arena parse() needs for a buffer; 0 if the header cannot be read.
inline size_t index_bytes(ByteSpan buffer) {
    if (buffer.size < 24) return 0;
    uint64_t n_tensors = load_u64(buffer.data + 8), n_kv = load_u64(buffer.data + 16);
    // Counts that exceed what the buffer could hold are rejected by parse(); cap here so the
    // estimate itself cannot overflow.
    uint64_t cap = buffer.size / 8;
    if (n_tensors > cap || n_kv > cap) return 0;
    return size_t(n_kv) * sizeof(KeyValue) + size_t(n_tensors) * sizeof(TensorInfo) + 256;
}

// Parses and validates the whole file. On success every view in `out` points into `buffer`.
inline Status parse(ByteSpan buffer, Arena& arena, File& out) {
    using detail::Reader;
    Reader r{buffer.data, buffer.size};
    out = File{};
    out.buffer = buffer;

    uint32_t magic;
    if (!r.read_u32(magic)) return Status::fail(Error::truncated, "file shorter than the GGUF magic");
    if (__builtin_memcmp(buffer.data, "GGUF", 4) != 0) return Status::fail(Error::bad_magic, "not a GGUF file (magic is not 'GGUF')");
    if (!r.read_u32(out.version)) return Status::fail(Error::truncated, "GGUF version");
    if (out.version != 2 && out.version != 3)
        return Status::fail(Error::unsupported_version, "GGUF version ", out.version, " (supported: 2, 3)");
    uint64_t n_tensors, n_kv;
    if (!r.read_u64(n_tensors) || !r.read_u64(n_kv)) return Status::fail(Error::truncated, "GGUF header counts");
    if (Status st = detail::check_counts(n_kv, n_tensors, r.remaining()); !st) return st;

    KeyValue* kvs = arena.allocate_array<KeyValue>(size_t(n_kv ? n_kv : 1));
    TensorInfo* tensors = arena.allocate_array<TensorInfo>(size_t(n_tensors ? n_tensors : 1));
    if (!kvs || !tensors) return Status::fail(Error::out_of_memory, "GGUF index needs ", uint64_t(index_bytes(buffer)), " bytes of arena");

    for (uint64_t i = 0; i < n_kv; ++i) {
        KeyValue& kv = kvs[i];
        Status st = detail::read_string(r, kv.key, "metadata key");
        if (!st) return st;
        uint32_t type;
        if (!r.read_u32(type)) return Status::fail(Error::truncated, "type of metadata key '", kv.key, "'");
        if (type > uint32_t(ValueType::f64)) return Status::fail(Error::unknown_value_type, "type ", type, " of metadata key '", kv.key, "'");
        kv.value.type = ValueType(type);
        kv.value.data = r.base + r.pos;
        st = detail::skip_value(r, kv.value.type, kv.key, false);
        if (!st) return st;
    }
    out.kvs = kvs;
    out.n_kv = n_kv;

    if (const KeyValue* a = out.find("general.alignment")) {
        if (!a->value.is_integer()) return Status::fail(Error::wrong_key_type, "general.alignment is ", value_type_name(a->value.type));
        int64_t al = a->value.as_int();
        if (al <= 0 || al > (1 << 20) || (al & (al - 1)) != 0)
            return Status::fail(Error::bad_alignment, "general.alignment ", al, " is not a power of two");
        out.alignment = uint64_t(al);
    }

    // Group size of tinyllm's groupwise tensors (0 or absent: one group per row).
    int64_t group_size = -1;
    if (const KeyValue* g = out.find("tinyllm.group_size")) {
        if (!g->value.is_integer()) return Status::fail(Error::wrong_key_type, "tinyllm.group_size is ", value_type_name(g->value.type));
        group_size = g->value.as_int();
        if (group_size < 0 || group_size > (int64_t(1) << 24))
            return Status::fail(Error::invalid_argument, "tinyllm.group_size ", group_size, " is out of range");
    }

    for (uint64_t i = 0; i < n_tensors; ++i) {
        TensorInfo& t = tensors[i];
        t = TensorInfo{};
        Status st = detail::read_string(r, t.name, "tensor name");
        if (!st) return st;
        if (!r.read_u32(t.n_dims)) return Status::fail(Error::truncated, "dims of tensor '", t.name, "'");
        if (t.n_dims == 0 || t.n_dims > TensorInfo::max_dims)
            return Status::fail(Error::bad_shape, "tensor '", t.name, "' has ", t.n_dims, " dims");
        uint64_t elements = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            uint64_t n;
            if (!r.read_u64(n)) return Status::fail(Error::truncated, "dims of tensor '", t.name, "'");
            if (n == 0 || n > (uint64_t(1) << 40) || elements > (uint64_t(1) << 50) / n)
                return Status::fail(Error::bad_shape, "tensor '", t.name, "' dim ", d, " = ", n);
            elements *= n;
            t.ne[d] = int64_t(n);
        }
        uint32_t type;
        if (!r.read_u32(type) || !r.read_u64(t.offset)) return Status::fail(Error::truncated, "type/offset of tensor '", t.name, "'");
        GgmlTypeInfo info = ggml_type_info(type);
        if (!info.name) return Status::fail(Error::unknown_tensor_type, "tensor '", t.name, "' has type id ", type);
        t.type = GgmlType(type);
        if (groupwise_bits(t.type)) {
            if (group_size < 0)
                return Status::fail(Error::missing_key, "tensor '", t.name, "' is ", info.name, " but the file has no tinyllm.group_size");
            t.group = group_size ? group_size : t.ne[0];
            t.n_bytes = t.row_bytes() * uint64_t(t.n_rows());
        } else {
            if (uint64_t(t.ne[0]) % info.block_elems != 0)
                return Status::fail(Error::bad_shape, "tensor '", t.name, "' row of ", t.ne[0], " is not a multiple of the ", info.name, " block");
            t.n_bytes = elements / info.block_elems * info.block_bytes;
        }
        if (t.offset % out.alignment != 0)
            return Status::fail(Error::bad_alignment, "tensor '", t.name, "' offset ", t.offset, " is not aligned to ", out.alignment);
    }

    out.data_offset = Arena::align_up(r.pos, size_t(out.alignment));
    uint64_t data_size = out.data_offset <= buffer.size ? buffer.size - out.data_offset : 0;
    if (n_tensors && out.data_offset > buffer.size) return Status::fail(Error::truncated, "file ends before the tensor data section");
    for (uint64_t i = 0; i < n_tensors; ++i) {
        TensorInfo& t = tensors[i];
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            return Status::fail(Error::bad_offset, "tensor '", t.name, "' data [", t.offset, "+", t.n_bytes, ") past the end of the file");
        t.data = buffer.data + out.data_offset + t.offset;
    }
    out.tensors = tensors;
    out.n_tensors = n_tensors;
    return Status{};
}

} // namespace tinyllm::gguf
