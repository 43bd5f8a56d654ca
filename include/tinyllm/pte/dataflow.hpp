// A method's instruction chain with its values bound to memory and its steps decoded: what
// the load-time passes (planner.hpp) read and rewrite, and the questions they ask of it: who
// reads and writes which value, which tensors share bytes, which are views of which.
#pragma once
#include <stdint.h>

#include "tinyllm/pte/op_table.hpp"
#include "tinyllm/pte/steps.hpp"

namespace tinyllm::pte {

// The first and the last instruction that runs with a value (Chain::find_uses).
struct Uses {
    uint32_t first, last;
};

struct Chain {
    PlanView plan;
    uint32_t n_instructions = 0;  // of the method's one chain (0 without one)
    Value* values = nullptr;
    uint32_t n_values = 0;
    const OpEntry** entries = nullptr;  // the kernel of each of the plan's operators
    Step* steps = nullptr;              // one per instruction
    Uses* uses = nullptr;               // one per value, as of the last find_uses()

    // Whether instruction j calls a kernel or a delegate (the instructions that read and write values).
    bool is_call(uint32_t j) const {
        const InstructionKind kind = plan.instruction(0, j).kind();
        return kind == InstructionKind::KernelCall || kind == InstructionKind::DelegateCall;
    }

    // The one instruction that reads value v, or -1 (several readers, or a method output).
    int32_t sole_reader(int32_t v, uint32_t producer) const {
        for (uint32_t k = 0; k < plan.outputs().size(); ++k)
            if (plan.outputs()[k] == v) return -1;
        const uint32_t n = n_instructions;
        int32_t reader = -1;
        for (uint32_t j = 0; j < n; ++j) {
            InstructionView in = plan.instruction(0, j);
            if (j == producer || !is_call(j)) continue;
            fb::Vector<int32_t> args = in.call_args();
            for (uint32_t k = 0; k < args.size(); ++k)
                if (args[k] == v) {
                    if (reader != -1 && reader != int32_t(j)) return -1;
                    reader = int32_t(j);
                }
        }
        return reader > int32_t(producer) ? reader : -1;
    }

    // Whether no instruction other than `producer` names value v (nor the method's outputs).
    bool unread(int32_t v, uint32_t producer) const {
        if (is_io(v)) return false;
        for (uint32_t j = 0; j < n_instructions; ++j) {
            if (j == producer || !is_call(j)) continue;
            fb::Vector<int32_t> args = plan.instruction(0, j).call_args();
            for (uint32_t k = 0; k < args.size(); ++k) {
                if (args[k] == v) return false;
                const Value& arg = values[args[k]];
                for (uint32_t m = 0; m < arg.list_items.size(); ++m)
                    if (arg.list_items[m] == v) return false;
            }
        }
        return true;
    }

    // Whether the instruction calls operator name.overload.
    bool is_op(uint32_t instruction, const char* name, const char* overload) const {
        InstructionView in = plan.instruction(0, instruction);
        if (in.kind() != InstructionKind::KernelCall) return false;
        OperatorView op = plan.op(uint32_t(in.callee()));
        return op.name() == cstr(name) && op.overload() == cstr(overload);
    }

    // Whether the method has only kernel and delegate calls (and frees): instruction order is
    // execution order.
    bool straight_line() const {
        const uint32_t n = n_instructions;
        for (uint32_t j = 0; j < n; ++j)
            if (!is_call(j) && plan.instruction(0, j).kind() != InstructionKind::FreeCall) return false;
        return true;
    }

    // Whether value v is an input or output of the method.
    bool is_io(int32_t v) const {
        for (uint32_t k = 0; k < plan.inputs().size(); ++k)
            if (plan.inputs()[k] == v) return true;
        for (uint32_t k = 0; k < plan.outputs().size(); ++k)
            if (plan.outputs()[k] == v) return true;
        return false;
    }

    // Whether no other tensor value's bytes overlap value v's.
    bool private_memory(int32_t v) const {
        const Tensor& t = values[v].tensor;
        const uint8_t *begin = t.data, *end = t.data + t.nbytes();
        for (uint32_t k = 0; k < n_values; ++k) {
            if (int32_t(k) == v || values[k].kind != ValueKind::Tensor) continue;
            const Tensor& o = values[k].tensor;
            if (o.data < end && o.data + o.nbytes() > begin) return false;
        }
        return true;
    }

