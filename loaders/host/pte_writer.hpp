// Writes ExecuTorch programs (schema `executorch_flatbuffer`, identifier "ET12", with the `eh00`
// extended header): methods built value by value and call by call, a memory plan computed from
// the calls, and constants in one 16-byte aligned segment streamed to the file from wherever
// they live (a mapped GGUF, or bytes computed here), so a large model is never copied in memory.
//
// Memory plan: every planned tensor gets a buffer; a reshape is a view, placed on its source's
// bytes with no instruction (as ExecuTorch's exporter places views); a buffer lives from the
// first call that touches it to the last, and buffers whose lifetimes overlap get disjoint
// bytes (first fit, 64-byte aligned). Persistent buffers (a KV cache) live across the whole
// method, so nothing else ever overwrites them between calls.
#pragma once
#include <stdint.h>
#include <stdio.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/loaders/host/flatbuffer_writer.hpp"

namespace tinyllm::pte {

class ProgramWriter {
public:
    // A constant's bytes: a span that outlives write(), bytes owned here, or a function that
    // writes exactly the tensor's bytes to the file when the program is written.
    using Generator = std::function<bool(FILE*)>;
    int constant_tensor(ScalarType type, const std::vector<int64_t>& sizes, ByteSpan data) {
        constants_.push_back({data, {}, {}, data.size});
        return tensor(type, sizes, Placement::constant, int(constants_.size()));
    }
    int constant_tensor(ScalarType type, const std::vector<int64_t>& sizes, std::vector<uint8_t> owned) {
        const uint64_t size = owned.size();
        constants_.push_back({{}, std::move(owned), {}, size});
        return tensor(type, sizes, Placement::constant, int(constants_.size()));
    }
    int generated_tensor(ScalarType type, const std::vector<int64_t>& sizes, Generator generate) {
        constants_.push_back({{}, {}, std::move(generate), bytes_of(type, sizes)});
        return tensor(type, sizes, Placement::constant, int(constants_.size()));
    }
    // A method input the caller fills (not planned, as ExecuTorch's LLM exports leave them).
    int input_tensor(ScalarType type, const std::vector<int64_t>& sizes) { return tensor(type, sizes, Placement::unplaced, 0); }
    // A tensor a call writes, in a buffer of its own.
    int planned_tensor(ScalarType type, const std::vector<int64_t>& sizes) {
        buffers_.push_back({bytes_of(type, sizes), false});
        return tensor(type, sizes, Placement::planned, int(buffers_.size() - 1));
    }
    // Planned bytes kept across calls.
    int persistent_tensor(ScalarType type, const std::vector<int64_t>& sizes) {
        buffers_.push_back({bytes_of(type, sizes), true});
        return tensor(type, sizes, Placement::planned, int(buffers_.size() - 1));
    }
    // The same bytes as planned tensor `of`, seen with other sizes (a reshape).
    int view(int of, const std::vector<int64_t>& sizes) {
        const Value& v = values_[size_t(of)];
        const int t = tensor(v.type, sizes, v.placement, v.buffer);
        values_[size_t(t)].view_of = of;
        return t;
    }

    int int_value(int64_t v) { return scalar(ValueKind::Int, uint64_t(v)); }
    int bool_value(bool v) { return scalar(ValueKind::Bool, v ? 1 : 0); }
    int double_value(double v) {
        uint64_t bits;
        std::memcpy(&bits, &v, 8);
        return scalar(ValueKind::Double, bits);
    }
    int null_value() { return scalar(ValueKind::Null, 0); }
    int int_list(const std::vector<int64_t>& items) {
        std::vector<int> refs;
        for (int64_t i : items) refs.push_back(int_value(i));
        Value v;
        v.kind = ValueKind::IntList;
        v.items = refs;
        values_.push_back(v);
        return int(values_.size() - 1);
    }
    int tensor_list(const std::vector<int>& items, bool optional = false) {
        Value v;
        v.kind = optional ? ValueKind::OptionalTensorList : ValueKind::TensorList;
        v.items = items;
        values_.push_back(v);
        return int(values_.size() - 1);
    }

    // A kernel call; the trailing `out` tensor is also passed as the returned value, as the
    // exporter does for `.out` operators.
    void call(const char* name, const char* overload, std::vector<int> args, int out) {
        args.push_back(out);
        args.push_back(out);
        call_raw(name, overload, std::move(args));
    }
    // A call whose arguments are given exactly (copy_: self, src, non_blocking, result).
    void call_raw(const char* name, const char* overload, std::vector<int> args) {
        int op = -1;
        for (size_t k = 0; k < operators_.size(); ++k)
            if (operators_[k].first == name && operators_[k].second == overload) op = int(k);
        if (op < 0) {
            operators_.push_back({name, overload});
            op = int(operators_.size() - 1);
        }
        calls_.push_back({op, std::move(args)});
    }

