// Runs ExecuTorch's XNNPACK delegate payloads (loaders/formats/xnnpack_payload.hpp) on
// tinyllm's own kernels: no XNNPACK. A delegate is loaded once per program: its values are
// bound to memory (constants as views into the program, external inputs and outputs to the
// delegate call's arguments, the rest in scratch memory every delegate of a method shares,
// since nothing inside a delegate outlives its call), its nodes decoded, and quantized filters
// prepared for the groupwise kernels. A node kind or datatype without an executor here is
// refused at load, naming it.
//
// Semantics follow XNNPACK's subgraph API: row-major tensors; binary nodes broadcast
// numpy-style (shapes aligned from the right); a node's output_min_max clamps its result;
// fully connected: out[.., n] = sum_k in[.., k] * filter[n, k] (+ bias[n]), filter [N, K]
// unless XNN_FLAG_TRANSPOSE_WEIGHTS gives it as [K, N]; batch matrix multiply: [.., M, K] x
// [.., K, N] (XNN_FLAG_TRANSPOSE_B: [.., N, K]); softmax over the last dimension; dynamic
// quantization (qdint8) per row, asymmetric, with XNNPACK's choice of scale and zero point;
// 4-bit filters store value + 8, two per byte, the even column in the low nibble.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/core/weights.hpp"
#include "tinyllm/loaders/formats/xnnpack_payload.hpp"
#include "tinyllm/pte/ops.hpp"

namespace tinyllm::pte {

namespace xnn = tinyllm::xnnpack;

// XNNPACK node flags read here.
constexpr uint32_t xnn_flag_transpose_weights = 1;  // also XNN_FLAG_TRANSPOSE_B

// Multiplier, scale (1 / multiplier) and zero point of one dynamically quantized row.
struct QuantizedRow {
    float multiplier = 1, scale = 1;
    int32_t zero = 0;
};

// XNNPACK's dynamic int8 quantization of one row (qdint8, asymmetric, in float32): the range
// is widened to include 0, multiplier = 255 / range, and the zero point is taken from the end
// whose rounding error is smaller, clamped to int8 and rounded to nearest even.
inline QuantizedRow choose_row_params(const float* x, int64_t n) {
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    QuantizedRow q;
    q.multiplier = lo == hi ? 1.0f : 255.0f / (hi - lo);
    q.scale = 1.0f / q.multiplier;
    const float descaled_min = lo * q.multiplier, descaled_max = hi * q.multiplier;
    float zero = (-128.0f + descaled_min) + (127.0f + descaled_max) > 0 ? -128.0f - descaled_min : 127.0f - descaled_max;
    zero = zero < -128.0f ? -128.0f : zero > 127.0f ? 127.0f : zero;
    q.zero = int32_t(round_half_even(zero));
    return q;
}

// q = round_half_even(clamp(x * multiplier, -128 - zero, 127 - zero)) + zero.
inline void quantize_row_qd8(const float* x, int8_t* codes, int64_t n, QuantizedRow q) {
    const float lo = float(-128 - q.zero), hi = float(127 - q.zero);
    for (int64_t i = 0; i < n; ++i) {
        float v = x[i] * q.multiplier;
        v = v < lo ? lo : v > hi ? hi : v;  // NaN stays NaN: rounded below to a code of 0 + zero
        codes[i] = int8_t(v == v ? round_half_even(v) + q.zero : q.zero);
    }
}

inline void dequantize_row_qd8(const int8_t* codes, float* x, int64_t n, QuantizedRow q) {
    for (int64_t i = 0; i < n; ++i) x[i] = float(int32_t(codes[i]) - q.zero) * q.scale;
}

// One value of a delegate graph. Float values are float32 tensors; qdint8 values hold their
// int8 codes followed by one QuantizedRow per row; filters are read through `filter`.
struct XnnValue {
    xnn::Datatype type = xnn::Datatype::invalid;
    Tensor tensor;
    uint32_t external = xnn::invalid_id;  // argument index in the delegate call
    bool internal = false;                // lives in the shared scratch memory
    int64_t row_len = 0;                  // qdint8: values per quantized row
    QuantizedRow* rows = nullptr;         // qdint8: per-row parameters
};

// A fully connected layer's filter as the core's matrix product reads it.
struct XnnFilter {
    WeightView view;
    GroupwiseMatrix separate;
    bool quantized = false;
};

struct XnnNode {
    xnn::NodeKind kind = xnn::NodeKind::none;
    uint32_t in[5] = {xnn::invalid_id, xnn::invalid_id, xnn::invalid_id, xnn::invalid_id, xnn::invalid_id};
    int n_in = 0;
    uint32_t out = 0;
    uint32_t flags = 0;
    fb::Vector<uint32_t> list, list2;  // perm / new_shape / offsets and sizes
    float param = 0;                    // concatenation axis, ELU alpha, leaky slope
    int32_t filter = -1;                // fully connected: index into the delegate's filters
    bool quantize_input = false;        // fully connected: float input quantized dynamically first
    bool clamp = false;
    float lo = 0, hi = 0;
};

// What one delegate takes from memory, counted from its payload alone.
struct XnnFootprint {
    uint32_t n_values = 0, n_nodes = 0, n_filters = 0;
    uint64_t filter_bytes = 0;   // repacked 4-bit filters
    uint64_t scratch_bytes = 0;  // internal values and a fully connected layer's float rows
};

// Whether tinyllm executes a node kind: everything but the image operators (convolutions,
// windowed pooling, resizing, padding) and attention, which ExecuTorch's runtime no longer
// defines. GlobalAvgPooling2d runs: it is how ExecuTorch delegates a mean over two dimensions.
inline bool xnnpack_node_runs(xnn::NodeKind k) {
    switch (k) {
    case xnn::NodeKind::conv2d: case xnn::NodeKind::depthwise_conv2d: case xnn::NodeKind::conv_transpose_2d:
    case xnn::NodeKind::static_resize_bilinear_2d: case xnn::NodeKind::static_constant_pad: case xnn::NodeKind::avg_pooling_2d:
    case xnn::NodeKind::max_pooling_2d: case xnn::NodeKind::argmax_pooling_2d:
    case xnn::NodeKind::scaled_dot_product_attention: case xnn::NodeKind::none:
        return false;
    default: return uint8_t(k) < xnn::node_kind_count;
    }
}

inline uint64_t xnn_room(uint64_t bytes) { return bytes > UINT64_MAX - 63 ? UINT64_MAX : (bytes + 63) / 64 * 64; }

// a + b, or the largest value when that overflows (an absurd size then fails to allocate).
inline uint64_t saturating_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// Bytes value v takes in scratch memory (0 for constants and externals, and for kinds the
// executor refuses: init names those).
inline uint64_t xnn_value_bytes(const xnn::TensorValueView& v) {
    const uint64_t n = v.numel();
    switch (v.datatype()) {
    case xnn::Datatype::fp32: case xnn::Datatype::int32: return 4 * n;
    case xnn::Datatype::qdint8: {
        const uint64_t last = v.dims().size() ? v.dims()[v.dims().size() - 1] : 1;
        return xnn_room(n) + (last ? n / last : 0) * sizeof(QuantizedRow);
    }
    default: return 0;
    }
}

inline bool xnn_4bit(xnn::Datatype t) { return t == xnn::Datatype::qcint4 || t == xnn::Datatype::qbint4; }

inline XnnFootprint measure_delegate(const xnn::Payload& p) {
    XnnFootprint f;
    f.n_values = p.value_count();
    f.n_nodes = p.node_count();
    for (uint32_t v = 0; v < f.n_values; ++v) {
        const xnn::TensorValueView t = p.value(v);
        if (t.constant_index() == 0 && !(t.flags() & (xnn::external_input | xnn::external_output)))
            f.scratch_bytes = saturating_add(f.scratch_bytes, xnn_room(xnn_value_bytes(t)));
    }
    uint64_t rows_scratch = 0;
    for (uint32_t i = 0; i < f.n_nodes; ++i) {
        const xnn::NodeView n = p.node(i);
        if (n.kind() != xnn::NodeKind::fully_connected) continue;
        ++f.n_filters;
        const fb::Table fields = n.fields();
        const xnn::TensorValueView filter = p.value(fields.scalar<uint32_t>(1));
        const xnn::TensorValueView input = p.value(fields.scalar<uint32_t>(0));
        if (filter.dims().size() == 2 && xnn_4bit(filter.datatype())) {
            const uint64_t rows = filter.dims()[0], cols = filter.dims()[1];
            f.filter_bytes = saturating_add(f.filter_bytes, xnn_room(rows * ((cols + 31) / 32 * 16)));
            // Blockwise scales given as float32 in the graph become bf16, as XNNPACK reads them.
            if (filter.quant_kind == xnn::QuantKind::per_channel_group)
                f.filter_bytes = saturating_add(f.filter_bytes, xnn_room(2 * uint64_t(filter.quant.vector<float>(0).size())));
        }
        // Quantized filters read float rows: the input dequantized (or quantized and
        // dequantized, for a float input) into scratch.
        const uint64_t need = 4 * input.numel();
        rows_scratch = need > rows_scratch ? need : rows_scratch;
    }
    f.scratch_bytes = saturating_add(f.scratch_bytes, xnn_room(rows_scratch));
    return f;
}

class XnnpackDelegate {
public:
    // Arena bytes init() takes (an upper bound, alignment included); scratch is separate.
    static uint64_t arena_bytes(const XnnFootprint& f) {
        auto table = [](uint32_t n, size_t size) { return xnn_room(uint64_t(n ? n : 1) * size); };  // init takes at least one of each
        return saturating_add(table(f.n_values, sizeof(XnnValue)) + table(f.n_nodes, sizeof(XnnNode)) + table(f.n_filters, sizeof(XnnFilter)) + 4 * 64,
                              f.filter_bytes);
    }

