// ExecuTorch `.pte` programs: views over the flatbuffer (schema `executorch_flatbuffer`,
// identifier "ET12", ExecuTorch's schema/program.fbs and scalar_type.fbs) and the file's
// segments. `open_program` walks every table, vector and string the schema reaches and checks
// the cross-references the interpreter relies on, so afterwards the views are consistent and
// constant data can be handed out as zero-copy spans into the file.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/loaders/formats/flatbuffer.hpp"

namespace tinyllm::pte {

// Field slots of the schema's tables (declaration order; a union takes two slots).
namespace field {
enum Program { program_version, program_execution_plan, program_constant_buffer, program_backend_delegate_data,
               program_segments, program_constant_segment, program_mutable_data_segments, program_named_data };
enum Plan { plan_name, plan_container_meta_type, plan_values, plan_inputs, plan_outputs, plan_chains,
            plan_operators, plan_delegates, plan_non_const_buffer_sizes };
enum Tensor { tensor_scalar_type, tensor_storage_offset, tensor_sizes, tensor_dim_order, tensor_requires_grad,
              tensor_data_buffer_idx, tensor_allocation_info, tensor_layout, tensor_shape_dynamism, tensor_extra_info };
enum Allocation { alloc_memory_id, alloc_offset_low, alloc_offset_high };
enum ExtraInfo { extra_mutable_segments_idx, extra_fqn, extra_location };
enum EValue { evalue_type, evalue_val };
enum Instruction { instruction_type, instruction_args };
enum Chain { chain_inputs, chain_outputs, chain_instructions, chain_stacktrace };
enum Delegate { delegate_id, delegate_processed, delegate_compile_specs };
enum DataRef { dataref_location, dataref_index };
enum Segment { segment_offset, segment_size };
enum Subsegment { subsegment_index, subsegment_offsets };
enum NamedData { named_key, named_segment_index };
} // namespace field

// ExecuTorch's ScalarType codes (c10 numbering).
enum class ScalarType : int8_t {
    Byte = 0, Char = 1, Short = 2, Int = 3, Long = 4, Half = 5, Float = 6, Double = 7,
    Bool = 11, QInt8 = 12, QUInt8 = 13, QInt32 = 14, BFloat16 = 15, QUInt4x2 = 16, QUInt2x4 = 17,
};

// The one place a ScalarType's name and size are stated.
struct ScalarTypeInfo {
    ScalarType type;
    const char* name;
    size_t size;  // bytes per element
};

inline constexpr ScalarTypeInfo scalar_types[] = {
    {ScalarType::Byte, "uint8", 1},
    {ScalarType::Char, "int8", 1},
    {ScalarType::Short, "int16", 2},
    {ScalarType::Int, "int32", 4},
    {ScalarType::Long, "int64", 8},
    {ScalarType::Half, "float16", 2},
    {ScalarType::Float, "float32", 4},
    {ScalarType::Double, "float64", 8},
    {ScalarType::Bool, "bool", 1},
    {ScalarType::QInt8, "qint8", 1},
    {ScalarType::QUInt8, "quint8", 1},
    {ScalarType::QInt32, "qint32", 4},
    {ScalarType::BFloat16, "bfloat16", 2},
    {ScalarType::QUInt4x2, "quint4x2", 1},
    {ScalarType::QUInt2x4, "quint2x4", 1},
};

// The row of t; name "unknown" and size 0 for codes we cannot lay out.
constexpr ScalarTypeInfo scalar_type_info(ScalarType t) {
    for (const ScalarTypeInfo& row : scalar_types)
        if (row.type == t) return row;
    return {t, "unknown", 0};
}

inline const char* scalar_type_name(ScalarType t) { return scalar_type_info(t).name; }

// Bytes per element, 0 for codes we cannot lay out.
inline size_t scalar_type_size(ScalarType t) { return scalar_type_info(t).size; }

// The KernelTypes union of an EValue.
enum class ValueKind : uint8_t {
    None = 0, Null, Int, Bool, Double, Tensor, String, IntList, DoubleList, BoolList, TensorList, OptionalTensorList,
};

inline const char* value_kind_name(ValueKind k) {
    static const char* const names[] = {"none", "null", "int", "bool", "double", "tensor", "string",
                                        "int list", "double list", "bool list", "tensor list", "optional tensor list"};
    return uint8_t(k) <= uint8_t(ValueKind::OptionalTensorList) ? names[uint8_t(k)] : "unknown";
}

// The InstructionArguments union.
enum class InstructionKind : uint8_t { None = 0, KernelCall, DelegateCall, MoveCall, JumpFalseCall, FreeCall };

constexpr int max_tensor_dims = 16;

struct TensorView {
    fb::Table t;

