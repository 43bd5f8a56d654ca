// Host-side convenience (edge of the engine): map a GGUF file, parse it and bind the model,
// with the index memory owned here. Embedded users call gguf::parse / load_model directly
// on their own span and arena.
#pragma once
#include <string>
#include <vector>

#include "gguf.hpp"
#include "mapped_file.hpp"
#include "tinyllm/model.hpp"

namespace tinyllm {

struct GgufModelFile {
    MappedFile mapping;
    std::vector<uint8_t> index_memory;
    Arena index_arena;
    gguf::File gguf;

    // Maps and validates the file (metadata and tensor table only).
    Status open(const std::string& path) {
        Status st = mapping.open(path);
        if (!st) return st;
        ByteSpan bytes = mapping.bytes();
        index_memory.assign(gguf::index_bytes(bytes) + 4096, 0);
        index_arena = Arena(index_memory.data(), index_memory.size());
        return gguf::parse(bytes, index_arena, gguf);
    }

    // Binds the weights (the layer table lives in the same index memory).
    Status load(Model& model) {
        // A model cannot have more layers than tensors, which bounds the layer table.
        model_memory.assign(size_t(gguf.n_tensors + 1) * sizeof(LayerWeights) + 64, 0);
        model_arena = Arena(model_memory.data(), model_memory.size());
        return load_model(gguf, model_arena, model);
    }

private:
    std::vector<uint8_t> model_memory;
    Arena model_arena;
};

} // namespace tinyllm