    // Loads `payload` (delegate `index` of the method) from `program`, taking its tables from
    // `arena` and using `scratch` (scratch_capacity bytes, at least footprint.scratch_bytes)
    // while it runs.
    Status init(const Program& program, ByteSpan payload_bytes, uint32_t index, Arena& arena, uint8_t* scratch, uint64_t scratch_capacity) {
        index_ = index;
        Result<xnn::Payload> opened = xnn::open_payload(payload_bytes);
        if (!opened) return context(opened.status);
        payload_ = *opened;
        const XnnFootprint f = measure_delegate(payload_);
        values_ = arena.allocate_array<XnnValue>(f.n_values ? f.n_values : 1);
        nodes_ = arena.allocate_array<XnnNode>(f.n_nodes ? f.n_nodes : 1);
        filters_ = arena.allocate_array<XnnFilter>(f.n_filters ? f.n_filters : 1);
        uint8_t* repacked = f.filter_bytes ? static_cast<uint8_t*>(arena.allocate(size_t(f.filter_bytes))) : nullptr;
        if (!values_ || !nodes_ || !filters_ || (f.filter_bytes && !repacked))
            return Status::fail(Error::out_of_memory, "xnnpack delegate ", index, ": arena too small");
        if (f.scratch_bytes > scratch_capacity)
            return Status::fail(Error::out_of_memory, "xnnpack delegate ", index, ": needs ", f.scratch_bytes, " bytes of scratch, has ", scratch_capacity);
        n_values_ = f.n_values;
        uint64_t used = 0;
        for (uint32_t v = 0; v < n_values_; ++v) {
            values_[v] = XnnValue();
            if (Status s = bind_value(program, v, scratch, used); !s) return context(s);
        }
        rows_scratch_ = reinterpret_cast<float*>(scratch + used);
        n_nodes_ = 0;
        n_filters_ = 0;
        for (uint32_t i = 0; i < f.n_nodes; ++i) {
            if (Status s = decode_node(program, i, repacked); !s) return context(s);
        }
        return Status();
    }

