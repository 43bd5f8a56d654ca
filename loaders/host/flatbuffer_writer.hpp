// A small FlatBuffers writer (host side): a tree of tables, vectors and strings serialized depth
// first, front to back: a table's vtable, then the table, then its children, so every offset
// points forward as the format requires. Scalars are aligned to their size from the start of the
// buffer. Writes ExecuTorch programs (the GGUF converter) and, in the tests, programs and XNNPACK
// payloads the fixtures lack.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace tinyllm::flatbuffer_writer {

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Field {
    int slot = 0;
    int size = 0;         // scalar bytes; 0: an offset to `child`
    uint64_t bits = 0;    // scalar value
    NodePtr child;
};

struct Node {
    enum Kind { table, vector_scalar, vector_nodes, string } kind = table;
    std::vector<Field> fields;       // table
    int elem_size = 0;               // vector_scalar
    std::vector<uint64_t> elems;     // vector_scalar
    std::vector<NodePtr> nodes;      // vector_nodes
    std::string text;                // string
};

inline NodePtr table() { return std::make_shared<Node>(); }
template <class T>
inline NodePtr scalars(const std::vector<T>& v) {
    auto n = std::make_shared<Node>();
    n->kind = Node::vector_scalar;
    n->elem_size = int(sizeof(T));
    for (T x : v) {
        uint64_t bits = 0;
        std::memcpy(&bits, &x, sizeof(T));
        n->elems.push_back(bits);
    }
    return n;
}
inline NodePtr nodes(const std::vector<NodePtr>& v) {
    auto n = std::make_shared<Node>();
    n->kind = Node::vector_nodes;
    n->nodes = v;
    return n;
}
inline NodePtr str(const std::string& s) {
    auto n = std::make_shared<Node>();
    n->kind = Node::string;
    n->text = s;
    return n;
}
template <class T>
inline NodePtr& set(NodePtr& t, int slot, T value) {
    Field f;
    f.slot = slot;
    f.size = int(sizeof(T));
    std::memcpy(&f.bits, &value, sizeof(T));
    t->fields.push_back(f);
    return t;
}
inline NodePtr& child(NodePtr& t, int slot, NodePtr c) {
    Field f;
    f.slot = slot;
    f.child = std::move(c);
    t->fields.push_back(f);
    return t;
}

class Writer {
public:
    // The buffer: root offset, 4-byte identifier, then the root table.
    std::vector<uint8_t> finish(const NodePtr& root, const char* identifier) {
        buf_.assign(8, 0);
        std::memcpy(buf_.data() + 4, identifier, 4);
        uint32_t at = write(root);
        put32(0, at);
        return buf_;
    }

    // The start of an ExecuTorch file: the flatbuffer with an `eh00` extended header after the
    // identifier, padded to the 16-byte aligned segment base; the caller appends the
    // `segment_data_size` bytes of segment data.
    std::vector<uint8_t> finish_pte(const NodePtr& root, uint64_t segment_data_size) {
        buf_.assign(40, 0);
        std::memcpy(buf_.data() + 4, "ET12", 4);
        std::memcpy(buf_.data() + 8, "eh00", 4);
        put32(12, 32);
        uint32_t at = write(root);
        put32(0, at);
        const uint64_t program_size = buf_.size();
        align(16);
        const uint64_t base = buf_.size();
        std::memcpy(buf_.data() + 16, &program_size, 8);
        std::memcpy(buf_.data() + 24, &base, 8);
        std::memcpy(buf_.data() + 32, &segment_data_size, 8);
        return buf_;
    }

private:
    void align(size_t a) {
        while (buf_.size() % a) buf_.push_back(0);
    }
    void put32(size_t pos, uint32_t v) { std::memcpy(buf_.data() + pos, &v, 4); }

    // Writes a node and returns its position (a table's start, a vector's/string's length word).
    uint32_t write(const NodePtr& n) {
        switch (n->kind) {
        case Node::string: {
            align(4);
            uint32_t at = uint32_t(buf_.size());
            uint32_t len = uint32_t(n->text.size());
            buf_.resize(buf_.size() + 4);
            put32(at, len);
            buf_.insert(buf_.end(), n->text.begin(), n->text.end());
            buf_.push_back(0);
            return at;
        }
        case Node::vector_scalar: {
            // Elements aligned to their size (and at least 4) right after the length word.
            size_t a = size_t(n->elem_size < 4 ? 4 : n->elem_size);
            while ((buf_.size() + 4) % a) buf_.push_back(0);
            uint32_t at = uint32_t(buf_.size());
            buf_.resize(buf_.size() + 4);
            put32(at, uint32_t(n->elems.size()));
            for (uint64_t e : n->elems) {
                size_t p = buf_.size();
                buf_.resize(p + size_t(n->elem_size));
                std::memcpy(buf_.data() + p, &e, size_t(n->elem_size));
            }
            return at;
        }
        case Node::vector_nodes: {
            align(4);
            uint32_t at = uint32_t(buf_.size());
            buf_.resize(buf_.size() + 4 + 4 * n->nodes.size());
            put32(at, uint32_t(n->nodes.size()));
            for (size_t i = 0; i < n->nodes.size(); ++i) {
                uint32_t slot = at + 4 + uint32_t(4 * i);
                uint32_t target = write(n->nodes[i]);
                put32(slot, target - slot);
            }
            return at;
        }
        case Node::table: break;
        }
        int max_slot = -1;
        for (const Field& f : n->fields) max_slot = f.slot > max_slot ? f.slot : max_slot;
        // Layout: soffset (4), then fields, each aligned to its size (offsets take 4).
        std::vector<uint16_t> offsets(size_t(max_slot + 1), 0);
        uint32_t size = 4;
        std::vector<uint32_t> field_at(n->fields.size());
        for (size_t i = 0; i < n->fields.size(); ++i) {
            uint32_t s = uint32_t(n->fields[i].size ? n->fields[i].size : 4);
            size = (size + s - 1) / s * s;
            field_at[i] = size;
            offsets[size_t(n->fields[i].slot)] = uint16_t(size);
            size += s;
        }
        // vtable, then the table aligned to 8 (so 8-byte fields at 8-aligned table offsets are aligned).
        align(2);
        uint32_t vt = uint32_t(buf_.size());
        const uint16_t vt_size = uint16_t(4 + 2 * offsets.size());
        buf_.resize(buf_.size() + vt_size);
        std::memcpy(buf_.data() + vt, &vt_size, 2);
        const uint16_t tb = uint16_t(size);
        std::memcpy(buf_.data() + vt + 2, &tb, 2);
        for (size_t k = 0; k < offsets.size(); ++k) std::memcpy(buf_.data() + vt + 4 + 2 * k, &offsets[k], 2);
        align(8);
        uint32_t at = uint32_t(buf_.size());
        buf_.resize(buf_.size() + size);
        int32_t soffset = int32_t(at - vt);
        std::memcpy(buf_.data() + at, &soffset, 4);
        for (size_t i = 0; i < n->fields.size(); ++i) {
            const Field& f = n->fields[i];
            if (f.size) std::memcpy(buf_.data() + at + field_at[i], &f.bits, size_t(f.size));
        }
        for (size_t i = 0; i < n->fields.size(); ++i) {
            const Field& f = n->fields[i];
            if (f.size) continue;
            uint32_t slot = at + field_at[i];
            uint32_t target = write(f.child);
            put32(slot, target - slot);
        }
        return at;
    }

    std::vector<uint8_t> buf_;
};

} // namespace tinyllm::flatbuffer_writer
