// Dead code elimination.
#pragma once

#include "ir/Graph.h"

namespace cnnc::passes {

// Removes the ops none of whose results reach a graph output or an op that
// writes its operands (optimizer updates, which are never dead). Keeps the
// order of the remaining ops and the value table: ValueIds stay valid, and
// the results of removed ops remain as unused temps without a defining op.
void eliminateDeadCode(ir::Graph &g);

} // namespace cnnc::passes
