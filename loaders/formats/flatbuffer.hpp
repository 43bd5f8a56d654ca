// A bounds-checked reader for FlatBuffers binaries, written from the wire-format facts (no
// generated code, no flatbuffers library):
//   - a buffer begins with a uint32 offset to the root table;
//   - a table begins with an int32 `soffset`; its vtable is at table - soffset and holds
//     uint16 vtable size, uint16 table size, then one uint16 offset per field (0 = absent);
//   - scalar fields live inline in the table; strings, vectors, tables and union values are
//     stored as a uint32 offset relative to the field's own position;
//   - vectors and strings begin with a uint32 element count (strings end with a NUL);
//   - a union field `u` occupies two field slots: its type tag (uint8) then its value offset.
//
// Every accessor checks what it touches against the buffer. A failed check records the first
// error in the reader's Status (if one is attached) and returns an empty value, so a schema
// walker can read a whole file and inspect one Status at the end: any byte sequence yields
// either consistent views or a named error. Reads go through memcpy, so corrupt files with
// misaligned offsets are still well-defined.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/span.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm::fb {

template <class T>
inline T load(const uint8_t* p) {
    T v;
    __builtin_memcpy(&v, p, sizeof(T));
    return v;
}

// The buffer plus the place where the first failed check is reported (null: fail silently,
// for views over a buffer that has already been verified).
struct Source {
    const uint8_t* data = nullptr;
    size_t size = 0;
    Status* error = nullptr;

    bool fits(uint64_t pos, uint64_t bytes) const { return pos <= size && bytes <= size - pos; }
    void fail(const char* what, uint64_t pos) const {
        if (error && error->ok()) *error = Status::fail(Error::corrupt, "flatbuffer: ", what, " at byte ", pos);
    }
};

// A vector of scalars (or of uint32 offsets, for vectors of tables and strings).
template <class T>
struct Vector {
    Source src;
    uint32_t pos = 0;  // first element
    uint32_t count = 0;

    uint32_t size() const { return count; }
    bool empty() const { return count == 0; }
    T operator[](uint32_t i) const { return i < count ? load<T>(src.data + pos + uint64_t(i) * sizeof(T)) : T(); }
    const uint8_t* bytes() const { return src.data ? src.data + pos : nullptr; }
};

class Table {
public:
    Table() = default;

    // The table whose position is stored at `pos` as a uint32 offset relative to `pos`.
    static Table at_offset(const Source& src, uint64_t pos) {
        if (!src.fits(pos, 4)) { src.fail("table offset out of bounds", pos); return {}; }
        return at(src, pos + load<uint32_t>(src.data + pos));
    }

    bool valid() const { return src_.data != nullptr; }
    const Source& source() const { return src_; }
    uint32_t position() const { return pos_; }

    bool has(int field) const { return field_pos(field) != 0; }

    template <class T>
    T scalar(int field, T fallback = T()) const {
        uint32_t p = field_pos(field);
        if (!p) return fallback;
        if (!src_.fits(p, sizeof(T))) { src_.fail("scalar field past the buffer", p); return fallback; }
        return load<T>(src_.data + p);
    }

    Table table(int field) const {
        uint32_t p = offset_field(field);
        return p ? at_offset(src_, p) : Table();
    }

    template <class T>
    Vector<T> vector(int field) const {
        uint32_t p = offset_field(field);
        if (!p) return {};
        uint64_t start = uint64_t(p) + load<uint32_t>(src_.data + p);
        return checked_vector<T>(start);
    }

    // Element i of a vector of tables.
    static Table element(const Vector<uint32_t>& tables, uint32_t i) {
        if (i >= tables.size()) return {};
        return at_offset(tables.src, tables.pos + uint64_t(i) * 4);
    }

