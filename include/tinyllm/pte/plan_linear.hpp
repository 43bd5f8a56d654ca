// Linear layers: the load-time pass that turns an export's transpose-then-mm chains into one
// product against the stored weight rows, the optional exact 16-bit copies of float weights,
// and the view through which the core's matrix product (core/weights.hpp) reads each weight.
#pragma once
#include <stdint.h>

#include "tinyllm/core/weights.hpp"
#include "tinyllm/kernels/fp16.hpp"
#include "tinyllm/pte/dataflow.hpp"

namespace tinyllm::pte {
namespace passes {

// Fills the weight of a linear step ([rows, cols] already set) from the constant conversion
// that makes it float: _to_copy of 16-bit floats (read as they are) or of int8 codes,
// dequantize_affine with [1, G] blocks, or dequantize_per_channel of the codes seen as
// [rows * cols / G, G] (one scale per group of G).
inline bool quantized_weight(const Chain& c, uint32_t instruction, Step& step) {
    fb::Vector<int32_t> a = c.plan.instruction(0, instruction).call_args();
    const Tensor& q = c.values[a[0]].tensor;
    if (!q.constant || q.dim != 2 || q.numel() != step.rows * step.cols) return false;
    step.weight = a[0];
    if (c.is_op(instruction, "aten::_to_copy", "out") && (q.type == ScalarType::Half || q.type == ScalarType::BFloat16)) {
        step.half_rows = reinterpret_cast<const uint16_t*>(q.data);
        step.half_type = q.type == ScalarType::Half ? GgmlType::F16 : GgmlType::BF16;
        return true;
    }
    if (q.type != ScalarType::Char) return false;
    step.group = step.cols;
    if (c.is_op(instruction, "aten::_to_copy", "out")) return true;
    if (c.is_op(instruction, "quantized_decomposed::dequantize_per_channel", "out")) {
        const Tensor& scale = c.values[a[1]].tensor;
        if (!c.values[a[2]].is_none() || c.values[a[3]].i != 0 || q.sizes[1] <= 0 || step.cols % q.sizes[1] != 0) return false;
        if (!scale.constant || scale.type != ScalarType::Float || scale.numel() != q.sizes[0]) return false;
        step.group = q.sizes[1];
        step.scale = a[1];
        return true;
    }
    // Affine groups run along q's own rows, which must be the product's rows.
    const Value& block = c.values[a[1]];
    if (q.sizes[1] != step.cols || block.int_items.size() != 2 || c.values[block.int_items[0]].i != 1) return false;
    step.group = c.values[block.int_items[1]].i;
    const Tensor& scale = c.values[a[2]].tensor;
    const int64_t groups = step.group > 0 ? (q.sizes[1] + step.group - 1) / step.group : 0;
    if (groups == 0 || !scale.constant || scale.type != ScalarType::Float || scale.numel() != q.sizes[0] * groups) return false;
    step.scale = a[2];
    const Value& zero = c.values[a[3]];
    if (zero.is_tensor()) {
        if (!zero.tensor.constant || zero.tensor.type != ScalarType::Char || zero.tensor.numel() != scale.numel()) return false;
        step.zero = a[3];
    }
    return true;
}

// Whether the permute reading `read` (a view of `out`, or `out` itself) is the only reader of
// dequantization output `out`, written by instruction `at`: no other view of its bytes used
// from then on, which would find them unwritten once the dequantization is skipped.
inline bool only_reader_of(const Chain& c, int32_t out, int32_t read, bool uses_known, uint32_t at) {
    const Tensor& o = c.values[out].tensor;
    for (uint32_t k = 0; k < c.n_values; ++k) {
        const int32_t v = int32_t(k);
        if (v == out || v == read || c.values[k].kind != ValueKind::Tensor || !c.values[k].tensor.view || !c.overlaps(v, o)) continue;
        if (!uses_known) return false;
        if (c.first_use(v) == c.n_instructions) continue;
        const int32_t owner = c.view_owner(v);
        // Used only before the dequantization, and there reading bytes this call wrote first
        // (not ones kept from the previous call), or read by nothing that still runs (the view
        // of an earlier layer this pass fused).
        const bool folded_away = c.first_use(v) == c.last_use(v) && c.steps[c.first_use(v)].kind == StepKind::skip;
        if (c.last_use(v) < at && (owner >= 0 || folded_away)) continue;
        if (owner < 0 || owner == out) return false;
    }
    return true;
}

// Exports store nn.Linear weights as [out, in] and transpose them on every call
// (permute_copy then mm), quantized ones after dequantizing them (torchao's
// dequantize_affine, or _to_copy from int8). Where that chain feeds exactly one mm, run it
// as one product against the stored rows: no dequantized or transposed copy per call.
inline void plan_linear_layers(Chain& c) {
    const uint32_t n = c.n_instructions;
    // Views are attributed to their owners only where uses are known (alias_buffer_updates
    // found them for straight-line methods).
    const bool straight = c.straight_line();
    for (uint32_t i = 0; i < n; ++i) {
        if (!c.is_op(i, "aten::permute_copy", "out")) continue;
        fb::Vector<int32_t> pargs = c.plan.instruction(0, i).call_args();
        const Value& dims = c.values[pargs[1]];
        if (dims.int_items.size() != 2 || c.values[dims.int_items[0]].i != 1 || c.values[dims.int_items[1]].i != 0) continue;
        const int32_t mm = c.sole_reader(pargs[pargs.size() - 1], i);
        if (mm < 0 || !c.is_op(uint32_t(mm), "aten::mm", "out") || c.plan.instruction(0, uint32_t(mm)).call_args()[1] != pargs[pargs.size() - 1])
            continue;
        Step linear = c.steps[mm];
        linear.kind = StepKind::linear;
        int32_t source = -1;  // the dequantizing instruction, if any
        const Tensor& w = c.values[pargs[0]].tensor;
        if (w.dim != 2 || w.type != ScalarType::Float) continue;
        linear.rows = w.sizes[0];
        linear.cols = w.sizes[1];
        if (w.constant) {
            linear.weight = pargs[0];
        } else {
            // The permuted tensor is produced by one earlier dequantizing call, directly or
            // through a view of its whole output (the memory plan's owner of the view's bytes)
            // that nothing else reads.
            const int32_t owner = w.view && straight ? c.view_owner(pargs[0]) : -1;
            for (uint32_t j = 0; j < i && source < 0; ++j) {
                if (!c.is_op(j, "torchao::dequantize_affine", "out") && !c.is_op(j, "aten::_to_copy", "out") &&
                    !c.is_op(j, "quantized_decomposed::dequantize_per_channel", "out"))
                    continue;
                fb::Vector<int32_t> a = c.plan.instruction(0, j).call_args();
                const int32_t out = a[a.size() - 1];
                const Tensor& o = c.values[out].tensor;
                const bool direct = out == pargs[0];
                const bool through_view = out == owner && o.data == w.data && o.nbytes() == w.nbytes() && c.unread(out, j);
                if ((direct || through_view) && c.sole_reader(pargs[0], j) == int32_t(i) && only_reader_of(c, out, pargs[0], straight, j))
                    source = int32_t(j);
            }
            if (source < 0 || !quantized_weight(c, uint32_t(source), linear)) continue;
            c.steps[source].kind = StepKind::skip;
        }
        c.steps[i].kind = StepKind::skip;
        c.steps[mm] = linear;
    }
}

} // namespace passes

// Whether a tensor may be narrowed: a constant float matrix. Sizes the pool (Method's
// footprint) before any linear layer is known, so it covers every candidate.
inline bool may_narrow(TensorView t) {
    const bool constant = !t.planned() && (t.data_buffer_idx() != 0 || t.external());
    return constant && t.scalar_type() == ScalarType::Float && t.sizes().size() == 2;
}

// Pool elements one 16-bit copy of `numel` weights takes: whole 64-byte lines, so every copy
// starts on one.
inline uint64_t narrowed_elems(uint64_t numel) { return (numel + 31) / 32 * 32; }

// Where narrow_linear_weights puts its copies.
struct HalfPool {
    uint16_t* next = nullptr;
    uint64_t left = 0;  // elements
};

namespace passes {

// Gives each float linear weight that bf16 or f16 holds exactly a copy in that format
// (shared by the layers reading the same weight); the others keep reading f32.
inline void narrow_linear_weights(Chain& c, HalfPool& pool) {
    const uint32_t n = c.n_instructions;
    for (uint32_t i = 0; i < n; ++i) {
        Step& step = c.steps[i];
        if (step.kind != StepKind::linear || c.values[step.weight].tensor.type != ScalarType::Float) continue;
        for (uint32_t j = 0; j < i && !step.half_rows; ++j)
            if (c.steps[j].half_rows && c.steps[j].weight == step.weight) {
                step.half_rows = c.steps[j].half_rows;
                step.half_type = c.steps[j].half_type;
            }
        const Tensor& w = c.values[step.weight].tensor;
        const uint64_t elems = narrowed_elems(uint64_t(w.numel()));
        if (step.half_rows || elems > pool.left) continue;
        const ExactHalf format = narrow_exactly(w.as<float>(), pool.next, w.numel());
        if (format == ExactHalf::none) continue;
        step.half_rows = pool.next;
        step.half_type = format == ExactHalf::bf16 ? GgmlType::BF16 : GgmlType::F16;
        pool.next += elems;
        pool.left -= elems;
    }
}

} // namespace passes

// The weight of a linear step as the core's matrix product reads it: f32 rows, their exact
// 16-bit copies, or int8 codes (ExecuTorch keeps int4 values one per byte too) with f32 group
// scales and zero points in tensors of their own, described by `separate`. Every one is read
// against the float activations as given (WeightView::float_act), so the product needs no
// activation scratch and matches PyTorch's float sums.
inline WeightView linear_weight(const Value* values, const Step& step, GroupwiseMatrix& separate) {
    const Tensor& w = values[step.weight].tensor;
    WeightView view;
    view.rows = step.rows;
    view.cols = step.cols;
    view.float_act = true;
    if (step.half_rows) {
        view.type = step.half_type;
        view.data = reinterpret_cast<const uint8_t*>(step.half_rows);
        view.row_bytes = uint64_t(view.cols) * sizeof(uint16_t);
        return view;
    }
    view.data = w.data;
    if (w.type == ScalarType::Float) {
        view.type = GgmlType::F32;
        view.row_bytes = uint64_t(view.cols) * sizeof(float);
        return view;
    }
    separate.layout = GroupwiseLayout{8, view.cols, step.group, GroupScale::f32};
    separate.rows = view.rows;
    separate.codes = w.data;
    separate.code_stride = view.cols;
    separate.scales = step.scale >= 0 ? values[step.scale].tensor.data : nullptr;
    separate.scale_stride = separate.layout.groups() * int64_t(sizeof(float));
    separate.zeros = step.zero >= 0 ? values[step.zero].tensor.as<int8_t>() : nullptr;
    separate.zero_stride = separate.layout.groups();
    view.type = GgmlType::TINYLLM_INT8;
    view.row_bytes = uint64_t(view.cols);
    view.group = step.group;
    view.separate = &separate;
    return view;
}

} // namespace tinyllm::pte
