// Runs one method (execution plan) of an ExecuTorch program: binds every value to memory as
// the program's own memory plan says, checks at load that every operator exists and every
// call has the argument kinds its kernel expects, plans the chain (planner.hpp), then
// executes it.
//
// Memory comes from the caller's arena: the planned buffers (zeroed at init and kept across
// execute() calls, so a KV cache persists), the value table, and storage for tensors the plan
// leaves unplaced (inputs). Constants are zero-copy views into the program file.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/weights.hpp"
#include "tinyllm/pte/binding.hpp"
#include "tinyllm/pte/planner.hpp"
#include "tinyllm/pte/xnnpack_delegate.hpp"

// Programs' linear layers compute with f32 rows, their 16-bit copies and int8/int4 groupwise codes.
static_assert(tinyllm::weight_type_built(tinyllm::GgmlType::F32) && tinyllm::weight_type_built(tinyllm::GgmlType::F16) &&
                  tinyllm::weight_type_built(tinyllm::GgmlType::BF16) &&
                  tinyllm::weight_type_built(tinyllm::GgmlType::TINYLLM_INT8) &&
                  tinyllm::weight_type_built(tinyllm::GgmlType::TINYLLM_INT4),
              ".pte programs need F32, F16, BF16, TINYLLM_INT8 and TINYLLM_INT4 in TINYLLM_WEIGHT_TYPES "
              "(or a build without .pte support: TINYLLM_WITH_PTE=0)");

namespace tinyllm::pte {

class Method {
public:
    // Arena bytes init() needs for method `name` (an upper bound that includes alignment).
    static Result<size_t> required_bytes(const Program& program, StrView name, const MethodOptions& options = {}) {
        const PlanView plan = program.find_plan(name);
        if (!plan.t.valid()) return missing_method(program, name);
        const uint64_t limit = uint64_t(SIZE_MAX) - 64;
        uint64_t total = 0;
        Method m;
        const bool fits = m.carve(footprint(program, plan, options), [&](auto*&, uint64_t count, size_t elem_size) {
            const uint64_t start = (total + 63) / 64 * 64;
            if (start > limit || count > (limit - start) / elem_size) return false;
            total = start + count * elem_size;
            return true;
        });
        if (!fits) return Status::fail(Error::out_of_memory, "pte: method needs more memory than this machine addresses");
        return size_t(total + 64);  // the arena may start init off a 64-byte boundary
    }

    Status init(const Program& program, StrView name, Arena& arena, const ExternalData& external = {}, const MethodOptions& options = {}) {
        chain_ = Chain();
        chain_.plan = program.find_plan(name);
        if (!chain_.plan.t.valid()) return missing_method(program, name);
        if (Status s = check_calls(chain_.plan); !s) return s;
        const Footprint f = footprint(program, chain_.plan, options);
        if (f.n_buffers > TensorMemory::max_buffers)
            return Status::fail(Error::unsupported_type, "pte: ", f.n_buffers, " memory arenas (at most 4 supported)");
        memory_ = TensorMemory();
        const bool carved = carve(f, [&](auto*& ptr, uint64_t count, size_t elem_size) {
            ptr = count <= SIZE_MAX / elem_size ? static_cast<decltype(+ptr)>(arena.allocate(size_t(count * elem_size))) : nullptr;
            return ptr != nullptr;
        });
        if (!carved) return out_of_memory(arena);

        chain_.n_values = f.n_values;
        for (uint32_t o = 0; o < f.n_operators; ++o) chain_.entries[o] = find_op(chain_.plan.op(o).name(), chain_.plan.op(o).overload());
        memory_.n_buffers = f.n_buffers;
        for (uint32_t k = 0; k < f.n_buffers; ++k) {
            memory_.buffer_size[k] = f.buffer_size[k];
            __builtin_memset(memory_.buffers[k], 0, size_t(f.buffer_size[k]));
        }
        memory_.unplaced_size = f.unplaced_bytes;
        __builtin_memset(memory_.unplaced, 0, size_t(f.unplaced_bytes));
        Binder binder(program, chain_.plan, chain_.values, memory_, external);
        for (uint32_t v = 0; v < f.n_values; ++v) {
            chain_.values[v] = Value();
            if (Status s = binder.bind_value(v); !s) return s;
        }
        for (uint32_t i = 0; i < f.n_instructions; ++i) chain_.steps[i] = decode_step(chain_.plan, i);
        if (Status s = init_delegates(program, f); !s) return s;
        chain_.n_instructions = f.n_instructions;  // only now: steps exist to run
        halves_.left = f.narrow_elems;
        folds_.left = f.n_strided_copies;
        plan_method(chain_, options, halves_, folds_);
        // The pool counts every float matrix, the copies only linear layers' exact ones; they
        // fill it from the front.
        arena.reset_to(arena.used() - size_t(halves_.left) * sizeof(uint16_t));
        return Status();
    }

