// The hoist-conversions pass: moves every conversion (an op flagged
// kConversion in ir/Ops.def: a bfloat16 copy, a packing into pairs, a
// transposed kernel) up to just after the op that last writes its operand,
// or to the start of the step for a parameter or an input.
//
// dtype-policy puts each conversion before its first reader, so a value's
// copies for the forward and the backward pass, and the copies of the
// weights, run each in a phase of its own: a barrier apiece
// (runtime/Executor.cpp places one before every kernel that reads what the
// phase wrote). Hoisted, the copies of one value and those of all weights
// run side by side in one phase, and the float32 original may die sooner.
// Two packings of one value into bfloat16 pairs, along its first and its
// last axis (the batch for a filter gradient, the channels for the next
// layer), then become one pack_bfloat16_pairs with two results, whose
// kernel reads the value once. What each value holds is unchanged.
#pragma once

#include "ir/Graph.h"

namespace cnnc::passes {

void hoistConversions(ir::Graph &g);

} // namespace cnnc::passes
