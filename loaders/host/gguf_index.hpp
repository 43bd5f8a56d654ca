// A parsed GGUF whose index memory this object owns (host side). The bytes must outlive it.
#pragma once
#include <cstdint>
#include <vector>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"

namespace tinyllm {

struct GgufIndex {
    std::vector<uint8_t> memory;  // what gguf::index_bytes says parse() needs
    gguf::File file;

    Status parse(ByteSpan bytes) {
        memory.assign(gguf::index_bytes(bytes), 0);
        Arena arena(memory.data(), memory.size());
        return gguf::parse(bytes, arena, file);
    }
};

} // namespace tinyllm
