// The textual form of the tensor IR (see docs/ir.md).
#pragma once

#include "ir/Graph.h"

#include <string>

namespace cnnc::ir {

std::string printGraph(const Graph &g);
std::string printAttr(const Attr &a);
std::string printValueRef(const Graph &g, ValueId v); // "%name"

} // namespace cnnc::ir
