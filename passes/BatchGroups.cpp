#include "passes/BatchGroups.h"

namespace cnnc::passes {

namespace {

// A convolution layer's sums over the batch: its filter gradient (with the
// bias gradient, fused) and its bias gradient alone. A dense layer's bias
// gradient ([batch, units]) is too small to gain from the split.
bool sumsImages(const ir::Graph &g, const ir::Op &op) {
  switch (op.kind) {
  case ir::OpKind::Conv2DBackwardFilter:
  case ir::OpKind::Conv2DBackwardFilterFused:
    return true;
  case ir::OpKind::BiasGrad:
    return g.type(op.operands[0]).rank() == 4;
  default:
    return false;
  }
}

} // namespace

void splitBatchGroups(ir::Graph &g, int64_t groups) {
  std::vector<ir::Op> ops;
  ops.reserve(g.ops().size());
  bool changed = false;
  for (const ir::Op &op : g.ops()) {
    ops.push_back(op);
    // Operand 0's axis 0 is the batch (images, or pairs of them).
    if (groups < 2 || !sumsImages(g, op) ||
        op.attrs.has(ir::AttrName::BatchGroups) ||
        g.type(op.operands[0]).shape.at(0) < groups)
      continue;
    size_t at = ops.size() - 1;
    ops[at].attrs.set(ir::AttrName::BatchGroups, groups);
    for (size_t r = 0; r < op.results.size(); ++r) {
      ir::ValueId sum = op.results[r];
      ir::TensorType partialType = g.type(sum);
      partialType.shape.insert(partialType.shape.begin(), groups);
      // addTemp may grow the value list; nothing here refers into it.
      ir::ValueId partial =
          g.addTemp(g.value(sum).name + ".groups", std::move(partialType));
      ops[at].results[r] = partial;
      ops.push_back(ir::Op{ir::OpKind::GroupSum, {partial}, {sum}, {}, op.loc});
    }
    changed = true;
  }
  if (changed)
    g.setOps(std::move(ops));
}

} // namespace cnnc::passes
