// ExecuTorch's XNNPACK delegate payload: views over the graph an `XnnpackBackend` delegate call
// carries (ExecuTorch's backends/xnnpack/serialization/schema.fbs, namespace fb_xnnpack,
// identifier "XN01"; the older "XN00" has the same layout). The payload is
//   - optionally an `XH00` header: 4 zero bytes, "XH00", uint16 header length (30), uint32
//     flatbuffer offset, uint32 flatbuffer size, uint32 constant data offset, uint64 constant
//     data size (all little-endian, relative to the payload);
//   - the XNNGraph flatbuffer: values (tensors, some quantized), nodes, the ids of the external
//     inputs and outputs, and where each constant's bytes are (constant_data: an offset into the
//     payload's constant data, or a key of the program's named data).
// `open_payload` walks every table the schema reaches and checks the ids and extents the
// executor relies on, so any bytes give consistent views or a named error.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/loaders/formats/flatbuffer.hpp"

namespace tinyllm::xnnpack {

// Field slots (declaration order; a union takes two slots: its type, then its value).
namespace field {
enum Graph { graph_version, graph_nodes, graph_values, graph_num_externs, graph_input_ids, graph_output_ids,
             graph_constant_buffer, graph_mem_buffer_sizes, graph_constant_data };
enum Node { node_type, node_value, node_debug_handle, node_output_min_max };
enum Value { value_type, value_value };
enum TensorValue { tensor_datatype, tensor_num_dims, tensor_dims, tensor_constant_buffer_idx, tensor_external_id,
                   tensor_flags, tensor_id_out, tensor_dq_datatype };
enum QuantizedTensorValue { quantized_tensor, quantized_params_type, quantized_params };
enum PerChannelQuant { per_channel_scale, per_channel_dim, per_channel_scale_buffer_idx, per_channel_num_scales };
enum PerTensorQuant { per_tensor_scale, per_tensor_zero_point };
enum PerChannelGroupQuant { group_scale, group_channel_dim, group_size, group_scale_bf16, group_scale_buffer_idx, group_num_scales };
enum ConstantDataOffset { constant_offset, constant_size, constant_named_key };
enum OutputMinMax { output_min, output_max };
} // namespace field

// XNNDatatype.
enum class Datatype : int16_t {
    invalid = 0, fp32 = 1, fp16 = 2, qint8 = 3, quint8 = 4, qint32 = 5, qcint8 = 6, qcint32 = 7, qcint4 = 8,
    qdint8 = 9, qbint4 = 10, qpint8 = 11, int32 = 12, pfp32 = 13, bf16 = 14,
};

inline const char* datatype_name(Datatype t) {
    static const char* const names[] = {"invalid", "fp32", "fp16", "qint8", "quint8", "qint32", "qcint8", "qcint32",
                                        "qcint4", "qdint8", "qbint4", "qpint8", "int32", "pfp32", "bf16"};
    return uint16_t(t) <= uint16_t(Datatype::bf16) ? names[uint16_t(t)] : "unknown";
}

// XNNQuantParams.
enum class QuantKind : uint8_t { none = 0, per_channel, per_tensor, per_token_dynamic, per_channel_group };

// XNodeUnion, in the schema's order (type codes 1..45).
enum class NodeKind : uint8_t {
    none = 0, add, fully_connected, softmax, sigmoid, static_transpose, clamp, conv2d, div, static_resize_bilinear_2d,
    static_constant_pad, avg_pooling_2d, minimum, depthwise_conv2d, max_pooling_2d, multiply, subtract, floor, convert,
    global_avg_pooling_2d, static_reshape, argmax_pooling_2d, square_root, ceiling, hardswish, leaky_relu, maximum,
    negate, square, elu, abs, prelu, concatenate2, concatenate3, concatenate4, static_slice,
    scaled_dot_product_attention, batch_matrix_multiply, concatenate5, conv_transpose_2d, reciprocal_square_root, log,
    gelu, tanh, exp, sin,
};
constexpr uint8_t node_kind_count = uint8_t(NodeKind::sin) + 1;

inline const char* node_kind_name(NodeKind k) {
    static const char* const names[node_kind_count] = {
        "none", "Add", "FullyConnected", "Softmax", "Sigmoid", "StaticTranspose", "Clamp", "Conv2d", "Div",
        "StaticResizeBilinear2D", "StaticConstantPad", "AvgPooling2d", "Minimum", "DepthwiseConv2d", "MaxPooling2d",
        "Multiply", "Subtract", "Floor", "Convert", "GlobalAvgPooling2d", "StaticReshape", "ArgMaxPooling2d",
        "SquareRoot", "Ceiling", "Hardswish", "LeakyReLU", "Maximum", "Negate", "Square", "ELU", "Abs", "PReLU",
        "Concatenate2", "Concatenate3", "Concatenate4", "StaticSlice", "ScaledDotProductAttention",
        "BatchMatrixMultiply", "Concatenate5", "ConvTranspose2d", "ReciprocalSquareRoot", "Log", "Gelu", "Tanh", "Exp", "Sin"};
    return uint8_t(k) < node_kind_count ? names[uint8_t(k)] : "unknown";
}

// XNNPACK's "no value" id (an absent bias).
constexpr uint32_t invalid_id = 0xFFFFFFFFu;
// XNNTensorValue flags.
constexpr uint32_t external_input = 1, external_output = 2;
constexpr int max_dims = 8;

struct TensorValueView {
    fb::Table t;      // XNNTensorValue
    fb::Table quant;  // the quantization parameters of a quantized value (else invalid)
    QuantKind quant_kind = QuantKind::none;

