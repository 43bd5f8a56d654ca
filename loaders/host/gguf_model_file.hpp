// Host-side convenience (edge of the engine): map a GGUF file, parse it and bind the model,
// with the index memory owned here. Embedded users call gguf::parse / load_model directly
// on their own span and arena.
#pragma once
#include <string>
#include <vector>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/loaders/host/mapped_file.hpp"
#include "tinyllm/core/interleave_weights.hpp"
#include "tinyllm/core/model.hpp"

namespace tinyllm {

struct GgufModelFile {
    MappedFile mapping;
    std::vector<uint8_t> index_memory;
    Arena index_arena;
    gguf::File gguf;

    // Maps and validates the file (metadata and tensor table only).
    Status open(const std::string& path) {
        Status st = mapping.open(path);
        return st ? parse() : st;
    }

    // Binds the weights (the layer table lives in the same index memory). With `repack`, the
    // matrices this CPU has interleaved kernels for are repacked, in a private copy of the file
    // (see MappedFile::copy_to_private_memory; if it cannot be made, in the mapping). The model
    // is bound once; later calls return the same views.
    Status load(Model& model, bool repack = true) {
        if (!loaded_) {
            Status st = bind();
            if (!st) return st;
            if (repack && interleave_scratch_bytes(model_, mapping.writable(), mapping.bytes().size) > 0) {
                // Without the copy (no memory for it), the mapping is repacked copy-on-write.
                if (mapping.copy_to_private_memory(gguf.data_offset)) {
                    if (!(st = parse()) || !(st = bind())) return st;
                }
                std::vector<uint8_t> scratch(interleave_scratch_bytes(model_, mapping.writable(), mapping.bytes().size));
                interleave_weights(model_, mapping.writable(), mapping.bytes().size, scratch.data(), scratch.size());
            }
            loaded_ = true;
        }
        model = model_;
        return Status{};
    }

private:
    // Parses the current bytes into fresh index memory. An earlier index is kept: what a caller
    // read from `gguf` before load() stays valid.
    Status parse() {
        if (!index_memory.empty()) retired_index_memory_.push_back(std::move(index_memory));
        ByteSpan bytes = mapping.bytes();
        index_memory.assign(gguf::index_bytes(bytes), 0);
        index_arena = Arena(index_memory.data(), index_memory.size());
        return gguf::parse(bytes, index_arena, gguf);
    }

    Status bind() {
        // A model cannot have more layers than tensors, which bounds the layer table.
        model_memory.assign(size_t(gguf.n_tensors + 1) * sizeof(LayerWeights) + 64, 0);
        model_arena = Arena(model_memory.data(), model_memory.size());
        return load_model(gguf, model_arena, model_);
    }

    std::vector<std::vector<uint8_t>> retired_index_memory_;
    std::vector<uint8_t> model_memory;
    Arena model_arena;
    Model model_;
    bool loaded_ = false;
};

} // namespace tinyllm
