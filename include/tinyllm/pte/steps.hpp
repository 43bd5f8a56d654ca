// How a method's instructions run once loaded: each instruction's fields decoded once from
// the flatbuffer, and what the load-time passes (planner.hpp) decided for it.
#pragma once
#include <stdint.h>

#include "tinyllm/kernels/ggml_types.hpp"
#include "tinyllm/loaders/formats/pte_program.hpp"
#include "tinyllm/pte/value.hpp"

namespace tinyllm::pte {

// An instruction runs as its kernel (or its delegate), not at all, as a linear layer, or as a
// copy read from an earlier copy's input.
enum class StepKind : uint8_t { kernel, skip, linear, folded_copy };

// A copy reading another copy's input directly (fold_copy_chains): the output, in row-major
// order over `sizes`, takes the element at sum(index * strides) of the source.
struct FoldedCopy {
    int dim = 0;
    int64_t sizes[max_runtime_dims] = {}, strides[max_runtime_dims] = {};
};

struct Step {
    StepKind kind = StepKind::kernel;
    InstructionKind instruction = InstructionKind::None;
    int32_t first = 0, second = 0;  // Kernel/DelegateCall: callee; MoveCall: from, to; JumpFalseCall: cond, target
    fb::Vector<int32_t> args;       // Kernel/DelegateCall arguments
    uint32_t delegate_outputs = 0;  // DelegateCall: how many trailing arguments the delegate writes
    // linear: the constant weight, read as [rows, cols] = [N,K] (float32, 16-bit floats, or int8
    // codes with optional per-group scale and zero point [N, K/group]).
    int32_t weight = -1, scale = -1, zero = -1;
    int64_t group = 0, rows = 0, cols = 0;
    // A float weight's exact 16-bit copy (narrow_linear_weights): F16 or BF16 rows.
    const uint16_t* half_rows = nullptr;
    GgmlType half_type = GgmlType::F16;
    // folded_copy: the tensor read and how.
    int32_t source = -1;
    const FoldedCopy* fold = nullptr;
};

// Decodes instruction i of the plan's chain.
inline Step decode_step(const PlanView& plan, uint32_t i) {
    InstructionView in = plan.instruction(0, i);
    Step step;
    step.instruction = in.kind();
    if (in.kind() == InstructionKind::KernelCall || in.kind() == InstructionKind::DelegateCall) {
        step.first = in.callee();
        step.args = in.call_args();
    } else if (in.kind() == InstructionKind::MoveCall || in.kind() == InstructionKind::JumpFalseCall) {
        step.first = in.first();
        step.second = in.second();
    }
    return step;
}

} // namespace tinyllm::pte
