// Binds a method's values to memory as its program's memory plan says: scalars and lists from
// the program, planned tensors in the method's buffers (with any stored initial value),
// constants as zero-copy views into the program file or its external data, and the tensors the
// plan leaves unplaced (inputs) in a block of their own. Also refuses, before any of that,
// methods this engine cannot run.
#pragma once
#include <stdint.h>

#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/pte/op_table.hpp"

namespace tinyllm::pte {

// Tensors stored outside the program (ExecuTorch's EXTERNAL location, usually a .ptd file),
// looked up by fully qualified name. find returns an empty span when it has no such tensor.
struct ExternalData {
    ByteSpan (*find)(void* context, StrView name) = nullptr;
    void* context = nullptr;
};

// Whether the memory plan leaves tensor t unplaced: neither planned nor a constant.
inline bool unplaced(TensorView t) { return !t.planned() && !t.external() && t.data_buffer_idx() == 0; }

// Bytes an unplaced tensor of `bytes` takes in its block: whole 64-byte lines, so each starts on one.
inline uint64_t unplaced_room(uint64_t bytes) { return (bytes + 63) / 64 * 64; }

// Where a method's tensors live (Method carves it from the arena).
struct TensorMemory {
    static constexpr uint32_t max_buffers = 4;
    uint8_t* buffers[max_buffers] = {};  // the plan's memory arenas (non_const_buffer_sizes 1..)
    uint64_t buffer_size[max_buffers] = {};
    uint32_t n_buffers = 0;
    uint8_t* unplaced = nullptr;  // the unplaced tensors, in value order
    uint64_t unplaced_size = 0, unplaced_used = 0;
};

// The delegate tinyllm runs itself (xnnpack_delegate.hpp); others are refused by name.
inline bool runnable_delegate(const DelegateView& d) { return d.id() == cstr("XnnpackBackend"); }

// Refuses, at load, methods that need a delegate or an operator we do not have, and calls
// whose argument kinds do not match their kernel's signature.
inline Status check_calls(const PlanView& plan) {
    const StrView method = plan.name();
    if (plan.chain_count() > 1) return Status::fail(Error::unsupported_op, "pte: method '", method, "' has ", plan.chain_count(), " chains");
    Status missing;
    for (uint32_t o = 0; o < plan.operator_count(); ++o) {
        OperatorView op = plan.op(o);
        if (find_op(op.name(), op.overload())) continue;
        if (missing.ok()) missing = Status::fail(Error::unsupported_op, "pte: method '", method, "' uses operators tinyllm does not implement:");
        missing = Status::fail(missing.code, missing.detail, " ", op.name(), ".", op.overload());
    }
    const uint32_t n = plan.chain_count() ? plan.instruction_count(0) : 0;
    for (uint32_t i = 0; i < n; ++i) {
        InstructionView in = plan.instruction(0, i);
        if (in.kind() == InstructionKind::DelegateCall && !runnable_delegate(plan.delegate(uint32_t(in.callee())))) {
            DelegateView d = plan.delegate(uint32_t(in.callee()));
            return Status::fail(Error::unsupported_delegate, "pte: method '", method, "' is delegated to backend '", d.id(),
                                "', which tinyllm cannot run");
        }
    }
    if (!missing.ok()) return missing;
    for (uint32_t i = 0; i < n; ++i) {
        InstructionView in = plan.instruction(0, i);
        if (in.kind() != InstructionKind::KernelCall) continue;
        OperatorView op = plan.op(uint32_t(in.callee()));
        const OpEntry* entry = find_op(op.name(), op.overload());
        fb::Vector<int32_t> args = in.call_args();
        StrView sig = cstr(entry->signature);
        if (args.size() != sig.size())
            return Status::fail(Error::invalid_argument, "pte: instruction ", i, " calls ", op.name(), " with ", args.size(),
                                " arguments; its kernel takes ", uint64_t(sig.size()));
        for (uint32_t k = 0; k < args.size(); ++k) {
            ValueKind kind = plan.value(uint32_t(args[k])).kind();
            if (!kind_matches(sig[k], kind))
                return Status::fail(Error::invalid_argument, "pte: instruction ", i, " passes a ", value_kind_name(kind), " as argument ", k,
                                    " of ", op.name());
        }
        // The output (last argument) must be a tensor bound to writable memory: checked in bind.
    }
    return Status();
}

// Binds one value at a time (bind_value), every value in index order: the unplaced tensors
// then take the block's bytes in the order Method counted them.
class Binder {
public:
    Binder(const Program& program, const PlanView& plan, Value* values, TensorMemory& memory, const ExternalData& external)
        : program_(program), plan_(plan), values_(values), memory_(memory), external_(external) {}