    // The one method with calls ("forward" here), and constant methods returning one value.
    void set_io(std::vector<int> inputs, std::vector<int> outputs) {
        inputs_ = std::move(inputs);
        outputs_ = std::move(outputs);
    }
    // A method returning stored values (ints, or one bool) without computing anything.
    void constant_method(const std::string& name, std::vector<int64_t> values, bool is_bool = false) {
        constant_methods_.push_back({name, std::move(values), is_bool});
    }

    // The first tensor the program format cannot describe, if any (write() then refuses).
    const Status& status() const { return status_; }

    // Bytes of planned memory the plan needs (after plan_memory()).
    uint64_t planned_bytes() const { return planned_bytes_; }

    // Writes the program to `out`. Returns false on an I/O error or when status() is not ok.
    bool write(const std::string& method_name, FILE* out) {
        if (!status_.ok()) return false;
        plan_memory();
        namespace fw = flatbuffer_writer;
        fw::NodePtr program = fw::table();
        fw::set<uint32_t>(program, field::program_version, 0);
        std::vector<fw::NodePtr> plans;
        plans.push_back(forward_plan(method_name));
        for (const ConstantMethod& m : constant_methods_) plans.push_back(constant_plan(m));
        fw::child(program, field::program_execution_plan, fw::nodes(plans));
        // Segment 0 holds every constant; offsets[0] is the placeholder index 0 names.
        std::vector<uint64_t> offsets{0};
        uint64_t at = 0;
        for (const Constant& c : constants_) {
            at = align(at);
            offsets.push_back(at);
            at += c.size;
        }
        const uint64_t segment_size = at;
        fw::NodePtr segment = fw::table();
        fw::set<uint64_t>(segment, field::segment_offset, 0);
        fw::set<uint64_t>(segment, field::segment_size, segment_size);
        fw::child(program, field::program_segments, fw::nodes({segment}));
        fw::NodePtr constant_segment = fw::table();
        fw::set<uint32_t>(constant_segment, field::subsegment_index, 0);
        fw::child(constant_segment, field::subsegment_offsets, fw::scalars(offsets));
        fw::child(program, field::program_constant_segment, constant_segment);
        const std::vector<uint8_t> head = fw::Writer().finish_pte(program, segment_size);
        if (std::fwrite(head.data(), 1, head.size(), out) != head.size()) return false;
        static const uint8_t zeros[64] = {};
        uint64_t written = 0;
        for (const Constant& c : constants_) {
            const uint64_t pad = align(written) - written;
            if (pad && std::fwrite(zeros, 1, size_t(pad), out) != pad) return false;
            if (c.generate) {
                const long before = std::ftell(out);
                if (!c.generate(out) || (before >= 0 && uint64_t(std::ftell(out) - before) != c.size)) return false;
            } else {
                const uint8_t* data = c.owned.empty() ? c.span.data : c.owned.data();
                if (c.size && std::fwrite(data, 1, size_t(c.size), out) != c.size) return false;
            }
            written += pad + c.size;
        }
        return true;
    }

private:
    enum class Placement : uint8_t { unplaced, constant, planned };
    struct Value {
        ValueKind kind = ValueKind::Tensor;
        uint64_t bits = 0;  // Int, Bool, Double
        std::vector<int> items;
        ScalarType type = ScalarType::Float;
        std::vector<int64_t> sizes;
        Placement placement = Placement::unplaced;
        int buffer = 0;  // planned: buffer index; constant: constant index (1-based)
        int view_of = -1;
    };
    struct Buffer {
        uint64_t bytes = 0;
        bool persistent = false;
        int first = -1, last = -1;  // calls that touch it
        uint64_t offset = 0;
    };
    struct Constant {
        ByteSpan span;
        std::vector<uint8_t> owned;
        Generator generate;
        uint64_t size = 0;
    };
    struct ConstantMethod {
        std::string name;
        std::vector<int64_t> values;
        bool is_bool;
    };
    struct Call {
        int op;
        std::vector<int> args;
    };
    static uint64_t align(uint64_t n) { return (n + 15) / 16 * 16; }
    static uint64_t bytes_of(ScalarType type, const std::vector<int64_t>& sizes) {
        uint64_t n = scalar_type_size(type);
        for (int64_t s : sizes) n *= uint64_t(s);
        return n;
    }