    ScalarType scalar_type() const { return ScalarType(t.scalar<int8_t>(field::tensor_scalar_type)); }
    fb::Vector<int32_t> sizes() const { return t.vector<int32_t>(field::tensor_sizes); }
    fb::Vector<uint8_t> dim_order() const { return t.vector<uint8_t>(field::tensor_dim_order); }
    uint32_t data_buffer_idx() const { return t.scalar<uint32_t>(field::tensor_data_buffer_idx); }
    bool planned() const { return t.has(field::tensor_allocation_info); }
    uint32_t memory_id() const { return t.table(field::tensor_allocation_info).scalar<uint32_t>(field::alloc_memory_id); }
    uint64_t memory_offset() const {
        fb::Table a = t.table(field::tensor_allocation_info);
        return uint64_t(a.scalar<uint32_t>(field::alloc_offset_high)) << 32 | a.scalar<uint32_t>(field::alloc_offset_low);
    }
    StrView fully_qualified_name() const { return t.table(field::tensor_extra_info).string(field::extra_fqn); }
    // TensorDataLocation EXTERNAL: the data is in a separate file, found by its name.
    bool external() const { return t.table(field::tensor_extra_info).scalar<int8_t>(field::extra_location) == 1; }
    // DYNAMIC_UNBOUND shapes would need runtime allocation, which this engine does not do.
    int8_t shape_dynamism() const { return t.scalar<int8_t>(field::tensor_shape_dynamism); }

    uint64_t numel() const {
        uint64_t n = 1;
        for (uint32_t i = 0; i < sizes().size(); ++i) n *= uint64_t(sizes()[i]);
        return n;
    }
    uint64_t nbytes() const { return numel() * scalar_type_size(scalar_type()); }
};

struct EValueView {
    fb::Table t;

    ValueKind kind() const { return ValueKind(t.scalar<uint8_t>(field::evalue_type)); }
    fb::Table val() const { return t.table(field::evalue_val); }

    int64_t as_int() const { return val().scalar<int64_t>(0); }
    bool as_bool() const { return val().scalar<uint8_t>(0) != 0; }
    double as_double() const { return val().scalar<double>(0); }
    StrView as_string() const { return val().string(0); }
    TensorView as_tensor() const { return {val()}; }
    // IntList items are indices of Int values; TensorList/OptionalTensorList items are value
    // indices too (-1 = None in an optional list).
    fb::Vector<int64_t> int_list() const { return val().vector<int64_t>(0); }
    fb::Vector<int32_t> index_list() const { return val().vector<int32_t>(0); }
    fb::Vector<double> double_list() const { return val().vector<double>(0); }
    fb::Vector<uint8_t> bool_list() const { return val().vector<uint8_t>(0); }
};

struct InstructionView {
    fb::Table t;

    InstructionKind kind() const { return InstructionKind(t.scalar<uint8_t>(field::instruction_type)); }
    fb::Table args() const { return t.table(field::instruction_args); }
    // KernelCall: op_index, args; DelegateCall: delegate_index, args.
    int32_t callee() const { return args().scalar<int32_t>(0); }
    fb::Vector<int32_t> call_args() const { return args().vector<int32_t>(1); }
    // MoveCall: from, to; JumpFalseCall: cond value, destination; FreeCall: value.
    int32_t first() const { return args().scalar<int32_t>(0); }
    int32_t second() const { return args().scalar<int32_t>(1); }
};

struct OperatorView {
    fb::Table t;
    StrView name() const { return t.string(0); }
    StrView overload() const { return t.string(1); }
};

struct DelegateView {
    fb::Table t;
    StrView id() const { return t.string(field::delegate_id); }
    // DataLocation INLINE (0): Program.backend_delegate_data; SEGMENT (1): Program.segments.
    bool in_segment() const { return t.table(field::delegate_processed).scalar<int8_t>(field::dataref_location) == 1; }
    uint32_t data_index() const { return t.table(field::delegate_processed).scalar<uint32_t>(field::dataref_index); }
    uint32_t compile_spec_count() const { return t.vector<uint32_t>(field::delegate_compile_specs).size(); }
    StrView compile_spec_key(uint32_t i) const {
        return fb::Table::element(t.vector<uint32_t>(field::delegate_compile_specs), i).string(0);
    }
};

struct PlanView {
    fb::Table t;

