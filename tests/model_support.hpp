// Test helpers that need the engine: a GGUF held in memory or a shared model file, parsed and
// bound as a Model; a session with its memory; the logits of every prompt position.
#pragma once
#include <vector>

#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/host/gguf_model_file.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"
#include "test_support.hpp"
#include "tinyllm/core/model.hpp"
#include "tinyllm/core/session.hpp"

namespace test_support {

// A model parsed from bytes in memory (e.g. a file the quantizer just wrote).
struct InMemoryModel {
    std::vector<uint8_t> bytes, layers;
    tinyllm::GgufIndex index;
    tinyllm::Model model;

    explicit InMemoryModel(std::vector<uint8_t> b) : bytes(std::move(b)) {
        REQUIRE(index.parse({bytes.data(), bytes.size()}).ok());
        layers.resize(index.file.n_tensors * sizeof(tinyllm::LayerWeights) + 64);
        tinyllm::Arena la(layers.data(), layers.size());
        REQUIRE(tinyllm::load_model(index.file, la, model).ok());
    }
};

// A shared model file, bound (and repacked for this CPU, as programs load it).
struct LoadedFile {
    tinyllm::GgufModelFile file;
    tinyllm::Model model;
    explicit LoadedFile(const std::string& name) {
        REQUIRE(file.open(shared_path(name)).ok());
        REQUIRE(file.load(model).ok());
    }
};

// A session of n_seq sequences with its own memory.
struct SessionMemory {
    std::vector<uint8_t> bytes;
    tinyllm::Arena arena;
    tinyllm::Session session;
    SessionMemory(const tinyllm::Model& m, int n_ctx, int n_batch, int n_seq = 1)
        : bytes(tinyllm::Session::required_bytes(m, n_ctx, n_batch, n_seq)), arena(bytes.data(), bytes.size()) {
        REQUIRE(session.init(m, n_ctx, n_batch, arena, n_seq).ok());
    }
};

// Logits [prompt.size()][n_vocab] of a fresh session fed the whole prompt.
inline std::vector<float> prompt_logits(const tinyllm::Model& m, const std::vector<int>& prompt) {
    std::vector<uint8_t> mem(tinyllm::Session::required_bytes(m, 64, 16));
    tinyllm::Arena arena(mem.data(), mem.size());
    tinyllm::Session s;
    REQUIRE(s.init(m, 64, 16, arena).ok());
    std::vector<float> logits(prompt.size() * size_t(m.config.n_vocab));
    REQUIRE(s.eval(prompt.data(), int(prompt.size()), logits.data(), true).ok());
    return logits;
}

} // namespace test_support