    // Whether tensor value v (if it is a tensor) shares bytes with t.
    bool overlaps(int32_t v, const Tensor& t) const {
        if (values[v].kind != ValueKind::Tensor) return values[v].kind == ValueKind::TensorList;  // lists: be conservative
        const Tensor& o = values[v].tensor;
        return o.data < t.data + t.nbytes() && t.data < o.data + o.nbytes();
    }

    // Whether `hit` holds for a value instruction j writes.
    template <class Hit>
    bool written_args(uint32_t j, Hit&& hit) const {
        InstructionView in = plan.instruction(0, j);
        if (!is_call(j) || steps[j].kind == StepKind::skip) return false;
        fb::Vector<int32_t> a = in.call_args();
        uint32_t written = steps[j].delegate_outputs;
        if (in.kind() == InstructionKind::KernelCall) {
            const OpEntry* op = entries[in.callee()];
            if (op->fn == ops::copy_into && hit(a[0])) return true;
            written = uint32_t(op->written);
        }
        for (uint32_t k = a.size() - written; k < a.size(); ++k) {
            if (hit(a[k])) return true;
            const Value& arg = values[a[k]];
            for (uint32_t m = 0; m < arg.list_items.size(); ++m)
                if (arg.list_items[m] >= 0 && hit(arg.list_items[m])) return true;
        }
        return false;
    }

    // Whether instruction j writes value v: one of its kernel's written trailing arguments (or
    // an item of such a list), or copy_'s destination.
    bool writes(uint32_t j, int32_t v) const {
        return written_args(j, [v](int32_t w) { return w == v; });
    }

    // Whether instruction j writes any tensor sharing bytes with t.
    bool writes_into(uint32_t j, const Tensor& t) const {
        return written_args(j, [&](int32_t w) { return overlaps(w, t); });
    }

    // For every value, the first and the last instruction that runs with it as an argument
    // (directly or in a list); first is the instruction count when none does. A linear layer's
    // transposed weight is named but never read, nor is a folded copy's input (it reads the
    // source instead).
    void find_uses() {
        const uint32_t n = n_instructions;
        for (uint32_t v = 0; v < n_values; ++v) uses[v] = {n, 0};
        auto use = [&](int32_t v, uint32_t j) {
            if (uses[v].first == n) uses[v].first = j;
            uses[v].last = j;
        };
        for (uint32_t j = 0; j < n; ++j) {
            InstructionView in = plan.instruction(0, j);
            if (!is_call(j) || steps[j].kind == StepKind::skip) continue;
            fb::Vector<int32_t> a = in.call_args();
            if (steps[j].kind == StepKind::folded_copy) use(steps[j].source, j);
            for (uint32_t k = 0; k < a.size(); ++k) {
                if ((steps[j].kind == StepKind::linear && k == 1) || (steps[j].kind == StepKind::folded_copy && k == 0)) continue;
                use(a[k], j);
                const Value& arg = values[a[k]];
                for (uint32_t m = 0; m < arg.list_items.size(); ++m)
                    if (arg.list_items[m] >= 0) use(arg.list_items[m], j);
            }
        }
    }

    uint32_t first_use(int32_t v) const { return uses[v].first; }
    uint32_t last_use(int32_t v) const { return uses[v].last; }

    // Marks the tensors no instruction writes (see Tensor::view).
    void mark_views() {
        const uint32_t n = n_instructions;
        for (uint32_t v = 0; v < n_values; ++v)
            if (values[v].kind == ValueKind::Tensor) values[v].tensor.view = !values[v].tensor.constant && !is_io(int32_t(v));
        for (uint32_t j = 0; j < n; ++j)
            written_args(j, [&](int32_t w) {
                if (values[w].kind == ValueKind::Tensor) values[w].tensor.view = false;
                return false;
            });
    }

    // The tensor whose bytes view v reads: the one written last before v's first use, which
    // must contain v and whose bytes nothing else overwrites until v's last use; -1 otherwise.
    int32_t view_owner(int32_t v) const {
        const Tensor& t = values[v].tensor;
        const uint32_t first = first_use(v), last = last_use(v);
        for (uint32_t k = first; k-- > 0;) {
            int32_t owner = -1;
            int writers = 0;
            written_args(k, [&](int32_t w) {
                if (w != owner && overlaps(w, t)) {
                    ++writers;
                    owner = w;
                }
                return false;
            });
            if (writers == 0) continue;
            const Tensor& o = values[owner].tensor;
            if (writers != 1 || values[owner].kind != ValueKind::Tensor || t.data < o.data || t.data + t.nbytes() > o.data + o.nbytes())
                return -1;
            for (uint32_t j = k + 1; j <= last; ++j)
                if (writes_into(j, t)) return -1;
            return owner;
        }
        return -1;
    }