    Status bind_value(uint32_t index) {
        EValueView ev = plan_.value(index);
        Value& v = values_[index];
        v.kind = ev.kind();
        switch (v.kind) {
        case ValueKind::Int: v.i = ev.as_int(); break;
        case ValueKind::Bool: v.b = ev.as_bool(); break;
        case ValueKind::Double: v.d = ev.as_double(); break;
        case ValueKind::String: v.s = ev.as_string(); break;
        case ValueKind::IntList: v.int_items = ev.int_list(); break;
        case ValueKind::DoubleList: v.double_items = ev.double_list(); break;
        case ValueKind::BoolList: v.bool_items = ev.bool_list(); break;
        case ValueKind::TensorList:
        case ValueKind::OptionalTensorList: v.list_items = ev.index_list(); break;
        case ValueKind::Tensor: return bind_tensor(index, ev.as_tensor());
        default: break;
        }
        // Int list items must name Int values (kernels read them without checking).
        for (uint32_t k = 0; k < v.int_items.size(); ++k)
            if (plan_.value(uint32_t(v.int_items[k])).kind() != ValueKind::Int)
                return Status::fail(Error::corrupt, "pte: int list ", index, " refers to a non-int value");
        for (uint32_t k = 0; k < v.list_items.size(); ++k) {
            int32_t item = v.list_items[k];
            ValueKind kind = item < 0 ? ValueKind::None : plan_.value(uint32_t(item)).kind();
            bool ok = kind == ValueKind::Tensor || (v.kind == ValueKind::OptionalTensorList && (kind == ValueKind::None || kind == ValueKind::Null));
            if (!ok) return Status::fail(Error::corrupt, "pte: tensor list ", index, " refers to a ", value_kind_name(kind));
        }
        return Status();
    }

private:
    Status bind_tensor(uint32_t index, TensorView tv) {
        Tensor& t = values_[index].tensor;
        t.type = tv.scalar_type();
        if (scalar_type_size(t.type) == 0)
            return Status::fail(Error::unknown_tensor_type, "pte: tensor ", index, " has unknown scalar type ", int(t.type));
        fb::Vector<int32_t> sizes = tv.sizes();
        if (sizes.size() > uint32_t(max_runtime_dims))
            return Status::fail(Error::bad_shape, "pte: tensor ", index, " has ", sizes.size(), " dimensions (at most 8 supported)");
        t.dim = int(sizes.size());
        for (int d = 0; d < t.dim; ++d) t.sizes[d] = sizes[uint32_t(d)];
        fb::Vector<uint8_t> order = tv.dim_order();
        for (uint32_t d = 0; d < order.size(); ++d)
            if (order[d] != d) return Status::fail(Error::unsupported_type, "pte: tensor ", index, " uses a non-contiguous dim order");
        if (tv.shape_dynamism() == 2) return Status::fail(Error::unsupported_type, "pte: tensor ", index, " has an unbounded dynamic shape");
        const size_t bytes = t.nbytes();
        const uint32_t buffer_idx = tv.data_buffer_idx();

        if (tv.planned()) {
            uint32_t id = tv.memory_id();
            uint64_t offset = tv.memory_offset();
            if (id == 0 || id > memory_.n_buffers)
                return Status::fail(Error::corrupt, "pte: tensor ", index, " is planned in memory ", id, " of ", memory_.n_buffers);
            if (offset > memory_.buffer_size[id - 1] || bytes > memory_.buffer_size[id - 1] - offset)
                return Status::fail(Error::bad_offset, "pte: tensor ", index, " (", uint64_t(bytes), " bytes at ", offset, ") overruns memory ", id);
            t.data = memory_.buffers[id - 1] + offset;
            if (Status s = aligned(index, t); !s) return s;
            if (tv.external()) return copy_external(index, tv, t);
            if (buffer_idx != 0) return copy_initial_state(index, tv, t);
            return Status();
        }
        if (tv.external()) {
            ByteSpan data;
            if (Status s = find_external(index, tv, bytes, data); !s) return s;
            t.data = const_cast<uint8_t*>(data.data);
            t.constant = true;
            return aligned(index, t);
        }
        if (buffer_idx != 0) {
            if (buffer_idx >= program_.constant_count())
                return Status::fail(Error::corrupt, "pte: tensor ", index, " names constant ", buffer_idx, " of ", program_.constant_count());
            ByteSpan data = program_.constant(buffer_idx);
            if (data.size < bytes)
                return Status::fail(Error::truncated, "pte: constant of tensor ", index, " has ", uint64_t(data.size), " bytes, needs ", uint64_t(bytes));
            t.data = const_cast<uint8_t*>(data.data);  // never written: `constant` guards it
            t.constant = true;
            return aligned(index, t);
        }
        // Not placed by the plan: an input the caller fills, or a value a kernel writes.
        const uint64_t room = unplaced_room(bytes);
        if (room > memory_.unplaced_size - memory_.unplaced_used)
            return Status::fail(Error::corrupt, "pte: tensor ", index, " (", uint64_t(bytes), " bytes) outgrows the memory counted for it");
        t.data = memory_.unplaced + memory_.unplaced_used;
        memory_.unplaced_used += room;
        return Status();
    }