    // Checks the arguments of a call to this delegate: one tensor per external value, in
    // external-id order, each with the value's element count and a matching element type, the
    // outputs after the inputs (as ExecuTorch passes them). Sets how many trailing arguments
    // the call writes.
    Status check_call(const Value* values, fb::Vector<int32_t> args, uint32_t& n_outputs) const {
        n_outputs = 0;
        for (uint32_t v = 0; v < n_values_; ++v) {
            if (values_[v].external == xnn::invalid_id) continue;
            if (Status s = check_argument(values, args, v); !s) return s;
            n_outputs += is_output(v);
        }
        for (uint32_t v = 0; v < n_values_; ++v)
            if (values_[v].external != xnn::invalid_id && is_output(v) != (values_[v].external >= args.size() - n_outputs))
                return fail_call(Error::unsupported_type, "outputs are not the last arguments");
        return Status();
    }

    // Runs the graph with its externals bound to the call's arguments, checked again: a move
    // earlier in the method may have put another value where an argument was.
    Status execute(const Value* values, fb::Vector<int32_t> args) {
        for (uint32_t v = 0; v < n_values_; ++v) {
            if (values_[v].external == xnn::invalid_id) continue;
            if (Status s = check_argument(values, args, v); !s) return s;
            values_[v].tensor.data = values[args[values_[v].external]].tensor.data;
        }
        for (uint32_t i = 0; i < n_nodes_; ++i)
            if (Status s = run(nodes_[i]); !s) return Status::fail(s.code, s.detail, " (node ", i, " of xnnpack delegate ", index_, ")");
        return Status();
    }

    uint32_t node_count() const { return n_nodes_; }
    const XnnNode& node(uint32_t i) const { return nodes_[i]; }

private:
    template <class... Pieces>
    Status fail_call(Error code, const Pieces&... pieces) const {
        return Status::fail(code, "xnnpack delegate ", index_, ": ", pieces...);
    }
    Status context(const Status& s) const { return Status::fail(s.code, s.detail, " (xnnpack delegate ", index_, ")"); }

    bool is_output(uint32_t v) const { return payload_.value(v).flags() & xnn::external_output; }

    // External value v's argument: a tensor with v's element count and element type; an
    // output neither a constant of the program nor sharing bytes with another argument.
    Status check_argument(const Value* values, fb::Vector<int32_t> args, uint32_t v) const {
        const XnnValue& x = values_[v];
        if (x.external >= args.size())
            return fail_call(Error::invalid_argument, "called with ", args.size(), " arguments; value ", v, " is argument ", x.external);
        const Value& a = values[args[x.external]];
        if (!a.is_tensor()) return fail_call(Error::invalid_argument, "argument ", x.external, " is a ", value_kind_name(a.kind), ", not a tensor");
        if (a.tensor.numel() != x.tensor.numel() || a.tensor.type != x.tensor.type)
            return fail_call(Error::shape_mismatch, "argument ", x.external, " is ", scalar_type_name(a.tensor.type), " with ", a.tensor.numel(),
                             " elements; the graph's value ", v, " is ", xnn::datatype_name(x.type), " with ", x.tensor.numel());
        if (!is_output(v)) return Status();
        if (a.tensor.constant) return fail_call(Error::invalid_argument, "output argument ", x.external, " is a constant of the program");
        const uint8_t *begin = a.tensor.data, *end = a.tensor.data + a.tensor.nbytes();
        for (uint32_t w = 0; w < n_values_; ++w) {
            if (w == v || values_[w].external == xnn::invalid_id || values_[w].external >= args.size()) continue;
            const Tensor& o = values[args[values_[w].external]].tensor;
            if (values[args[values_[w].external]].is_tensor() && o.data < end && begin < o.data + o.nbytes() && o.nbytes() && a.tensor.nbytes())
                return fail_call(Error::invalid_argument, "output argument ", x.external, " shares memory with argument ", values_[w].external);
        }
        return Status();
    }

    // A constant's bytes: from the program's named data (by key) or the payload.
    ByteSpan constant_bytes(const Program& program, uint32_t k) const {
        if (k < payload_.constant_count()) {
            const StrView key = payload_.constant_key(k);
            if (key.empty()) return payload_.inline_constant(k);
            for (uint32_t i = 0; i < program.named_data_count(); ++i)
                if (program.named_data_key(i) == key) return program.segment(program.named_data_segment(i));
            return {};
        }
        return k < payload_.legacy_constant_count() ? payload_.legacy_constant(k) : ByteSpan{};
    }

    // Bytes a constant of this type and shape must have.
    static uint64_t constant_need(xnn::Datatype type, uint64_t numel, uint64_t rows) {
        switch (type) {
        case xnn::Datatype::fp32: case xnn::Datatype::int32: case xnn::Datatype::qint32: case xnn::Datatype::qcint32: return 4 * numel;
        case xnn::Datatype::fp16: case xnn::Datatype::bf16: return 2 * numel;
        case xnn::Datatype::qcint8: case xnn::Datatype::qint8: return numel;
        case xnn::Datatype::qcint4: case xnn::Datatype::qbint4: return rows ? rows * ((numel / rows + 1) / 2) : 0;
        default: return 0;
        }
    }