    StrView name() const { return chain_.plan.name(); }

    // How many products run as linear layers on the stored weights (plan_linear_layers).
    uint32_t linear_layers() const {
        uint32_t linear = 0;
        for (uint32_t i = 0; i < chain_.n_instructions; ++i) linear += chain_.steps[i].kind == StepKind::linear;
        return linear;
    }

    // How many linear layers read 16-bit copies of their weights (MethodOptions).
    uint32_t narrowed_linear_layers() const {
        uint32_t narrowed = 0;
        for (uint32_t i = 0; i < chain_.n_instructions; ++i) narrowed += chain_.steps[i].half_rows != nullptr;
        return narrowed;
    }

    // How many instructions load-time planning removed: transposes folded into linear layers,
    // copies whose tensors share memory with their inputs, copies folded into the next copy.
    uint32_t skipped_instructions() const {
        uint32_t skipped = 0;
        for (uint32_t i = 0; i < chain_.n_instructions; ++i) skipped += chain_.steps[i].kind == StepKind::skip;
        return skipped;
    }
    const PlanView& plan() const { return chain_.plan; }

    uint32_t input_count() const { return chain_.plan.inputs().size(); }
    uint32_t output_count() const { return chain_.plan.outputs().size(); }
    Value& input(uint32_t i) { return chain_.values[chain_.plan.inputs()[i]]; }
    const Value& output(uint32_t i) const { return chain_.values[chain_.plan.outputs()[i]]; }
    // The memory that persists between calls (the planned buffers and unplaced tensors): what
    // a program keeps, such as its KV cache, lives here.
    TensorMemory& memory() { return memory_; }
    const TensorMemory& memory() const { return memory_; }

    // Copies data of the given type and shape into input i (which must have that static shape).
    Status set_input(uint32_t i, ScalarType type, const void* data, const int64_t* sizes, int dim) {
        if (i >= input_count()) return Status::fail(Error::invalid_argument, "pte: input ", i, " of ", input_count());
        Value& v = input(i);
        if (!v.is_tensor()) return Status::fail(Error::invalid_argument, "pte: input ", i, " is a ", value_kind_name(v.kind), ", not a tensor");
        Tensor& t = v.tensor;
        bool same = t.type == type && t.dim == dim;
        for (int d = 0; same && d < dim; ++d) same = t.sizes[d] == sizes[d];
        if (!same) return Status::fail(Error::shape_mismatch, "pte: input ", i, " expects ", scalar_type_name(t.type), " of rank ", t.dim);
        __builtin_memcpy(t.data, data, t.nbytes());
        return Status();
    }