    Status aligned(uint32_t index, const Tensor& t) const {
        if (reinterpret_cast<uintptr_t>(t.data) % t.element_size() != 0)
            return Status::fail(Error::bad_alignment, "pte: data of tensor ", index, " is not aligned to its element size");
        return Status();
    }

    Status find_external(uint32_t index, TensorView tv, size_t bytes, ByteSpan& out) const {
        StrView fqn = tv.fully_qualified_name();
        out = external_.find ? external_.find(external_.context, fqn) : ByteSpan{};
        if (!out.data) return Status::fail(Error::missing_tensor, "pte: tensor ", index, " ('", fqn, "') is stored outside the program and was not supplied");
        if (out.size < bytes) return Status::fail(Error::truncated, "pte: external tensor '", fqn, "' has ", uint64_t(out.size), " bytes, needs ", uint64_t(bytes));
        return Status();
    }

    Status copy_external(uint32_t index, TensorView tv, Tensor& t) const {
        ByteSpan data;
        if (Status s = find_external(index, tv, t.nbytes(), data); !s) return s;
        __builtin_memcpy(t.data, data.data, t.nbytes());
        return Status();
    }

    // A planned tensor with a stored initial value (mutable_data_segments).
    Status copy_initial_state(uint32_t index, TensorView tv, Tensor& t) const {
        fb::Vector<uint32_t> segs = program_.root.vector<uint32_t>(field::program_mutable_data_segments);
        uint64_t which = tv.t.table(field::tensor_extra_info).scalar<uint64_t>(field::extra_mutable_segments_idx);
        fb::Table sub = fb::Table::element(segs, uint32_t(which < segs.size() ? which : segs.size()));
        fb::Vector<uint64_t> offsets = sub.vector<uint64_t>(field::subsegment_offsets);
        uint32_t seg = sub.scalar<uint32_t>(field::subsegment_index);
        uint32_t k = tv.data_buffer_idx();
        if (!sub.valid() || k >= offsets.size() || seg >= program_.segment_count())
            return Status::fail(Error::corrupt, "pte: initial value of tensor ", index, " is missing");
        ByteSpan s = program_.segment(seg);
        if (offsets[k] > s.size || t.nbytes() > s.size - offsets[k])
            return Status::fail(Error::truncated, "pte: initial value of tensor ", index, " overruns its segment");
        __builtin_memcpy(t.data, s.data + offsets[k], t.nbytes());
        return Status();
    }

    const Program& program_;
    PlanView plan_;
    Value* values_;
    TensorMemory& memory_;
    const ExternalData& external_;
};

} // namespace tinyllm::pte
