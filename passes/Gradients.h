// Vector-Jacobian products of the IR's ops: the rules that reverse-mode
// autodiff (Autodiff.cpp) applies to each forward op.
#pragma once

#include "ir/Graph.h"

#include "absl/status/statusor.h"

#include <vector>

namespace cnnc::passes {

// "This value has no gradient" (it does not lead to a param, or is an
// integer such as labels or the step).
inline constexpr ir::ValueId kNoGrad = -1;
// d(loss)/d(loss) = 1: the seed of the backward pass. It is never
// materialized; softmax_cross_entropy_grad assumes it.
inline constexpr ir::ValueId kLossSeed = -2;

// Appends to `g` the ops that compute the gradients of `op`'s operands from
// the gradients of its results (`resultGrads`, one per result, kNoGrad where
// a result has none) and returns one gradient per operand: kNoGrad where
// `wanted` is false or the operand has no gradient (dropout's step). Rules
// that pass a gradient through (bias_add, add) return the incoming value
// itself, so a value may be the gradient of several. New ops carry op.loc.
// Fails for ops that are not differentiable (backward ops, updates, a
// softmax that is not the final layer).
absl::StatusOr<std::vector<ir::ValueId>>
emitVjp(ir::Graph &g, const ir::Op &op,
        const std::vector<ir::ValueId> &resultGrads,
        const std::vector<bool> &wanted);

} // namespace cnnc::passes