    Status execute() {
        const uint32_t n = chain_.n_instructions;
        Value* values = chain_.values;
        for (uint32_t pc = 0; pc < n;) {
            const Step& step = chain_.steps[pc];
            ++pc;
            switch (step.instruction) {
            case InstructionKind::KernelCall: {
                if (step.kind == StepKind::skip) break;
                OpCall call{values, step.args};
                Status s = step.kind == StepKind::linear        ? linear(call.t(0), step, call.out())
                           : step.kind == StepKind::folded_copy ? folded_copy(step, call.out())
                                                                : chain_.entries[step.first]->fn(call);
                if (!s) return with_context(s, pc - 1);
                break;
            }
            case InstructionKind::DelegateCall: {
                if (step.kind == StepKind::skip) break;
                if (Status s = delegates_[step.first].execute(values, step.args); !s) return with_context(s, pc - 1);
                break;
            }
            case InstructionKind::MoveCall: values[step.second] = values[step.first]; break;
            case InstructionKind::JumpFalseCall: {
                const Value& cond = values[step.first];
                bool truth = cond.kind == ValueKind::Bool ? cond.b : cond.is_tensor() && cond.tensor.numel() == 1 && load_element(cond.tensor, 0) != 0;
                if (!truth) pc = uint32_t(step.second);
                break;
            }
            case InstructionKind::FreeCall: break;  // planned memory is never returned mid-run
            default: return Status::fail(Error::unsupported_op, "pte: instruction ", pc - 1, " cannot run");
            }
        }
        return Status();
    }

private:
    // What init takes from the arena, counted from the plan alone (before any value is bound).
    struct Footprint {
        uint32_t n_values = 0, n_operators = 0, n_instructions = 0, n_buffers = 0;
        uint64_t buffer_size[TensorMemory::max_buffers] = {};
        uint64_t unplaced_bytes = 0;    // unplaced_room of every unplaced tensor
        uint32_t n_strided_copies = 0;  // the most copies fold_copy_chains can fold
        uint64_t narrow_elems = 0;      // narrowed_elems of every weight narrowing may copy
        uint32_t n_delegates = 0;
        uint64_t delegate_bytes = 0;    // the delegates' tables and repacked filters
        uint64_t delegate_scratch = 0;  // the most scratch one delegate uses (they run one at a time)
    };

    static Footprint footprint(const Program& program, const PlanView& plan, const MethodOptions& options) {
        Footprint f;
        f.n_delegates = plan.delegate_count();
        for (uint32_t d = 0; d < f.n_delegates; ++d) {
            if (!runnable_delegate(plan.delegate(d))) continue;
            Result<xnnpack::Payload> payload = xnnpack::open_payload(program.delegate_data(plan.delegate(d)));
            if (!payload) continue;  // init reports it
            const XnnFootprint x = measure_delegate(*payload);
            f.delegate_bytes = saturating_add(f.delegate_bytes, XnnpackDelegate::arena_bytes(x));
            f.delegate_scratch = x.scratch_bytes > f.delegate_scratch ? x.scratch_bytes : f.delegate_scratch;
        }
        f.n_values = plan.value_count();
        f.n_operators = plan.operator_count();
        Chain chain;
        chain.plan = plan;
        chain.n_instructions = f.n_instructions = plan.chain_count() ? plan.instruction_count(0) : 0;
        for (uint32_t i = 0; i < f.n_instructions; ++i) f.n_strided_copies += chain.strided_copy_op(i);
        fb::Vector<int64_t> sizes = plan.non_const_buffer_sizes();
        f.n_buffers = sizes.size() > 0 ? sizes.size() - 1 : 0;  // entry 0 is reserved
        for (uint32_t k = 0; k < f.n_buffers && k < TensorMemory::max_buffers; ++k) f.buffer_size[k] = uint64_t(sizes[k + 1]);
        for (uint32_t v = 0; v < f.n_values; ++v) {
            EValueView ev = plan.value(v);
            if (ev.kind() != ValueKind::Tensor) continue;
            TensorView t = ev.as_tensor();
            if (unplaced(t)) f.unplaced_bytes += unplaced_room(t.nbytes());
            if (options.narrow_exact_weights && may_narrow(t)) f.narrow_elems += narrowed_elems(t.numel());
        }
        return f;
    }

    // Every block init takes from the arena, in one list that both sizes (required_bytes) and
    // allocates (init): alloc(pointer, count, element size) returns false when it cannot. The
    // narrowing pool comes last, so init can give back the part narrowing left unused.
    template <class Alloc>
    bool carve(const Footprint& f, Alloc&& alloc) {
        bool ok = alloc(chain_.values, f.n_values, sizeof(Value)) && alloc(chain_.entries, f.n_operators, sizeof(const OpEntry*)) &&
                  alloc(chain_.uses, f.n_values, sizeof(Uses)) && alloc(chain_.steps, f.n_instructions, sizeof(Step)) &&
                  alloc(memory_.unplaced, f.unplaced_bytes, 1) && alloc(folds_.next, f.n_strided_copies, sizeof(FoldedCopy)) &&
                  alloc(delegates_, f.n_delegates, sizeof(XnnpackDelegate)) && alloc(delegate_memory_, f.delegate_bytes, 1) &&
                  alloc(delegate_scratch_, f.delegate_scratch, 1);
        for (uint32_t k = 0; ok && k < f.n_buffers && k < TensorMemory::max_buffers; ++k) ok = alloc(memory_.buffers[k], f.buffer_size[k], 1);
        return ok && alloc(halves_.next, f.narrow_elems, sizeof(uint16_t));
    }

