// Runs one method (execution plan) of an ExecuTorch program: binds every value to memory as
// the program's own memory plan says, checks at load that every operator exists and every
// call has the argument kinds its kernel expects, then executes the chain.
//
// Memory comes from the caller's arena: the planned buffers (zeroed at init and kept across
// execute() calls, so a KV cache persists), the value table, and storage for tensors the plan
// leaves unplaced (inputs). Constants are zero-copy views into the program file.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/kernels/dot_dispatch.hpp"
#include "tinyllm/pte/op_table.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/parallel.hpp"

namespace tinyllm::pte {

// Tensors stored outside the program (ExecuTorch's EXTERNAL location, usually a .ptd file),
// looked up by fully qualified name. find returns an empty span when it has no such tensor.
struct ExternalData {
    ByteSpan (*find)(void* context, StrView name) = nullptr;
    void* context = nullptr;
};

struct MethodOptions {
    // Linear layers whose f32 weights a 16-bit format holds exactly (exports of f16 or bf16
    // checkpoints) read an arena copy in that format: half the bytes per token, the same
    // results bit for bit. Costs arena memory of half those weights; off, weights stay
    // zero-copy views into the program.
    bool narrow_exact_weights = false;
};

class Method {
public:
    // Arena bytes init() needs for method `name` (an upper bound that includes alignment).
    static Result<size_t> required_bytes(const Program& program, StrView name, const MethodOptions& options = {}) {
        PlanView plan = program.find_plan(name);
        if (!plan.t.valid()) return missing_method(program, name);
        // init allocates each table with at least one entry.
        const uint64_t n_values = plan.value_count() ? plan.value_count() : 1, n_ops = plan.operator_count() ? plan.operator_count() : 1;
        uint64_t total = n_values * sizeof(Value) + 64;
        total += n_ops * sizeof(const OpEntry*) + 64;
        total += n_values * sizeof(Uses) + 64;
        const uint32_t n_instr = plan.chain_count() ? plan.instruction_count(0) : 0;
        total += uint64_t(n_instr ? n_instr : 1) * sizeof(Step) + 64;
        // fold_copy_chains: one FoldedCopy per strided copy at most.
        for (uint32_t i = 0; i < n_instr; ++i) {
            InstructionView in = plan.instruction(0, i);
            if (in.kind() != InstructionKind::KernelCall) continue;
            OperatorView op = plan.op(uint32_t(in.callee()));
            if (op.name() == cstr("aten::expand_copy") || op.name() == cstr("aten::permute_copy")) total += sizeof(FoldedCopy) + 64;
        }
        fb::Vector<int64_t> buffers = plan.non_const_buffer_sizes();
        for (uint32_t k = 1; k < buffers.size(); ++k) total += uint64_t(buffers[k]) + 64;
        for (uint32_t v = 0; v < plan.value_count(); ++v) {
            EValueView ev = plan.value(v);
            if (ev.kind() != ValueKind::Tensor) continue;
            TensorView t = ev.as_tensor();
            if (!t.planned() && t.data_buffer_idx() == 0 && !t.external()) total += t.nbytes() + 64;
            const bool constant = !t.planned() && (t.data_buffer_idx() != 0 || t.external());
            if (options.narrow_exact_weights && constant && t.scalar_type() == ScalarType::Float && t.sizes().size() == 2)
                total += t.nbytes() / 2 + 64;
        }
        if (total > SIZE_MAX) return Status::fail(Error::out_of_memory, "pte: method needs more memory than this machine addresses");
        return size_t(total);
    }

    Status init(const Program& program, StrView name, Arena& arena, const ExternalData& external = {}, const MethodOptions& options = {}) {
        program_ = &program;
        plan_ = program.find_plan(name);
        if (!plan_.t.valid()) return missing_method(program, name);
        if (Status s = check_calls(); !s) return s;
        n_values_ = plan_.value_count();
        values_ = arena.allocate_array<Value>(n_values_ ? n_values_ : 1);
        ops_ = arena.allocate_array<const OpEntry*>(plan_.operator_count() ? plan_.operator_count() : 1);
        uses_ = arena.allocate_array<Uses>(n_values_ ? n_values_ : 1);
        if (!values_ || !ops_ || !uses_) return out_of_memory(arena);
        for (uint32_t o = 0; o < plan_.operator_count(); ++o) ops_[o] = find_op(plan_.op(o).name(), plan_.op(o).overload());

        fb::Vector<int64_t> sizes = plan_.non_const_buffer_sizes();
        n_buffers_ = sizes.size() > 0 ? sizes.size() - 1 : 0;
        if (n_buffers_ > max_buffers) return Status::fail(Error::unsupported_type, "pte: ", n_buffers_, " memory arenas (at most 4 supported)");
        for (uint32_t k = 0; k < n_buffers_; ++k) {
            buffer_size_[k] = uint64_t(sizes[k + 1]);
            buffers_[k] = static_cast<uint8_t*>(arena.allocate(size_t(buffer_size_[k]) ? size_t(buffer_size_[k]) : 1));
            if (!buffers_[k]) return out_of_memory(arena);
            __builtin_memset(buffers_[k], 0, size_t(buffer_size_[k]));
        }
        for (uint32_t v = 0; v < n_values_; ++v) {
            values_[v] = Value();
            if (Status s = bind_value(v, arena, external); !s) return s;
        }
        const uint32_t n_instr = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        steps_ = arena.allocate_array<Step>(n_instr ? n_instr : 1);
        if (!steps_) return out_of_memory(arena);
        for (uint32_t i = 0; i < n_instr; ++i) {
            InstructionView in = plan_.instruction(0, i);
            steps_[i] = Step();
            Step& step = steps_[i];
            step.instruction = in.kind();
            if (in.kind() == InstructionKind::KernelCall) {
                step.first = in.callee();
                step.args = in.call_args();
            } else if (in.kind() == InstructionKind::MoveCall || in.kind() == InstructionKind::JumpFalseCall) {
                step.first = in.first();
                step.second = in.second();
            }
        }
        alias_buffer_updates();
        plan_linear_layers();
        if (options.narrow_exact_weights)
            if (Status s = narrow_linear_weights(arena); !s) return s;
        alias_byte_copies();
        return fold_copy_chains(arena);
    }