    Status bind_value(const Program& program, uint32_t v, uint8_t* scratch, uint64_t& used) {
        const xnn::TensorValueView t = payload_.value(v);
        XnnValue& x = values_[v];
        x.type = t.datatype();
        const fb::Vector<uint32_t> dims = t.dims();
        Tensor& tensor = x.tensor;
        tensor.dim = int(dims.size());
        for (uint32_t d = 0; d < dims.size(); ++d) tensor.sizes[d] = dims[d];
        const int64_t numel = tensor.numel();
        const int64_t rows = tensor.dim >= 1 ? numel / (tensor.sizes[tensor.dim - 1] ? tensor.sizes[tensor.dim - 1] : 1) : 1;
        switch (x.type) {
        case xnn::Datatype::fp32: tensor.type = ScalarType::Float; break;
        case xnn::Datatype::int32: case xnn::Datatype::qint32: case xnn::Datatype::qcint32: tensor.type = ScalarType::Int; break;
        case xnn::Datatype::fp16: tensor.type = ScalarType::Half; break;
        case xnn::Datatype::bf16: tensor.type = ScalarType::BFloat16; break;
        case xnn::Datatype::qcint8: case xnn::Datatype::qint8: case xnn::Datatype::qdint8: case xnn::Datatype::qcint4:
        case xnn::Datatype::qbint4: tensor.type = ScalarType::Char; break;
        default:
            return Status::fail(Error::unsupported_type, "value ", v, " has datatype ", xnn::datatype_name(x.type), ", which tinyllm does not run");
        }
        if (t.constant_index() != 0) {
            if (x.type == xnn::Datatype::qdint8) return Status::fail(Error::corrupt, "value ", v, ": a dynamically quantized value cannot be a constant");
            const ByteSpan data = constant_bytes(program, t.constant_index());
            const uint64_t need = constant_need(x.type, uint64_t(numel), uint64_t(rows));
            if (!data.data) return Status::fail(Error::missing_tensor, "constant of value ", v, " is not in the program");
            if (data.size < need) return Status::fail(Error::truncated, "constant of value ", v, " has ", uint64_t(data.size), " bytes, needs ", need);
            if (reinterpret_cast<uintptr_t>(data.data) % (tensor.type == ScalarType::Char ? 1 : tensor.element_size()) != 0)
                return Status::fail(Error::bad_alignment, "constant of value ", v, " is not aligned to its element size");
            tensor.data = const_cast<uint8_t*>(data.data);
            tensor.constant = true;
            return Status();
        }
        const uint32_t flags = t.flags();
        if (flags & (xnn::external_input | xnn::external_output)) {
            x.external = t.external_id();
            if (x.external == xnn::invalid_id) return Status::fail(Error::corrupt, "external value ", v, " has no external id");
            for (uint32_t w = 0; w < v; ++w)
                if (values_[w].external == x.external) return Status::fail(Error::corrupt, "values ", w, " and ", v, " share external id ", x.external);
            if (x.type == xnn::Datatype::qdint8 || xnn_4bit(x.type) || x.type == xnn::Datatype::qcint8)
                return Status::fail(Error::unsupported_type, "external value ", v, " is ", xnn::datatype_name(x.type));
            return Status();
        }
        if (x.type != xnn::Datatype::fp32 && x.type != xnn::Datatype::qdint8 && x.type != xnn::Datatype::int32)
            return Status::fail(Error::unsupported_type, "internal value ", v, " of datatype ", xnn::datatype_name(x.type));
        x.internal = true;
        tensor.data = scratch + used;
        if (x.type == xnn::Datatype::qdint8) {
            x.row_len = tensor.dim ? tensor.sizes[tensor.dim - 1] : 1;
            x.rows = reinterpret_cast<QuantizedRow*>(scratch + used + xnn_room(uint64_t(numel)));
        }
        used += xnn_room(xnn_value_bytes(t));
        return Status();
    }

    Status decode_node(const Program& program, uint32_t i, uint8_t*& repacked) {
        const xnn::NodeView n = payload_.node(i);
        const xnn::NodeKind kind = n.kind();
        XnnNode& node = nodes_[n_nodes_];
        node = XnnNode();
        node.kind = kind;
        if (!xnnpack_node_runs(kind)) return Status::fail(Error::unsupported_op, "node ", i, " is ", xnn::node_kind_name(kind), ", which tinyllm does not run");
        const xnn::NodeLayout l = xnn::node_layout(kind);
        const fb::Table f = n.fields();
        node.n_in = xnn::input_count(l);
        for (int k = 0; k < node.n_in; ++k) node.in[k] = f.scalar<uint32_t>(l.inputs[k]);
        node.out = f.scalar<uint32_t>(l.output);
        node.flags = l.flags >= 0 ? f.scalar<uint32_t>(l.flags) : 0;
        if (l.uint_list >= 0) node.list = f.vector<uint32_t>(l.uint_list);
        if (l.uint_list2 >= 0) node.list2 = f.vector<uint32_t>(l.uint_list2);
        if (l.first_scalar >= 0)
            node.param = kind == xnn::NodeKind::elu || kind == xnn::NodeKind::leaky_relu ? f.scalar<float>(l.first_scalar)
                                                                                           : float(f.scalar<uint32_t>(l.first_scalar));
        const bool clamps = kind == xnn::NodeKind::fully_connected || kind == xnn::NodeKind::add || kind == xnn::NodeKind::subtract ||
                            kind == xnn::NodeKind::multiply || kind == xnn::NodeKind::div || kind == xnn::NodeKind::clamp ||
                            kind == xnn::NodeKind::global_avg_pooling_2d;
        if (clamps && n.has_min_max()) {
            node.lo = n.output_min();
            node.hi = n.output_max();
            node.clamp = !(node.lo <= -3.4e38f && node.hi >= 3.4e38f);
        }
        const XnnValue& out = values_[node.out];
        if (!out.internal && !(out.external != xnn::invalid_id && is_output(node.out)))
            return Status::fail(Error::invalid_argument, "node ", i, " (", xnn::node_kind_name(kind), ") writes value ", node.out,
                                ", which is a constant or an input of the delegate");
        for (int k = 0; k < node.n_in; ++k) {
            if (node.in[k] == xnn::invalid_id) continue;
            if (node.in[k] == node.out) return Status::fail(Error::corrupt, "node ", i, " reads its own output");
        }
        if (kind == xnn::NodeKind::fully_connected) {
            if (Status s = prepare_filter(program, i, node, repacked); !s) return s;
        } else if (kind != xnn::NodeKind::convert) {
            // Other nodes compute in float32 (int32 only moves through reshapes and slices).
            for (int k = 0; k <= node.n_in; ++k) {
                const uint32_t id = k < node.n_in ? node.in[k] : node.out;
                if (values_[id].type != xnn::Datatype::fp32 && !(moves_only(kind) && values_[id].type == xnn::Datatype::int32))
                    return Status::fail(Error::unsupported_type, "node ", i, " (", xnn::node_kind_name(kind), ") on ",
                                        xnn::datatype_name(values_[id].type), " value ", id);
            }
        }
        ++n_nodes_;
        return Status();
    }

