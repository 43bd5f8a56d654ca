// inspect: what is inside a model file.
//
//   inspect FILE.pte   methods (inputs/outputs with types and shapes), operators (and whether
//                      tinyllm implements them), delegates (an XNNPACK payload: its nodes by
//                      type), constants, memory plan, and the values of constant methods such
//                      as get_vocab_size
//   inspect FILE.gguf  metadata and tensors
//   inspect --calls FILE.pte   also every instruction with its arguments
//
// Errors: exit 1 with one line naming the problem.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tinyllm/loaders/host/gguf_index.hpp"
#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/loaders/host/mapped_file.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/pte/method.hpp"

using namespace tinyllm;

namespace {

[[noreturn]] void die(const Status& s) {
    std::fprintf(stderr, "inspect: %s: %s\n", error_name(s.code), s.detail);
    std::exit(1);
}

std::string str(StrView s) { return std::string(s.data(), s.size()); }

std::string shape_text(const pte::TensorView& t) {
    std::string out = std::string(pte::scalar_type_name(t.scalar_type())) + "[";
    for (uint32_t d = 0; d < t.sizes().size(); ++d) out += (d ? "," : "") + std::to_string(t.sizes()[d]);
    return out + "]";
}

std::string value_text(const pte::PlanView& plan, int32_t index) {
    pte::EValueView v = plan.value(uint32_t(index));
    switch (v.kind()) {
    case pte::ValueKind::Tensor: return shape_text(v.as_tensor());
    case pte::ValueKind::Int: return "int " + std::to_string(v.as_int());
    case pte::ValueKind::Bool: return v.as_bool() ? "bool true" : "bool false";
    case pte::ValueKind::Double: return "double " + std::to_string(v.as_double());
    case pte::ValueKind::String: return "string \"" + str(v.as_string()) + "\"";
    default: return pte::value_kind_name(v.kind());
    }
}

std::string call_text(const pte::PlanView& plan, const pte::InstructionView& in) {
    std::string out;
    switch (in.kind()) {
    case pte::InstructionKind::KernelCall:
        out = str(plan.op(uint32_t(in.callee())).name()) + "." + str(plan.op(uint32_t(in.callee())).overload());
        break;
    case pte::InstructionKind::DelegateCall: out = "delegate " + str(plan.delegate(uint32_t(in.callee())).id()); break;
    case pte::InstructionKind::MoveCall: return "move " + std::to_string(in.first()) + " -> " + std::to_string(in.second());
    case pte::InstructionKind::JumpFalseCall: return "jump_false " + std::to_string(in.first()) + " to " + std::to_string(in.second());
    case pte::InstructionKind::FreeCall: return "free " + std::to_string(in.first());
    default: return "unknown";
    }
    for (uint32_t k = 0; k < in.call_args().size(); ++k) {
        int32_t v = in.call_args()[k];
        out += (k ? ", " : "(") + std::string("%") + std::to_string(v) + " " + value_text(plan, v);
    }
    return out + ")";
}

// An XNNPACK payload's nodes, counted by type; types tinyllm does not run are marked.
void print_xnnpack_nodes(ByteSpan payload) {
    Result<xnnpack::Payload> opened = xnnpack::open_payload(payload);
    if (!opened) return (void)std::printf("    payload refused: %s: %s\n", error_name(opened.status.code), opened.status.detail);
    uint32_t counts[xnnpack::node_kind_count] = {};
    for (uint32_t i = 0; i < opened->node_count(); ++i) ++counts[uint8_t(opened->node(i).kind())];
    std::printf("    %u values, %u nodes:", opened->value_count(), opened->node_count());
    for (uint8_t k = 1; k < xnnpack::node_kind_count; ++k)
        if (counts[k])
            std::printf(" %s x%u%s", xnnpack::node_kind_name(xnnpack::NodeKind(k)), counts[k],
                        pte::xnnpack_node_runs(xnnpack::NodeKind(k)) ? "" : " (not run by tinyllm)");
    std::printf("\n");
}

void inspect_pte(ByteSpan bytes, bool calls) {
    Result<pte::Program> opened = pte::open_program(bytes);
    if (!opened) die(opened.status);
    const pte::Program& p = *opened;
    std::printf("ExecuTorch program, schema version %u, %zu bytes\n", p.version(), bytes.size);
    if (p.header.present)
        std::printf("extended header: program %" PRIu64 " bytes, segments at %" PRIu64 " (%" PRIu64 " bytes)\n", p.header.program_size,
                    p.header.segment_base_offset, p.header.segment_data_size);
    uint64_t segment_bytes = 0;
    for (uint32_t s = 0; s < p.segment_count(); ++s) segment_bytes += p.segment(s).size;
    std::printf("segments: %u (%" PRIu64 " bytes); constants: %u; named data: %u\n", p.segment_count(), segment_bytes,
                p.constant_count() ? p.constant_count() - 1 : 0, p.named_data_count());
    for (uint32_t i = 0; i < p.plan_count(); ++i) {
        pte::PlanView plan = p.plan(i);
        const uint32_t n_instr = plan.chain_count() ? plan.instruction_count(0) : 0;
        std::printf("\nmethod %s: %u values, %u instructions\n", str(plan.name()).c_str(), plan.value_count(), n_instr);
        for (uint32_t k = 0; k < plan.inputs().size(); ++k)
            std::printf("  input  %u: %s\n", k, value_text(plan, plan.inputs()[k]).c_str());
        for (uint32_t k = 0; k < plan.outputs().size(); ++k)
            std::printf("  output %u: %s\n", k, value_text(plan, plan.outputs()[k]).c_str());
        fb::Vector<int64_t> buffers = plan.non_const_buffer_sizes();
        for (uint32_t k = 1; k < buffers.size(); ++k) std::printf("  memory plan %u: %" PRId64 " bytes\n", k, buffers[k]);
        if (plan.operator_count()) {
            std::vector<uint32_t> calls(plan.operator_count());
            for (uint32_t n = 0; n < n_instr; ++n)
                if (plan.instruction(0, n).kind() == pte::InstructionKind::KernelCall) ++calls[uint32_t(plan.instruction(0, n).callee())];
            std::printf("  operators:\n");
            for (uint32_t o = 0; o < plan.operator_count(); ++o) {
                pte::OperatorView op = plan.op(o);
                bool known = pte::find_op(op.name(), op.overload()) != nullptr;
                std::printf("    %s.%s  x%u%s\n", str(op.name()).c_str(), str(op.overload()).c_str(), calls[o], known ? "" : "  (not implemented)");
            }
        }
        for (uint32_t d = 0; d < plan.delegate_count(); ++d) {
            pte::DelegateView del = plan.delegate(d);
            std::printf("  delegate %u: %s, payload in %s %u", d, str(del.id()).c_str(), del.in_segment() ? "segment" : "inline data",
                        del.data_index());
            if (del.in_segment()) std::printf(" (%zu bytes)", p.segment(del.data_index()).size);
            for (uint32_t k = 0; k < del.compile_spec_count(); ++k) std::printf("%s%s", k ? ", " : "; compile specs: ", str(del.compile_spec_key(k)).c_str());
            std::printf("\n");
            if (pte::runnable_delegate(del)) print_xnnpack_nodes(p.delegate_data(del));
        }
        if (calls)
            for (uint32_t n = 0; n < n_instr; ++n) std::printf("  %4u: %s\n", n, call_text(plan, plan.instruction(0, n)).c_str());
        // Constant methods return stored values without computing anything.
        if (n_instr == 0 && plan.outputs().size()) {
            std::printf("  value:");
            for (uint32_t k = 0; k < plan.outputs().size(); ++k) std::printf(" %s", value_text(plan, plan.outputs()[k]).c_str());
            std::printf("\n");
        }
    }
}

void inspect_gguf(ByteSpan bytes) {
    GgufIndex index;
    if (Status s = index.parse(bytes); !s) die(s);
    const gguf::File& f = index.file;
    std::printf("GGUF v%u, %zu bytes, %" PRIu64 " metadata keys, %" PRIu64 " tensors\n", f.version, bytes.size, f.n_kv, f.n_tensors);
    for (uint64_t i = 0; i < f.n_kv; ++i) {
        const gguf::KeyValue& kv = f.kvs[i];
        std::printf("  %-40s %s ", str(kv.key).c_str(), gguf::value_type_name(kv.value.type));
        if (kv.value.type == gguf::ValueType::string) {
            std::string s = str(kv.value.as_string());
            if (s.size() > 60) s = s.substr(0, 60) + "...";
            for (char& c : s) if (c == '\n') c = ' ';
            std::printf("\"%s\"", s.c_str());
        } else if (kv.value.type == gguf::ValueType::array) {
            std::printf("[%" PRIu64 " x %s]", kv.value.as_array().count, gguf::value_type_name(kv.value.as_array().type));
        } else if (kv.value.is_integer() || kv.value.type == gguf::ValueType::boolean) {
            std::printf("%" PRId64, kv.value.as_int());
        } else {
            std::printf("%g", kv.value.as_float());
        }
        std::printf("\n");
    }
    for (uint64_t i = 0; i < f.n_tensors; ++i) {
        const gguf::TensorInfo& t = f.tensors[i];
        std::printf("  %-32s %-6s [", str(t.name).c_str(), ggml_type_name(t.type));
        for (uint32_t d = 0; d < t.n_dims; ++d) std::printf("%s%" PRId64, d ? ", " : "", t.ne[d]);
        std::printf("] %" PRIu64 " bytes\n", t.n_bytes);
    }
}

} // namespace

int main(int argc, char** argv) {
    bool calls = false;
    std::string path;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--calls") calls = true;
        else if (a == "-h" || a == "--help") return std::printf("usage: inspect [--calls] FILE.pte|FILE.gguf\n"), 0;
        else if (a.size() > 1 && a[0] == '-') return std::fprintf(stderr, "inspect: unknown argument '%s' (usage: inspect [--calls] FILE)\n", a.c_str()), 1;
        else if (!path.empty()) return std::fprintf(stderr, "inspect: one file at a time (got '%s' and '%s')\n", path.c_str(), a.c_str()), 1;
        else path = a;
    }
    if (path.empty()) return std::fprintf(stderr, "inspect: no file given (usage: inspect [--calls] FILE.pte|FILE.gguf)\n"), 1;
    MappedFile file;
    if (Status s = file.open(path); !s) die(s);
    ByteSpan bytes = file.bytes();
    if (bytes.size >= 4 && bytes.data[0] == 'G' && bytes.data[1] == 'G' && bytes.data[2] == 'U' && bytes.data[3] == 'F')
        inspect_gguf(bytes);
    else
        inspect_pte(bytes, calls);
    return 0;
}