    StrView name() const { return plan_.name(); }

    // How many linear layers read 16-bit copies of their weights (MethodOptions).
    uint32_t narrowed_linear_layers() const {
        uint32_t narrowed = 0;
        for (uint32_t i = 0; plan_.chain_count() && i < plan_.instruction_count(0); ++i) narrowed += steps_[i].half_rows != nullptr;
        return narrowed;
    }

    // How many instructions load-time planning removed: transposes folded into linear layers,
    // copies whose tensors share memory with their inputs, copies folded into the next copy.
    uint32_t skipped_instructions() const {
        uint32_t skipped = 0;
        for (uint32_t i = 0; plan_.chain_count() && i < plan_.instruction_count(0); ++i) skipped += steps_[i].kind == StepKind::skip;
        return skipped;
    }
    const PlanView& plan() const { return plan_; }

    uint32_t input_count() const { return plan_.inputs().size(); }
    uint32_t output_count() const { return plan_.outputs().size(); }
    Value& input(uint32_t i) { return values_[plan_.inputs()[i]]; }
    const Value& output(uint32_t i) const { return values_[plan_.outputs()[i]]; }

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
        if (plan_.chain_count() == 0) return Status();
        const uint32_t n = plan_.instruction_count(0);
        for (uint32_t pc = 0; pc < n;) {
            const Step& step = steps_[pc];
            ++pc;
            switch (step.instruction) {
            case InstructionKind::KernelCall: {
                if (step.kind == StepKind::skip) break;
                OpCall call{values_, step.args};
                Status s = step.kind == StepKind::linear        ? linear(call.t(0), step, call.out())
                           : step.kind == StepKind::folded_copy ? folded_copy(step, call.out())
                                                                : ops_[step.first]->fn(call);
                if (!s) return with_context(s, pc - 1);
                break;
            }
            case InstructionKind::MoveCall: values_[step.second] = values_[step.first]; break;
            case InstructionKind::JumpFalseCall: {
                const Value& cond = values_[step.first];
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
    static constexpr uint32_t max_buffers = 4;

    // How an instruction runs: as its kernel, not at all, as a linear layer, or as a copy read
    // from an earlier copy's input; with the instruction's fields decoded once at load rather
    // than from the flatbuffer on every call.
    enum class StepKind : uint8_t { kernel, skip, linear, folded_copy };
    // A copy reading another copy's input directly (fold_copy_chains): the output, in
    // row-major order over `sizes`, takes the element at sum(index * strides) of the source.
    struct FoldedCopy {
        int dim = 0;
        int64_t sizes[max_runtime_dims] = {}, strides[max_runtime_dims] = {};
    };
    struct Step {
        StepKind kind = StepKind::kernel;
        InstructionKind instruction = InstructionKind::None;
        int32_t first = 0, second = 0;  // KernelCall: callee; MoveCall: from, to; JumpFalseCall: cond, target
        fb::Vector<int32_t> args;       // KernelCall arguments
        // linear: the constant weight [N,K] (float32, or int8 codes with optional per-group
        // scale and zero point [N, K/group]).
        int32_t weight = -1, scale = -1, zero = -1;
        int64_t group = 0;
        // A float weight's exact 16-bit copy, and the dot that reads it (narrow_linear_weights).
        const uint16_t* half_rows = nullptr;
        DotHalfF32 half_dot = nullptr;
        // folded_copy: the tensor read and how.
        int32_t source = -1;
        const FoldedCopy* fold = nullptr;
    };

    // The one instruction that reads value v, or -1 (several readers, or a method output).
    int32_t sole_reader(int32_t v, uint32_t producer) const {
        for (uint32_t k = 0; k < plan_.outputs().size(); ++k)
            if (plan_.outputs()[k] == v) return -1;
        const uint32_t n = plan_.instruction_count(0);
        int32_t reader = -1;
        for (uint32_t j = 0; j < n; ++j) {
            InstructionView in = plan_.instruction(0, j);
            if (j == producer || in.kind() != InstructionKind::KernelCall) continue;
            fb::Vector<int32_t> args = in.call_args();
            for (uint32_t k = 0; k < args.size(); ++k)
                if (args[k] == v) {
                    if (reader != -1 && reader != int32_t(j)) return -1;
                    reader = int32_t(j);
                }
        }
        return reader > int32_t(producer) ? reader : -1;
    }

    bool is_op(uint32_t instruction, const char* name, const char* overload) const {
        InstructionView in = plan_.instruction(0, instruction);
        if (in.kind() != InstructionKind::KernelCall) return false;
        OperatorView op = plan_.op(uint32_t(in.callee()));
        return op.name() == cstr(name) && op.overload() == cstr(overload);
    }

    // Exports store nn.Linear weights as [out, in] and transpose them on every call
    // (permute_copy then mm), quantized ones after dequantizing them (torchao's
    // dequantize_affine, or _to_copy from int8). Where that chain feeds exactly one mm, run it
    // as one product against the stored rows: no dequantized or transposed copy per call.
    void plan_linear_layers() {
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        for (uint32_t i = 0; i < n; ++i) {
            if (!is_op(i, "aten::permute_copy", "out")) continue;
            fb::Vector<int32_t> pargs = plan_.instruction(0, i).call_args();
            const Value& dims = values_[pargs[1]];
            if (dims.int_items.size() != 2 || values_[dims.int_items[0]].i != 1 || values_[dims.int_items[1]].i != 0) continue;
            const int32_t mm = sole_reader(pargs[pargs.size() - 1], i);
            if (mm < 0 || !is_op(uint32_t(mm), "aten::mm", "out") || plan_.instruction(0, uint32_t(mm)).call_args()[1] != pargs[pargs.size() - 1])
                continue;
            Step linear = steps_[mm];
            linear.kind = StepKind::linear;
            int32_t source = -1;  // the dequantizing instruction, if any
            const Tensor& w = values_[pargs[0]].tensor;
            if (w.constant && w.type == ScalarType::Float && w.dim == 2) {
                linear.weight = pargs[0];
            } else {
                // The permuted tensor is produced by one earlier dequantizing call.
                for (uint32_t j = 0; j < i && source < 0; ++j) {
                    if (!is_op(j, "torchao::dequantize_affine", "out") && !is_op(j, "aten::_to_copy", "out")) continue;
                    fb::Vector<int32_t> a = plan_.instruction(0, j).call_args();
                    if (a[a.size() - 1] == pargs[0] && sole_reader(pargs[0], j) == int32_t(i)) source = int32_t(j);
                }
                if (source < 0 || !quantized_weight(uint32_t(source), linear)) continue;
                steps_[source].kind = StepKind::skip;
            }
            steps_[i].kind = StepKind::skip;
            steps_[mm] = linear;
        }
    }

    // Gives each float linear weight that bf16 or f16 holds exactly a copy in that format
    // (shared by the layers reading the same weight); the others keep reading f32.
    Status narrow_linear_weights(Arena& arena) {
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        for (uint32_t i = 0; i < n; ++i) {
            Step& step = steps_[i];
            if (step.kind != StepKind::linear || values_[step.weight].tensor.type != ScalarType::Float) continue;
            for (uint32_t j = 0; j < i && !step.half_rows; ++j)
                if (steps_[j].half_rows && steps_[j].weight == step.weight) {
                    step.half_rows = steps_[j].half_rows;
                    step.half_dot = steps_[j].half_dot;
                }
            if (step.half_rows) continue;
            const Tensor& w = values_[step.weight].tensor;
            const size_t mark = arena.used();
            uint16_t* rows = arena.allocate_array<uint16_t>(size_t(w.numel()));
            if (!rows) return out_of_memory(arena);
            const ExactHalf format = narrow_exactly(w.as<float>(), rows, w.numel());
            if (format == ExactHalf::none) {
                arena.reset_to(mark);
                continue;
            }
            step.half_rows = rows;
            step.half_dot = format == ExactHalf::bf16 ? best_dot_bf16_f32() : best_dot_f16_f32();
        }
        return Status();
    }

    // A mutable buffer (e.g. a KV cache) is updated functionally: out = index_put(buffer, ...)
    // writes a whole new copy, later readers use `out`, and copy_(buffer, out) writes it back at
    // the end; copy_ then returns the buffer as yet another tensor. Where the buffer is read by
    // nothing else and no other planned tensor shares its memory, `out` and copy_'s result are
    // bound to the buffer's own memory: index_put updates in place and both copies vanish
    // (the kernels skip copying a tensor onto itself). Results are unchanged.
    void alias_buffer_updates() {
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        const bool straight = straight_line();
        mark_views();
        if (straight) find_uses();
        for (uint32_t i = 0; i < n; ++i) {
            if (!is_op(i, "aten::index_put", "out")) continue;
            fb::Vector<int32_t> args = plan_.instruction(0, i).call_args();
            const int32_t buffer = args[0], out = args[args.size() - 1];
            Tensor &b = values_[buffer].tensor, &o = values_[out].tensor;
            if (b.constant || o.constant || !b.same_shape(o) || b.type != o.type || !private_memory(buffer) || is_io(buffer) || is_io(out))
                continue;
            // Every other reader of the buffer must be copy_(buffer, out, ...).
            bool only_write_back = true;
            for (uint32_t j = 0; j < n && only_write_back; ++j) {
                if (j == i || plan_.instruction(0, j).kind() != InstructionKind::KernelCall) continue;
                fb::Vector<int32_t> a = plan_.instruction(0, j).call_args();
                bool reads = false;
                for (uint32_t k = 0; k < a.size(); ++k) reads = reads || a[k] == buffer;
                if (reads) only_write_back = is_op(j, "aten::copy_", "") && a[0] == buffer && a[1] == out;
            }
            if (!only_write_back || has_views(out, straight)) continue;
            o.data = b.data;
            for (uint32_t j = 0; j < n; ++j)
                if (is_op(j, "aten::copy_", "") && plan_.instruction(0, j).call_args()[0] == buffer) {
                    const int32_t r = plan_.instruction(0, j).call_args()[3];
                    Tensor& result = values_[r].tensor;
                    if (result.same_shape(b) && result.type == b.type && !result.constant && !is_io(r) && !has_views(r, straight))
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
    void alias_byte_copies() {
        if (!straight_line()) return;
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        mark_views();
        find_uses();
        for (uint32_t i = 0; i < n; ++i) {
            if (plan_.instruction(0, i).kind() != InstructionKind::KernelCall || steps_[i].kind != StepKind::kernel || !copies_bytes(i))
                continue;
            fb::Vector<int32_t> args = plan_.instruction(0, i).call_args();
            const int32_t in = args[0], out = args[args.size() - 1];
            if (args[args.size() - 2] != out || is_io(out) || values_[out].tensor.constant) continue;
            if (bind_copy_to_input(i, in, out) || bind_input_to_copy(i, in, out)) steps_[i].kind = StepKind::skip;
        }
    }

    // The copy `out` of `in` (instruction i) reads in's bytes instead, if nothing overwrites
    // them (and nothing writes the copy) until the copy and its views are read for the last time.
    bool bind_copy_to_input(uint32_t i, int32_t in, int32_t out) {
        Tensor &source = values_[in].tensor, &copy = values_[out].tensor;
        int32_t views[max_views];
        int n_views = 0;
        uint32_t last = last_use(out);
        if (!find_views(out, i, views, n_views, last)) return false;
        for (uint32_t j = i + 1; j <= last; ++j)
            if (writes(j, out) || writes_into(j, source)) return false;
        for (int k = 0; k < n_views; ++k) rebind(values_[views[k]].tensor, copy, source);
        rebind(copy, copy, source);
        copy.view = true;
        return true;
    }

    // The input `in` of copy `out` (instruction i) is written into the copy's bytes instead, if
    // `in` has one producer that writes nothing else, holds no state kept across calls, and no
    // other tensor in the copy's bytes is used from that producer on until the last use of
    // either tensor or their views.
    bool bind_input_to_copy(uint32_t i, int32_t in, int32_t out) {
        Tensor &source = values_[in].tensor, &copy = values_[out].tensor;
        if (source.view) {
            // A view spanning all of its owner's bytes moves with the owner.
            const int32_t owner = view_owner(in);
            const bool whole = owner >= 0 && values_[owner].tensor.data == source.data && values_[owner].tensor.nbytes() == source.nbytes();
            return whole && bind_input_to_copy(i, owner, out);
        }
        if (is_io(in) || source.constant || holds_state(source)) return false;
        const uint32_t n = plan_.instruction_count(0);
        uint32_t producer = n;
        for (uint32_t j = 0; j < n; ++j) {
            if (!writes(j, in)) continue;
            if (producer != n || written_args(j, [in](int32_t w) { return w != in; })) return false;
            producer = j;
        }
        if (producer >= i) return false;
        int32_t views[max_views], copy_views[max_views];
        int n_views = 0, n_copy_views = 0;
        uint32_t last = last_use(in) > last_use(out) ? last_use(in) : last_use(out);
        if (!find_views(in, producer, views, n_views, last) || !find_views(out, i, copy_views, n_copy_views, last)) return false;
        for (uint32_t j = producer; j <= last; ++j) {
            if (j != producer && j != i && writes_into(j, copy)) return false;
            if (j >= i) continue;
            // Before the copy, only `in` and its views may be used in the copy's bytes, except
            // that an elementwise producer may read an input lying exactly there.
            InstructionView instruction = plan_.instruction(0, j);
            if (instruction.kind() != InstructionKind::KernelCall || steps_[j].kind == StepKind::skip) continue;
            fb::Vector<int32_t> a = instruction.call_args();
            for (uint32_t k = 0; k < a.size(); ++k) {
                bool moved = a[k] == in;
                for (int m = 0; m < n_views; ++m) moved = moved || a[k] == views[m];
                if (moved || !overlaps(a[k], copy)) continue;
                const Tensor& t = values_[a[k]].tensor;
                const bool in_place = j == producer && ops_[instruction.callee()]->elementwise && values_[a[k]].kind == ValueKind::Tensor &&
                                      t.data == copy.data && t.type == source.type && t.same_shape(source);
                if (!in_place) return false;
            }
        }
        for (int k = 0; k < n_views; ++k) rebind(values_[views[k]].tensor, source, copy);
        rebind(source, source, copy);
        copy.view = true;
        return true;
    }

    // Exports expand the KV cache for grouped-query attention and then copy the expansion
    // again (the keys transposed, the values once more where the memory plan needs it), so
    // each layer writes the cache out twice per token. Where a copy (expand_copy or
    // permute_copy) reads all of another copy's output and nothing else reads it, the second
    // reads the first's input directly, in one strided pass, and the first is skipped. Only
    // for straight-line methods, and only where the first's input keeps its bytes in between.
    Status fold_copy_chains(Arena& arena) {
        if (!straight_line()) return Status();
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        find_uses();
        for (uint32_t i = 0; i < n; ++i) {
            if (steps_[i].kind != StepKind::kernel || !strided_copy_op(i)) continue;
            fb::Vector<int32_t> args = plan_.instruction(0, i).call_args();
            const int32_t in = args[0];
            const int32_t first = values_[in].tensor.view ? view_owner(in) : in;
            if (first < 0) continue;
            const Tensor &input = values_[in].tensor, &middle = values_[first].tensor;
            if (input.data != middle.data || input.nbytes() != middle.nbytes() || input.type != middle.type) continue;
            int32_t producer = -1;  // the last instruction before i to write into middle's bytes
            for (uint32_t j = i; j-- > 0 && producer < 0;)
                if (writes_into(j, middle)) producer = int32_t(j);
            if (producer < 0 || !writes(uint32_t(producer), first) || steps_[producer].kind != StepKind::kernel ||
                !strided_copy_op(uint32_t(producer)))
                continue;
            fb::Vector<int32_t> pargs = plan_.instruction(0, uint32_t(producer)).call_args();
            if (pargs[pargs.size() - 1] != first || pargs[0] == first) continue;
            FoldedCopy fold;
            if (!only_read_by(first, uint32_t(producer), i) || !compose(uint32_t(producer), i, fold)) continue;
            const Tensor& source = values_[pargs[0]].tensor;
            bool kept = !overlaps(args[args.size() - 1], source);
            for (uint32_t j = uint32_t(producer) + 1; j < i && kept; ++j) kept = !writes_into(j, source);
            if (!kept) continue;
            FoldedCopy* stored = arena.allocate_array<FoldedCopy>(1);
            if (!stored) return out_of_memory(arena);
            *stored = fold;
            steps_[producer].kind = StepKind::skip;
            steps_[i].kind = StepKind::folded_copy;
            steps_[i].source = pargs[0];
            steps_[i].fold = stored;
            find_uses();
        }
        return Status();
    }

    bool strided_copy_op(uint32_t i) const { return is_op(i, "aten::expand_copy", "out") || is_op(i, "aten::permute_copy", "out"); }

    // For each output dimension of copy i, the input dimension it reads, or -1 where it
    // broadcasts (a new or size-1 input dimension). False if the copy's shapes do not fit.
    bool copy_dims(uint32_t i, int* from) const {
        fb::Vector<int32_t> args = plan_.instruction(0, i).call_args();
        const Tensor &in = values_[args[0]].tensor, &out = values_[args[args.size() - 1]].tensor;
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
        const Value& dims = values_[args[1]];
        if (dims.int_items.size() != uint32_t(in.dim) || out.dim != in.dim) return false;
        bool used[max_runtime_dims] = {};
        for (int d = 0; d < out.dim; ++d) {
            int64_t source = values_[dims.int_items[uint32_t(d)]].i;
            if (!wrap_dim(source, in.dim) || used[source] || out.sizes[d] != in.sizes[source]) return false;
            used[source] = true;
            from[d] = int(source);
        }
        return true;
    }

    // The strides of copy `second` read straight from copy `first`'s input, where second's
    // input is first's output reshaped by merging neighbouring dimensions (as GQA's view of an
    // expanded [.., kv_heads, group, ..] cache as [.., heads, ..] does).
    bool compose(uint32_t first, uint32_t second, FoldedCopy& fold) const {
        int from1[max_runtime_dims], from2[max_runtime_dims];
        if (!copy_dims(first, from1) || !copy_dims(second, from2)) return false;
        fb::Vector<int32_t> a1 = plan_.instruction(0, first).call_args(), a2 = plan_.instruction(0, second).call_args();
        const Tensor &source = values_[a1[0]].tensor, &mid = values_[a1[a1.size() - 1]].tensor;
        const Tensor &in2 = values_[a2[0]].tensor, &out2 = values_[a2[a2.size() - 1]].tensor;
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
    bool only_read_by(int32_t v, uint32_t writer, uint32_t reader) const {
        int32_t views[max_views + 1];
        int n_views = 0;
        uint32_t last = last_use(v);
        if (!find_views(v, writer, views, n_views, last)) return false;
        views[n_views++] = v;
        for (uint32_t j = 0; j < plan_.instruction_count(0); ++j) {
            if (j == writer || j == reader || plan_.instruction(0, j).kind() != InstructionKind::KernelCall || steps_[j].kind == StepKind::skip)
                continue;
            fb::Vector<int32_t> a = plan_.instruction(0, j).call_args();
            for (uint32_t k = 0; k < a.size(); ++k)
                for (int m = 0; m < n_views; ++m) {
                    if (a[k] == views[m]) return false;
                    const Value& arg = values_[a[k]];
                    for (uint32_t e = 0; e < arg.list_items.size(); ++e)
                        if (arg.list_items[e] == views[m]) return false;
                }
        }
        return true;
    }

    Status folded_copy(const Step& step, const Tensor& out) const {
        const Tensor& source = values_[step.source].tensor;
        strided_copy(out.data, source.data, source.element_size(), step.fold->dim, step.fold->sizes, step.fold->strides, 0);
        return Status();
    }

    // Moves t, which lies in `from`'s bytes, to the same place in `to`'s.
    static void rebind(Tensor& t, const Tensor& from, const Tensor& to) {
        t.data = to.data + (t.data - from.data);
        t.constant = to.constant;
    }

    // Whether t's bytes hold state kept across calls: a tensor there (not a view) is read
    // before any instruction writes it, such as a KV cache buffer.
    bool holds_state(const Tensor& t) const {
        for (uint32_t v = 0; v < n_values_; ++v) {
            if (values_[v].kind != ValueKind::Tensor || values_[v].tensor.view || !overlaps(int32_t(v), t)) continue;
            const uint32_t first = first_use(int32_t(v));
            if (first < plan_.instruction_count(0) && !writes(first, int32_t(v))) return true;
        }
        return false;
    }

    static constexpr int max_views = 8;

    // Collects the views placed on `copy` (written by instruction i) and extends `last` to
    // their last use. False when a view overlapping `copy` cannot be attributed to one writer,
    // is an input or output of the method, or there are too many.
    bool find_views(int32_t copy, uint32_t i, int32_t* views, int& n_views, uint32_t& last) const {
        const Tensor& c = values_[copy].tensor;
        for (uint32_t w = 0; w < n_values_; ++w) {
            const Tensor& t = values_[w].tensor;
            if (int32_t(w) == copy || values_[w].kind != ValueKind::Tensor || !t.view || !overlaps(int32_t(w), c) ||
                first_use(int32_t(w)) == plan_.instruction_count(0))
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

    // The tensor whose bytes view v reads: the one written last before v's first use, which
    // must contain v and whose bytes nothing else overwrites until v's last use; -1 otherwise.
    int32_t view_owner(int32_t v) const {
        const Tensor& t = values_[v].tensor;
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
            const Tensor& o = values_[owner].tensor;
            if (writers != 1 || values_[owner].kind != ValueKind::Tensor || t.data < o.data || t.data + t.nbytes() > o.data + o.nbytes())
                return -1;
            for (uint32_t j = k + 1; j <= last; ++j)
                if (writes_into(j, t)) return -1;
            return owner;
        }
        return -1;
    }

    // Marks the tensors no instruction writes (see Tensor::view).
    void mark_views() {
        const uint32_t n = plan_.instruction_count(0);
        for (uint32_t v = 0; v < n_values_; ++v)
            if (values_[v].kind == ValueKind::Tensor) values_[v].tensor.view = !values_[v].tensor.constant && !is_io(int32_t(v));
        for (uint32_t j = 0; j < n; ++j)
            written_args(j, [&](int32_t w) {
                if (values_[w].kind == ValueKind::Tensor) values_[w].tensor.view = false;
                return false;
            });
    }

    // Whether instruction i's output holds exactly the bytes of its first argument.
    bool copies_bytes(uint32_t i) const {
        fb::Vector<int32_t> args = plan_.instruction(0, i).call_args();
        const Tensor &in = values_[args[0]].tensor, &out = values_[args[args.size() - 1]].tensor;
        if (in.type != out.type || in.numel() != out.numel()) return false;
        if (is_op(i, "aten::clone", "out") || is_op(i, "aten::view_copy", "out") || is_op(i, "aten::alias_copy", "out") ||
            is_op(i, "aten::squeeze_copy", "dims_out") || is_op(i, "aten::unsqueeze_copy", "out"))
            return true;
        // An expansion keeping the element count, or a permutation keeping the order of the
        // dimensions larger than 1.
        int from[max_runtime_dims];
        if (!strided_copy_op(i) || !copy_dims(i, from)) return false;
        int previous = -1;  // the last source dimension of size > 1
        for (int d = 0; d < out.dim; ++d) {
            if (from[d] < 0 || in.sizes[from[d]] == 1) continue;
            if (from[d] < previous) return false;
            previous = from[d];
        }
        return true;
    }

    // For every value, the first and the last instruction that runs with it as an argument
    // (directly or in a list); first is the instruction count when none does. A linear layer's
    // transposed weight is named but never read, nor is a folded copy's input (it reads the
    // source instead).
    void find_uses() {
        const uint32_t n = plan_.instruction_count(0);
        for (uint32_t v = 0; v < n_values_; ++v) uses_[v] = {n, 0};
        auto use = [&](int32_t v, uint32_t j) {
            if (uses_[v].first == n) uses_[v].first = j;
            uses_[v].last = j;
        };
        for (uint32_t j = 0; j < n; ++j) {
            InstructionView in = plan_.instruction(0, j);
            if (in.kind() != InstructionKind::KernelCall || steps_[j].kind == StepKind::skip) continue;
            fb::Vector<int32_t> a = in.call_args();
            if (steps_[j].kind == StepKind::folded_copy) use(steps_[j].source, j);
            for (uint32_t k = 0; k < a.size(); ++k) {
                if ((steps_[j].kind == StepKind::linear && k == 1) || (steps_[j].kind == StepKind::folded_copy && k == 0)) continue;
                use(a[k], j);
                const Value& arg = values_[a[k]];
                for (uint32_t m = 0; m < arg.list_items.size(); ++m)
                    if (arg.list_items[m] >= 0) use(arg.list_items[m], j);
            }
        }
    }
    uint32_t first_use(int32_t v) const { return uses_[v].first; }
    uint32_t last_use(int32_t v) const { return uses_[v].last; }

    // Whether a view (mark_views) shares v's planned bytes: ExecuTorch emits reshapes of
    // planned tensors as such aliases, and rebinding v's memory would leave them behind, so
    // callers then keep v. Where uses are known (straight-line methods, after find_uses), views
    // never used or reading another tensor's bytes (the memory plan reuses bytes) do not count.
    bool has_views(int32_t v, bool uses_known) const {
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        for (uint32_t k = 0; k < n_values_; ++k) {
            if (int32_t(k) == v || values_[k].kind != ValueKind::Tensor || !values_[k].tensor.view || !overlaps(int32_t(k), values_[v].tensor))
                continue;
            if (uses_known && first_use(int32_t(k)) == n) continue;
            const int32_t owner = uses_known ? view_owner(int32_t(k)) : -1;
            if (owner < 0 || owner == v) return true;
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

    // Whether `hit` holds for a value instruction j writes.
    template <class Hit>
    bool written_args(uint32_t j, Hit&& hit) const {
        InstructionView in = plan_.instruction(0, j);
        if (in.kind() != InstructionKind::KernelCall || steps_[j].kind == StepKind::skip) return false;
        fb::Vector<int32_t> a = in.call_args();
        const OpEntry* op = ops_[in.callee()];
        if (op->fn == ops::copy_into && hit(a[0])) return true;
        for (uint32_t k = a.size() - uint32_t(op->written); k < a.size(); ++k) {
            if (hit(a[k])) return true;
            const Value& arg = values_[a[k]];
            for (uint32_t m = 0; m < arg.list_items.size(); ++m)
                if (arg.list_items[m] >= 0 && hit(arg.list_items[m])) return true;
        }
        return false;
    }

    // Whether tensor value v (if it is a tensor) shares bytes with t.
    bool overlaps(int32_t v, const Tensor& t) const {
        if (values_[v].kind != ValueKind::Tensor) return values_[v].kind == ValueKind::TensorList;  // lists: be conservative
        const Tensor& o = values_[v].tensor;
        return o.data < t.data + t.nbytes() && t.data < o.data + o.nbytes();
    }

    bool is_io(int32_t v) const {
        for (uint32_t k = 0; k < plan_.inputs().size(); ++k)
            if (plan_.inputs()[k] == v) return true;
        for (uint32_t k = 0; k < plan_.outputs().size(); ++k)
            if (plan_.outputs()[k] == v) return true;
        return false;
    }

    // Whether the method has only kernel calls (and frees): instruction order is execution order.
    bool straight_line() const {
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        for (uint32_t j = 0; j < n; ++j) {
            const InstructionKind kind = plan_.instruction(0, j).kind();
            if (kind != InstructionKind::KernelCall && kind != InstructionKind::FreeCall) return false;
        }
        return true;
    }

    // Whether no other tensor value's bytes overlap value v's.
    bool private_memory(int32_t v) const {
        const Tensor& t = values_[v].tensor;
        const uint8_t *begin = t.data, *end = t.data + t.nbytes();
        for (uint32_t k = 0; k < n_values_; ++k) {
            if (int32_t(k) == v || values_[k].kind != ValueKind::Tensor) continue;
            const Tensor& o = values_[k].tensor;
            if (o.data < end && o.data + o.nbytes() > begin) return false;
        }
        return true;
    }

    // Fills the weight of a linear step from a constant int8 dequantization: _to_copy (codes
    // only) or dequantize_affine with [1, G] blocks.
    bool quantized_weight(uint32_t instruction, Step& step) const {
        fb::Vector<int32_t> a = plan_.instruction(0, instruction).call_args();
        const Tensor& q = values_[a[0]].tensor;
        if (!q.constant || q.type != ScalarType::Char || q.dim != 2) return false;
        step.weight = a[0];
        step.group = q.sizes[1];
        if (is_op(instruction, "aten::_to_copy", "out")) return true;
        const Value& block = values_[a[1]];
        if (block.int_items.size() != 2 || values_[block.int_items[0]].i != 1) return false;
        step.group = values_[block.int_items[1]].i;
        const Tensor& scale = values_[a[2]].tensor;
        const int64_t groups = step.group > 0 ? (q.sizes[1] + step.group - 1) / step.group : 0;
        if (groups == 0 || !scale.constant || scale.type != ScalarType::Float || scale.numel() != q.sizes[0] * groups) return false;
        step.scale = a[2];
        const Value& zero = values_[a[3]];
        if (zero.is_tensor()) {
            if (!zero.tensor.constant || zero.tensor.type != ScalarType::Char || zero.tensor.numel() != scale.numel()) return false;
            step.zero = a[3];
        }
        return true;
    }

    // out [M,N] = x [M,K] . w [N,K]^T, each element one dot product (thread-count invariant).
    // Quantized rows: per group, sum (q - zero) * x, then scale the group's sum.
    Status linear(const Tensor& x, const Step& step, const Tensor& out) const {
        const Tensor& w = values_[step.weight].tensor;
        if (x.type != ScalarType::Float || out.type != ScalarType::Float || x.dim != 2 || out.dim != 2 || x.sizes[1] != w.sizes[1] ||
            out.sizes[0] != x.sizes[0] || out.sizes[1] != w.sizes[0])
            return shape_error("aten::mm", "operands are not [m,k] x [k,n] -> [m,n]");
        if (out.constant) return Status::fail(Error::invalid_argument, "aten::mm: output is a constant of the program");
        const int64_t m = x.sizes[0], k = x.sizes[1], n = w.sizes[0];
        const float* xs = x.as<float>();
        float* ys = out.as<float>();
        if (step.half_rows) {
            parallel_for(n, [&](int64_t j) {
                for (int64_t r = 0; r < m; ++r) ys[r * n + j] = step.half_dot(step.half_rows + j * k, xs + r * k, int(k));
            });
            return Status();
        }
        if (w.type == ScalarType::Float) {
            const auto dot = best_dot<TypeF32>();
            const auto* rows = reinterpret_cast<const TypeF32::Block*>(w.data);
            parallel_for(n, [&](int64_t j) {
                for (int64_t r = 0; r < m; ++r) ys[r * n + j] = dot(rows + j * k, xs + r * k, int(k));
            });
            return Status();
        }
        // int8 codes (ExecuTorch keeps int4 values one per byte too) with f32 group scales.
        GroupwiseMatrix gw;
        gw.layout.bits = 8;
        gw.layout.cols = k;
        gw.layout.group = step.group;
        gw.layout.scale_type = GroupScale::f32;
        gw.rows = n;
        gw.codes = w.data;
        gw.code_stride = k;
        gw.scales = step.scale >= 0 ? values_[step.scale].tensor.data : nullptr;
        gw.scale_stride = gw.layout.groups() * 4;
        gw.zeros = step.zero >= 0 ? values_[step.zero].tensor.as<int8_t>() : nullptr;
        gw.zero_stride = gw.layout.groups();
        const GroupwiseDotF32 dot = best_groupwise_dot_f32();
        parallel_for(n, [&](int64_t j) {
            for (int64_t r = 0; r < m; ++r) ys[r * n + j] = dot(gw.layout, gw.row(j), xs + r * k);
        });
        return Status();
    }

    static Status missing_method(const Program& program, StrView name) {
        Status s = Status::fail(Error::missing_key, "pte: no method '", name, "'; the program has:");
        for (uint32_t i = 0; i < program.plan_count(); ++i) s = append(s, " ", program.plan(i).name());
        return s;
    }
    static Status append(const Status& s, const char* sep, StrView text) {
        return Status::fail(s.code, s.detail, sep, text);
    }
    static Status out_of_memory(const Arena& arena) {
        return Status::fail(Error::out_of_memory, "pte: arena of ", uint64_t(arena.capacity()), " bytes is too small (see Method::required_bytes)");
    }
    Status with_context(const Status& s, uint32_t pc) const {
        return Status::fail(s.code, s.detail, " (instruction ", pc, " of '", plan_.name(), "')");
    }

    // Refuses, at load, methods that need a delegate or an operator we do not have, and calls
    // whose argument kinds do not match their kernel's signature.
    Status check_calls() const {
        const StrView method = plan_.name();
        if (plan_.chain_count() > 1) return Status::fail(Error::unsupported_op, "pte: method '", method, "' has ", plan_.chain_count(), " chains");
        Status missing;
        for (uint32_t o = 0; o < plan_.operator_count(); ++o) {
            OperatorView op = plan_.op(o);
            if (find_op(op.name(), op.overload())) continue;
            if (missing.ok()) missing = Status::fail(Error::unsupported_op, "pte: method '", method, "' uses operators tinyllm does not implement:");
            missing = Status::fail(missing.code, missing.detail, " ", op.name(), ".", op.overload());
        }
        const uint32_t n = plan_.chain_count() ? plan_.instruction_count(0) : 0;
        for (uint32_t i = 0; i < n; ++i) {
            InstructionView in = plan_.instruction(0, i);
            if (in.kind() == InstructionKind::DelegateCall) {
                DelegateView d = plan_.delegate(uint32_t(in.callee()));
                return Status::fail(Error::unsupported_delegate, "pte: method '", method, "' is delegated to backend '", d.id(),
                                    "', which tinyllm cannot run");
            }
        }
        if (!missing.ok()) return missing;
        for (uint32_t i = 0; i < n; ++i) {
            InstructionView in = plan_.instruction(0, i);
            if (in.kind() != InstructionKind::KernelCall) continue;
            OperatorView op = plan_.op(uint32_t(in.callee()));
            const OpEntry* entry = find_op(op.name(), op.overload());
            fb::Vector<int32_t> args = in.call_args();
            StrView sig = cstr(entry->signature);
            if (args.size() != sig.size())
                return Status::fail(Error::invalid_argument, "pte: instruction ", i, " calls ", op.name(), " with ", args.size(),
                                    " arguments; its kernel takes ", uint64_t(sig.size()));
            for (uint32_t k = 0; k < args.size(); ++k) {
                ValueKind kind = plan_.value(uint32_t(args[k])).kind();
                if (!kind_matches(sig[k], kind))
                    return Status::fail(Error::invalid_argument, "pte: instruction ", i, " passes a ", value_kind_name(kind), " as argument ", k,
                                        " of ", op.name());
            }
            // The output (last argument) must be a tensor bound to writable memory: checked in bind.
        }
        return Status();
    }

    Status bind_value(uint32_t index, Arena& arena, const ExternalData& external) {
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
        case ValueKind::Tensor: return bind_tensor(index, ev.as_tensor(), arena, external);
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

    Status bind_tensor(uint32_t index, TensorView tv, Arena& arena, const ExternalData& external) {
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
            if (id == 0 || id > n_buffers_)
                return Status::fail(Error::corrupt, "pte: tensor ", index, " is planned in memory ", id, " of ", n_buffers_);
            if (offset > buffer_size_[id - 1] || bytes > buffer_size_[id - 1] - offset)
                return Status::fail(Error::bad_offset, "pte: tensor ", index, " (", uint64_t(bytes), " bytes at ", offset, ") overruns memory ", id);
            t.data = buffers_[id - 1] + offset;
            if (Status s = aligned(index, t); !s) return s;
            if (tv.external()) return copy_external(index, tv, t, external);
            if (buffer_idx != 0) return copy_initial_state(index, tv, t);
            return Status();
        }
        if (tv.external()) {
            ByteSpan data;
            if (Status s = find_external(index, tv, bytes, external, data); !s) return s;
            t.data = const_cast<uint8_t*>(data.data);
            t.constant = true;
            return aligned(index, t);
        }
        if (buffer_idx != 0) {
            if (buffer_idx >= program_->constant_count())
                return Status::fail(Error::corrupt, "pte: tensor ", index, " names constant ", buffer_idx, " of ", program_->constant_count());
            ByteSpan data = program_->constant(buffer_idx);
            if (data.size < bytes)
                return Status::fail(Error::truncated, "pte: constant of tensor ", index, " has ", uint64_t(data.size), " bytes, needs ", uint64_t(bytes));
            t.data = const_cast<uint8_t*>(data.data);  // never written: `constant` guards it
            t.constant = true;
            return aligned(index, t);
        }
        // Not placed by the plan: an input the caller fills, or a value a kernel writes.
        t.data = static_cast<uint8_t*>(arena.allocate(bytes ? bytes : 1));
        if (!t.data) return out_of_memory(arena);
        __builtin_memset(t.data, 0, bytes);
        return Status();
    }

    Status aligned(uint32_t index, const Tensor& t) const {
        if (reinterpret_cast<uintptr_t>(t.data) % t.element_size() != 0)
            return Status::fail(Error::bad_alignment, "pte: data of tensor ", index, " is not aligned to its element size");
        return Status();
    }

    Status find_external(uint32_t index, TensorView tv, size_t bytes, const ExternalData& external, ByteSpan& out) const {
        StrView fqn = tv.fully_qualified_name();
        out = external.find ? external.find(external.context, fqn) : ByteSpan{};
        if (!out.data) return Status::fail(Error::missing_tensor, "pte: tensor ", index, " ('", fqn, "') is stored outside the program and was not supplied");
        if (out.size < bytes) return Status::fail(Error::truncated, "pte: external tensor '", fqn, "' has ", uint64_t(out.size), " bytes, needs ", uint64_t(bytes));
        return Status();
    }

    Status copy_external(uint32_t index, TensorView tv, Tensor& t, const ExternalData& external) const {
        ByteSpan data;
        if (Status s = find_external(index, tv, t.nbytes(), external, data); !s) return s;
        __builtin_memcpy(t.data, data.data, t.nbytes());
        return Status();
    }

    // A planned tensor with a stored initial value (mutable_data_segments).
    Status copy_initial_state(uint32_t index, TensorView tv, Tensor& t) const {
        fb::Vector<uint32_t> segs = program_->root.vector<uint32_t>(field::program_mutable_data_segments);
        uint64_t which = tv.t.table(field::tensor_extra_info).scalar<uint64_t>(field::extra_mutable_segments_idx);
        fb::Table sub = fb::Table::element(segs, uint32_t(which < segs.size() ? which : segs.size()));
        fb::Vector<uint64_t> offsets = sub.vector<uint64_t>(field::subsegment_offsets);
        uint32_t seg = sub.scalar<uint32_t>(field::subsegment_index);
        uint32_t k = tv.data_buffer_idx();
        if (!sub.valid() || k >= offsets.size() || seg >= program_->segment_count())
            return Status::fail(Error::corrupt, "pte: initial value of tensor ", index, " is missing");
        ByteSpan s = program_->segment(seg);
        if (offsets[k] > s.size || t.nbytes() > s.size - offsets[k])
            return Status::fail(Error::truncated, "pte: initial value of tensor ", index, " overruns its segment");
        __builtin_memcpy(t.data, s.data + offsets[k], t.nbytes());
        return Status();
    }

    const Program* program_ = nullptr;
    PlanView plan_;
    Value* values_ = nullptr;
    uint32_t n_values_ = 0;
    const OpEntry** ops_ = nullptr;
    struct Uses {
        uint32_t first, last;
    };
    Uses* uses_ = nullptr;
    Step* steps_ = nullptr;
    uint8_t* buffers_[max_buffers] = {};
    uint64_t buffer_size_[max_buffers] = {};
    uint32_t n_buffers_ = 0;
};

} // namespace tinyllm::pte