    static bool moves_only(xnn::NodeKind k) {
        return k == xnn::NodeKind::static_reshape || k == xnn::NodeKind::static_transpose || k == xnn::NodeKind::static_slice ||
               k == xnn::NodeKind::concatenate2 || k == xnn::NodeKind::concatenate3 || k == xnn::NodeKind::concatenate4 ||
               k == xnn::NodeKind::concatenate5;
    }

    // The filter of a fully connected node as a WeightView: float rows in place, int8
    // per-channel codes in place, 4-bit codes repacked into tinyllm's int4 layout (the same
    // values, value + 8 per nibble either way).
    Status prepare_filter(const Program& program, uint32_t i, XnnNode& node, uint8_t*& repacked) {
        const XnnValue& in = values_[node.in[0]];
        const XnnValue& w = values_[node.in[1]];
        const XnnValue& out = values_[node.out];
        if (!w.tensor.constant || w.tensor.dim != 2) return Status::fail(Error::unsupported_type, "node ", i, ": fully connected filter is not a constant matrix");
        if (node.flags & xnn_flag_transpose_weights && w.type != xnn::Datatype::fp32)
            return Status::fail(Error::unsupported_type, "node ", i, ": transposed ", xnn::datatype_name(w.type), " filter");
        const bool transposed = node.flags & xnn_flag_transpose_weights;
        const int64_t n_out = transposed ? w.tensor.sizes[1] : w.tensor.sizes[0], k = transposed ? w.tensor.sizes[0] : w.tensor.sizes[1];
        const int64_t in_cols = in.tensor.dim ? in.tensor.sizes[in.tensor.dim - 1] : 1;
        if (in_cols != k || k == 0 || out.tensor.numel() != in.tensor.numel() / k * n_out)
            return Status::fail(Error::shape_mismatch, "node ", i, ": fully connected input, filter and output shapes do not fit");
        if (node.in[2] != xnn::invalid_id) {
            const XnnValue& bias = values_[node.in[2]];
            if (bias.type != xnn::Datatype::fp32 || bias.tensor.numel() != n_out)
                return Status::fail(Error::unsupported_type, "node ", i, ": bias is not float32 with one value per output");
        }
        if (out.type != xnn::Datatype::fp32) return Status::fail(Error::unsupported_type, "node ", i, ": fully connected output is ", xnn::datatype_name(out.type));
        const bool quantized_input = in.type == xnn::Datatype::qdint8;
        if (!quantized_input && in.type != xnn::Datatype::fp32)
            return Status::fail(Error::unsupported_type, "node ", i, ": fully connected input is ", xnn::datatype_name(in.type));
        XnnFilter& filter = filters_[n_filters_];
        filter = XnnFilter();
        WeightView& view = filter.view;
        view.rows = n_out;
        view.cols = k;
        view.float_act = true;
        view.data = w.tensor.data;
        const xnn::TensorValueView wv = payload_.value(node.in[1]);
        switch (w.type) {
        case xnn::Datatype::fp32:
            if (quantized_input) return Status::fail(Error::unsupported_type, "node ", i, ": float filter with a qdint8 input");
            view.type = GgmlType::F32;
            view.row_bytes = uint64_t(k) * 4;
            break;
        case xnn::Datatype::fp16: case xnn::Datatype::bf16:
            if (quantized_input) return Status::fail(Error::unsupported_type, "node ", i, ": 16-bit filter with a qdint8 input");
            view.type = w.type == xnn::Datatype::fp16 ? GgmlType::F16 : GgmlType::BF16;
            view.row_bytes = uint64_t(k) * 2;
            break;
        case xnn::Datatype::qcint8: case xnn::Datatype::qcint4: case xnn::Datatype::qbint4: {
            if (Status s = quantized_filter(program, i, wv, w, filter, repacked); !s) return s;
            break;
        }
        default: return Status::fail(Error::unsupported_type, "node ", i, ": fully connected filter of datatype ", xnn::datatype_name(w.type));
        }
        node.quantize_input = filter.quantized && !quantized_input && payload_.value(node.in[0]).dq_datatype() == xnn::Datatype::qint8;
        node.filter = int32_t(n_filters_);
        ++n_filters_;
        return Status();
    }