    // out [M,N] = x [M,K] . w [N,K]^T by the core's matrix product (core/weights.hpp): each
    // element one dot product, whatever the thread count.
    Status linear(const Tensor& x, const Step& step, const Tensor& out) const {
        if (x.type != ScalarType::Float || out.type != ScalarType::Float || x.dim != 2 || out.dim != 2 || x.sizes[1] != step.cols ||
            out.sizes[0] != x.sizes[0] || out.sizes[1] != step.rows)
            return shape_error("aten::mm", "operands are not [m,k] x [k,n] -> [m,n]");
        if (out.constant) return Status::fail(Error::invalid_argument, "aten::mm: output is a constant of the program");
        GroupwiseMatrix separate;
        const WeightView weight = linear_weight(chain_.values, step, separate);
        MatmulInput in;  // no activation scratch: every linear_weight view reads float activations
        in.x = x.as<float>();
        in.n_tokens = int(x.sizes[0]);
        in.cols = int(x.sizes[1]);
        matmul(weight, in, out.as<float>(), step.rows);
        return Status();
    }

    // Loads the delegates the method runs (XnnpackBackend) and checks each call's arguments
    // against its delegate's graph.
    Status init_delegates(const Program& program, const Footprint& f) {
        Arena memory(delegate_memory_, size_t(f.delegate_bytes));
        for (uint32_t d = 0; d < f.n_delegates; ++d) {
            delegates_[d] = XnnpackDelegate();
            const DelegateView del = chain_.plan.delegate(d);
            if (!runnable_delegate(del)) continue;
            if (Status s = delegates_[d].init(program, program.delegate_data(del), d, memory, delegate_scratch_, f.delegate_scratch); !s) return s;
        }
        for (uint32_t i = 0; i < f.n_instructions; ++i) {
            Step& step = chain_.steps[i];
            if (step.instruction != InstructionKind::DelegateCall) continue;
            if (Status s = delegates_[step.first].check_call(chain_.values, step.args, step.delegate_outputs); !s) return with_context(s, i);
        }
        return Status();
    }

    Status folded_copy(const Step& step, const Tensor& out) const {
        const Tensor& source = chain_.values[step.source].tensor;
        strided_copy(out.data, source.data, source.element_size(), step.fold->dim, step.fold->sizes, step.fold->strides, 0);
        return Status();
    }

    // Names the methods there are, delegated ones first with the delegate each needs (a QNN
    // export's kv_forward and prefill_forward run on QnnBackend, which tinyllm does not have).
    static Status missing_method(const Program& program, StrView name) {
        Status s = Status::fail(Error::missing_key, "pte: no method '", name, "'; the program has");
        bool listed = false;
        for (int delegated = 1; delegated >= 0; --delegated)
            for (uint32_t i = 0; i < program.plan_count(); ++i) {
                const PlanView plan = program.plan(i);
                if ((plan.delegate_count() > 0) != bool(delegated)) continue;
                s = Status::fail(s.code, s.detail, listed ? ", " : " ", plan.name());
                if (delegated) s = Status::fail(s.code, s.detail, " (needs the ", plan.delegate(0).id(), " delegate)");
                listed = true;
            }
        return s;
    }

    static Status out_of_memory(const Arena& arena) {
        return Status::fail(Error::out_of_memory, "pte: arena of ", uint64_t(arena.capacity()), " bytes is too small (see Method::required_bytes)");
    }
    Status with_context(const Status& s, uint32_t pc) const {
        return Status::fail(s.code, s.detail, " (instruction ", pc, " of '", chain_.plan.name(), "')");
    }

    Chain chain_;
    TensorMemory memory_;
    HalfPool halves_;  // filled by init's planning
    FoldPool folds_;
    XnnpackDelegate* delegates_ = nullptr;  // one per delegate of the plan
    uint8_t* delegate_memory_ = nullptr;
    uint8_t* delegate_scratch_ = nullptr;
};

} // namespace tinyllm::pte
