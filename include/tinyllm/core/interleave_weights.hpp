// Load-time repacking: rewrites a model's projection matrices in place into the row-
// interleaved layout (kernels/interleaved.hpp) where this CPU has kernels for it. The bytes
// keep their size and place, so a copy-on-write mapping of the file is repacked without a
// second copy of the weights; the views are then marked `interleaved`.
#pragma once
#include "tinyllm/core/model.hpp"

namespace tinyllm {

namespace detail {

template <class Visit>
void for_each_projection(Model& m, Visit&& visit) {
    for (int l = 0; l < m.config.n_layer; ++l) {
        LayerWeights& L = m.layers[l];
        WeightView* const matrices[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
        for (WeightView* w : matrices) visit(*w);
    }
    visit(m.output);
}

inline uint64_t matrix_bytes(const WeightView& w) { return uint64_t(w.rows) * w.row_bytes; }

inline bool same_matrix(const WeightView& a, const WeightView& b) {
    return a.data == b.data && a.type == b.type && a.cols == b.cols && a.rows == b.rows && a.row_bytes == b.row_bytes &&
           a.group == b.group;
}

// Whether w's bytes overlap another matrix's (or the embedding's) other than as the very same
// matrix. A well-formed file never does this; a corrupt one must not have its weights
// rewritten under a view that reads them in the plain layout.
inline bool overlaps_another(Model& m, const WeightView& w) {
    auto overlap = [&](const WeightView& o) {
        return o.data && o.data < w.data + matrix_bytes(w) && w.data < o.data + matrix_bytes(o) && !same_matrix(o, w);
    };
    bool found = overlap(m.token_embd);
    for_each_projection(m, [&](WeightView& o) { found = found || (&o != &w && overlap(o)); });
    return found;
}

inline bool will_interleave(const WeightView& w, const Model& m, const uint8_t* begin, size_t size) {
    // A tied output head is the embedding table, which is read by row.
    return best_interleaved_unit<1>() && !w.interleaved && w.data != m.token_embd.data &&
           interleavable(w.type, w.cols, w.rows, w.group) && interleaved_kernel_takes(w.type) && w.data >= begin &&
           uint64_t(w.data - begin) + matrix_bytes(w) <= size;
}

} // namespace detail

// Scratch bytes interleave_weights needs for this model (0: nothing to repack on this CPU).
inline size_t interleave_scratch_bytes(Model& m, const uint8_t* writable, size_t size) {
    size_t need = 0;
    detail::for_each_projection(m, [&](WeightView& w) {
        if (detail::will_interleave(w, m, writable, size) && interleave_rows_per_unit * w.row_bytes > need)
            need = interleave_rows_per_unit * w.row_bytes;
    });
    return need;
}

// Repacks every eligible matrix whose bytes lie in [writable, writable + size) (the model's
// buffer, writable by the caller) and returns how many it repacked. Fused projections (phi3's
// qkv) are row ranges of one tensor; each range is repacked as its own matrix, or stays plain.
// Views of one shared matrix are repacked once and all marked; overlapping matrices stay plain.
inline int interleave_weights(Model& m, uint8_t* writable, size_t size, uint8_t* scratch, size_t scratch_bytes) {
    int count = 0;
    detail::for_each_projection(m, [&](WeightView& w) {
        if (!detail::will_interleave(w, m, writable, size) || interleave_rows_per_unit * w.row_bytes > scratch_bytes ||
            detail::overlaps_another(m, w))
            return;
        interleave_rows(w.type, w.cols, w.rows, w.group, writable + (w.data - writable), w.row_bytes, scratch);
        detail::for_each_projection(m, [&](WeightView& o) { o.interleaved = o.interleaved || detail::same_matrix(o, w); });
        ++count;
    });
    return count;
}

} // namespace tinyllm
