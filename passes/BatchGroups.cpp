#include "passes/BatchGroups.h"

#include "ir/FusedStages.h"

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

// A training batch normalization, forward or backward: its sums over the
// batch move into a batch_norm_sums or batch_norm_grad_sums op before it,
// which sums each group, and the op takes them as its last operand.
bool sumsStatistics(const ir::Op &op) {
  return op.kind == ir::OpKind::BatchNorm ||
         op.kind == ir::OpKind::BatchNormGrad;
}

// Appends a batch_norm_sums or batch_norm_grad_sums of op's batch in groups
// and op taking them as its last operand.
void groupStatistics(ir::Graph &g, const ir::Op &op, int64_t groups,
                     std::vector<ir::Op> &ops) {
  bool grad = op.kind == ir::OpKind::BatchNormGrad;
  ir::Op sums{grad ? ir::OpKind::BatchNormGradSums : ir::OpKind::BatchNormSums,
              {op.operands[0]},
              {},
              {{ir::AttrName::BatchGroups, groups}},
              op.loc};
  if (grad) {
    // x, mean, variance and dy: one operand, or the pooled (argmax, g) of
    // the max_pool2d_argmax_grad prologue, which the sums take along.
    ir::FusedStageSet st = ir::checkedFusedStages(op.kind, op.attrs);
    bool pooled = st.has(ir::FusedStage::MaxPool2DArgmaxGrad);
    sums.operands.assign(op.operands.begin(),
                         op.operands.begin() + (pooled ? 5 : 4));
    sums.attrs.set(ir::AttrName::Epsilon,
                   op.attrs.getFloat(ir::AttrName::Epsilon));
    if (pooled) {
      sums.attrs.set(ir::AttrName::PoolSize,
                     op.attrs.getInts(ir::AttrName::PoolSize));
      ir::setFusedStages(sums.attrs, {ir::FusedStage::MaxPool2DArgmaxGrad});
    }
  }
  int64_t channels = g.type(op.operands[0]).shape.back();
  std::string name = g.value(op.results[0]).name + ".sums";
  // addTemp may grow the value list; nothing here refers into it.
  sums.results = {g.addTemp(name, ir::f64({groups, 2, channels}))};
  ir::Op normalized = op;
  normalized.operands.push_back(sums.results[0]);
  normalized.attrs.set(ir::AttrName::BatchGroups, groups);
  ops.push_back(std::move(sums));
  ops.push_back(std::move(normalized));
}

// Appends op with batch_groups (each result gaining the groups' axis) and a
// group_sum of each result.
void groupSums(ir::Graph &g, const ir::Op &op, int64_t groups,
               std::vector<ir::Op> &ops) {
  ops.push_back(op);
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
}

} // namespace

void splitBatchGroups(ir::Graph &g, int64_t groups) {
  std::vector<ir::Op> ops;
  ops.reserve(g.ops().size());
  bool changed = false;
  for (const ir::Op &op : g.ops()) {
    // Operand 0's axis 0 is the batch (images, or pairs of them).
    bool grouped = groups >= 2 && (sumsImages(g, op) || sumsStatistics(op)) &&
                   !op.attrs.has(ir::AttrName::BatchGroups) &&
                   g.type(op.operands[0]).shape.at(0) >= groups;
    if (!grouped)
      ops.push_back(op);
    else if (sumsStatistics(op))
      groupStatistics(g, op, groups, ops);
    else
      groupSums(g, op, groups, ops);
    changed = changed || grouped;
  }
  if (changed)
    g.setOps(std::move(ops));
}

} // namespace cnnc::passes