    StrView name() const { return t.string(field::plan_name); }
    uint32_t value_count() const { return t.vector<uint32_t>(field::plan_values).size(); }
    EValueView value(uint32_t i) const { return {fb::Table::element(t.vector<uint32_t>(field::plan_values), i)}; }
    fb::Vector<int32_t> inputs() const { return t.vector<int32_t>(field::plan_inputs); }
    fb::Vector<int32_t> outputs() const { return t.vector<int32_t>(field::plan_outputs); }
    uint32_t chain_count() const { return t.vector<uint32_t>(field::plan_chains).size(); }
    fb::Table chain(uint32_t i) const { return fb::Table::element(t.vector<uint32_t>(field::plan_chains), i); }
    uint32_t instruction_count(uint32_t c) const { return chain(c).vector<uint32_t>(field::chain_instructions).size(); }
    InstructionView instruction(uint32_t c, uint32_t i) const {
        return {fb::Table::element(chain(c).vector<uint32_t>(field::chain_instructions), i)};
    }
    uint32_t operator_count() const { return t.vector<uint32_t>(field::plan_operators).size(); }
    OperatorView op(uint32_t i) const { return {fb::Table::element(t.vector<uint32_t>(field::plan_operators), i)}; }
    uint32_t delegate_count() const { return t.vector<uint32_t>(field::plan_delegates).size(); }
    DelegateView delegate(uint32_t i) const { return {fb::Table::element(t.vector<uint32_t>(field::plan_delegates), i)}; }
    // Index 0 is the constant memory (unused by the runtime); 1.. are the planned arenas.
    fb::Vector<int64_t> non_const_buffer_sizes() const { return t.vector<int64_t>(field::plan_non_const_buffer_sizes); }
};

// The optional extended header that follows the identifier.
struct ExtendedHeader {
    bool present = false;
    uint64_t program_size = 0;
    uint64_t segment_base_offset = 0;
    uint64_t segment_data_size = 0;
};

struct Program {
    ByteSpan file;
    ExtendedHeader header;
    fb::Table root;

    uint32_t version() const { return root.scalar<uint32_t>(field::program_version); }
    uint32_t plan_count() const { return root.vector<uint32_t>(field::program_execution_plan).size(); }
    PlanView plan(uint32_t i) const { return {fb::Table::element(root.vector<uint32_t>(field::program_execution_plan), i)}; }
    // The plan called `name`, or an invalid view.
    PlanView find_plan(StrView name) const {
        for (uint32_t i = 0; i < plan_count(); ++i)
            if (plan(i).name() == name) return plan(i);
        return {};
    }

    uint32_t segment_count() const { return root.vector<uint32_t>(field::program_segments).size(); }
    // Segment i as a span of the file (checked at open).
    ByteSpan segment(uint32_t i) const {
        fb::Table s = fb::Table::element(root.vector<uint32_t>(field::program_segments), i);
        uint64_t off = header.segment_base_offset + s.scalar<uint64_t>(field::segment_offset);
        return ByteSpan{file.data + off, size_t(s.scalar<uint64_t>(field::segment_size))};
    }

    // How many constant data buffers (index 0 is the reserved placeholder).
    uint32_t constant_count() const {
        uint32_t legacy = root.vector<uint32_t>(field::program_constant_buffer).size();
        return legacy ? legacy : root.table(field::program_constant_segment).vector<uint64_t>(field::subsegment_offsets).size();
    }
    // Bytes of constant buffer `index` available from its start (to the end of its buffer or
    // segment); the caller checks its tensor fits.
    ByteSpan constant(uint32_t index) const {
        fb::Vector<uint32_t> legacy = root.vector<uint32_t>(field::program_constant_buffer);
        if (legacy.size()) {
            fb::Vector<uint8_t> storage = fb::Table::element(legacy, index).vector<uint8_t>(0);
            return ByteSpan{storage.bytes(), storage.size()};
        }
        fb::Table cs = root.table(field::program_constant_segment);
        fb::Vector<uint64_t> offsets = cs.vector<uint64_t>(field::subsegment_offsets);
        uint32_t seg = cs.scalar<uint32_t>(field::subsegment_index);
        if (index >= offsets.size() || seg >= segment_count()) return {};
        ByteSpan s = segment(seg);
        uint64_t off = offsets[index];
        if (off > s.size) return {};
        return ByteSpan{s.data + off, size_t(s.size - off)};
    }