    Datatype datatype() const { return Datatype(t.scalar<int16_t>(field::tensor_datatype)); }
    fb::Vector<uint32_t> dims() const { return t.vector<uint32_t>(field::tensor_dims); }
    uint32_t constant_index() const { return t.scalar<uint32_t>(field::tensor_constant_buffer_idx); }
    uint32_t external_id() const { return t.scalar<uint32_t>(field::tensor_external_id); }
    uint32_t flags() const { return t.scalar<uint32_t>(field::tensor_flags); }
    uint32_t id() const { return t.scalar<uint32_t>(field::tensor_id_out); }
    // Set on a float input the runtime quantizes before use (newer exports).
    Datatype dq_datatype() const { return Datatype(t.scalar<int16_t>(field::tensor_dq_datatype)); }

    uint64_t numel() const {
        uint64_t n = 1;
        for (uint32_t i = 0; i < dims().size(); ++i) n *= dims()[i];
        return n;
    }
};

// One node: its kind and the table of its kind's fields.
struct NodeView {
    fb::Table t;

    NodeKind kind() const { return NodeKind(t.scalar<uint8_t>(field::node_type)); }
    fb::Table fields() const { return t.table(field::node_value); }
    bool has_min_max() const { return t.has(field::node_output_min_max); }
    float output_min() const { return t.table(field::node_output_min_max).scalar<float>(field::output_min); }
    float output_max() const { return t.table(field::node_output_min_max).scalar<float>(field::output_max); }
};

// Where a node kind's input and output ids are among its fields, and which other fields it has.
struct NodeLayout {
    int8_t inputs[5] = {-1, -1, -1, -1, -1};  // slots of the input ids, in order
    int8_t output = -1;
    int8_t flags = -1;
    int8_t uint_list = -1, uint_list2 = -1;  // perm / new_shape / offsets, sizes
    int8_t first_scalar = -1;                // axis, alpha, slope
};

inline NodeLayout node_layout(NodeKind k) {
    NodeLayout l;
    auto set = [&l](const int (&in)[5], int out, int flags) {
        for (int i = 0; i < 5; ++i) l.inputs[i] = int8_t(in[i]);
        l.output = int8_t(out);
        l.flags = int8_t(flags);
    };
    switch (k) {
    case NodeKind::add: case NodeKind::div: case NodeKind::minimum: case NodeKind::multiply: case NodeKind::subtract:
    case NodeKind::maximum: case NodeKind::prelu: case NodeKind::batch_matrix_multiply:
        set({0, 1, -1, -1, -1}, 2, 3);  // _XNNNode2x1: input1, input2, output, flags
        break;
    case NodeKind::softmax: case NodeKind::sigmoid: case NodeKind::clamp: case NodeKind::floor: case NodeKind::convert:
    case NodeKind::global_avg_pooling_2d: case NodeKind::square_root: case NodeKind::ceiling: case NodeKind::hardswish:
    case NodeKind::negate: case NodeKind::square: case NodeKind::abs: case NodeKind::reciprocal_square_root:
    case NodeKind::log: case NodeKind::gelu: case NodeKind::tanh: case NodeKind::exp: case NodeKind::sin:
        set({0, -1, -1, -1, -1}, 1, 2);  // _XNNNode1x1: input, output, flags
        break;
    case NodeKind::fully_connected: set({0, 1, 2, -1, -1}, 3, 4); break;  // input1, filter, bias, output, flags
    case NodeKind::static_transpose: case NodeKind::static_reshape:
        set({2, -1, -1, -1, -1}, 3, 4);  // num_dims, perm / new_shape, input, output, flags
        l.uint_list = 1;
        break;
    case NodeKind::static_slice:
        set({3, -1, -1, -1, -1}, 4, 5);  // num_dims, offsets, sizes, input, output, flags
        l.uint_list = 1;
        l.uint_list2 = 2;
        break;
    case NodeKind::concatenate2: set({1, 2, -1, -1, -1}, 5, 6); l.first_scalar = 0; break;  // _XNNCat: axis, input1..4, output, flags, input5
    case NodeKind::concatenate3: set({1, 2, 3, -1, -1}, 5, 6); l.first_scalar = 0; break;
    case NodeKind::concatenate4: set({1, 2, 3, 4, -1}, 5, 6); l.first_scalar = 0; break;
    case NodeKind::concatenate5: set({1, 2, 3, 4, 7}, 5, 6); l.first_scalar = 0; break;
    case NodeKind::elu: case NodeKind::leaky_relu: set({1, -1, -1, -1, -1}, 2, 3); l.first_scalar = 0; break;  // alpha / slope, input, output, flags
    case NodeKind::static_constant_pad: set({4, -1, -1, -1, -1}, 5, 6); l.uint_list = 0; l.uint_list2 = 1; l.first_scalar = 2; break;
    case NodeKind::scaled_dot_product_attention: set({0, 1, 2, 3, 4}, 5, 6); break;
    default: break;  // convolutions and pooling: no executor here, refused by name
    }
    return l;
}

// The number of inputs a node kind takes (a fully connected layer's bias may be invalid_id).
inline int input_count(const NodeLayout& l) {
    int n = 0;
    while (n < 5 && l.inputs[n] >= 0) ++n;
    return n;
}

struct Payload {
    ByteSpan bytes;           // the whole payload
    ByteSpan constant_data;   // after the header's constant data offset (empty without a header)
    fb::Table root;           // XNNGraph

