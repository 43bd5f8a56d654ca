// Load-time passes that let one tensor's memory hold what the program copies from one tensor
// into another: a mutable buffer's functional update and the write-back that follows it, and
// copies that write exactly their input's bytes. Results are unchanged; the copies vanish.
#pragma once
#include <stdint.h>

#include "tinyllm/pte/dataflow.hpp"

namespace tinyllm::pte::passes {

// Moves t, which lies in `from`'s bytes, to the same place in `to`'s.
inline void rebind(Tensor& t, const Tensor& from, const Tensor& to) {
    t.data = to.data + (t.data - from.data);
    t.constant = to.constant;
}

// Whether instruction i's output holds exactly the bytes of its first argument.
inline bool copies_bytes(const Chain& c, uint32_t i) {
    fb::Vector<int32_t> args = c.plan.instruction(0, i).call_args();
    const Tensor &in = c.values[args[0]].tensor, &out = c.values[args[args.size() - 1]].tensor;
    if (in.type != out.type || in.numel() != out.numel()) return false;
    if (c.is_op(i, "aten::clone", "out") || c.is_op(i, "aten::view_copy", "out") || c.is_op(i, "aten::alias_copy", "out") ||
        c.is_op(i, "aten::squeeze_copy", "dims_out") || c.is_op(i, "aten::unsqueeze_copy", "out"))
        return true;
    // An expansion keeping the element count, or a permutation keeping the order of the
    // dimensions larger than 1.
    int from[max_runtime_dims];
    if (!c.strided_copy_op(i) || !c.copy_dims(i, from)) return false;
    int previous = -1;  // the last source dimension of size > 1
    for (int d = 0; d < out.dim; ++d) {
        if (from[d] < 0 || in.sizes[from[d]] == 1) continue;
        if (from[d] < previous) return false;
        previous = from[d];
    }
    return true;
}

// The copy `out` of `in` (instruction i) reads in's bytes instead, if nothing overwrites
// them (and nothing writes the copy) until the copy and its views are read for the last time.
inline bool bind_copy_to_input(Chain& c, uint32_t i, int32_t in, int32_t out) {
    Tensor &source = c.values[in].tensor, &copy = c.values[out].tensor;
    int32_t views[Chain::max_views];
    int n_views = 0;
    uint32_t last = c.last_use(out);
    if (!c.find_views(out, i, views, n_views, last)) return false;
    for (uint32_t j = i + 1; j <= last; ++j)
        if (c.writes(j, out) || c.writes_into(j, source)) return false;
    for (int k = 0; k < n_views; ++k) rebind(c.values[views[k]].tensor, copy, source);
    rebind(copy, copy, source);
    copy.view = true;
    return true;
}

// The input `in` of copy `out` (instruction i) is written into the copy's bytes instead, if
// `in` has one producer that writes nothing else, holds no state kept across calls, and no
// other tensor in the copy's bytes is used from that producer on until the last use of
// either tensor or their views.
inline bool bind_input_to_copy(Chain& c, uint32_t i, int32_t in, int32_t out) {
    Tensor &source = c.values[in].tensor, &copy = c.values[out].tensor;
    if (source.view) {
        // A view spanning all of its owner's bytes moves with the owner.
        const int32_t owner = c.view_owner(in);
        const bool whole = owner >= 0 && c.values[owner].tensor.data == source.data && c.values[owner].tensor.nbytes() == source.nbytes();
        return whole && bind_input_to_copy(c, i, owner, out);
    }
    if (c.is_io(in) || source.constant || c.holds_state(source)) return false;
    const uint32_t n = c.n_instructions;
    uint32_t producer = n;
    for (uint32_t j = 0; j < n; ++j) {
        if (!c.writes(j, in)) continue;
        if (producer != n || c.written_args(j, [in](int32_t w) { return w != in; })) return false;
        producer = j;
    }
    if (producer >= i) return false;
    int32_t views[Chain::max_views], copy_views[Chain::max_views];
    int n_views = 0, n_copy_views = 0;
    uint32_t last = c.last_use(in) > c.last_use(out) ? c.last_use(in) : c.last_use(out);
    if (!c.find_views(in, producer, views, n_views, last) || !c.find_views(out, i, copy_views, n_copy_views, last)) return false;
    for (uint32_t j = producer; j <= last; ++j) {
        if (j != producer && j != i && c.writes_into(j, copy)) return false;
        if (j >= i) continue;
        // Before the copy, only `in` and its views may be used in the copy's bytes, except
        // that an elementwise producer may read an input lying exactly there.
        InstructionView instruction = c.plan.instruction(0, j);
        if (!c.is_call(j) || c.steps[j].kind == StepKind::skip) continue;
        fb::Vector<int32_t> a = instruction.call_args();
        for (uint32_t k = 0; k < a.size(); ++k) {
            bool moved = a[k] == in;
            for (int m = 0; m < n_views; ++m) moved = moved || a[k] == views[m];
            if (moved || !c.overlaps(a[k], copy)) continue;
            const Tensor& t = c.values[a[k]].tensor;
            const bool in_place = j == producer && instruction.kind() == InstructionKind::KernelCall && c.entries[instruction.callee()]->elementwise && c.values[a[k]].kind == ValueKind::Tensor &&
                                  t.data == copy.data && t.type == source.type && t.same_shape(source);
            if (!in_place) return false;
        }
    }
    for (int k = 0; k < n_views; ++k) rebind(c.values[views[k]].tensor, source, copy);
    rebind(source, source, copy);
    copy.view = true;
    return true;
}

// A mutable buffer (e.g. a KV cache) is updated functionally: out = index_put(buffer, ...)
// writes a whole new copy, later readers use `out`, and copy_(buffer, out) writes it back at
// the end; copy_ then returns the buffer as yet another tensor. Where the buffer is read by
// nothing else and no other planned tensor shares its memory, `out` and copy_'s result are
// bound to the buffer's own memory: index_put updates in place and both copies vanish
// (the kernels skip copying a tensor onto itself). Results are unchanged.
inline void alias_buffer_updates(Chain& c) {
    const uint32_t n = c.n_instructions;
    const bool straight = c.straight_line();
    c.mark_views();
    if (straight) c.find_uses();
    for (uint32_t i = 0; i < n; ++i) {
        if (!c.is_op(i, "aten::index_put", "out")) continue;
        fb::Vector<int32_t> args = c.plan.instruction(0, i).call_args();
        const int32_t buffer = args[0], out = args[args.size() - 1];
        Tensor &b = c.values[buffer].tensor, &o = c.values[out].tensor;
        if (b.constant || o.constant || !b.same_shape(o) || b.type != o.type || !c.private_memory(buffer) || c.is_io(buffer) || c.is_io(out))
            continue;
        // Every other reader of the buffer must be copy_(buffer, out, ...).
        bool only_write_back = true;
        for (uint32_t j = 0; j < n && only_write_back; ++j) {
            if (j == i || !c.is_call(j)) continue;
            fb::Vector<int32_t> a = c.plan.instruction(0, j).call_args();
            bool reads = false;
            for (uint32_t k = 0; k < a.size(); ++k) reads = reads || a[k] == buffer;
            if (reads) only_write_back = c.is_op(j, "aten::copy_", "") && a[0] == buffer && a[1] == out;
        }
        if (!only_write_back || c.has_views(out, straight)) continue;
        o.data = b.data;
        for (uint32_t j = 0; j < n; ++j)
            if (c.is_op(j, "aten::copy_", "") && c.plan.instruction(0, j).call_args()[0] == buffer) {
                const int32_t r = c.plan.instruction(0, j).call_args()[3];
                Tensor& result = c.values[r].tensor;
                if (result.same_shape(b) && result.type == b.type && !result.constant && !c.is_io(r) && !c.has_views(r, straight))
                    result.data = b.data;
            }
    }
}

// Reshapes (view, alias, squeeze, unsqueeze), clones, expands to the same shape and
// permutations that move only size-1 dimensions write exactly their input's bytes, and
// exported programs are full of them: a decode step copies each layer's KV cache several
// times. Each such copy is skipped where one tensor can hold both: the copy (and the views
// placed on it) bound to its input's memory, or else the input (and its views) written
// straight into the copy's memory. Only for straight-line methods, where instruction order
// is execution order. Results are unchanged.
inline void alias_byte_copies(Chain& c) {
    if (!c.straight_line()) return;
    const uint32_t n = c.n_instructions;
    c.mark_views();
    c.find_uses();
    for (uint32_t i = 0; i < n; ++i) {
        if (c.plan.instruction(0, i).kind() != InstructionKind::KernelCall || c.steps[i].kind != StepKind::kernel || !copies_bytes(c, i))
            continue;
        fb::Vector<int32_t> args = c.plan.instruction(0, i).call_args();
        const int32_t in = args[0], out = args[args.size() - 1];
        if (args[args.size() - 2] != out || c.is_io(out) || c.values[out].tensor.constant) continue;
        if (bind_copy_to_input(c, i, in, out) || bind_input_to_copy(c, i, in, out)) c.steps[i].kind = StepKind::skip;
    }
}

} // namespace tinyllm::pte::passes
