#include "passes/DeadCode.h"

#include <algorithm>

namespace cnnc::passes {

void eliminateDeadCode(ir::Graph &g) {
  std::vector<bool> live(g.values().size(), false);
  for (const ir::GraphOutput &o : g.outputs())
    live[o.value] = true;
  // One backward sweep suffices: ops are in SSA order, so every use of a
  // result is visited before its definition.
  std::vector<bool> keep(g.ops().size(), false);
  for (size_t i = g.ops().size(); i-- > 0;) {
    const ir::Op &op = g.ops()[i];
    bool k = (ir::opInfo(op.kind).flags & ir::kWritesOperands) != 0;
    for (ir::ValueId r : op.results)
      k = k || live[r];
    if (!k)
      continue;
    keep[i] = true;
    for (ir::ValueId v : op.operands)
      live[v] = true;
  }
  if (std::find(keep.begin(), keep.end(), false) == keep.end())
    return;
  std::vector<ir::Op> ops;
  for (size_t i = 0; i < g.ops().size(); ++i)
    if (keep[i])
      ops.push_back(std::move(g.ops()[i]));
  g.setOps(std::move(ops));
}

} // namespace cnnc::passes