    uint32_t node_count() const { return root.vector<uint32_t>(field::graph_nodes).size(); }
    NodeView node(uint32_t i) const { return {fb::Table::element(root.vector<uint32_t>(field::graph_nodes), i)}; }
    uint32_t value_count() const { return root.vector<uint32_t>(field::graph_values).size(); }
    TensorValueView value(uint32_t i) const {
        fb::Table v = fb::Table::element(root.vector<uint32_t>(field::graph_values), i);
        TensorValueView out;
        if (v.scalar<uint8_t>(field::value_type) == 2) {  // XNNQuantizedTensorValue
            fb::Table q = v.table(field::value_value);
            out.t = q.table(field::quantized_tensor);
            out.quant_kind = QuantKind(q.scalar<uint8_t>(field::quantized_params_type));
            out.quant = q.table(field::quantized_params);
        } else {
            out.t = v.table(field::value_value);
        }
        return out;
    }
    fb::Vector<uint32_t> input_ids() const { return root.vector<uint32_t>(field::graph_input_ids); }
    fb::Vector<uint32_t> output_ids() const { return root.vector<uint32_t>(field::graph_output_ids); }
    uint32_t constant_count() const { return root.vector<uint32_t>(field::graph_constant_data).size(); }
    fb::Table constant_entry(uint32_t i) const { return fb::Table::element(root.vector<uint32_t>(field::graph_constant_data), i); }
    StrView constant_key(uint32_t i) const { return constant_entry(i).string(field::constant_named_key); }
    uint64_t constant_size(uint32_t i) const { return constant_entry(i).scalar<uint64_t>(field::constant_size); }
    // A constant stored in the payload itself (an empty span for named-data constants).
    ByteSpan inline_constant(uint32_t i) const {
        const uint64_t off = constant_entry(i).scalar<uint64_t>(field::constant_offset);
        if (!constant_key(i).empty() || off > constant_data.size || constant_size(i) > constant_data.size - off) return {};
        return {constant_data.data + off, size_t(constant_size(i))};
    }
    // The deprecated in-flatbuffer constant buffers of older payloads.
    ByteSpan legacy_constant(uint32_t i) const {
        fb::Vector<uint8_t> storage = fb::Table::element(root.vector<uint32_t>(field::graph_constant_buffer), i).vector<uint8_t>(0);
        return {storage.bytes(), storage.size()};
    }
    uint32_t legacy_constant_count() const { return root.vector<uint32_t>(field::graph_constant_buffer).size(); }
};

namespace detail {

inline Status bad(const char* what, uint64_t index) {
    return Status::fail(Error::corrupt, "xnnpack payload: ", what, " (", index, ")");
}

inline Status verify_value(const Payload& p, uint32_t i, const Status& fb_error) {
    fb::Table v = fb::Table::element(p.root.vector<uint32_t>(field::graph_values), i);
    const uint8_t type = v.scalar<uint8_t>(field::value_type);
    if (type != 1 && type != 2) return bad("value of unknown kind", i);
    TensorValueView t = p.value(i);
    if (!fb_error.ok()) return fb_error;
    if (!t.t.valid()) return bad("value without a tensor", i);
    fb::Vector<uint32_t> dims = t.dims();
    if (dims.size() > uint32_t(max_dims)) return Status::fail(Error::bad_shape, "xnnpack payload: value ", i, " has ", dims.size(), " dimensions (at most 8)");
    // Each dimension, and the product of the nonzero ones, bounded: a zero dimension must not
    // hide sizes whose products (strides) overflow.
    uint64_t nonzero = 1;
    for (uint32_t d = 0; d < dims.size(); ++d) {
        if (dims[d] > (uint32_t(1) << 31)) return bad("tensor dimension absurd", i);
        nonzero *= dims[d] ? dims[d] : 1;
        if (nonzero > (uint64_t(1) << 40)) return bad("tensor element count absurd", i);
    }
    if (t.constant_index() != 0 && t.constant_index() >= p.constant_count() && t.constant_index() >= p.legacy_constant_count())
        return bad("constant index out of range", i);
    // Nodes name values by id; the serializer numbers them by position, and the executor relies on it.
    if (t.id() != i) return bad("value id differs from its position", i);
    t.external_id(); t.flags(); t.dq_datatype();
    if (type == 2) {
        if (uint8_t(t.quant_kind) > uint8_t(QuantKind::per_channel_group) || t.quant_kind == QuantKind::none || !t.quant.valid())
            return fb_error.ok() ? bad("quantized value without known parameters", i) : fb_error;
        if (t.quant_kind == QuantKind::per_channel || t.quant_kind == QuantKind::per_channel_group) {
            t.quant.vector<float>(0);
            t.quant.scalar<int32_t>(1);
        }
        if (t.quant_kind == QuantKind::per_channel_group) {
            t.quant.scalar<int32_t>(field::group_size);
            t.quant.vector<uint16_t>(field::group_scale_bf16);
            t.quant.scalar<uint32_t>(field::group_scale_buffer_idx);
        }
        if (t.quant_kind == QuantKind::per_channel) t.quant.scalar<uint32_t>(field::per_channel_scale_buffer_idx);
    }
    return fb_error;
}

} // namespace detail

// Validates `bytes` as an XNNPACK delegate payload. The bytes must outlive the Payload.
inline Result<Payload> open_payload(ByteSpan bytes) {
    if (bytes.size < 8) return Status::fail(Error::truncated, "xnnpack payload: ", uint64_t(bytes.size), " bytes is too small");
    Payload p;
    p.bytes = bytes;
    ByteSpan graph = bytes;
    const uint8_t* b = bytes.data;
    if (b[4] == 'X' && b[5] == 'H' && b[6] == '0' && b[7] == '0') {
        if (bytes.size < 30) return Status::fail(Error::truncated, "xnnpack payload: header of ", uint64_t(bytes.size), " bytes");
        const uint16_t header_len = fb::load<uint16_t>(b + 8);
        const uint64_t fb_offset = fb::load<uint32_t>(b + 10), fb_size = fb::load<uint32_t>(b + 14);
        const uint64_t data_offset = fb::load<uint32_t>(b + 18), data_size = fb::load<uint64_t>(b + 22);
        if (header_len < 30 || header_len > bytes.size) return Status::fail(Error::corrupt, "xnnpack payload: header length ", header_len);
        if (fb_offset > bytes.size || fb_size > bytes.size - fb_offset)
            return Status::fail(Error::truncated, "xnnpack payload: graph of ", fb_size, " bytes at ", fb_offset, " runs past the payload of ", uint64_t(bytes.size));
        if (data_offset > bytes.size || data_size > bytes.size - data_offset)
            return Status::fail(Error::truncated, "xnnpack payload: constant data of ", data_size, " bytes at ", data_offset, " runs past the payload");
        graph = {b + fb_offset, size_t(fb_size)};
        p.constant_data = {b + data_offset, size_t(data_size)};
    }
    if (graph.size < 8) return Status::fail(Error::truncated, "xnnpack payload: graph of ", uint64_t(graph.size), " bytes");
    if (!(graph.data[4] == 'X' && graph.data[5] == 'N' && graph.data[6] == '0' && (graph.data[7] == '0' || graph.data[7] == '1')))
        return Status::fail(Error::bad_magic, "xnnpack payload: no graph identifier XN00/XN01");
    if (graph.size >= (size_t(1) << 31)) return Status::fail(Error::absurd_count, "xnnpack payload: graph of 2 GiB or more");
    const char identifier[5] = {'X', 'N', '0', char(graph.data[7]), 0};

    Status fb_error;
    const fb::Source checked{graph.data, graph.size, &fb_error};
    p.root = fb::root(checked, identifier);
    if (!fb_error.ok()) return fb_error;
    if (!p.root.valid()) return Status::fail(Error::corrupt, "xnnpack payload: no graph table");
    p.root.string(field::graph_version);
    const uint32_t n_values = p.value_count();
    for (uint32_t k = 0; k < p.legacy_constant_count(); ++k) p.legacy_constant(k);
    for (uint32_t k = 0; k < p.constant_count(); ++k) {
        if (!p.constant_entry(k).valid()) return fb_error.ok() ? detail::bad("missing constant entry", k) : fb_error;
        const StrView key = p.constant_key(k);
        // Entry 0 is the placeholder non-constant values point at.
        if (k > 0 && key.empty() && !p.inline_constant(k).data && p.constant_size(k) > 0)
            return Status::fail(Error::truncated, "xnnpack payload: constant ", k, " lies outside the payload's constant data");
    }
    if (!fb_error.ok()) return fb_error;
    for (uint32_t v = 0; v < n_values; ++v)
        if (Status s = detail::verify_value(p, v, fb_error); !s) return s;
    for (int side = 0; side < 2; ++side) {
        fb::Vector<uint32_t> ids = side == 0 ? p.input_ids() : p.output_ids();
        for (uint32_t k = 0; k < ids.size(); ++k)
            if (ids[k] >= n_values) return detail::bad(side == 0 ? "input id out of range" : "output id out of range", ids[k]);
    }
    for (uint32_t i = 0; i < p.node_count(); ++i) {
        NodeView n = p.node(i);
        if (!n.t.valid() || !n.fields().valid()) return fb_error.ok() ? detail::bad("node without fields", i) : fb_error;
        if (uint8_t(n.kind()) == 0 || uint8_t(n.kind()) >= node_kind_count)
            return Status::fail(Error::unsupported_op, "xnnpack payload: node ", i, " has unknown type ", int(n.kind()));
        const NodeLayout l = node_layout(n.kind());
        const fb::Table f = n.fields();
        for (int k = 0; k < 5 && l.inputs[k] >= 0; ++k) {
            const uint32_t id = f.scalar<uint32_t>(l.inputs[k]);
            const bool optional = n.kind() == NodeKind::fully_connected && k == 2;
            if (id >= n_values && !(optional && id == invalid_id)) return detail::bad("node input id out of range", i);
        }
        if (l.output >= 0 && f.scalar<uint32_t>(l.output) >= n_values) return detail::bad("node output id out of range", i);
        if (l.uint_list >= 0) f.vector<uint32_t>(l.uint_list);
        if (l.uint_list2 >= 0) f.vector<uint32_t>(l.uint_list2);
        n.output_min();
        n.output_max();
        if (!fb_error.ok()) return fb_error;
    }
    if (!fb_error.ok()) return fb_error;
    // Verified: later reads need no error sink.
    p.root = fb::root(fb::Source{graph.data, graph.size, nullptr}, identifier);
    return p;
}

} // namespace tinyllm::xnnpack