    Status quantized_filter(const Program& program, uint32_t i, const xnn::TensorValueView& wv, const XnnValue& w, XnnFilter& filter, uint8_t*& repacked) {
        WeightView& view = filter.view;
        const int64_t rows = view.rows, cols = view.cols;
        const bool grouped = w.type == xnn::Datatype::qbint4;
        const xnn::QuantKind want = grouped ? xnn::QuantKind::per_channel_group : xnn::QuantKind::per_channel;
        if (wv.quant_kind != want)
            return Status::fail(Error::unsupported_type, "node ", i, ": ", xnn::datatype_name(w.type), " filter without its quantization parameters");
        const int32_t channel_dim = wv.quant.scalar<int32_t>(1);
        if (channel_dim != 0) return Status::fail(Error::unsupported_type, "node ", i, ": filter quantized along dimension ", channel_dim);
        const int64_t group = grouped ? wv.quant.scalar<int32_t>(xnn::field::group_size) : cols;
        if (group <= 0 || cols % group != 0) return Status::fail(Error::bad_shape, "node ", i, ": group size ", group, " does not divide ", cols, " columns");
        const int64_t n_scales = rows * (cols / group);
        // Scales, as XNNPACK's runtime reads them: a constant (per channel: float32; blockwise:
        // bf16) when scale_buffer_idx names one; else, blockwise, the graph's bf16 vector (older
        // exports, which older runtimes prefer) or its float32 one as bf16 = the top half of
        // (scale * 1.00389105f); per channel, the float32 vector.
        GroupScale scale_type = grouped ? GroupScale::bf16 : GroupScale::f32;
        const uint8_t* scales = nullptr;
        const fb::Vector<float> f32_scales = wv.quant.vector<float>(0);
        const uint32_t scale_buffer =
            wv.quant.scalar<uint32_t>(grouped ? int(xnn::field::group_scale_buffer_idx) : int(xnn::field::per_channel_scale_buffer_idx));
        const uint64_t scale_bytes = uint64_t(n_scales) * (grouped ? 2 : 4);
        if (scale_buffer != 0) {
            const ByteSpan data = constant_bytes(program, scale_buffer);
            if (!data.data || data.size < scale_bytes)
                return Status::fail(Error::truncated, "node ", i, ": filter scales (constant ", scale_buffer, ") are missing or shorter than ", scale_bytes, " bytes");
            scales = data.data;
        } else if (grouped && wv.quant.vector<uint16_t>(xnn::field::group_scale_bf16).size() == uint64_t(n_scales)) {
            scales = wv.quant.vector<uint16_t>(xnn::field::group_scale_bf16).bytes();
        } else if (f32_scales.size() != uint64_t(n_scales)) {
            return Status::fail(Error::bad_shape, "node ", i, ": filter has ", f32_scales.size(), " scales, needs ", n_scales);
        } else if (grouped) {
            uint16_t* bf16 = reinterpret_cast<uint16_t*>(repacked);
            for (int64_t s = 0; s < n_scales; ++s) {
                const float scaled = f32_scales[uint32_t(s)] * 1.00389105f;
                uint32_t bits;
                __builtin_memcpy(&bits, &scaled, 4);
                bf16[s] = uint16_t(bits >> 16);
            }
            scales = repacked;
            repacked += xnn_room(uint64_t(n_scales) * 2);
        } else {
            scales = f32_scales.bytes();
        }
        GroupwiseMatrix& m = filter.separate;
        m.rows = rows;
        m.scales = scales;
        m.scale_stride = (cols / group) * (scale_type == GroupScale::f32 ? 4 : 2);
        if (w.type == xnn::Datatype::qcint8) {
            m.layout = GroupwiseLayout{8, cols, group, scale_type};
            m.codes = w.tensor.data;
            m.code_stride = cols;
            view.type = GgmlType::TINYLLM_INT8;
            view.row_bytes = uint64_t(cols);
        } else {
            m.layout = GroupwiseLayout{4, cols, group, scale_type};
            const int64_t row_bytes = m.layout.code_bytes(), packed = (cols + 1) / 2;
            for (int64_t r = 0; r < rows; ++r) {
                const uint8_t* src = w.tensor.data + r * packed;
                uint8_t* dst = repacked + r * row_bytes;
                __builtin_memset(dst, 0x88, size_t(row_bytes));
                for (int64_t c = 0; c < cols; ++c) {
                    const uint8_t nibble = c % 2 ? src[c / 2] >> 4 : src[c / 2] & 0x0f;
                    uint8_t& byte = dst[c / 32 * 16 + c % 16];
                    byte = (c % 32) < 16 ? uint8_t((byte & 0xf0) | nibble) : uint8_t((byte & 0x0f) | nibble << 4);
                }
            }
            m.codes = repacked;
            m.code_stride = row_bytes;
            repacked += xnn_room(uint64_t(rows * row_bytes));
            view.type = GgmlType::TINYLLM_INT4;
            view.row_bytes = uint64_t(row_bytes);
        }
        view.data = m.codes;
        view.group = group;
        view.separate = &filter.separate;
        filter.quantized = true;
        return Status();
    }

    // ---- execution ----

    Status clamp_output(const XnnNode& node) {
        if (!node.clamp) return Status();
        const Tensor& t = values_[node.out].tensor;
        const float lo = node.lo, hi = node.hi;
        map_f32(t.as<float>(), t.as<float>(), t.numel(), [lo, hi](float x) { return x < lo ? lo : x > hi ? hi : x; });
        return Status();
    }

    template <class F>
    Status binary(const XnnNode& node, const char* name, F f) {
        if (Status s = ops::binary(name, values_[node.in[0]].tensor, values_[node.in[1]].tensor, values_[node.out].tensor, f); !s) return s;
        return clamp_output(node);
    }
    template <class F>
    Status unary(const XnnNode& node, const char* name, F f) {
        if (Status s = ops::unary(name, values_[node.in[0]].tensor, values_[node.out].tensor, f); !s) return s;
        return clamp_output(node);
    }

    static float floor_f32(float x) {
        if (!(x < 8388608.0f && x > -8388608.0f)) return x;  // already integral, or NaN
        const float t = float(int32_t(x));
        return t > x ? t - 1.0f : t;
    }