    // The payload of delegate d (checked at open to lie in the file).
    ByteSpan delegate_data(const DelegateView& d) const {
        if (d.in_segment()) return d.data_index() < segment_count() ? segment(d.data_index()) : ByteSpan{};
        fb::Vector<uint8_t> data =
            fb::Table::element(root.vector<uint32_t>(field::program_backend_delegate_data), d.data_index()).vector<uint8_t>(0);
        return {data.bytes(), data.size()};
    }

    uint32_t named_data_count() const { return root.vector<uint32_t>(field::program_named_data).size(); }
    StrView named_data_key(uint32_t i) const {
        return fb::Table::element(root.vector<uint32_t>(field::program_named_data), i).string(field::named_key);
    }
    uint32_t named_data_segment(uint32_t i) const {
        return fb::Table::element(root.vector<uint32_t>(field::program_named_data), i).scalar<uint32_t>(field::named_segment_index);
    }
};

namespace detail {

inline Status corrupt_at(const char* what, const char* where, uint32_t plan, uint64_t index) {
    return Status::fail(Error::corrupt, what, " (", where, " ", index, " of plan ", plan, ")");
}

// Checks what the interpreter and `inspect` rely on inside one plan, touching every field so
// the flatbuffer reader reports any out-of-bounds structure.
inline Status verify_plan(const Program& p, uint32_t pi, const Status& fb_error) {
    PlanView plan = p.plan(pi);
    if (!plan.t.valid()) return fb_error.ok() ? corrupt_at("missing execution plan", "plan", pi, pi) : fb_error;
    plan.name();
    const uint32_t n_values = plan.value_count();
    for (uint32_t v = 0; v < n_values; ++v) {
        EValueView ev = plan.value(v);
        if (!fb_error.ok()) return fb_error;
        ValueKind kind = ev.kind();
        if (uint8_t(kind) > uint8_t(ValueKind::OptionalTensorList))
            return Status::fail(Error::corrupt, "value ", v, " of plan ", pi, " has unknown kind ", int(kind));
        if (kind != ValueKind::None && kind != ValueKind::Null && !ev.val().valid())
            return fb_error.ok() ? corrupt_at("value without a payload", "value", pi, v) : fb_error;
        switch (kind) {
        case ValueKind::Int: ev.as_int(); break;
        case ValueKind::Bool: ev.as_bool(); break;
        case ValueKind::Double: ev.as_double(); break;
        case ValueKind::String: ev.as_string(); break;
        case ValueKind::DoubleList: ev.double_list(); break;
        case ValueKind::BoolList: ev.bool_list(); break;
        case ValueKind::IntList: {
            fb::Vector<int64_t> items = ev.int_list();
            for (uint32_t k = 0; k < items.size(); ++k) {
                int64_t idx = items[k];
                if (idx < 0 || uint64_t(idx) >= n_values) return corrupt_at("int list item out of range", "value", pi, v);
            }
            break;
        }
        case ValueKind::TensorList:
        case ValueKind::OptionalTensorList: {
            fb::Vector<int32_t> items = ev.index_list();
            for (uint32_t k = 0; k < items.size(); ++k) {
                int32_t idx = items[k];
                bool none_ok = kind == ValueKind::OptionalTensorList && idx == -1;
                if (!none_ok && (idx < 0 || uint32_t(idx) >= n_values)) return corrupt_at("list item out of range", "value", pi, v);
            }
            break;
        }
        case ValueKind::Tensor: {
            TensorView t = ev.as_tensor();
            fb::Vector<int32_t> sizes = t.sizes();
            if (sizes.size() > uint32_t(max_tensor_dims)) return corrupt_at("tensor has too many dimensions", "value", pi, v);
            uint64_t numel = 1;
            for (uint32_t d = 0; d < sizes.size(); ++d) {
                if (sizes[d] < 0) return corrupt_at("negative tensor size", "value", pi, v);
                numel *= uint64_t(sizes[d]);
                if (numel > (uint64_t(1) << 40)) return corrupt_at("tensor element count absurd", "value", pi, v);
            }
            fb::Vector<uint8_t> order = t.dim_order();
            if (order.size() && order.size() != sizes.size()) return corrupt_at("dim order length differs from rank", "value", pi, v);
            t.data_buffer_idx();
            t.memory_offset();
            t.fully_qualified_name();
            break;
        }
        default: break;
        }
    }
    for (int side = 0; side < 2; ++side) {
        fb::Vector<int32_t> io = side == 0 ? plan.inputs() : plan.outputs();
        for (uint32_t k = 0; k < io.size(); ++k)
            if (io[k] < 0 || uint32_t(io[k]) >= n_values) return corrupt_at("input/output index out of range", "entry", pi, k);
    }
    for (uint32_t o = 0; o < plan.operator_count(); ++o) {
        OperatorView op = plan.op(o);
        if (!op.t.valid() || op.name().empty()) return fb_error.ok() ? corrupt_at("operator without a name", "operator", pi, o) : fb_error;
        op.overload();
    }
    for (uint32_t d = 0; d < plan.delegate_count(); ++d) {
        DelegateView del = plan.delegate(d);
        if (!del.t.valid()) return fb_error.ok() ? corrupt_at("missing delegate", "delegate", pi, d) : fb_error;
        del.id();
        for (uint32_t k = 0; k < del.compile_spec_count(); ++k) del.compile_spec_key(k);
        bool in_range = del.in_segment() ? del.data_index() < p.segment_count()
                                         : del.data_index() < p.root.vector<uint32_t>(field::program_backend_delegate_data).size();
        if (!in_range) return corrupt_at("delegate data index out of range", "delegate", pi, d);
    }
    for (uint32_t c = 0; c < plan.chain_count(); ++c) {
        const uint32_t n_instr = plan.instruction_count(c);
        for (uint32_t i = 0; i < n_instr; ++i) {
            InstructionView in = plan.instruction(c, i);
            if (!fb_error.ok()) return fb_error;
            if (!in.t.valid() || !in.args().valid()) return corrupt_at("instruction without arguments", "instruction", pi, i);
            auto value_ok = [&](int32_t idx) { return idx >= 0 && uint32_t(idx) < n_values; };
            switch (in.kind()) {
            case InstructionKind::KernelCall:
            case InstructionKind::DelegateCall: {
                uint32_t limit = in.kind() == InstructionKind::KernelCall ? plan.operator_count() : plan.delegate_count();
                if (in.callee() < 0 || uint32_t(in.callee()) >= limit) return corrupt_at("call target out of range", "instruction", pi, i);
                fb::Vector<int32_t> args = in.call_args();
                for (uint32_t k = 0; k < args.size(); ++k)
                    if (!value_ok(args[k])) return corrupt_at("call argument out of range", "instruction", pi, i);
                break;
            }
            case InstructionKind::MoveCall:
                if (!value_ok(in.first()) || !value_ok(in.second())) return corrupt_at("move operand out of range", "instruction", pi, i);
                break;
            case InstructionKind::JumpFalseCall:
                // Exported programs branch forward only (if/else); refusing backward jumps
                // guarantees every run ends.
                if (!value_ok(in.first()) || in.second() <= int32_t(i) || uint32_t(in.second()) > n_instr)
                    return corrupt_at("jump target out of range or backward", "instruction", pi, i);
                break;
            case InstructionKind::FreeCall:
                if (!value_ok(in.first())) return corrupt_at("free operand out of range", "instruction", pi, i);
                break;
            default: return corrupt_at("unknown instruction kind", "instruction", pi, i);
            }
        }
    }
    fb::Vector<int64_t> buffers = plan.non_const_buffer_sizes();
    for (uint32_t k = 0; k < buffers.size(); ++k)
        if (buffers[k] < 0) return corrupt_at("negative planned buffer size", "buffer", pi, k);
    return fb_error;
}

} // namespace detail

// Whether bytes look like an ExecuTorch program ("ET" at byte 4; a GGUF starts with "GGUF"):
// which reader to hand them to. open_program() checks the rest.
inline bool looks_like_program(ByteSpan file) { return file.size >= 8 && file.data[4] == 'E' && file.data[5] == 'T'; }

// Validates `file` as a .pte program: header, every structure the schema reaches, segments
// inside the file, and the indices between them. The file must outlive the Program.
inline Result<Program> open_program(ByteSpan file) {
    if (file.size < 8) return Status::fail(Error::truncated, "pte: file of ", uint64_t(file.size), " bytes is too small");
    if (!looks_like_program(file)) return Status::fail(Error::bad_magic, "pte: no ExecuTorch identifier 'ET..' at byte 4");
    if (file.data[6] != '1' || file.data[7] != '2')
        return Status::fail(Error::unsupported_version, "pte: identifier ET", StrView(reinterpret_cast<const char*>(file.data + 6), 2),
                            ", expected ET12");
    Program p;
    p.file = file;
    size_t program_bytes = file.size;
    if (file.size >= 16 && file.data[8] == 'e' && file.data[9] == 'h' && file.data[10] == '0' && file.data[11] == '0') {
        uint32_t header_len = fb::load<uint32_t>(file.data + 12);
        if (header_len < 24 || 8 + uint64_t(header_len) > file.size)
            return Status::fail(Error::truncated, "pte: extended header of ", header_len, " bytes does not fit the file");
        p.header.present = true;
        p.header.program_size = fb::load<uint64_t>(file.data + 16);
        p.header.segment_base_offset = fb::load<uint64_t>(file.data + 24);
        if (header_len >= 32) p.header.segment_data_size = fb::load<uint64_t>(file.data + 32);
        if (p.header.program_size > file.size || p.header.program_size < 8)
            return Status::fail(Error::truncated, "pte: header says the program has ", p.header.program_size, " bytes, the file ",
                                uint64_t(file.size));
        if (p.header.segment_base_offset > file.size)
            return Status::fail(Error::truncated, "pte: segments start at byte ", p.header.segment_base_offset, ", past the end of the file");
        program_bytes = size_t(p.header.program_size);
    }
    // FlatBuffers are limited to 2 GiB, which also keeps 32-bit positions from wrapping.
    if (program_bytes >= (size_t(1) << 31)) return Status::fail(Error::absurd_count, "pte: flatbuffer of 2 GiB or more");

    Status fb_error;
    fb::Source checked{file.data, program_bytes, &fb_error};
    p.root = fb::root(checked, "ET12");
    if (!fb_error.ok()) return fb_error;
    if (!p.root.valid()) return Status::fail(Error::corrupt, "pte: no root table");

    for (uint32_t s = 0; s < p.segment_count(); ++s) {
        fb::Table seg = fb::Table::element(p.root.vector<uint32_t>(field::program_segments), s);
        uint64_t off = seg.scalar<uint64_t>(field::segment_offset), size = seg.scalar<uint64_t>(field::segment_size);
        if (!fb_error.ok()) return fb_error;
        uint64_t start = p.header.segment_base_offset + off;
        // Without an extended header no segment can be located; only empty ones are harmless.
        if ((!p.header.present && size != 0) || start < off || start > file.size || size > file.size - start)
            return Status::fail(Error::truncated, "pte: segment ", s, " (", size, " bytes at ", start, ") lies outside the file of ",
                                uint64_t(file.size), " bytes");
    }
    fb::Vector<uint32_t> legacy = p.root.vector<uint32_t>(field::program_constant_buffer);
    for (uint32_t b = 0; b < legacy.size(); ++b) fb::Table::element(legacy, b).vector<uint8_t>(0);
    fb::Vector<uint32_t> inline_data = p.root.vector<uint32_t>(field::program_backend_delegate_data);
    for (uint32_t b = 0; b < inline_data.size(); ++b) fb::Table::element(inline_data, b).vector<uint8_t>(0);
    fb::Table cs = p.root.table(field::program_constant_segment);
    fb::Vector<uint64_t> offsets = cs.vector<uint64_t>(field::subsegment_offsets);
    if (offsets.size()) {
        uint32_t seg = cs.scalar<uint32_t>(field::subsegment_index);
        if (seg >= p.segment_count()) return Status::fail(Error::corrupt, "pte: constant segment index ", seg, " out of range");
        for (uint32_t k = 0; k < offsets.size(); ++k)
            if (offsets[k] > p.segment(seg).size)
                return Status::fail(Error::bad_offset, "pte: constant ", k, " starts past the end of its segment");
    }
    fb::Vector<uint32_t> mutable_segs = p.root.vector<uint32_t>(field::program_mutable_data_segments);
    for (uint32_t k = 0; k < mutable_segs.size(); ++k) fb::Table::element(mutable_segs, k).vector<uint64_t>(field::subsegment_offsets);
    for (uint32_t k = 0; k < p.named_data_count(); ++k) {
        p.named_data_key(k);
        if (p.named_data_segment(k) >= p.segment_count())
            return Status::fail(Error::corrupt, "pte: named data ", k, " points at a missing segment");
    }
    if (!fb_error.ok()) return fb_error;
    for (uint32_t i = 0; i < p.plan_count(); ++i) {
        Status s = detail::verify_plan(p, i, fb_error);
        if (!s.ok()) return s;
    }
    if (!fb_error.ok()) return fb_error;
    // Verified: later reads need no error sink.
    p.root = fb::root(fb::Source{file.data, program_bytes, nullptr}, "ET12");
    return p;
}

} // namespace tinyllm::pte