    static constexpr int max_views = 8;

    // Collects the views placed on `copy` (written by instruction i) and extends `last` to
    // their last use. False when a view overlapping `copy` cannot be attributed to one writer,
    // is an input or output of the method, or there are too many.
    bool find_views(int32_t copy, uint32_t i, int32_t* views, int& n_views, uint32_t& last) const {
        const Tensor& c = values[copy].tensor;
        for (uint32_t w = 0; w < n_values; ++w) {
            const Tensor& t = values[w].tensor;
            if (int32_t(w) == copy || values[w].kind != ValueKind::Tensor || !t.view || !overlaps(int32_t(w), c) ||
                first_use(int32_t(w)) == n_instructions)
                continue;
            if (is_io(int32_t(w))) return false;
            const int32_t owner = view_owner(int32_t(w));
            if (owner < 0) return false;
            if (owner != copy) continue;
            if (n_views == max_views || first_use(int32_t(w)) <= i) return false;
            views[n_views++] = int32_t(w);
            const uint32_t l = last_use(int32_t(w));
            if (l > last) last = l;
        }
        return true;
    }

    // Whether a view (mark_views) shares v's planned bytes: ExecuTorch emits reshapes of
    // planned tensors as such aliases, and rebinding v's memory would leave them behind, so
    // callers then keep v. Where uses are known (straight-line methods, after find_uses), views
    // never used or reading another tensor's bytes (the memory plan reuses bytes) do not count.
    bool has_views(int32_t v, bool uses_known) const {
        const uint32_t n = n_instructions;
        for (uint32_t k = 0; k < n_values; ++k) {
            if (int32_t(k) == v || values[k].kind != ValueKind::Tensor || !values[k].tensor.view || !overlaps(int32_t(k), values[v].tensor))
                continue;
            if (uses_known && first_use(int32_t(k)) == n) continue;
            const int32_t owner = uses_known ? view_owner(int32_t(k)) : -1;
            if (owner < 0 || owner == v) return true;
        }
        return false;
    }

    // Whether t's bytes hold state kept across calls: a tensor there (not a view) is read
    // before any instruction writes it, such as a KV cache buffer.
    bool holds_state(const Tensor& t) const {
        for (uint32_t v = 0; v < n_values; ++v) {
            if (values[v].kind != ValueKind::Tensor || values[v].tensor.view || !overlaps(int32_t(v), t)) continue;
            const uint32_t first = first_use(int32_t(v));
            if (first < n_instructions && !writes(first, int32_t(v))) return true;
        }
        return false;
    }

    // Whether instruction i copies its input with strides (copy_dims says how).
    bool strided_copy_op(uint32_t i) const { return is_op(i, "aten::expand_copy", "out") || is_op(i, "aten::permute_copy", "out"); }

    // For each output dimension of copy i, the input dimension it reads, or -1 where it
    // broadcasts (a new or size-1 input dimension). False if the copy's shapes do not fit.
    bool copy_dims(uint32_t i, int* from) const {
        fb::Vector<int32_t> args = plan.instruction(0, i).call_args();
        const Tensor &in = values[args[0]].tensor, &out = values[args[args.size() - 1]].tensor;
        if (in.type != out.type) return false;
        if (is_op(i, "aten::expand_copy", "out")) {
            if (in.dim > out.dim) return false;
            for (int d = 0; d < out.dim; ++d) {
                const int j = d - (out.dim - in.dim);
                from[d] = j < 0 || (in.sizes[j] == 1 && out.sizes[d] != 1) ? -1 : j;
                if (from[d] >= 0 && in.sizes[j] != out.sizes[d]) return false;
            }
            return true;
        }
        const Value& dims = values[args[1]];
        if (dims.int_items.size() != uint32_t(in.dim) || out.dim != in.dim) return false;
        bool used[max_runtime_dims] = {};
        for (int d = 0; d < out.dim; ++d) {
            int64_t source = values[dims.int_items[uint32_t(d)]].i;
            if (!wrap_dim(source, in.dim) || used[source] || out.sizes[d] != in.sizes[source]) return false;
            used[source] = true;
            from[d] = int(source);
        }
        return true;
    }
};

} // namespace tinyllm::pte