    Status run(const XnnNode& node) {
        using K = xnn::NodeKind;
        const Tensor& out = values_[node.out].tensor;
        const Tensor& a = values_[node.in[0]].tensor;
        switch (node.kind) {
        case K::add: return binary(node, "Add", [](double x, double y) { return x + y; });
        case K::subtract: return binary(node, "Subtract", [](double x, double y) { return x - y; });
        case K::multiply: return binary(node, "Multiply", [](double x, double y) { return x * y; });
        case K::div: return binary(node, "Div", [](double x, double y) { return x / y; });
        case K::minimum: return binary(node, "Minimum", [](double x, double y) { return x < y ? x : y; });
        case K::maximum: return binary(node, "Maximum", [](double x, double y) { return x > y ? x : y; });
        case K::prelu: return binary(node, "PReLU", [](double x, double slope) { return x < 0 ? x * slope : x; });
        case K::clamp: return unary(node, "Clamp", [](float x) { return x; });
        case K::sigmoid: return unary(node, "Sigmoid", [](float x) { return 1.0f / (1.0f + math::expf(-x)); });
        case K::tanh: return unary(node, "Tanh", [](float x) { return math::tanhf(x); });
        case K::square_root: return unary(node, "SquareRoot", [](float x) { return math::sqrtf(x); });
        case K::reciprocal_square_root: return unary(node, "ReciprocalSquareRoot", [](float x) { return 1.0f / math::sqrtf(x); });
        case K::negate: return unary(node, "Negate", [](float x) { return -x; });
        case K::square: return unary(node, "Square", [](float x) { return x * x; });
        case K::abs: return unary(node, "Abs", [](float x) { return x < 0 ? -x : x; });
        case K::exp: return unary(node, "Exp", [](float x) { return math::expf(x); });
        case K::log: return unary(node, "Log", [](float x) { return float(math::log(double(x))); });
        case K::sin: return unary(node, "Sin", [](float x) { double s, c; math::sincos(double(x), &s, &c); return float(s); });
        case K::floor: return unary(node, "Floor", [](float x) { return floor_f32(x); });
        case K::ceiling: return unary(node, "Ceiling", [](float x) { return -floor_f32(-x); });
        case K::gelu: return unary(node, "Gelu", [](float x) { return float(0.5 * double(x) * (1.0 + erf(double(x) * 0.70710678118654752))); });
        case K::hardswish: return unary(node, "Hardswish", [](float x) { const float r = x + 3.0f; return x * (r < 0 ? 0 : r > 6 ? 6 : r) / 6.0f; });
        case K::elu: {
            const float alpha = node.param;
            return unary(node, "ELU", [alpha](float x) { return x < 0 ? alpha * (math::expf(x) - 1.0f) : x; });
        }
        case K::leaky_relu: {
            const float slope = node.param;
            return unary(node, "LeakyReLU", [slope](float x) { return x < 0 ? x * slope : x; });
        }
        case K::softmax: {
            if (!a.same_shape(out) || a.dim == 0) return shape_error("Softmax", "input and output shapes differ");
            const int64_t n = a.sizes[a.dim - 1];
            if (n == 0) return Status();
            for (int64_t r = 0; r < a.numel() / n; ++r) ops::softmax_row(a.as<float>() + r * n, out.as<float>() + r * n, n, 1, false);
            return clamp_output(node);
        }
        case K::static_reshape:
            if (a.numel() != out.numel() || a.type != out.type) return shape_error("StaticReshape", "element counts differ");
            if (a.data != out.data) __builtin_memmove(out.data, a.data, a.nbytes());
            return Status();
        case K::static_transpose: return transpose(node, a, out);
        case K::static_slice: return slice(node, a, out);
        case K::concatenate2: case K::concatenate3: case K::concatenate4: case K::concatenate5: return concatenate(node, out);
        case K::batch_matrix_multiply: return batch_matmul(node, a, values_[node.in[1]].tensor, out);
        case K::global_avg_pooling_2d: return global_average(node, a, out);
        case K::fully_connected: return fully_connected(node);
        case K::convert: return convert(node);
        default: return Status::fail(Error::unsupported_op, xnn::node_kind_name(node.kind), " cannot run");
        }
    }

