// The load-time pass that folds a copy of a copy (the KV cache's expansion for grouped-query
// attention, then its transpose) into one strided copy from the first copy's input.
#pragma once
#include <stdint.h>

#include "tinyllm/pte/dataflow.hpp"

namespace tinyllm::pte {

// Where fold_copy_chains keeps its copies' strides: room for one per strided copy
// (Chain::strided_copy_op), the most the pass can fold.
struct FoldPool {
    FoldedCopy* next = nullptr;
    uint32_t left = 0;
};

namespace passes {

// The strides of copy `second` read straight from copy `first`'s input, where second's
// input is first's output reshaped by merging neighbouring dimensions (as GQA's view of an
// expanded [.., kv_heads, group, ..] cache as [.., heads, ..] does).
inline bool compose(const Chain& c, uint32_t first, uint32_t second, FoldedCopy& fold) {
    int from1[max_runtime_dims], from2[max_runtime_dims];
    if (!c.copy_dims(first, from1) || !c.copy_dims(second, from2)) return false;
    fb::Vector<int32_t> a1 = c.plan.instruction(0, first).call_args(), a2 = c.plan.instruction(0, second).call_args();
    const Tensor &source = c.values[a1[0]].tensor, &mid = c.values[a1[a1.size() - 1]].tensor;
    const Tensor &in2 = c.values[a2[0]].tensor, &out2 = c.values[a2[a2.size() - 1]].tensor;
    // Each dimension of in2 is the product of consecutive dimensions of mid (size 1 skipped).
    int group_begin[max_runtime_dims], group_end[max_runtime_dims];
    int b = 0;
    for (int a = 0; a < in2.dim; ++a) {
        while (b < mid.dim && mid.sizes[b] == 1) ++b;
        group_begin[a] = group_end[a] = b;
        if (in2.sizes[a] == 1) continue;
        int64_t product = 1;
        while (b < mid.dim && product < in2.sizes[a]) product *= mid.sizes[b++];
        if (product != in2.sizes[a]) return false;
        group_end[a] = b;
    }
    fold.dim = 0;
    for (int d = 0; d < out2.dim; ++d) {
        if (out2.sizes[d] == 1) continue;
        const int a = from2[d];
        if (a < 0) {
            if (fold.dim == max_runtime_dims) return false;
            fold.sizes[fold.dim] = out2.sizes[d];
            fold.strides[fold.dim++] = 0;
            continue;
        }
        for (int k = group_begin[a]; k < group_end[a]; ++k) {
            if (mid.sizes[k] == 1) continue;
            if (fold.dim == max_runtime_dims) return false;
            fold.sizes[fold.dim] = mid.sizes[k];
            fold.strides[fold.dim++] = from1[k] < 0 ? 0 : source.inner(from1[k]);
        }
    }
    return true;
}

// Whether value v (written by instruction `writer`) and the views on its bytes are read
// by instruction `reader` alone.
inline bool only_read_by(const Chain& c, int32_t v, uint32_t writer, uint32_t reader) {
    int32_t views[Chain::max_views + 1];
    int n_views = 0;
    uint32_t last = c.last_use(v);
    if (!c.find_views(v, writer, views, n_views, last)) return false;
    views[n_views++] = v;
    for (uint32_t j = 0; j < c.n_instructions; ++j) {
        if (j == writer || j == reader || !c.is_call(j) || c.steps[j].kind == StepKind::skip) continue;
        fb::Vector<int32_t> a = c.plan.instruction(0, j).call_args();
        for (uint32_t k = 0; k < a.size(); ++k)
            for (int m = 0; m < n_views; ++m) {
                if (a[k] == views[m]) return false;
                const Value& arg = c.values[a[k]];
                for (uint32_t e = 0; e < arg.list_items.size(); ++e)
                    if (arg.list_items[e] == views[m]) return false;
            }
    }
    return true;
}

// Exports expand the KV cache for grouped-query attention and then copy the expansion
// again (the keys transposed, the values once more where the memory plan needs it), so
// each layer writes the cache out twice per token. Where a copy (expand_copy or
// permute_copy) reads all of another copy's output and nothing else reads it, the second
// reads the first's input directly, in one strided pass, and the first is skipped. Only
// for straight-line methods, and only where the first's input keeps its bytes in between.
inline void fold_copy_chains(Chain& c, FoldPool& pool) {
    if (!c.straight_line()) return;
    const uint32_t n = c.n_instructions;
    c.find_uses();
    for (uint32_t i = 0; i < n && pool.left > 0; ++i) {
        if (c.steps[i].kind != StepKind::kernel || !c.strided_copy_op(i)) continue;
        fb::Vector<int32_t> args = c.plan.instruction(0, i).call_args();
        const int32_t in = args[0];
        const int32_t first = c.values[in].tensor.view ? c.view_owner(in) : in;
        if (first < 0) continue;
        const Tensor &input = c.values[in].tensor, &middle = c.values[first].tensor;
        if (input.data != middle.data || input.nbytes() != middle.nbytes() || input.type != middle.type) continue;
        int32_t producer = -1;  // the last instruction before i to write into middle's bytes
        for (uint32_t j = i; j-- > 0 && producer < 0;)
            if (c.writes_into(j, middle)) producer = int32_t(j);
        if (producer < 0 || !c.writes(uint32_t(producer), first) || c.steps[producer].kind != StepKind::kernel ||
            !c.strided_copy_op(uint32_t(producer)))
            continue;
        fb::Vector<int32_t> pargs = c.plan.instruction(0, uint32_t(producer)).call_args();
        if (pargs[pargs.size() - 1] != first || pargs[0] == first) continue;
        FoldedCopy fold;
        if (!only_read_by(c, first, uint32_t(producer), i) || !compose(c, uint32_t(producer), i, fold)) continue;
        const Tensor& source = c.values[pargs[0]].tensor;
        bool kept = !c.overlaps(args[args.size() - 1], source);
        for (uint32_t j = uint32_t(producer) + 1; j < i && kept; ++j) kept = !c.writes_into(j, source);
        if (!kept) continue;
        FoldedCopy* stored = pool.next++;
        --pool.left;
        *stored = fold;
        c.steps[producer].kind = StepKind::skip;
        c.steps[i].kind = StepKind::folded_copy;
        c.steps[i].source = pargs[0];
        c.steps[i].fold = stored;
        c.find_uses();
    }
}

} // namespace passes
} // namespace tinyllm::pte