    int tensor(ScalarType type, const std::vector<int64_t>& sizes, Placement placement, int buffer) {
        for (int64_t s : sizes)
            if ((s < 0 || s > INT32_MAX) && status_.ok()) status_ = Status::fail(Error::bad_shape, "a tensor dimension of ", s, " does not fit the program's int32 sizes");
        Value v;
        v.type = type;
        v.sizes = sizes;
        v.placement = placement;
        v.buffer = buffer;
        values_.push_back(v);
        return int(values_.size() - 1);
    }
    int scalar(ValueKind kind, uint64_t bits) {
        Value v;
        v.kind = kind;
        v.bits = bits;
        values_.push_back(v);
        return int(values_.size() - 1);
    }

    // Lifetimes from the calls, then first-fit offsets.
    void plan_memory() {
        const int n = int(calls_.size());
        auto touch = [&](int value, int call) {
            const Value& v = values_[size_t(value)];
            if (v.kind == ValueKind::TensorList || v.kind == ValueKind::OptionalTensorList) {
                for (int item : v.items)
                    if (item >= 0) touch_tensor(item, call);
                return;
            }
            touch_tensor(value, call);
        };
        for (int c = 0; c < n; ++c)
            for (int a : calls_[size_t(c)].args) touch(a, c);
        for (int o : outputs_) touch_tensor(o, n);
        for (Buffer& b : buffers_)
            if (b.persistent || b.first < 0) {
                b.first = 0;
                b.last = n;
            }
        std::vector<size_t> order(buffers_.size());
        for (size_t k = 0; k < order.size(); ++k) order[k] = k;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return buffers_[a].bytes > buffers_[b].bytes; });
        std::vector<size_t> placed;
        planned_bytes_ = 0;
        for (size_t k : order) {
            Buffer& b = buffers_[k];
            std::vector<std::pair<uint64_t, uint64_t>> busy;  // [start, end) of overlapping lifetimes
            for (size_t p : placed) {
                const Buffer& o = buffers_[p];
                if (o.first <= b.last && b.first <= o.last) busy.push_back({o.offset, o.offset + o.bytes});
            }
            std::sort(busy.begin(), busy.end());
            uint64_t at = 0;
            for (const auto& [start, end] : busy) {
                if (at + b.bytes <= start) break;
                at = std::max(at, (end + 63) / 64 * 64);
            }
            b.offset = at;
            planned_bytes_ = std::max(planned_bytes_, at + b.bytes);
            placed.push_back(k);
        }
        planned_bytes_ = (planned_bytes_ + 63) / 64 * 64;
    }
    void touch_tensor(int value, int call) {
        const Value& v = values_[size_t(value)];
        if (v.kind != ValueKind::Tensor || v.placement != Placement::planned) return;
        Buffer& b = buffers_[size_t(v.buffer)];
        if (b.first < 0 || call < b.first) b.first = call;
        if (call > b.last) b.last = call;
    }

    flatbuffer_writer::NodePtr evalue(const Value& v) const {
        namespace fw = flatbuffer_writer;
        fw::NodePtr e = fw::table();
        fw::set<uint8_t>(e, field::evalue_type, uint8_t(v.kind));
        fw::NodePtr val = fw::table();
        switch (v.kind) {
        case ValueKind::Int: fw::set<int64_t>(val, 0, int64_t(v.bits)); break;
        case ValueKind::Bool: fw::set<uint8_t>(val, 0, uint8_t(v.bits)); break;
        case ValueKind::Double: {
            double d;
            std::memcpy(&d, &v.bits, 8);
            fw::set<double>(val, 0, d);
            break;
        }
        case ValueKind::IntList: {
            std::vector<int64_t> items(v.items.begin(), v.items.end());
            fw::child(val, 0, fw::scalars(items));
            break;
        }
        case ValueKind::TensorList: case ValueKind::OptionalTensorList: {
            std::vector<int32_t> items(v.items.begin(), v.items.end());
            fw::child(val, 0, fw::scalars(items));
            break;
        }
        case ValueKind::Tensor: {
            fw::set<int8_t>(val, field::tensor_scalar_type, int8_t(v.type));
            std::vector<int32_t> sizes(v.sizes.begin(), v.sizes.end());
            std::vector<uint8_t> order;
            for (size_t d = 0; d < v.sizes.size(); ++d) order.push_back(uint8_t(d));
            fw::child(val, field::tensor_sizes, fw::scalars(sizes));
            fw::child(val, field::tensor_dim_order, fw::scalars(order));
            if (v.placement == Placement::constant) fw::set<uint32_t>(val, field::tensor_data_buffer_idx, uint32_t(v.buffer));
            if (v.placement == Placement::planned) {
                const uint64_t offset = buffers_[size_t(v.buffer)].offset;
                fw::NodePtr alloc = fw::table();
                fw::set<uint32_t>(alloc, field::alloc_memory_id, 1);
                fw::set<uint32_t>(alloc, field::alloc_offset_low, uint32_t(offset));
                fw::set<uint32_t>(alloc, field::alloc_offset_high, uint32_t(offset >> 32));
                fw::child(val, field::tensor_allocation_info, alloc);
            }
            break;
        }
        default: break;  // Null: an empty table
        }
        fw::child(e, field::evalue_val, val);
        return e;
    }

    flatbuffer_writer::NodePtr plan_table(const std::string& name, const std::vector<flatbuffer_writer::NodePtr>& values,
                                          const std::vector<int32_t>& inputs, const std::vector<int32_t>& outputs,
                                          const std::vector<flatbuffer_writer::NodePtr>& instructions,
                                          const std::vector<flatbuffer_writer::NodePtr>& operators, const std::vector<int64_t>& buffers) const {
        namespace fw = flatbuffer_writer;
        fw::NodePtr plan = fw::table();
        fw::child(plan, field::plan_name, fw::str(name));
        fw::NodePtr meta = fw::table();
        fw::child(meta, 0, fw::str(""));
        fw::child(meta, 1, fw::str(""));
        fw::child(plan, field::plan_container_meta_type, meta);
        fw::child(plan, field::plan_values, fw::nodes(values));
        fw::child(plan, field::plan_inputs, fw::scalars(inputs));
        fw::child(plan, field::plan_outputs, fw::scalars(outputs));
        fw::NodePtr chain = fw::table();
        fw::child(chain, field::chain_inputs, fw::scalars(std::vector<int32_t>{}));
        fw::child(chain, field::chain_outputs, fw::scalars(std::vector<int32_t>{}));
        fw::child(chain, field::chain_instructions, fw::nodes(instructions));
        fw::child(plan, field::plan_chains, fw::nodes({chain}));
        fw::child(plan, field::plan_operators, fw::nodes(operators));
        fw::child(plan, field::plan_delegates, fw::nodes({}));
        fw::child(plan, field::plan_non_const_buffer_sizes, fw::scalars(buffers));
        return plan;
    }

    flatbuffer_writer::NodePtr forward_plan(const std::string& name) const {
        namespace fw = flatbuffer_writer;
        std::vector<fw::NodePtr> values, instructions, operators;
        for (const Value& v : values_) values.push_back(evalue(v));
        for (const Call& c : calls_) {
            fw::NodePtr kernel = fw::table();
            fw::set<int32_t>(kernel, 0, c.op);
            fw::child(kernel, 1, fw::scalars(std::vector<int32_t>(c.args.begin(), c.args.end())));
            fw::NodePtr instruction = fw::table();
            fw::set<uint8_t>(instruction, field::instruction_type, uint8_t(InstructionKind::KernelCall));
            fw::child(instruction, field::instruction_args, kernel);
            instructions.push_back(instruction);
        }
        for (const auto& [op, overload] : operators_) {
            fw::NodePtr o = fw::table();
            fw::child(o, 0, fw::str(op));
            fw::child(o, 1, fw::str(overload));
            operators.push_back(o);
        }
        return plan_table(name, values, std::vector<int32_t>(inputs_.begin(), inputs_.end()),
                          std::vector<int32_t>(outputs_.begin(), outputs_.end()), instructions, operators,
                          {0, int64_t(planned_bytes_)});
    }

    flatbuffer_writer::NodePtr constant_plan(const ConstantMethod& m) const {
        std::vector<flatbuffer_writer::NodePtr> values;
        std::vector<int32_t> outputs;
        for (int64_t x : m.values) {
            Value v;
            v.kind = m.is_bool ? ValueKind::Bool : ValueKind::Int;
            v.bits = uint64_t(x);
            outputs.push_back(int32_t(values.size()));
            values.push_back(evalue(v));
        }
        return plan_table(m.name, values, {}, outputs, {}, {}, {0});
    }

    std::vector<Value> values_;
    std::vector<Buffer> buffers_;
    std::vector<Constant> constants_;
    std::vector<std::pair<std::string, std::string>> operators_;
    std::vector<Call> calls_;
    std::vector<int> inputs_, outputs_;
    std::vector<ConstantMethod> constant_methods_;
    uint64_t planned_bytes_ = 0;
    Status status_;
};

} // namespace tinyllm::pte
