// The load-time passes over a bound method, run once by Method::init: each rewrites steps
// (steps.hpp) or rebinds tensors so the method runs with fewer copies and faster linear layers,
// and none changes a result.
#pragma once
#include "tinyllm/pte/plan_aliases.hpp"
#include "tinyllm/pte/plan_folds.hpp"
#include "tinyllm/pte/plan_linear.hpp"

namespace tinyllm::pte {

struct MethodOptions {
    // Linear layers whose f32 weights a 16-bit format holds exactly (exports of f16 or bf16
    // checkpoints) read an arena copy in that format: half the bytes per token, the same
    // results bit for bit. Costs arena memory of half those weights; off, weights stay
    // zero-copy views into the program.
    bool narrow_exact_weights = false;
};

// Runs the passes in order. The later ones rewrite only steps still run as their kernel
// (StepKind::kernel), so the transposes and dequantizations linear layers absorb stay theirs.
inline void plan_method(Chain& c, const MethodOptions& options, HalfPool& halves, FoldPool& folds) {
    passes::alias_buffer_updates(c);
    passes::plan_linear_layers(c);
    if (options.narrow_exact_weights) passes::narrow_linear_weights(c, halves);
    passes::alias_byte_copies(c);
    passes::fold_copy_chains(c, folds);
}

} // namespace tinyllm::pte