    static double erf(double x) {
        // Abramowitz-Stegun 7.1.26 is too coarse for float; the series / continued fraction
        // pair below is accurate to ~1e-15 over the whole line.
        const double ax = x < 0 ? -x : x;
        double r;
        if (ax < 2.5) {
            double term = ax, sum = ax;
            for (int n = 1; n < 60; ++n) {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = sum * 1.1283791670955126;
        } else {
            double f = 0;
            for (int n = 60; n >= 1; --n) f = n / 2.0 / (ax + f);
            r = 1.0 - math::exp(-ax * ax) / (ax + f) * 0.5641895835477563;
        }
        return x < 0 ? -r : r;
    }

    // The mean over the two dimensions before the last of [.., H, W, C] (NHWC): [.., C] values,
    // as [.., 1, 1, C] or [.., C].
    Status global_average(const XnnNode& node, const Tensor& in, const Tensor& out) {
        if (in.dim < 3) return shape_error("GlobalAvgPooling2d", "input has fewer than 3 dimensions");
        const int64_t c = in.sizes[in.dim - 1], hw = in.sizes[in.dim - 3] * in.sizes[in.dim - 2], batch = in.outer(in.dim - 3);
        if (out.numel() != batch * c) return shape_error("GlobalAvgPooling2d", "output is not one value per batch and channel");
        const float* x = in.as<float>();
        float* y = out.as<float>();
        for (int64_t b = 0; b < batch; ++b)
            for (int64_t ch = 0; ch < c; ++ch) {
                double sum = 0;
                for (int64_t p = 0; p < hw; ++p) sum += double(x[(b * hw + p) * c + ch]);
                y[b * c + ch] = hw ? float(sum / double(hw)) : 0.0f;
            }
        return clamp_output(node);
    }

    Status transpose(const XnnNode& node, const Tensor& in, const Tensor& out) {
        if (node.list.size() != uint32_t(in.dim) || out.dim != in.dim || out.type != in.type)
            return shape_error("StaticTranspose", "permutation does not match the input rank");
        int64_t strides[max_runtime_dims];
        bool used[max_runtime_dims] = {};
        for (int d = 0; d < in.dim; ++d) {
            const uint32_t src = node.list[uint32_t(d)];
            if (src >= uint32_t(in.dim) || used[src]) return shape_error("StaticTranspose", "not a permutation");
            used[src] = true;
            if (out.sizes[d] != in.sizes[src]) return shape_error("StaticTranspose", "output shape is not the permuted input");
            strides[d] = in.inner(int(src));
        }
        strided_copy(out.data, in.data, in.element_size(), out.dim, out.sizes, strides, 0);
        return Status();
    }

    Status slice(const XnnNode& node, const Tensor& in, const Tensor& out) {
        if (node.list.size() != uint32_t(in.dim) || node.list2.size() != uint32_t(in.dim) || out.dim != in.dim || out.type != in.type)
            return shape_error("StaticSlice", "offsets and sizes do not match the input rank");
        int64_t strides[max_runtime_dims], start = 0;
        for (int d = 0; d < in.dim; ++d) {
            const int64_t offset = node.list[uint32_t(d)], size = node.list2[uint32_t(d)] ? node.list2[uint32_t(d)] : in.sizes[d] - offset;
            if (offset > in.sizes[d] || size != out.sizes[d] || size > in.sizes[d] - offset)
                return shape_error("StaticSlice", "slice runs past the input or differs from the output shape");
            strides[d] = in.inner(d);
            start += offset * strides[d];
        }
        strided_copy(out.data, in.data, in.element_size(), out.dim, out.sizes, strides, start);
        return Status();
    }

    Status concatenate(const XnnNode& node, const Tensor& out) {
        return pte::concatenate("Concatenate", out, int64_t(node.param), node.n_in, [&](int k) { return &values_[node.in[k]].tensor; });
    }

    Status batch_matmul(const XnnNode& node, const Tensor& a, const Tensor& b, const Tensor& out) {
        const bool transpose_b = node.flags & xnn_flag_transpose_weights;
        if (a.dim < 2 || b.dim != a.dim || out.dim != a.dim) return shape_error("BatchMatrixMultiply", "operands of different ranks");
        const int64_t m = a.sizes[a.dim - 2], k = a.sizes[a.dim - 1];
        const int64_t n = transpose_b ? b.sizes[b.dim - 2] : b.sizes[b.dim - 1], kb = transpose_b ? b.sizes[b.dim - 1] : b.sizes[b.dim - 2];
        const int64_t batch = a.outer(a.dim - 2);
        if (kb != k || b.outer(b.dim - 2) != batch || out.sizes[out.dim - 2] != m || out.sizes[out.dim - 1] != n || out.outer(out.dim - 2) != batch)
            return shape_error("BatchMatrixMultiply", "operands are not [..,m,k] x [..,k,n] -> [..,m,n]");
        for (int64_t i = 0; i < batch; ++i) {
            const float* x = a.as<float>() + i * m * k;
            const float* w = b.as<float>() + i * k * n;
            float* y = out.as<float>() + i * m * n;
            if (!transpose_b) {
                ops::matmul_f32(x, w, y, m, k, n);
                continue;
            }
            for (int64_t r = 0; r < m; ++r)
                for (int64_t c = 0; c < n; ++c) {
                    float sum = 0;
                    for (int64_t j = 0; j < k; ++j) sum += x[r * k + j] * w[c * k + j];
                    y[r * n + c] = sum;
                }
        }
        return clamp_output(node);
    }

    Status fully_connected(const XnnNode& node) {
        const XnnValue& in = values_[node.in[0]];
        const XnnFilter& filter = filters_[node.filter];
        const Tensor& out = values_[node.out].tensor;
        const int64_t k = filter.view.cols, n = filter.view.rows, tokens = in.tensor.numel() / k;
        MatmulInput x;
        x.x = in.tensor.as<float>();
        x.n_tokens = int(tokens);
        x.cols = int(k);
        if (in.type == xnn::Datatype::qdint8) {
            for (int64_t r = 0; r < tokens; ++r)
                dequantize_row_qd8(in.tensor.as<int8_t>() + r * k, rows_scratch_ + r * k, k, in.rows[r]);
            x.x = rows_scratch_;
        } else if (node.quantize_input) {
            // A float input marked for dynamic quantization (dq_datatype, older exports) is
            // quantized first: the rows a Convert node would give. Unmarked float inputs meet
            // a quantized filter as they are (XNNPACK's f32 x qc8w/qc4w/qb4w).
            for (int64_t r = 0; r < tokens; ++r) {
                const float* row = in.tensor.as<float>() + r * k;
                int8_t codes[256];
                const QuantizedRow q = choose_row_params(row, k);
                for (int64_t c = 0; c < k; c += 256) {
                    const int64_t len = k - c < 256 ? k - c : 256;
                    quantize_row_qd8(row + c, codes, len, q);
                    dequantize_row_qd8(codes, rows_scratch_ + r * k + c, len, q);
                }
            }
            x.x = rows_scratch_;
        }
        if (node.flags & xnn_flag_transpose_weights) {
            ops::matmul_f32(x.x, filter.view.data ? reinterpret_cast<const float*>(filter.view.data) : nullptr, out.as<float>(), tokens, k, n);
        } else {
            matmul(filter.view, x, out.as<float>(), n);
        }
        if (node.in[2] != xnn::invalid_id) {
            const float* bias = values_[node.in[2]].tensor.as<float>();
            float* y = out.as<float>();
            for (int64_t r = 0; r < tokens; ++r)
                for (int64_t c = 0; c < n; ++c) y[r * n + c] += bias[c];
        }
        return clamp_output(node);
    }

    Status convert(const XnnNode& node) {
        XnnValue& in = values_[node.in[0]];
        XnnValue& out = values_[node.out];
        if (in.tensor.numel() != out.tensor.numel()) return shape_error("Convert", "element counts differ");
        const int64_t n = in.tensor.numel();
        if (in.type == xnn::Datatype::fp32 && out.type == xnn::Datatype::qdint8) {
            const int64_t len = out.row_len ? out.row_len : 1;
            for (int64_t r = 0; r < n / len; ++r) {
                const float* row = in.tensor.as<float>() + r * len;
                out.rows[r] = choose_row_params(row, len);
                quantize_row_qd8(row, out.tensor.as<int8_t>() + r * len, len, out.rows[r]);
            }
            return Status();
        }
        if (in.type == xnn::Datatype::qdint8 && out.type == xnn::Datatype::fp32) {
            const int64_t len = in.row_len ? in.row_len : 1;
            for (int64_t r = 0; r < n / len; ++r)
                dequantize_row_qd8(in.tensor.as<int8_t>() + r * len, out.tensor.as<float>() + r * len, len, in.rows[r]);
            return Status();
        }
        const bool floats = (in.type == xnn::Datatype::fp32 || in.type == xnn::Datatype::fp16 || in.type == xnn::Datatype::bf16) &&
                            (out.type == xnn::Datatype::fp32 || out.type == xnn::Datatype::fp16 || out.type == xnn::Datatype::bf16);
        if (!floats) return Status::fail(Error::unsupported_type, "Convert from ", xnn::datatype_name(in.type), " to ", xnn::datatype_name(out.type));
        ops::convert_copy(in.tensor, out.tensor);
        return Status();
    }

    xnn::Payload payload_;
    uint32_t index_ = 0;
    XnnValue* values_ = nullptr;
    XnnNode* nodes_ = nullptr;
    XnnFilter* filters_ = nullptr;
    float* rows_scratch_ = nullptr;
    uint32_t n_values_ = 0, n_nodes_ = 0, n_filters_ = 0;
};

} // namespace tinyllm::pte
