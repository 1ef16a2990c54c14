// Structural and type checks of a graph.
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"

namespace cnnc::ir {

// Checks SSA order (operands defined before use), arity, result types against
// each op's shape rule, that in-place updates only write params and state,
// each named once among the op's operands, and that outputs exist. The message
// names the op and its location.
absl::Status verifyGraph(const Graph &g);

} // namespace cnnc::ir