    StrView string(int field) const {
        uint32_t p = offset_field(field);
        if (!p) return {};
        return string_at(src_, uint64_t(p) + load<uint32_t>(src_.data + p));
    }
    // Element i of a vector of strings.
    static StrView string_element(const Vector<uint32_t>& strings, uint32_t i) {
        if (i >= strings.size()) return {};
        uint64_t p = strings.pos + uint64_t(i) * 4;
        return string_at(strings.src, p + load<uint32_t>(strings.src.data + p));
    }

private:
    // Writers do not always count trailing padding-aligned fields in the vtable's table size,
    // so fields are checked against the buffer (as the reference verifier does), not the table.
    static Table at(const Source& src, uint64_t pos) {
        if (!src.fits(pos, 4)) { src.fail("table out of bounds", pos); return {}; }
        int64_t vtable = int64_t(pos) - load<int32_t>(src.data + pos);
        if (vtable < 0 || !src.fits(uint64_t(vtable), 4)) { src.fail("vtable out of bounds", pos); return {}; }
        uint16_t vt_size = load<uint16_t>(src.data + vtable);
        uint16_t tb_size = load<uint16_t>(src.data + vtable + 2);
        if (vt_size < 4 || (vt_size & 1) || !src.fits(uint64_t(vtable), vt_size)) { src.fail("bad vtable", uint64_t(vtable)); return {}; }
        if (tb_size < 4 || !src.fits(pos, tb_size)) { src.fail("table runs past the buffer", pos); return {}; }
        Table t;
        t.src_ = src;
        t.pos_ = uint32_t(pos);
        t.vtable_ = uint32_t(vtable);
        t.vtable_size_ = vt_size;
        return t;
    }

    uint16_t field_offset(int field) const {
        if (!valid() || field < 0) return 0;
        uint32_t slot = 4 + uint32_t(field) * 2;
        if (slot + 2 > vtable_size_) return 0;  // fields added after this file was written
        return load<uint16_t>(src_.data + vtable_ + slot);
    }
    uint32_t field_pos(int field) const {
        uint16_t off = field_offset(field);
        if (!off) return 0;
        if (off < 4) { src_.fail("field overlaps its table's vtable offset", pos_); return 0; }
        return pos_ + off;
    }
    // Position of a uint32 offset field, checked to lie inside the buffer.
    uint32_t offset_field(int field) const {
        uint32_t p = field_pos(field);
        if (p && !src_.fits(p, 4)) { src_.fail("offset field past the buffer", p); return 0; }
        return p;
    }

    template <class T>
    Vector<T> checked_vector(uint64_t start) const {
        if (!src_.fits(start, 4)) { src_.fail("vector out of bounds", start); return {}; }
        uint32_t n = load<uint32_t>(src_.data + start);
        if (!src_.fits(start + 4, uint64_t(n) * sizeof(T))) { src_.fail("vector runs past the buffer", start); return {}; }
        Vector<T> v;
        v.src = src_;
        v.pos = uint32_t(start + 4);
        v.count = n;
        return v;
    }

    static StrView string_at(const Source& src, uint64_t start) {
        if (!src.fits(start, 4)) { src.fail("string out of bounds", start); return {}; }
        uint32_t n = load<uint32_t>(src.data + start);
        if (!src.fits(start + 4, uint64_t(n) + 1) || src.data[start + 4 + n] != 0) {
            src.fail("string runs past the buffer or lacks its NUL", start);
            return {};
        }
        return StrView(reinterpret_cast<const char*>(src.data + start + 4), n);
    }

    Source src_;
    uint32_t pos_ = 0;
    uint32_t vtable_ = 0;
    uint16_t vtable_size_ = 0;
};

// The root table of a buffer; `identifier` (4 chars) must follow the root offset.
inline Table root(const Source& src, const char* identifier) {
    if (!src.fits(0, 8)) { src.fail("buffer too small for a root offset and identifier", 0); return {}; }
    for (int i = 0; i < 4; ++i)
        if (src.data[4 + i] != uint8_t(identifier[i])) { src.fail("wrong file identifier", 4); return {}; }
    return Table::at_offset(src, 0);
}

} // namespace tinyllm::fb
